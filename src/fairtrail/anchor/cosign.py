"""The log's side of c2sp.org/tlog-witness: ask witnesses to cosign a checkpoint.

For each witness the client sends `old <size it last cosigned>` with a consistency
proof from there. If the witness answers 409 with another size (its state is ahead of
or behind what we remembered), the request is rebuilt once from that size. Only
cosignatures that verify against the configured witness key are kept; anything else
the witness returns is ignored, as the spec requires.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

import requests

from fairtrail.anchor.config import WitnessConfig
from fairtrail.errors import NoteError, WitnessError
from fairtrail.log.checkpoint import (
    Checkpoint,
    NoteSignature,
    SignedNote,
    parse_cosigner_vkey,
    verify_note,
)

__all__ = ["CosignResult", "request_cosignature"]

_MAX_REPLY = 64 * 1024


@dataclass(frozen=True)
class CosignResult:
    witness: str
    signatures: tuple[NoteSignature, ...]
    size: int


def request_cosignature(
    witness: WitnessConfig,
    note: SignedNote,
    checkpoint: Checkpoint,
    last_size: int,
    consistency: Callable[[int, int], list[bytes]],
    *,
    timeout: float = 10.0,
) -> CosignResult:
    """Get `witness`'s cosignature of `note`; raise WitnessError with its reason."""
    verifier = parse_cosigner_vkey(witness.vkey)
    old = min(last_size, checkpoint.size)
    for attempt in range(2):
        proof = consistency(old, checkpoint.size) if 0 < old < checkpoint.size else []
        body = (
            f"old {old}\n".encode()
            + b"".join(base64.b64encode(h) + b"\n" for h in proof)
            + b"\n"
            + note.to_bytes()
        )
        url = witness.url.rstrip("/") + "/add-checkpoint"
        try:
            reply = requests.post(
                url, data=body, timeout=timeout, allow_redirects=False, stream=True
            )
            with reply:
                content = reply.raw.read(_MAX_REPLY + 1, decode_content=True)
        except requests.RequestException as exc:
            raise WitnessError(
                f"witness {witness.name} at {witness.url} unreachable ({type(exc).__name__})"
            ) from None
        if len(content) > _MAX_REPLY:
            raise WitnessError(f"witness {witness.name} sent an oversized reply")
        if reply.status_code == 409 and reply.headers.get("content-type", "").startswith(
            "text/x.tlog.size"
        ):
            text = content.decode("ascii", "replace").strip()
            if attempt == 0 and text.isdigit() and int(text) <= checkpoint.size:
                old = int(text)
                continue
            raise WitnessError(
                f"witness {witness.name} has seen size {text} of this log, "
                f"which this checkpoint (size {checkpoint.size}) does not extend"
            )
        if reply.status_code != 200:
            reason = content.decode("utf-8", "replace").strip()[:200]
            raise WitnessError(f"witness {witness.name} refused ({reply.status_code}): {reason}")
        try:
            combined = SignedNote.parse(note.to_bytes() + content)
            verify_note(combined, [verifier])
        except NoteError as exc:
            raise WitnessError(
                f"witness {witness.name} returned no valid cosignature: {exc}"
            ) from None
        mine = tuple(
            s for s in combined.signatures
            if s.name == verifier.name and s.key_id == verifier.key_id
        )  # fmt: skip
        return CosignResult(witness.name, mine, checkpoint.size)
    raise WitnessError(f"witness {witness.name} kept answering 409")
