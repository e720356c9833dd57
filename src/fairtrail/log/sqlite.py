"""The embedded log store: one SQLite file in WAL mode with `synchronous=FULL`.

Why these settings: in WAL mode with `synchronous=NORMAL` SQLite may lose the last
commits on power loss; with FULL it does not (if the drive honours flushes). Both are
checked when the store opens, not just requested, because a PRAGMA can silently fail
(for example on a read-only or network file system).

One writer at a time: a writer holds an exclusive `flock` on `<db>.lock` for as long
as it is open, so a second writer is refused with a clear error (or waits, if asked
to). SQLite's own `BEGIN IMMEDIATE` is the second line of defence. Readers take no
lock and read a consistent WAL snapshot.

Fail-stop: after any database error during a write the store refuses further writes
(as PostgreSQL does after an fsync failure), so it never continues on top of state it
is unsure of. Reopening re-reads everything from disk.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fairtrail.errors import (
    InputError,
    IntegrityError,
    ProofRequestError,
    StoreError,
    StoreFailedError,
    StoreLockedError,
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

__all__ = ["SqliteStore"]

SCHEMA_VERSION = 2  # 2: entries stored in bundles (1 had a row per entry)

#: Set before the first table exists; larger pages made bulk appends ~15% faster (bench/).
PAGE_SIZE = 16384

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Entries, several per row (see _bundles.py): bundle rows cover contiguous indices.
CREATE TABLE IF NOT EXISTS bundles (
    first INTEGER PRIMARY KEY, lengths BLOB NOT NULL, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tiles (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hashes BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY, root BLOB NOT NULL, note BLOB NOT NULL, compact BLOB NOT NULL
);
-- Witness cosignature lines (c2sp.org/tlog-cosignature) collected for a checkpoint.
CREATE TABLE IF NOT EXISTS cosignatures (
    size INTEGER NOT NULL REFERENCES checkpoints (size), line BLOB NOT NULL,
    PRIMARY KEY (size, line)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS cosignatures_append_only_u BEFORE UPDATE ON cosignatures
BEGIN SELECT RAISE(ABORT, 'cosignatures are append-only'); END;
CREATE TRIGGER IF NOT EXISTS cosignatures_append_only_d BEFORE DELETE ON cosignatures
BEGIN SELECT RAISE(ABORT, 'cosignatures are append-only'); END;
-- Guard rails against accidents (not against an attacker with the file: that is what
-- verification is for). Entries and checkpoints never change; tiles only grow.
CREATE TRIGGER IF NOT EXISTS bundles_append_only_u BEFORE UPDATE ON bundles
BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS bundles_append_only_d BEFORE DELETE ON bundles
BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_append_only_u BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_append_only_d BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS tiles_only_grow BEFORE UPDATE ON tiles
WHEN NEW.level != OLD.level OR NEW.idx != OLD.idx
  OR substr(NEW.hashes, 1, length(OLD.hashes)) != OLD.hashes
BEGIN SELECT RAISE(ABORT, 'tiles only grow'); END;
CREATE TRIGGER IF NOT EXISTS tiles_never_deleted BEFORE DELETE ON tiles
BEGIN SELECT RAISE(ABORT, 'tiles are append-only'); END;
"""

_TILE_CACHE_SIZE = 65536  # full tiles are immutable; 65536 * 512 B = 32 MiB at most


