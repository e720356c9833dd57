from __future__ import annotations

from pathlib import Path

from fairtrail.crypto import SigningKey
from fairtrail.log import SqliteStore, TransparencyLog
from fairtrail.log.checkpoint import Ed25519NoteVerifier

ORIGIN = "test.example/log"


def make_log(
    db: Path, key: SigningKey | None = None, *, writer: bool = True, create: bool = True
) -> TransparencyLog:
    key = key or SigningKey.generate()
    store = SqliteStore.open(db, writer=writer, create=create)
    return TransparencyLog(store, Ed25519NoteVerifier(ORIGIN, key.public), key if writer else None)


def leaf(i: int) -> bytes:
    return b"entry-%d|" % i + bytes(i % 37)
