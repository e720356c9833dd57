"""C2SP signed notes and tlog checkpoints, parsed and verified exactly as the specs say.

c2sp.org/signed-note: a note is UTF-8 text ending in a newline, a blank line, then
signature lines `— <name> base64(key ID (4 bytes) || signature)`. Verifiers MUST ignore
signatures from unknown keys (a signature matches a known key only if *both* the name
and the key ID match), MUST verify signatures from known keys, and MUST reject a note
with no verified known signature. We also reject the whole note when a known key's
signature fails (the spec's SHOULD), because that is evidence of tampering.

c2sp.org/tlog-checkpoint: the note text is origin, tree size (decimal, no leading
zeros), base64 root hash, then optional non-empty extension lines.

c2sp.org/tlog-cosignature: witnesses add Ed25519 cosignatures (signature type 0x04)
over "cosignature/v1\\ntime <t>\\n" + the checkpoint text. Parsing keeps every signature
line, so cosignatures travel with the checkpoint and can be verified by key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fairtrail.crypto.keys import SigningKey, VerifyingKey
from fairtrail.errors import NoteError

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Checkpoint",
    "CosignatureVerifier",
    "Ed25519NoteVerifier",
    "NoteSignature",
    "NoteVerifier",
    "SignedNote",
    "format_vkey",
    "note_key_id",
    "open_checkpoint",
    "parse_cosigner_vkey",
    "parse_vkey",
    "sign_note",
]

#: Bounded size: 16 post-quantum signatures (~5 kB each) still fit with ample room.
MAX_NOTE_BYTES = 256 * 1024
MAX_SIGNATURES = 64
SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
_EM_DASH = "\u2014"
_MAX_SIZE = 2**63 - 1
_STD_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def _b64(text: str, what: str) -> bytes:
    if not _STD_B64.fullmatch(text) or len(text) % 4:
        raise NoteError(f"{what} is not standard base64")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not standard base64") from None


def _check_key_name(name: str) -> None:
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise NoteError(f"invalid key name {name!r}: must be non-empty, no spaces, no '+'")


def note_key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """C2SP key ID: SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key).digest()[
        :4
    ]


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{_EM_DASH} {self.name} {blob}\n"


