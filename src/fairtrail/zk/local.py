"""Verify a ZkProof recorded in this trail, from the files the trail holds."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fairtrail.errors import InputError
from fairtrail.zk.circuits import CIRCUIT_PREDICATE, circuit_folder
from fairtrail.zk.proofs import PROOF_PREDICATE, proof_file
from fairtrail.zk.verify import circuit_files_in, verify_batch

if TYPE_CHECKING:
    from fairtrail.trail import Trail

__all__ = ["verify_entry"]


def verify_entry(trail: Trail, entry: int) -> tuple[dict[str, Any], float]:
    """(the ZkProof predicate, seconds taken); raises ZkVerificationError if it fails."""
    if entry >= trail.log.size:
        raise InputError(f"entry {entry} is beyond the log (size {trail.log.size})")
    _, st = trail.statement(entry)
    if st.predicate_type != PROOF_PREDICATE:
        raise InputError(f"entry {entry} is not a ZkProof statement")
    p = st.predicate
    circuit_entry = int(p["circuit"]["entry"])
    _, cst = trail.statement(circuit_entry)
    if cst.predicate_type != CIRCUIT_PREDICATE or circuit_entry >= entry:
        raise InputError(f"ZkProof {entry} names entry {circuit_entry}, not an earlier ZkCircuit")
    circuit = cst.predicate
    files = circuit_files_in(circuit_folder(trail, circuit))
    started = time.perf_counter()
    for batch in p["batches"]:
        path = proof_file(trail, str(batch["proof"]["sha256"]))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"this trail does not hold the proof file {path.name}") from None
        verify_batch(files, circuit, p, batch, data)
    return p, time.perf_counter() - started
