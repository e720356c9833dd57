"""T1: every transparency-dev/merkle probe (196 files, copied from ../shared/testdata/merkle)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from fairtrail.log import ProofError, merkle
from tests.conftest import DATA

PROBES = sorted((DATA / "merkle").rglob("*.json"))


def test_all_probes_present() -> None:
    assert len(PROBES) == 196


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


@pytest.mark.parametrize("path", PROBES, ids=lambda p: str(p.relative_to(DATA / "merkle")))
def test_probe(path: Path) -> None:
    probe = json.loads(path.read_text())
    proof = [_b64(p) for p in probe["proof"] or []]
    if "leafIdx" in probe:

        def run() -> None:
            merkle.verify_inclusion(
                _b64(probe["leafHash"]),
                probe["leafIdx"],
                probe["treeSize"],
                proof,
                _b64(probe["root"]),
            )
    else:

        def run() -> None:
            merkle.verify_consistency(
                probe["size1"], probe["size2"], proof, _b64(probe["root1"]), _b64(probe["root2"])
            )

    if probe["wantErr"]:
        with pytest.raises(ProofError):
            run()
    else:
        run()
