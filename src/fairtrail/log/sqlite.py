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
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fairtrail.errors import InputError, StoreError, StoreLockedError
from fairtrail.log._tiled import BundleRow, TiledStore
from fairtrail.log.store import StoredCheckpoint

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


class SqliteStore(TiledStore):
    """A `Store` in one SQLite file. Use `SqliteStore.open(path, writer=True)`."""

    _db_errors = (sqlite3.Error,)

    def __init__(self, path: Path, conn: sqlite3.Connection, lock_fd: int | None) -> None:
        super().__init__(str(path), lock_fd is not None)
        self.path = path
        self._conn = conn
        self._lock_fd = lock_fd
        if lock_fd is not None:
            self._start_writer()

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

    def integrity_check(self) -> str:
        """SQLite's own `PRAGMA integrity_check` result ("ok" when the file is sound)."""
        with self._mutex:
            rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        return "; ".join(str(r[0]) for r in rows)

    # ------------------------------------------------------- driver primitives

    def _raw_tile(self, level: int, index: int) -> bytes:
        row = self._conn.execute(
            "SELECT CAST(hashes AS BLOB) FROM tiles WHERE level = ? AND idx = ?", (level, index)
        ).fetchone()
        return bytes(row[0]) if row else b""

    def _raw_tiles(self, level: int, start: int, end: int) -> list[tuple[int, bytes]]:
        return self._conn.execute(
            "SELECT idx, CAST(hashes AS BLOB) FROM tiles WHERE level = ? AND idx >= ? AND idx < ?",
            (level, start, end),
        ).fetchall()

    def _raw_last_tile(self) -> tuple[int, int] | None:
        row = self._conn.execute(
            "SELECT idx, length(CAST(hashes AS BLOB)) FROM tiles WHERE level = 0 "
            "ORDER BY idx DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def _raw_last_bundle(self) -> tuple[int, int] | None:
        row = self._conn.execute(
            "SELECT first, length(CAST(lengths AS BLOB)) FROM bundles ORDER BY first DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def _raw_bundles_from(self, start: int) -> Iterator[BundleRow]:
        cursor = self._conn.execute(
            "SELECT first, CAST(lengths AS BLOB), CAST(data AS BLOB) FROM bundles "
            "WHERE first >= (SELECT COALESCE(MAX(first), 0) FROM bundles WHERE first <= ?) "
            "ORDER BY first",
            (start,),
        )
        try:
            while batch := cursor.fetchmany(256):
                for first, lengths, data in batch:
                    yield int(first), lengths, data
        finally:
            cursor.close()

    def _tx_append(self, bundles: list[BundleRow], tiles: list[tuple[int, int, bytes]]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO bundles (first, lengths, data) VALUES (?, ?, ?)", bundles)
        conn.executemany(
            "INSERT INTO tiles (level, idx, hashes) VALUES (?, ?, ?) "
            "ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes",
            tiles,
        )
        conn.execute("COMMIT")

    def _tx_add_checkpoint(self, checkpoint: StoredCheckpoint) -> bytes | None:
        conn = self._conn
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
        return None if row is None else bytes(row[0])

    def _tx_add_cosignatures(self, size: int, lines: Sequence[bytes]) -> bool:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("SELECT 1 FROM checkpoints WHERE size = ?", (size,)).fetchone() is None:
            conn.execute("ROLLBACK")
            return False
        conn.executemany(
            "INSERT OR IGNORE INTO cosignatures (size, line) VALUES (?, ?)",
            [(size, line) for line in lines],
        )
        conn.execute("COMMIT")
        return True

    def _raw_checkpoints(self, latest_only: bool) -> list[tuple[Any, ...]]:
        order = "DESC LIMIT 1" if latest_only else ""
        return self._conn.execute(
            "SELECT size, CAST(root AS BLOB), CAST(note AS BLOB), CAST(compact AS BLOB) "
            f"FROM checkpoints ORDER BY size {order}"
        ).fetchall()

    def _raw_cosignatures(self, size: int) -> list[bytes]:
        try:
            rows = self._conn.execute(
                "SELECT CAST(line AS BLOB) FROM cosignatures WHERE size = ? ORDER BY line",
                (size,),
            ).fetchall()
        except sqlite3.OperationalError:  # a log made before cosignatures were kept
            return []
        return [bytes(r[0]) for r in rows]

    def _raw_entry_count(self) -> tuple[int, int]:
        row = self._conn.execute(
            "SELECT COALESCE(SUM(length(CAST(lengths AS BLOB)) / 4), 0), "
            "COALESCE(MAX(first + length(CAST(lengths AS BLOB)) / 4) - 1, -1) FROM bundles"
        )
        count, last = row.fetchone()
        return int(count), int(last)

    def _begin_read(self) -> None:
        self._conn.execute("BEGIN")  # the first read inside fixes the WAL snapshot

    def _end_read(self) -> None:
        self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


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
