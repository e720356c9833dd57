"""`zk prove-audit` and `zk prove-decision`: ZkProof statements over a recorded circuit.

A ZkProof names the circuit (entry and verifying-key digest), the weight commitment
every proof carries, and per batch: the rows it covers, the proof file's digest, the
KZG commitment to its (salted) inputs, and the quantised outputs it proves. The proof
files themselves live in `<trail>/zk/proofs/` (by digest) and travel in evidence bundles.

For an audit, the predictions the circuit proves are compared with the Evaluation's
(row by row), and the fairness report is recomputed from the proven predictions with
the Evaluation's labels, groups and settings, so the two reports sit side by side. For a
decision, the proven label must be the recorded output.

Salts: each input row carries 16 salt bytes (zk/export.py). For an audit they come from
a key kept in `<trail>/secrets/zk/`; for a decision from the decision's own vault salt
(HMAC-SHA256(salt, "fairtrail-zk-decision")), so the data subject, who holds the salt in
their copy of the receipt, can recompute the input commitment, and erasing the vault
entry leaves the commitment unopenable like the decision's own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fairtrail import __version__
from fairtrail.crypto._files import write_atomic, write_private
from fairtrail.errors import FairtrailError, InputError, IntegrityError
from fairtrail.statements.statement import Statement, Subject, predicate_type
from fairtrail.zk import _ezkl
from fairtrail.zk.circuits import Circuit, fidelity_of, latest_circuit, witness
from fairtrail.zk.export import salts

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Receipt, Trail

__all__ = [
    "PROOF_PREDICATE",
    "AuditPlan",
    "BatchProof",
    "DecisionPlan",
    "counter",
    "plan_audit",
    "plan_decision",
    "record_audit",
    "record_decision",
    "decision_salt_key",
    "label_of",
    "proofs_about",
    "prove_audit",
    "prove_batches",
    "proof_file",
    "prove_decision",
]

PROOF_PREDICATE = predicate_type("zk-proof")
_DECISION_KEY = b"fairtrail-zk-decision"


@dataclass(frozen=True)
class BatchProof:
    first: int
    count: int
    proof: bytes  # the proof file as ezkl wrote it
    outputs: list[int]
    probabilities: npt.NDArray[np.float64]
    input_commitment: str
    seconds: float

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.proof).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "first": self.first, "count": self.count,
            "proof": {"sha256": self.sha256, "bytes": len(self.proof)},
            "inputCommitment": self.input_commitment, "outputs": self.outputs,
        }  # fmt: skip


def label_of(output: int, circuit: Circuit) -> str:
    """The class a quantised output stands for: positive above one half."""
    negative, positive = circuit.classes
    return positive if output * 2 > (1 << circuit.output_scale) else negative


def prove_batches(
    circuit: Circuit,
    x: npt.NDArray[np.float64],
    progress: Callable[[int], None] = lambda _: None,
) -> list[BatchProof]:
    """Prove the circuit on every batch of `x` (the last one padded with zero rows)."""
    out = []
    for first in range(0, len(x), circuit.batch):
        chunk = x[first : first + circuit.batch]
        started = time.perf_counter()
        w = witness(circuit, chunk, len(chunk))
        if w.weight_commitment != circuit.weight_commitment:
            raise IntegrityError(
                "the circuit's files no longer hash to the recorded weight commitment"
            )
        with tempfile.TemporaryDirectory(prefix=".prove-", dir=circuit.folder) as tmp:
            wpath, ppath = Path(tmp) / "witness.json", Path(tmp) / "proof.json"
            _ezkl.write_json(wpath, w.raw)
            _ezkl.run("proving", "prove", str(wpath), str(circuit.path("circuit.ezkl")),
                      str(circuit.path("pk.key")), str(ppath), str(circuit.path("kzg.srs")))
            # fmt: skip
            proof = ppath.read_bytes()
        out.append(BatchProof(first, len(chunk), proof, w.outputs, w.probabilities,
                              w.input_commitment, time.perf_counter() - started))  # fmt: skip
        progress(len(chunk))
    return out


def _store(trail: Trail, batches: list[BatchProof]) -> None:
    for b in batches:
        path = proof_file(trail, b.sha256)
        path.parent.mkdir(exist_ok=True)
        write_atomic(path, b.proof)


def proof_file(trail: Trail, sha256: str) -> Path:
    """Proof files are kept by their SHA-256, whatever circuit made them."""
    return trail.paths.root / "zk" / "proofs" / f"{sha256}.json"


@dataclass(frozen=True)
class AuditPlan:
    """What proving an audit needs, read from the trail before the (long) proving, so the
    trail's writer lock is held only to record the result."""

    model: ModelRecord
    circuit: Circuit
    data: Path
    data_digest: dict[str, str]
    evaluation: tuple[int, dict[str, Any]]
    evidence: Any  # audit.rows.RowEvidence: labels, the Evaluation's predictions, groups
    x: npt.NDArray[np.float64]  # circuit inputs, salted
    key: bytes  # the salt key (kept off the log)
    float_p: npt.NDArray[np.float64] | None  # the float model's probabilities, if given


