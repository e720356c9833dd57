"""Facts: what the trail says about one model, as the variables policy rules read.

Every fact is derived from signed statements on the log (nothing is taken from the
caller), and the whole fact set is stored in the PolicyDecision, so a decision can be
re-judged later by anyone from the decision alone. Values have fixed types: rules are
checked at `policy add` against `SKELETON`, which has exactly the shape of real facts
(a test keeps the two in step). Lists, not maps, hold things whose names vary (groups,
datasets), so that a misspelt fact name is always caught when a policy is added.

Facts (see docs/formats.md for every field):
  model       the artifact: name, digest, format, age, whether it came from a recorded run
  evaluation  the latest Evaluation: exists, age_days, overall rates, disparities, groups,
              small groups, claims, pre-registration and its deviations
  datasets    the training data (through the run) and the evaluation data: licence,
              source, sensitive columns covered
  training    the run: recorded, state, code commit, seeds, parameters, environment
  reviews     each actor's latest review of this model: approvers and rejecters by role
  monitoring  open alerts about this model, and the latest monitoring window's numbers
  log         size and checkpoint age (record-keeping)
  licences    the model's intended use and licence, and every licence conflict along its
              lineage (non-commercial, no-derivatives, share-alike, attribution, unknown)
  contributions  the model's own contributions: count, contributors, shares (basis points)
  zk          zero-knowledge proofs: the circuit and its fidelity, whether the latest
              Evaluation's predictions are proven, coverage, error against the float model
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fairtrail.audit.evaluations import latest_evaluation
from fairtrail.audit.fairness import DISPARITIES, RATES
from fairtrail.audit.monitoring import ALERT_PREDICATE, WINDOW_PREDICATE, window_facts
from fairtrail.lifecycle.datasets import dataset_at, datasets_with_digest
from fairtrail.lifecycle.runs import RUN_PREDICATE
from fairtrail.policy.reviews import REVIEW_ROLES, reviews_of
from fairtrail.statements.actors import Role
from fairtrail.zk.facts import SKELETON as ZK_SKELETON
from fairtrail.zk.facts import zk_facts

if TYPE_CHECKING:
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Trail

__all__ = [
    "ALERT_PREDICATE", "SKELETON", "alert_history", "gather_facts", "monitoring_facts",
    "open_alerts",
]  # fmt: skip

_RATE_FACTS = RATES
_NO_VALUE = -1.0

SKELETON: dict[str, Any] = {
    "model": {
        "name": "m", "digest": "sha256:0", "format": "skops", "framework": "scikit-learn",
        "entry": 0, "age_days": 0.0, "from_run": True, "openssf_signed": False,
    },
    "evaluation": {
        "exists": True, "entry": 0, "age_days": 0.0, "rows": 1, "label": "y",
        "positive_label": "1", "sensitive": ["s"], "min_group_size": 30,
        "overall": dict.fromkeys(_RATE_FACTS, 0.5),
        "disparities": dict.fromkeys(DISPARITIES, 0.5),
        "groups": [{"column": "s", "name": "a", "count": 1, "small": False,
                    **dict.fromkeys(_RATE_FACTS, 0.5)}],
        "small_groups": ["s=a"], "groups_compared": 2,
        "claims": [{"metric": "accuracy", "comparator": ">=", "threshold": 0.5, "passed": True}],
        "claims_passed": True, "data_recorded": True, "preregistered": True,
        "deviations": ["d"],
    },
    "datasets": [{"role": "training", "name": "d", "version": 1, "entry": 0, "license": "MIT",
                  "source": "s", "sensitive": ["s"], "rows": 1, "matches": True}],
    "training": {
        "recorded": True, "entry": 0, "state": "succeeded", "code_commit": "c",
        "code_dirty": False, "seeds": 1, "params": 1, "environment_recorded": True,
    },
    "reviews": {
        "approved": {r.value: ["a"] for r in REVIEW_ROLES},
        "rejected": {r.value: ["a"] for r in REVIEW_ROLES},
        "approvals": 1, "rejections": 0, "latest_age_days": 0.0,
    },
    "monitoring": {
        "open_alerts": 0, "windows": 1,
        "latest": {
            "exists": True, "seq": 1, "kind": "predictions", "rows": 1, "valid": 1,
            "rejected": 0, "rejected_share": 0.0, "labelled": 1, "psi_max": 0.0,
            "p_value_min": 1.0, "drifted": ["f"], "prediction_rate": 0.5,
            "prediction_rate_change": 0.0, "prediction_psi": 0.0,
            "overall": dict.fromkeys(_RATE_FACTS, 0.5),
            "disparities": dict.fromkeys(DISPARITIES, 0.5), "groups_compared": 2,
            "small_groups": ["s=a"], "windows": 1,
        },
    },
    "log": {"size": 1, "checkpointed": True, "checkpoint_size": 1},
    "licences": {
        "use": "commercial", "licence": "MIT",
        "conflicts": [{"kind": "k", "licence": "l", "message": "m", "path": "p"}],
        "conflict_kinds": ["k"],
    },
    "contributions": {"count": 1, "contributors": ["a"], "share_bp": 0, "inherited": 0},
    "zk": dict(ZK_SKELETON),
    "params": {},
}  # fmt: skip


def gather_facts(trail: Trail, model: ModelRecord, now: datetime | None = None) -> dict[str, Any]:
    """Every fact about `model` that the trail holds, as plain JSON values."""
    now = now or datetime.now(UTC)
    run_index, run = _run(trail, model)
    evaluation = _evaluation(trail, model, now)
    datasets = _training_datasets(trail, run) + _evaluation_datasets(trail, evaluation)
    latest = trail.latest_checkpoint()
    return {
        "model": {
            "name": model.name,
            "digest": model.ref,
            "format": str(model.predicate.get("format", "")),
            "framework": str(model.predicate.get("framework", "")),
            "entry": model.index,
            "age_days": _age(model.predicate.get("recordedAt"), now),
            "from_run": run is not None,
            "openssf_signed": "openssfSignature" in model.predicate,
        },
        "evaluation": evaluation["facts"],
        "datasets": datasets,
        "training": _training(run_index, run),
        "reviews": _reviews(trail, model, now),
        "monitoring": monitoring_facts(trail, model),
        "log": {
            "size": trail.log.size,
            "checkpointed": latest is not None and latest[0].size > model.index,
            "checkpoint_size": latest[0].size if latest else 0,
        },
        "licences": licence_facts(trail, model),
        "contributions": _contributions(trail, model),
        "zk": zk_facts(trail, model),
        "params": {},
    }


def licence_facts(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    """The licence conflicts in the model's lineage for its intended use
    (lifecycle/licences.py), each with its path as text."""
    from fairtrail.lifecycle.licences import check_licences

    conflicts = check_licences(trail, model)
    return {
        "use": str(model.predicate.get("use") or "commercial"),
        "licence": str(model.predicate.get("license") or ""),
        "conflicts": [
            {"kind": c.kind, "licence": c.licence, "message": c.message,
             "path": " <- ".join(f"{s['kind']} {s['name']} (entry {s['entry']})" for s in c.path)}
            for c in conflicts
        ],  # fmt: skip
        "conflict_kinds": sorted({c.kind for c in conflicts}),
    }


def _contributions(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    from fairtrail.lifecycle.contributions import contributions_of

    found = contributions_of(trail, model)
    own = [c for c in found if not c.via]
    return {
        "count": len(own),
        "contributors": sorted({c.contributor for c in own}),
        "share_bp": sum(c.share_bp for c in own),
        "inherited": len(found) - len(own),
    }


def _run(trail: Trail, model: ModelRecord) -> tuple[int, dict[str, Any] | None]:
    for index in reversed(trail.indices_about(model.digest, RUN_PREDICATE)):
        _, st = trail.statement(index)
        if any(dict(o.get("digest", {})) == model.digest for o in st.predicate.get("outputs", [])):
            return index, st.predicate
    return -1, None


def _training(index: int, run: dict[str, Any] | None) -> dict[str, Any]:
    if run is None:
        return {"recorded": False, "entry": -1, "state": "", "code_commit": "", "code_dirty": False,
                "seeds": 0, "params": 0, "environment_recorded": False}  # fmt: skip
    code = run.get("code") or {}
    return {
        "recorded": True,
        "entry": index,
        "state": str((run.get("status") or {}).get("state", "")),
        "code_commit": str(code.get("commit") or ""),
        "code_dirty": bool(code.get("dirty")),
        "seeds": len(run.get("seeds") or {}),
        "params": len(run.get("params") or {}),
        "environment_recorded": bool(run.get("environment")),
    }


def _dataset_fact(trail: Trail, index: int, digest: dict[str, str], role: str) -> dict[str, Any]:
    record = dataset_at(trail, index) if index >= 0 else None
    if record is None or record.digest != digest:
        return {"role": role, "name": "", "version": 0, "entry": index, "license": "",
                "source": "", "sensitive": [], "rows": 0, "matches": False}  # fmt: skip
    tabular = record.predicate.get("tabular") or {}
    return {
        "role": role,
        "name": record.name,
        "version": record.version,
        "entry": record.index,
        "license": str(record.predicate.get("license", "")),
        "source": str(record.predicate.get("source", "")),
        "sensitive": sorted(tabular.get("sensitive") or {}),
        "rows": int(tabular.get("rows") or 0),
        "matches": True,
    }


def _training_datasets(trail: Trail, run: dict[str, Any] | None) -> list[dict[str, Any]]:
    if run is None:
        return []
    out = []
    for item in run.get("inputs", []):
        index = item.get("datasetIndex")
        index = index if isinstance(index, int) and 0 <= index < trail.log.size else -1
        out.append(_dataset_fact(trail, index, dict(item.get("digest") or {}), "training"))
    return out


def _evaluation_datasets(trail: Trail, evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    pred = evaluation["predicate"]
    if pred is None:
        return []
    digest = dict(pred["data"]["digest"])
    alg, value = next(iter(digest.items()))
    found = datasets_with_digest(trail, alg, value)
    if not found:
        return [_dataset_fact(trail, -1, digest, "evaluation")]
    return [_dataset_fact(trail, found[-1].index, digest, "evaluation")]


def _evaluation(trail: Trail, model: ModelRecord, now: datetime) -> dict[str, Any]:
    found = latest_evaluation(trail, model.digest)
    if found is None:
        facts = {
            "exists": False, "entry": -1, "age_days": _NO_VALUE, "rows": 0, "label": "",
            "positive_label": "", "sensitive": [], "min_group_size": 0,
            "overall": dict.fromkeys(_RATE_FACTS), "disparities": dict.fromkeys(DISPARITIES),
            "groups": [], "small_groups": [], "groups_compared": 0, "claims": [],
            "claims_passed": False, "data_recorded": False, "preregistered": False,
            "deviations": [],
        }  # fmt: skip
        return {"facts": facts, "predicate": None}
    index, pred = found
    report = pred["report"]
    prereg = pred.get("preregistration")
    claims = [
        {k: c[k] for k in ("metric", "comparator", "threshold", "passed")} for c in pred["claims"]
    ]
    facts = {
        "exists": True,
        "entry": index,
        "age_days": _age(pred.get("evaluatedAt"), now),
        "rows": report["rows"],
        "label": pred["label"],
        "positive_label": pred["positiveLabel"],
        "sensitive": list(pred["sensitive"]),
        "min_group_size": pred["minGroupSize"],
        "overall": {k: report["overall"][k] for k in _RATE_FACTS},
        "disparities": {k: report["disparities"].get(k) for k in DISPARITIES},
        "groups": [
            {
                "column": column,
                "name": name,
                "count": g["count"],
                "small": g["small"],
                **{k: g[k] for k in _RATE_FACTS},
            }
            for column, groups in report["by_group"].items()
            for name, g in groups.items()
        ],  # fmt: skip
        "small_groups": list(report["small_groups"]),
        "groups_compared": len(report["groups_compared"]),
        "claims": claims,
        "claims_passed": bool(claims) and all(c["passed"] is True for c in claims),
        "data_recorded": bool(pred["data"]["datasets"]),
        "preregistered": prereg is not None and not prereg["deviations"],
        "deviations": list(prereg["deviations"]) if prereg else [],
    }
    return {"facts": facts, "predicate": pred}


def _reviews(trail: Trail, model: ModelRecord, now: datetime) -> dict[str, Any]:
    approved: dict[str, list[str]] = {r.value: [] for r in REVIEW_ROLES}
    rejected: dict[str, list[str]] = {r.value: [] for r in REVIEW_ROLES}
    keyring = trail.keyring
    latest_age = _NO_VALUE
    for review in reviews_of(trail, model.digest):  # each actor's latest review only
        actor = keyring.get(review.actor)
        held = {Role(r) for r in review.roles} & (actor.roles if actor else set())
        target = approved if review.approve else rejected
        for role in sorted(held & set(REVIEW_ROLES)):
            target[role.value].append(review.actor)
        age = _age(review.reviewed_at, now)
        latest_age = age if latest_age < 0 else min(latest_age, age)
    return {
        "approved": approved,
        "rejected": rejected,
        "approvals": len({a for names in approved.values() for a in names}),
        "rejections": len({a for names in rejected.values() for a in names}),
        "latest_age_days": latest_age,
    }


def monitoring_facts(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    """Open alerts, how many windows, and the latest window's numbers."""
    windows = trail.indices_about(model.digest, WINDOW_PREDICATE)
    latest = None
    if windows:
        _, st = trail.statement(windows[-1])
        latest = st.predicate
    return {
        "open_alerts": _open_alerts(trail, model),
        "windows": len(windows),
        "latest": window_facts(latest, len(windows)),
    }


def alert_history(trail: Trail, model: ModelRecord) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Each monitoring alert about this model, by alert id, with its statements in log
    order (the one that opened it, then any resolution)."""
    history: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for index in trail.indices_about(model.digest, ALERT_PREDICATE):
        _, st = trail.statement(index)
        history.setdefault(str(st.predicate.get("alertId", index)), []).append(
            (index, dict(st.predicate))
        )
    return history


def open_alerts(trail: Trail, model: ModelRecord) -> list[dict[str, Any]]:
    """The alerts whose latest state is `open`: their latest statement, with its entry."""
    latest = [h[-1] for h in alert_history(trail, model).values()]
    return [{"entry": i, **p} for i, p in latest if p.get("state", "open") == "open"]


def _open_alerts(trail: Trail, model: ModelRecord) -> int:
    return len(open_alerts(trail, model))


def _age(timestamp: Any, now: datetime) -> float:
    """Days since an ISO timestamp, or -1.0 when there is none."""
    if not isinstance(timestamp, str):
        return _NO_VALUE
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return _NO_VALUE
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds() / 86400)
