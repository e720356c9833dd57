"""Reputation: a score per model (and per team) from verifiable facts only, and a
leaderboard that compares like with like.

The score is 0-100, the weighted sum of five components, each 0-1 and each computed
from statements on the log (every input is listed with its entry, so anyone can recheck
the arithmetic from an evidence bundle):

- policy (weight 25): the share of current policies whose latest decision about the
  model passed, each scaled by the share of its error rules that passed (a failed
  decision counts half of that);
- fairness (25): from the latest evaluation, the mean of min(1, demographic parity
  ratio) and 1 - equalized odds difference;
- reviews (15): approvals / (approvals + rejections), each actor's latest review once;
  0 with no review;
- monitoring (20): 1 with no alert ever; else (1 - open / all alerts) divided by
  (1 + mean hours to resolve / 24);
- transparency (15): the mean of the shares of the model's statements under an
  anchored checkpoint and under a witnessed (cosigned) one.

A team's score is the mean of the scores of the models its members recorded (the
signer of each model's Model statement). The leaderboard ranks models only when their
latest evaluations used the same data (digest), label and sensitive attributes: anything
else is an apples-to-oranges comparison and is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from fairtrail.errors import InputError
from fairtrail.lifecycle.models import latest_models

if TYPE_CHECKING:
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Trail

__all__ = ["WEIGHTS", "leaderboard", "model_score", "publish_points", "team_scores"]

WEIGHTS = {"policy": 25, "fairness": 25, "reviews": 15, "monitoring": 20, "transparency": 15}
METRICS = ("score", "accuracy", "demographic_parity_ratio", "equalized_odds_difference")


def _component(value: float, entries: list[int], why: str) -> dict[str, Any]:
    return {"value": round(max(0.0, min(1.0, value)), 6), "entries": sorted(set(entries)),
            "why": why}  # fmt: skip


def _policy(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    from fairtrail.policy.decisions import current_policies, decisions_of

    latest: dict[str, Any] = {}
    d: Any
    for d in decisions_of(trail, model.digest):
        latest[d.predicate["policy"]["name"]] = d
    names = [p.name for p in current_policies(trail)]
    if not names:
        return _component(0.0, [], "no policy is recorded")
    parts, used = [], []
    for name in names:
        d = latest.get(name, None)
        if d is None:
            parts.append(0.0)
            continue
        used.append(d.index)
        errors = [r for r in d.predicate["results"] if r["severity"] == "error"]
        margin = sum(r["passed"] for r in errors) / len(errors) if errors else 1.0
        parts.append(margin if d.passed else margin / 2)  # a failed decision counts half
    return _component(sum(parts) / len(names), used,
                      f"{sum(1 for n in names if n in latest and latest[n].passed)} of "
                      f"{len(names)} current policies passed")  # fmt: skip


def _fairness(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    from fairtrail.audit.evaluations import latest_evaluation

    ev = latest_evaluation(trail, model.digest)
    if ev is None:
        return _component(0.0, [], "no evaluation")
    d = ev[1]["report"]["disparities"]
    dp, eo = d.get("demographic_parity_ratio"), d.get("equalized_odds_difference")
    if dp is None or eo is None:
        return _component(0.0, [ev[0]], "disparities undefined")
    return _component((min(1.0, dp) + (1.0 - eo)) / 2, [ev[0]],
                      f"DP ratio {dp:.3f}, EO difference {eo:.3f}")  # fmt: skip


def _reviews(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    from fairtrail.policy.reviews import reviews_of

    latest = {}
    for r in reviews_of(trail, model.digest):
        latest[r.actor] = r
    if not latest:
        return _component(0.0, [], "no review")
    approvals = sum(1 for r in latest.values() if r.approve)
    return _component(approvals / len(latest), [r.index for r in latest.values()],
                      f"{approvals} of {len(latest)} reviewers approve")  # fmt: skip


def _monitoring(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    from fairtrail.policy.facts import alert_history

    alerts = alert_history(trail, model)
    if not alerts:
        return _component(1.0, [], "no monitoring alert")
    entries = [i for history in alerts.values() for i, _ in history]
    open_count, hours = 0, []
    for history in alerts.values():
        first, last = history[0][1], history[-1][1]
        if last.get("state") == "open":
            open_count += 1
        elif isinstance(first.get("openedAt"), str) and isinstance(last.get("resolvedAt"), str):
            delta = datetime.fromisoformat(last["resolvedAt"]) - datetime.fromisoformat(
                first["openedAt"])  # fmt: skip
            hours.append(max(0.0, delta.total_seconds() / 3600))
    mean_hours = sum(hours) / len(hours) if hours else 0.0
    value = (1 - open_count / len(alerts)) / (1 + mean_hours / 24)
    return _component(value, entries, f"{open_count} of {len(alerts)} alerts open, resolved in "
                                      f"{mean_hours:.1f} h on average")  # fmt: skip


def _transparency(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    from fairtrail.anchoring import ANCHOR_PREDICATE
    from fairtrail.evidence import related_indices

    related = related_indices(trail, model)
    anchored = 0
    anchor_entries = []
    for index in trail.indices_of_type(ANCHOR_PREDICATE):
        _, st = trail.statement(index)
        anchor_entries.append(index)
        anchored = max(anchored, int(st.predicate["checkpoint"]["size"]))
    witnessed = next((c.size for c in reversed(trail.store.checkpoints())
                      if trail.store.cosignatures(c.size)), 0)  # fmt: skip
    if not related:
        return _component(0.0, [], "no statement about the model")
    a = sum(1 for i in related if i < anchored) / len(related)
    w = sum(1 for i in related if i < witnessed) / len(related)
    return _component((a + w) / 2, anchor_entries,
                      f"{a:.0%} of its statements anchored, {w:.0%} witnessed")  # fmt: skip


def model_score(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    """The model's score with every component, its inputs' entries and its weight."""
    parts = {
        "policy": _policy(trail, model), "fairness": _fairness(trail, model),
        "reviews": _reviews(trail, model), "monitoring": _monitoring(trail, model),
        "transparency": _transparency(trail, model),
    }  # fmt: skip
    score = sum(WEIGHTS[k] * v["value"] for k, v in parts.items())
    latest = trail.latest_checkpoint()
    return {
        "model": {"name": model.name, "entry": model.index, "digest": model.ref},
        "score": round(score, 2),
        "components": {k: {**v, "weight": WEIGHTS[k]} for k, v in parts.items()},
        "checkpoint": None if latest is None else {"size": latest[0].size,
                                                   "root": "0x" + latest[0].root.hex()},
    }  # fmt: skip


def team_scores(trail: Trail) -> list[dict[str, Any]]:
    """Per actor who recorded models: the mean score of those models."""
    teams: dict[str, list[float]] = {}
    for model in latest_models(trail):
        signer = trail.signer_of(model.index) or "?"
        teams.setdefault(signer, []).append(model_score(trail, model)["score"])
    return sorted(({"team": t, "models": len(s), "score": round(sum(s) / len(s), 2)}
                   for t, s in teams.items()), key=lambda r: -r["score"])  # fmt: skip


def _cohort_key(ev: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    data = ev.get("data", {}).get("digest") or {}
    digest = ",".join(f"{a}:{v}" for a, v in sorted(dict(data).items()))
    return digest, str(ev.get("label")), tuple(sorted(ev.get("sensitive", [])))


def leaderboard(
    trail: Trail, models: list[ModelRecord] | None = None, metric: str = "score"
) -> dict[str, Any]:
    """Rank models that were evaluated on the same data, label and sensitive attributes
    by `metric` (the score, accuracy, DP ratio, or EO difference: lower is better)."""
    from fairtrail.audit.evaluations import latest_evaluation

    if metric not in METRICS:
        raise InputError(f"--metric must be one of {', '.join(METRICS)}, not {metric!r}")
    chosen = models if models is not None else latest_models(trail)
    rows: list[dict[str, Any]] = []
    cohorts: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for model in chosen:
        ev = latest_evaluation(trail, model.digest)
        if ev is None:
            if models is not None:
                raise InputError(f"{model.name} has no evaluation: nothing to compare it on")
            continue
        key = _cohort_key(ev[1])
        cohorts.setdefault(key, []).append(model.name)
        report = ev[1]["report"]
        rows.append({"model": model.name, "digest": model.ref, "evaluation": ev[0],
                     "score": model_score(trail, model)["score"],
                     "accuracy": report["overall"].get("accuracy"),
                     **{k: report["disparities"].get(k) for k in METRICS[2:]}})  # fmt: skip
    if len(cohorts) > 1:
        detail = "; ".join(f"{', '.join(names)} on data {k[0][:23]}… by {'+'.join(k[2])}"
                           for k, names in cohorts.items())  # fmt: skip
        raise InputError("these models were not evaluated on the same data, label and sensitive "
                         f"attributes, so they cannot be ranked together: {detail}")  # fmt: skip
    if not rows:
        raise InputError("no evaluated model to rank")
    lower_better = metric == "equalized_odds_difference"
    rows.sort(key=lambda r: (r[metric] is None, r[metric] if lower_better else
                             -(r[metric] or 0.0)))  # fmt: skip
    key = next(iter(cohorts))
    return {"metric": metric, "cohort": {"data": key[0], "label": key[1],
                                         "sensitive": list(key[2])}, "rows": rows}  # fmt: skip


def publish_points(
    trail: Trail, model: ModelRecord, chain: Any, auditor: Any, wallet: Any
) -> dict[str, Any]:
    """Award the model's score on `chain` as AuditRegistry points (basis points), sent by
    an auditor who approved the model there. Refused before anything is signed unless a
    quorum approves the model under that auditor's approved policy."""
    from fairtrail.anchor.client import ChainClient, to_hex
    from fairtrail.anchoring import chain_digest, latest_approval
    from fairtrail.statements.actors import Role

    actor = trail.keyring.by_key(auditor.public)
    if actor is None or Role.AUDITOR not in actor.roles:
        raise InputError("points are awarded by an auditor (needs the role auditor)")
    approval = latest_approval(trail, model, chain, actor.name)
    if approval is None:
        raise InputError(f"{actor.name} has no approval of {model.name} on {chain.name}; "
                         "points follow an approval (fairtrail approve)")  # fmt: skip
    scored = model_score(trail, model)
    if scored["checkpoint"] is None:
        raise InputError("the trail has no signed checkpoint; run `fairtrail checkpoint`")
    points = int(round(scored["score"] * 100))
    model32 = chain_digest(model.ref)
    policy32 = bytes.fromhex(approval["policy"]["digest"])
    root = bytes.fromhex(scored["checkpoint"]["root"][2:])
    with ChainClient.connect(chain, trail.paths.root) as client:
        registry = client.contract("AuditRegistry")
        f = registry.functions
        if not client.rpc("isApprovedFor", lambda: f.isApprovedFor(model32, policy32).call()):
            raise InputError(f"no quorum of auditors approves {model.name} on {chain.name} yet: "
                             "no points can be awarded")  # fmt: skip
        receipt = client.transact(f.awardPoints(model32, policy32, points, root),
                                  client.wallet(wallet))  # fmt: skip
        on_chain = int(client.rpc("points", lambda: f.points(model32).call()))
    return {"model": model.name, "score": scored["score"], "points": on_chain,
            "transaction": to_hex(receipt["transactionHash"]),
            "checkpoint": scored["checkpoint"]}  # fmt: skip
