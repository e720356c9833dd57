"""The vault: personal data encrypted per data subject, destroyable on request.

Each subject has its own AES-256-GCM key and a random pseudonymous handle; the log only
ever sees the handle and salted commitments. Erasure deletes the subject's key, its
records and its handle mapping (crypto-shredding): what is left anywhere, in backups
included, is ciphertext under a key that no longer exists. SQLite runs with
`secure_delete` so freed pages are zeroed, and the WAL is truncated after an erasure.

The file is `<trail>/secrets/vault.db`, created 0600 in a 0700 folder.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fairtrail._sqlite import connect_durable
from fairtrail.errors import InputError, IntegrityError

__all__ = ["MAX_VALUE_BYTES", "Vault"]

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
"""


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
        _check_subject(subject)
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

    def put_many(self, items: list[tuple[str, str, bytes]]) -> None:
        """Seal many (subject, name, value) in one durable transaction (batch ingest)."""
        subjects = []
        rows = []
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            wanted = list({subject for subject, _, _ in items})
            for subject in wanted:
                _check_subject(subject)
            keys: dict[str, bytes] = {}
            for i in range(0, len(wanted), 900):  # existing subjects, in few queries
                chunk = wanted[i : i + 900]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT subject, key FROM subjects WHERE subject IN ({marks})"
                keys.update((str(r[0]), bytes(r[1])) for r in self._db.execute(query, chunk))
            fresh = [s for s in wanted if s not in keys]
            material = secrets.token_bytes(48 * len(fresh))  # one draw: key + handle each
            for n, subject in enumerate(fresh):
                key = material[48 * n : 48 * n + 32]
                keys[subject] = key
                handle = "subject:" + material[48 * n + 32 : 48 * n + 48].hex()
                subjects.append((subject, handle, key, now))
            nonces = secrets.token_bytes(12 * len(items))
            ciphers: dict[str, AESGCM] = {}
            for n, (subject, name, value) in enumerate(items):
                if len(value) > MAX_VALUE_BYTES:
                    raise InputError(f"a vault value is at most {MAX_VALUE_BYTES} bytes")
                cipher = ciphers.get(subject)
                if cipher is None:
                    cipher = ciphers[subject] = AESGCM(keys[subject])
                nonce = nonces[12 * n : 12 * n + 12]
                rows.append(
                    (subject, name, nonce, cipher.encrypt(nonce, value, _aad(subject, name)))
                )
            self._db.executemany(
                "INSERT INTO subjects (subject, handle, key, created) VALUES (?, ?, ?, ?)", subjects
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO records (subject, name, nonce, ciphertext) "
                "VALUES (?, ?, ?, ?)",
                rows,
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

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

    def subject_of(self, name: str) -> str | None:
        """The subject holding record `name` (names are unique per use, e.g. per decision)."""
        row = self._db.execute("SELECT subject FROM records WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

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


def _aad(subject: str, name: str) -> bytes:
    return f"fairtrail-vault/v1\n{subject}\n{name}".encode()


def _check_subject(subject: str) -> None:
    if not subject or len(subject) > 256 or not subject.isprintable():
        raise InputError("a data subject id is 1-256 printable characters")
