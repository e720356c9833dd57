"""Statements (in-toto v1), actors, roles and the keyring replayed from the log."""

from fairtrail.statements.actors import ACTOR_PREDICATE, Actor, ActorChange, Keyring, Role
from fairtrail.statements.statement import (
    PAYLOAD_TYPE,
    STATEMENT_TYPE,
    Statement,
    Subject,
    predicate_type,
)

__all__ = [
    "ACTOR_PREDICATE",
    "PAYLOAD_TYPE",
    "STATEMENT_TYPE",
    "Actor",
    "ActorChange",
    "Keyring",
    "Role",
    "Statement",
    "Subject",
    "predicate_type",
]
