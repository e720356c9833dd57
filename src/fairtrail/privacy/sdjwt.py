"""Selective disclosure of personal fields with SD-JWT (IETF OAuth SD-JWT).

A record's fields become SD-JWT disclosures `[salt, name, value]` with 128-bit random
salts; the issuer-signed JWT holds only their SHA-256 digests (`_sd`), the pseudonymous
subject handle and the log's origin. That JWT (no personal value in it) is what the log
records; the disclosures stay in the vault. To prove one field, the holder presents
the JWT with that one disclosure; anyone can check the digest is in the JWT and the
JWT is on the log. After erasure the disclosures are gone, and the digests reveal
nothing (the salts are unguessable).

Uses `sd-jwt` (the specification's reference implementation) with EdDSA signatures
by the recording actor's Ed25519 key.
"""

from __future__ import annotations

import json
from typing import Any

from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from fairtrail.crypto.keys import SigningKey
from fairtrail.errors import InputError, SignatureError

__all__ = ["TYP", "issue", "jwt_part", "present", "public_jwk", "verify_presentation"]

TYP = "fairtrail-record+sd-jwt"
_RESERVED = {"iss", "sub", "iat", "exp", "nbf", "cnf", "_sd", "_sd_alg", "..."}


def public_jwk(key: SigningKey) -> dict[str, Any]:
    jwk = JWK.from_pyca(key.as_pyca().public_key())
    value: dict[str, Any] = json.loads(jwk.export_public())
    return value


def issue(fields: dict[str, str], key: SigningKey, *, iss: str, sub: str) -> str:
    """The SD-JWT issuance (`<jwt>~<disclosure>~...~`), every field disclosable."""
    for name in fields:
        if name in _RESERVED or not name or len(name) > 128:
            raise InputError(f"field name {name!r} is reserved or invalid")
    claims: dict[Any, Any] = {"iss": iss, "sub": sub}
    claims.update({SDObj(name): value for name, value in fields.items()})
    issuer = SDJWTIssuer(
        claims, JWK.from_pyca(key.as_pyca()), sign_alg="EdDSA",
        extra_header_parameters={"typ": TYP},
    )  # fmt: skip
    issuance: str = issuer.sd_jwt_issuance
    return issuance


def jwt_part(issuance_or_presentation: str) -> str:
    """The issuer-signed JWT alone: what goes on the log."""
    return issuance_or_presentation.split("~", 1)[0]


def present(issuance: str, names: list[str]) -> str:
    holder = SDJWTHolder(issuance)
    known = set(_disclosed_names(issuance))
    missing = [n for n in names if n not in known]
    if missing:
        raise InputError(f"the record has no field {missing[0]!r}")
    holder.create_presentation({name: True for name in names})
    presentation: str = holder.sd_jwt_presentation
    return presentation


def verify_presentation(presentation: str, jwk: dict[str, Any]) -> dict[str, Any]:
    """The claims the presentation proves (disclosed fields plus iss and sub)."""
    if len(presentation) > 1 << 20:
        raise InputError("presentation is too large")
    try:
        key = JWK(**jwk)
        verifier = SDJWTVerifier(presentation, lambda _iss, _header: key)
        claims: dict[str, Any] = verifier.get_verified_payload()
    except Exception as exc:  # jwcrypto/sd-jwt raise many types; all mean "does not verify"
        raise SignatureError(f"the SD-JWT presentation does not verify: {exc}") from None
    return claims


def _disclosed_names(issuance: str) -> list[str]:
    import base64

    names = []
    for part in issuance.split("~")[1:]:
        if part:
            padded = part + "=" * (-len(part) % 4)
            item = json.loads(base64.urlsafe_b64decode(padded))
            if len(item) == 3:
                names.append(str(item[1]))
    return names
