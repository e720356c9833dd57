"""The anchor queue: which checkpoint goes to which chain, and where each one stands.

State lives in `<trail>/anchors.db`, apart from the log, so a chain that is down for
hours never blocks an append: the queue keeps the work and drains later.

    pending ──(tx mined, status 1)──► included ──(N confirmations / `finalized`)──► final
       ▲                                 │
       └──────(block no longer canonical: reorg)──┘

Crash safety (RELIABILITY F6, C5): a transaction is signed and *stored* (raw bytes,
hash, nonce) before it is broadcast, inside one `BEGIN IMMEDIATE` that also picks the
nonce. After a crash the same bytes are rebroadcast, never a second transaction for
the same anchor, and two workers can never pick the same nonce. A stuck transaction
is replaced with the same nonce and fees raised by 12.5 % within the configured cap;
above the cap the anchor waits instead of overpaying.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairtrail._sqlite import connect_durable
from fairtrail.anchor.client import ChainClient, Fees, SignedTx, to_hex
from fairtrail.anchor.config import ChainConfig
from fairtrail.errors import ChainError

__all__ = ["AnchorQueue", "AnchorRow", "log_id"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS anchors (
    id INTEGER PRIMARY KEY,
    chain TEXT NOT NULL,
    chain_id INTEGER NOT NULL,
    contract TEXT NOT NULL,
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    root TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'included', 'final')),
    reason TEXT,
    tx_hash TEXT,
    block_number INTEGER,
    block_hash TEXT,
    recorded_block_hash TEXT,
    statement_index INTEGER,
    sends INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    UNIQUE (chain, contract, size)
);
CREATE TABLE IF NOT EXISTS txs (
    tx_hash TEXT PRIMARY KEY,
    anchor_id INTEGER NOT NULL REFERENCES anchors (id),
    sender TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    raw BLOB NOT NULL,
    max_fee INTEGER NOT NULL,
    priority_fee INTEGER NOT NULL,
    sent REAL,
    status TEXT NOT NULL CHECK (status IN ('signed', 'sent', 'mined', 'dropped'))
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    anchor_id INTEGER NOT NULL REFERENCES anchors (id),
    at REAL NOT NULL,
    event TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS witness_sizes (
    name TEXT PRIMARY KEY,
    size INTEGER NOT NULL
);
"""


def log_id(origin: str) -> bytes:
    """How a log is named on chain: SHA-256 of its checkpoint origin line."""
    return hashlib.sha256(origin.encode("utf-8")).digest()


@dataclass(frozen=True)
class AnchorRow:
    id: int
    chain: str
    chain_id: int
    contract: str
    origin: str
    size: int
    root: str
    state: str
    reason: str | None
    tx_hash: str | None
    block_number: int | None
    block_hash: str | None
    recorded_block_hash: str | None
    statement_index: int | None
    sends: int
    updated: float

    @property
    def needs_statement(self) -> bool:
        """Included (or final) in a block no Anchor statement describes yet."""
        return self.state != "pending" and self.block_hash != self.recorded_block_hash