@dataclass(frozen=True)
class DecisionPlan:
    model: ModelRecord
    circuit: Circuit
    decision_id: str
    record: dict[str, Any]
    raw: bytes
    batch_entry: int
    x: npt.NDArray[np.float64]
    float_p: npt.NDArray[np.float64] | None


def plan_audit(
    trail: Trail, model: ModelRecord, data: Path, *, model_file: Path | None = None,
    trusted_types: tuple[str, ...] = (),
) -> AuditPlan:  # fmt: skip
    """Check that `data` is what the model's latest Evaluation audited, and prepare the
    circuit inputs of every row."""
    from fairtrail.audit import data as audit_data
    from fairtrail.audit.evaluations import AuditRequest, latest_evaluation, run_audit_rows
    from fairtrail.lifecycle.fingerprint import fingerprint

    found = latest_evaluation(trail, model.digest)
    if found is None:
        raise InputError(f"model {model.name} has no Evaluation to prove; run `fairtrail audit`")
    eval_entry, ev = found
    data_digest = dict(fingerprint(data).subject_digest)
    if dict(ev["data"]["digest"]) != data_digest:
        raise InputError(
            f"{data.name} is not the data of Evaluation {eval_entry} "
            f"({ev['data'].get('file')}); give the data that was audited"
        )
    circuit = latest_circuit(trail, model)
    if model_file is not None:
        _check_model_file(model, model_file)
    prediction = str(ev.get("predictions", "model"))
    request = AuditRequest(
        data=data, label=ev["label"], sensitive=list(ev["sensitive"]),
        prediction=prediction[len("column:"):] if prediction.startswith("column:") else None,
        model_file=model_file if not prediction.startswith("column:") else None,
        positive_label=ev["positiveLabel"], min_group_size=int(ev["minGroupSize"]),
        trusted_types=trusted_types, allow_missing=True,
    )  # fmt: skip
    if request.prediction is None and request.model_file is None:
        raise InputError("this Evaluation predicted with the model: give the model's file")
    _, evidence = run_audit_rows(request)
    table = audit_data.read_columns(data, None)
    rows = table.to_pylist()
    key = os.urandom(32)
    x = circuit.featurizer.vectors(rows, salts(key, 0, len(rows)))
    float_p = (
        _float_reference(circuit, model_file, table, trusted_types) if model_file else None
    )
    return AuditPlan(model, circuit, data, data_digest, found, evidence, x, key, float_p)


