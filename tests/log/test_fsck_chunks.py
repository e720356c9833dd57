"""fsck reads and checks entries a chunk at a time; damage must be found wherever it sits
relative to chunk and tile edges, and a clean log of any size must pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairtrail.crypto import SigningKey
from fairtrail.errors import IntegrityError
from fairtrail.log import fsck, merkle
from fairtrail.log import fsck as fsck_module
from tests.log.helpers import leaf, make_log, rewrite_entry

KEY = SigningKey.generate()


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Chunks of 256 entries (tile level 2), so a few thousand leaves span many chunks."""
    mod = fsck_module.__dict__
    monkeypatch.setitem(mod, "_CHUNK_LEVEL", 8)
    monkeypatch.setitem(mod, "_CHUNK", 256)
    monkeypatch.setitem(mod, "_CHUNK_TILE", 2)
    return 256


def _build(db: Path, size: int, checkpoints: list[int]) -> None:
    log = make_log(db, KEY)
    pos = 0
    for cp in [*checkpoints, size]:
        if cp > pos:
            log.append([leaf(i) for i in range(pos, cp)])
            pos = cp
        log.checkpoint()
    log.store.close()


@pytest.mark.parametrize("size", [1, 255, 256, 257, 4096, 4097, 16 * 256 * 3 + 17, 70_000])
def test_clean_log_of_any_shape_passes(tmp_path: Path, small_chunks: int, size: int) -> None:
    checkpoints = sorted({1, size // 3, 256, 4096} & set(range(1, size)))
    _build(tmp_path / "log.db", size, checkpoints)
    report = fsck(make_log(tmp_path / "log.db", KEY, writer=False, create=False))
    assert report.size == size and report.checkpoints == len(checkpoints) + 1
    assert report.root == merkle.root(merkle.leaf_hash(leaf(i)) for i in range(size))


@pytest.mark.parametrize("index", [0, 255, 256, 4095, 4096, 12_300, 12_304])
def test_damage_in_any_chunk_is_pinpointed(tmp_path: Path, small_chunks: int, index: int) -> None:
    _build(tmp_path / "log.db", 12_305, [5000])
    rewrite_entry(tmp_path / "log.db", index, lambda data: data + b"!")
    with pytest.raises(IntegrityError, match=f"entry {index} does not match") as info:
        fsck(make_log(tmp_path / "log.db", KEY, writer=False, create=False))
    assert info.value.index == index


def test_damaged_tile_above_the_chunk_level(tmp_path: Path, small_chunks: int) -> None:
    """Tile level 2 holds the chunk roots here: they are checked across chunks."""
    import sqlite3
    from contextlib import closing

    from tests.log.helpers import drop_guards

    _build(tmp_path / "log.db", 16 * 256 * 2 + 5, [])
    with closing(sqlite3.connect(tmp_path / "log.db")) as conn:
        drop_guards(conn)
        conn.execute(
            "UPDATE tiles SET hashes = substr(hashes, 1, 32 * 3) || zeroblob(32) || "
            "substr(hashes, 32 * 4 + 1) WHERE level = 2 AND idx = 1"
        )
        conn.commit()
    with pytest.raises(IntegrityError, match="subtree hash over entries") as info:
        fsck(make_log(tmp_path / "log.db", KEY, writer=False, create=False))
    assert info.value.index == (16 + 3) * 256


@pytest.mark.slow
def test_real_chunk_size_spans_chunks(tmp_path: Path) -> None:
    """Two full 65,536-entry chunks and a partial one, at the shipped chunk size."""
    size = 2 * 65_536 + 1000
    _build(tmp_path / "log.db", size, [65_536, 70_000])
    assert fsck(make_log(tmp_path / "log.db", KEY, writer=False, create=False)).size == size
    rewrite_entry(tmp_path / "log.db", 65_536 + 17, lambda data: data + b"!")
    with pytest.raises(IntegrityError) as info:
        fsck(make_log(tmp_path / "log.db", KEY, writer=False, create=False))
    assert info.value.index == 65_536 + 17
