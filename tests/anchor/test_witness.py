"""C2SP tlog-witness: the protocol exactly (unit), then two witness processes on
127.0.0.1 cosigning a real trail's checkpoints and refusing a split view."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from fairtrail import Trail
from fairtrail.anchor.devnode import free_port
from fairtrail.anchor.witness import Witness, init_witness
from fairtrail.log import merkle
from fairtrail.log.checkpoint import (
    Checkpoint,
    SignedNote,
    parse_cosigner_vkey,
    sign_note,
    verify_note,
)
from tests.cli.test_cli import STATEMENT, assert_user_error, ft

ORIGIN = "witness.test/log"


@pytest.fixture
def trail(tmp_path: Path) -> Iterator[Trail]:
    t = Trail.init(tmp_path / "trail", origin=ORIGIN)
    yield t
    t.close()


def _grow(trail: Trail, n: int) -> tuple[Checkpoint, SignedNote]:
    admin = trail.actor_key("admin")
    for i in range(n):
        trail.record(STATEMENT | {"predicate": {"text": f"{trail.log.size} {i}"}}, admin)
    return trail.checkpoint()


def _body(old: int, proof: list[bytes], note: SignedNote) -> bytes:
    lines = b"".join(base64.b64encode(h) + b"\n" for h in proof)
    return f"old {old}\n".encode() + lines + b"\n" + note.to_bytes()


@pytest.fixture
def witness(tmp_path: Path, trail: Trail) -> Iterator[Witness]:
    init_witness(tmp_path / "w", "witness.test/w1")
    w = Witness(tmp_path / "w")
    w.trust(trail.config.log_vkey)
    yield w
    w.close()


def test_protocol_statuses(trail: Trail, witness: Witness) -> None:
    cp1, note1 = _grow(trail, 3)
    # unknown origin: 404; no trusted signature: 403
    other = Checkpoint("other.example/log", cp1.size, cp1.root)
    from fairtrail.crypto.keys import SigningKey

    stranger = SigningKey.generate()
    assert (
        witness.add_checkpoint(
            _body(
                0,
                [],
                SignedNote(other.text(), (sign_note(other.text(), "other.example/log", stranger),)),
            )
        ).status
        == 404
    )  # noqa: E501
    forged = SignedNote(note1.text, (sign_note(note1.text, ORIGIN, stranger),))
    assert witness.add_checkpoint(_body(0, [], forged)).status == 403
    # malformed bodies and sizes: 400
    proof_from_zero = b"old 0\n" + base64.b64encode(b"\0" * 32) + b"\n\n" + note1.to_bytes()
    malformed = [b"", b"old 01\n\n" + note1.to_bytes(), b"old x\n\n", b"old 1\nnot base64!\n\n"]
    for bad in [*malformed, proof_from_zero]:
        assert witness.add_checkpoint(bad).status == 400, bad
    assert witness.add_checkpoint(_body(cp1.size + 1, [], note1)).status == 400
    assert witness.add_checkpoint(b"old 0\n" + b"A" * 10_000_000).status == 413
    # first contact: old 0, no proof
    ok = witness.add_checkpoint(_body(0, [], note1))
    assert ok.status == 200
    cosig = SignedNote.parse(note1.to_bytes() + ok.body)
    assert verify_note(cosig, [parse_cosigner_vkey(witness.vkey)])
    assert witness.latest(ORIGIN) == (cp1.size, cp1.root)
    # wrong old size: 409 with the size it knows, as text/x.tlog.size
    cp2, note2 = _grow(trail, 4)
    stale = witness.add_checkpoint(_body(1, trail.prove_consistency(1, cp2.size).hashes, note2))
    assert (stale.status, stale.body, stale.content_type) == (
        409, f"{cp1.size}\n".encode(), "text/x.tlog.size",
    )  # fmt: skip
    # a bad consistency proof: 422, not cosigned, state unchanged
    proof = trail.prove_consistency(cp1.size, cp2.size).hashes
    broken = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    assert witness.add_checkpoint(_body(cp1.size, broken, note2)).status == 422
    assert witness.latest(ORIGIN) == (cp1.size, cp1.root)
    # the right proof: 200, and the state moves forward
    assert witness.add_checkpoint(_body(cp1.size, proof, note2)).status == 200
    assert witness.latest(ORIGIN) == (cp2.size, cp2.root)
    # the same checkpoint again is fine; an older one is a 409
    assert witness.add_checkpoint(_body(cp2.size, [], note2)).status == 200
    assert witness.add_checkpoint(_body(0, [], note1)).status == 409


def test_split_view_is_refused_and_kept_as_evidence(trail: Trail, witness: Witness) -> None:
    cp, note = _grow(trail, 2)
    assert witness.add_checkpoint(_body(0, [], note)).status == 200
    # the operator signs a second checkpoint of the same size with another root
    log_key = trail.log._signer
    assert log_key is not None
    fork = Checkpoint(ORIGIN, cp.size, b"\x42" * 32)
    fork_note = SignedNote(fork.text(), (sign_note(fork.text(), ORIGIN, log_key),))
    answer = witness.add_checkpoint(_body(cp.size, [], fork_note))
    assert answer.status == 409
    assert witness.latest(ORIGIN) == (cp.size, cp.root)
    ((origin, reason, body),) = witness.evidence()
    assert origin == ORIGIN and "second root" in reason and body == fork_note.to_bytes()


def test_concurrent_submissions_never_roll_the_state_back(trail: Trail, witness: Witness) -> None:
    cp1, note1 = _grow(trail, 2)
    assert witness.add_checkpoint(_body(0, [], note1)).status == 200
    notes = []
    for _ in range(6):
        cp, note = _grow(trail, 1)
        notes.append((cp, note))
    results: list[int] = []

    def submit(cp: Checkpoint, note: SignedNote) -> None:
        proof = trail.prove_consistency(cp1.size, cp.size).hashes
        results.append(witness.add_checkpoint(_body(cp1.size, proof, note)).status)

    threads = [threading.Thread(target=submit, args=pair) for pair in notes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # exactly one request from old size cp1 wins; the rest see a 409
    assert sorted(results).count(200) == 1 and results.count(409) == 5
    size, _ = witness.latest(ORIGIN) or (0, b"")
    assert size > cp1.size


# ------------------------------------------------------------- real processes



@pytest.fixture
def two_witnesses(tmp_path: Path) -> list[tuple[str, str, str, Path]]:
    """Two witness folders made by `fairtrail witness init`: (name, vkey, url, folder)."""
    found = []
    for i in (1, 2):
        folder = tmp_path / f"w{i}"
        name = f"witness.test/w{i}"
        vkey = subprocess.run(
            [sys.executable, "-m", "fairtrail", "witness", "init", str(folder), "--name", name],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        found.append((name, vkey, f"http://127.0.0.1:{free_port()}", folder))
    return found


def _serve(folder: Path, url: str) -> subprocess.Popen[bytes]:
    port = url.rsplit(":", 1)[1]
    with (folder / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fairtrail", "witness", "serve", str(folder), "--port", port],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(url + "/vkey", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"witness at {url} did not start: {(folder / 'serve.log').read_text()}")


@pytest.mark.integration
def test_two_witness_processes_cosign_and_refuse_a_split_view(
    tmp_path: Path, two_witnesses: list[tuple[str, str, str, Path]]
) -> None:
    path = tmp_path / "trail"
    assert ft(path, "init", "--origin", ORIGIN).returncode == 0
    log_vkey = json.loads((path / "fairtrail.json").read_text())["log_vkey"]
    procs = []
    try:
        for name, vkey, url, folder in two_witnesses:
            assert ft(path, "witness", "trust", str(folder), log_vkey).returncode == 0
            procs.append(_serve(folder, url))
            r = ft(path, "witness", "add", name, "--vkey", vkey, "--url", url)
            assert r.returncode == 0, r.stderr
        urls = [w[2] for w in two_witnesses]
        # first checkpoint, then a larger one: both witnesses cosign each
        for round_ in range(2):
            f = tmp_path / f"s{round_}.json"
            f.write_text(json.dumps(STATEMENT | {"predicate": {"text": str(round_)}}))
            assert ft(path, "record", str(f)).returncode == 0
            r = ft(path, "checkpoint", "--witness", urls[0], "--witness", two_witnesses[1][0])
            assert r.returncode == 0, r.stderr
            assert r.stdout.count("— witness.test/w") == 2
        r = ft(path, "verify", "--witnesses", "2", "--json")
        assert r.returncode == 0, r.stderr
        assert sorted(json.loads(r.stdout)["witnesses"]) == ["witness.test/w1", "witness.test/w2"]
        assert_user_error(ft(path, "verify", "--witnesses", "3"), 3, "2 valid witness cosignature")
        # split view: a second, different checkpoint of the same size, signed with the
        # log's own key, is refused by both witnesses (409) and never cosigned
        with Trail.open(path, writable=False) as t:
            latest = t.latest_checkpoint()
            assert latest is not None
            cp, _ = latest
        from fairtrail.crypto.keys import SigningKey

        log_key = SigningKey.load(path / "log.key")
        fork = Checkpoint(ORIGIN, cp.size, merkle.leaf_hash(b"forged history"))
        fork_note = SignedNote(fork.text(), (sign_note(fork.text(), ORIGIN, log_key),))
        for url in urls:
            reply = requests.post(
                url + "/add-checkpoint", data=_body(cp.size, [], fork_note), timeout=5
            )
            assert reply.status_code == 409
        # a witness that is down is one line, exit 5; the checkpoint itself is kept
        procs[1].terminate()
        procs[1].wait(10)
        f = tmp_path / "s9.json"
        f.write_text(json.dumps(STATEMENT | {"predicate": {"text": "late"}}))
        assert ft(path, "record", str(f)).returncode == 0
        r = ft(path, "checkpoint", "--witness", urls[0], "--witness", urls[1])
        assert r.returncode == 5, r.stderr
        assert "unreachable" in r.stderr.splitlines()[-1] and "Traceback" not in r.stderr
        assert r.stdout.count("— witness.test/w1") == 1
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def test_witness_add_and_checkpoint_errors(tmp_path: Path) -> None:
    path = tmp_path / "trail"
    assert ft(path, "init").returncode == 0
    assert_user_error(ft(path, "checkpoint", "--witness", "nobody"), 2, "no witness 'nobody'")
    vkey = init_witness(tmp_path / "w", "witness.test/w9")
    assert_user_error(
        ft(path, "witness", "add", "other", "--vkey", vkey, "--url", "http://127.0.0.1:1"),
        2, "is for 'witness.test/w9'",
    )  # fmt: skip
    assert_user_error(
        ft(path, "witness", "add", "x", "--vkey", "junk", "--url", "http://a"), 2, "verifier key"
    )


def test_any_body_gets_a_status_never_an_exception(trail: Trail, witness: Witness) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    _, note = _grow(trail, 2)
    good = _body(0, [], note)

    @settings(max_examples=150, deadline=None)
    @given(st.integers(0, len(good)), st.binary(max_size=40), st.integers(0, 40))
    def mutate(pos: int, junk: bytes, cut: int) -> None:
        body = good[:pos] + junk + good[pos + cut :]
        answer = witness.add_checkpoint(body)
        assert answer.status in (200, 400, 403, 404, 409, 413, 422)

    mutate()
