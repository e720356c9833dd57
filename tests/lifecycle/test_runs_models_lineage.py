"""Training runs, models and lineage, through the Python API and the CLI."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest

from fairtrail import Trail
from fairtrail.errors import InputError
from fairtrail.lifecycle.datasets import prepare_dataset, record_dataset
from fairtrail.lifecycle.lineage import lineage
from fairtrail.lifecycle.models import MODEL_PREDICATE, record_model
from fairtrail.lifecycle.runs import RUN_PREDICATE
from tests.cli.test_cli import assert_user_error, ft

GERMAN = Path(__file__).resolve().parents[2] / "data" / "german-credit" / "german_credit.csv"


@pytest.fixture
def trail(trail_dir: Path) -> Trail:
    t = Trail.init(trail_dir)
    prepared = prepare_dataset(GERMAN, name="german-credit", source="UCI", license="CC-BY-4.0")
    record_dataset(t, prepared, t.actor_key("admin"))
    return t


def _features() -> tuple[list[dict[str, object]], list[str]]:
    import csv

    with GERMAN.open(newline="") as f:
        rows = list(csv.DictReader(f))
    X = [{"duration": float(r["duration"]), "purpose": r["purpose"]} for r in rows]
    return X, [r["credit"] for r in rows]


def test_sklearn_helper_records_run_and_model(trail: Trail, tmp_path: Path) -> None:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from fairtrail.lifecycle.integrations.sklearn import train_and_record

    X, y = _features()
    model, run = train_and_record(
        trail, make_pipeline(DictVectorizer(), LogisticRegression(max_iter=5000)), X[:700], y[:700],
        X[700:], y[700:], name="credit", datasets=["german-credit"], seed=3,
        artifact_dir=tmp_path / "art",
    )  # fmt: skip
    assert run.receipt is not None
    pred = run.receipt.statement.predicate
    assert pred["status"] == {"state": "succeeded"}
    assert pred["seeds"] == {"seed": 3} and pred["inputs"][0]["name"] == "german-credit"
    expected = float((model.predict(X[700:]) == __import__("numpy").array(y[700:])).mean())
    assert pred["metrics"]["accuracy"] == [{"value": pytest.approx(expected)}]
    assert set(pred["environment"]["packages"]) >= {"scikit-learn", "fairtrail"}
    assert pred["code"]["vcs"] == "git" and len(pred["code"]["commit"]) == 40
    model_digest = pred["outputs"][0]["digest"]["sha256"]
    import hashlib

    saved = tmp_path / "art" / "credit.skops"
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == model_digest
    trail.checkpoint()
    (tree,) = lineage(trail, "sha256", model_digest)
    assert tree.kind == "model" and tree.proof.startswith("proved")
    (run_node,) = tree.children
    assert run_node.kind == "training-run" and run_node.details["status"] == "succeeded"
    (data_node,) = run_node.children
    assert data_node.name == "german-credit v1" and data_node.proof.startswith("proved")


def test_exception_records_failed_run_and_propagates(trail: Trail) -> None:
    with pytest.raises(ZeroDivisionError), trail.run("boom", datasets=["german-credit"]) as run:
        run.log_metric("loss", 0.5, step=1)
        _ = 1 / 0
    assert run.receipt is not None
    pred = run.receipt.statement.predicate
    assert pred["status"]["state"] == "failed" and pred["status"]["error"] == "ZeroDivisionError"
    assert pred["metrics"] == {"loss": [{"value": 0.5, "step": 1}]}
    assert trail.statement(run.receipt.index)[1].predicate_type == RUN_PREDICATE


def test_bad_metric_and_unknown_dataset(trail: Trail) -> None:
    with pytest.raises(InputError, match="no dataset"):
        trail.run("r", datasets=["nope"])
    with pytest.raises(InputError, match="finite number"), trail.run("r") as run:
        run.log_metric("acc", float("nan"))


def test_model_formats(trail: Trail, tmp_path: Path) -> None:
    st = tmp_path / "w.safetensors"
    header = json.dumps({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}})
    st.write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(24))
    receipt = record_model(trail, st, trail.actor_key("admin"))
    assert receipt.statement.predicate["metadata"] == {"tensors": 1, "parameters": 6}
    assert receipt.statement.predicate_type == MODEL_PREDICATE
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(b"\x80\x04not really a pickle, and never loaded")
    assert record_model(trail, pkl, trail.actor_key("admin")).statement.predicate["format"] == (
        "pickle"
    )
    size = trail.log.size
    for bad, message in [
        (tmp_path / "m.txt", "unsupported model format"),
        (tmp_path / "missing.onnx", "no such model"),
    ]:
        if bad.suffix == ".txt":
            bad.write_text("x")
        with pytest.raises(InputError, match=message):
            record_model(trail, bad, trail.actor_key("admin"))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x05")
    with pytest.raises(InputError, match="not a safetensors file"):
        record_model(trail, broken, trail.actor_key("admin"))
    assert trail.log.size == size


def test_onnx_metadata(trail: Trail, tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )  # fmt: skip
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, producer_name="test"), str(path))
    meta = record_model(trail, path, trail.actor_key("admin")).statement.predicate["metadata"]
    assert meta["inputs"] == ["x"] and meta["outputs"] == ["y"] and meta["producer"] == "test"


def test_cli_run_record_model_add_lineage(tmp_path: Path) -> None:
    t = tmp_path / "trail"
    assert ft(t, "init").returncode == 0
    r = ft(t, "dataset", "add", str(GERMAN), "--name", "g", "--source", "s", "--license", "MIT")
    assert r.returncode == 0, r.stderr
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w" * 1000)
    r = ft(t, "run", "record", "--name", "ext", "--dataset", "g", "--param", "lr=0.1",
           "--param", "opt=adam", "--metric", "auc=0.81", "--model", str(model), "--seed", "5",
           "--code", str(tmp_path))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert ft(t, "checkpoint").returncode == 0
    r = ft(t, "lineage", str(model), "--json")
    assert r.returncode == 0, r.stderr
    (tree,) = json.loads(r.stdout)
    assert tree["children"][0]["details"]["metrics"] == {"auc": 0.81}
    assert tree["children"][0]["details"]["commit"] is None  # tmp_path is not a git repository
    assert tree["children"][0]["children"][0]["name"] == "g v1"
    r = ft(t, "lineage", str(model))
    assert r.returncode == 0 and "proved at checkpoint" in r.stdout
    assert_user_error(ft(t, "run", "record", "--name", "x", "--param", "novalue"), 2, "KEY=VALUE")
    assert_user_error(ft(t, "run", "record", "--name", "x", "--model", "/nope"), 2, "no such")
    assert_user_error(ft(t, "lineage", "sha256:" + "0" * 64), 2, "no model")
    r = ft(t, "run", "record", "--name", "x", "--failed", "out of memory")
    assert r.returncode == 0 and "recorded failed run" in r.stdout
    assert ft(t, "verify").returncode == 0


def test_code_state_sees_a_dirty_tree(tmp_path: Path) -> None:
    from fairtrail.lifecycle.runs import code_state

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "train.py").write_text("print(1)\n")
    git("add", "train.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x")
    clean = code_state(tmp_path)
    assert clean["vcs"] == "git" and clean["dirty"] is False
    (tmp_path / "train.py").write_text("print(2)\n")
    assert code_state(tmp_path) == {**clean, "dirty": True}
