"""The vault: personal data encrypted per data subject, destroyable on request.

Each subject has its own AES-256-GCM key and a random pseudonymous handle; the log only
ever sees the handle and salted commitments. Erasure deletes the subject's key, its
records and its handle mapping (crypto-shredding): what is left anywhere, in backups
included, is ciphertext under a key that no longer exists. SQLite runs with
`secure_delete` so freed pages are zeroed, and the WAL is truncated after an erasure.

Values come two ways. `put` seals one named record (a personal record, a disclosure).
`seal_batch` seals a whole batch of decision inputs at volume: entries are packed 256 to
a row, in batch order, each under its own subject's key, with one (subject, batch, chunk)
holding row so an erasure can find and blank them. A decision's input is then opened by
(batch, position), which the decision store already knows, with no per-decision index.

The file is `<trail>/secrets/vault.db`, created 0600 in a 0700 folder.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fairtrail._sqlite import connect_durable
from fairtrail.errors import InputError, IntegrityError

__all__ = ["MAX_VALUE_BYTES", "Vault", "check_subject"]

MAX_VALUE_BYTES = 1 << 20
_SCHEMA = """
CREATE TABLE IF NOT EXISTS subjects (
    subject TEXT PRIMARY KEY, handle TEXT NOT NULL UNIQUE, key BLOB NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    subject TEXT NOT NULL REFERENCES subjects (subject), name TEXT NOT NULL,
    nonce BLOB NOT NULL, ciphertext BLOB NOT NULL, PRIMARY KEY (subject, name)
);
CREATE TABLE IF NOT EXISTS erased (handle TEXT PRIMARY KEY, at REAL NOT NULL);
-- decision inputs, packed: a chunk's id is batch << 20 | chunk number
CREATE TABLE IF NOT EXISTS sealed_batches (n INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS sealed (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS holdings (
    subject INTEGER NOT NULL, chunk INTEGER NOT NULL, PRIMARY KEY (subject, chunk)
) WITHOUT ROWID;
"""
CHUNK = 256
# one packed entry: subject rowid, nonce, ciphertext length, then the ciphertext
_ENTRY = struct.Struct(">Q12sI")
_ERASED_REF = 0


class Vault:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        self._db = connect_durable(path)
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def handle(self, subject: str, *, create: bool = False) -> str:
        """The subject's pseudonymous handle (made with a new key when `create`)."""
        check_subject(subject)
        row = self._db.execute(
            "SELECT handle FROM subjects WHERE subject = ?", (subject,)
        ).fetchone()
        if row is not None:
            return str(row[0])
        if not create:
            raise InputError("no such data subject in the vault (never recorded, or erased)")
        handle = "subject:" + secrets.token_hex(16)
        self._db.execute(
            "INSERT INTO subjects (subject, handle, key, created) VALUES (?, ?, ?, ?)",
            (subject, handle, AESGCM.generate_key(bit_length=256), time.time()),
        )
        return handle

    def put(self, subject: str, name: str, value: bytes) -> None:
        if len(value) > MAX_VALUE_BYTES:
            raise InputError(f"a vault value is at most {MAX_VALUE_BYTES} bytes")
        self.handle(subject, create=True)
        key = self._key(subject)
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(key).encrypt(nonce, value, _aad(subject, name))
        self._db.execute(
            "INSERT OR REPLACE INTO records (subject, name, nonce, ciphertext) VALUES (?, ?, ?, ?)",
            (subject, name, nonce, sealed),
        )

    def seal_batch(self, batch: str, items: Sequence[tuple[str, str, bytes]]) -> None:
        """Seal a batch of (subject, name, value), in batch order, in one durable
        transaction; each value is opened later by `open_sealed(batch, position, name)`.
        The name is bound into the ciphertext, so a value cannot be passed off as
        another's."""
        if not items:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            refs = self._subject_refs({subject for subject, _, _ in items})
            n = self._db.execute(
                "INSERT INTO sealed_batches (name) VALUES (?) RETURNING n", (batch,)
            ).fetchone()[0]
            nonces = secrets.token_bytes(12 * len(items))
            holdings: set[tuple[int, int]] = set()
            chunks: list[tuple[int, bytes]] = []
            pack = _ENTRY.pack
            for at in range(0, len(items), CHUNK):
                chunk = n << 20 | at // CHUNK
                parts: list[bytes] = []
                for pos, (subject, name, value) in enumerate(items[at : at + CHUNK], at):
                    if len(value) > MAX_VALUE_BYTES:
                        raise InputError(f"a vault value is at most {MAX_VALUE_BYTES} bytes")
                    ref, cipher = refs[subject]
                    nonce = nonces[12 * pos : 12 * pos + 12]
                    sealed = cipher.encrypt(nonce, value, _aad(subject, name))
                    parts += (pack(ref, nonce, len(sealed)), sealed)
                    holdings.add((ref, chunk))
                chunks.append((chunk, b"".join(parts)))
            self._db.executemany("INSERT INTO sealed (id, data) VALUES (?, ?)", chunks)
            self._db.executemany("INSERT INTO holdings (subject, chunk) VALUES (?, ?)", holdings)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def open_sealed(self, batch: str, position: int, name: str) -> tuple[str, bytes]:
        """(subject, value) of the entry at `position` of a sealed batch."""
        row = self._db.execute("SELECT n FROM sealed_batches WHERE name = ?", (batch,)).fetchone()
        got = None
        if row is not None and position >= 0:
            got = self._db.execute(
                "SELECT data FROM sealed WHERE id = ?", (row[0] << 20 | position // CHUNK,)
            ).fetchone()
        entries = _entries(bytes(got[0])) if got is not None else []
        if position % CHUNK >= len(entries):
            raise InputError(f"the vault holds no {name!r}")
        ref, nonce, sealed = entries[position % CHUNK]
        subject = self._db.execute(
            "SELECT subject, key FROM subjects WHERE rowid = ?", (ref,)
        ).fetchone()
        if ref == _ERASED_REF or subject is None:
            raise InputError(f"the vault holds no {name!r}: its data subject was erased")
        try:
            value = AESGCM(bytes(subject[1])).decrypt(nonce, sealed, _aad(subject[0], name))
        except InvalidTag:
            raise IntegrityError(f"vault record {name!r} does not decrypt: altered") from None
        return str(subject[0]), value

    def drop_batch(self, batch: str) -> None:
        """Forget a sealed batch whose decisions were never recorded (crash recovery)."""
        row = self._db.execute("SELECT n FROM sealed_batches WHERE name = ?", (batch,)).fetchone()
        if row is None:
            return
        low, high = row[0] << 20, (row[0] + 1) << 20
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for chunk, data in self._db.execute(
                "SELECT id, data FROM sealed WHERE id >= ? AND id < ?", (low, high)
            ).fetchall():
                self._db.executemany(
                    "DELETE FROM holdings WHERE subject = ? AND chunk = ?",
                    {(ref, chunk) for ref, _, _ in _entries(bytes(data))},
                )
            self._db.execute("DELETE FROM sealed WHERE id >= ? AND id < ?", (low, high))
            self._db.execute("DELETE FROM sealed_batches WHERE n = ?", (row[0],))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _subject_refs(self, wanted: set[str]) -> dict[str, tuple[int, AESGCM]]:
        """(rowid, cipher) per subject, creating the missing ones; inside a transaction."""
        ordered = sorted(wanted)
        for subject in ordered:
            check_subject(subject)
        refs = {  # the existing subjects, in one indexed join
            subject: (rowid, AESGCM(key))
            for subject, rowid, key in self._db.execute(
                "SELECT s.subject, s.rowid, s.key FROM json_each(?) AS j "
                "JOIN subjects AS s ON s.subject = j.value",
                (json.dumps(ordered, ensure_ascii=False),),
            )
        }
        fresh = [s for s in ordered if s not in refs]
        if fresh:
            top = int(
                self._db.execute("SELECT coalesce(max(rowid), 0) FROM subjects").fetchone()[0]
            )
            material = secrets.token_bytes(48 * len(fresh))  # one draw: key + handle each
            now = time.time()
            rows = []
            for n, subject in enumerate(fresh):
                key = material[48 * n : 48 * n + 32]
                refs[subject] = (top + 1 + n, AESGCM(key))
                handle = "subject:" + material[48 * n + 32 : 48 * n + 48].hex()
                rows.append((top + 1 + n, subject, handle, key, now))
            self._db.executemany(
                "INSERT INTO subjects (rowid, subject, handle, key, created) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        return refs

    def get(self, subject: str, name: str) -> bytes:
        key = self._key(subject)
        row = self._db.execute(
            "SELECT nonce, ciphertext FROM records WHERE subject = ? AND name = ?",
            (subject, name),
        ).fetchone()
        if row is None:
            raise InputError(f"the vault holds no {name!r} for this subject")
        try:
            return AESGCM(key).decrypt(bytes(row[0]), bytes(row[1]), _aad(subject, name))
        except InvalidTag:
            raise IntegrityError(f"vault record {name!r} does not decrypt: altered") from None

    def erase(self, subject: str) -> str:
        """Destroy the subject's key, records and handle mapping; return the handle."""
        handle = self.handle(subject)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._blank_sealed(subject)
            self._db.execute("DELETE FROM records WHERE subject = ?", (subject,))
            self._db.execute("DELETE FROM subjects WHERE subject = ?", (subject,))
            self._db.execute(
                "INSERT OR REPLACE INTO erased (handle, at) VALUES (?, ?)", (handle, time.time())
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        # no copy of the key may survive: secure_delete zeroes the freed cells in the
        # database pages, and truncating the WAL drops the old page images (no VACUUM:
        # that would rewrite the whole vault on every erasure)
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return handle

    def _blank_sealed(self, subject: str) -> None:
        """Overwrite the subject's packed entries with empty ones (their position stays,
        so the other subjects' entries still open by position)."""
        ref = self._db.execute(
            "SELECT rowid FROM subjects WHERE subject = ?", (subject,)
        ).fetchone()
        if ref is None:
            return
        chunks = [r[0] for r in self._db.execute(
            "SELECT chunk FROM holdings WHERE subject = ?", (ref[0],))]  # fmt: skip
        for chunk in chunks:
            row = self._db.execute("SELECT data FROM sealed WHERE id = ?", (chunk,)).fetchone()
            if row is None:
                continue
            kept = [
                (r, nonce, sealed) if r != ref[0] else (_ERASED_REF, bytes(12), b"")
                for r, nonce, sealed in _entries(bytes(row[0]))
            ]
            data = b"".join(
                _ENTRY.pack(r, nonce, len(sealed)) + sealed for r, nonce, sealed in kept
            )
            self._db.execute("UPDATE sealed SET data = ? WHERE id = ?", (data, chunk))
        self._db.execute("DELETE FROM holdings WHERE subject = ?", (ref[0],))

    def erased(self, handle: str) -> bool:
        return (
            self._db.execute("SELECT 1 FROM erased WHERE handle = ?", (handle,)).fetchone()
            is not None
        )

    def _key(self, subject: str) -> bytes:
        row = self._db.execute("SELECT key FROM subjects WHERE subject = ?", (subject,)).fetchone()
        if row is None:
            raise InputError("no such data subject in the vault (never recorded, or erased)")
        return bytes(row[0])


def _entries(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """The (subject rowid, nonce, ciphertext) entries of one packed chunk."""
    out = []
    at = 0
    while at < len(data):
        if at + _ENTRY.size > len(data):
            raise IntegrityError("a sealed chunk in the vault is damaged")
        ref, nonce, size = _ENTRY.unpack_from(data, at)
        at += _ENTRY.size
        if at + size > len(data):
            raise IntegrityError("a sealed chunk in the vault is damaged")
        out.append((ref, nonce, data[at : at + size]))
        at += size
    return out


def _aad(subject: str, name: str) -> bytes:
    return f"fairtrail-vault/v1\n{subject}\n{name}".encode()


def check_subject(subject: str) -> None:
    """Refuse a data subject id the vault would refuse."""
    if not subject or len(subject) > 256 or not subject.isprintable():
        raise InputError("a data subject id is 1-256 printable characters")
