"""The transparency log: a store plus the rules for signing checkpoints over it.

The one rule that must never break (c2sp.org/tlog-checkpoint): the log never signs a
checkpoint inconsistent with one it signed before. A Certificate Transparency log
(Yeti 2022) died of a single flipped bit it signed over. So before every signature
the log audits itself:

1. the previous checkpoint's signature verifies and its stored compact range folds
   into its root;
2. every entry appended since is re-read and re-hashed, and must equal the stored
   leaf hash;
3. the new root is recomputed *independently of the stored tiles*, from the previous
   compact range and those leaf hashes, and must equal the root the tiles give;
4. a consistency proof from the previous checkpoint, built from the stored tiles,
   must verify against both roots.

Only then is the checkpoint signed and stored; a store refuses a second, different
checkpoint for one size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from fairtrail.crypto.keys import SigningKey
from fairtrail.errors import IntegrityError, ProofError, ProofRequestError
from fairtrail.log import merkle
from fairtrail.log.checkpoint import (
    Checkpoint,
    Ed25519NoteVerifier,
    SignedNote,
    open_checkpoint,
    sign_note,
)
from fairtrail.log.store import Store, StoredCheckpoint

__all__ = ["InclusionProof", "ConsistencyProof", "TransparencyLog"]

_AUDIT_CHUNK = 65536


@dataclass(frozen=True)
class InclusionProof:
    index: int
    size: int
    leaf_hash: bytes
    hashes: list[bytes]
    root: bytes

    def verify(self) -> None:
        merkle.verify_inclusion(self.leaf_hash, self.index, self.size, self.hashes, self.root)


@dataclass(frozen=True)
class ConsistencyProof:
    size1: int
    size2: int
    root1: bytes
    root2: bytes
    hashes: list[bytes]

    def verify(self) -> None:
        merkle.verify_consistency(self.size1, self.size2, self.hashes, self.root1, self.root2)


class TransparencyLog:
    """Appends, signed checkpoints and proofs over one `Store`.

    `signer` is the log's checkpoint key; it may be None for a read-only log.
    """

    def __init__(
        self, store: Store, verifier: Ed25519NoteVerifier, signer: SigningKey | None = None
    ) -> None:
        if signer is not None and signer.public != verifier.public_key:
            raise IntegrityError("the log's signing key does not match its verifier key")
        self.store = store
        self.verifier = verifier
        self._signer = signer
        self._signed_roots: dict[int, bytes] = {}  # size -> root, signature verified

    @property
    def origin(self) -> str:
        return self.verifier.name

    @property
    def size(self) -> int:
        return self.store.size

    def append(self, leaves: list[bytes]) -> int:
        """Append leaves durably in one transaction; return the first index."""
        return self.store.append_batch(leaves)

    # ----------------------------------------------------------- checkpoints

    def open_stored(self, stored: StoredCheckpoint) -> tuple[Checkpoint, SignedNote]:
        """Verify a stored checkpoint's signature and that its fields match its note."""
        body, note = open_checkpoint(stored.note, [self.verifier], origin=self.origin)
        if body.size != stored.size or body.root != stored.root:
            raise IntegrityError(
                f"stored checkpoint for size {stored.size} does not match its signed note",
                expected=f"{stored.size}/{stored.root.hex()}",
                actual=f"{body.size}/{body.root.hex()}",
            )
        return body, note

    def latest_checkpoint(self) -> tuple[Checkpoint, SignedNote] | None:
        stored = self.store.latest_checkpoint()
        return self.open_stored(stored) if stored else None

    def checkpoint(self) -> tuple[Checkpoint, SignedNote]:
        """Sign a checkpoint over every committed leaf, after the self-audit above."""
        if self._signer is None:
            raise IntegrityError("this log was opened without its signing key")
        size = self.store.size
        previous = self.store.latest_checkpoint()
        if previous is not None and previous.size > size:
            raise IntegrityError(
                f"the log has {size} leaves but already signed a checkpoint for "
                f"{previous.size}: entries were removed (rollback); refusing to sign",
                index=size,
            )
        if previous is not None and previous.size == size:
            return self.open_stored(previous)

        compact, old_size = self._audited_start(previous)
        new_compact = self._recompute(compact, old_size, size)
        new_root = merkle.compact_root(new_compact)
        tiles_root = self.store.root(size)
        if tiles_root != new_root:
            raise IntegrityError(
                "stored tree hashes disagree with the entries; refusing to sign",
                expected=new_root,
                actual=tiles_root,
            )
        if previous is not None:
            proof = self.store.consistency_proof(previous.size, size)
            try:
                merkle.verify_consistency(previous.size, size, proof, previous.root, new_root)
            except ProofError as exc:
                raise IntegrityError(
                    f"new tree is not consistent with checkpoint {previous.size}: {exc}; "
                    "refusing to sign"
                ) from exc

        body = Checkpoint(self.origin, size, new_root)
        text = body.text()
        note = SignedNote(text, (sign_note(text, self.origin, self._signer),))
        self.store.add_checkpoint(
            StoredCheckpoint(size, new_root, note.to_bytes(), b"".join(new_compact))
        )
        return body, note

    def _audited_start(self, previous: StoredCheckpoint | None) -> tuple[list[bytes], int]:
        if previous is None:
            return [], 0
        self.open_stored(previous)
        compact = [previous.compact[i : i + 32] for i in range(0, len(previous.compact), 32)]
        if len(compact) != bin(previous.size).count("1") or any(len(h) != 32 for h in compact):
            raise IntegrityError(f"stored compact range of checkpoint {previous.size} is damaged")
        if merkle.compact_root(compact) != previous.root:
            raise IntegrityError(
                f"stored compact range of checkpoint {previous.size} does not match its root"
            )
        if self.store.root(previous.size) != previous.root:
            raise IntegrityError(
                f"stored tree no longer matches signed checkpoint {previous.size}; "
                "refusing to sign",
                expected=previous.root,
                actual=self.store.root(previous.size),
            )
        return compact, previous.size

    def _recompute(self, compact: list[bytes], start: int, end: int) -> list[bytes]:
        compact = list(compact)
        sha = hashlib.sha256
        pos = start
        while pos < end:
            stop = min(end, pos + _AUDIT_CHUNK)
            entries = self.store.entries(pos, stop)
            stored = self.store.leaf_hashes(pos, stop)
            for offset, data in enumerate(entries):
                h = sha(b"\x00" + data).digest()
                if h != stored[offset]:
                    raise IntegrityError(
                        f"entry {pos + offset} does not match its stored leaf hash; "
                        "refusing to sign",
                        index=pos + offset,
                        expected=stored[offset],
                        actual=h,
                    )
                merkle.compact_push(compact, pos + offset, 0, h)
            pos = stop
        return compact

    # ------------------------------------------------------------------ proofs

    def prove_inclusion(self, index: int, size: int | None = None) -> InclusionProof:
        """Inclusion proof for entry `index` in the tree of `size` (default: current size).

        The entry is re-hashed from its stored bytes, so an entry altered in the
        database yields an error instead of a proof for the altered data.
        """
        size = self.store.size if size is None else size
        _check_int("index", index)
        _check_int("size", size)
        if not 0 <= index < size:
            raise ProofRequestError(f"index {index} is not below size {size}")
        if size > self.store.size:
            raise ProofRequestError(f"size {size} is larger than the log ({self.store.size})")
        data = self.store.entries(index, index + 1)[0]
        stored = self.store.leaf_hashes(index, index + 1)[0]
        leaf = merkle.leaf_hash(data)
        if leaf != stored:
            raise IntegrityError(
                f"entry {index} does not match its stored leaf hash",
                index=index,
                expected=stored,
                actual=leaf,
            )
        proof = InclusionProof(
            index, size, leaf, self.store.inclusion_proof(index, size), self._trusted_root(size)
        )
        _fail_closed(proof.verify)
        return proof

    def prove_consistency(self, size1: int, size2: int) -> ConsistencyProof:
        _check_int("old size", size1)
        _check_int("new size", size2)
        if size2 > self.store.size:
            raise ProofRequestError(f"size {size2} is larger than the log ({self.store.size})")
        if not 0 < size1 <= size2:
            raise ProofRequestError(
                f"old size must be between 1 and the new size {size2}, got {size1}"
            )
        proof = ConsistencyProof(
            size1,
            size2,
            self._trusted_root(size1),
            self._trusted_root(size2),
            self.store.consistency_proof(size1, size2),
        )
        _fail_closed(proof.verify)
        return proof

    def _trusted_root(self, size: int) -> bytes:
        """The signed root at `size` if a checkpoint exists there, else the stored tree's.

        A proof built from damaged stored hashes must not verify against a root built
        from the same damage; against the signed root it fails, and nothing is served.
        """
        root = self.store.root(size)
        signed = self._signed_roots.get(size)
        if signed is None:
            for stored in self.store.checkpoints():
                if stored.size == size:
                    # verified once, then remembered: a row changed later is compared
                    # against the root that was signed, which is the point
                    signed = self._signed_roots[size] = self.open_stored(stored)[0].root
                    break
        if signed is not None:
            if signed != root:
                raise IntegrityError(
                    f"stored tree at size {size} no longer matches its signed checkpoint",
                    expected=signed,
                    actual=root,
                )
            return signed
        return root


def _fail_closed(check: Callable[[], None]) -> None:
    try:
        check()
    except ProofError as exc:
        raise IntegrityError(f"refusing to serve a proof that does not verify: {exc}") from exc


def _check_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 2**63:
        raise ProofRequestError(f"{name} must be an integer in 0..2**63-1, got {value!r}")
