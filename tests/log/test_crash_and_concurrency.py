"""F1 (SIGKILL at random points), C1 (several processes and threads appending at once)
and C4 (proofs read during heavy appends verify against the size they name)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fairtrail.crypto import SigningKey
from fairtrail.log import fsck, merkle
from tests.log.helpers import leaf, make_log, open_store

ROOT = Path(__file__).resolve().parents[2]
ITERATIONS = int(os.environ.get("FAIRTRAIL_CRASH_ITERATIONS", "200"))


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.log._writer", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.integration
def test_sigkill_loses_no_acknowledged_append(log_db: Path | str, tmp_path: Path) -> None:
    db, key_file = log_db, tmp_path / "log.key"
    key = SigningKey.generate()
    key.save(key_file)
    rng = random.Random(1)
    verified = 0  # entries up to here were checked in an earlier iteration
    # PostgreSQL: fewer kills (each start costs a connection and a lock), same checks
    iterations = ITERATIONS if isinstance(db, Path) else max(1, ITERATIONS // 4)
    for iteration in range(iterations):
        proc = _spawn("crash", str(db), str(key_file), str(iteration))
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith("READY"), proc.stderr.read() if proc.stderr else ""
        time.sleep(rng.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err
        acked_end = 0
        # only newline-terminated lines reached us whole; a line cut by the kill is no ack
        for line in out.split("\n")[:-1]:
            parts = line.split()
            if parts and parts[0] == "ACK":
                acked_end = max(acked_end, int(parts[1]) + int(parts[2]))

        # reopening also checks entries vs tree; it waits for the lock as a restarted writer
        # does (`--wait`): PostgreSQL frees a killed session's advisory lock only once its
        # backend sees the connection gone, a moment after the kill (seen failing in CI)
        log = make_log(db, key, create=False, lock_timeout=10.0)
        size = log.size
        assert size >= acked_end, f"iteration {iteration}: acknowledged {acked_end}, have {size}"
        # every entry (acknowledged or not) is the one written at its index: contiguous,
        # never reused, never torn
        assert log.store.entries(verified, size) == [leaf(i) for i in range(verified, size)]
        assert log.store.entry_count() == (size, size - 1)
        verified = size
        if iteration % 25 == 0:
            fsck(log)
        log.store.close()

    log = make_log(db, key, create=False)
    report = fsck(log)
    latest = log.store.latest_checkpoint()
    assert latest is not None and report.checkpoints > 0
    assert log.store.root(latest.size) == latest.root  # rebuilt root == signed root
    log.checkpoint()
    if isinstance(db, Path):
        assert log.store.integrity_check() == "ok"  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.integration
def test_concurrent_processes_and_threads(log_db: Path | str) -> None:
    db = log_db
    open_store(db, writer=True, create=True).close()
    stop = threading.Event()
    proof_checks = [0]
    errors: list[BaseException] = []

    def reader() -> None:  # C4: proofs during heavy appends
        store = open_store(db, writer=False)
        try:
            while not stop.is_set():
                size = store.size
                if size < 2:
                    continue
                index = random.randrange(size)
                proof = store.inclusion_proof(index, size)
                leaf_hash = store.leaf_hashes(index, index + 1)[0]
                merkle.verify_inclusion(leaf_hash, index, size, proof, store.root(size))
                proof_checks[0] += 1
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            store.close()

    th = threading.Thread(target=reader)
    th.start()
    procs = [_spawn("concurrent", str(db), f"p{n}", "3") for n in range(4)]
    outputs = [p.communicate(timeout=300) for p in procs]
    stop.set()
    th.join()
    assert not errors, errors
    assert proof_checks[0] > 0
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err

    acks = [(first, name) for out, _ in outputs for first, name in json.loads(out)]
    store = open_store(db, writer=False)
    assert store.size == 4 * 3 * 12 * 5 * 3
    covered: set[int] = set()
    for first, name in acks:
        assert store.entries(first, first + 3) == [f"{name}-{k}".encode() for k in range(3)]
        span = set(range(first, first + 3))
        assert not covered & span, f"index reused at {first}"
        covered |= span
    assert covered == set(range(store.size))  # contiguous, nothing lost or duplicated
    store.close()


def test_leaf_helper_is_deterministic() -> None:
    assert leaf(5) == leaf(5) and leaf(5) != leaf(6)


@pytest.mark.integration
def test_verify_while_another_process_appends(tmp_path: Path) -> None:
    """C4 for fsck: a full check that overlaps appends reads one snapshot, so it never
    mistakes the writer's progress (a grown partial tile, new entries) for damage."""
    db, key_file = tmp_path / "log.db", tmp_path / "log.key"
    key = SigningKey.generate()
    key.save(key_file)
    writer = _spawn("crash", str(db), str(key_file), "7")  # appends and checkpoints until killed
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().startswith("READY")
        reader = make_log(db, key, writer=False, create=False)
        checked = set()
        deadline = time.monotonic() + 4
        try:
            while time.monotonic() < deadline:
                checked.add(fsck(reader).size)
        finally:
            reader.store.close()
        assert len(checked) > 3, checked  # the log really grew while it was being checked
    finally:
        writer.kill()
        writer.communicate()
