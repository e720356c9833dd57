"""A derived, rebuildable index of the statements in a trail (`index.db`).

The log is the only source of truth. This index only saves scanning it: which entry
has which predicate type, signer and subjects. It is filled *after* each append
commits and caught up from the log on open, so a crash between the two loses
nothing; deleting the file is always safe.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IndexedStatement", "StatementIndex"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS statements (
    idx INTEGER PRIMARY KEY, predicate_type TEXT NOT NULL, signer TEXT NOT NULL,
    subjects TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subjects (digest TEXT NOT NULL, idx INTEGER NOT NULL,
    PRIMARY KEY (digest, idx)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS statements_by_type ON statements (predicate_type, idx);
"""


@dataclass(frozen=True)
class IndexedStatement:
    index: int
    predicate_type: str
    signer: str
    subjects: list[dict[str, object]]


class StatementIndex:
    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")  # derived data: rebuilt if lost
        self._conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")

    def close(self) -> None:
        self._conn.close()

    @property
    def high_water(self) -> int:
        """The number of leading log entries indexed (indexing is always contiguous)."""
        row = self._conn.execute("SELECT COALESCE(MAX(idx), -1) FROM statements").fetchone()
        return int(row[0]) + 1

    def add(self, items: Iterable[IndexedStatement]) -> None:
        rows = list(items)
        if not rows:
            return
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO statements VALUES (?, ?, ?, ?)",
                [
                    (r.index, r.predicate_type, r.signer, json.dumps(r.subjects, sort_keys=True))
                    for r in rows
                ],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO subjects VALUES (?, ?)",
                [
                    (f"{alg}:{value}", r.index)
                    for r in rows
                    for s in r.subjects
                    for alg, value in dict(s.get("digest", {})).items()  # type: ignore[call-overload]
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def truncate(self, size: int) -> None:
        """Forget entries at or beyond `size` (the log is smaller than the index)."""
        self._conn.execute("DELETE FROM statements WHERE idx >= ?", (size,))
        self._conn.execute("DELETE FROM subjects WHERE idx >= ?", (size,))

    def indices_of_type(self, predicate_type: str) -> list[int]:
        rows = self._conn.execute(
            "SELECT idx FROM statements WHERE predicate_type = ? ORDER BY idx", (predicate_type,)
        ).fetchall()
        return [int(r[0]) for r in rows]

    def by_subject(self, algorithm: str, value: str) -> list[int]:
        rows = self._conn.execute(
            "SELECT idx FROM subjects WHERE digest = ? ORDER BY idx", (f"{algorithm}:{value}",)
        ).fetchall()
        return [int(r[0]) for r in rows]

    def about(self, digests: list[str], predicate_type: str) -> list[int]:
        """Indices of statements of one type with a subject having any of `digests`
        (`alg:hex`), oldest first: one join instead of two lists intersected."""
        marks = ",".join("?" * len(digests))
        rows = self._conn.execute(
            "SELECT DISTINCT s.idx FROM subjects s JOIN statements t ON t.idx = s.idx "
            f"WHERE s.digest IN ({marks}) AND t.predicate_type = ? ORDER BY s.idx",
            (*digests, predicate_type),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def signer(self, index: int) -> str | None:
        row = self._conn.execute("SELECT signer FROM statements WHERE idx = ?", (index,)).fetchone()
        return None if row is None else str(row[0])

    def tail(self, count: int) -> list[IndexedStatement]:
        rows = self._conn.execute(
            "SELECT idx, predicate_type, signer, subjects FROM statements "
            "ORDER BY idx DESC LIMIT ?",
            (count,),
        ).fetchall()
        return [
            IndexedStatement(int(i), str(t), str(s), json.loads(subj))
            for i, t, s, subj in reversed(rows)
        ]