class SqliteStore:
    """A `Store` in one SQLite file. Use `SqliteStore.open(path, writer=True)`."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock_fd: int | None) -> None:
        self.path = path
        self._conn = conn
        self._lock_fd = lock_fd
        self._mutex = threading.RLock()
        self._failed: str | None = None
        self._tile_cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._frontier = TileFrontier()
        if lock_fd is not None:
            self._frontier = self._load_frontier()
            self._check_entries_match_tiles()

    # ---------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        writer: bool = False,
        create: bool = False,
        lock_timeout: float = 0.0,
    ) -> SqliteStore:
        """Open (or with `create`, create) the store at `path`.

        A writer takes the trail's exclusive lock, waiting up to `lock_timeout`
        seconds for another writer to finish; readers take no lock.
        """
        db = Path(path)
        if not create and not db.is_file():
            raise InputError(f"no log database at {db}")
        lock_fd = _acquire_lock(db, lock_timeout) if writer else None
        try:
            if writer:
                conn = sqlite3.connect(
                    db, isolation_level=None, check_same_thread=False, timeout=30.0
                )
            else:
                conn = sqlite3.connect(
                    f"{db.resolve().as_uri()}?mode=ro",
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=30.0,
                )
            try:
                _configure(conn, writer=writer, create=create)
            except BaseException:
                conn.close()
                raise
        except sqlite3.DatabaseError as exc:
            if lock_fd is not None:
                os.close(lock_fd)
            raise InputError(f"{db} is not a fairtrail log database ({exc})") from exc
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        return cls(db, conn, lock_fd)

    def close(self) -> None:
        with self._mutex:
            self._conn.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ state

    @property
    def writable(self) -> bool:
        return self._lock_fd is not None

    @property
    def size(self) -> int:
        if self.writable:
            return self._frontier.size
        with self._mutex:
            return self._read_size()

    def _read_size(self) -> int:
        row = self._conn.execute(
            "SELECT idx, length(CAST(hashes AS BLOB)) FROM tiles WHERE level = 0 "
            "ORDER BY idx DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return 0
        return int(row[0]) * TILE_WIDTH + int(row[1]) // HASH_SIZE

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
        row = self._conn.execute(
            "SELECT first, length(CAST(lengths AS BLOB)) FROM bundles ORDER BY first DESC LIMIT 1"
        ).fetchone()
        last = -1 if row is None else int(row[0]) + int(row[1]) // 4 - 1
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
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO bundles (first, lengths, data) VALUES (?, ?, ?)",
                    _bundles.pack(first, leaves),
                )
                conn.executemany(
                    "INSERT INTO tiles (level, idx, hashes) VALUES (?, ?, ?) "
                    "ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes",
                    [(lvl, idx, blob) for (lvl, idx), blob in writes.items()],
                )
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._fail(exc)
            self._frontier = frontier
            return first

    def _fail(self, exc: sqlite3.Error) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        self._failed = str(exc)
        raise StoreFailedError(f"write to {self.path} failed, store stopped: {exc}") from exc

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
        cursor = self._conn.execute(
            "SELECT first, CAST(lengths AS BLOB), CAST(data AS BLOB) FROM bundles "
            "WHERE first >= (SELECT COALESCE(MAX(first), 0) FROM bundles WHERE first <= ?) "
            "ORDER BY first",
            (start,),
        )
        out: list[tuple[int, bytes]] = []
        expected = None
        try:
            while len(out) < limit:
                batch = cursor.fetchmany(256)
                if not batch:
                    break
                for first, lengths, data in batch:
                    first = int(first)
                    if expected is not None and first < expected:
                        raise IntegrityError(
                            f"stored bundles overlap at entry {first}", index=first
                        )
                    entries = _bundles.unpack(first, lengths, data)
                    expected = first + len(entries)
                    skip = max(0, start - first)
                    out.extend(zip(range(first + skip, expected), entries[skip:], strict=True))
                    if len(out) >= limit:
                        break
        finally:
            cursor.close()
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
            rows = self._conn.execute(
                "SELECT idx, CAST(hashes AS BLOB) FROM tiles WHERE level = ? AND idx >= ? "
                "AND idx < ?",
                (level, start, end),
            ).fetchall()
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

    def _raw_tile(self, level: int, index: int) -> bytes:
        row = self._conn.execute(
            "SELECT CAST(hashes AS BLOB) FROM tiles WHERE level = ? AND idx = ?", (level, index)
        ).fetchone()
        return bytes(row[0]) if row else b""

    # ------------------------------------------------------------ checkpoints

    def checkpoints(self) -> list[StoredCheckpoint]:
        with self._mutex:
            rows = self._conn.execute(
                "SELECT size, CAST(root AS BLOB), CAST(note AS BLOB), CAST(compact AS BLOB) "
                "FROM checkpoints ORDER BY size"
            ).fetchall()
        return [_checkpoint(row) for row in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._mutex:
            row = self._conn.execute(
                "SELECT size, CAST(root AS BLOB), CAST(note AS BLOB), CAST(compact AS BLOB) "
                "FROM checkpoints ORDER BY size DESC LIMIT 1"
            ).fetchone()
        return _checkpoint(row) if row else None

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
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute(
                    "SELECT CAST(root AS BLOB) FROM checkpoints WHERE size = ?", (checkpoint.size,)
                ).fetchone()
                if row is None:
                    conn.execute(
                        "INSERT INTO checkpoints (size, root, note, compact) VALUES (?, ?, ?, ?)",
                        (checkpoint.size, checkpoint.root, checkpoint.note, checkpoint.compact),
                    )
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._fail(exc)
            if row is not None and bytes(row[0]) != checkpoint.root:
                raise IntegrityError(
                    f"a different checkpoint for size {checkpoint.size} already exists",
                    expected=bytes(row[0]),
                    actual=checkpoint.root,
                )

    def add_cosignatures(self, size: int, lines: Sequence[bytes]) -> None:
        """Keep witness signature lines for the checkpoint of `size` (already verified
        by the caller; duplicates are ignored)."""
        if not self.writable:
            raise StoreError("this store was opened read-only")
        with self._mutex:
            self._check_not_failed()
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                found = conn.execute("SELECT 1 FROM checkpoints WHERE size = ?", (size,))
                if found.fetchone() is None:
                    conn.execute("ROLLBACK")
                    raise StoreError(f"no checkpoint of size {size} to attach cosignatures to")
                conn.executemany(
                    "INSERT OR IGNORE INTO cosignatures (size, line) VALUES (?, ?)",
                    [(size, line) for line in lines],
                )
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._fail(exc)

    def cosignatures(self, size: int) -> list[bytes]:
        with self._mutex:
            try:
                rows = self._conn.execute(
                    "SELECT CAST(line AS BLOB) FROM cosignatures WHERE size = ? ORDER BY line",
                    (size,),
                ).fetchall()
            except sqlite3.OperationalError:  # a log made before cosignatures were kept
                return []
        return [bytes(r[0]) for r in rows]

    # --------------------------------------------------------------- helpers

    def snapshot(self) -> _Snapshot:
        """Every read inside the block sees one state of the log; yields its size.

        A reader holds one SQLite read transaction (a WAL snapshot) for the block, so a
        long check is not confused by another process appending meanwhile. Nested
        snapshots share the outer one. It holds the store's mutex: other threads using
        this store object wait.
        """
        return _Snapshot(self)

    def integrity_check(self) -> str:
        """SQLite's own `PRAGMA integrity_check` result ("ok" when the file is sound)."""
        with self._mutex:
            rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        return "; ".join(str(r[0]) for r in rows)

    def entry_count(self) -> tuple[int, int]:
        """(number of entry rows, highest entry index or -1)."""
        with self._mutex:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(length(CAST(lengths AS BLOB)) / 4), 0), "
                "COALESCE(MAX(first + length(CAST(lengths AS BLOB)) / 4) - 1, -1) FROM bundles"
            )
            count, last = row.fetchone()
        return int(count), int(last)


