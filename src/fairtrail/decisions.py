"""Individual model decisions at volume: one signed statement per batch, a Merkle tree
per batch, personal inputs in the vault.

Each decision becomes a record `{"id", "model", "input": {"sha256": commitment},
"output", "time"}` whose `input` is SHA-256 over a 128-bit random salt and the input's
bytes; the salt and the input are sealed in the vault under the decision's data subject,
so erasing the subject leaves the commitment unopenable. A batch's records are the
leaves of an RFC 9162 tree; one DecisionBatch statement, signed by the recorder, carries
its root. So a single decision is proved by its record, its path to the batch root, and
the batch statement's inclusion proof: tens of thousands per second, each provable.

Records live in `<trail>/decisions.db`, which holds no personal data. A batch is written
there as pending before its statement is appended and marked with the statement's index
after; a pending batch whose statement never landed (a crash) is dropped on the next run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import os
import sqlite3
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring as _string  # the C escaper json.dumps uses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtrail._sqlite import connect_durable
from fairtrail.crypto.canonical import parse_json
from fairtrail.errors import FairtrailError, InputError, IntegrityError
from fairtrail.log import merkle
from fairtrail.privacy._sealer import Sealer
from fairtrail.privacy.vault import MAX_VALUE_BYTES, Vault, check_subject
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.trail import Trail

__all__ = [
    "BATCH_PREDICATE",
    "BatchResult",
    "DecisionStore",
    "Located",
    "read_decisions",
    "record_decisions",
]

BATCH_PREDICATE = predicate_type("decision-batch")
MAX_BATCH = 100_000
MAX_INPUT_BYTES = MAX_VALUE_BYTES - 16  # the salt is sealed with it
_INPUT_DOMAIN = b"fairtrail-decision-input/v1\x00"
_SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    n INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, entry INTEGER, root BLOB NOT NULL,
    count INTEGER NOT NULL, created REAL NOT NULL
);
-- a batch's records, 256 to a row in batch order: id = batch << 20 | chunk number, and
-- each record is its 4-byte length then its bytes
CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY, records BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    id TEXT PRIMARY KEY, batch INTEGER NOT NULL, pos INTEGER NOT NULL
) WITHOUT ROWID;
-- each batch tree's perfect-subtree hashes, one blob per level (32 bytes per node), so a
-- decision's path is a few small reads instead of rebuilding the tree
CREATE TABLE IF NOT EXISTS levels (
    batch INTEGER NOT NULL, level INTEGER NOT NULL, hashes BLOB NOT NULL,
    PRIMARY KEY (batch, level)
);
"""
CHUNK = 256
_LEN = struct.Struct(">I")


def commit_input(salt: bytes, data: bytes) -> str:
    return hashlib.sha256(_INPUT_DOMAIN + salt + data).hexdigest()


@dataclass(frozen=True)
class BatchResult:
    batch: str
    entry: int
    count: int
    root: str


@dataclass(frozen=True)
class Located:
    """A recorded decision: its record, where it sits, and its path to the batch root."""

    record: dict[str, Any]
    raw: bytes
    batch: str
    entry: int
    position: int
    path: list[bytes]


