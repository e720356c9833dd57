"""Property tests: every generated proof verifies; every single-bit mutation is rejected."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairtrail.errors import FairtrailError
from fairtrail.log import ProofError, merkle


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(n)]


_CACHE: dict[int, list[bytes]] = {}


def _tree(n: int) -> list[bytes]:
    if n not in _CACHE:
        _CACHE[n] = _leaves(n)
    return _CACHE[n]


def _reference_root(hashes: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, written as the recursive definition."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return merkle.node_hash(_reference_root(hashes[:k]), _reference_root(hashes[k:]))


def _subtree(hashes: list[bytes]) -> merkle.SubtreeHash:
    return lambda level, index: merkle.root(hashes[index << level : (index + 1) << level])


def _flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


@given(st.integers(0, 600))
def test_root_matches_recursive_definition(n: int) -> None:
    assert merkle.root(_tree(n)) == _reference_root(_tree(n))


def test_empty_tree_root() -> None:
    assert merkle.root([]) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


@given(st.data())
def test_inclusion_proofs_verify_and_mutations_fail(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 3000))
    index = data.draw(st.integers(0, n - 1))
    hashes = _tree(n)
    root = merkle.root(hashes)
    proof = merkle.inclusion_proof(index, n, _subtree(hashes))
    merkle.verify_inclusion(hashes[index], index, n, proof, root)

    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ProofError):
        merkle.verify_inclusion(_flip(hashes[index], bit), index, n, proof, root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(hashes[index], index, n, proof, _flip(root, bit))
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[which] = _flip(bad[which], bit)
        with pytest.raises(ProofError):
            merkle.verify_inclusion(hashes[index], index, n, bad, root)
    other = data.draw(st.integers(0, n))
    if other != index and other < n:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(hashes[index], other, n, proof, root)


@given(st.data())
def test_consistency_proofs_verify_and_mutations_fail(data: st.DataObject) -> None:
    n2 = data.draw(st.integers(1, 3000))
    n1 = data.draw(st.integers(1, n2))
    hashes = _tree(n2)
    r1, r2 = merkle.root(hashes[:n1]), merkle.root(hashes)
    proof = merkle.consistency_proof(n1, n2, _subtree(hashes))
    merkle.verify_consistency(n1, n2, proof, r1, r2)

    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ProofError):
        merkle.verify_consistency(n1, n2, proof, _flip(r1, bit), r2)
    if n1 != n2:
        with pytest.raises(ProofError):
            merkle.verify_consistency(n1, n2, proof, r1, _flip(r2, bit))
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[which] = _flip(bad[which], bit)
        with pytest.raises(ProofError):
            merkle.verify_consistency(n1, n2, bad, r1, r2)
        with pytest.raises(ProofError):
            merkle.verify_consistency(n1, n2, proof[:-1], r1, r2)
    with pytest.raises(ProofError):
        merkle.verify_consistency(n1, n2, [*proof, r1], r1, r2)


@pytest.mark.parametrize(
    ("leaf", "index", "size", "proof", "root"),
    [
        (b"\0" * 32, 0, 0, [], merkle.EMPTY_ROOT),  # I5: size 0
        (b"\0" * 32, 5, 5, [], b"\0" * 32),  # index == size
        (b"\0" * 32, -1, 5, [], b"\0" * 32),  # negative
        (b"\0" * 32, 0, 2**63, [], b"\0" * 32),  # huge
        (b"\0" * 32, 0, 2**64 + 1, [], b"\0" * 32),
        (b"\0" * 31, 0, 1, [], b"\0" * 32),  # wrong lengths
        (b"\0" * 32, 0, 1, [], b"\0" * 33),
        (b"\0" * 32, 0, 2, [b"\0" * 31], b"\0" * 32),
        (b"\0" * 32, 0, 2, [b"\0" * 32] * 65, b"\0" * 32),  # > 64 proof hashes
        (b"\0" * 32, True, 2, [], b"\0" * 32),  # not an int
        (b"\0" * 32, 0, 2, b"not a list", b"\0" * 32),
        ("0" * 32, 0, 1, [], b"\0" * 32),
    ],
)
def test_inclusion_garbage_is_a_proof_error(
    leaf: object, index: object, size: object, proof: object, root: object
) -> None:
    with pytest.raises(ProofError):
        merkle.verify_inclusion(leaf, index, size, proof, root)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size1", "size2", "proof"),
    [(3, 2, []), (-1, 2, []), (0, 2**63, []), (1, 2, [b"\0" * 32] * 70), (2, 4, "abc")],
)
def test_consistency_garbage_is_a_proof_error(size1: object, size2: object, proof: object) -> None:
    with pytest.raises(ProofError):
        merkle.verify_consistency(size1, size2, proof, b"\0" * 32, b"\1" * 32)  # type: ignore[arg-type]


def test_proof_error_is_a_fairtrail_error() -> None:
    assert issubclass(ProofError, FairtrailError)


def test_leaf_and_node_are_domain_separated() -> None:
    """T5: leaf data can never hash to an interior node, and the tree size fixes the depth."""
    hashes = _tree(4)
    root = merkle.root(hashes)
    left = merkle.node_hash(hashes[0], hashes[1])
    # the bytes of two child hashes, submitted as leaf data, give another hash (0x00 vs 0x01)
    assert merkle.leaf_hash(hashes[0] + hashes[1]) != left
    # an interior node claimed as leaf 0 of the real 4-leaf tree needs a 2-hash path
    with pytest.raises(ProofError):
        merkle.verify_inclusion(left, 0, 4, [merkle.node_hash(hashes[2], hashes[3])], root)


def test_odd_leaf_duplication_changes_the_root() -> None:
    """CVE-2012-2459: [a, b, c] and [a, b, c, c] must not share a root (no duplication)."""
    a, b, c = _tree(3)
    assert merkle.root([a, b, c]) != merkle.root([a, b, c, c])
