"""Personal records of data subjects: vault + SD-JWT commitments on the log + erasure.

    record_personal  fields -> vault (encrypted, per-subject key); the log gets a signed
                     PersonalRecord: the subject's random handle and an SD-JWT whose
                     payload holds only salted digests of the fields
    disclose         one or more fields as an SD-JWT presentation, with the record's
                     entry and a C2SP tlog-proof: checkable offline by anyone
    erase            an Erasure statement, then the subject's key, records and handle
                     mapping are destroyed; every proof still verifies, nothing is
                     recoverable

No personal value, and no subject identifier, is ever written to the log.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fairtrail.crypto.canonical import parse_json
from fairtrail.crypto.dsse import Envelope
from fairtrail.errors import InputError, NoteError, ProofError, VerificationError
from fairtrail.log.tlog_proof import open_entry
from fairtrail.privacy import sdjwt
from fairtrail.privacy.vault import Vault
from fairtrail.statements.actors import Role
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.trail import Receipt, Trail

__all__ = [
    "DISCLOSURE_FORMAT",
    "ERASURE_PREDICATE",
    "PERSONAL_PREDICATE",
    "check_disclosure",
    "disclose",
    "erase_subject",
    "record_personal",
]

PERSONAL_PREDICATE = predicate_type("personal-record")
ERASURE_PREDICATE = predicate_type("erasure")
DISCLOSURE_FORMAT = "fairtrail-disclosure/v1"
ERASE_ROLES = (Role.ADMIN, Role.COMPLIANCE_OFFICER)


def _vault(trail: Trail) -> Vault:
    return Vault(trail.paths.secrets / "vault.db")


def _handle_digest(handle: str) -> dict[str, str]:
    return {"sha256": hashlib.sha256(handle.encode("ascii")).hexdigest()}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_personal(
    trail: Trail, subject: str, fields: dict[str, str], signer: SigningKey, purpose: str = ""
) -> Receipt:
    if not fields:
        raise InputError("give at least one --field NAME=VALUE")
    if len(purpose) > 256:
        raise InputError("--purpose is at most 256 characters")
    record_id = "rec-" + secrets.token_hex(8)
    with _vault(trail) as vault:
        handle = vault.handle(subject, create=True)
        issuance = sdjwt.issue(fields, signer, iss=trail.config.origin, sub=handle)
        vault.put(subject, record_id, issuance.encode("utf-8"))  # before the log: no orphan claim
    jwt = sdjwt.jwt_part(issuance)
    statement = Statement(
        subject=[
            Subject(name=handle, digest=_handle_digest(handle)),
            Subject(name=record_id, digest={"sha256": hashlib.sha256(jwt.encode()).hexdigest()}),
        ],
        predicate_type=PERSONAL_PREDICATE,
        predicate={
            "handle": handle,
            "record": record_id,
            "sdJwt": jwt,
            "issuerJwk": sdjwt.public_jwk(signer),
            "fields": len(fields),
            "purpose": purpose,
            "recordedAt": _now(),
        },
    )
    return trail.record(statement, signer)


def _records_of(trail: Trail, handle: str) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for index in trail.indices_about(_handle_digest(handle), PERSONAL_PREDICATE):
        _, st = trail.statement(index)
        out.append((index, st.predicate))
    return out


def disclose(trail: Trail, subject: str, names: list[str]) -> dict[str, Any]:
    """A disclosure document for `names` from the subject's latest record."""
    with _vault(trail) as vault:
        handle = vault.handle(subject)
        records = _records_of(trail, handle)
        if not records:
            raise InputError("the subject has no personal record on the log")
        index, predicate = records[-1]
        issuance = vault.get(subject, predicate["record"]).decode("utf-8")
    leaf, tlog_proof = trail.entry_proof(index, "the record")
    return {
        "format": DISCLOSURE_FORMAT,
        "logVkey": trail.config.log_vkey,
        "entry": index,
        "leaf": base64.b64encode(leaf).decode("ascii"),
        "tlogProof": tlog_proof.decode("utf-8"),
        "presentation": sdjwt.present(issuance, names),
    }


def check_disclosure(data: bytes, trusted_vkey: str | None = None) -> dict[str, Any]:
    """Check a disclosure offline; return the proved claims and where they are logged."""
    doc = parse_json(data, what="disclosure", max_bytes=4 << 20)
    if not isinstance(doc, dict) or doc.get("format") != DISCLOSURE_FORMAT:
        raise InputError(f"not a {DISCLOSURE_FORMAT} document")
    try:
        leaf, checkpoint = open_entry(
            str(doc["logVkey"]), str(doc["leaf"]), str(doc["tlogProof"]), doc["entry"],
            trusted_vkey=trusted_vkey, what="disclosure",
        )  # fmt: skip
        statement = Statement.from_json(Envelope.from_json(leaf).payload_bytes)
    except (KeyError, ValueError) as exc:
        raise InputError(f"malformed disclosure: {exc}") from None
    except (NoteError, ProofError) as exc:
        raise VerificationError(f"the record is not proved on the log: {exc}") from None
    p = statement.predicate
    if statement.predicate_type != PERSONAL_PREDICATE:
        raise VerificationError("the proved entry is not a personal record")
    presentation = str(doc["presentation"])
    if sdjwt.jwt_part(presentation) != p.get("sdJwt"):
        raise VerificationError("the presentation is not the SD-JWT the log recorded")
    claims = sdjwt.verify_presentation(presentation, dict(p["issuerJwk"]))
    if claims.get("sub") != p.get("handle"):
        raise VerificationError("the presentation is about another subject handle")
    disclosed = {k: v for k, v in claims.items() if k not in ("iss", "sub")}
    return {
        "entry": doc["entry"],
        "checkpoint": checkpoint.size,
        "handle": p["handle"],
        "record": p["record"],
        "disclosed": disclosed,
        "pinned": trusted_vkey is not None,
    }


def erase_subject(trail: Trail, subject: str, signer: SigningKey) -> tuple[Receipt | None, str]:
    """Record an Erasure, then destroy the subject's key, records and handle mapping.

    The statement comes first: if the process dies between the two, running erase
    again destroys the data without recording a second Erasure."""
    actor = trail.keyring.by_key(signer.public)
    if actor is None or not actor.roles & set(ERASE_ROLES):
        who = actor.name if actor else "this key"
        raise InputError(f"{who} may not erase: needs the role admin or compliance-officer")
    with _vault(trail) as vault:
        handle = vault.handle(subject)
        entries = [i for i, _ in _records_of(trail, handle)]
        done = trail.indices_about(_handle_digest(handle), ERASURE_PREDICATE)
        receipt = None
        if not done:
            statement = Statement(
                subject=[Subject(name=handle, digest=_handle_digest(handle))],
                predicate_type=ERASURE_PREDICATE,
                predicate={
                    "handle": handle,
                    "records": entries,
                    "method": "crypto-shredding: per-subject AES-256-GCM key and records deleted",
                    "erasedAt": _now(),
                },
            )
            receipt = trail.record(statement, signer)
        vault.erase(subject)
    return receipt, handle
