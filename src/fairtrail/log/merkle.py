"""RFC 9162 Merkle tree hashing and proofs, as pure functions with no I/O.

The tree is the one of RFC 9162 §2.1 (same as RFC 6962): a leaf hash is
SHA-256(0x00 || data), an interior node is SHA-256(0x01 || left || right), and the
tree over n leaves splits at the largest power of two smaller than n. The 0x00/0x01
prefixes keep a leaf from ever being mistaken for a node (CVE-2012-2459 style attacks).

Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 step by step, and rejects any
input that is not exactly right: wrong hash lengths, indices out of range, proofs
that are too long or too short. Every failure raises `ProofError`, never anything else.

Proof *generation* is also here, written against a `SubtreeHash` callback that returns
the hash of a perfect, aligned subtree. Stores answer that callback from stored
subtree hashes (tiles), so a proof costs O(log n) reads and never a scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from fairtrail.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_PROOF_HASHES",
    "SubtreeHash",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "compact_push",
    "compact_root",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
#: A tree of at most 2**63 leaves never needs a longer proof (consistency proofs add one).
MAX_PROOF_HASHES = 64
#: RFC 9162 §2.1.1: the hash of an empty tree is the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()
_MAX_SIZE = 2**63

#: (level, index) -> hash of the perfect subtree over leaves
#: [index * 2**level, (index + 1) * 2**level).
SubtreeHash = Callable[[int, int], bytes]

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Hash one leaf: SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash an interior node: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def root(leaf_hashes: Iterable[bytes]) -> bytes:
    """The RFC 9162 tree head over `leaf_hashes` (already leaf-hashed), in O(n) time.

    Uses a compact range (one pending hash per level) instead of recursion, so it is
    fast and needs O(log n) memory for any number of leaves.
    """
    compact: list[bytes] = []
    size = 0
    for h in leaf_hashes:
        compact_push(compact, size, 0, h)
        size += 1
    return compact_root(compact)


def levels(leaf_hashes: list[bytes]) -> list[list[bytes]]:
    """An in-memory tree by level: level L holds the hashes of the complete 2**L-leaf
    subtrees, left to right (an unpaired last node is not carried up). `range_hash` and
    `inclusion_proof` take `lambda level, index: tree[level][index]` as their subtree
    source, for small trees built in one go (a batch of decisions, an audit's rows)."""
    tree = [leaf_hashes]
    while len(tree[-1]) > 1:
        prev = tree[-1]
        tree.append([node_hash(prev[i], prev[i + 1]) for i in range(0, len(prev) - 1, 2)])
    return tree


def compact_push(compact: list[bytes], size: int, level: int, subtree: bytes) -> None:
    """Append a perfect subtree of 2**level leaves to the compact range of a `size`-leaf tree.

    A compact range is the list of perfect-subtree hashes, largest first, that a tree of
    `size` leaves decomposes into (one per set bit of `size`). `size` must be a multiple
    of 2**level. The list is changed in place.
    """
    if size & ((1 << level) - 1):
        raise ValueError(f"cannot push a level-{level} subtree onto a tree of size {size}")
    carry = size >> level
    while carry & 1:
        subtree = node_hash(compact.pop(), subtree)
        carry >>= 1
    compact.append(subtree)


def compact_root(compact: Sequence[bytes]) -> bytes:
    """Fold a compact range (largest subtree first) into the tree head."""
    if not compact:
        return EMPTY_ROOT
    acc = compact[-1]
    for h in reversed(compact[:-1]):
        acc = node_hash(h, acc)
    return acc


def range_hash(start: int, end: int, subtree: SubtreeHash) -> bytes:
    """MTH(D[start:end]) for a range whose start is aligned to its largest power of two.

    Such ranges are exactly the ones RFC 9162 proofs need. The range is split into
    perfect subtrees from the left (largest first); their hashes fold from the right.
    """
    parts: list[bytes] = []
    pos = start
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        if pos % (1 << level):
            raise ValueError(f"range [{start}, {end}) is not aligned")
        parts.append(subtree(level, pos >> level))
        pos += 1 << level
        remaining -= 1 << level
    return compact_root(parts)


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[size]), bottom-up, from stored subtree hashes."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not below size {size}")
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if m < k:
            path.append(range_hash(lo + k, hi, subtree))
            hi = lo + k
        else:
            path.append(range_hash(lo, lo + k, subtree))
            lo += k
            m -= k
    path.reverse()
    return path