def record_audit(
    trail: Trail, plan: AuditPlan, batches: list[BatchProof], signer: SigningKey
) -> tuple[Receipt, dict[str, Any]]:
    """Store the proofs and the salt key, and record the ZkProof of `plan`."""
    from fairtrail.audit.fairness import audit_arrays

    eval_entry, ev = plan.evaluation
    circuit = plan.circuit
    total = len(plan.x)
    if sum(b.count for b in batches) != total:
        raise FairtrailError("the proofs do not cover every row of the plan")
    outputs = [o for b in batches for o in b.outputs]
    positive = ev["positiveLabel"]
    proven = np.array([label_of(o, circuit) == positive for o in outputs])
    agree = int(np.sum(proven == plan.evidence.y_pred))
    report = audit_arrays(plan.evidence.y_true, proven, list(plan.evidence.groups),
                          min_group_size=int(ev["minGroupSize"]))  # fmt: skip
    circuit_p = np.concatenate([b.probabilities for b in batches])
    _store(trail, batches)
    first_sha = batches[0].sha256
    key_file = trail.paths.secrets / "zk" / f"{first_sha}.key"
    if not key_file.exists():  # the same proofs recorded twice keep the first key
        write_private(key_file, plan.key)
    predicate = _predicate(circuit, plan.model, "audit", batches) | {
        "evaluation": {"entry": eval_entry, "rows": int(ev["report"]["rows"]),
                       "data": plan.data_digest},
        "agreement": {"rows": total, "same": agree, "differ": total - agree,
                      "note": "proven predictions equal to the Evaluation's, row by row"},
        "report": {k: report[k] for k in ("rows", "overall", "by_group", "disparities",
                                          "groups_compared", "small_groups")},
        "fidelity": fidelity_of(circuit_p, plan.float_p) if plan.float_p is not None else None,
        "salt": {"key": f"secrets/zk/{first_sha}.key (off the log)"},
    }  # fmt: skip
    statement = Statement(
        subject=[Subject(name=plan.model.name, digest=plan.model.digest),
                 Subject(name=plan.data.name, digest=plan.data_digest)],
        predicate_type=PROOF_PREDICATE, predicate=predicate,
    )  # fmt: skip
    return trail.record(statement, signer), predicate


