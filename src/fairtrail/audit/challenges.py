"""Answer and check per-sample audit challenges (see `audit/rows.py`)."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from fairtrail.audit.evaluations import EVALUATION_PREDICATE, row_records
from fairtrail.audit.rows import challenge_indices, open_rows
from fairtrail.crypto.canonical import parse_json
from fairtrail.crypto.dsse import Envelope
from fairtrail.errors import InputError, NoteError, ProofError, VerificationError
from fairtrail.log import merkle
from fairtrail.log.tlog_proof import open_entry
from fairtrail.statements.statement import Statement

if TYPE_CHECKING:
    from fairtrail.trail import Trail

__all__ = ["FORMAT", "answer_challenge", "check_challenge"]

FORMAT = "fairtrail-audit-challenge/v1"


def answer_challenge(trail: Trail, entry: int, seed: str, k: int) -> dict[str, Any]:
    if not 0 <= entry < trail.log.size:
        raise InputError(f"no entry {entry} in this trail")
    _, st = trail.statement(entry)
    if st.predicate_type != EVALUATION_PREDICATE:
        raise InputError(f"entry {entry} is not an Evaluation")
    rows = st.predicate.get("rowCommitments")
    if not rows:
        raise InputError(f"the Evaluation at entry {entry} has no row commitments")
    leaf, tlog_proof = trail.entry_proof(entry, "the Evaluation")
    records = row_records(trail, rows["root"])
    if len(records) != rows["count"]:
        raise InputError("the stored rows do not match the Evaluation's count")
    indices = challenge_indices(seed, rows["root"], rows["count"], k)
    return {
        "format": FORMAT,
        "logVkey": trail.config.log_vkey,
        "entry": entry,
        "leaf": base64.b64encode(leaf).decode(),
        "tlogProof": tlog_proof.decode(),
        "seed": seed,
        "k": k,
        "count": rows["count"],
        "root": rows["root"],
        "rows": open_rows(records, indices),
    }


def check_challenge(data: bytes, trusted_vkey: str | None = None) -> dict[str, Any]:
    doc = parse_json(data, what="challenge response", max_bytes=64 << 20)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"not a {FORMAT} document")
    try:
        leaf, checkpoint = open_entry(
            str(doc["logVkey"]), str(doc["leaf"]), str(doc["tlogProof"]), doc["entry"],
            trusted_vkey=trusted_vkey, what="response",
        )  # fmt: skip
        st = Statement.from_json(Envelope.from_json(leaf).payload_bytes)
        if st.predicate_type != EVALUATION_PREDICATE:
            raise VerificationError("the proved entry is not an Evaluation")
        committed = st.predicate.get("rowCommitments") or {}
        root, count = str(committed.get("root")), int(committed.get("count", 0))
        if root != doc["root"] or count != doc["count"]:
            raise VerificationError("the response names another root or count than the Evaluation")
        expected = challenge_indices(str(doc["seed"]), root, count, int(doc["k"]))
        opened = [int(r["index"]) for r in doc["rows"]]
        if opened != expected:
            raise VerificationError("the opened rows are not the ones the seed selects")
        sample = []
        for r in doc["rows"]:
            raw = str(r["record"]).encode("utf-8")
            path = [bytes.fromhex(h) for h in r["path"]]
            merkle.verify_inclusion(
                merkle.leaf_hash(raw), int(r["index"]), count, path, bytes.fromhex(root)
            )
            record = json.loads(raw)
            if record.get("i") != r["index"]:
                raise VerificationError(f"row {r['index']} is labelled as row {record.get('i')}")
            sample.append(record)
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"malformed challenge response: {exc}") from None
    except (NoteError, ProofError) as exc:
        raise VerificationError(f"the challenge response does not verify: {exc}") from None
    reported = st.predicate["report"]["overall"]
    n = len(sample)
    correct = sum(1 for s in sample if s["label"] == s["prediction"])
    selected = sum(1 for s in sample if s["prediction"])
    groups = st.predicate["report"]["by_group"]
    for s in sample:
        for col, value in s["group"].items():
            if col in groups and value not in groups[col]:
                raise VerificationError(
                    f"row {s['i']} is in group {value!r}, which the report lacks"
                )
    return {
        "entry": doc["entry"], "checkpoint": checkpoint.size, "count": count, "opened": n,
        "sample": {"accuracy": correct / n, "selection_rate": selected / n},
        "reported": {"accuracy": reported["accuracy"],
                     "selection_rate": reported["selection_rate"]},
        "pinned": trusted_vkey is not None,
    }  # fmt: skip
