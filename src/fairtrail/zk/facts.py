"""The `zk` policy facts: whether the latest audit's predictions are proven, and how well
the circuit matches the float model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fairtrail.zk.circuits import CIRCUIT_PREDICATE
from fairtrail.zk.proofs import proofs_about

if TYPE_CHECKING:
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Trail

__all__ = ["SKELETON", "zk_facts"]

_NO_VALUE = -1.0

SKELETON: dict[str, Any] = {
    "circuit": True, "circuit_entry": 0, "srs_local": True, "circuit_max_abs_error": 0.0,
    "circuit_flips": 0, "proven": True, "proof_entry": 0, "coverage": 1.0, "rows_differ": 0,
    "max_abs_error": 0.0, "flips": 0, "decisions_proven": 0,
}  # fmt: skip


def zk_facts(trail: Trail, model: ModelRecord) -> dict[str, Any]:
    """Facts from the model's newest ZkCircuit and the ZkProof of its latest Evaluation.
    Numbers that do not exist yet are -1 (so `max_abs_error <= bound` fails closed)."""
    from fairtrail.audit.evaluations import latest_evaluation

    facts: dict[str, Any] = dict.fromkeys(SKELETON)
    circuits = [i for i in trail.indices_about(model.digest, CIRCUIT_PREDICATE)]
    circuit: dict[str, Any] | None = None
    if circuits:
        _, st = trail.statement(circuits[-1])
        circuit = st.predicate
    facts |= {
        "circuit": circuit is not None,
        "circuit_entry": circuits[-1] if circuits else -1,
        "srs_local": bool(circuit and str(circuit["srs"]["source"]).startswith("generated")),
        "circuit_max_abs_error": (
            float(circuit["fidelity"]["maxAbsError"]) if circuit else _NO_VALUE
        ),
        "circuit_flips": int(circuit["fidelity"]["flips"]) if circuit else -1,
    }  # fmt: skip
    proofs = proofs_about(trail, model)
    evaluation = latest_evaluation(trail, model.digest)
    audit = None
    if evaluation is not None:
        for index, p in reversed(proofs):
            audited = p.get("evaluation", {}).get("entry")
            if p.get("purpose") == "audit" and audited == evaluation[0]:
                audit = (index, p)
                break
    if audit is None:
        facts |= {"proven": False, "proof_entry": -1, "coverage": 0.0, "rows_differ": -1,
                  "max_abs_error": _NO_VALUE, "flips": -1}  # fmt: skip
    else:
        index, p = audit
        rows = max(int(p["evaluation"]["rows"]), 1)
        fidelity = p.get("fidelity") or {}
        facts |= {
            "proven": int(p["rows"]) == int(p["evaluation"]["rows"]),
            "proof_entry": index,
            "coverage": round(int(p["rows"]) / rows, 6),
            "rows_differ": int(p["agreement"]["differ"]),
            "max_abs_error": float(fidelity.get("maxAbsError", _NO_VALUE)),
            "flips": int(fidelity.get("flips", -1)),
        }
    facts["decisions_proven"] = sum(1 for _, p in proofs if p.get("purpose") == "decision")
    return facts
