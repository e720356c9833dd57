"""What every log store must do, whatever the database behind it.

A store keeps three things: the entries (leaf bytes) at contiguous indices, the
subtree hashes over them (tiles), and the signed checkpoints. It does not sign, parse
or interpret anything; `fairtrail.log.tlog.TransparencyLog` does that on top of it.

Guarantees every implementation must give (tests in tests/log/ run against each):
- `append_batch` is one transaction: all leaves land at contiguous indices or none do,
  and an index is never reused. It returns only after the commit is durable.
- Checkpoints are keyed by size: a second, different checkpoint for a size is refused.
- One writer at a time: opening a second writer is refused (`StoreLockedError`).
- After a failed write the store refuses further writes (fail-stop).
- Proof reads see one consistent snapshot, even while another process appends; so does
  everything read inside `snapshot()`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

__all__ = ["MAX_ENTRY_BYTES", "Store", "StoredCheckpoint"]

#: The largest single entry a store accepts. Statements are small; bulk data stays off-log.
MAX_ENTRY_BYTES = 1 << 20


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as kept by the store.

    `compact` is the compact range at `size` (the perfect-subtree hashes that fold
    into `root`), kept so the next checkpoint can be recomputed independently of the
    stored tiles before it is signed.
    """

    size: int
    root: bytes
    note: bytes
    compact: bytes


class Store(Protocol):
    """A durable, append-only home for a Merkle tree log."""

    #: where the store is, for messages: a file path or a database URL without password
    name: str

    @property
    def size(self) -> int: ...

    @property
    def writable(self) -> bool:
        """True when this process is the log's one writer (it holds the sequencer lock)."""
        ...

    def snapshot(self) -> AbstractContextManager[int]:
        """A block in which every read sees one state of the log; yields its size.

        Long reads (a full check, an export) use it so that appends by another process
        meanwhile are neither seen half-way nor mistaken for damage.
        """
        ...

    def append_batch(self, leaves: Sequence[bytes]) -> int:
        """Append `leaves` atomically and durably; return the index of the first one."""
        ...

    def entries(self, start: int, end: int) -> list[bytes]: ...

    def iter_entries(self, start: int = 0, chunk: int = 65536) -> Iterator[tuple[int, bytes]]:
        """(index, data) for every stored entry from `start`, in order, as stored."""
        ...

    def read_rows(self, start: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` stored (index, data) rows with index >= `start`, in order, as stored
        (gaps included: this is what integrity checks read)."""
        ...

    def leaf_hashes(self, start: int, end: int) -> list[bytes]: ...

    def tile(self, level: int, index: int) -> bytes:
        """The stored hashes of tile (level, index), concatenated (b"" if absent)."""
        ...

    def tiles(self, level: int, start: int, end: int) -> dict[int, bytes]:
        """Stored tiles of `level` with index in [start, end), by index (bulk read)."""
        ...

    def subtree_hash(self, level: int, index: int) -> bytes: ...

    def root(self, size: int) -> bytes: ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]: ...

    def checkpoints(self) -> list[StoredCheckpoint]: ...

    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Persist a checkpoint; refuse a different one for a size that already has one."""
        ...

    def add_cosignatures(self, size: int, lines: Sequence[bytes]) -> None:
        """Keep witness cosignature lines for the checkpoint of `size` (append-only)."""
        ...

    def cosignatures(self, size: int) -> list[bytes]:
        """The cosignature lines kept for the checkpoint of `size`."""
        ...

    def entry_count(self) -> tuple[int, int]:
        """(number of stored entries, highest stored index or -1), read from the entries."""
        ...

    def close(self) -> None: ...
