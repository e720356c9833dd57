"""Model signatures in the OpenSSF model-signing format, made with the `model_signing`
package, so a model recorded by fairtrail can be verified by anyone with the stock tool:

    model_signing verify key MODEL --signature MODEL.sig --public_key SIGNER.pub

model_signing's key method takes elliptic-curve keys (P-256/384/521), not Ed25519, so
each actor gets a second key pair for this, `keys/<actor>.p256.key` (0600) and
`.p256.pub`, made on first use. The Model statement records the signature file's digest
and the public key, which binds the OpenSSF signature to the actor's log signature.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fairtrail.crypto._files import write_private
from fairtrail.errors import InputError, VerificationError

if TYPE_CHECKING:
    from fairtrail.trail import Trail

__all__ = ["model_signing_key", "sign_model", "verify_model_signature"]

FORMAT = "openssf-model-signing (sigstore bundle, elliptic-curve key)"


def model_signing_key(trail: Trail, actor: str) -> tuple[Path, Path]:
    """(private, public) key paths of `actor`'s P-256 model-signing key; made if missing."""
    private = trail.paths.keys / f"{actor}.p256.key"
    public = trail.paths.keys / f"{actor}.p256.pub"
    if not private.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(private, pem)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    elif private.stat().st_mode & 0o077:
        raise InputError(f"{private} is readable by others; chmod 600 it")
    return private, public


def sign_model(model: Path, private_key: Path, public_key: Path, signature: Path) -> dict[str, Any]:
    """Sign `model` (file or folder) into `signature`; return what the statement records."""
    try:
        from model_signing import signing
    except ImportError:
        raise InputError("OpenSSF model signing needs the `model-signing` package") from None
    if signature.exists():
        raise InputError(f"{signature} already exists; refusing to overwrite a signature")
    try:
        config = signing.Config()  # type: ignore[no-untyped-call]
        config.use_elliptic_key_signer(private_key=private_key).sign(model, signature)
    except (OSError, ValueError) as exc:
        raise InputError(f"model_signing could not sign {model}: {exc}") from None
    return {
        "format": FORMAT,
        "signature": {"name": signature.name, "sha256": _sha256(signature)},
        "publicKey": public_key.read_text(),
    }


def verify_model_signature(model: Path, signature: Path, public_key: Path) -> None:
    """Verify with model_signing itself; `VerificationError` if it does not verify."""
    from model_signing import verifying

    try:
        config = verifying.Config()  # type: ignore[no-untyped-call]
        config.use_elliptic_key_verifier(public_key=public_key).verify(model, signature)
    except ValueError as exc:
        raise VerificationError(f"OpenSSF model signature does not verify: {exc}") from None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
