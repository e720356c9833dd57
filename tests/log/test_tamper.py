"""F7, F8, T2, T3: damage the stored log in every way; verify pinpoints it and the log
refuses to sign over it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from fairtrail.crypto import SigningKey
from fairtrail.errors import IntegrityError, ProofError
from fairtrail.log import TransparencyLog, fsck
from fairtrail.log._tiles import TILE_WIDTH
from tests.log.helpers import delete_entries, drop_guards, leaf, make_log, rewrite_entry

N = 1000


def _build(tmp_path: Path, checkpoint_at: int = N) -> tuple[Path, SigningKey]:
    key = SigningKey.generate()
    log = make_log(tmp_path / "log.db", key)
    log.append([leaf(i) for i in range(checkpoint_at)])
    log.checkpoint()
    if checkpoint_at < N:
        log.append([leaf(i) for i in range(checkpoint_at, N)])
    log.store.close()
    return tmp_path / "log.db", key


def _sql(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db)
    drop_guards(conn)
    for s in statements:
        conn.execute(s)
    conn.commit()
    conn.close()


def _reader(db: Path, key: SigningKey) -> TransparencyLog:
    return make_log(db, key, writer=False, create=False)


def test_clean_log_verifies(tmp_path: Path) -> None:
    db, key = _build(tmp_path)
    report = fsck(_reader(db, key))
    assert report.size == N and report.checkpoints == 1


@pytest.mark.parametrize("index", [0, 1, 255, 256, 517, N - 1])
def test_flipped_byte_in_entry_is_pinpointed(tmp_path: Path, index: int) -> None:
    db, key = _build(tmp_path)
    rewrite_entry(db, index, lambda data: data + b"\x00")
    with pytest.raises(IntegrityError) as info:
        fsck(_reader(db, key))
    assert info.value.index == index
    with pytest.raises(IntegrityError):
        _reader(db, key).prove_inclusion(index, N)  # T2: no proof for altered data


def test_bit_flip_in_stored_leaf_hash(tmp_path: Path) -> None:
    db, key = _build(tmp_path)
    _sql(db)  # drop the guard triggers
    conn = sqlite3.connect(db)
    tile, offset = divmod(300, TILE_WIDTH)
    row = conn.execute("SELECT hashes FROM tiles WHERE level = 0 AND idx = ?", (tile,))
    blob = bytearray(row.fetchone()[0])
    blob[offset * 32 + 7] ^= 0x10  # one bit of the stored leaf hash of entry 300
    conn.execute("UPDATE tiles SET hashes = ? WHERE level = 0 AND idx = ?", (bytes(blob), tile))
    conn.commit()
    conn.close()
    with pytest.raises(IntegrityError) as info:
        fsck(_reader(db, key))
    assert info.value.index == 300


def _three_tiles_of_256(tmp_path: Path) -> tuple[Path, SigningKey]:
    key = SigningKey.generate()
    log = make_log(tmp_path / "log.db", key)
    log.append([leaf(i) for i in range(256 * 3)])
    log.checkpoint()
    log.store.close()
    return tmp_path / "log.db", key


@pytest.mark.parametrize("level", [1, 2])
def test_corrupt_interior_tile_is_found(tmp_path: Path, level: int) -> None:
    db, key = _three_tiles_of_256(tmp_path)
    _sql(
        db,
        f"UPDATE tiles SET hashes = zeroblob(32) || substr(hashes, 33) "
        f"WHERE level = {level} AND idx = 0",
    )
    with pytest.raises(IntegrityError) as info:
        fsck(_reader(db, key))
    assert info.value.index == 0
    # a proof through the damaged hashes never leaves the log: it fails closed
    with pytest.raises((IntegrityError, ProofError)):
        # entry 16's proof uses the zeroed level-4 hash over entries 0..15 as a sibling
        _reader(db, key).prove_inclusion(16**level, 256 * 3)


def test_signing_refused_when_the_signed_tree_changed(tmp_path: Path) -> None:
    """The top stored hashes (what the last checkpoint's root is made of) are damaged."""
    db, key = _three_tiles_of_256(tmp_path)
    _sql(
        db,
        "UPDATE tiles SET hashes = zeroblob(32) || substr(hashes, 33) WHERE level = 2 AND idx = 0",
    )
    writer = make_log(db, key, create=False)
    writer.append([b"more"])
    with pytest.raises(IntegrityError, match="refusing to sign"):
        writer.checkpoint()


def test_deleted_last_rows_are_found(tmp_path: Path) -> None:
    db, key = _build(tmp_path, checkpoint_at=N)
    delete_entries(db, N - 5)
    with pytest.raises(IntegrityError) as info:
        fsck(_reader(db, key))
    assert info.value.index == N - 5
    with pytest.raises(IntegrityError, match="refusing to write"):
        make_log(db, key, create=False)


def test_truncated_log_below_checkpoint_is_a_rollback(tmp_path: Path) -> None:
    db, key = _build(tmp_path, checkpoint_at=N)
    delete_entries(db, 512)
    _sql(db, "DELETE FROM tiles")  # keep the schema, drop the tree
    with pytest.raises(IntegrityError, match="rolled back"):
        fsck(_reader(db, key))


@pytest.mark.parametrize(
    "damage",
    [
        lambda db: rewrite_entry(db, 900, lambda _: b"\x00"),
        lambda db: delete_entries(db, 950, 951),
    ],
)
def test_checkpoint_refused_over_damaged_new_entries(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    """F8: entries since the last checkpoint are re-hashed before signing."""
    db, key = _build(tmp_path, checkpoint_at=800)
    damage(db)
    with pytest.raises(IntegrityError):
        log = make_log(db, key, create=False)
        log.checkpoint()


def test_self_audit_catches_in_memory_corruption(tmp_path: Path) -> None:
    """F8: corrupt the store's view in memory; signing is refused, nothing is stored."""
    key = SigningKey.generate()
    log = make_log(tmp_path / "log.db", key)
    log.append([leaf(i) for i in range(10)])
    log.checkpoint()
    log.append([leaf(i) for i in range(10, 20)])
    real = log.store.leaf_hashes
    log.store.leaf_hashes = lambda s, e: [b"\x00" * 32] + real(s, e)[1:]  # type: ignore[method-assign]
    with pytest.raises(IntegrityError, match="refusing to sign"):
        log.checkpoint()
    latest = log.store.latest_checkpoint()
    assert latest is not None and latest.size == 10


def test_forged_checkpoint_row_is_found(tmp_path: Path) -> None:
    db, key = _build(tmp_path)
    _sql(db, "UPDATE checkpoints SET root = zeroblob(32)")
    with pytest.raises(IntegrityError, match="does not match its signed note"):
        fsck(_reader(db, key))


def test_checkpoint_signed_by_another_key_is_rejected(tmp_path: Path) -> None:
    db, _ = _build(tmp_path)
    with pytest.raises(Exception, match="not signed by any known key"):
        fsck(_reader(db, SigningKey.generate()))
