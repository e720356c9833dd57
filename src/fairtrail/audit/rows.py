"""Per-row commitments of an audit, and seeded challenges that open a few rows.

An Evaluation reports rates over many rows; nobody outside can see the rows. So each
recorded audit also commits to them: row i becomes the record
`{"i", "input": {"sha256": SHA-256(salt_i || row JSON)}, "prediction", "label", "group"}`
(compact JSON, sorted keys), and the records are the leaves of an RFC 9162 tree whose root
goes into the Evaluation. Salts are HMAC-SHA256(secret, i)[:16] with a per-evaluation
secret kept off the log, so an input commitment cannot be brute-forced.

An auditor picks a seed (or a public randomness value); the seed and the root decide
which k rows the owner must open, so the owner cannot choose. The opened records and
their paths let anyone check that they are in the committed tree and compare the sample
with the reported metrics.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fairtrail.errors import InputError
from fairtrail.log import merkle

__all__ = ["RowEvidence", "challenge_indices", "commit_rows", "open_rows"]

_INPUT_DOMAIN = b"fairtrail-audit-row/v1\x00"


@dataclass(frozen=True)
class RowEvidence:
    y_true: npt.NDArray[np.bool_]
    y_pred: npt.NDArray[np.bool_]
    groups: Sequence[tuple[str, npt.NDArray[np.int64], Sequence[str]]]
    inputs: list[dict[str, Any]]  # each row's feature values (committed, never logged)


def _root(levels: list[list[bytes]]) -> bytes:
    return merkle.range_hash(0, len(levels[0]), lambda lv, ix: levels[lv][ix])


def commit_rows(evidence: RowEvidence, secret: bytes) -> tuple[bytes, list[bytes]]:
    """(tree root, the record bytes of every row in order)."""
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
    records = []
    names = [(col, codes, list(labels)) for col, codes, labels in evidence.groups]
    for i, row in enumerate(evidence.inputs):
        salt = hmac.new(secret, i.to_bytes(8, "big"), hashlib.sha256).digest()[:16]
        commitment = hashlib.sha256(_INPUT_DOMAIN + salt + dumps(row).encode("utf-8")).hexdigest()
        group = {col: labels[int(codes[i])] for col, codes, labels in names}
        records.append(dumps({
            "i": i, "input": {"sha256": commitment}, "prediction": bool(evidence.y_pred[i]),
            "label": bool(evidence.y_true[i]), "group": group,
        }).encode("utf-8"))  # fmt: skip
    if not records:
        raise InputError("no rows to commit")
    return _root(merkle.levels([merkle.leaf_hash(r) for r in records])), records


def challenge_indices(seed: str, root_hex: str, count: int, k: int) -> list[int]:
    """k distinct row indices decided by the seed and the committed root."""
    if not seed or len(seed) > 256:
        raise InputError("--seed is 1-256 characters")
    if k < 1:
        raise InputError("--k must be at least 1")
    k = min(k, count)
    chosen: list[int] = []
    seen: set[int] = set()
    j = 0
    while len(chosen) < k:
        digest = hashlib.sha256(f"fairtrail-challenge/v1|{seed}|{root_hex}|{j}".encode()).digest()
        index = int.from_bytes(digest[:8], "big") % count
        if index not in seen:
            seen.add(index)
            chosen.append(index)
        j += 1
    return chosen


def open_rows(records: list[bytes], indices: list[int]) -> list[dict[str, Any]]:
    levels = merkle.levels([merkle.leaf_hash(r) for r in records])
    out = []
    for i in indices:
        path = merkle.inclusion_proof(i, len(records), lambda lv, ix: levels[lv][ix])
        out.append({"index": i, "record": records[i].decode("utf-8"),
                    "path": [h.hex() for h in path]})  # fmt: skip
    return out