class _Snapshot:
    """Hold the store mutex and, for readers, one read transaction (a WAL snapshot)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._began = False

    def __enter__(self) -> int:
        store = self._store
        store._mutex.acquire()
        try:
            if store.writable:
                return store._frontier.size
            if not store._conn.in_transaction:  # else: nested, the outer snapshot holds
                store._conn.execute("BEGIN")
                self._began = True
            return store._read_size()  # the first read fixes the WAL snapshot
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        store = self._store
        try:
            if self._began:
                store._conn.execute("COMMIT")
        finally:
            store._mutex.release()


def _checkpoint(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(int(row[0]), bytes(row[1]), bytes(row[2]), bytes(row[3]))


def _check_range(start: int, end: int, size: int) -> None:
    if not 0 <= start <= end <= size:
        raise ProofRequestError(f"range [{start}, {end}) is outside the log (size {size})")


def _configure(conn: sqlite3.Connection, *, writer: bool, create: bool) -> None:
    conn.execute("PRAGMA busy_timeout = 30000")
    if writer:
        if create:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # no effect on an existing file
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"SQLite refused WAL mode (got {mode!r}); the store needs it")
    conn.execute("PRAGMA synchronous = FULL")
    sync = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    if sync < 2:
        raise StoreError(f"SQLite refused synchronous=FULL (got {sync}); refusing to run")
    if writer:
        # executescript() commits first by itself, so the schema goes in its own transaction.
        conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                if not create:
                    has_entries = conn.execute("SELECT COUNT(*) FROM bundles").fetchone()[0]
                    if has_entries:
                        raise StoreError("log database has entries but no schema version")
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )
            elif int(row[0]) != SCHEMA_VERSION:
                raise StoreError(
                    f"log database schema {row[0]} is not the supported {SCHEMA_VERSION}"
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    else:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"log database is not in WAL mode (got {mode!r})")


def _acquire_lock(db: Path, timeout: float) -> int:
    lock_path = db.with_name(db.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise StoreLockedError(
                    f"another process is writing to {db}; only one writer at a time"
                ) from None
            time.sleep(0.01)
