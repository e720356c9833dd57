"""`fairtrail import mlflow` against a real local MLflow store, made by MLflow itself."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fairtrail import Trail
from tests.cli.test_cli import assert_user_error, ft

MAKE_STORE = textwrap.dedent(
    """
    import sys, mlflow
    from pathlib import Path
    root, art = Path(sys.argv[1]), Path(sys.argv[2])
    mlflow.set_tracking_uri(root.as_uri())
    mlflow.set_experiment("credit")
    (art / "model").mkdir(parents=True)
    (art / "model" / "MLmodel").write_text("flavors: {}\\n")
    (art / "model" / "model.skops").write_bytes(b"weights")
    (art / "report.txt").write_text("notes")
    with mlflow.start_run(run_name="lr"):
        mlflow.log_param("C", 0.5)
        for step, value in enumerate([0.61, 0.7, 0.74]):
            mlflow.log_metric("auc", value, step=step)
        mlflow.log_artifacts(str(art / "model"), artifact_path="model")
        mlflow.log_artifact(str(art / "report.txt"))
    run = mlflow.start_run(run_name="crashed")
    mlflow.log_param("C", 9)
    mlflow.end_run(status="FAILED")
    mlflow.set_experiment("other")
    with mlflow.start_run(run_name="elsewhere"):
        mlflow.log_metric("x", 1)
    """
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mlruns")
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    subprocess.run(
        [sys.executable, "-c", MAKE_STORE, str(root / "mlruns"), str(root / "src")],
        check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    return root / "mlruns"


@pytest.mark.integration
def test_import_runs_models_and_is_idempotent(store: Path, tmp_path: Path) -> None:
    t = tmp_path / "trail"
    assert ft(t, "init").returncode == 0
    uri = store.as_uri()
    r = ft(t, "import", "mlflow", "--tracking-uri", uri, "--experiment", "credit")
    assert r.returncode == 0, r.stderr
    assert "2 runs imported (1 models)" in r.stdout
    r = ft(t, "import", "mlflow", "--tracking-uri", uri)
    assert r.returncode == 0 and "1 runs imported" in r.stdout  # only "other" is new
    with Trail.open(t, writable=False) as trail:
        runs = [trail.statement(i)[1].predicate for i in range(1, trail.log.size)]
    by_name = {p["name"]: p for p in runs if "runId" in p}
    lr = by_name["lr"]
    assert lr["status"] == {"state": "succeeded"} and lr["params"] == {"C": "0.5"}
    assert [m["value"] for m in lr["metrics"]["auc"]] == [0.61, 0.7, 0.74]
    assert lr["mlflow"]["experiment"] == "credit"
    report = next(a for a in lr["artifacts"] if a["path"] == "report.txt")
    assert report["digest"] == {"sha256": hashlib.sha256(b"notes").hexdigest()}
    model_digest = lr["outputs"][0]["digest"]
    assert "sha256-manifest" in model_digest  # the MLmodel folder, as a tree
    assert by_name["crashed"]["status"] == {"state": "failed"}
    assert by_name["elsewhere"]["mlflow"]["experiment"] == "other"
    assert ft(t, "checkpoint").returncode == 0
    r = ft(t, "lineage", "sha256-manifest:" + model_digest["sha256-manifest"], "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["children"][0]["name"] == "lr"
    assert ft(t, "verify").returncode == 0


def test_bad_tracking_uris(tmp_path: Path) -> None:
    t = tmp_path / "trail"
    assert ft(t, "init").returncode == 0
    assert_user_error(ft(t, "import", "mlflow", "--tracking-uri", "http://mlflow.example"), 2,
                      "must be a local store")  # fmt: skip
    assert_user_error(ft(t, "import", "mlflow", "--tracking-uri", "file:/nope"), 2, "no MLflow")
