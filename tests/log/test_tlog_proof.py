"""C2SP tlog-proof: written by `prove inclusion --tlog-proof`, parsed strictly, and
checked by an inclusion verifier written here from RFC 9162 §2.1.3.2 alone."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairtrail import Trail
from fairtrail.errors import NoteError, ProofError
from fairtrail.log.checkpoint import parse_vkey
from fairtrail.log.tlog_proof import HEADER, parse_tlog_proof
from tests.cli.test_cli import STATEMENT, ft


def _rfc9162_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2, step by step, independent of fairtrail.log.merkle."""
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + leaf).digest()
    for p in path:
        if sn == 0:
            raise AssertionError("path too long")
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    assert sn == 0
    return r


@pytest.fixture(scope="module")
def trail_with_proofs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tlogproof") / "trail"
    with Trail.init(path, origin="proofs.example/log") as trail:
        admin = trail.actor_key("admin")
        for i in range(12):
            trail.record(STATEMENT | {"predicate": {"text": str(i)}}, admin)
        trail.checkpoint()
    return path


@pytest.mark.parametrize("index", [0, 1, 5, 12])
def test_written_proofs_verify_here_and_by_the_rfc(trail_with_proofs: Path, index: int) -> None:
    out = trail_with_proofs.parent / f"{index}.tlog-proof"
    r = ft(trail_with_proofs, "prove", "inclusion", str(index), "--tlog-proof", str(out))
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert data.startswith(HEADER.encode() + b"\nindex " + str(index).encode() + b"\n")
    proof = parse_tlog_proof(data)
    vkey = ft(trail_with_proofs, "log", "vkey").stdout.strip()
    with Trail.open(trail_with_proofs, writable=False) as trail:
        leaf = trail.store.entries(index, index + 1)[0]
    body = proof.verify(leaf, [parse_vkey(vkey)], origin="proofs.example/log")
    assert _rfc9162_root(index, body.size, leaf, list(proof.hashes)) == body.root
    with pytest.raises(ProofError):
        proof.verify(leaf + b" ", [parse_vkey(vkey)])
    assert json.loads(r.stdout)["hashes"] == [base64.b64encode(h).decode() for h in proof.hashes]


def test_malformed_proofs_are_refused(trail_with_proofs: Path) -> None:
    out = trail_with_proofs.parent / "x.tlog-proof"
    assert (
        ft(trail_with_proofs, "prove", "inclusion", "3", "--tlog-proof", str(out)).returncode == 0
    )
    good = out.read_bytes()
    head, _, note = good.partition(b"\n\n")
    for bad in (
        b"c2sp.org/tlog-proof@v2" + good[len(HEADER):],
        good.replace(b"index 3", b"index 03"),
        good.replace(b"index 3", b"index -3"),
        head + b"\nnot-base64!\n\n" + note,
        head + b"\n" + base64.b64encode(b"short") + b"\n\n" + note,
        head + b"".join(b"\n" + base64.b64encode(b"\0" * 32) for _ in range(64)) + b"\n\n" + note,
        head,
        good[:-10],
        b"x" * (2 << 20),
    ):  # fmt: skip
        with pytest.raises(NoteError):
            parse_tlog_proof(bad)
    extra = parse_tlog_proof(HEADER.encode() + b"\nextra aGVsbG8=\n" + good[len(HEADER) + 1 :])
    assert extra.extra == b"hello" and extra.index == 3


@given(st.binary(max_size=400))
def test_parser_never_crashes(data: bytes) -> None:
    try:
        parse_tlog_proof(HEADER.encode() + b"\n" + data)
    except (NoteError, ProofError):
        pass
