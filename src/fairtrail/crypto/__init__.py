"""Digests, Ed25519 keys, RFC 8785 canonical JSON and DSSE envelopes.

Everything here is built on `cryptography` and `rfc8785`; nothing is home-made
cryptography. Higher layers never touch raw key material directly.
"""

from fairtrail.crypto.canonical import canonical_json, parse_json
from fairtrail.crypto.dsse import Envelope, Signature, pae, sign_envelope, verify_envelope
from fairtrail.crypto.keys import SigningKey, VerifyingKey

__all__ = [
    "Envelope",
    "Signature",
    "SigningKey",
    "VerifyingKey",
    "canonical_json",
    "pae",
    "parse_json",
    "sign_envelope",
    "verify_envelope",
]
