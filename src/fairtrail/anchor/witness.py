"""A C2SP tlog-witness: cosigns a log's checkpoints only if they extend what it saw.

Everything the spec requires of `add-checkpoint` (c2sp.org/tlog-witness) happens in
`Witness.add_checkpoint`, independent of HTTP so it can be tested exactly:

- unknown origin → 404; no signature from a trusted key for it → 403;
- malformed body, old size > checkpoint size, or a proof when old size is 0 → 400;
- old size ≠ the size it last cosigned → 409 with that size (`text/x.tlog.size`);
- old size = checkpoint size but another root → 409 (a split view: kept as evidence);
- consistency proof that does not verify → 422 (kept as evidence, not cosigned);
- otherwise the new (size, root) is persisted — compared and written inside one
  SQLite `BEGIN IMMEDIATE` with synchronous=FULL, so two concurrent requests can never
  roll the state back — and only then is the cosignature returned.

The witness folder holds `witness.json` (name, trusted logs), `witness.key` (0600)
and `state.db`.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fairtrail._sqlite import connect_durable
from fairtrail.crypto._files import write_atomic
from fairtrail.crypto.keys import SigningKey
from fairtrail.errors import ConfigError, NoteError, ProofError
from fairtrail.log import merkle
from fairtrail.log.checkpoint import (
    MAX_NOTE_BYTES,
    SIG_COSIGNATURE_V1,
    Checkpoint,
    SignedNote,
    cosign_note,
    format_vkey,
    parse_vkey,
    verify_note,
)

__all__ = ["MAX_BODY_BYTES", "Answer", "Witness", "WitnessSettings", "init_witness"]

MAX_PROOF_LINES = 63
MAX_BODY_BYTES = MAX_NOTE_BYTES + 64 * (MAX_PROOF_LINES + 1)
SIZE_TYPE = "text/x.tlog.size"


class WitnessSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255, pattern=r"^[^\s+]+$")
    logs: dict[str, list[str]] = Field(
        default_factory=dict, description="origin -> verifier keys trusted for it"
    )


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


def init_witness(folder: Path, name: str) -> str:
    """Create a witness folder with a new key; return its cosigner verifier key."""
    if (folder / "witness.json").exists():
        raise ConfigError(f"{folder} already holds a witness")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        settings = WitnessSettings(name=name)
    except ValidationError:
        raise ConfigError(
            f"witness name {name!r} must be non-empty with no spaces or '+'"
        ) from None
    key = SigningKey.generate()
    key.save(folder / "witness.key")
    write_atomic(folder / "witness.json", settings.model_dump_json(indent=2).encode() + b"\n")
    return format_vkey(name, key.public, SIG_COSIGNATURE_V1)


class Witness:
    def __init__(self, folder: Path) -> None:
        try:
            self.settings = WitnessSettings.model_validate_json(
                (folder / "witness.json").read_bytes()
            )
        except FileNotFoundError:
            raise ConfigError(f"no witness in {folder}: run `fairtrail witness init`") from None
        except ValidationError as exc:
            raise ConfigError(
                f"{folder / 'witness.json'} is invalid: {exc.errors()[0]['msg']}"
            ) from None
        self.folder = folder
        self.key = SigningKey.load(folder / "witness.key")
        self.verifiers = {
            origin: [parse_vkey(v) for v in vkeys] for origin, vkeys in self.settings.logs.items()
        }
        self._lock = threading.Lock()
        self._db = connect_durable(folder / "state.db", check_same_thread=False)
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS logs (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, "
            "root BLOB NOT NULL, updated REAL NOT NULL);"
            "CREATE TABLE IF NOT EXISTS evidence (id INTEGER PRIMARY KEY, origin TEXT NOT NULL, "
            "at REAL NOT NULL, reason TEXT NOT NULL, body BLOB NOT NULL);"
        )

    @property
    def vkey(self) -> str:
        return format_vkey(self.settings.name, self.key.public, SIG_COSIGNATURE_V1)

    def trust(self, vkey: str) -> str:
        """Add a log verifier key (its name is the log's origin); return the origin."""
        verifier = parse_vkey(vkey)
        keys = self.settings.logs.setdefault(verifier.name, [])
        if vkey not in keys:
            keys.append(vkey)
        write_atomic(
            self.folder / "witness.json", self.settings.model_dump_json(indent=2).encode() + b"\n"
        )
        self.verifiers[verifier.name] = [parse_vkey(v) for v in keys]
        return verifier.name

    def close(self) -> None:
        self._db.close()

    def latest(self, origin: str) -> tuple[int, bytes] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT size, root FROM logs WHERE origin = ?", (origin,)
            ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def evidence(self) -> list[tuple[str, str, bytes]]:
        with self._lock:
            return [
                (r[0], r[1], bytes(r[2]))
                for r in self._db.execute("SELECT origin, reason, body FROM evidence ORDER BY id")
            ]

    # --------------------------------------------------------------- protocol

    def add_checkpoint(self, body: bytes) -> Answer:
        if len(body) > MAX_BODY_BYTES:
            return Answer(413, b"request body too large\n")
        try:
            old, proof, note_bytes = _parse_request(body)
            note = SignedNote.parse(note_bytes)
            checkpoint = Checkpoint.parse_text(note.text)
        except (NoteError, ValueError) as exc:
            return Answer(400, f"malformed request: {exc}\n".encode())
        verifiers = self.verifiers.get(checkpoint.origin)
        if not verifiers:
            return Answer(404, b"unknown log origin\n")
        try:
            verify_note(note, verifiers)
        except NoteError:
            return Answer(403, b"checkpoint is not signed by a key trusted for this log\n")
        if old > checkpoint.size:
            return Answer(400, b"old size is larger than the checkpoint size\n")
        if old == 0 and proof:
            return Answer(400, b"a consistency proof from size 0 must be empty\n")
        # one transaction at a time on this connection (threads), and BEGIN IMMEDIATE
        # against other processes sharing the state file: check and update are atomic
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                answer = self._check_and_store(checkpoint, old, proof, note_bytes)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")  # durable (synchronous=FULL) before we answer
        if answer is not None:
            return answer
        signature = cosign_note(note.text, self.settings.name, self.key, int(time.time()))
        return Answer(200, signature.line().encode("utf-8"))

    def _check_and_store(
        self, checkpoint: Checkpoint, old: int, proof: list[bytes], note_bytes: bytes
    ) -> Answer | None:
        row = self._db.execute(
            "SELECT size, root FROM logs WHERE origin = ?", (checkpoint.origin,)
        ).fetchone()
        size, root = (0, b"") if row is None else (int(row[0]), bytes(row[1]))
        if old != size:
            return Answer(409, f"{size}\n".encode(), SIZE_TYPE)
        if old == checkpoint.size and row is not None:
            if root != checkpoint.root:
                self._keep(checkpoint.origin, f"second root for size {size}", note_bytes)
                return Answer(409, b"a different checkpoint of this size was already cosigned\n")
            return None  # the same checkpoint again: cosign again, nothing to store
        if old > 0:
            try:
                merkle.verify_consistency(old, checkpoint.size, proof, root, checkpoint.root)
            except ProofError:
                self._keep(checkpoint.origin, f"inconsistent with size {old}", note_bytes)
                return Answer(422, b"consistency proof does not verify\n")
        self._db.execute(
            "INSERT INTO logs (origin, size, root, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
            "updated = excluded.updated",
            (checkpoint.origin, checkpoint.size, checkpoint.root, time.time()),
        )
        return None

    def _keep(self, origin: str, reason: str, note_bytes: bytes) -> None:
        """Keep a signed checkpoint that conflicts with what we saw: it is evidence of
        log misbehaviour anyone can check with the log's public key."""
        self._db.execute(
            "INSERT INTO evidence (origin, at, reason, body) VALUES (?, ?, ?, ?)",
            (origin, time.time(), reason, note_bytes),
        )
        self._db.execute(
            "DELETE FROM evidence WHERE id NOT IN "
            "(SELECT id FROM evidence ORDER BY id DESC LIMIT 1000)"
        )


def _parse_request(body: bytes) -> tuple[int, list[bytes], bytes]:
    """`old N\\n`, up to 63 base64 proof lines, an empty line, then the checkpoint."""
    proof: list[bytes] = []
    pos = body.find(b"\n")
    if pos < 0:
        raise ValueError("no old size line")
    first = body[:pos].decode("ascii", "replace")
    if not first.startswith("old ") or not first[4:].isdigit() or not first[4:].isascii():
        raise ValueError("first line must be 'old <size>'")
    if len(first) > 5 and first[4] == "0":
        raise ValueError("old size has leading zeros")
    old = int(first[4:])
    if old >= 2**63:
        raise ValueError("old size is out of range")
    rest = body[pos + 1 :]
    while True:
        pos = rest.find(b"\n")
        if pos < 0:
            raise ValueError("no empty line before the checkpoint")
        line, rest = rest[:pos], rest[pos + 1 :]
        if not line:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise ValueError(f"more than {MAX_PROOF_LINES} consistency proof lines")
        try:
            decoded = base64.b64decode(line, validate=True)
        except ValueError:
            raise ValueError("a proof line is not base64") from None
        if len(decoded) != 32:
            raise ValueError("a proof line is not a 32-byte hash")
        proof.append(decoded)
    return old, proof, rest