class AnchorQueue:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect_durable(path)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> AnchorQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # ------------------------------------------------------------------ reads

    def rows(self, chain: str | None = None) -> list[AnchorRow]:
        sql = "SELECT * FROM anchors"
        args: tuple[Any, ...] = ()
        if chain is not None:
            sql += " WHERE chain = ?"
            args = (chain,)
        return [_row(r) for r in self._conn.execute(sql + " ORDER BY chain, size", args)]

    def row(self, anchor_id: int) -> AnchorRow:
        return _row(
            self._conn.execute("SELECT * FROM anchors WHERE id = ?", (anchor_id,)).fetchone()
        )

    def history(self, anchor_id: int) -> list[tuple[float, str]]:
        return [
            (r["at"], r["event"])
            for r in self._conn.execute(
                "SELECT at, event FROM history WHERE anchor_id = ? ORDER BY id", (anchor_id,)
            )
        ]

    def largest_published_size(self, origin: str) -> tuple[int, str] | None:
        """The largest checkpoint size of `origin` an outsider has seen: queued for a
        chain (a chain may have it), or cosigned by a witness; with who saw it."""
        best: tuple[int, str] | None = None
        row = self._conn.execute(
            "SELECT size, chain FROM anchors WHERE origin = ? ORDER BY size DESC LIMIT 1",
            (origin,),
        ).fetchone()
        if row is not None:
            best = (int(row[0]), f"chain {row[1]}")
        row = self._conn.execute(
            "SELECT size, name FROM witness_sizes ORDER BY size DESC LIMIT 1"
        ).fetchone()
        if row is not None and (best is None or int(row[0]) > best[0]):
            best = (int(row[0]), f"witness {row[1]}")
        return best

    def witness_size(self, name: str) -> int | None:
        row = self._conn.execute(
            "SELECT size FROM witness_sizes WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else int(row[0])

    def set_witness_size(self, name: str, size: int) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO witness_sizes (name, size) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET size = excluded.size",
                (name, size),
            )

    # ---------------------------------------------------------------- enqueue

    def enqueue(self, chain: ChainConfig, origin: str, size: int, root: bytes) -> AnchorRow | None:
        """Queue checkpoint (size, root) for `chain`. None if this chain already has this
        or a larger checkpoint queued or anchored (the contract would refuse it)."""
        if chain.anchor_contract is None:
            raise ChainError(
                f"chain {chain.name} has no FairtrailAnchor address; "
                "deploy one with `fairtrail chain deploy`"
            )
        contract = chain.anchor_contract.lower()
        now = time.time()
        with self._tx() as c:
            top = c.execute(
                "SELECT MAX(size) FROM anchors WHERE chain = ? AND contract = ?",
                (chain.name, contract),
            ).fetchone()[0]
            if top is not None and top >= size:
                return None
            cur = c.execute(
                "INSERT INTO anchors (chain, chain_id, contract, origin, size, root, state, "
                "created, updated) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (chain.name, chain.chain_id, contract, origin, size, root.hex(), now, now),
            )
            anchor_id = int(cur.lastrowid or 0)
            self._event(c, anchor_id, "queued")
        return self.row(anchor_id)

    # ------------------------------------------------------------------ drain

    def drain(self, client: ChainClient, *, now: float | None = None) -> list[AnchorRow]:
        """One pass over `client`'s chain: reconcile, finalise, detect reorgs, send.

        Raises ChainError (after writing the reason on every pending anchor of the
        chain) when the chain cannot be used; the queue keeps its work.
        """
        name = client.config.name
        try:
            client.check_chain_id()
            self._reconcile(client, now or time.time())
        except ChainError as exc:
            self.note_failure(name, str(exc))
            raise
        return self.rows(name)

    def note_failure(self, chain: str, reason: str) -> None:
        with self._tx() as c:
            for r in c.execute(
                "SELECT id FROM anchors WHERE chain = ? AND state = 'pending'", (chain,)
            ).fetchall():
                c.execute(
                    "UPDATE anchors SET reason = ?, updated = ? WHERE id = ?",
                    (reason, time.time(), r["id"]),
                )
                self._event(c, r["id"], f"failed: {reason}")

    def wait_included(self, client: ChainClient, timeout: float, poll: float = 0.005) -> None:
        """Poll until no anchor of this chain has an unmined sent transaction."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = self._conn.execute(
                "SELECT t.tx_hash FROM txs t JOIN anchors a ON a.id = t.anchor_id "
                "WHERE a.chain = ? AND a.state = 'pending' AND t.status = 'sent'",
                (client.config.name,),
            ).fetchall()
            if not live:
                return
            if any(client.receipt(r[0]) is not None for r in live):
                for row in self.rows(client.config.name):
                    if row.state == "pending":
                        self._advance_pending(client, row, time.time())
                continue
            time.sleep(poll)

    def mark_recorded(self, anchor_id: int, block_hash: str, statement_index: int) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE anchors SET recorded_block_hash = ?, statement_index = ?, updated = ? "
                "WHERE id = ?",
                (block_hash, statement_index, time.time(), anchor_id),
            )
            self._event(c, anchor_id, f"recorded as statement #{statement_index}")

    # -------------------------------------------------------------- internals

    def _reconcile(self, client: ChainClient, now: float) -> None:
        name = client.config.name
        head = client.block_number()
        finalized = client.finalized_number() if client.config.use_finalized_tag else None
        for row in self.rows(name):
            if row.state == "final":
                continue
            if row.state == "included":
                self._check_included(client, row, head, finalized)
        for row in self.rows(name):
            if row.state == "pending":
                self._advance_pending(client, row, now)

    def _check_included(
        self, client: ChainClient, row: AnchorRow, head: int, finalized: int | None
    ) -> None:
        assert row.block_number is not None and row.tx_hash is not None
        # a block is immutable by its hash: if the recorded block is still the canonical
        # one at its height, the transaction is still in it
        if client.block_hash(row.block_number) != row.block_hash:
            with self._tx() as c:
                c.execute(
                    "UPDATE anchors SET state = 'pending', reason = ?, block_number = NULL, "
                    "block_hash = NULL, updated = ? WHERE id = ?",
                    (f"reorged out of block {row.block_number}; resending", time.time(), row.id),
                )
                # the same signed bytes go out again: same nonce, same hash, no duplicate
                c.execute(
                    "UPDATE txs SET status = 'signed' WHERE anchor_id = ? AND tx_hash = ?",
                    (row.id, row.tx_hash),
                )
                self._event(c, row.id, f"reorg: block {row.block_number} is no longer canonical")
            return
        confirmations = head - row.block_number + 1
        is_final = (
            finalized is not None and finalized >= row.block_number
            if client.config.use_finalized_tag
            else confirmations >= client.config.confirmations
        )
        if is_final:
            with self._tx() as c:
                c.execute(
                    "UPDATE anchors SET state = 'final', reason = NULL, updated = ? WHERE id = ?",
                    (time.time(), row.id),
                )
                how = (
                    "finalized tag"
                    if client.config.use_finalized_tag
                    else f"{confirmations} confirmations"
                )
                self._event(c, row.id, f"final ({how})")

    def _advance_pending(self, client: ChainClient, row: AnchorRow, now: float) -> None:
        txs = self._conn.execute(
            "SELECT * FROM txs WHERE anchor_id = ? AND status IN ('signed', 'sent') ORDER BY rowid",
            (row.id,),
        ).fetchall()
        for tx in txs:
            receipt = client.receipt(tx["tx_hash"])
            if receipt is None:
                continue
            if int(receipt["status"]) == 1:
                self._included(row, tx["tx_hash"], receipt)
            else:
                with self._tx() as c:
                    c.execute("UPDATE txs SET status = 'dropped' WHERE anchor_id = ?", (row.id,))
                    c.execute(
                        "UPDATE anchors SET reason = ?, updated = ? WHERE id = ?",
                        (f"transaction {tx['tx_hash']} reverted", now, row.id),
                    )
                    self._event(c, row.id, f"reverted: {tx['tx_hash']}")
            return
        if txs:
            latest = txs[-1]
            mined_nonce = client.nonce(latest["sender"], "latest")
            if mined_nonce > latest["nonce"]:
                # our nonce was used by another transaction of this key: start afresh
                with self._tx() as c:
                    c.execute("UPDATE txs SET status = 'dropped' WHERE anchor_id = ?", (row.id,))
                    self._event(c, row.id, f"nonce {latest['nonce']} taken by another tx")
            elif latest["status"] == "signed":
                self._broadcast(client, row, _signed(latest))
                return
            elif now - (latest["sent"] or 0) >= client.config.bump_after_seconds:
                self._bump(client, row, _signed(latest))
                return
            else:
                return
        self._send_new(client, row)

    def _send_new(self, client: ChainClient, row: AnchorRow) -> None:
        contract = client.contract("FairtrailAnchor", row.contract)
        account = client.wallet()
        call = contract.functions.anchor(log_id(row.origin), row.size, bytes.fromhex(row.root))
        try:
            # simulate before taking a nonce: a refusal costs nothing and says why
            estimate = client.rpc(
                "simulating anchor()", lambda: call.estimate_gas({"from": account.address})
            )
        except ChainError as exc:
            self._set_reason(row.id, str(exc))
            raise
        with self._tx() as c:
            live = c.execute(
                "SELECT MAX(nonce) FROM txs WHERE sender = ? AND status IN ('signed', 'sent')",
                (account.address,),
            ).fetchone()[0]
            nonce = client.nonce(account.address, "pending")
            if live is not None:
                nonce = max(nonce, int(live) + 1)
            # funds are checked before signing: an unfunded key leaves nothing half-sent
            tx = client.prepare(call, account, nonce, gas=estimate + estimate // 5)
            c.execute(
                "INSERT INTO txs (tx_hash, anchor_id, sender, nonce, raw, max_fee, priority_fee, "
                "status) VALUES (?, ?, ?, ?, ?, ?, ?, 'signed')",
                (tx.tx_hash, row.id, tx.sender, tx.nonce, tx.raw, tx.fees.max_fee,
                 tx.fees.priority_fee),
            )  # fmt: skip
            self._event(c, row.id, f"signed {tx.tx_hash} nonce {tx.nonce}")
        self._broadcast(client, row, tx)

    def _bump(self, client: ChainClient, row: AnchorRow, stuck: SignedTx) -> None:
        fees = client.capped(stuck.fees.bumped())
        if fees is None:
            self._set_reason(
                row.id,
                f"transaction {stuck.tx_hash} not mined; a 12.5% fee bump would pass the cap of "
                f"{client.config.max_fee_gwei} gwei, waiting",
            )
            return
        contract = client.contract("FairtrailAnchor", row.contract)
        account = client.wallet()
        call = contract.functions.anchor(log_id(row.origin), row.size, bytes.fromhex(row.root))
        tx = client.prepare(call, account, stuck.nonce, fees)
        with self._tx() as c:
            c.execute(
                "INSERT INTO txs (tx_hash, anchor_id, sender, nonce, raw, max_fee, priority_fee, "
                "status) VALUES (?, ?, ?, ?, ?, ?, ?, 'signed')",
                (tx.tx_hash, row.id, tx.sender, tx.nonce, tx.raw, fees.max_fee,
                 fees.priority_fee),
            )  # fmt: skip
            self._event(
                c, row.id, f"fee bump: {stuck.tx_hash} -> {tx.tx_hash} at {fees.max_fee} wei/gas"
            )
        self._broadcast(client, row, tx)

    def _broadcast(self, client: ChainClient, row: AnchorRow, tx: SignedTx) -> None:
        try:
            client.broadcast(tx)
        except ChainError as exc:
            self._set_reason(row.id, str(exc))
            raise
        with self._tx() as c:
            c.execute(
                "UPDATE txs SET status = 'sent', sent = ? WHERE tx_hash = ?",
                (time.time(), tx.tx_hash),
            )
            c.execute(
                "UPDATE anchors SET tx_hash = ?, sends = sends + 1, reason = NULL, updated = ? "
                "WHERE id = ?",
                (tx.tx_hash, time.time(), row.id),
            )
            self._event(c, row.id, f"sent {tx.tx_hash}")

    def _included(self, row: AnchorRow, tx_hash: str, receipt: dict[str, Any]) -> None:
        block_hash = to_hex(receipt["blockHash"])
        with self._tx() as c:
            c.execute(
                "UPDATE txs SET status = 'dropped' WHERE anchor_id = ? AND status != 'mined'",
                (row.id,),
            )
            c.execute("UPDATE txs SET status = 'mined' WHERE tx_hash = ?", (tx_hash,))
            c.execute(
                "UPDATE anchors SET state = 'included', reason = NULL, tx_hash = ?, "
                "block_number = ?, block_hash = ?, updated = ? WHERE id = ?",
                (tx_hash, int(receipt["blockNumber"]), block_hash, time.time(), row.id),
            )
            self._event(c, row.id, f"included in block {int(receipt['blockNumber'])} {block_hash}")

    def _set_reason(self, anchor_id: int, reason: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE anchors SET reason = ?, updated = ? WHERE id = ?",
                (reason, time.time(), anchor_id),
            )
            self._event(c, anchor_id, reason)

    @staticmethod
    def _event(c: sqlite3.Connection, anchor_id: int, event: str) -> None:
        c.execute(
            "INSERT INTO history (anchor_id, at, event) VALUES (?, ?, ?)",
            (anchor_id, time.time(), event),
        )


def _row(r: sqlite3.Row) -> AnchorRow:
    return AnchorRow(
        r["id"], r["chain"], r["chain_id"], r["contract"], r["origin"], r["size"], r["root"],
        r["state"], r["reason"], r["tx_hash"], r["block_number"], r["block_hash"],
        r["recorded_block_hash"], r["statement_index"], r["sends"], r["updated"],
    )  # fmt: skip


def _signed(tx: sqlite3.Row) -> SignedTx:
    return SignedTx(
        tx["tx_hash"], bytes(tx["raw"]), tx["nonce"], Fees(tx["max_fee"], tx["priority_fee"]),
        tx["sender"],
    )  # fmt: skip
