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
    record, raw, entry, path, pos = found.record, found.raw, found.entry, found.path, found.position
    assert record["output"] == "approve" and record["id"] == "d457"
    _, st = trail.statement(entry)
    assert st.predicate_type == BATCH_PREDICATE and st.predicate["count"] == 300
    merkle.verify_inclusion(
        merkle.leaf_hash(raw), pos, 300, path, bytes.fromhex(st.predicate["root"])
    )
    trail.prove_inclusion(entry).verify()
    # the input is committed, not stored: only the vault can open it
    with Vault(trail.paths.secrets / "vault.db") as vault:
        subject, sealed = vault.open_sealed(found.batch, pos, "decision-input:d457")
    assert subject == "cust-2"
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


def _batches(trail: Trail) -> list[int]:
    return [
        i for i in range(trail.log.size) if trail.statement(i)[1].predicate_type == BATCH_PREDICATE
    ]


def test_a_bad_later_batch_keeps_the_batches_before_it(trail: Trail, tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    admin = trail.actor_key("admin")
    rows = _rows(model, 700)
    rows[650] = rows[650] | {"time": "yesterday"}
    # three batches, sealed by the helper process while the next is built; the third
    # is refused while the second is still being sealed
    with pytest.raises(InputError, match="not ISO 8601"):
        record_decisions(trail, rows, admin, batch_size=300)
    assert len(_batches(trail)) == 2
    with DecisionStore(trail.paths.root / "decisions.db") as store:
        assert store.pending() == []
        assert store.find("d599") is not None and store.find("d600") is None
    rows[650] = _rows(model, 1, 650)[0]
    (result,) = record_decisions(trail, rows[600:], admin, batch_size=300)
    assert result.count == 100
    trail.close()


def test_a_sealer_that_dies_leaves_nothing_half_recorded(
    trail: Trail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from fairtrail.errors import IntegrityError
    from fairtrail.privacy._sealer import Sealer

    model = tmp_path / "m.safetensors"
    admin = trail.actor_key("admin")
    submit = Sealer.submit

    def submit_then_die(self: Sealer, batch: str, items: list) -> None:
        submit(self, batch, items)
        self._proc.kill()

    monkeypatch.setattr(Sealer, "submit", submit_then_die)
    with pytest.raises(IntegrityError, match="sealing process stopped"):
        record_decisions(trail, _rows(model, 600), admin, batch_size=300)
    monkeypatch.undo()
    assert _batches(trail) == []
    with DecisionStore(trail.paths.root / "decisions.db") as store:
        assert store.pending() == [] and store.find("d0") is None
    vault = sqlite3.connect(trail.paths.secrets / "vault.db")
    assert vault.execute("SELECT count(*) FROM sealed_batches").fetchone() == (0,)
    assert vault.execute("SELECT count(*) FROM holdings").fetchone() == (0,)
    vault.close()
    assert [r.count for r in record_decisions(trail, _rows(model, 600), admin, batch_size=300)] == [
        300,
        300,
    ]
    trail.close()


def test_erasing_a_subject_blanks_its_inputs_and_keeps_every_proof(
    trail: Trail, tmp_path: Path
) -> None:
    from fairtrail.subjects import erase_subject
    from fairtrail.trace import check_receipt, decision_receipt, subject_copy

    model = tmp_path / "m.safetensors"
    admin = trail.actor_key("admin")
    record_decisions(trail, _rows(model, 600), admin, batch_size=300)
    trail.checkpoint()
    receipt = json.dumps(decision_receipt(trail, "d2")).encode()
    assert json.loads(subject_copy(trail, "d2")["input"])["postcode"] == "SW2"
    with Vault(trail.paths.secrets / "vault.db") as vault:
        key = vault._key("cust-2")
    erase_subject(trail, "cust-2", admin)
    trail.checkpoint()
    # cust-2 (every 7th decision) can no longer be opened; its neighbours in the same
    # packed chunk still can, and every proof still checks
    with pytest.raises(InputError, match="erased"):
        subject_copy(trail, "d2")
    with pytest.raises(InputError, match="erased"):
        subject_copy(trail, "d303")
    assert json.loads(subject_copy(trail, "d3")["input"])["postcode"] == "SW3"
    assert check_receipt(receipt, trail.config.log_vkey)["record"]["id"] == "d2"
    trail.verify()
    on_disk = b"".join(p.read_bytes() for p in trail.paths.root.rglob("*") if p.is_file())
    assert key not in on_disk
    trail.close()
