"""The server's log store: PostgreSQL, with the same guarantees as the SQLite store.

Why PostgreSQL: a shared trail is served by processes that may run on other machines
than the database, and PostgreSQL is the database such teams already back up, replicate
and monitor. The schema is the SQLite one (entry bundles, height-4 tiles, checkpoints,
cosignatures), so proofs cost the same few point reads.

The guarantees, and how they are kept here:
- **One sequencer.** A writer holds a session-level advisory lock on its connection
  for as long as it is open. A second writer, from any host, is refused (or waits up to
  `lock_timeout`). If the connection drops, the lock goes with it and the store stops.
- **Durable acknowledgements.** `fsync` must be on in the server and the session runs
  with `synchronous_commit = on`; both are checked at open, not assumed. An append is
  one transaction; it returns after COMMIT, when the WAL is flushed.
- **Fail-stop.** Any database error during a write stops the store (the base class);
  reopening re-reads the frontier from the database.
- **Snapshots.** A reader's `snapshot()` is one REPEATABLE READ, READ ONLY transaction.
- **Guard rails.** Triggers refuse UPDATE, DELETE and TRUNCATE of entries, checkpoints
  and cosignatures, and any tile change that is not growth.

A URL is `postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME`; the password never appears in
messages (`name` keeps the rest).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from fairtrail.errors import InputError, StoreError, StoreLockedError
from fairtrail.log._tiled import BundleRow, TiledStore
from fairtrail.log.store import StoredCheckpoint

__all__ = ["PostgresStore", "redact_url"]

SCHEMA_VERSION = 2  # the SQLite store's schema version: the same tables

#: the advisory lock key every fairtrail writer takes (one log per database)
_LOCK_KEY = 0x6661697274726C  # "fairtrl"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bundles (
    first BIGINT PRIMARY KEY, lengths BYTEA NOT NULL, data BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS tiles (
    level INTEGER NOT NULL, idx BIGINT NOT NULL, hashes BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    size BIGINT PRIMARY KEY, root BYTEA NOT NULL, note BYTEA NOT NULL, compact BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS cosignatures (
    size BIGINT NOT NULL REFERENCES checkpoints (size), line BYTEA NOT NULL,
    PRIMARY KEY (size, line)
);
CREATE OR REPLACE FUNCTION fairtrail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '% are append-only', TG_TABLE_NAME; END $$;
CREATE OR REPLACE FUNCTION fairtrail_tiles_only_grow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.level <> OLD.level OR NEW.idx <> OLD.idx
     OR substring(NEW.hashes FROM 1 FOR length(OLD.hashes)) <> OLD.hashes THEN
    RAISE EXCEPTION 'tiles only grow';
  END IF;
  RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER bundles_append_only BEFORE UPDATE OR DELETE ON bundles
  FOR EACH ROW EXECUTE FUNCTION fairtrail_append_only();
CREATE OR REPLACE TRIGGER bundles_no_truncate BEFORE TRUNCATE ON bundles
  FOR EACH STATEMENT EXECUTE FUNCTION fairtrail_append_only();
CREATE OR REPLACE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
  FOR EACH ROW EXECUTE FUNCTION fairtrail_append_only();
CREATE OR REPLACE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION fairtrail_append_only();
CREATE OR REPLACE TRIGGER cosignatures_append_only BEFORE UPDATE OR DELETE ON cosignatures
  FOR EACH ROW EXECUTE FUNCTION fairtrail_append_only();
CREATE OR REPLACE TRIGGER cosignatures_no_truncate BEFORE TRUNCATE ON cosignatures
  FOR EACH STATEMENT EXECUTE FUNCTION fairtrail_append_only();
CREATE OR REPLACE TRIGGER tiles_only_grow BEFORE UPDATE ON tiles
  FOR EACH ROW EXECUTE FUNCTION fairtrail_tiles_only_grow();
CREATE OR REPLACE TRIGGER tiles_never_deleted BEFORE DELETE ON tiles
  FOR EACH ROW EXECUTE FUNCTION fairtrail_append_only();
CREATE OR REPLACE TRIGGER tiles_no_truncate BEFORE TRUNCATE ON tiles
  FOR EACH STATEMENT EXECUTE FUNCTION fairtrail_append_only();
"""

