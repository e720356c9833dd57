from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from fairtrail.crypto import SigningKey
from fairtrail.log import SqliteStore, Store, TransparencyLog, _bundles
from fairtrail.log.checkpoint import Ed25519NoteVerifier
from fairtrail.log.postgres import PostgresStore

ORIGIN = "test.example/log"


#: stores opened by the helpers, closed after each test (tests/log/conftest.py)
OPENED: list[Store] = []


def open_store(
    db: Path | str, *, writer: bool = True, create: bool = True, lock_timeout: float = 0.0
) -> Store:
    """The store at `db`: a SQLite file's path, or a PostgreSQL URL."""
    store: Store
    if isinstance(db, str) and db.startswith("postgresql://"):
        store = PostgresStore.open(db, writer=writer, create=create, lock_timeout=lock_timeout)
    else:
        store = SqliteStore.open(db, writer=writer, create=create, lock_timeout=lock_timeout)
    OPENED.append(store)
    return store


def make_log(
    db: Path | str,
    key: SigningKey | None = None,
    *,
    writer: bool = True,
    create: bool = True,
    lock_timeout: float = 0.0,
) -> TransparencyLog:
    key = key or SigningKey.generate()
    store = open_store(db, writer=writer, create=create, lock_timeout=lock_timeout)
    return TransparencyLog(store, Ed25519NoteVerifier(ORIGIN, key.public), key if writer else None)


def leaf(i: int) -> bytes:
    return b"entry-%d|" % i + bytes(i % 37)


# --- Tampering with a stored log, the way an attacker with the file could -------------

GUARD_TRIGGERS = (
    "bundles_append_only_u",
    "bundles_append_only_d",
    "tiles_only_grow",
    "tiles_never_deleted",
    "checkpoints_append_only_u",
    "checkpoints_append_only_d",
)


def drop_guards(conn: sqlite3.Connection) -> None:
    for trigger in GUARD_TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")


def _bundle_of(conn: sqlite3.Connection, index: int) -> tuple[int, list[bytes]]:
    first, lengths, data = conn.execute(
        "SELECT first, lengths, data FROM bundles WHERE first <= ? ORDER BY first DESC LIMIT 1",
        (index,),
    ).fetchone()
    return first, _bundles.unpack(first, lengths, data)


def _write_bundle(conn: sqlite3.Connection, first: int, entries: list[bytes]) -> None:
    conn.execute("DELETE FROM bundles WHERE first = ?", (first,))
    if entries:  # one row, whatever pack() would do: tests keep bundles small
        lengths = struct.pack(f">{len(entries)}I", *map(len, entries))
        conn.execute(
            "INSERT INTO bundles (first, lengths, data) VALUES (?, ?, ?)",
            (first, lengths, b"".join(entries)),
        )


def rewrite_entry(db: Path, index: int, change: Callable[[bytes], bytes]) -> None:
    """Replace entry `index` by `change(entry)`, keeping its bundle well-formed."""
    with closing(sqlite3.connect(db)) as conn:
        drop_guards(conn)
        first, entries = _bundle_of(conn, index)
        entries[index - first] = change(entries[index - first])
        _write_bundle(conn, first, entries)
        conn.commit()


def delete_entries(db: Path, start: int, end: int | None = None) -> None:
    """Remove entries [start, end) (to the end of the log if `end` is None)."""
    with closing(sqlite3.connect(db)) as conn:
        drop_guards(conn)
        rows = conn.execute("SELECT first, lengths, data FROM bundles ORDER BY first").fetchall()
        conn.execute("DELETE FROM bundles")
        for first, lengths, data in rows:
            entries = _bundles.unpack(first, lengths, data)
            keep = [
                (first + k, e)
                for k, e in enumerate(entries)
                if not (start <= first + k and (end is None or first + k < end))
            ]
            # regroup what is left into runs of contiguous indices
            run: list[bytes] = []
            run_first = None
            for i, e in keep:
                if run and run_first is not None and i != run_first + len(run):
                    _write_bundle(conn, run_first, run)
                    run = []
                if not run:
                    run_first = i
                run.append(e)
            if run and run_first is not None:
                _write_bundle(conn, run_first, run)
        conn.commit()
