"""Evaluations: a fairness audit of one model on one dataset, as a signed statement.

The Evaluation statement's subjects are the model's digest and the evaluation data's
digest, so anyone holding either finds the audit through the subject index. The
predicate carries the full report (overall rates, every group's rates and confusion
counts, the disparities), how the predictions were obtained, the Dataset statements
the data matches, and the comparison with the model's pre-registration.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtrail import __version__
from fairtrail.audit import data as audit_data
from fairtrail.audit.fairness import audit_arrays
from fairtrail.audit.preregistration import Claim, deviations, latest_preregistration
from fairtrail.audit.rows import RowEvidence, commit_rows
from fairtrail.crypto._files import write_atomic, write_private
from fairtrail.errors import InputError
from fairtrail.lifecycle.datasets import datasets_with_digest
from fairtrail.lifecycle.fingerprint import fingerprint
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Receipt, Trail

__all__ = [
    "EVALUATION_PREDICATE",
    "AuditRequest",
    "row_records",
    "run_audit_rows",
    "latest_evaluation",
    "record_evaluation",
    "run_audit",
]

EVALUATION_PREDICATE = predicate_type("evaluation")


@dataclass(frozen=True)
class AuditRequest:
    """What to audit: the data, its label, the sensitive columns, where predictions come from."""

    data: Path
    label: str
    sensitive: Sequence[str]
    prediction: str | None = None  # a column of the data
    model_file: Path | None = None  # a .skops model to predict with
    positive_label: str | None = None
    min_group_size: int = 30
    seed: int | None = None
    claims: Sequence[Claim] = ()
    trusted_types: Sequence[str] = field(default_factory=tuple)
    allow_missing: bool = False  # rate empty sensitive values as the group "(missing)"


def run_audit(request: AuditRequest) -> dict[str, Any]:
    """The audit report (see `fairness.audit_arrays`) plus the claims judged on it."""
    return run_audit_rows(request)[0]


def run_audit_rows(request: AuditRequest) -> tuple[dict[str, Any], RowEvidence]:
    """`run_audit`, plus the per-row data an Evaluation commits to (`audit/rows.py`)."""
    if request.prediction is None and request.model_file is None:
        raise InputError("give --prediction COLUMN or --model MODEL to say what is audited")
    if request.min_group_size < 1:
        raise InputError("--min-group-size must be at least 1")
    sensitive = list(dict.fromkeys(request.sensitive))
    if not sensitive:
        raise InputError("name at least one --sensitive column")
    if request.label in sensitive or request.prediction in sensitive:
        raise InputError("a sensitive column cannot also be the label or the prediction")
    if request.prediction is not None:
        table = audit_data.read_columns(
            request.data, [request.label, request.prediction, *sensitive]
        )
        predicted: str | Any = request.prediction
    else:
        from fairtrail.audit._predict import predict

        assert request.model_file is not None
        table = audit_data.read_columns(request.data, None)  # every column: the model's features
        audit_data.check_present(request.data, table.column_names, [request.label, *sensitive])
        predicted = predict(request.model_file, table, request.trusted_types)
    outcomes = audit_data.binary_outcomes(table, request.label, predicted, request.positive_label)
    groups = [
        (c, *audit_data.group_codes(table, c, allow_missing=request.allow_missing))
        for c in sensitive
    ]
    report = audit_arrays(
        outcomes.y_true, outcomes.y_pred, groups, min_group_size=request.min_group_size
    )
    report["label"] = request.label
    report["positive_label"] = outcomes.positive
    report["negative_label"] = outcomes.negative
    report["sensitive"] = sensitive
    report["claims"] = [c.result(report) for c in request.claims]
    skip = {request.label, request.prediction}
    inputs = [{k: v for k, v in row.items() if k not in skip} for row in table.to_pylist()]
    return report, RowEvidence(outcomes.y_true, outcomes.y_pred, groups, inputs)


def record_evaluation(
    trail: Trail,
    model: ModelRecord,
    request: AuditRequest,
    report: dict[str, Any],
    signer: SigningKey,
    evidence: RowEvidence | None = None,
) -> Receipt:
    """Sign and append the Evaluation statement of `report` (made by `run_audit`).

    With `evidence` (from `run_audit_rows`), the Evaluation also commits to every row
    (`audit/rows.py`); the rows' records and the salt secret are kept off the log so
    the owner can answer challenges."""
    data_digest = dict(fingerprint(request.data).subject_digest)
    alg, value = next(iter(data_digest.items()))
    datasets = [
        {"entry": r.index, "name": r.name, "version": r.version}
        for r in datasets_with_digest(trail, alg, value)
    ]
    settings = {
        "data": data_digest,
        "label": request.label,
        "positive_label": report["positive_label"],
        "sensitive": report["sensitive"],
        "min_group_size": request.min_group_size,
        "seed": request.seed,
        "claims": [c["text"] for c in report["claims"]],
    }
    registered = latest_preregistration(trail, model)
    prereg: dict[str, Any] | None = None
    claims = list(report["claims"])
    if registered is not None:
        entry, registered_predicate = registered
        protocol = registered_predicate["protocol"]
        planned = [Claim.model_validate(c) for c in protocol.get("claims", [])]
        audited = {c["text"] for c in claims}
        claims += [c.result(report) for c in planned if c.text() not in audited]
        prereg = {"entry": entry, "deviations": deviations(protocol, settings)}
    predicate: dict[str, Any] = {
        "model": {"name": model.name, "entry": model.index, "digest": model.digest},
        "data": {"file": request.data.name, "digest": data_digest, "datasets": datasets},
        "predictions": (
            f"column:{request.prediction}" if request.prediction is not None else "model"
        ),
        "label": request.label,
        "positiveLabel": report["positive_label"],
        "sensitive": report["sensitive"],
        "minGroupSize": request.min_group_size,
        "seed": request.seed,
        "claims": claims,
        "preregistration": prereg,
        "report": {
            k: report[k]
            for k in (
                "rows",
                "overall",
                "by_group",
                "disparities",
                "disparities_over",
                "groups_compared",
                "small_groups",
            )
        },  # fmt: skip
        "tool": {"name": "fairtrail", "version": __version__, "definitions": "fairlearn"},
        "rowCommitments": _commit(trail, evidence) if evidence is not None else None,
        "evaluatedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    statement = Statement(
        subject=[
            Subject(name=model.name, digest=model.digest),
            Subject(name=request.data.name, digest=data_digest),
        ],
        predicate_type=EVALUATION_PREDICATE,
        predicate=predicate,
    )
    return trail.record(statement, signer)


def latest_evaluation(trail: Trail, digest: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
    """(entry, predicate) of the newest Evaluation whose model is `digest`."""
    for index in reversed(trail.indices_about(digest, EVALUATION_PREDICATE)):
        _, st = trail.statement(index)
        if st.predicate.get("model", {}).get("digest") == digest:  # the model, not the data
            return index, st.predicate
    return None


def _commit(trail: Trail, evidence: RowEvidence) -> dict[str, Any]:
    secret = os.urandom(32)
    root, records = commit_rows(evidence, secret)
    key = root.hex()
    write_private(trail.paths.secrets / "audit-rows" / f"{key}.key", secret)
    folder = trail.paths.root / "audit-rows"
    folder.mkdir(exist_ok=True)
    write_atomic(folder / f"{key}.jsonl", b"\n".join(records) + b"\n")
    return {
        "root": key,
        "count": len(records),
        "tree": "RFC 9162 SHA-256 over one record per row, in data order",
        "record": "compact JSON, sorted keys: group, i, input.sha256 = SHA-256("
        "'fairtrail-audit-row/v1' || 0x00 || salt || row JSON), label, prediction",
    }


def row_records(trail: Trail, root_hex: str) -> list[bytes]:
    """The committed records of an evaluation's rows (kept by the owner, off the log)."""
    path = trail.paths.root / "audit-rows" / f"{root_hex}.jsonl"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("this trail does not hold the rows of that evaluation") from None
    return data.rstrip(b"\n").split(b"\n")
