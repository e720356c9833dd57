"""API tokens: who may write through the server, as which actor and role.

A token is shown once, when it is made; the server keeps only its SHA-256 (tokens are
256-bit random strings, so a fast hash is enough: there is nothing to brute-force).
Every request looks its token up again, so a revocation takes effect on the very next
request. The table lives in `<trail>/server.db` (SQLite, WAL, synchronous=FULL), with
permissions 0600, beside the keys it is as sensitive as.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fairtrail._sqlite import connect_durable
from fairtrail.errors import InputError
from fairtrail.statements.actors import Role, check_actor_name

__all__ = ["ApiToken", "TokenStore"]

_PREFIX = "ft_"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, hash BLOB NOT NULL UNIQUE, actor TEXT NOT NULL, role TEXT NOT NULL,
    created TEXT NOT NULL, revoked TEXT
);
"""


@dataclass(frozen=True)
class ApiToken:
    id: str
    actor: str
    role: Role
    created: str
    revoked: str | None


class TokenStore:
    def __init__(self, path: Path) -> None:
        new = not path.exists()
        if new:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._conn = connect_durable(path, check_same_thread=False)  # request threads share it
        self._lock = threading.Lock()
        self._conn.executescript(_SCHEMA)

    @classmethod
    def of_trail(cls, root: Path) -> TokenStore:
        return cls(root / "server.db")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> TokenStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create(self, actor: str, role: Role) -> tuple[ApiToken, str]:
        """A new token for `actor` acting as `role`; returns it and its secret (shown once)."""
        check_actor_name(actor)
        token_id = secrets.token_hex(6)
        secret = f"{_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._conn.execute(
                "INSERT INTO tokens (id, hash, actor, role, created) VALUES (?, ?, ?, ?, ?)",
                (token_id, _digest(secret), actor, role.value, now),
            )
        return ApiToken(token_id, actor, role, now, None), secret

    def revoke(self, token_id: str) -> ApiToken:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            cur = self._conn.execute(
                "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL", (now, token_id)
            )
            changed = cur.rowcount == 1
            known = self._conn.execute("SELECT 1 FROM tokens WHERE id = ?", (token_id,)).fetchone()
        if not changed:
            raise InputError(
                f"token {token_id!r} is already revoked" if known else f"no token {token_id!r}"
            )
        return next(t for t in self.list() if t.id == token_id)

    def list(self) -> list[ApiToken]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, actor, role, created, revoked FROM tokens ORDER BY created, id"
            ).fetchall()
        return [ApiToken(r[0], r[1], Role(r[2]), r[3], r[4]) for r in rows]

    def lookup(self, secret: str) -> ApiToken | None:
        """The live token whose secret this is, or None (unknown, malformed or revoked)."""
        if not secret.startswith(_PREFIX) or len(secret) > 128:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT id, actor, role, created, revoked FROM tokens WHERE hash = ?",
                (_digest(secret),),
            ).fetchone()
        if row is None or row[4] is not None:
            return None
        return ApiToken(row[0], row[1], Role(row[2]), row[3], None)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()
