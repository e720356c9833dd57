"""Pre-registration: the audit's protocol, committed to the log before the audit runs.

A protocol fixes what will be measured and how it will be judged: the evaluation
data (by digest), the label and positive outcome, the sensitive attributes, the
minimum group size, the seed, the metrics, and the claims (`metric comparator
threshold`). Once it is on the log, choosing other data or other thresholds after
seeing the results shows up as a deviation in the Evaluation statement, which a
policy can refuse (p-hacking made visible, not merely discouraged).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fairtrail._validation import first_error
from fairtrail.audit.fairness import DISPARITIES, RATES
from fairtrail.crypto.canonical import canonical_json
from fairtrail.errors import InputError
from fairtrail.lifecycle.fingerprint import fingerprint
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Receipt, Trail

__all__ = [
    "PREREGISTRATION_PREDICATE",
    "Claim",
    "Protocol",
    "deviations",
    "latest_preregistration",
    "load_protocol",
    "parse_claim",
    "record_preregistration",
]

PREREGISTRATION_PREDICATE = predicate_type("preregistration")
METRICS = frozenset(RATES) | frozenset(DISPARITIES)
MAX_PROTOCOL_BYTES = 64 << 10
Comparator = Literal[">=", ">", "<=", "<"]


class Claim(BaseModel):
    """`metric comparator threshold`, judged on the overall rates or the disparities."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    comparator: Comparator
    threshold: float

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; use one of {', '.join(sorted(METRICS))}")
        return value

    def text(self) -> str:
        return f"{self.metric} {self.comparator} {self.threshold:g}"

    def result(self, report: dict[str, Any]) -> dict[str, Any]:
        """The claim as recorded in an Evaluation: its fields, its text, and `passed`."""
        return {**self.model_dump(), "text": self.text(), "passed": self.judge(report)}

    def judge(self, report: dict[str, Any]) -> bool | None:
        """True/False, or None when the metric has no value (e.g. a 0/0 ratio)."""
        value = report["disparities"].get(self.metric, report["overall"].get(self.metric))
        if value is None:
            return None
        return bool(
            {
                ">=": value >= self.threshold,
                ">": value > self.threshold,
                "<=": value <= self.threshold,
                "<": value < self.threshold,
            }[self.comparator]
        )


class Protocol(BaseModel):
    """A pre-registration protocol file (YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = Field(description="evaluation data file (relative to the protocol) or ALG:HEX")
    label: str = Field(min_length=1, max_length=256)
    positive_label: str | None = None
    sensitive: list[str] = Field(min_length=1, max_length=8)
    min_group_size: int = Field(default=30, ge=1)
    seed: int | None = None
    metrics: list[str] = Field(default_factory=list, max_length=64)
    claims: list[Claim] = Field(default_factory=list, max_length=64)

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        for metric in value:
            if metric not in METRICS:
                raise ValueError(f"unknown metric {metric!r}")
        return value


def parse_claim(text: str) -> Claim:
    """`demographic_parity_ratio>=0.8` (spaces allowed) as a Claim."""
    for op in (">=", "<=", ">", "<"):
        metric, sep, threshold = text.partition(op)
        if sep:
            try:
                return Claim(metric=metric.strip(), comparator=op, threshold=float(threshold))
            except (ValueError, ValidationError) as exc:
                detail = first_error(exc, "claim") if isinstance(exc, ValidationError) else str(exc)
                raise InputError(f"claim {text!r}: {detail}") from None
    raise InputError(f"claim {text!r} must look like METRIC>=NUMBER (or >, <=, <)")


def load_protocol(path: Path) -> tuple[Protocol, dict[str, str]]:
    """The protocol and the digest of its evaluation data."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read protocol {path}: {exc.strerror}") from None
    if len(raw) > MAX_PROTOCOL_BYTES:
        raise InputError(f"protocol {path} is over {MAX_PROTOCOL_BYTES} bytes")
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InputError(
            f"protocol {path} is not valid YAML: {' '.join(str(exc).split())}"
        ) from None
    try:
        protocol = Protocol.model_validate(doc)
    except ValidationError as exc:
        raise InputError(f"protocol {path}: {first_error(exc, 'protocol')}") from None
    data = path.parent / protocol.data  # an absolute `data` replaces the parent
    if data.exists():
        return protocol, dict(fingerprint(data).subject_digest)
    alg, sep, value = protocol.data.partition(":")
    if not sep or not value or "/" in protocol.data:
        raise InputError(f"protocol {path}: data {protocol.data!r} is neither a file nor ALG:HEX")
    return protocol, {alg.lower(): value.lower()}


def record_preregistration(
    trail: Trail,
    model: ModelRecord,
    protocol: Protocol,
    data_digest: dict[str, str],
    signer: SigningKey,
) -> Receipt:
    body = protocol.model_dump(mode="json", exclude={"data"})
    body["data"] = {"digest": data_digest}
    predicate = {
        "model": {"name": model.name, "entry": model.index, "digest": model.digest},
        "protocol": body,
        "protocolDigest": {"sha256": hashlib.sha256(canonical_json(body)).hexdigest()},
        "recordedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    statement = Statement(
        subject=[
            Subject(name=model.name, digest=model.digest),
            Subject(name="evaluation-data", digest=data_digest),
        ],
        predicate_type=PREREGISTRATION_PREDICATE,
        predicate=predicate,
    )
    return trail.record(statement, signer)


def latest_preregistration(trail: Trail, model: ModelRecord) -> tuple[int, dict[str, Any]] | None:
    """(entry, predicate) of the model's latest pre-registration, if any."""
    found = trail.indices_about(model.digest, PREREGISTRATION_PREDICATE)
    if not found:
        return None
    _, st = trail.statement(found[-1])
    return found[-1], st.predicate


def deviations(registered: dict[str, Any], audit: dict[str, Any]) -> list[str]:
    """How an audit's settings differ from its pre-registered protocol, in words."""
    out = []
    if registered["data"]["digest"] != audit["data"]:
        out.append("evaluated on other data than pre-registered")
    for key in ("label", "positive_label", "min_group_size"):
        if registered.get(key) is not None and registered[key] != audit[key]:
            out.append(f"{key} is {audit[key]!r}, pre-registered {registered[key]!r}")
    if sorted(registered["sensitive"]) != sorted(audit["sensitive"]):
        out.append(
            f"sensitive attributes {sorted(audit['sensitive'])}, pre-registered "
            f"{sorted(registered['sensitive'])}"
        )
    if registered.get("seed") is not None and registered["seed"] != audit["seed"]:
        out.append(f"seed is {audit['seed']}, pre-registered {registered['seed']}")
    planned = {Claim.model_validate(c).text() for c in registered.get("claims", [])}
    for claim in audit["claims"]:
        if claim not in planned:
            out.append(f"claim {claim!r} was not pre-registered")
    return out
