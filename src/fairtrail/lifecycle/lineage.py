"""Lineage: from a model back through the runs that made it to the data they used.

Every hop is a statement on the log, found by digest, and every node says whether its
statement is proved: included under the latest signed checkpoint (the inclusion
proof is built and checked against that checkpoint's signed root). A node whose
digests do not match what its parent claims is reported as such, never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fairtrail.errors import FairtrailError, InputError
from fairtrail.lifecycle.datasets import DATASET_PREDICATE
from fairtrail.lifecycle.models import MODEL_PREDICATE
from fairtrail.lifecycle.runs import RUN_PREDICATE

if TYPE_CHECKING:
    from fairtrail.trail import Trail

__all__ = ["LineageNode", "lineage", "proof_status"]


@dataclass
class LineageNode:
    kind: str  # model, training-run, dataset
    index: int
    name: str
    digest: dict[str, str]
    proof: str  # "proved at checkpoint N", "not checkpointed yet", or a failure
    details: dict[str, Any]
    children: list[LineageNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "index": self.index,
            "name": self.name,
            "digest": self.digest,
            "proof": self.proof,
            "details": self.details,
            "children": [c.to_dict() for c in self.children],
        }


def lineage(trail: Trail, algorithm: str, value: str) -> list[LineageNode]:
    """The lineage trees of every Model statement whose subject has this digest."""
    models = trail.indices_about({algorithm: value}, MODEL_PREDICATE)
    if not models:
        raise InputError(f"no model with {algorithm}:{value[:16]}… is recorded in this trail")
    latest = trail.latest_checkpoint()
    size = latest[0].size if latest else 0
    return [_model_node(trail, i, size) for i in models]


def proof_status(trail: Trail, index: int, size: int) -> str:
    """Whether entry `index` is proved under the checkpoint of `size`, in words."""
    if index >= size:
        return "not checkpointed yet"
    try:
        trail.prove_inclusion(index, size)  # built and checked against the signed root
    except FairtrailError as exc:
        return f"PROOF FAILED: {exc}"
    return f"proved at checkpoint {size}"


def _model_node(trail: Trail, index: int, size: int) -> LineageNode:
    _, st = trail.statement(index)
    pred = st.predicate
    subject = st.subject[0]
    node = LineageNode(
        "model",
        index,
        subject.name,
        dict(subject.digest),
        proof_status(trail, index, size),
        {"format": pred.get("format"), "framework": pred.get("framework")},
    )
    for i in trail.indices_about(subject.digest, RUN_PREDICATE):
        node.children.append(_run_node(trail, i, size))
    return node


def _run_node(trail: Trail, index: int, size: int) -> LineageNode:
    _, st = trail.statement(index)
    pred = st.predicate
    code = pred.get("code", {})
    node = LineageNode(
        "training-run",
        index,
        str(pred.get("name")),
        dict(st.subject[0].digest),
        proof_status(trail, index, size),
        {
            "status": pred.get("status", {}).get("state"),
            "commit": code.get("commit"),
            "dirty": code.get("dirty"),
            "code_license": code.get("license"),
            "startedAt": pred.get("startedAt"),
            "metrics": {
                k: round(v[-1]["value"], 4) for k, v in pred.get("metrics", {}).items() if v
            },
        },
    )
    for item in pred.get("inputs", []):
        node.children.append(_dataset_node(trail, item, size))
    return node


def _dataset_node(trail: Trail, claimed: dict[str, Any], size: int) -> LineageNode:
    index = claimed.get("datasetIndex")
    digest = dict(claimed.get("digest") or {})
    if isinstance(index, int) and 0 <= index < trail.log.size:
        _, st = trail.statement(index)
        if st.predicate_type == DATASET_PREDICATE and dict(st.subject[0].digest) == digest:
            pred = st.predicate
            return LineageNode(
                "dataset",
                index,
                f"{pred.get('name')} v{pred.get('version')}",
                digest,
                proof_status(trail, index, size),
                {"license": pred.get("license"), "source": pred.get("source"),
                 "rows": (pred.get("tabular") or {}).get("rows")},
            )  # fmt: skip
    return LineageNode(
        "dataset",
        index if isinstance(index, int) else -1,
        str(claimed.get("name")),
        digest,
        "MISMATCH: the run names a dataset statement that does not have this digest",
        {},
    )
