"""in-toto Statement v1: what every record in the trail says, and about what.

A statement names its *subjects* by digest (a model file, a dataset manifest, an
actor's key) and carries a typed *predicate*. fairtrail predicate types are URIs
`https://fairtrail.dev/<kind>/v1`; statements with other predicate types are accepted
too, so other tools' attestations can live in the same trail.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fairtrail._validation import first_error
from fairtrail.crypto.canonical import canonical_json, parse_json
from fairtrail.errors import StatementError

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_PREFIX",
    "STATEMENT_TYPE",
    "Statement",
    "Subject",
    "predicate_type",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_PREFIX = "https://fairtrail.dev/"
MAX_SUBJECTS = 1024

_ALGORITHM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_HEX = re.compile(r"^[0-9a-f]+$")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]+$")
_HEX_DIGESTS = {
    "sha256": 64,
    "sha384": 96,
    "sha512": 128,
    "sha1": 40,
    "blake2b": 128,
    "blake3": 64,
    "gitcommit": 40,
}


def predicate_type(kind: str) -> str:
    """The URI of a fairtrail predicate kind, e.g. `actor` -> https://fairtrail.dev/actor/v1."""
    return f"{PREDICATE_PREFIX}{kind}/v1"


class Subject(BaseModel):
    """A thing a statement is about, identified by one or more digests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="", max_length=1024)
    digest: dict[str, str] = Field(min_length=1, max_length=8)

    @field_validator("digest")
    @classmethod
    def _check_digest(cls, value: dict[str, str]) -> dict[str, str]:
        for algorithm, hexdigest in value.items():
            if not _ALGORITHM.fullmatch(algorithm):
                raise ValueError(f"digest algorithm {algorithm!r} is not a lower-case name")
            want = _HEX_DIGESTS.get(algorithm)
            if want is not None and (len(hexdigest) != want or not _HEX.fullmatch(hexdigest)):
                raise ValueError(f"{algorithm} digest must be {want} lower-case hex characters")
            if len(hexdigest) > 256:
                raise ValueError("digest value is too long")
        return value


class Statement(BaseModel):
    """An in-toto Statement v1."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type_: Literal["https://in-toto.io/Statement/v1"] = Field(
        default="https://in-toto.io/Statement/v1", alias="_type"
    )
    subject: list[Subject] = Field(min_length=1, max_length=MAX_SUBJECTS)
    predicate_type: str = Field(alias="predicateType", min_length=1, max_length=512)
    predicate: dict[str, Any] = Field(default_factory=dict)

    @field_validator("predicate_type")
    @classmethod
    def _check_predicate_type(cls, value: str) -> str:
        if not _URI.fullmatch(value):
            raise ValueError("predicateType must be a URI")
        return value

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")

    def to_json(self) -> bytes:
        """Canonical JSON (RFC 8785): the exact payload that is signed."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, value: Any, *, what: str = "statement") -> Statement:
        if not isinstance(value, dict):
            raise StatementError(f"{what} must be a JSON object")
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            raise StatementError(f"invalid {what} at {first_error(exc, what)}") from None

    @classmethod
    def from_json(cls, data: bytes | str, *, what: str = "statement") -> Statement:
        return cls.from_dict(parse_json(data, what=what), what=what)
