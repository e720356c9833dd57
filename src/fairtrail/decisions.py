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

import csv
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtrail._sqlite import connect_durable
from fairtrail.crypto.canonical import parse_json
from fairtrail.errors import InputError, IntegrityError
from fairtrail.log import merkle
from fairtrail.privacy.vault import Vault
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.trail import Trail

__all__ = [
    "BATCH_PREDICATE",
    "BatchResult",
    "DecisionStore",
    "read_decisions",
    "record_decisions",
]

BATCH_PREDICATE = predicate_type("decision-batch")
MAX_BATCH = 100_000
_INPUT_DOMAIN = b"fairtrail-decision-input/v1\x00"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    batch TEXT PRIMARY KEY, entry INTEGER, root BLOB NOT NULL, count INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id TEXT PRIMARY KEY, batch TEXT NOT NULL REFERENCES batches (batch),
    pos INTEGER NOT NULL, record BLOB NOT NULL, time TEXT NOT NULL, model TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_batch ON decisions (batch, pos);
-- each batch tree's perfect-subtree hashes, one blob per level (32 bytes per node), so a
-- decision's path is a few small reads instead of rebuilding the tree
CREATE TABLE IF NOT EXISTS levels (
    batch TEXT NOT NULL REFERENCES batches (batch), level INTEGER NOT NULL,
    hashes BLOB NOT NULL, PRIMARY KEY (batch, level)
);
"""


def commit_input(salt: bytes, data: bytes) -> str:
    return hashlib.sha256(_INPUT_DOMAIN + salt + data).hexdigest()


@dataclass(frozen=True)
class BatchResult:
    batch: str
    entry: int
    count: int
    root: str


class DecisionStore:
    def __init__(self, path: Path) -> None:
        self._db = connect_durable(path)
        self._db.executescript(_SCHEMA)

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
        rows: list[tuple[str, int, bytes, str, str]],
        levels: list[list[bytes]],
    ) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT INTO batches (batch, entry, root, count, created) "
                "VALUES (?, NULL, ?, ?, ?)",
                (batch, root, len(rows), time.time()),
            )
            self._db.executemany(
                "INSERT INTO decisions (id, batch, pos, record, time, model) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(i, batch, pos, rec, t, m) for i, pos, rec, t, m in rows],
            )
            self._db.executemany(
                "INSERT INTO levels (batch, level, hashes) VALUES (?, ?, ?)",
                [(batch, n, b"".join(hashes)) for n, hashes in enumerate(levels)],
            )
            self._db.execute("COMMIT")
        except sqlite3.IntegrityError:
            self._db.execute("ROLLBACK")
            raise InputError("a decision id in this batch is already recorded") from None
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def mark(self, batch: str, entry: int) -> None:
        self._db.execute("UPDATE batches SET entry = ? WHERE batch = ?", (entry, batch))

    def pending(self) -> list[tuple[str, bytes]]:
        return [(r[0], bytes(r[1])) for r in self._db.execute(
            "SELECT batch, root FROM batches WHERE entry IS NULL")]  # fmt: skip

    def drop(self, batch: str) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute("DELETE FROM decisions WHERE batch = ?", (batch,))
        self._db.execute("DELETE FROM levels WHERE batch = ?", (batch,))
        self._db.execute("DELETE FROM batches WHERE batch = ?", (batch,))
        self._db.execute("COMMIT")

    def find(self, decision_id: str) -> tuple[dict[str, Any], bytes, int, list[bytes], int] | None:
        """(record, record bytes, batch entry, path to the batch root, position) or None."""
        row = self._db.execute(
            "SELECT d.batch, d.pos, d.record, b.entry, b.root, b.count FROM decisions d "
            "JOIN batches b ON b.batch = d.batch WHERE d.id = ?",
            (decision_id,),
        ).fetchone()
        if row is None or row[3] is None:
            return None
        batch, pos, record, entry, _root, count = row

        def subtree(level: int, index: int) -> bytes:
            got = self._db.execute(
                "SELECT substr(hashes, ?, 32) FROM levels WHERE batch = ? AND level = ?",
                (index * 32 + 1, batch, level),
            ).fetchone()
            value = b"" if got is None else _blob(got[0])
            if len(value) != 32:
                raise IntegrityError(f"decision batch {batch}: stored tree is damaged")
            return value

        # the path is checked against the signed batch root by whoever uses it (trace,
        # receipts): a record or hash edited in decisions.db fails there
        path = merkle.inclusion_proof(int(pos), int(count), subtree)
        return json.loads(_blob(record)), _blob(record), int(entry), path, int(pos)


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
    """Record decisions in batches; every batch is durable (vault, decisions.db, log)
    before the next starts. Returns one result per batch."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise InputError(f"batch size must be 1..{MAX_BATCH}")
    from fairtrail.lifecycle.models import resolve_model

    models: dict[str, dict[str, str]] = {}
    results = []
    with (
        DecisionStore(trail.paths.root / "decisions.db") as store,
        Vault(trail.paths.secrets / "vault.db") as vault,
    ):
        _reconcile(trail, store)
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == batch_size:
                results.append(_batch(trail, store, vault, chunk, signer, models, resolve_model))
                chunk = []
        if chunk:
            results.append(_batch(trail, store, vault, chunk, signer, models, resolve_model))
    return results


