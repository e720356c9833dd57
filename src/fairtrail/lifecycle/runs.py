"""Training runs: how a model was made, recorded with the effort of logging to MLflow.

    with trail.run("credit-model", datasets=["german-credit"], params={"C": 1.0}, seed=7) as run:
        model = train(...)
        run.log_metric("accuracy", 0.78)
        run.log_model(model)                 # a fitted estimator, or a path to an artifact

When the block ends a TrainingRun statement is recorded: code commit (and whether the
working tree was dirty), Python, platform and package versions, seeds, parameters,
start and end times, metrics, and the digests of input datasets and output models. An
exception inside the block records a *failed* run (with the error type and message)
and is then re-raised: nothing is silently dropped.
"""

from __future__ import annotations

import hashlib
import math
import platform
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from fairtrail.crypto.canonical import canonical_json
from fairtrail.errors import InputError
from fairtrail.lifecycle.datasets import DatasetRecord, resolve_dataset
from fairtrail.lifecycle.models import record_model
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.trail import Receipt, Trail

__all__ = ["RUN_PREDICATE", "Run", "code_state", "environment", "run_statement", "start_run"]

RUN_PREDICATE = predicate_type("training-run")
MAX_METRICS = 10_000
_TRACKED = (
    "numpy", "pandas", "scikit-learn", "scipy", "torch", "tensorflow", "xgboost", "lightgbm",
    "fairlearn", "skops", "onnx", "safetensors", "mlflow", "mlflow-skinny", "fairtrail",
)  # fmt: skip


def code_state(folder: Path | None = None) -> dict[str, Any]:
    """The git commit of `folder` (default: the working directory) and whether it is dirty.

    Runs the local `git` binary only; never contacts a remote. Outside a repository,
    says so instead of guessing.
    """
    cwd = folder or Path.cwd()

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"vcs": "none"}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"vcs": "git", "commit": commit, "dirty": bool(status)}


def environment() -> dict[str, Any]:
    packages = {}
    for name in _TRACKED:
        try:
            packages[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": packages,
    }


def run_statement(predicate: dict[str, Any], outputs: Sequence[dict[str, Any]]) -> Statement:
    """The run is the subject (by the digest of its id), and so is every model it produced."""
    run_subject = Subject(
        name=f"run/{predicate['name']}/{predicate['runId']}",
        digest={"sha256": _sha256_hex(canonical_json({"runId": predicate["runId"]}))},
    )
    subjects = [run_subject, *(Subject(name=o["name"], digest=o["digest"]) for o in outputs)]
    return Statement(subject=subjects, predicate_type=RUN_PREDICATE, predicate=predicate)


@dataclass
class Run:
    """A training run being recorded; use through `Trail.run(...)`."""

    trail: Trail
    name: str
    signer: SigningKey
    datasets: list[DatasetRecord]
    params: dict[str, Any]
    seeds: dict[str, int]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    code_dir: Path | None = None
    metrics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    artifact_dir: Path | None = None
    code_license: str | None = None  # SPDX expression of the training code, if known
    receipt: Receipt | None = None
    _started: str = ""
    _metric_count: int = 0

    def __enter__(self) -> Run:
        self._started = _now()
        self._code = code_state(self.code_dir)
        if self.code_license is not None:
            self._code["license"] = self.code_license
        return self

    def log_param(self, name: str, value: Any) -> None:
        self.params[_key(name)] = _jsonable(value, name)

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise InputError(f"metric {name!r} must be a finite number, not {value!r}")
        self._metric_count += 1
        if self._metric_count > MAX_METRICS:
            raise InputError(f"more than {MAX_METRICS} metric values in one run")
        entry: dict[str, Any] = {"value": float(value)}
        if step is not None:
            entry["step"] = int(step)
        self.metrics.setdefault(_key(name), []).append(entry)

    def log_model(
        self,
        model: Any,
        name: str | None = None,
        fmt: str | None = None,
        *,
        license: str | None = None,
        use: str | None = None,
        parents: Sequence[str] = (),
    ) -> Receipt:
        """Record a model this run produced: a path to an artifact, or a fitted
        scikit-learn estimator (saved with skops into the run's artifact folder).
        `license`, `use` and `parents` as in `record_model`."""
        path = model if isinstance(model, (str, Path)) else self._save(model, name)
        receipt = record_model(
            self.trail,
            path,
            self.signer,
            name=name,
            fmt=fmt,
            run={"name": self.name, "runId": self.run_id},
            license=license,
            use=use,
            parents=parents,
        )
        subject = receipt.statement.subject[0]
        self.outputs.append(
            {"name": subject.name, "digest": dict(subject.digest), "modelIndex": receipt.index}
        )
        return receipt

    def _save(self, model: Any, name: str | None) -> Path:
        try:
            import skops.io as sio
        except ImportError:
            raise InputError("saving an estimator needs `skops`; pass a file path") from None
        folder = self.artifact_dir or Path("fairtrail-artifacts") / f"{self.name}-{self.run_id[:8]}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name or type(model).__name__}.skops"
        sio.dump(model, path)
        return path

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        status: dict[str, Any] = {"state": "succeeded"}
        if exc is not None:
            status = {
                "state": "failed" if not isinstance(exc, KeyboardInterrupt) else "interrupted",
                "error": type(exc).__name__,
                "message": str(exc)[:2000],
            }
        predicate = {
            "name": self.name,
            "runId": self.run_id,
            "status": status,
            "startedAt": self._started,
            "endedAt": _now(),
            "code": self._code,
            "environment": environment(),
            "seeds": self.seeds,
            "params": self.params,
            "metrics": self.metrics,
            "inputs": [
                {"name": d.name, "version": d.version, "digest": d.digest, "datasetIndex": d.index}
                for d in self.datasets
            ],
            "outputs": self.outputs,
        }
        self.receipt = self.trail.record(run_statement(predicate, self.outputs), self.signer)


def start_run(
    trail: Trail,
    name: str,
    *,
    signer: SigningKey,
    datasets: Sequence[str | DatasetRecord] = (),
    params: dict[str, Any] | None = None,
    seed: int | dict[str, int] | None = None,
    code_dir: Path | None = None,
    artifact_dir: Path | None = None,
    code_license: str | None = None,
) -> Run:
    from fairtrail.lifecycle.datasets import check_license

    licence = check_license(code_license) if code_license is not None else None
    records = [d if isinstance(d, DatasetRecord) else resolve_dataset(trail, d) for d in datasets]
    seeds = {"seed": seed} if isinstance(seed, int) else dict(seed or {})
    clean_params = {_key(k): _jsonable(v, k) for k, v in (params or {}).items()}
    return Run(
        trail, name, signer, records, clean_params, seeds, code_dir=code_dir,
        artifact_dir=artifact_dir, code_license=licence,
    )  # fmt: skip


def _key(name: str) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= 256:
        raise InputError(f"parameter and metric names are 1-256 characters, not {name!r}")
    return name


def _jsonable(value: Any, name: str) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, name) for k, v in value.items()}
    return repr(value)[:1000]  # e.g. an estimator object: recorded by description


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
