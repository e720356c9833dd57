"""The zero-setup chain: py-evm through eth-tester, kept in one SQLite file.

eth-tester keeps its chain in memory, which is right for unit tests but useless for a
CLI where `fairtrail anchor` and `fairtrail verify --anchors` run in different
processes. So the py-evm key/value database is backed by SQLite: every block is
written in the transaction that `save()` commits, and reopening the file gives the
same chain (same chain id, blocks, contracts and balances). A crash between two
saves rolls the chain back to the last saved block, like a node that lost its tip.

It is a development chain: its prefunded accounts have publicly known keys.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import (
    generate_genesis_state_for_keys,
    get_default_account_keys,
    get_default_genesis_params,
)
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from fairtrail._sqlite import connect_durable
from fairtrail.errors import ChainError

__all__ = ["LocalChain"]


class _SqliteKV(BaseDB):
    """py-evm's key/value interface over one SQLite table; writes wait for `commit()`."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        conn = None
        try:
            conn = connect_durable(path, timeout=timeout)
            conn.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL)")
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if conn is not None:
                conn.close()
            raise ChainError(
                f"the local chain {path} is in use by another fairtrail process "
                f"({exc}); retry when it has finished"
            ) from None
        self._conn = conn

    def __getitem__(self, key: bytes) -> bytes:
        row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))

    def _exists(self, key: bytes) -> bool:
        return self._conn.execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone() is not None

    def __delitem__(self, key: bytes) -> None:
        if self._conn.execute("DELETE FROM kv WHERE k = ?", (key,)).rowcount == 0:
            raise KeyError(key)

    def is_empty(self) -> bool:
        return self._conn.execute("SELECT 1 FROM kv LIMIT 1").fetchone() is None

    def commit(self) -> None:
        self._conn.execute("COMMIT")
        self._conn.execute("BEGIN IMMEDIATE")

    def close(self) -> None:
        self._conn.execute("ROLLBACK")
        self._conn.close()


class LocalChain:
    """An eth-tester chain persisted at `path`; `web3` talks to it in-process.

    Holding it open holds a write lock on the file (SQLite `BEGIN IMMEDIATE`), so two
    processes never run two diverging copies of one local chain.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._kv = _SqliteKV(path)
        backend = PyEVMBackend.__new__(PyEVMBackend)
        keys = get_default_account_keys(quantity=10)
        # setup_tester_chain defines the chain class; build it once on a throwaway
        # in-memory genesis to get the class, then point it at our database.
        template = PyEVMBackend(genesis_parameters=None)
        chain_class: Any = type(template.chain)
        db = AtomicDB(self._kv)
        if self._kv.is_empty():
            chain = chain_class.from_genesis(
                db, get_default_genesis_params(), generate_genesis_state_for_keys(keys)
            )
            self._kv.commit()
        else:
            chain = chain_class(db)
        backend.account_keys = keys
        backend.chain = chain
        self.tester = EthereumTester(backend)
        self.web3 = Web3(EthereumTesterProvider(self.tester))

    @property
    def funded_keys(self) -> list[bytes]:
        """Private keys of the prefunded development accounts (publicly known)."""
        return [k.to_bytes() for k in self.tester.backend.account_keys]

    def save(self) -> None:
        """Make every mined block durable."""
        self._kv.commit()

    def close(self) -> None:
        self.save()
        self._kv.close()