def consistency_proof(size1: int, size2: int, subtree: SubtreeHash) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(size1, D[size2]) from stored subtree hashes."""
    if not 0 < size1 <= size2:
        raise ValueError(f"cannot prove consistency from size {size1} to size {size2}")
    proof: list[bytes] = []
    lo, hi, m, complete = 0, size2, size1, True
    while m != hi - lo:
        k = _largest_power_of_two_below(hi - lo)
        if m <= k:
            proof.append(range_hash(lo + k, hi, subtree))
            hi = lo + k
        else:
            proof.append(range_hash(lo, lo + k, subtree))
            lo += k
            m -= k
            complete = False
    if not complete:
        proof.append(range_hash(lo, hi, subtree))
    proof.reverse()
    return proof


def _check_hash(name: str, value: object) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        length = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ProofError(f"{name} must be a {HASH_SIZE}-byte SHA-256 hash, got {length}")
    return bytes(value)


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProofError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= value < _MAX_SIZE:
        raise ProofError(f"{name} {value} is outside 0..2**63-1")
    return value


def _check_proof(proof: object) -> list[bytes]:
    if isinstance(proof, bytes | str) or not isinstance(proof, Sequence):
        raise ProofError("proof must be a sequence of hashes")
    if len(proof) > MAX_PROOF_HASHES:
        raise ProofError(f"proof has {len(proof)} hashes, more than any tree needs")
    out = []
    for i, p in enumerate(proof):  # the common case first: no name formatted per hash
        out.append(p if type(p) is bytes and len(p) == HASH_SIZE else _check_hash(f"proof[{i}]", p))
    return out


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is leaf `index` of the tree of `size` leaves with `root`.

    Raises `ProofError` on any failure, including malformed arguments.
    """
    leaf = _check_hash("leaf hash", leaf_hash)
    expected_root = _check_hash("root", root)
    index = _check_size("index", index)
    size = _check_size("size", size)
    hashes = _check_proof(proof)
    if index >= size:
        raise ProofError(f"index {index} is not below tree size {size}")

    fn, sn, r = index, size - 1, leaf
    for p in hashes:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if r != expected_root:
        raise ProofError("inclusion proof leads to another root", expected=expected_root, actual=r)


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of `size1` leaves with `root1` is a prefix of the one with `root2`.

    Raises `ProofError` on any failure, including malformed arguments. Equal sizes need
    an empty proof and equal roots; the empty tree's root must be SHA-256("").
    A consistency proof from the empty tree proves nothing and is rejected.
    """
    size1 = _check_size("size1", size1)
    size2 = _check_size("size2", size2)
    hashes = _check_proof(proof)
    if not isinstance(root1, bytes | bytearray) or not isinstance(root2, bytes | bytearray):
        raise ProofError("roots must be bytes")
    if size2 < size1:
        raise ProofError(f"size2 {size2} is smaller than size1 {size1}")
    if size1 == size2:
        if hashes:
            raise ProofError("sizes are equal, so the proof must be empty")
        if size1 == 0 and bytes(root1) != EMPTY_ROOT:
            raise ProofError("root of the empty tree", expected=EMPTY_ROOT, actual=bytes(root1))
        if bytes(root1) != bytes(root2):
            raise ProofError("equal sizes with different roots", expected=root1, actual=root2)
        return
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    first = _check_hash("root1", root1)
    second = _check_hash("root2", root2)
    if not hashes:
        raise ProofError("consistency proof is empty")

    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root is the first node
        hashes = [first, *hashes]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than needed")
    if fr != first:
        raise ProofError("consistency proof does not lead to root1", expected=first, actual=fr)
    if sr != second:
        raise ProofError("consistency proof does not lead to root2", expected=second, actual=sr)
