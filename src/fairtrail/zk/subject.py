"""A data subject checks, offline, that a decision's proof was made on their own input.

They hold their copy of the receipt (`decisions receipt --with-input`: the record, the
salt, the input) and the model's evidence bundle. The bundle must verify (its ZkProofs
included); then the input is rebuilt into the circuit's vector with the salt columns the
decision's salt derives, quantised as ezkl does, and committed with the circuit's
verifying key: equal to the commitment the proof carries means the proof, and so the
proven output, is about this input and no other.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fairtrail.crypto.canonical import parse_json
from fairtrail.errors import InputError, VerificationError
from fairtrail.zk import _ezkl
from fairtrail.zk.export import Featurizer, salts
from fairtrail.zk.proofs import decision_salt_key

__all__ = ["check_subject_input", "commit_rows"]

MAX_RECEIPT_BYTES = 1 << 20


def commit_rows(
    circuit: dict[str, Any], rows: list[dict[str, Any]], salt_rows: list[bytes],
    settings: bytes, vk: bytes, srs: bytes,
) -> str:  # fmt: skip
    """The input commitment of one batch of `rows`, as the circuit's proofs commit to it."""
    ezkl = _ezkl.ezkl()
    featurizer = Featurizer.from_dict(circuit["featurizer"])
    batch = int(circuit["settings"]["batch"])
    scale = int(circuit["settings"]["inputScale"])
    padded = np.zeros((batch, featurizer.width))
    padded[: len(rows)] = featurizer.vectors(rows, salt_rows)
    felts = [ezkl.float_to_felt(float(v), scale) for v in padded.reshape(-1)]
    with tempfile.TemporaryDirectory(prefix="fairtrail-zk-") as tmp:
        folder = Path(tmp)
        for name, data in (("settings.json", settings), ("vk.key", vk), ("kzg.srs", srs)):
            (folder / name).write_bytes(data)
        return _ezkl.input_commitment(
            felts, folder / "vk.key", folder / "settings.json", folder / "kzg.srs"
        )


def check_subject_input(receipt: bytes, bundle: bytes) -> dict[str, Any]:
    """What the subject learns: the decision, the proven output, the ZkProof entry.
    Raises VerificationError if the bundle does not verify or the input is not theirs."""
    from fairtrail.bundle.verify import verify_bundle

    doc = parse_json(receipt, what="receipt", max_bytes=MAX_RECEIPT_BYTES)
    if not isinstance(doc, dict) or not {"record", "salt", "input"} <= set(doc):
        raise InputError("give your copy of the receipt with the input "
                         "(`fairtrail decisions receipt ID --with-input`)")  # fmt: skip
    report = verify_bundle(bundle)
    if not report.ok:
        raise VerificationError(f"the bundle does not verify: {report.failure}: "
                                f"{next(c.detail for c in report.claims if c.status == 'fail')}")
    record_sha = hashlib.sha256(str(doc["record"]).encode("utf-8")).hexdigest()
    raw = json.loads(bundle)
    from fairtrail.crypto.dsse import Envelope
    from fairtrail.statements.statement import Statement

    statements: dict[int, Statement] = {}
    for e in raw["entries"]:
        envelope = Envelope.from_json(base64.b64decode(e["leaf"]))
        statements[int(e["index"])] = Statement.from_json(envelope.payload_bytes)
    found = [(i, st.predicate) for i, st in statements.items()
             if st.predicate.get("purpose") == "decision"
             and st.predicate.get("decision", {}).get("record", {}).get("sha256") == record_sha]
    if not found:
        raise VerificationError("the bundle holds no proof of this decision")
    index, p = found[-1]
    circuit = statements[int(p["circuit"]["entry"])].predicate
    files = next(c for c in raw["zk"]["circuits"] if c["entry"] == p["circuit"]["entry"])
    try:
        row = json.loads(str(doc["input"]))
        salt = bytes.fromhex(str(doc["salt"]))
    except ValueError:
        raise InputError("the receipt's input or salt is malformed") from None
    if not isinstance(row, dict):
        raise InputError("the receipt's input is not an object of named features")
    mine = commit_rows(circuit, [row], salts(decision_salt_key(salt), 0, 1),
                       *(base64.b64decode(files[k]) for k in ("settings", "vk", "srs")))
    if mine != p["batches"][0]["inputCommitment"]:
        raise VerificationError("the proof of this decision was not made on your input")
    return {"decision": p["decision"]["id"], "proven": p["decision"]["proven"],
            "recorded": p["decision"]["output"], "entry": index,
            "model": p["model"]["name"]}  # fmt: skip
