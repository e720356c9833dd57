"""What only the SQLite store has: its pragmas and refusing a file that is not a log.
The guarantees every store gives are in test_store.py, run on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairtrail.errors import (
    InputError,
)
from fairtrail.log import SqliteStore
from tests.log.helpers import make_log


def test_pragmas_are_checked(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log.db")
    conn = log.store._conn  # type: ignore[attr-defined]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 16384


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "log.db"
    bad.write_bytes(b"hello, not sqlite" * 100)
    with pytest.raises(InputError):
        SqliteStore.open(bad, writer=True)
    with pytest.raises(InputError):
        SqliteStore.open(tmp_path / "missing.db")
