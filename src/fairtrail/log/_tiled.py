"""What every database-backed store shares: entry bundles, tiles, proofs, fail-stop.

A driver (`SqliteStore`, `PostgresStore`) supplies a handful of primitive reads and one
durable write transaction per operation; everything that decides *what* is read or
written lives here once, so both backends give the same answers and the same errors
(the store test suite runs against both, see tests/log/conftest.py). This mirrors
Tessera's split: the append path and the proof path are database-independent, and a
driver only knows how to keep rows.

The driver contract:
- `_tx_append` commits the bundle rows and tile writes in one transaction and returns
  only once the commit is durable; it raises one of `_db_errors` on any failure.
- every `_raw_*` read sees the driver's current snapshot (see `_begin_read`).
- the writer is unique: the driver takes an exclusive lock when opened as a writer, so
  the in-memory frontier is the truth about the log's size while it is open.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from fairtrail.errors import (
    InputError,
    IntegrityError,
    ProofRequestError,
    StoreError,
    StoreFailedError,
)
from fairtrail.log import _bundles, merkle
from fairtrail.log._tiles import (
    HASH_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileFrontier,
    locate,
    perfect_root,
    split_hashes,
)
from fairtrail.log.store import MAX_ENTRY_BYTES, StoredCheckpoint

_TILE_CACHE_SIZE = 65536  # full tiles are immutable; 65536 * 512 B = 32 MiB at most

#: (first index, lengths blob, data blob) as a driver reads a bundle row
BundleRow = tuple[int, bytes, bytes]


class TiledStore(ABC):
    """The database-independent half of a `Store` (see the module docstring)."""

    #: the driver's database errors: any of them during a write stops the store
    _db_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, name: str, writable: bool) -> None:
        self.name = name  # for messages: a path, or a URL without its password
        self._writable = writable
        self._mutex = threading.RLock()
        self._failed: str | None = None
        self._tile_cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._frontier = TileFrontier()
        self._read_depth = 0

    def _start_writer(self) -> None:
        """Load the frontier and check it against the entries (drivers call it once open)."""
        self._frontier = self._load_frontier()
        self._check_entries_match_tiles()

    # ------------------------------------------------------- driver primitives

    @abstractmethod
    def _raw_tile(self, level: int, index: int) -> bytes: ...

    @abstractmethod
    def _raw_tiles(self, level: int, start: int, end: int) -> list[tuple[int, bytes]]: ...

    @abstractmethod
    def _raw_last_tile(self) -> tuple[int, int] | None:
        """(index, byte length) of the last level-0 tile, or None for an empty log."""

    @abstractmethod
    def _raw_last_bundle(self) -> tuple[int, int] | None:
        """(first, byte length of lengths) of the last bundle row, or None."""

    @abstractmethod
    def _raw_bundles_from(self, start: int) -> Iterator[BundleRow]:
        """Bundle rows in order from the one holding `start` (or the first after it)."""

    @abstractmethod
    def _tx_append(self, bundles: list[BundleRow], tiles: list[tuple[int, int, bytes]]) -> None: ...

    @abstractmethod
    def _tx_add_checkpoint(self, checkpoint: StoredCheckpoint) -> bytes | None:
        """Insert unless a checkpoint of that size exists; return the existing root if so."""

    @abstractmethod
    def _tx_add_cosignatures(self, size: int, lines: Sequence[bytes]) -> bool:
        """Insert the lines (ignoring duplicates); False if no checkpoint has `size`."""

    @abstractmethod
    def _raw_checkpoints(self, latest_only: bool) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _raw_cosignatures(self, size: int) -> list[bytes]: ...

    @abstractmethod
    def _raw_entry_count(self) -> tuple[int, int]: ...

    @abstractmethod
    def _begin_read(self) -> None:
        """Start one read transaction: every read until `_end_read` sees one state."""

    @abstractmethod
    def _end_read(self) -> None: ...

    @abstractmethod
    def _rollback(self) -> None:
        """Roll back a transaction left open by a failed write (ignore errors)."""

    # ------------------------------------------------------------------ state

    @property
    def writable(self) -> bool:
        return self._writable

    @property
    def size(self) -> int:
        if self.writable:
            return self._frontier.size
        with self._mutex:
            return self._read_size()

    def _read_size(self) -> int:
        last = self._raw_last_tile()
        if last is None:
            return 0
        return last[0] * TILE_WIDTH + last[1] // HASH_SIZE

    def _load_frontier(self) -> TileFrontier:
        size = self._read_size()
        partial: list[bytes] = []
        level = 0
        while size >> (TILE_HEIGHT * level):
            count = size >> (TILE_HEIGHT * level)
            index, width = divmod(count, TILE_WIDTH)
            blob = self._raw_tile(level, index) if width else b""
            if len(blob) != width * HASH_SIZE:
                raise IntegrityError(
                    f"the partial tile at level {level} is damaged; run `fairtrail verify`",
                    expected=f"{width} hashes",
                    actual=f"{len(blob) // HASH_SIZE}",
                )
            partial.append(blob)
            level += 1
        return TileFrontier(size, partial)

    def _check_entries_match_tiles(self) -> None:
        row = self._raw_last_bundle()
        last = -1 if row is None else row[0] + row[1] // 4 - 1
        if last != self._frontier.size - 1:
            raise IntegrityError(
                "stored entries and stored tree disagree; refusing to write "
                "(run `fairtrail verify` to see where)",
                index=min(last + 1, self._frontier.size),
                expected=f"last entry index {self._frontier.size - 1}",
                actual=last,
            )

    # ----------------------------------------------------------------- append

    def append_batch(self, leaves: Sequence[bytes]) -> int:
        if not self.writable:
            raise StoreError("this store was opened read-only")
        if not leaves:
            raise InputError("nothing to append")
        # checked with C-level builtins first; the per-leaf loop only runs to name the culprit
        if set(map(type, leaves)) != {bytes} or max(map(len, leaves)) > MAX_ENTRY_BYTES:
            for i, leaf in enumerate(leaves):
                if not isinstance(leaf, bytes):
                    raise InputError(f"leaf {i} is {type(leaf).__name__}, not bytes")
                if len(leaf) > MAX_ENTRY_BYTES:
                    raise InputError(
                        f"leaf {i} is {len(leaf)} bytes; the limit is {MAX_ENTRY_BYTES}"
                    )
        sha = merkle._sha256
        hashes = [sha(b"\x00" + leaf).digest() for leaf in leaves]
        with self._mutex:
            self._check_not_failed()
            first = self._frontier.size
            frontier, writes = self._frontier.extend(hashes)
            try:
                self._tx_append(
                    _bundles.pack(first, leaves),
                    [(lvl, idx, blob) for (lvl, idx), blob in writes.items()],
                )
            except self._db_errors as exc:
                self._fail(exc)
            self._frontier = frontier
            return first

    def _fail(self, exc: BaseException) -> None:
        self._rollback()
        self._failed = str(exc).strip()
        raise StoreFailedError(
            f"write to {self.name} failed, store stopped: {self._failed}"
        ) from exc

    def _check_not_failed(self) -> None:
        if self._failed is not None:
            raise StoreFailedError(f"store stopped after an earlier write error: {self._failed}")

    # ------------------------------------------------------------------ reads

    def entries(self, start: int, end: int) -> list[bytes]:
        with self.snapshot() as size:
            _check_range(start, end, size)
            rows = self._read_rows(start, end - start) if end > start else []
        for n, (i, _) in enumerate(rows):
            if i != start + n:
                missing = start + n
                raise IntegrityError(f"entry {missing} is missing from the store", index=missing)
        if len(rows) != end - start:
            missing = start + len(rows)
            raise IntegrityError(f"entry {missing} is missing from the store", index=missing)
        return [data for _, data in rows]

    def iter_entries(self, start: int = 0, chunk: int = 65536) -> Iterator[tuple[int, bytes]]:
        pos = start
        while rows := self.read_rows(pos, chunk):
            yield from rows
            pos = rows[-1][0] + 1

    def read_rows(self, start: int, limit: int) -> list[tuple[int, bytes]]:
        with self._mutex:
            return self._read_rows(start, limit)

    def _read_rows(self, start: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` (index, entry) pairs from `start` on, unpacked from their bundles.

        Rows come back as stored: a gap between bundles shows as a jump in the indices
        (callers report the missing entry); overlapping bundles cannot be read in any
        consistent way and are reported here.
        """
        if limit <= 0:
            return []
        out: list[tuple[int, bytes]] = []
        expected = None
        rows = self._raw_bundles_from(start)
        try:
            for first, lengths, data in rows:
                if expected is not None and first < expected:
                    raise IntegrityError(f"stored bundles overlap at entry {first}", index=first)
                entries = _bundles.unpack(first, lengths, data)
                expected = first + len(entries)
                skip = max(0, start - first)
                out.extend(zip(range(first + skip, expected), entries[skip:], strict=True))
                if len(out) >= limit:
                    break
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()
        return out[:limit]

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        with self.snapshot() as size:
            _check_range(start, end, size)
            first, last = start // TILE_WIDTH, -(-end // TILE_WIDTH)
            stored = self.tiles(0, first, last)  # one range read, not a query per tile
            out = [h for i in range(first, last) for h in split_hashes(stored.get(i, b""))]
            base = first * TILE_WIDTH
            return out[start - base : end - base]

    def tile(self, level: int, index: int) -> bytes:
        with self._mutex:
            return self._raw_tile(level, index)

    def tiles(self, level: int, start: int, end: int) -> dict[int, bytes]:
        with self._mutex:
            rows = self._raw_tiles(level, start, end)
        return {int(i): bytes(h) for i, h in rows}

    def subtree_hash(self, level: int, index: int) -> bytes:
        with self.snapshot() as size:
            if (index + 1) << level > size:
                raise ProofRequestError(f"subtree ({level}, {index}) is beyond size {size}")
            return self._subtree(level, index, size)

    def root(self, size: int) -> bytes:
        with self.snapshot() as current:
            if not 0 <= size <= current:
                raise ProofRequestError(f"size {size} is outside 0..{current}")
            return merkle.range_hash(0, size, lambda lvl, i: self._subtree(lvl, i, current))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self.snapshot() as current:
            if not 0 < size <= current:
                raise ProofRequestError(f"size {size} is outside 1..{current}")
            if not 0 <= index < size:
                raise ProofRequestError(f"index {index} is not below size {size}")
            return merkle.inclusion_proof(
                index, size, lambda lvl, i: self._subtree(lvl, i, current)
            )

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        with self.snapshot() as current:
            if not 0 <= size2 <= current:
                raise ProofRequestError(f"size {size2} is outside 0..{current}")
            if not 0 <= size1 <= size2:
                raise ProofRequestError(f"old size {size1} is outside 0..{size2}")
            if size1 == 0:
                if size2 == 0:
                    return []
                raise ProofRequestError("a consistency proof from the empty tree proves nothing")
            return merkle.consistency_proof(
                size1, size2, lambda lvl, i: self._subtree(lvl, i, current)
            )

    def _subtree(self, level: int, index: int, size: int) -> bytes:
        tile_level, tile_index, offset, count = locate(level, index)
        blob = self._tile(tile_level, tile_index, size)
        hashes = split_hashes(blob[offset * HASH_SIZE : (offset + count) * HASH_SIZE])
        if len(hashes) != count:
            raise IntegrityError(
                f"stored tile ({tile_level}, {tile_index}) is too short for subtree "
                f"({level}, {index}); run `fairtrail verify`",
                index=index << level,
            )
        return hashes[0] if count == 1 else perfect_root(hashes)

    def _tile(self, level: int, index: int, size: int) -> bytes:
        key = (level, index)
        cached = self._tile_cache.get(key)
        if cached is not None:
            self._tile_cache.move_to_end(key)
            return cached
        blob = self._raw_tile(level, index)
        if len(blob) == TILE_WIDTH * HASH_SIZE:  # full tiles never change: cache them
            self._tile_cache[key] = blob
            if len(self._tile_cache) > _TILE_CACHE_SIZE:
                self._tile_cache.popitem(last=False)
        return blob

    # ------------------------------------------------------------ checkpoints

    def checkpoints(self) -> list[StoredCheckpoint]:
        with self._mutex:
            rows = self._raw_checkpoints(latest_only=False)
        return [_checkpoint(row) for row in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._mutex:
            rows = self._raw_checkpoints(latest_only=True)
        return _checkpoint(rows[0]) if rows else None

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        if not self.writable:
            raise StoreError("this store was opened read-only")
        with self._mutex:
            self._check_not_failed()
            if checkpoint.size > self._frontier.size:
                raise StoreError(
                    f"refusing to store a checkpoint for size {checkpoint.size}: "
                    f"only {self._frontier.size} leaves are committed"
                )
            existing = None
            try:
                existing = self._tx_add_checkpoint(checkpoint)
            except self._db_errors as exc:
                self._fail(exc)
            if existing is not None and existing != checkpoint.root:
                raise IntegrityError(
                    f"a different checkpoint for size {checkpoint.size} already exists",
                    expected=existing,
                    actual=checkpoint.root,
                )

    def add_cosignatures(self, size: int, lines: Sequence[bytes]) -> None:
        """Keep witness signature lines for the checkpoint of `size` (already verified
        by the caller; duplicates are ignored)."""
        if not self.writable:
            raise StoreError("this store was opened read-only")
        with self._mutex:
            self._check_not_failed()
            found = True
            try:
                found = self._tx_add_cosignatures(size, lines)
            except self._db_errors as exc:
                self._fail(exc)
            if not found:
                raise StoreError(f"no checkpoint of size {size} to attach cosignatures to")

    def cosignatures(self, size: int) -> list[bytes]:
        with self._mutex:
            return self._raw_cosignatures(size)

    def entry_count(self) -> tuple[int, int]:
        """(number of stored entries, highest stored index or -1)."""
        with self._mutex:
            return self._raw_entry_count()

    # --------------------------------------------------------------- snapshot

    def snapshot(self) -> _Snapshot:
        """Every read inside the block sees one state of the log; yields its size.

        A reader holds one read transaction for the block, so a long check is not
        confused by another process appending meanwhile. Nested snapshots share the
        outer one. It holds the store's mutex: other threads using this store wait.
        """
        return _Snapshot(self)


class _Snapshot:
    """Hold the store mutex and, for readers, one read transaction."""

    def __init__(self, store: TiledStore) -> None:
        self._store = store
        self._began = False

    def __enter__(self) -> int:
        store = self._store
        store._mutex.acquire()
        try:
            if store.writable:
                return store._frontier.size
            if store._read_depth == 0:  # else: nested, the outer snapshot holds
                store._begin_read()
                self._began = True
            store._read_depth += 1
            return store._read_size()  # the first read fixes the snapshot
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        store = self._store
        try:
            if not store.writable and store._read_depth:
                store._read_depth -= 1
            if self._began:
                store._end_read()
        finally:
            store._mutex.release()


def _checkpoint(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(int(row[0]), bytes(row[1]), bytes(row[2]), bytes(row[3]))


def _check_range(start: int, end: int, size: int) -> None:
    if not 0 <= start <= end <= size:
        raise ProofRequestError(f"range [{start}, {end}) is outside the log (size {size})")
