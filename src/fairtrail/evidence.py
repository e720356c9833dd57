"""Which statements make up a model's evidence, and its bundle (façade level).

`bundle/` builds and checks bundles but knows nothing of ML; this module picks what
belongs in one: the Model statements of the digest, the runs that produced it and the
datasets they used, its evaluations, pre-registrations, reviews, policy decisions and
the policies they name, deployments, alerts and chain approvals. `build_bundle` adds
every actor and Anchor statement.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtrail.anchoring import APPROVAL_PREDICATE
from fairtrail.audit.evaluations import EVALUATION_PREDICATE
from fairtrail.audit.preregistration import PREREGISTRATION_PREDICATE
from fairtrail.bundle.export import build_bundle
from fairtrail.errors import InputError
from fairtrail.lifecycle.models import MODEL_PREDICATE
from fairtrail.lifecycle.runs import RUN_PREDICATE
from fairtrail.policy.decisions import DECISION_PREDICATE
from fairtrail.policy.facts import ALERT_PREDICATE
from fairtrail.policy.gates import DEPLOYMENT_PREDICATE
from fairtrail.policy.reviews import REVIEW_PREDICATE
from fairtrail.zk.circuits import CIRCUIT_PREDICATE
from fairtrail.zk.proofs import PROOF_PREDICATE

if TYPE_CHECKING:
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Trail

__all__ = ["export_bundle", "related_indices"]

_ABOUT = (
    MODEL_PREDICATE, RUN_PREDICATE, EVALUATION_PREDICATE, PREREGISTRATION_PREDICATE,
    REVIEW_PREDICATE, DECISION_PREDICATE, DEPLOYMENT_PREDICATE, ALERT_PREDICATE,
    APPROVAL_PREDICATE, CIRCUIT_PREDICATE, PROOF_PREDICATE,
)  # fmt: skip


def related_indices(trail: Trail, model: ModelRecord) -> list[int]:
    found: set[int] = set()
    for ptype in _ABOUT:
        found.update(trail.indices_about(model.digest, ptype))
    for index in sorted(found):
        _, st = trail.statement(index)
        p = st.predicate
        if st.predicate_type == RUN_PREDICATE:
            found.update(
                int(i["datasetIndex"]) for i in p.get("inputs", [])
                if isinstance(i, dict) and isinstance(i.get("datasetIndex"), int)
            )  # fmt: skip
        elif st.predicate_type == EVALUATION_PREDICATE:
            found.update(int(d["entry"]) for d in p.get("data", {}).get("datasets", []))
        elif st.predicate_type == DECISION_PREDICATE:
            found.add(int(p["policy"]["entry"]))
    return sorted(found)


def export_bundle(trail: Trail, model: ModelRecord) -> tuple[dict[str, Any], list[int]]:
    """(the bundle document, related entries left out because not yet checkpointed)."""
    about = {"name": model.name, "digest": model.digest, "entry": model.index}
    document, pending = build_bundle(trail, about, related_indices(trail, model))
    zk = zk_files(trail, [int(e["index"]) for e in document["entries"]])
    if zk["circuits"] or zk["proofs"]:
        document["zk"] = zk
    return document, pending


def zk_files(trail: Trail, indices: list[int]) -> dict[str, Any]:
    """The files a verifier needs for the ZkCircuit and ZkProof entries among `indices`:
    each circuit's settings, verifying key and SRS, and every batch's proof."""
    import base64

    from fairtrail.zk.circuits import circuit_folder
    from fairtrail.zk.proofs import proof_file

    def b64(path: Path) -> str:
        try:
            return base64.b64encode(path.read_bytes()).decode("ascii")
        except FileNotFoundError:
            raise InputError(f"this trail does not hold {path}, which the bundle needs") from None

    circuits, proofs = [], []
    for index in indices:
        _, st = trail.statement(index)
        p = st.predicate
        if st.predicate_type == CIRCUIT_PREDICATE:
            folder = circuit_folder(trail, p)
            circuits.append({"entry": index, "settings": b64(folder / "settings.json"),
                             "vk": b64(folder / "vk.key"), "srs": b64(folder / "kzg.srs")})
        elif st.predicate_type == PROOF_PREDICATE:
            for k, batch in enumerate(p["batches"]):
                path = proof_file(trail, str(batch["proof"]["sha256"]))
                proofs.append({"entry": index, "batch": k, "proof": b64(path)})
    return {"circuits": circuits, "proofs": proofs}
