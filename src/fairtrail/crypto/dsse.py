"""DSSE v1 envelopes: the signature wrapper around every statement in the log.

Rules from the DSSE protocol (v1.0.0) that matter for an audit log:
- Signatures cover PAE(payloadType, payload), so changing either breaks them.
- `keyid` is a hint only. Whether a signature counts is decided by verifying it against
  a trusted key, never by what `keyid` claims.
- A t-of-n threshold counts *distinct keys*: two signatures by one key count once.
- Both standard and URL-safe base64 are accepted on input; we always write standard.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fairtrail._validation import first_error
from fairtrail.crypto.canonical import canonical_json, parse_json
from fairtrail.crypto.keys import SigningKey, VerifyingKey
from fairtrail.errors import SignatureError, StatementError

__all__ = ["MAX_SIGNATURES", "Envelope", "Signature", "pae", "sign_envelope", "verify_envelope"]

MAX_SIGNATURES = 16
_B64 = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def b64decode(text: str, *, what: str) -> bytes:
    """Decode standard or URL-safe base64, with or without padding, and nothing else."""
    if not isinstance(text, str) or not _B64.fullmatch(text):
        raise StatementError(f"{what} is not base64")
    normalized = text.replace("-", "+").replace("_", "/").rstrip("=")
    normalized += "=" * (-len(normalized) % 4)
    try:
        return base64.b64decode(normalized, validate=True)
    except (binascii.Error, ValueError):
        raise StatementError(f"{what} is not base64") from None


class Signature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keyid: str = Field(default="", max_length=256)
    sig: str = Field(max_length=1024)


class Envelope(BaseModel):
    """A DSSE envelope as JSON: base64 payload, its type, and signatures."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    payload: str = Field(max_length=4 << 20)
    payload_type: str = Field(alias="payloadType", min_length=1, max_length=256)
    signatures: list[Signature] = Field(min_length=1, max_length=MAX_SIGNATURES)

    @property
    def payload_bytes(self) -> bytes:
        return b64decode(self.payload, what="envelope payload")

    def to_dict(self) -> dict[str, Any]:
        return {
            "payload": self.payload,
            "payloadType": self.payload_type,
            "signatures": [{"keyid": s.keyid, "sig": s.sig} for s in self.signatures],
        }

    def to_json(self) -> bytes:
        """Canonical JSON (RFC 8785): the exact bytes that become a log leaf.

        An envelope holds only strings under fixed ASCII keys, and for such a document
        `json.dumps` with sorted keys, no spaces and no ASCII escaping writes exactly
        RFC 8785's bytes (the same escapes, lower-case hex); it is 5x faster than the
        general serialiser, which matters on the server's append path. A property test
        (tests/crypto/test_dsse.py) holds the two equal on arbitrary strings.
        """
        doc = self.to_dict()
        try:
            text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: the general path says what is wrong
            return canonical_json(doc)

    @classmethod
    def from_json(cls, data: bytes | str) -> Envelope:
        value = parse_json(data, what="DSSE envelope")
        if not isinstance(value, dict):
            raise StatementError("a DSSE envelope must be a JSON object")
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            raise StatementError(
                f"invalid DSSE envelope at {first_error(exc, 'envelope')}"
            ) from None


def sign_envelope(payload_type: str, payload: bytes, signers: Sequence[SigningKey]) -> Envelope:
    if not signers:
        raise StatementError("an envelope needs at least one signer")
    message = pae(payload_type, payload)
    return Envelope(
        payload=base64.b64encode(payload).decode("ascii"),
        payload_type=payload_type,
        signatures=[
            Signature(keyid=s.key_id, sig=base64.b64encode(s.sign(message)).decode("ascii"))
            for s in signers
        ],
    )


def verify_envelope(
    envelope: Envelope, trusted: Sequence[VerifyingKey], *, threshold: int = 1
) -> list[VerifyingKey]:
    """Return the distinct trusted keys whose signatures verify; raise if fewer than `threshold`.

    Every signature is checked against every trusted key (the keyid only orders the
    attempts), so a spoofed keyid can neither make a bad signature count nor hide a
    good one.
    """
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    message = pae(envelope.payload_type, envelope.payload_bytes)
    verified: dict[bytes, VerifyingKey] = {}
    for i, signature in enumerate(envelope.signatures):
        sig = b64decode(signature.sig, what=f"signature {i}")
        if len(sig) != 64:
            continue
        candidates = sorted(trusted, key=lambda k: k.key_id != signature.keyid)
        for key in candidates:
            if key.raw not in verified and key.verify(sig, message):
                verified[key.raw] = key
                break
    if len(verified) < threshold:
        raise SignatureError(
            "envelope is not signed by enough trusted keys",
            expected=f"{threshold} distinct key(s)",
            actual=len(verified),
        )
    return list(verified.values())
