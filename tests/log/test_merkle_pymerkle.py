"""Differential test against pymerkle: same leaves, same roots and the same proof hashes."""

from __future__ import annotations

import random

from pymerkle import InmemoryTree, verify_consistency

from fairtrail.log import merkle


def test_same_roots_and_proofs_as_pymerkle() -> None:
    rng = random.Random(6962)
    leaves = [rng.randbytes(rng.randrange(0, 64)) for _ in range(700)]
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    theirs = InmemoryTree(algorithm="sha256")
    for leaf in leaves:
        theirs.append_entry(leaf)

    def subtree(level: int, index: int) -> bytes:
        return merkle.root(hashes[index << level : (index + 1) << level])

    for size in [*range(1, 70), *rng.sample(range(70, 701), 60), 700]:
        assert theirs.get_root(size) == merkle.root(hashes[:size])
        for index in rng.sample(range(size), min(size, 5)):
            ours = merkle.inclusion_proof(index, size, subtree)
            # pymerkle counts from 1 and puts the leaf itself first on its path
            path = theirs.prove_inclusion(index + 1, size).path
            assert path[0] == hashes[index]
            assert path[1:] == ours
        for old in rng.sample(range(1, size + 1), min(size, 5)):
            ours = merkle.consistency_proof(old, size, subtree)
            merkle.verify_consistency(old, size, ours, theirs.get_root(old), theirs.get_root(size))
            # pymerkle's consistency proofs use their own decomposition, not RFC 9162
            # paths, so the hashes differ; each side's proof must verify against the other
            # side's roots.
            verify_consistency(
                merkle.root(hashes[:old]),
                merkle.root(hashes[:size]),
                theirs.prove_consistency(old, size),
            )
