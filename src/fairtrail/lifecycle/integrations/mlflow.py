"""Import MLflow runs as signed statements.

    fairtrail import mlflow --tracking-uri file:./mlruns [--experiment NAME]

Each finished, failed or killed MLflow run becomes a TrainingRun statement (parameters,
full metric histories, times, status, the git commit MLflow saw, the MLflow ids), and
each top-level artifact stored *locally* is fingerprinted; artifacts that look like
models (an MLmodel folder, or a known model file type) get a Model statement linked
to the run. Remote artifact URIs (s3://, http://, ...) are recorded as text and never
fetched. A run already imported (same MLflow run id) is skipped, so importing again
only adds what is new.

MLflow is read through its own client (`MlflowClient`); fairtrail never writes to the
tracking store. MLflow 3 refuses its file store unless `MLFLOW_ALLOW_FILE_STORE` is
set; the importer sets it for its own read-only use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from fairtrail.errors import InputError
from fairtrail.lifecycle.fingerprint import fingerprint
from fairtrail.lifecycle.models import FORMATS, record_model
from fairtrail.lifecycle.runs import RUN_PREDICATE, environment, run_statement

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.trail import Trail

__all__ = ["ImportReport", "import_mlflow"]

_STATES = {"FINISHED": "succeeded", "FAILED": "failed", "KILLED": "interrupted"}
MAX_RUNS = 50_000  # MLflow refuses more in one search


@dataclass
class ImportReport:
    imported: list[tuple[str, int]] = field(default_factory=list)  # (mlflow run id, index)
    skipped: list[str] = field(default_factory=list)  # already imported, or still running
    models: int = 0


def import_mlflow(
    trail: Trail,
    tracking_uri: str,
    signer: SigningKey,
    *,
    experiment: str | None = None,
) -> ImportReport:
    client = _client(tracking_uri)
    try:
        experiments = client.search_experiments()
    except Exception as exc:
        raise InputError(f"cannot read MLflow tracking store {tracking_uri}: {exc}") from None
    if experiment is not None:
        experiments = [e for e in experiments if e.name == experiment]
        if not experiments:
            raise InputError(f"no MLflow experiment named {experiment!r} in {tracking_uri}")
    done = _already_imported(trail)
    report = ImportReport()
    try:
        runs = client.search_runs(
            [e.experiment_id for e in experiments],
            max_results=MAX_RUNS,
            order_by=["start_time ASC"],
        )
    except Exception as exc:
        raise InputError(f"cannot read MLflow runs from {tracking_uri}: {exc}") from None
    names = {e.experiment_id: e.name for e in experiments}
    for run in runs:
        info = run.info
        if info.run_id in done or info.status not in _STATES:
            report.skipped.append(info.run_id)
            continue
        outputs = []
        artifacts = []
        for item in client.list_artifacts(info.run_id):
            local = _local_path(info.artifact_uri, item.path)
            if local is None:
                artifacts.append({"path": item.path, "uri": f"{info.artifact_uri}/{item.path}"})
                continue
            fmt = _model_format(local)
            if fmt is not None:
                receipt = record_model(
                    trail, local, signer, name=f"{run.info.run_name or info.run_id}/{item.path}",
                    fmt=fmt, run={"name": info.run_name, "mlflowRunId": info.run_id},
                )  # fmt: skip
                subject = receipt.statement.subject[0]
                outputs.append(
                    {"name": subject.name, "digest": dict(subject.digest),
                     "modelIndex": receipt.index}
                )  # fmt: skip
                report.models += 1
            else:
                fp = fingerprint(local)
                artifacts.append({"path": item.path, "digest": fp.subject_digest})
        metrics = {
            key: [
                {"value": m.value, "step": m.step, "timestamp": m.timestamp}
                for m in client.get_metric_history(info.run_id, key)
            ]
            for key in run.data.metrics
        }
        tags = run.data.tags
        commit = tags.get("mlflow.source.git.commit")
        predicate: dict[str, Any] = {
            "name": info.run_name or info.run_id,
            "runId": info.run_id,
            "status": {"state": _STATES[info.status]},
            "startedAt": _time(info.start_time),
            "endedAt": _time(info.end_time),
            "code": {"vcs": "git", "commit": commit} if commit else {"vcs": "unknown"},
            "environment": {"importedWith": environment()},
            "seeds": {},
            "params": dict(run.data.params),
            "metrics": metrics,
            "inputs": [],
            "outputs": outputs,
            "artifacts": artifacts,
            "mlflow": {
                "runId": info.run_id,
                "experiment": names.get(info.experiment_id, info.experiment_id),
                "source": tags.get("mlflow.source.name"),
                "user": tags.get("mlflow.user"),
            },
        }
        receipt = trail.record(run_statement(predicate, outputs), signer)
        report.imported.append((info.run_id, receipt.index))
    return report


def _client(tracking_uri: str) -> Any:
    scheme = urlparse(tracking_uri).scheme
    if scheme not in ("file", "sqlite"):
        raise InputError("--tracking-uri must be a local store: file:PATH or sqlite:///PATH")
    if scheme == "file":
        path = Path(unquote(urlparse(tracking_uri).path or tracking_uri[5:]))
        if not path.is_dir():
            raise InputError(f"no MLflow file store at {path}")
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # read-only use, see above
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise InputError("importing from MLflow needs the `mlflow-skinny` package") from None
    return MlflowClient(tracking_uri)


def _already_imported(trail: Trail) -> set[str]:
    out = set()
    for index in trail.indices_of_type(RUN_PREDICATE):
        mlflow = trail.statement(index)[1].predicate.get("mlflow")
        if isinstance(mlflow, dict) and isinstance(mlflow.get("runId"), str):
            out.add(mlflow["runId"])
    return out


def _local_path(artifact_uri: str, rel: str) -> Path | None:
    parsed = urlparse(artifact_uri)
    if parsed.scheme not in ("file", ""):
        return None  # never fetched
    base = Path(unquote(parsed.path))
    path = (base / rel).resolve()
    if not path.is_relative_to(base.resolve()) or not path.exists():
        return None
    return path


def _model_format(path: Path) -> str | None:
    if path.is_dir():
        return "directory" if (path / "MLmodel").is_file() else None
    found = FORMATS.get(path.suffix.lower())
    return found[0] if found else None


def _time(millis: int | None) -> str | None:
    if millis is None:
        return None
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds")
