"""Policies on the log, and PolicyDecisions: a policy judged on one model's facts.

A Policy statement holds the whole policy (rules, params, citations); its subject is
the policy's digest, and the latest Policy statement of a name is that policy's current
version. A PolicyDecision names the model digest and the policy digest, and holds
every rule's result and the complete facts used, so anyone can re-run the rules on
the recorded facts and get the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fairtrail.errors import InputError
from fairtrail.policy.facts import gather_facts
from fairtrail.policy.rules import CompiledPolicy, RuleResult, compile_policy
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Receipt, Trail

__all__ = [
    "DECISION_PREDICATE",
    "POLICY_PREDICATE",
    "Decision",
    "RecordedPolicy",
    "check_model",
    "current_policies",
    "decisions_of",
    "record_policy",
]

POLICY_PREDICATE = predicate_type("policy")
DECISION_PREDICATE = predicate_type("policy-decision")


@dataclass(frozen=True)
class RecordedPolicy:
    index: int
    policy: CompiledPolicy

    @property
    def name(self) -> str:
        return self.policy.doc.name


@dataclass(frozen=True)
class Decision:
    index: int
    predicate: dict[str, Any]

    @property
    def passed(self) -> bool:
        return bool(self.predicate["passed"])

    @property
    def failing(self) -> list[dict[str, Any]]:
        return [
            r for r in self.predicate["results"] if not r["passed"] and r["severity"] == "error"
        ]


def record_policy(trail: Trail, policy: CompiledPolicy, signer: SigningKey) -> Receipt:
    """Append a policy version. The same content twice is refused (it is already current
    or an older version: re-adding it would hide which came first)."""
    for existing in _policies(trail):
        if existing.policy.digest == policy.digest:
            raise InputError(
                f"this exact policy is already recorded ({existing.name} v"
                f"{existing.policy.doc.version}, entry {existing.index})"
            )
        if existing.name == policy.doc.name and existing.policy.doc.version == policy.doc.version:
            raise InputError(
                f"{policy.doc.name} version {policy.doc.version} is already recorded with other "
                f"rules (entry {existing.index}); give the new rules a new version"
            )
    body = policy.doc.model_dump(mode="json")
    statement = Statement(
        subject=[Subject(name=f"policy:{policy.doc.name}", digest={"sha256": policy.digest})],
        predicate_type=POLICY_PREDICATE,
        predicate={**body, "recordedAt": _now()},
    )
    return trail.record(statement, signer)


def _policies(trail: Trail) -> list[RecordedPolicy]:
    out = []
    for index in trail.indices_of_type(POLICY_PREDICATE):
        _, st = trail.statement(index)
        body = {k: v for k, v in st.predicate.items() if k != "recordedAt"}
        out.append(RecordedPolicy(index, compile_policy(body, source=f"policy at entry {index}")))
    return out


def current_policies(trail: Trail, names: list[str] | None = None) -> list[RecordedPolicy]:
    """The latest version of each named policy (of every policy when `names` is None)."""
    latest: dict[str, RecordedPolicy] = {}
    for recorded in _policies(trail):
        latest[recorded.name] = recorded
    if names:
        missing = [n for n in names if n not in latest]
        if missing:
            known = ", ".join(sorted(latest)) or "none yet"
            raise InputError(f"no policy named {missing[0]!r} in this trail (policies: {known})")
        return [latest[n] for n in dict.fromkeys(names)]
    if not latest:
        raise InputError("no policy is recorded in this trail; add one with `fairtrail policy add`")
    return sorted(latest.values(), key=lambda p: p.index)


def check_model(
    trail: Trail, model: ModelRecord, recorded: RecordedPolicy, signer: SigningKey
) -> tuple[Receipt, list[RuleResult]]:
    """Judge `model` by one policy and record the signed PolicyDecision."""
    facts = gather_facts(trail, model)
    facts["params"] = dict(recorded.policy.doc.params)
    results = recorded.policy.evaluate(facts)
    passed = all(r.passed for r in results if r.severity == "error")
    doc = recorded.policy.doc
    statement = Statement(
        subject=[
            Subject(name=model.name, digest=model.digest),
            Subject(name=f"policy:{doc.name}", digest={"sha256": recorded.policy.digest}),
        ],
        predicate_type=DECISION_PREDICATE,
        predicate={
            "model": {"name": model.name, "entry": model.index, "digest": model.digest},
            "policy": {
                "name": doc.name,
                "version": doc.version,
                "entry": recorded.index,
                "digest": {"sha256": recorded.policy.digest},
            },  # fmt: skip
            "passed": passed,
            "results": [r.to_dict() for r in results],
            "facts": facts,
            "basis": trail.log.size - 1,  # the newest entry the facts could reflect
            "decidedAt": _now(),
        },
    )
    return trail.record(statement, signer), results


def decisions_of(trail: Trail, digest: dict[str, str]) -> list[Decision]:
    """PolicyDecisions about the model `digest`, oldest first."""
    out = []
    for index in trail.indices_about(digest, DECISION_PREDICATE):
        _, st = trail.statement(index)
        if st.predicate.get("model", {}).get("digest") == digest:
            out.append(Decision(index, st.predicate))
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
