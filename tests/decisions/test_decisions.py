"""Decisions at volume: batches, commitments, proofs, bad input, crash recovery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairtrail import Trail
from fairtrail.decisions import (
    BATCH_PREDICATE,
    DecisionStore,
    commit_input,
    read_decisions,
    record_decisions,
)
from fairtrail.errors import InputError
from fairtrail.lifecycle.models import record_model
from fairtrail.log import merkle
from fairtrail.privacy.vault import Vault
from tests.cli.test_cli import assert_user_error, ft


def _model(root: Path) -> Path:
    model = root / "m.safetensors"
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    model.write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    return model


@pytest.fixture
def trail(tmp_path: Path) -> Trail:
    t = Trail.init(tmp_path / "trail")
    record_model(t, _model(tmp_path), t.actor_key("admin"))
    return t


def _rows(model: Path, n: int, start: int = 0) -> list[dict]:
    return [
        {"id": f"d{i}", "model": str(model), "output": "approve" if i % 3 else "deny",
         "time": "2026-11-25T10:00:00Z", "subject": f"cust-{i % 7}",
         "input": {"income": 1000 * i, "postcode": f"SW{i}"}}
        for i in range(start, start + n)
    ]  # fmt: skip


def test_each_decision_is_provable_and_its_input_committed(trail: Trail, tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    results = record_decisions(trail, _rows(model, 1000), trail.actor_key("admin"), batch_size=300)
    assert [r.count for r in results] == [300, 300, 300, 100]
    trail.checkpoint()
    with DecisionStore(trail.paths.root / "decisions.db") as store:
        found = store.find("d457")
    assert found is not None
    record, raw, entry, path, pos = found
    assert record["output"] == "approve" and record["id"] == "d457"
    _, st = trail.statement(entry)
    assert st.predicate_type == BATCH_PREDICATE and st.predicate["count"] == 300
    merkle.verify_inclusion(
        merkle.leaf_hash(raw), pos, 300, path, bytes.fromhex(st.predicate["root"])
    )
    trail.prove_inclusion(entry).verify()
    # the input is committed, not stored: only the vault can open it
    with Vault(trail.paths.secrets / "vault.db") as vault:
        sealed = vault.get("cust-2", "decision-input:d457")
    salt, data = sealed[:16], sealed[16:]
    assert json.loads(data) == {"income": 457000, "postcode": "SW457"}
    assert record["input"] == {"sha256": commit_input(salt, data)}
    assert b"SW457" not in (trail.paths.root / "log.db").read_bytes()
    assert b"SW457" not in (trail.paths.root / "decisions.db").read_bytes()
    trail.close()


def test_bad_rows_refuse_their_batch_only(trail: Trail, tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    admin = trail.actor_key("admin")
    record_decisions(trail, _rows(model, 10), admin)
    size = trail.log.size
    for bad, words in [
        ([*_rows(model, 2, 100), _rows(model, 1, 100)[0]], "appears twice"),
        (_rows(model, 3, 5), "already recorded"),
        ([_rows(model, 1, 200)[0] | {"time": "yesterday"}], "not ISO 8601"),
        ([_rows(model, 1, 200)[0] | {"model": "sha256:" + "00" * 32}], "not recorded"),
        ([_rows(model, 1, 200)[0] | {"id": ""}], "decision id"),
    ]:  # fmt: skip
        with pytest.raises(InputError, match=words):
            record_decisions(trail, bad, admin)
        assert trail.log.size == size
    trail.close()


def test_a_crash_before_the_statement_leaves_nothing_half_recorded(
    trail: Trail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "m.safetensors"
    admin = trail.actor_key("admin")

    def crash(*a: object, **k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(trail, "record", crash)
    with pytest.raises(KeyboardInterrupt):
        record_decisions(trail, _rows(model, 50), admin)
    monkeypatch.undo()
    # the same decisions again: the pending batch is dropped, then recorded once
    (result,) = record_decisions(trail, _rows(model, 50), admin)
    assert result.count == 50
    with DecisionStore(trail.paths.root / "decisions.db") as store:
        assert store.pending() == []
        assert store.find("d0") is not None
    trail.close()


def test_cli_csv_and_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "trail"
    model = _model(tmp_path)
    assert ft(path, "init").returncode == 0
    assert ft(path, "model", "add", str(model)).returncode == 0
    csv_file = tmp_path / "d.csv"
    csv_file.write_text(
        "decision_id,model,output,time,subject,income\n"
        f"a1,{model},approve,2026-11-25T10:00:00Z,c1,52000\n"
        f"a2,{model},deny,2026-11-25T10:01:00Z,c2,21000\n"
    )
    r = ft(path, "decisions", "record", str(csv_file), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["count"] == 2
    jsonl = tmp_path / "d.jsonl"
    row = {"id": "b1", "model": str(model), "output": 0.93,
           "time": "2026-11-25T11:00:00+00:00", "input": {"x": 1}}  # fmt: skip
    jsonl.write_text(json.dumps(row) + "\n")
    assert ft(path, "decisions", "record", str(jsonl)).returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("decision_id,model,output\nx,y,z\n")
    assert_user_error(ft(path, "decisions", "record", str(bad)), 2, "missing column(s) time")
    assert_user_error(ft(path, "decisions", "record", str(tmp_path / "d.txt")), 2, "cannot read")
    rows = list(read_decisions(csv_file))
    assert rows[0]["input"] == {"income": "52000"} and rows[0]["subject"] == "c1"