class DecisionStore:
    def __init__(self, path: Path) -> None:
        self._db = connect_durable(path)
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION) or (version == 0 and tables):
                raise IntegrityError(
                    f"{path.name} has schema version {version} and this fairtrail reads "
                    f"version {_SCHEMA_VERSION}; record decisions into a new trail"
                )
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DecisionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def known(self, ids: list[str]) -> list[str]:
        found: list[str] = []
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            marks = ",".join("?" * len(chunk))
            found += [r[0] for r in self._db.execute(
                f"SELECT id FROM decisions WHERE id IN ({marks})", chunk)]  # fmt: skip
        return found

    def add_pending(
        self,
        batch: str,
        root: bytes,
        ids: list[str],
        records: list[bytes],
        levels: list[list[bytes]],
    ) -> None:
        """Write a batch as pending (no log entry yet), all or nothing."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            n = self._db.execute(
                "INSERT INTO batches (name, entry, root, count, created) "
                "VALUES (?, NULL, ?, ?, ?) RETURNING n",
                (batch, root, len(records), time.time()),
            ).fetchone()[0]
            self._db.executemany(
                "INSERT INTO decisions (id, batch, pos) VALUES (?, ?, ?)",
                zip(ids, itertools.repeat(n), range(len(ids)), strict=False),
            )
            pack = _LEN.pack
            self._db.executemany(
                "INSERT INTO chunks (id, records) VALUES (?, ?)",
                [
                    (n << 20 | c, b"".join(pack(len(r)) + r for r in records[at : at + CHUNK]))
                    for c, at in enumerate(range(0, len(records), CHUNK))
                ],
            )
            self._db.executemany(
                "INSERT INTO levels (batch, level, hashes) VALUES (?, ?, ?)",
                [(n, level, b"".join(hashes)) for level, hashes in enumerate(levels)],
            )
            self._db.execute("COMMIT")
        except sqlite3.IntegrityError:
            self._db.execute("ROLLBACK")
            already = self.known(ids)
            if already:
                raise InputError(
                    f"decision id {already[0]!r} is already recorded; nothing of this batch was"
                ) from None
            raise
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def mark(self, batch: str, entry: int) -> None:
        self._db.execute("UPDATE batches SET entry = ? WHERE name = ?", (entry, batch))

    def pending(self) -> list[tuple[str, bytes]]:
        return [(r[0], bytes(r[1])) for r in self._db.execute(
            "SELECT name, root FROM batches WHERE entry IS NULL")]  # fmt: skip

    def drop(self, batch: str) -> None:
        row = self._db.execute("SELECT n FROM batches WHERE name = ?", (batch,)).fetchone()
        if row is None:
            return
        n = row[0]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for (data,) in self._db.execute(
                "SELECT records FROM chunks WHERE id >= ? AND id < ?", (n << 20, (n + 1) << 20)
            ).fetchall():
                ids = [(json.loads(r)["id"],) for r in _records(_blob(data))]
                self._db.executemany("DELETE FROM decisions WHERE id = ?", ids)
            self._db.execute(
                "DELETE FROM chunks WHERE id >= ? AND id < ?", (n << 20, (n + 1) << 20)
            )
            self._db.execute("DELETE FROM levels WHERE batch = ?", (n,))
            self._db.execute("DELETE FROM batches WHERE n = ?", (n,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def find(self, decision_id: str) -> Located | None:
        """The decision, if its batch made it onto the log; None otherwise."""
        row = self._db.execute(
            "SELECT b.n, b.name, d.pos, b.entry, b.count FROM decisions d "
            "JOIN batches b ON b.n = d.batch WHERE d.id = ?",
            (decision_id,),
        ).fetchone()
        if row is None or row[3] is None:
            return None
        n, name, pos, entry, count = row
        chunk = self._db.execute(
            "SELECT records FROM chunks WHERE id = ?", (n << 20 | pos // CHUNK,)
        ).fetchone()
        records = [] if chunk is None else _records(_blob(chunk[0]))
        if pos % CHUNK >= len(records):
            raise IntegrityError(f"decision batch {name}: stored records are damaged")
        raw = records[pos % CHUNK]

        def subtree(level: int, index: int) -> bytes:
            got = self._db.execute(
                "SELECT substr(hashes, ?, 32) FROM levels WHERE batch = ? AND level = ?",
                (index * 32 + 1, n, level),
            ).fetchone()
            value = b"" if got is None else _blob(got[0])
            if len(value) != 32:
                raise IntegrityError(f"decision batch {name}: stored tree is damaged")
            return value

        # the path is checked against the signed batch root by whoever uses it (trace,
        # receipts): a record or hash edited in decisions.db fails there
        path = merkle.inclusion_proof(int(pos), int(count), subtree)
        try:
            record = json.loads(raw)
        except ValueError:
            raise IntegrityError(f"decision batch {name}: stored records are damaged") from None
        return Located(record, raw, str(name), int(entry), int(pos), path)


def _records(data: bytes) -> list[bytes]:
    out = []
    at = 0
    while at + 4 <= len(data):
        (size,) = _LEN.unpack_from(data, at)
        out.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    if at != len(data):
        raise IntegrityError("a decision chunk in decisions.db is damaged")
    return out


def _blob(value: Any) -> bytes:
    """A stored BLOB; a row edited by hand may come back as TEXT, which then simply
    fails the root check instead of crashing."""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _time(value: Any, where: str) -> str:
    text = str(value).strip()
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{where}: time {text[:40]!r} is not ISO 8601") from None
    return text


def read_decisions(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a .csv (columns decision_id, model, output, time, [subject], and every
    other column is an input field) or .jsonl file ({"id", "model", "input", "output",
    "time", "subject"?})."""
    suffix = path.suffix.lower()
    try:
        f = path.open("r", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    with f:
        if suffix == ".csv":
            reader = csv.DictReader(f)
            required = {"decision_id", "model", "output", "time"}
            missing = required - set(reader.fieldnames or [])
            if missing:
                raise InputError(f"{path.name}: missing column(s) {', '.join(sorted(missing))}")
            for n, row in enumerate(reader, start=2):
                fixed = {"decision_id", "model", "output", "time", "subject"}
                yield {
                    "id": row["decision_id"], "model": row["model"], "output": row["output"],
                    "time": row["time"], "subject": row.get("subject") or None,
                    "input": {k: v for k, v in row.items() if k not in fixed},
                    "_where": f"{path.name} line {n}",
                }  # fmt: skip
        elif suffix in (".jsonl", ".ndjson"):
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                value = parse_json(line, what=f"{path.name} line {n}", max_bytes=1 << 20)
                if not isinstance(value, dict):
                    raise InputError(f"{path.name} line {n}: not a JSON object")
                yield value | {"_where": f"{path.name} line {n}"}
        else:
            raise InputError(f"{path.name}: decisions come as .csv or .jsonl")


def record_decisions(
    trail: Trail,
    rows: Iterable[dict[str, Any]],
    signer: SigningKey,
    *,
    batch_size: int = 50_000,
) -> list[BatchResult]:
    """Record decisions in batches. A batch's statement is appended only once its records
    (decisions.db) and inputs (vault) are durable; returns one result per batch.

    With more than one batch, a helper process seals batch N into the vault while this
    one builds and stores batch N+1 (see `privacy._sealer`). The trail's single-writer
    lock, held by the caller's writable `Trail`, keeps other recorders out meanwhile."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise InputError(f"batch size must be 1..{MAX_BATCH}")
    from fairtrail.lifecycle.models import resolve_model

    models: dict[str, tuple[dict[str, str], str]] = {}
    results: list[BatchResult] = []
    vault_path = trail.paths.secrets / "vault.db"
    with (
        DecisionStore(trail.paths.root / "decisions.db") as store,
        Vault(vault_path) as vault,
        contextlib.ExitStack() as helper,
    ):
        _reconcile(trail, store, vault)
        sealer: Sealer | None = None
        in_flight: _Prepared | None = None
        try:
            for chunk in _chunks(rows, batch_size):
                if sealer is None and not chunk.last:  # starts while batch 1 is built
                    sealer = helper.enter_context(Sealer(vault_path))
                prepared = _prepare(trail, store, chunk, models, resolve_model)
                if in_flight is not None:
                    assert sealer is not None
                    sealer.wait()  # batch N sealed while N+1 was built
                    results.append(_finish(trail, store, in_flight, signer))
                    in_flight = None
                if sealer is None:
                    vault.seal_batch(prepared.batch, prepared.sealed)
                    results.append(_finish(trail, store, prepared, signer))
                else:
                    sealer.submit(prepared.batch, prepared.sealed)
                    in_flight = prepared
            if in_flight is not None:
                assert sealer is not None
                sealer.wait()
                results.append(_finish(trail, store, in_flight, signer))
        except BaseException as exc:
            if in_flight is not None and sealer is not None and isinstance(exc, InputError):
                # a bad row refuses its own batch only: the one before it still lands
                with contextlib.suppress(FairtrailError):
                    sealer.wait()
                    results.append(_finish(trail, store, in_flight, signer))
            helper.close()  # the helper finishes or dies before its batch is dropped
            _reconcile(trail, store, vault)
            raise
    return results


class _Chunk(list[dict[str, Any]]):
    last = False


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[_Chunk]:
    """Batches of `size` rows, the final one marked `last` (known by reading one ahead)."""
    chunk = _Chunk()
    for row in rows:
        if len(chunk) == size:
            yield chunk
            chunk = _Chunk()
        chunk.append(row)
    if chunk:
        chunk.last = True
        yield chunk


def _reconcile(trail: Trail, store: DecisionStore, vault: Vault) -> None:
    """Finish what a crash or refusal interrupted: a pending batch whose statement is on
    the log is marked; one whose statement never landed is dropped, vault first (so a
    crash here leaves it pending and the next run drops it again)."""
    for batch, root in store.pending():
        found = trail.indices_about({"sha256": root.hex()}, BATCH_PREDICATE)
        if found:
            store.mark(batch, found[-1])
        else:
            vault.drop_batch(batch)
            store.drop(batch)


@dataclass
class _Prepared:
    """A batch written to decisions.db as pending, with its inputs ready to seal."""

    batch: str
    root: bytes
    count: int
    sealed: list[tuple[str, str, bytes]]
    models: list[dict[str, str]]
    first: str
    last: str


def _prepare(
    trail: Trail,
    store: DecisionStore,
    rows: list[dict[str, Any]],
    models: dict[str, tuple[dict[str, str], str]],
    resolve: Any,
) -> _Prepared:
    ids: list[str] = []
    records: list[bytes] = []
    sealed: list[tuple[str, str, bytes]] = []
    seen: set[str] = set()
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
    salts = os.urandom(16 * len(rows))  # one draw for the whole batch
    sha256 = hashlib.sha256
    subjects: set[str] = set()
    in_batch: dict[str, dict[str, str]] = {}
    checked_time = first = last = None
    for pos, row in enumerate(rows):
        did = row.get("id") or row.get("decision_id") or ""
        if not isinstance(did, str):
            did = str(did)
        if not did or len(did) > 128 or not did.isprintable() or did in seen:
            where = row.get("_where", f"row {pos + 1}")
            if did in seen:
                raise InputError(f"{where}: decision id {did!r} appears twice")
            raise InputError(f"{where}: a decision id is 1-128 printable characters")
        seen.add(did)
        ref = row.get("model") or ""
        model = models.get(ref)
        if model is None:
            if not ref:
                raise InputError(f"{row.get('_where', f'row {pos + 1}')}: no model")
            digest = dict(resolve(trail, str(ref)).digest)
            model = models[ref] = (digest, dumps(digest))
        in_batch[model[1]] = model[0]
        when = row.get("time")
        if when != checked_time or not isinstance(when, str):  # rows often share a time
            when = _time(when, row.get("_where", f"row {pos + 1}"))
            checked_time = when
        first = first or when
        last = when
        data = dumps(row.get("input", {})).encode("utf-8")
        if len(data) > MAX_INPUT_BYTES:
            where = row.get("_where", f"row {pos + 1}")
            raise InputError(f"{where}: the input is over {MAX_INPUT_BYTES} bytes as JSON")
        salt = salts[16 * pos : 16 * pos + 16]
        output = row.get("output")
        # the same bytes json.dumps(record, sort_keys=True, ensure_ascii=False) gives
        records.append(
            f'{{"id":{_string(did)},"input":{{"sha256":"'
            f'{sha256(_INPUT_DOMAIN + salt + data).hexdigest()}"}},"model":{model[1]},'
            f'"output":{_string(output) if type(output) is str else dumps(output)},'
            f'"time":{_string(when)}}}'.encode()
        )
        ids.append(did)
        subject = str(row.get("subject") or f"decision:{did}")
        subjects.add(subject)
        sealed.append((subject, f"decision-input:{did}", salt + data))
    for subject in subjects:  # refused here, before anything is written
        check_subject(subject)
    levels = merkle.levels([merkle.leaf_hash(r) for r in records])
    root = merkle.range_hash(0, len(records), lambda level, index: levels[level][index])
    batch = f"batch-{int(time.time())}-{root.hex()[:12]}"
    # the store first: it refuses ids already recorded before the vault is touched
    store.add_pending(batch, root, ids, records, levels)
    assert first is not None and last is not None
    return _Prepared(batch, root, len(records), sealed, list(in_batch.values()), first, last)


def _finish(
    trail: Trail, store: DecisionStore, prepared: _Prepared, signer: SigningKey
) -> BatchResult:
    """Append the batch's statement (its records and inputs are durable by now)."""
    root = prepared.root.hex()
    statement = Statement(
        subject=[Subject(name=f"decision-batch:{prepared.batch}", digest={"sha256": root})]
        + [Subject(name="model", digest=d) for d in prepared.models[:7]],
        predicate_type=BATCH_PREDICATE,
        predicate={
            "batch": prepared.batch, "count": prepared.count, "root": root,
            "tree": "RFC 9162 SHA-256 over the records' bytes, in order",
            "models": prepared.models, "first": prepared.first, "last": prepared.last,
            "input": "SHA-256('fairtrail-decision-input/v1' || 0x00 || 16-byte salt || input JSON)",
        },
    )  # fmt: skip
    receipt = trail.record(statement, signer)
    store.mark(prepared.batch, receipt.index)
    return BatchResult(prepared.batch, receipt.index, prepared.count, root)