_PAGE = 256  # bundle rows fetched per query (a client-side cursor holds a whole result)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - an extra of the server
        raise InputError(
            "the PostgreSQL store needs psycopg: pip install 'fairtrail[server]'"
        ) from None
    return psycopg


def redact_url(url: str) -> str:
    """`url` without its password (for messages and logs)."""
    psycopg = _psycopg()
    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unparsable URL)"
    host = parts.get("host", "")
    port = f":{parts['port']}" if parts.get("port") else ""
    user = f"{parts['user']}@" if parts.get("user") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname', '')}"


class PostgresStore(TiledStore):
    """A `Store` in a PostgreSQL database. Use `PostgresStore.open(url, writer=True)`."""

    def __init__(self, url: str, conn: Any, writer: bool) -> None:
        super().__init__(redact_url(url), writer)
        self._db_errors = (_psycopg().Error,)
        self.url = url
        self._conn = conn
        if writer:
            self._start_writer()

    @classmethod
    def open(
        cls, url: str, *, writer: bool = False, create: bool = False, lock_timeout: float = 0.0
    ) -> PostgresStore:
        """Connect to the log at `url`; a writer takes the log's sequencer lock."""
        psycopg = _psycopg()
        name = redact_url(url)
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise InputError(f"cannot connect to {name}: {_first_line(exc)}") from None
        try:
            _configure(conn, name, writer=writer, create=create, lock_timeout=lock_timeout)
            return cls(url, conn, writer)
        except psycopg.Error as exc:
            conn.close()
            raise InputError(f"{name} is not a usable fairtrail log: {_first_line(exc)}") from None
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        with self._mutex:
            self._conn.close()  # the advisory lock ends with the session

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------- driver primitives

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql, params).fetchone()

    def _raw_tile(self, level: int, index: int) -> bytes:
        row = self._one("SELECT hashes FROM tiles WHERE level = %s AND idx = %s", (level, index))
        return bytes(row[0]) if row else b""

    def _raw_tiles(self, level: int, start: int, end: int) -> list[tuple[int, bytes]]:
        rows = self._conn.execute(
            "SELECT idx, hashes FROM tiles WHERE level = %s AND idx >= %s AND idx < %s",
            (level, start, end),
        ).fetchall()
        return [(int(i), bytes(h)) for i, h in rows]

    def _raw_last_tile(self) -> tuple[int, int] | None:
        row = self._one(
            "SELECT idx, length(hashes) FROM tiles WHERE level = 0 ORDER BY idx DESC LIMIT 1"
        )
        return None if row is None else (int(row[0]), int(row[1]))

    def _raw_last_bundle(self) -> tuple[int, int] | None:
        row = self._one("SELECT first, length(lengths) FROM bundles ORDER BY first DESC LIMIT 1")
        return None if row is None else (int(row[0]), int(row[1]))

    def _raw_bundles_from(self, start: int) -> Iterator[BundleRow]:
        rows = self._conn.execute(
            "SELECT first, lengths, data FROM bundles WHERE first >= "
            "(SELECT COALESCE(MAX(first), 0) FROM bundles WHERE first <= %s) "
            "ORDER BY first LIMIT %s",
            (start, _PAGE),
        ).fetchall()
        while rows:
            for first, lengths, data in rows:
                yield int(first), bytes(lengths), bytes(data)
            if len(rows) < _PAGE:
                return
            rows = self._conn.execute(
                "SELECT first, lengths, data FROM bundles WHERE first > %s ORDER BY first LIMIT %s",
                (int(rows[-1][0]), _PAGE),
            ).fetchall()

    def _tx_append(self, bundles: list[BundleRow], tiles: list[tuple[int, int, bytes]]) -> None:
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bundles (first, lengths, data) VALUES (%s, %s, %s)", bundles
            )
            cur.executemany(
                "INSERT INTO tiles (level, idx, hashes) VALUES (%s, %s, %s) "
                "ON CONFLICT (level, idx) DO UPDATE SET hashes = EXCLUDED.hashes",
                tiles,
            )

    def _tx_add_checkpoint(self, checkpoint: StoredCheckpoint) -> bytes | None:
        with self._conn.transaction():
            row = self._one(
                "INSERT INTO checkpoints (size, root, note, compact) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (size) DO NOTHING RETURNING size",
                (checkpoint.size, checkpoint.root, checkpoint.note, checkpoint.compact),
            )
            if row is not None:
                return None
            existing = self._one("SELECT root FROM checkpoints WHERE size = %s", (checkpoint.size,))
            return bytes(existing[0])

    def _tx_add_cosignatures(self, size: int, lines: Sequence[bytes]) -> bool:
        with self._conn.transaction():
            if self._one("SELECT 1 FROM checkpoints WHERE size = %s", (size,)) is None:
                return False
            with self._conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO cosignatures (size, line) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    [(size, line) for line in lines],
                )
            return True

    def _raw_checkpoints(self, latest_only: bool) -> list[tuple[Any, ...]]:
        order = "DESC LIMIT 1" if latest_only else ""
        rows = self._conn.execute(
            f"SELECT size, root, note, compact FROM checkpoints ORDER BY size {order}"
        ).fetchall()
        return [tuple(r) for r in rows]

    def _raw_cosignatures(self, size: int) -> list[bytes]:
        rows = self._conn.execute(
            "SELECT line FROM cosignatures WHERE size = %s ORDER BY line", (size,)
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    def _raw_entry_count(self) -> tuple[int, int]:
        row = self._one(
            "SELECT COALESCE(SUM(length(lengths) / 4), 0), "
            "COALESCE(MAX(first + length(lengths) / 4) - 1, -1) FROM bundles"
        )
        return int(row[0]), int(row[1])

    def _begin_read(self) -> None:
        self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def _end_read(self) -> None:
        self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        try:
            if self._conn.info.transaction_status != 0:  # not idle
                self._conn.rollback()
        except Exception:  # the connection may be gone: the store is stopping anyway
            pass


def _configure(conn: Any, name: str, *, writer: bool, create: bool, lock_timeout: float) -> None:
    fsync = conn.execute("SHOW fsync").fetchone()[0]
    if str(fsync).lower() != "on":
        raise StoreError(f"{name} runs with fsync={fsync}; the log needs fsync=on")
    conn.execute("SET synchronous_commit = on")
    if str(conn.execute("SHOW synchronous_commit").fetchone()[0]).lower() != "on":
        raise StoreError(f"{name} refused synchronous_commit=on; refusing to run")
    if not writer:
        if conn.execute("SELECT to_regclass('meta')").fetchone()[0] is None:
            raise InputError(f"no fairtrail log in {name}")
        return
    deadline = time.monotonic() + max(0.0, lock_timeout)
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()[0]:
        if time.monotonic() >= deadline:
            raise StoreLockedError(
                f"another process is writing to {name}; only one writer at a time"
            )
        time.sleep(0.05)
    with conn.transaction():
        fresh = conn.execute("SELECT to_regclass('meta')").fetchone()[0] is None
        if fresh and not create:
            raise InputError(
                f"no fairtrail log in {name} (create one with `fairtrail init --db URL`)"
            )
        conn.execute(_SCHEMA)
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema', %s)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(
                f"{name} holds log schema {row[0]}, not the supported {SCHEMA_VERSION}"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
