"""Ed25519 keys: generation, PEM files written 0600, and stable key IDs.

A key ID is the hex SHA-256 of the raw 32-byte public key: unambiguous, and the same
whoever computes it. It is a *name* for a key, never a reason to trust a signature:
verification always checks the signature against the key itself (DSSE rule).
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from fairtrail.crypto._files import write_private
from fairtrail.errors import KeyFileError

__all__ = ["SigningKey", "VerifyingKey", "key_id"]

_MAX_PEM_BYTES = 16 * 1024


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()


@dataclass(frozen=True)
class VerifyingKey:
    """An Ed25519 public key."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise KeyFileError(f"an Ed25519 public key is 32 bytes, got {len(self.raw)}")

    @property
    def key_id(self) -> str:
        return key_id(self.raw)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_pem(self) -> bytes:
        return Ed25519PublicKey.from_public_bytes(self.raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @classmethod
    def from_pem(cls, data: bytes, *, source: str = "public key") -> VerifyingKey:
        if len(data) > _MAX_PEM_BYTES:
            raise KeyFileError(f"{source} is larger than any Ed25519 key file")
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{source} is not a PEM public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(f"{source} is not an Ed25519 key")
        return cls(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


class SigningKey:
    """An Ed25519 private key. Never printed, never logged."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = VerifyingKey(
            key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id[:16]}…)"

    def as_pyca(self) -> Ed25519PrivateKey:
        """The `cryptography` key, for libraries that sign formats we do not implement
        ourselves (SD-JWT through jwcrypto). The key never leaves the process."""
        return self._key

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def save(self, path: Path) -> None:
        """Write the key as PKCS#8 PEM, mode 0600, refusing to overwrite an existing file."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            write_private(path, pem)
        except FileExistsError:
            raise KeyFileError(f"key file {path} already exists; not overwriting it") from None

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise KeyFileError(f"no key file at {path}") from None
        except OSError as exc:
            raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"{path} is not a regular file")
        if st.st_mode & 0o077:
            raise KeyFileError(
                f"key file {path} is readable by others (mode {st.st_mode & 0o777:o}); "
                f"run `chmod 600 {path}`"
            )
        if st.st_size > _MAX_PEM_BYTES:
            raise KeyFileError(f"{path} is larger than any Ed25519 key file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{path} is not an unencrypted PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{path} is not an Ed25519 private key")
        return cls(key)
