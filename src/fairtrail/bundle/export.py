"""Build an evidence bundle from a trail: chosen entries, each proved to one checkpoint."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fairtrail.errors import InputError
from fairtrail.statements.actors import ACTOR_PREDICATE
from fairtrail.statements.statement import predicate_type

if TYPE_CHECKING:
    from fairtrail.trail import Trail

__all__ = ["ANCHOR_PREDICATE", "build_bundle"]

ANCHOR_PREDICATE = predicate_type("anchor")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_bundle(
    trail: Trail, about: dict[str, Any], indices: Iterable[int]
) -> tuple[dict[str, Any], list[int]]:
    """The bundle document for `about` with `indices` (plus every actor statement and
    Anchor statement the checkpoint covers), and the indices left out because no
    checkpoint covers them yet."""
    latest = trail.latest_checkpoint()
    if latest is None:
        raise InputError("the trail has no signed checkpoint; run `fairtrail checkpoint`")
    body, _ = latest
    size = body.size
    if int(about["entry"]) >= size:
        raise InputError(
            f"the model's statement (entry {about['entry']}) is newer than the latest "
            f"checkpoint ({size}); run `fairtrail checkpoint` first"
        )
    wanted = set(indices)
    wanted.update(trail.indices_of_type(ACTOR_PREDICATE))
    wanted.update(trail.indices_of_type(ANCHOR_PREDICATE))
    covered = sorted(i for i in wanted if i < size)
    pending = sorted(i for i in wanted if i >= size)
    entries = []
    anchored_sizes: set[int] = set()
    anchor_entries = set(trail.indices_of_type(ANCHOR_PREDICATE))
    with trail.store.snapshot():
        for index in covered:
            leaf = trail.store.entries(index, index + 1)[0]
            proof = trail.prove_inclusion(index, size)
            entries.append(
                {"index": index, "leaf": _b64(leaf), "proof": [_b64(h) for h in proof.hashes]}
            )
            if index in anchor_entries:
                _, st = trail.statement(index)
                anchored_sizes.add(int(st.predicate["checkpoint"]["size"]))
        anchored = []
        for anchored_size in sorted(anchored_sizes):
            note = trail.cosigned_note(anchored_size)
            consistency = (
                trail.prove_consistency(anchored_size, size).hashes
                if 0 < anchored_size < size
                else []
            )
            anchored.append(
                {"note": note.to_bytes().decode("utf-8"),
                 "consistency": [_b64(h) for h in consistency]}
            )  # fmt: skip
        checkpoint = trail.cosigned_note(size).to_bytes().decode("utf-8")
    document = {
        "format": "fairtrail-bundle/v1",
        "createdAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "about": about,
        "log": {
            "origin": trail.config.origin,
            "vkey": trail.config.log_vkey,
            "rootAdmin": {"name": trail.config.admin_name, "key": trail.config.admin_key},
        },
        "checkpoint": checkpoint,
        "entries": entries,
        "anchored": anchored,
    }
    return document, pending
