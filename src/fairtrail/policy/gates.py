"""The deployment gate, and the at-a-glance status of a model.

`deploy` records a Deployment only when, for every current policy, the latest
PolicyDecision about exactly this model digest was made under the policy's current
version, passed, and is not stale: no evaluation, review, pre-registration or alert
about the model was recorded after it (new evidence needs a new decision). Otherwise
it raises `PolicyDeniedError` naming each reason, and records nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fairtrail.audit.evaluations import EVALUATION_PREDICATE, latest_evaluation
from fairtrail.audit.preregistration import PREREGISTRATION_PREDICATE
from fairtrail.errors import InputError, PolicyDeniedError
from fairtrail.policy.decisions import Decision, current_policies, decisions_of
from fairtrail.policy.facts import ALERT_PREDICATE
from fairtrail.policy.reviews import REVIEW_PREDICATE, reviews_of
from fairtrail.statements.actors import Role
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Receipt, Trail

__all__ = ["DEPLOYMENT_PREDICATE", "deploy", "gate", "status"]

DEPLOYMENT_PREDICATE = predicate_type("deployment")
DEPLOY_ROLES = (Role.OPERATOR, Role.ADMIN)
_EVIDENCE = {
    EVALUATION_PREDICATE: "evaluation",
    REVIEW_PREDICATE: "review",
    PREREGISTRATION_PREDICATE: "pre-registration",
    ALERT_PREDICATE: "monitoring alert",
}


def gate(
    trail: Trail,
    model: ModelRecord,
    names: list[str] | None = None,
    decisions: list[Decision] | None = None,
) -> tuple[list[Decision], list[str]]:
    """(the passing decisions, the reasons deployment is refused); refused if any reason.
    `decisions`: the model's decisions, when the caller has already read them."""
    policies = current_policies(trail, names)
    if decisions is None:
        decisions = decisions_of(trail, model.digest)
    evidence = _evidence(trail, model)
    passing: list[Decision] = []
    reasons: list[str] = []
    for recorded in policies:
        doc = recorded.policy.doc
        label = f"{doc.name} v{doc.version}"
        mine = [d for d in decisions if d.predicate["policy"]["name"] == doc.name]
        if not mine:
            reasons.append(f"{label}: no decision for this model (run `fairtrail policy check`)")
            continue
        latest = mine[-1]
        if latest.predicate["policy"]["digest"] != {"sha256": recorded.policy.digest}:
            reasons.append(
                f"{label}: the latest decision (entry {latest.index}) was made under another "
                "version of the policy; check again"
            )
        elif newer := [(i, kind) for i, kind in evidence if i > latest.predicate["basis"]]:
            i, kind = newer[0]
            reasons.append(
                f"{label}: decision {latest.index} predates new evidence ({kind} at entry {i}); "
                "run `fairtrail policy check` again"
            )
        elif not latest.passed:
            failing = ", ".join(r["id"] for r in latest.failing)
            reasons.append(f"{label}: decision {latest.index} failed rules {failing}")
        else:
            passing.append(latest)
    return passing, reasons


def deploy(
    trail: Trail, model: ModelRecord, env: str, signer: SigningKey, names: list[str] | None = None
) -> Receipt:
    env = env.strip()
    if not env or len(env) > 128:
        raise InputError("--env needs the environment's name (1-128 characters)")
    actor = trail.keyring.by_key(signer.public)
    if actor is None or not actor.roles & set(DEPLOY_ROLES):
        who = actor.name if actor else "this key"
        raise InputError(
            f"{who} may not deploy: needs the role {' or '.join(r.value for r in DEPLOY_ROLES)}"
        )
    passing, reasons = gate(trail, model, names)
    if reasons:
        raise PolicyDeniedError(f"deployment of {model.name} refused: " + "; ".join(reasons))
    statement = Statement(
        subject=[Subject(name=model.name, digest=model.digest)],
        predicate_type=DEPLOYMENT_PREDICATE,
        predicate={
            "model": {"name": model.name, "entry": model.index, "digest": model.digest},
            "environment": env,
            "decisions": [
                {
                    "entry": d.index,
                    "policy": d.predicate["policy"]["name"],
                    "version": d.predicate["policy"]["version"],
                }
                for d in passing
            ],  # fmt: skip
            "deployedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return trail.record(statement, signer)


def status(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    """Audit, policy, reviews and deployments of one model, for `fairtrail status`."""
    evaluation = latest_evaluation(trail, model.digest)
    reviews = reviews_of(trail, model.digest)
    decisions = decisions_of(trail, model.digest)
    latest_by_policy: dict[str, Decision] = {}
    for d in decisions:
        latest_by_policy[d.predicate["policy"]["name"]] = d
    try:
        _, reasons = gate(trail, model, decisions=decisions)
    except InputError as exc:  # no policy yet
        reasons = [str(exc)]
    deployments = []
    for index in trail.indices_about(model.digest, DEPLOYMENT_PREDICATE):
        _, st = trail.statement(index)
        deployments.append(
            {"entry": index, "environment": st.predicate["environment"],
             "deployedAt": st.predicate["deployedAt"], "by": trail.signer_of(index)}
        )  # fmt: skip
    return {
        "model": {"name": model.name, "entry": model.index, "digest": model.ref},
        "evaluation": None
        if evaluation is None
        else {
            "entry": evaluation[0],
            "evaluatedAt": evaluation[1]["evaluatedAt"],
            "sensitive": evaluation[1]["sensitive"],
            "rows": evaluation[1]["report"]["rows"],
            "disparities": evaluation[1]["report"]["disparities"],
            "preregistration": evaluation[1]["preregistration"],
        },
        "reviews": [
            {
                "entry": r.index,
                "actor": r.actor,
                "decision": "approve" if r.approve else "reject",
                "roles": r.roles,
                "comment": r.comment,
            }
            for r in reviews
        ],  # fmt: skip
        "decisions": [
            {
                "entry": d.index,
                "policy": d.predicate["policy"]["name"],
                "version": d.predicate["policy"]["version"],
                "passed": d.passed,
                "failing": [r["id"] for r in d.failing],
            }
            for d in latest_by_policy.values()
        ],  # fmt: skip
        "deployable": not reasons,
        "blocked_by": reasons,
        "deployments": deployments,
    }


def _evidence(trail: Trail, model: ModelRecord) -> list[tuple[int, str]]:
    found = []
    for ptype, kind in _EVIDENCE.items():
        found += [(i, kind) for i in trail.indices_about(model.digest, ptype)]
    return sorted(found)
