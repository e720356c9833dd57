"""Full integrity check of a stored log: every leaf, every stored hash, every checkpoint.

It trusts nothing stored: each entry is re-hashed from its bytes, every tile is rebuilt
from below and compared with the stored one, every signed checkpoint's root is
recomputed from the entries at its size, and consecutive checkpoints are checked with
consistency proofs built by the store (so the proof path is exercised too). It stops at
the first problem with an `IntegrityError` naming the first bad leaf index, because
everything after a bad leaf is untrustworthy anyway.

It streams: memory is bounded by one read chunk, whatever the size of the log.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from fairtrail.errors import IntegrityError, ProofError
from fairtrail.log import merkle
from fairtrail.log._tiles import (
    FULL_TILE_BYTES,
    TILE_HEIGHT,
    TILE_WIDTH,
    perfect_root,
    push_range,
    pyramid,
    split_hashes,
)
from fairtrail.log.store import Store, StoredCheckpoint
from fairtrail.log.tlog import TransparencyLog

__all__ = ["FsckReport", "fsck"]

# Entries are read and checked in chunks of 2**16, aligned to 2**16: every stored tile of
# levels 0..3 then lies inside one chunk, and a whole chunk is one hash at tile level 4.
_CHUNK_LEVEL = 16
_CHUNK = 1 << _CHUNK_LEVEL
_CHUNK_TILE = _CHUNK_LEVEL // TILE_HEIGHT


@dataclass(frozen=True)
class FsckReport:
    size: int
    root: bytes
    checkpoints: int
    latest_checkpoint: int | None


def fsck(log: TransparencyLog, progress: Callable[[int, int], None] | None = None) -> FsckReport:
    """Check the whole log; return a report, or raise `IntegrityError` at the first problem.

    The check reads one snapshot of the store: appends by another process meanwhile are
    simply not part of what is checked.
    """
    with log.store.snapshot() as size:
        return _fsck(log, size, progress)


def _fsck(
    log: TransparencyLog, size: int, progress: Callable[[int, int], None] | None
) -> FsckReport:
    store = log.store
    stored_checkpoints = store.checkpoints()
    for cp in stored_checkpoints:
        log.open_stored(cp)  # signature, origin and fields
        if cp.size == 0 and cp.root != merkle.EMPTY_ROOT:
            raise IntegrityError("checkpoint for the empty tree has a wrong root", index=0)
    if stored_checkpoints and stored_checkpoints[-1].size > size:
        raise IntegrityError(
            f"the log has {size} leaves but signed a checkpoint for "
            f"{stored_checkpoints[-1].size}: entries were removed or rolled back",
            index=size,
        )
    pending = [cp for cp in stored_checkpoints if cp.size > 0]

    sha = hashlib.sha256
    compact: list[bytes] = []  # compact range over every whole chunk checked so far
    upper: list[list[bytes]] = []  # recomputed hashes of the open tile at levels >= _CHUNK_TILE
    levels: list[list[bytes]] = []
    done = 0
    for first, rows in _ChunkIter(store, size):
        if first != done:
            raise IntegrityError(f"entry {done} is missing from the store", index=done)
        levels = pyramid([sha(b"\x00" + data).digest() for _, data in rows])
        for tile_level in range(min(_CHUNK_TILE, (len(levels) - 1) // TILE_HEIGHT + 1)):
            hashes = levels[TILE_HEIGHT * tile_level]
            _compare_tiles(store, tile_level, done >> (TILE_HEIGHT * tile_level), hashes)
        end = done + len(rows)
        while pending and pending[0].size <= end:
            _check_checkpoint_root(pending.pop(0), compact, done, levels)
        if len(rows) == _CHUNK:
            chunk_root = levels[_CHUNK_LEVEL][0]
            merkle.compact_push(compact, done, _CHUNK_LEVEL, chunk_root)
            _push_upper(store, upper, _CHUNK_TILE, done >> _CHUNK_LEVEL, chunk_root)
        done = end
        if progress is not None:
            progress(done, size)

    count, last = store.entry_count()
    if done != size or last != size - 1 or count != size:
        raise IntegrityError(
            f"the store holds {count} entries but its tree has {size} leaves",
            index=min(done, size),
        )
    for level, buf in enumerate(upper, start=1):  # upper[L - 1] is tile level L
        if buf:
            _compare_tile(store, level, (size >> (TILE_HEIGHT * level)) // TILE_WIDTH, buf)
    final = list(compact)
    if size % _CHUNK:
        push_range(final, size - size % _CHUNK, size, levels)
    root = merkle.compact_root(final)
    if root != store.root(size):
        raise IntegrityError(
            "stored tree head disagrees with the entries",
            index=size,
            expected=root,
            actual=store.root(size),
        )
    _check_consistency_chain(store, stored_checkpoints)
    latest = stored_checkpoints[-1].size if stored_checkpoints else None
    return FsckReport(size, root, len(stored_checkpoints), latest)


class _ChunkIter:
    """Yield (first index, rows) in tile-aligned chunks, checking contiguity."""

    def __init__(self, store: Store, size: int) -> None:
        self._store = store
        self._next = 0
        self._size = size

    def __iter__(self) -> _ChunkIter:
        return self

    def __next__(self) -> tuple[int, list[tuple[int, bytes]]]:
        rows = self._store.read_rows(self._next, _CHUNK)
        if not rows:
            raise StopIteration
        self._next = rows[-1][0] + 1
        first = rows[0][0]
        if rows[-1][0] != first + len(rows) - 1:  # indices are unique and sorted
            for n, (idx, _) in enumerate(rows):
                if idx != first + n:
                    raise IntegrityError(
                        f"entry {first + n} is missing from the store", index=first + n
                    )
        if first + len(rows) > self._size:
            bad = max(first, self._size)
            raise IntegrityError(
                f"entry {bad} is beyond the stored tree of {self._size} leaves", index=bad
            )
        return first, rows


def _raise_leaf_mismatch(start: int, computed: list[bytes], stored: bytes) -> None:
    stored_hashes = split_hashes(stored)
    for offset, h in enumerate(computed):
        if offset >= len(stored_hashes):
            raise IntegrityError(
                f"entry {start + offset} has no stored leaf hash", index=start + offset
            )
        if stored_hashes[offset] != h:
            raise IntegrityError(
                f"entry {start + offset} does not match its stored leaf hash",
                index=start + offset,
                expected=stored_hashes[offset],
                actual=h,
            )
    raise IntegrityError(
        f"stored leaf hashes go beyond the stored entries at entry {start + len(computed)}",
        index=start + len(computed),
    )


def _push_upper(store: Store, upper: list[list[bytes]], level: int, child: int, h: bytes) -> None:
    while len(upper) < level:
        upper.append([])
    buf = upper[level - 1]
    buf.append(h)
    if len(buf) == TILE_WIDTH:
        index = child // TILE_WIDTH
        _compare_tile(store, level, index, buf)
        upper[level - 1] = []
        _push_upper(store, upper, level + 1, index, perfect_root(buf))


def _compare_tile(store: Store, level: int, index: int, computed: list[bytes]) -> None:
    stored = store.tile(level, index)
    if stored == b"".join(computed):
        return
    span = 1 << (TILE_HEIGHT * level)
    stored_hashes = split_hashes(stored)
    for offset, h in enumerate(computed):
        if offset >= len(stored_hashes) or stored_hashes[offset] != h:
            first = (index * TILE_WIDTH + offset) * span
            raise IntegrityError(
                f"stored subtree hash over entries {first}..{first + span - 1} is wrong "
                f"(tile level {level}, index {index})",
                index=first,
            )
    raise IntegrityError(
        f"stored tile level {level}, index {index} has more hashes than the entries give",
        index=(index * TILE_WIDTH + len(computed)) * span,
    )


def _compare_tiles(store: Store, level: int, first: int, computed: list[bytes]) -> None:
    """The stored tiles of `level` holding hashes [first, first + len(computed)) must hold
    exactly `computed` (`first` is tile-aligned). One bulk read; on a mismatch, tile by
    tile to name the first bad entry."""
    if not computed:
        return
    t0, t1 = first // TILE_WIDTH, -(-(first + len(computed)) // TILE_WIDTH)
    stored = store.tiles(level, t0, t1)
    blobs = [stored.get(t, b"") for t in range(t0, t1)]
    if b"".join(blobs) == b"".join(computed) and all(len(b) == FULL_TILE_BYTES for b in blobs[:-1]):
        return
    for n, blob in enumerate(blobs):
        part = computed[n * TILE_WIDTH : (n + 1) * TILE_WIDTH]
        if level == 0:
            if blob != b"".join(part):
                _raise_leaf_mismatch((t0 + n) * TILE_WIDTH, part, blob)
        else:
            _compare_tile(store, level, t0 + n, part)
    raise IntegrityError(  # unreachable unless a tile boundary moved: still damage
        f"stored tiles at level {level} are misaligned near entry {first << (TILE_HEIGHT * level)}",
        index=first << (TILE_HEIGHT * level),
    )


def _check_checkpoint_root(
    cp: StoredCheckpoint, compact: list[bytes], chunk_start: int, levels: list[list[bytes]]
) -> None:
    partial = list(compact)
    push_range(partial, chunk_start, cp.size, levels)
    computed = merkle.compact_root(partial)
    if computed != cp.root:
        raise IntegrityError(
            f"signed checkpoint for size {cp.size} does not match the entries",
            index=chunk_start,
            expected=cp.root,
            actual=computed,
        )
    if cp.compact != b"".join(partial):
        raise IntegrityError(
            f"stored compact range of checkpoint {cp.size} is damaged", index=cp.size
        )


def _check_consistency_chain(store: Store, checkpoints: list[StoredCheckpoint]) -> None:
    sized = [cp for cp in checkpoints if cp.size > 0]
    for old, new in itertools.pairwise(sized):
        proof = store.consistency_proof(old.size, new.size)
        try:
            merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
        except ProofError as exc:
            raise IntegrityError(
                f"checkpoints {old.size} and {new.size} are not consistent: {exc}", index=old.size
            ) from exc