def _reconcile(trail: Trail, store: DecisionStore) -> None:
    for batch, root in store.pending():
        found = trail.indices_about({"sha256": root.hex()}, BATCH_PREDICATE)
        if found:
            store.mark(batch, found[-1])
        else:
            store.drop(batch)


def _batch(
    trail: Trail,
    store: DecisionStore,
    vault: Vault,
    rows: list[dict[str, Any]],
    signer: SigningKey,
    models: dict[str, dict[str, str]],
    resolve: Any,
) -> BatchResult:
    records: list[tuple[str, int, bytes, str, str]] = []
    sealed: list[tuple[str, str, bytes]] = []
    seen: set[str] = set()
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
    salts = os.urandom(16 * len(rows))  # one draw for the whole batch
    in_batch: dict[str, dict[str, str]] = {}
    model_json: dict[str, str] = {}
    first = last = None
    for pos, row in enumerate(rows):
        where = row.get("_where", f"row {pos + 1}")
        did = str(row.get("id") or row.get("decision_id") or "")
        if not did or len(did) > 128 or not did.isprintable():
            raise InputError(f"{where}: a decision id is 1-128 printable characters")
        if did in seen:
            raise InputError(f"{where}: decision id {did!r} appears twice")
        seen.add(did)
        ref = str(row.get("model") or "")
        digest = models.get(ref)
        if digest is None:
            if not ref:
                raise InputError(f"{where}: no model")
            digest = models[ref] = dict(resolve(trail, ref).digest)
        in_batch[json.dumps(digest, sort_keys=True)] = digest
        when = _time(row.get("time"), where)
        first = first or when
        last = when
        data = dumps(row.get("input", {})).encode("utf-8")
        salt = salts[16 * pos : 16 * pos + 16]
        mj = model_json.get(ref)
        if mj is None:
            mj = model_json[ref] = dumps(digest)
        # the same bytes json.dumps(sort_keys) gives for the record dict, built directly
        record = (
            f'{{"id":{dumps(did)},"input":{{"sha256":"{commit_input(salt, data)}"}},'
            f'"model":{mj},"output":{dumps(row.get("output"))},"time":{dumps(when)}}}'
        ).encode()
        records.append((did, pos, record, when, next(iter(digest.values()))))
        subject = str(row.get("subject") or f"decision:{did}")
        sealed.append((subject, f"decision-input:{did}", salt + data))
    already = store.known([r[0] for r in records])
    if already:
        raise InputError(
            f"decision id {already[0]!r} is already recorded; nothing of this batch was"
        )
    levels = merkle.levels([merkle.leaf_hash(r[2]) for r in records])
    root = merkle.range_hash(0, len(records), lambda level, index: levels[level][index])
    batch = f"batch-{int(time.time())}-{root.hex()[:12]}"
    # both durable before the statement is appended (a crash leaves a pending batch
    # that the next run drops, never a statement whose records are missing)
    vault.put_many(sealed)
    store.add_pending(batch, root, records, levels)
    unique = list(in_batch.values())  # the models of this batch only
    statement = Statement(
        subject=[Subject(name=f"decision-batch:{batch}", digest={"sha256": root.hex()})]
        + [Subject(name="model", digest=d) for d in unique[:7]],
        predicate_type=BATCH_PREDICATE,
        predicate={
            "batch": batch, "count": len(records), "root": root.hex(),
            "tree": "RFC 9162 SHA-256 over the records' bytes, in order",
            "models": unique, "first": first, "last": last,
            "input": "SHA-256('fairtrail-decision-input/v1' || 0x00 || 16-byte salt || input JSON)",
        },
    )  # fmt: skip
    receipt = trail.record(statement, signer)
    store.mark(batch, receipt.index)
    return BatchResult(batch, receipt.index, len(records), root.hex())
