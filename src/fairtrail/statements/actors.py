"""Actors, roles and the keyring: who may sign what in a trail.

The keyring is not a side table anyone can edit: it is *replayed from the log*. Each
change is an `https://fairtrail.dev/actor/v1` statement signed by an admin, so an
outsider holding only the admin's public key can rebuild the keyring and check who
was allowed to sign every other statement, at the time it was signed.

The admin's key is the root of trust. It is pinned in the trail's configuration and
its self-registration is entry 0 of every trail.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fairtrail._validation import first_error
from fairtrail.crypto.keys import VerifyingKey
from fairtrail.errors import StatementError, UnknownSignerError
from fairtrail.statements.statement import Statement, Subject, predicate_type

__all__ = ["ACTOR_PREDICATE", "Actor", "ActorChange", "Keyring", "Role", "actor_statement"]

ACTOR_PREDICATE = predicate_type("actor")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class Role(StrEnum):
    ADMIN = "admin"
    DATA_STEWARD = "data-steward"
    ML_ENGINEER = "ml-engineer"
    AUDITOR = "auditor"
    REVIEWER = "reviewer"
    COMPLIANCE_OFFICER = "compliance-officer"
    OPERATOR = "operator"


def check_actor_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise StatementError(
            f"actor name {name!r} must be 1-64 characters of a-z, 0-9, '.', '_' or '-'"
        )
    return name


class ActorChange(BaseModel):
    """The predicate of an actor statement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["register", "grant-role", "revoke-role"]
    name: str
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")
    roles: list[Role] = Field(default_factory=list, max_length=len(Role))

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_actor_name(value)

    @property
    def key(self) -> VerifyingKey:
        return VerifyingKey(base64.b64decode(self.public_key, validate=True))


def actor_statement(
    action: Literal["register", "grant-role", "revoke-role"],
    name: str,
    key: VerifyingKey,
    roles: list[Role],
) -> Statement:
    change = ActorChange(
        action=action,
        name=name,
        public_key=base64.b64encode(key.raw).decode("ascii"),
        roles=sorted(set(roles)),
    )
    return Statement(
        subject=[Subject(name=f"actor:{name}", digest={"sha256": key.key_id})],
        predicate_type=ACTOR_PREDICATE,
        predicate=change.model_dump(mode="json"),
    )


@dataclass
class Actor:
    name: str
    key: VerifyingKey
    roles: set[Role] = field(default_factory=set)
    registered_at: int = 0

    def has(self, role: Role) -> bool:
        return role in self.roles


class Keyring:
    """The actors known at some point of the log, and the rules for changing them."""

    def __init__(self, root_admin: str, root_key: VerifyingKey) -> None:
        self.root_admin = check_actor_name(root_admin)
        self.root_key = root_key
        self._by_name: dict[str, Actor] = {}
        self._by_key: dict[bytes, Actor] = {}

    def __len__(self) -> int:
        return len(self._by_name)

    @property
    def actors(self) -> list[Actor]:
        return sorted(self._by_name.values(), key=lambda a: a.registered_at)

    def get(self, name: str) -> Actor | None:
        return self._by_name.get(name)

    def by_key(self, key: VerifyingKey) -> Actor | None:
        return self._by_key.get(key.raw)

    def trusted_keys(self) -> list[VerifyingKey]:
        """Keys that may sign statements now (before genesis: only the root admin's)."""
        if not self._by_name:
            return [self.root_key]
        return [a.key for a in self._by_name.values()]

    def check_change(self, statement: Statement, signers: list[VerifyingKey]) -> ActorChange:
        """Validate an actor statement signed by `signers`; return its change, or raise."""
        try:
            change = ActorChange.model_validate(statement.predicate)
        except ValidationError as exc:
            msg = first_error(exc, "predicate")
            raise StatementError(f"invalid actor statement at {msg}") from None
        try:
            key = change.key
        except (ValueError, StatementError) as exc:
            raise StatementError(f"actor {change.name}: public_key is not a key ({exc})") from None
        subject = statement.subject[0]
        if len(statement.subject) != 1 or subject.digest.get("sha256") != key.key_id:
            raise StatementError("an actor statement's subject must be the actor's key digest")

        if not self._by_name:  # genesis: the root admin registers itself
            if not (
                change.action == "register"
                and change.name == self.root_admin
                and key == self.root_key
                and Role.ADMIN in change.roles
                and self.root_key in signers
            ):
                raise StatementError(
                    "the first entry of a trail must be the root admin registering itself"
                )
            return change

        if not any((a := self.by_key(k)) is not None and a.has(Role.ADMIN) for k in signers):
            raise UnknownSignerError("only an admin may change actors and roles")
        existing = self._by_name.get(change.name)
        if change.action == "register":
            if existing is not None:
                raise StatementError(f"actor {change.name!r} already exists")
            if key.raw in self._by_key:
                raise StatementError(f"that key already belongs to {self._by_key[key.raw].name!r}")
            if not change.roles:
                raise StatementError("a new actor needs at least one role")
        else:
            if existing is None:
                raise StatementError(f"no actor named {change.name!r}")
            if existing.key != key:
                raise StatementError(f"the key given is not {change.name!r}'s key")
            if not change.roles:
                raise StatementError(f"{change.action} needs at least one role")
            if change.action == "revoke-role" and Role.ADMIN in change.roles:
                admins = [a for a in self._by_name.values() if a.has(Role.ADMIN)]
                if admins == [existing]:
                    raise StatementError("refusing to revoke the last admin")
        return change

    def apply(self, change: ActorChange, index: int) -> None:
        """Apply a change already accepted by `check_change`."""
        if change.action == "register":
            actor = Actor(change.name, change.key, set(change.roles), index)
            self._by_name[actor.name] = actor
            self._by_key[actor.key.raw] = actor
        elif change.action == "grant-role":
            self._by_name[change.name].roles.update(change.roles)
        else:
            self._by_name[change.name].roles.difference_update(change.roles)
