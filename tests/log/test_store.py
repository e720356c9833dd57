"""The guarantees every log store gives (log/store.py), checked on both backends:
contiguous indices, reopening, one writer, bad appends, O(log n) proof reads, proof
ranges, one checkpoint per size, append-only guard rails, fail-stop, snapshots."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
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
from fairtrail.log import StoredCheckpoint, fsck, merkle
from tests.log.helpers import leaf, make_log, open_store


def _other_connection(db: Path | str) -> Callable[[str], None]:
    """Run one SQL statement on a separate connection to the store's database."""
    if isinstance(db, str):
        import psycopg

        def run_pg(sql: str) -> None:
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute(sql)

        return run_pg

    def run_sqlite(sql: str) -> None:
        conn = sqlite3.connect(db)
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()

    return run_sqlite


def _is_pg(db: Path | str) -> bool:
    return isinstance(db, str)


def test_append_contiguous_and_roots_match_reference(log_db: Path | str) -> None:
    log = make_log(log_db)
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
    assert [i for i, _ in log.store.iter_entries(1290, chunk=3)] == list(range(1290, 1300))
    assert log.store.entry_count() == (1300, 1299)


def test_reopen_keeps_everything(log_db: Path | str) -> None:
    key = SigningKey.generate()
    log = make_log(log_db, key)
    log.append([leaf(i) for i in range(700)])
    log.checkpoint()
    root = log.store.root(700)
    log.store.close()
    log2 = make_log(log_db, key, create=False)
    assert log2.size == 700 and log2.store.root(700) == root
    assert log2.append([leaf(700)]) == 700
    log2.checkpoint()
    assert fsck(log2).size == 701


def test_second_writer_refused_reader_allowed(log_db: Path | str) -> None:
    log = make_log(log_db)
    log.append([b"x"])
    with pytest.raises(StoreLockedError, match="another process is writing"):
        open_store(log_db, writer=True)
    reader = open_store(log_db, writer=False)
    assert reader.size == 1 and not reader.writable
    with pytest.raises(Exception, match="read-only"):
        reader.append_batch([b"y"])
    log.store.close()
    open_store(log_db, writer=True).close()  # lock released on close
    reader.close()


def test_bad_appends_write_nothing(log_db: Path | str) -> None:
    log = make_log(log_db)
    log.append([b"a"])
    for bad in ([], [b"ok", "text"], [b"x" * ((1 << 20) + 1)]):
        with pytest.raises(InputError):
            log.append(bad)  # type: ignore[arg-type]
    assert log.size == 1 and log.store.entry_count() == (1, 0)


def test_proofs_need_log_n_tile_reads(log_db: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    log = make_log(log_db)
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


def test_proof_requests_out_of_range(log_db: Path | str) -> None:
    log = make_log(log_db)
    log.append([b"a", b"b", b"c"])
    for index, size in [(3, 3), (-1, 3), (0, 4), (0, 0), (2**63, 3), (True, 3)]:
        with pytest.raises(ProofRequestError):
            log.prove_inclusion(index, size)  # type: ignore[arg-type]
    for old, new in [(0, 3), (2, 1), (1, 4), (-1, 2)]:
        with pytest.raises(ProofRequestError):
            log.prove_consistency(old, new)
    log.prove_consistency(3, 3).verify()


def test_two_checkpoints_for_one_size_can_never_differ(log_db: Path | str) -> None:
    log = make_log(log_db)
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
    log.store.add_cosignatures(2, [b"\xe2\x80\x94 w AAAA\n"])
    log.store.add_cosignatures(2, [b"\xe2\x80\x94 w AAAA\n"])  # duplicates ignored
    assert log.store.cosignatures(2) == [b"\xe2\x80\x94 w AAAA\n"]
    with pytest.raises(Exception, match="no checkpoint of size 1"):
        log.store.add_cosignatures(1, [b"x"])


def test_guard_rails_refuse_rewrites(log_db: Path | str) -> None:
    log = make_log(log_db)
    log.append([b"a", b"b"])
    log.checkpoint()
    sql = _other_connection(log_db)
    zero = "decode(repeat('00', 64), 'hex')" if _is_pg(log_db) else "zeroblob(64)"
    with pytest.raises(Exception, match="tiles only grow"):
        sql(f"UPDATE tiles SET hashes = {zero} WHERE level = 0")
    for statement in ["DELETE FROM bundles", "UPDATE checkpoints SET size = 7",
                      "DELETE FROM tiles"]:  # fmt: skip
        with pytest.raises(Exception, match="append-only"):
            sql(statement)
    if _is_pg(log_db):
        for table in ["bundles", "tiles", "checkpoints", "cosignatures"]:
            with pytest.raises(Exception, match="append-only"):
                sql(f"TRUNCATE {table} CASCADE")
    assert fsck(log).size == 2


def test_fail_stop_after_a_write_error(log_db: Path | str) -> None:
    log = make_log(log_db)
    log.append([b"a"])
    blob = "'\\x00000001'::bytea, '\\x00'::bytea" if _is_pg(log_db) else "x'00000001', x'00'"
    # a row at index 1 written behind the store's back makes its next insert fail
    _other_connection(log_db)(f"INSERT INTO bundles (first, lengths, data) VALUES (1, {blob})")
    with pytest.raises(StoreFailedError):
        log.append([b"b"])
    with pytest.raises(StoreFailedError, match="stopped"):
        log.append([b"c"])
    with pytest.raises(StoreFailedError):
        log.checkpoint()
    log.store.close()
    with pytest.raises(IntegrityError, match="disagree"):  # reopening sees the stray row
        open_store(log_db, writer=True)


def test_reader_snapshot_ignores_appends_meanwhile(log_db: Path | str) -> None:
    log = make_log(log_db)
    log.append([leaf(i) for i in range(100)])
    reader = open_store(log_db, writer=False)
    with reader.snapshot() as size:
        assert size == 100
        log.append([leaf(i) for i in range(100, 150)])
        assert reader.size == 100  # still the snapshot's state
        assert len(reader.entries(0, 100)) == 100
        with pytest.raises(ProofRequestError):
            reader.entries(0, 101)
        with reader.snapshot() as nested:  # shares the outer snapshot
            assert nested == 100
    assert reader.size == 150
    reader.close()


def test_readers_prove_while_a_writer_appends(log_db: Path | str) -> None:
    """C4 on both backends: every proof a reader builds verifies against the size it names."""
    log = make_log(log_db)
    log.append([leaf(i) for i in range(16)])
    stop = threading.Event()
    failures: list[str] = []

    def read() -> None:
        reader = open_store(log_db, writer=False)
        try:
            while not stop.is_set():
                with reader.snapshot() as size:
                    root = reader.root(size)
                    i = size // 2
                    proof = reader.inclusion_proof(i, size)
                    data = reader.entries(i, i + 1)[0]
                try:
                    merkle.verify_inclusion(merkle.leaf_hash(data), i, size, proof, root)
                except Exception as exc:  # pragma: no cover - reported below
                    failures.append(f"{size}: {exc}")
        finally:
            reader.close()

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for batch in range(40):
        log.append([leaf(1000 * batch + j) for j in range(1 + batch % 7)])
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
