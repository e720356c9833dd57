"""The verifiable log: RFC 9162 Merkle tree, C2SP checkpoints, stores and fsck.

`log/` knows nothing about statements or ML: it orders and proves opaque leaves.
"""

from fairtrail.errors import IntegrityError, NoteError, ProofError
from fairtrail.log.checkpoint import Checkpoint, Ed25519NoteVerifier, SignedNote
from fairtrail.log.fsck import FsckReport, fsck
from fairtrail.log.sqlite import SqliteStore
from fairtrail.log.store import Store, StoredCheckpoint
from fairtrail.log.tlog import ConsistencyProof, InclusionProof, TransparencyLog

__all__ = [
    "Checkpoint",
    "ConsistencyProof",
    "Ed25519NoteVerifier",
    "FsckReport",
    "InclusionProof",
    "IntegrityError",
    "NoteError",
    "ProofError",
    "SignedNote",
    "SqliteStore",
    "Store",
    "StoredCheckpoint",
    "TransparencyLog",
    "fsck",
]
