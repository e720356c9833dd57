"""Reviews: a named human's signed approval or rejection of one model digest.

The reviewer is whoever's key signed the statement; their role comes from the
keyring, never from the statement. The roles are copied into the predicate for
readers, but facts count a role only while the keyring still grants it, so revoking a
reviewer also withdraws their approvals. Each actor's latest review of a model counts
(a reviewer may change their mind; the history stays on the log).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fairtrail.errors import InputError
from fairtrail.statements.actors import Role
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Receipt, Trail

__all__ = ["REVIEW_PREDICATE", "REVIEW_ROLES", "Review", "record_review", "reviews_of"]

REVIEW_PREDICATE = predicate_type("review")
#: Roles whose holders may sign a review.
REVIEW_ROLES = (Role.REVIEWER, Role.AUDITOR, Role.COMPLIANCE_OFFICER)
MAX_COMMENT = 8192


@dataclass(frozen=True)
class Review:
    index: int
    actor: str
    approve: bool
    roles: list[str]
    comment: str
    reviewed_at: str


def record_review(
    trail: Trail, model: ModelRecord, approve: bool, comment: str, signer: SigningKey
) -> Receipt:
    """Sign and append a review; the signer must hold a reviewing role."""
    comment = comment.strip()
    if not comment:
        raise InputError("a review needs --comment saying what was checked")
    if len(comment) > MAX_COMMENT:
        raise InputError(f"the comment is over {MAX_COMMENT} characters")
    actor = trail.keyring.by_key(signer.public)
    if actor is None:
        raise InputError("the signing key belongs to no actor in this trail")
    roles = sorted(r.value for r in actor.roles & set(REVIEW_ROLES))
    if not roles:
        raise InputError(
            f"{actor.name} may not review: a reviewer needs one of the roles "
            f"{', '.join(r.value for r in REVIEW_ROLES)} (grant with `fairtrail keys grant`)"
        )
    statement = Statement(
        subject=[Subject(name=model.name, digest=model.digest)],
        predicate_type=REVIEW_PREDICATE,
        predicate={
            "model": {"name": model.name, "entry": model.index, "digest": model.digest},
            "decision": "approve" if approve else "reject",
            "reviewer": actor.name,
            "roles": roles,
            "comment": comment,
            "reviewedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return trail.record(statement, signer)


def reviews_of(trail: Trail, digest: dict[str, str]) -> list[Review]:
    """Each signer's latest review of the model `digest`, oldest first."""
    latest: dict[str, Review] = {}
    for index in trail.indices_about(digest, REVIEW_PREDICATE):
        _, st = trail.statement(index)
        pred = st.predicate
        signer = trail.signer_of(index)
        if signer is None or pred.get("model", {}).get("digest") != digest:
            continue
        latest.pop(signer, None)  # re-inserted last: order follows each actor's latest review
        latest[signer] = Review(
            index,
            signer,
            pred.get("decision") == "approve",
            [str(r) for r in pred.get("roles", [])],
            str(pred.get("comment", "")),
            str(pred.get("reviewedAt", "")),
        )
    return list(latest.values())