def prove_audit(
    trail: Trail,
    model: ModelRecord,
    data: Path,
    signer: SigningKey,
    *,
    model_file: Path | None = None,
    trusted_types: tuple[str, ...] = (),
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[Receipt, dict[str, Any]]:
    """Prove every prediction of the model's latest Evaluation on `data`, and record it
    (plan, prove, record in one writable session; the CLI splits them)."""
    plan = plan_audit(trail, model, data, model_file=model_file, trusted_types=trusted_types)
    batches = prove_batches(plan.circuit, plan.x, counter(len(plan.x), progress))
    return record_audit(trail, plan, batches, signer)


def counter(total: int, progress: Callable[[int, int], None]) -> Callable[[int], None]:
    """Turn per-batch counts into (done, total) calls."""
    done = [0]

    def step(n: int) -> None:
        done[0] += n
        progress(done[0], total)

    return step


def decision_salt_key(decision_salt: bytes) -> bytes:
    return hmac.new(decision_salt, _DECISION_KEY, hashlib.sha256).digest()


def plan_decision(
    trail: Trail, decision_id: str, *, model_file: Path | None = None,
    trusted_types: tuple[str, ...] = (),
) -> DecisionPlan:  # fmt: skip
    """The circuit input of one recorded decision, from its input in the vault."""
    from fairtrail.decisions import DecisionStore
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.privacy.vault import Vault

    with DecisionStore(trail.paths.root / "decisions.db") as store:
        found = store.find(decision_id)
    if found is None:
        raise InputError(f"no recorded decision {decision_id!r}")
    with Vault(trail.paths.secrets / "vault.db") as vault:
        _, sealed = vault.open_sealed(found.batch, found.position, f"decision-input:{decision_id}")
    record = found.record
    model = resolve_model(trail, next(f"{a}:{v}" for a, v in record["model"].items()),
                          files=False)  # fmt: skip
    circuit = latest_circuit(trail, model)
    try:
        row = json.loads(sealed[16:].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"decision {decision_id}'s input is not JSON") from None
    if not isinstance(row, dict):
        raise InputError(f"decision {decision_id}'s input is not an object of named features")
    key = decision_salt_key(sealed[:16])
    x = circuit.featurizer.vectors([row], salts(key, 0, 1))
    float_p = None
    if model_file is not None:
        import pyarrow as pa

        _check_model_file(model, model_file)
        float_p = _float_reference(circuit, model_file, pa.Table.from_pylist([row]),
                                   trusted_types)  # fmt: skip
    return DecisionPlan(model, circuit, decision_id, record, found.raw, found.entry, x, float_p)


def record_decision(
    trail: Trail, plan: DecisionPlan, batch: BatchProof, signer: SigningKey
) -> tuple[Receipt, dict[str, Any]]:
    """Record the ZkProof of one decision, if the proven output is the recorded one."""
    circuit = plan.circuit
    label = label_of(batch.outputs[0], circuit)
    if label != str(plan.record["output"]):
        raise FairtrailError(
            f"the committed model gives {label!r} for decision {plan.decision_id}, which was "
            f"recorded as {plan.record['output']!r}; nothing recorded"
        )
    _store(trail, [batch])
    digest = hashlib.sha256(plan.raw).hexdigest()
    predicate = _predicate(circuit, plan.model, "decision", [batch]) | {
        "decision": {"id": plan.decision_id, "batchEntry": plan.batch_entry,
                     "record": {"sha256": digest}, "output": plan.record["output"],
                     "proven": label},
        "fidelity": (fidelity_of(batch.probabilities, plan.float_p)
                     if plan.float_p is not None else None),
        "salt": {"key": "HMAC-SHA256(the decision's vault salt, 'fairtrail-zk-decision')"},
    }  # fmt: skip
    statement = Statement(
        subject=[Subject(name=plan.model.name, digest=plan.model.digest),
                 Subject(name=f"decision {plan.decision_id}", digest={"sha256": digest})],
        predicate_type=PROOF_PREDICATE, predicate=predicate,
    )  # fmt: skip
    return trail.record(statement, signer), predicate


def prove_decision(
    trail: Trail, decision_id: str, signer: SigningKey, *, model_file: Path | None = None,
    trusted_types: tuple[str, ...] = (),
) -> tuple[Receipt, dict[str, Any]]:  # fmt: skip
    """Prove one recorded decision's output from its input in the vault, and record it."""
    plan = plan_decision(trail, decision_id, model_file=model_file, trusted_types=trusted_types)
    (batch,) = prove_batches(plan.circuit, plan.x)
    return record_decision(trail, plan, batch, signer)


def _check_model_file(model: ModelRecord, model_file: Path) -> None:
    from fairtrail.lifecycle.fingerprint import fingerprint

    if dict(fingerprint(model_file).subject_digest) != dict(model.digest):
        raise InputError(f"{model_file.name} is not the file of model {model.name}")


def proofs_about(trail: Trail, model: ModelRecord) -> list[tuple[int, dict[str, Any]]]:
    """(entry, predicate) of every ZkProof of `model`, oldest first."""
    out = []
    for index in trail.indices_about(model.digest, PROOF_PREDICATE):
        _, st = trail.statement(index)
        if st.predicate.get("model", {}).get("digest") == model.digest:
            out.append((index, st.predicate))
    return out


def _predicate(
    circuit: Circuit, model: ModelRecord, purpose: str, batches: list[BatchProof]
) -> dict[str, Any]:
    return {
        "purpose": purpose,
        "model": {"name": model.name, "entry": model.index, "digest": model.digest},
        "circuit": {"entry": circuit.entry,
                    "verifyingKey": circuit.predicate["verifyingKey"]["sha256"]},
        "weightCommitment": circuit.weight_commitment,
        "rows": sum(b.count for b in batches),
        "batchSize": circuit.batch,
        "batches": [b.to_dict() for b in batches],
        "proving": {"seconds": round(sum(b.seconds for b in batches), 3),
                    "proofBytes": sum(len(b.proof) for b in batches)},
        "tool": {"name": "fairtrail", "version": __version__, "prover": "ezkl"},
        "provedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip


def _float_reference(
    circuit: Circuit, model_file: Path, table: Any, trusted_types: tuple[str, ...]
) -> npt.NDArray[np.float64]:
    """The float model's P(positive) on the same rows (its own predict_proba)."""
    from fairtrail.audit._predict import _features, _load_skops

    model = _load_skops(model_file, trusted_types)
    try:
        proba = np.asarray(model.predict_proba(_features(model, table, model_file.name)))
    except Exception as exc:
        raise InputError(f"{model_file.name} could not score the data: {exc}") from None
    classes = [str(c) for c in model.classes_]
    if tuple(classes) != circuit.classes:
        raise InputError(f"{model_file.name} is not the model of this circuit (other classes)")
    return proba[:, 1].astype(np.float64)
