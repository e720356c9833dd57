"""Check one zk proof offline: against the verifying key, settings and SRS the ZkCircuit
statement names, the weight commitment it records, and the outputs and input commitment
the ZkProof statement claims.

The order of the checks is what makes each failure name its cause: the key files are
compared with their recorded digests first (a swapped key), then the proof's first
public value with the weight commitment (a proof for another model), then its outputs
with the recorded ones (altered outputs), then the recorded input commitment is put
into the proof (ezkl's `swap_proof_commitments`) and the proof is verified: it holds
only if the proof was made on that committed input, with that key.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairtrail.errors import InputError, VerificationError
from fairtrail.zk import _ezkl

__all__ = ["MAX_PROOF_BYTES", "CircuitFiles", "ZkVerificationError", "verify_batch"]

MAX_PROOF_BYTES = 4 << 20


class ZkVerificationError(VerificationError):
    """A zk proof does not hold; `kind` says which check failed."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class CircuitFiles:
    """What verification needs of a circuit, as bytes (from a trail or a bundle)."""

    settings: bytes
    vk: bytes
    srs: bytes

    def check(self, circuit: dict[str, Any]) -> None:
        """The files are the ones the ZkCircuit statement `circuit` names."""
        for name, data, want in (
            ("verifying key", self.vk, circuit["verifyingKey"]["sha256"]),
            ("settings", self.settings, circuit["settings"]["sha256"]),
            ("SRS", self.srs, circuit["srs"]["sha256"]),
        ):
            if hashlib.sha256(data).hexdigest() != want:
                raise ZkVerificationError(
                    "key", f"the circuit's {name} is not the one its ZkCircuit statement names"
                )


def verify_batch(
    files: CircuitFiles, circuit: dict[str, Any], proof: dict[str, Any], batch: dict[str, Any],
    proof_bytes: bytes,
) -> None:  # fmt: skip
    """Raise ZkVerificationError unless `proof_bytes` proves `batch` of ZkProof `proof` with
    the circuit `circuit` (both predicates)."""
    ezkl = _ezkl.ezkl()
    files.check(circuit)
    if proof.get("circuit", {}).get("verifyingKey") != circuit["verifyingKey"]["sha256"]:
        raise ZkVerificationError("key", "the proof names another verifying key than its circuit")
    if len(proof_bytes) > MAX_PROOF_BYTES:
        raise ZkVerificationError("malformed", f"a proof file is over {MAX_PROOF_BYTES} bytes")
    if hashlib.sha256(proof_bytes).hexdigest() != batch["proof"]["sha256"]:
        raise ZkVerificationError("malformed", "a proof file is not the one its ZkProof names")
    try:
        doc = json.loads(proof_bytes)
        instances = doc["instances"][0]
        if not isinstance(instances, list):
            raise TypeError
    except (ValueError, KeyError, IndexError, TypeError):
        raise ZkVerificationError("malformed", "a proof file is not an ezkl proof") from None
    weight = circuit["weightCommitment"]["poseidon"]
    if proof.get("weightCommitment") != weight or not instances or instances[0] != weight:
        raise ZkVerificationError(
            "model", "the proof's weight commitment is not the committed model's"
        )
    count, outputs = int(batch["count"]), list(batch["outputs"])
    batch_size = int(circuit["settings"]["batch"])
    if len(instances) != 1 + batch_size or len(outputs) != count or not 1 <= count <= batch_size:
        raise ZkVerificationError("outputs", "the proof's public outputs do not match its batch")
    try:
        proven = [int(ezkl.felt_to_int(f)) for f in instances[1 : 1 + count]]
    except (RuntimeError, ValueError, TypeError):
        raise ZkVerificationError(
            "malformed", "the proof's outputs are not field elements"
        ) from None
    if proven != outputs:
        first = next(i for i, (a, b) in enumerate(zip(proven, outputs, strict=True)) if a != b)
        raise ZkVerificationError(
            "outputs", f"output {batch['first'] + first} differs from the one the proof shows"
        )
    with tempfile.TemporaryDirectory(prefix="fairtrail-zk-") as tmp:
        folder = Path(tmp)
        (folder / "settings.json").write_bytes(files.settings)
        (folder / "vk.key").write_bytes(files.vk)
        (folder / "kzg.srs").write_bytes(files.srs)
        (folder / "proof.json").write_bytes(proof_bytes)
        _ezkl.write_json(folder / "commitments.json", {
            "inputs": [], "outputs": [], "max_lookup_inputs": 0, "min_lookup_inputs": 0,
            "max_range_size": 0, "processed_outputs": None,
            "processed_inputs": {"poseidon_hash": None,
                                 "polycommit": [[str(batch["inputCommitment"])]]},
            "processed_params": {"poseidon_hash": [weight], "polycommit": None},
        })  # fmt: skip
        try:
            with _ezkl.quiet():
                ezkl.swap_proof_commitments(
                    str(folder / "proof.json"), str(folder / "commitments.json")
                )
                ok = ezkl.verify(str(folder / "proof.json"), str(folder / "settings.json"),
                                 str(folder / "vk.key"), str(folder / "kzg.srs"))  # fmt: skip
        except (RuntimeError, ValueError) as exc:
            text = str(exc).strip().splitlines()
            raise ZkVerificationError(
                "proof", f"the proof does not verify with its key and commitments "
                f"({text[0] if text else type(exc).__name__})",
            ) from None
        if ok is not True:
            raise ZkVerificationError("proof", "the proof does not verify")


def circuit_files_in(folder: Path) -> CircuitFiles:
    try:
        return CircuitFiles(
            (folder / "settings.json").read_bytes(), (folder / "vk.key").read_bytes(),
            (folder / "kzg.srs").read_bytes(),
        )  # fmt: skip
    except FileNotFoundError as exc:
        raise InputError(f"the circuit file {exc.filename} is missing") from None
