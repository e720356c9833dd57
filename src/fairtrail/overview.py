"""What the dashboard and the audit report show, gathered once from the trail.

Front ends render these dictionaries and decide nothing: the compliance badge, the
timeline and the verification panel are worked out here from the same functions the
CLI uses (`gates.status`, `lineage`, `monitor_status`, the anchor queue), so the web
page, the report and `fairtrail status` can never disagree.

Badges, for a model:
- ``compliant``: deployed, the gate is open and no monitoring alert is open;
- ``non-compliant``: deployed, but an alert is open or the gate has closed since;
- ``approved``: not deployed, and the gate would let it deploy now;
- ``blocked``: not deployed, and the gate refuses it (the reasons are listed).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from fairtrail.errors import InputError
from fairtrail.policy.facts import open_alerts

if TYPE_CHECKING:
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Trail

__all__ = ["model_overview", "models_overview", "verification_overview"]


def _short(predicate_type: str) -> str:
    """https://fairtrail.dev/evaluation/v1 -> evaluation"""
    parts = [p for p in predicate_type.split("/") if p]
    return parts[-2] if len(parts) >= 2 and parts[-1].startswith("v") else parts[-1]


def _badge(status: dict[str, Any], open_alerts: int) -> str:
    deployed = bool(status["deployments"])
    if deployed:
        return "compliant" if status["deployable"] and not open_alerts else "non-compliant"
    return "approved" if status["deployable"] else "blocked"


def models_overview(trail: Trail) -> list[dict[str, Any]]:
    """Every model recorded (its latest Model statement per digest), newest first."""
    from fairtrail.lifecycle.models import latest_models
    from fairtrail.policy import gates

    out = []
    for record in reversed(latest_models(trail)):
        ref = record.ref
        status = gates.status(trail, record)
        alerts = open_alerts(trail, record)
        ev = status["evaluation"]
        out.append({
            "name": record.name, "ref": ref, "entry": record.index,
            "badge": _badge(status, len(alerts)), "deployable": status["deployable"],
            "blocked_by": status["blocked_by"],
            "environments": sorted({d["environment"] for d in status["deployments"]}),
            "open_alerts": len(alerts),
            "audit": None if ev is None else {
                "entry": ev["entry"], "sensitive": ev["sensitive"],
                "dp_ratio": ev["disparities"].get("demographic_parity_ratio"),
                "eo_difference": ev["disparities"].get("equalized_odds_difference"),
            },
            "reviews": len(status["reviews"]),
        })  # fmt: skip
    return out


def model_overview(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    """Everything one model's page and report show."""
    from fairtrail.audit.evaluations import latest_evaluation
    from fairtrail.evidence import related_indices
    from fairtrail.lifecycle.lineage import lineage
    from fairtrail.monitoring import monitor_status
    from fairtrail.policy import gates
    from fairtrail.policy.decisions import decisions_of

    status = gates.status(trail, model)
    alerts = open_alerts(trail, model)
    latest = trail.latest_checkpoint()
    checkpointed = latest[0].size if latest else 0
    timeline = []
    for index in related_indices(trail, model):
        _, st = trail.statement(index)
        p = st.predicate
        when = next((p[k] for k in ("evaluatedAt", "decidedAt", "deployedAt", "reviewedAt",
                                    "finishedAt", "recordedAt", "createdAt", "openedAt")
                     if isinstance(p.get(k), str)), None)  # fmt: skip
        timeline.append({
            "entry": index, "kind": _short(st.predicate_type), "type": st.predicate_type,
            "subject": st.subject[0].name, "signer": trail.signer_of(index), "time": when,
            "checkpointed": index < checkpointed,
        })  # fmt: skip
    alg, value = next(iter(model.digest.items()))
    evaluation = latest_evaluation(trail, model.digest)
    decisions = [
        {"entry": d.index, "policy": d.predicate["policy"]["name"],
         "version": d.predicate["policy"]["version"], "passed": d.passed,
         "decidedAt": d.predicate.get("decidedAt"), "results": d.predicate["results"],
         "params": (d.predicate.get("facts") or {}).get("params")}
        for d in decisions_of(trail, model.digest)
    ]  # fmt: skip
    try:
        monitoring: dict[str, Any] | None = monitor_status(trail, model)
    except InputError:  # no monitoring plan for this model
        monitoring = None
    return {
        "model": {
            "name": model.name,
            "ref": model.ref,
            "entry": model.index,
            "digest": model.digest,
            "predicate": model.predicate,
        },  # fmt: skip
        "badge": _badge(status, len(alerts)),
        "status": status,
        "open_alerts": alerts,
        "timeline": timeline,
        "lineage": [n.to_dict() for n in lineage(trail, alg, value)],
        "evaluation": None if evaluation is None else {"entry": evaluation[0], **evaluation[1]},
        "decisions": decisions,
        "monitoring": monitoring,
        "log": {
            "origin": trail.config.origin,
            "size": trail.store.size,
            "checkpoint": checkpointed,
            "vkey": trail.config.log_vkey,
        },  # fmt: skip
    }


def verification_overview(trail: Trail) -> dict[str, Any]:
    """The log's latest checkpoint (its signature checked now), the cosignatures kept
    for it, the configured witnesses and every anchor with its state."""
    from fairtrail.anchor.queue import AnchorQueue

    latest = trail.latest_checkpoint()
    checkpoint = None
    cosigners: list[str] = []
    if latest is not None:
        body, note = latest  # latest_checkpoint opens it: its signature was just verified
        cosigned = trail.cosigned_note(body.size)
        cosigners = sorted({s.name for s in cosigned.signatures} - {note.signatures[0].name})
        checkpoint = {
            "size": body.size, "root": base64.b64encode(body.root).decode("ascii"),
            "root_hex": body.root.hex(), "note": cosigned.to_bytes().decode("utf-8"),
            "signature": "verified",
        }  # fmt: skip
    anchors = []
    if trail.paths.anchors_db.exists():
        with AnchorQueue(trail.paths.anchors_db) as queue:
            anchors = [
                {"chain": r.chain, "chain_id": r.chain_id, "contract": r.contract,
                 "size": r.size, "state": r.state, "tx": r.tx_hash, "block": r.block_number,
                 "reason": r.reason, "statement": r.statement_index}
                for r in queue.rows()
            ]  # fmt: skip
    return {
        "origin": trail.config.origin,
        "size": trail.store.size,
        "store": trail.store.name.split("/")[-1] if trail.config.log_db is None else "postgresql",
        "vkey": trail.config.log_vkey,
        "checkpoint": checkpoint,
        "cosigners": cosigners,
        "witnesses": [{"name": w.name, "url": w.url} for w in trail.config.witnesses],
        "anchors": anchors,
    }
