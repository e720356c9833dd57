"""One way to open the small SQLite side files (anchor queue, vault, decisions, witness
state, the local chain): autocommit (each caller runs its own BEGIN IMMEDIATE), WAL, and
synchronous=FULL, so what a caller committed survives a crash or power loss."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["connect_durable"]


def connect_durable(
    path: Path, *, timeout: float = 30.0, check_same_thread: bool = True
) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, timeout=timeout, check_same_thread=check_same_thread
    )
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except BaseException:
        conn.close()
        raise
    return conn
