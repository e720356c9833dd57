"""C2SP tlog-proof (c2sp.org/tlog-proof@v1): an entry's offline-verifiable proof.

    c2sp.org/tlog-proof@v1
    [extra <base64>]
    index <n>
    <base64 hash>            (0..63 lines: RFC 6962 inclusion proof, leaf's sibling first)
    <empty line>
    <the signed checkpoint, verbatim, with any cosignatures>

Independent C2SP tools verify our entries with it: they need the entry bytes, the
log's verifier key (`fairtrail log vkey`) and, if they want, witness keys. The extra
data is carried but never trusted (the spec's MUST).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from fairtrail.errors import NoteError, ProofError, VerificationError
from fairtrail.log import merkle
from fairtrail.log.checkpoint import (
    MAX_NOTE_BYTES,
    Checkpoint,
    NoteVerifier,
    SignedNote,
    open_checkpoint,
    parse_vkey,
)

__all__ = ["HEADER", "TlogProof", "format_tlog_proof", "open_entry", "parse_tlog_proof"]

HEADER = "c2sp.org/tlog-proof@v1"
MAX_HASHES = 63
MAX_PROOF_BYTES = MAX_NOTE_BYTES + 64 * 1024


@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: tuple[bytes, ...]
    checkpoint: bytes  # the signed note, verbatim
    extra: bytes | None = None

    def to_bytes(self) -> bytes:
        return format_tlog_proof(self.index, self.hashes, self.checkpoint, self.extra)

    def verify(
        self, leaf: bytes, verifiers: Sequence[NoteVerifier], *, origin: str | None = None
    ) -> Checkpoint:
        """Check the checkpoint's signature, then that `leaf` (the entry's bytes) is at
        `index` under its root. Returns the checkpoint; raises NoteError/ProofError."""
        body, _ = open_checkpoint(self.checkpoint, verifiers, origin=origin)
        if self.index >= body.size:
            raise ProofError(f"index {self.index} is not below the checkpoint size {body.size}")
        merkle.verify_inclusion(
            merkle.leaf_hash(leaf), self.index, body.size, self.hashes, body.root
        )
        return body


def format_tlog_proof(
    index: int, hashes: Sequence[bytes], checkpoint: bytes, extra: bytes | None = None
) -> bytes:
    if len(hashes) > MAX_HASHES or any(len(h) != 32 for h in hashes):
        raise ProofError("an inclusion proof is at most 63 SHA-256 hashes")
    lines = [HEADER]
    if extra is not None:
        lines.append("extra " + base64.b64encode(extra).decode("ascii"))
    lines.append(f"index {index}")
    lines += [base64.b64encode(h).decode("ascii") for h in hashes]
    return ("\n".join(lines) + "\n\n").encode("ascii") + checkpoint


def parse_tlog_proof(data: bytes) -> TlogProof:
    """Parse strictly (bounded size, canonical numbers, standard base64)."""
    if len(data) > MAX_PROOF_BYTES:
        raise NoteError(f"tlog-proof is {len(data)} bytes; the limit is {MAX_PROOF_BYTES}")
    split = data.find(b"\n\n")
    if split < 0:
        raise NoteError("tlog-proof has no empty line before its checkpoint")
    head, checkpoint = data[:split], data[split + 2 :]
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise NoteError("tlog-proof header is not ASCII") from None
    if not lines or lines[0] != HEADER:
        raise NoteError(f"tlog-proof must start with {HEADER!r}")
    pos = 1
    extra = None
    if pos < len(lines) and lines[pos].startswith("extra "):
        extra = _b64(lines[pos][6:], "extra data", any_length=True)
        pos += 1
    if pos >= len(lines) or not lines[pos].startswith("index "):
        raise NoteError("tlog-proof has no index line")
    number = lines[pos][6:]
    if not number.isdigit() or (len(number) > 1 and number[0] == "0"):
        raise NoteError("tlog-proof index is not a canonical decimal")
    index = int(number)
    if index >= 2**63:
        raise NoteError("tlog-proof index is out of range")
    hashes = tuple(_b64(line, "proof hash") for line in lines[pos + 1 :])
    if len(hashes) > MAX_HASHES:
        raise NoteError(f"tlog-proof has more than {MAX_HASHES} hashes")
    SignedNote.parse(checkpoint)  # well-formed now; signatures are checked by verify()
    return TlogProof(index, hashes, checkpoint, extra)


def _b64(text: str, what: str, *, any_length: bool = False) -> bytes:
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"tlog-proof {what} is not standard base64") from None
    if not any_length and len(value) != 32:
        raise NoteError(f"tlog-proof {what} is not a 32-byte hash")
    return value


def open_entry(
    vkey: str,
    leaf_b64: str,
    tlog_proof: str,
    index: int,
    *,
    trusted_vkey: str | None = None,
    what: str = "document",
) -> tuple[bytes, Checkpoint]:
    """The offline check every carried proof needs (disclosures, decision receipts,
    challenge responses): the log key is the pinned one if one is pinned, and the
    entry's bytes are at `index` under a checkpoint that key signed. Returns (the entry's
    bytes, the checkpoint). Raises VerificationError, NoteError or ProofError; a leaf that
    is not base64 raises ValueError."""
    if trusted_vkey is not None and vkey != trusted_vkey:
        raise VerificationError(f"the {what} names another log key than the trusted one")
    verifier = parse_vkey(vkey)
    leaf = base64.b64decode(leaf_b64, validate=True)
    proof = parse_tlog_proof(tlog_proof.encode("utf-8"))
    if proof.index != index:
        raise VerificationError("the proof is for another entry")
    return leaf, proof.verify(leaf, [verifier], origin=verifier.name)
