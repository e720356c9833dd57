"""The SQLite store's guarantees: durability settings, one writer, contiguous indices,
O(log n) proof reads, checkpoints unique per size, fail-stop."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fairtrail.crypto import SigningKey
from fairtrail.errors import (
    InputError,
    IntegrityError,
    ProofRequestError,
    StoreFailedError,
    StoreLockedError,
)
from fairtrail.log import SqliteStore, StoredCheckpoint, merkle
from tests.log.helpers import leaf, make_log


def test_pragmas_are_checked(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log.db")
    conn = log.store._conn  # type: ignore[attr-defined]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 16384


def test_append_contiguous_and_roots_match_reference(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log.db")
    leaves = [leaf(i) for i in range(1300)]
    pos = 0
    for n in [1, 2, 253, 1, 600, 443]:
        assert log.append(leaves[pos : pos + n]) == pos
        pos += n
    assert log.size == 1300
    hashes = [merkle.leaf_hash(x) for x in leaves]
    for size in [0, 1, 2, 255, 256, 257, 511, 512, 1000, 1300]:
        assert log.store.root(size) == merkle.root(hashes[:size])
    assert log.store.entries(250, 260) == leaves[250:260]
    assert log.store.leaf_hashes(250, 800) == hashes[250:800]


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    key = SigningKey.generate()
    log = make_log(tmp_path / "log.db", key)
    log.append([leaf(i) for i in range(700)])
    log.checkpoint()
    root = log.store.root(700)
    log.store.close()
    log2 = make_log(tmp_path / "log.db", key, create=False)
    assert log2.size == 700 and log2.store.root(700) == root
    assert log2.append([leaf(700)]) == 700
    log2.checkpoint()


def test_second_writer_refused_reader_allowed(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log.db")
    log.append([b"x"])
    with pytest.raises(StoreLockedError, match="another process is writing"):
        SqliteStore.open(tmp_path / "log.db", writer=True)
    reader = SqliteStore.open(tmp_path / "log.db")
    assert reader.size == 1
    with pytest.raises(Exception, match="read-only"):
        reader.append_batch([b"y"])
    log.store.close()
    SqliteStore.open(tmp_path / "log.db", writer=True).close()  # lock released on close


def test_bad_appends_write_nothing(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log.db")
    log.append([b"a"])
    for bad in ([], [b"ok", "text"], [b"x" * ((1 << 20) + 1)]):
        with pytest.raises(InputError):
            log.append(bad)  # type: ignore[arg-type]
    assert log.size == 1 and log.store.entry_count() == (1, 0)


def test_proofs_need_log_n_tile_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = make_log(tmp_path / "log.db")
    n = 70_000
    for start in range(0, n, 10_000):
        log.append([b"%d" % i for i in range(start, start + 10_000)])
    store = log.store
    reads: list[tuple[int, int]] = []
    real = store._raw_tile  # type: ignore[attr-defined]
    monkeypatch.setattr(store, "_raw_tile", lambda lvl, i: reads.append((lvl, i)) or real(lvl, i))
    store._tile_cache.clear()  # type: ignore[attr-defined]
    proof = store.inclusion_proof(12_345, n)
    assert len(reads) <= 12, reads  # a handful of tiles, never a scan of 70k leaves
    merkle.verify_inclusion(merkle.leaf_hash(b"12345"), 12_345, n, proof, store.root(n))
    reads.clear()
    store._tile_cache.clear()  # type: ignore[attr-defined]
    store.consistency_proof(33_333, n)
    assert len(reads) <= 16, reads


def test_proof_requests_out_of_range(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log.db")
    log.append([b"a", b"b", b"c"])
    for index, size in [(3, 3), (-1, 3), (0, 4), (0, 0), (2**63, 3), (True, 3)]:
        with pytest.raises(ProofRequestError):
            log.prove_inclusion(index, size)  # type: ignore[arg-type]
    for old, new in [(0, 3), (2, 1), (1, 4), (-1, 2)]:
        with pytest.raises(ProofRequestError):
            log.prove_consistency(old, new)
    log.prove_consistency(3, 3).verify()


def test_two_checkpoints_for_one_size_can_never_differ(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log.db")
    log.append([b"a", b"b"])
    body, note = log.checkpoint()
    assert log.checkpoint()[1] == note  # idempotent: same size, same note
    stored = log.store.latest_checkpoint()
    assert stored is not None
    forged = StoredCheckpoint(2, b"\x00" * 32, stored.note, stored.compact)
    with pytest.raises(IntegrityError, match="different checkpoint"):
        log.store.add_checkpoint(forged)
    with pytest.raises(Exception, match="only 2 leaves"):
        log.store.add_checkpoint(StoredCheckpoint(3, b"\x00" * 32, b"", b""))


def test_tiles_only_grow_trigger(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log.db")
    log.append([b"a", b"b"])
    conn = sqlite3.connect(tmp_path / "log.db")
    with pytest.raises(sqlite3.DatabaseError, match="tiles only grow"):
        conn.execute("UPDATE tiles SET hashes = zeroblob(64) WHERE level = 0")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM bundles")


def test_fail_stop_after_a_write_error(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log.db")
    log.append([b"a"])
    other = sqlite3.connect(tmp_path / "log.db")
    # makes our next insert fail
    other.execute("INSERT INTO bundles (first, lengths, data) VALUES (1, x'00000001', x'00')")
    other.commit()
    with pytest.raises(StoreFailedError):
        log.append([b"b"])
    with pytest.raises(StoreFailedError, match="stopped"):
        log.append([b"c"])
    with pytest.raises(StoreFailedError):
        log.checkpoint()


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "log.db"
    bad.write_bytes(b"hello, not sqlite" * 100)
    with pytest.raises(InputError):
        SqliteStore.open(bad, writer=True)
    with pytest.raises(InputError):
        SqliteStore.open(tmp_path / "missing.db")