@dataclass(frozen=True)
class SignedNote:
    text: str
    signatures: tuple[NoteSignature, ...]

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode("utf-8")

    def with_signature(self, signature: NoteSignature) -> SignedNote:
        """Add a signature line (e.g. a witness cosignature) unless it is already there."""
        if signature in self.signatures:
            return self
        if len(self.signatures) >= MAX_SIGNATURES:
            raise NoteError(f"a note may carry at most {MAX_SIGNATURES} signatures")
        return SignedNote(self.text, (*self.signatures, signature))

    @classmethod
    def parse(cls, data: bytes) -> SignedNote:
        if len(data) > MAX_NOTE_BYTES:
            raise NoteError(f"note is {len(data)} bytes; the limit is {MAX_NOTE_BYTES}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("note is not valid UTF-8") from None
        if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
            raise NoteError("note contains control characters")
        split = text.rfind("\n\n")
        if split < 0:
            raise NoteError("note has no blank line before its signatures")
        body, sig_block = text[: split + 1], text[split + 2 :]
        if not sig_block or not sig_block.endswith("\n"):
            raise NoteError("note has no signature lines, or they do not end in a newline")
        lines = sig_block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise NoteError(f"note has {len(lines)} signatures; the limit is {MAX_SIGNATURES}")
        sigs: list[NoteSignature] = []
        for line in lines:
            parts = line.split(" ")
            if len(parts) != 3 or parts[0] != _EM_DASH:
                raise NoteError("malformed signature line in note")
            _check_key_name(parts[1])
            blob = _b64(parts[2], "note signature")
            if len(blob) < 5:
                raise NoteError("note signature is too short")
            sigs.append(NoteSignature(parts[1], blob[:4], blob[4:]))
        return cls(body, tuple(sigs))


class NoteVerifier(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, text: str, signature: bytes) -> bool: ...


@dataclass(frozen=True)
class Ed25519NoteVerifier:
    """A log's checkpoint key: Ed25519 over the note text (signature type 0x01)."""

    name: str
    public_key: VerifyingKey

    def __post_init__(self) -> None:
        _check_key_name(self.name)

    @property
    def key_id(self) -> bytes:
        return note_key_id(self.name, SIG_ED25519, self.public_key.raw)

    def verify(self, text: str, signature: bytes) -> bool:
        return self.public_key.verify(signature, text.encode("utf-8"))


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness key: timestamped Ed25519 cosignature v1 (signature type 0x04)."""

    name: str
    public_key: VerifyingKey

    def __post_init__(self) -> None:
        _check_key_name(self.name)

    @property
    def key_id(self) -> bytes:
        return note_key_id(self.name, SIG_COSIGNATURE_V1, self.public_key.raw)

    def verify(self, text: str, signature: bytes) -> bool:
        if len(signature) != 8 + 64:
            return False
        (timestamp,) = struct.unpack(">Q", signature[:8])
        if timestamp > _MAX_SIZE:
            return False
        message = f"cosignature/v1\ntime {timestamp}\n{text}".encode()
        return self.public_key.verify(signature[8:], message)


def sign_note(text: str, name: str, key: SigningKey) -> NoteSignature:
    """Sign note text with an Ed25519 log key (type 0x01)."""
    _check_key_name(name)
    if not text.endswith("\n"):
        raise NoteError("note text must end in a newline")
    return NoteSignature(
        name, note_key_id(name, SIG_ED25519, key.public.raw), key.sign(text.encode("utf-8"))
    )


def cosign_note(text: str, name: str, key: SigningKey, timestamp: int) -> NoteSignature:
    """Cosign checkpoint text as a witness (tlog-cosignature v1, type 0x04)."""
    _check_key_name(name)
    if not 0 <= timestamp <= _MAX_SIZE:
        raise NoteError("cosignature timestamp out of range")
    message = f"cosignature/v1\ntime {timestamp}\n{text}".encode()
    return NoteSignature(
        name,
        note_key_id(name, SIG_COSIGNATURE_V1, key.public.raw),
        struct.pack(">Q", timestamp) + key.sign(message),
    )


def verify_note(note: SignedNote, verifiers: Sequence[NoteVerifier]) -> list[NoteVerifier]:
    """Verify `note` with the known keys; return those whose signature verified.

    Unknown signatures (name *and* key ID must both match to be "known") are ignored.
    """
    verified: list[NoteVerifier] = []
    for sig in note.signatures:
        for verifier in verifiers:
            if verifier.name == sig.name and verifier.key_id == sig.key_id:
                if not verifier.verify(note.text, sig.signature):
                    raise NoteError(f"signature by known key {sig.name} does not verify")
                if verifier not in verified:
                    verified.append(verifier)
    if not verified:
        raise NoteError("note is not signed by any known key")
    return verified


@dataclass(frozen=True)
class Checkpoint:
    """The body of a C2SP checkpoint: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse_text(cls, text: str) -> Checkpoint:
        if not text.endswith("\n"):
            raise NoteError("checkpoint text must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint needs origin, size and root lines")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise NoteError("checkpoint origin is empty")
        if not size_text.isascii() or not size_text.isdigit():
            raise NoteError("checkpoint size is not a decimal number")
        if len(size_text) > 1 and size_text[0] == "0":
            raise NoteError("checkpoint size has leading zeros")
        size = int(size_text)
        if size > _MAX_SIZE:
            raise NoteError("checkpoint size is out of range")
        root = _b64(root_text, "checkpoint root")
        if len(root) != 32:
            raise NoteError(f"checkpoint root is {len(root)} bytes, not 32")
        if any(not line for line in extensions):
            raise NoteError("checkpoint extension lines must be non-empty")
        return cls(origin, size, root, tuple(extensions))


def open_checkpoint(
    data: bytes, verifiers: Sequence[NoteVerifier], *, origin: str | None = None
) -> tuple[Checkpoint, SignedNote]:
    """Parse and verify a signed checkpoint. Verification comes before the text is trusted."""
    note = SignedNote.parse(data)
    verify_note(note, verifiers)
    checkpoint = Checkpoint.parse_text(note.text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError("checkpoint is from another log", expected=origin, actual=checkpoint.origin)
    return checkpoint, note


def format_vkey(name: str, public_key: VerifyingKey, sig_type: int = SIG_ED25519) -> str:
    """The signed-note verifier key string: <name>+<hex key ID>+<base64(type || key)>."""
    _check_key_name(name)
    key_id = note_key_id(name, sig_type, public_key.raw).hex()
    material = base64.b64encode(bytes([sig_type]) + public_key.raw).decode("ascii")
    return f"{name}+{key_id}+{material}"


def _split_vkey(vkey: str, sig_type: int, what: str) -> tuple[str, VerifyingKey]:
    parts = vkey.strip().split("+", 2)  # names and hex IDs hold no "+", base64 may
    if len(parts) != 3:
        raise NoteError("verifier key must look like name+keyid+base64key")
    name, key_id_hex, material_b64 = parts
    _check_key_name(name)
    material = _b64(material_b64, "verifier key")
    if len(material) != 33 or material[0] != sig_type:
        raise NoteError(f"verifier key is not {what}")
    key_id = note_key_id(name, sig_type, material[1:]).hex()
    if key_id != key_id_hex.lower():
        raise NoteError(
            "verifier key ID does not match its key", expected=key_id, actual=key_id_hex
        )
    return name, VerifyingKey(material[1:])


def parse_vkey(vkey: str) -> Ed25519NoteVerifier:
    """Parse an Ed25519 (type 0x01) verifier key; check its embedded key ID."""
    return Ed25519NoteVerifier(*_split_vkey(vkey, SIG_ED25519, "an Ed25519 note key"))


def parse_cosigner_vkey(vkey: str) -> CosignatureVerifier:
    """Parse a witness's Ed25519 cosignature verifier key (type 0x04); check its key ID."""
    return CosignatureVerifier(*_split_vkey(vkey, SIG_COSIGNATURE_V1, "an Ed25519 cosigner key"))
