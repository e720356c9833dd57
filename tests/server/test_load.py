"""Load and fault tests on loopback: 50 concurrent clients appending for a bounded time,
then the server killed (SIGKILL) in the middle of such a load. Every acknowledged entry
must be in the log at its index, none twice, each provable; nothing else may be there
but what clients sent."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import pytest
import requests
from tests.server._fixtures import Server, start_server
from tests.server.test_api import auth, note, token

from fairtrail import Role, Trail
from fairtrail.crypto.dsse import Envelope
from fairtrail.crypto.keys import SigningKey
from fairtrail.log import merkle
from fairtrail.log.checkpoint import open_checkpoint, parse_vkey

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENTS = 50
BATCH = 5


def _load(server: Server, secret: str, key: SigningKey, seconds: float, stop_at_error: bool
          ) -> tuple[dict[int, str], list[str], set[str]]:  # fmt: skip
    """CLIENTS threads appending batches until `seconds` pass (or the server dies).
    Returns acked index -> leaf hash, errors, and the leaf hash of everything sent."""
    acked: dict[int, str] = {}
    errors: list[str] = []
    sent: set[str] = set()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(c: int) -> None:
        session = requests.Session()
        n = 0
        while time.monotonic() < deadline:
            envs = [note(1_000_000 * (c + 1) + n + j, key) for j in range(BATCH)]
            n += BATCH
            hashes = [merkle.leaf_hash(Envelope.model_validate(e).to_json()).hex() for e in envs]
            with lock:
                sent.update(hashes)
            try:
                r = session.post(server.url + "/api/v1/entries", json={"envelopes": envs},
                                 headers=auth(secret), timeout=30)  # fmt: skip
            except requests.RequestException as exc:
                with lock:
                    errors.append(type(exc).__name__)
                if stop_at_error:
                    return
                continue
            if r.status_code != 201:
                with lock:
                    errors.append(f"{r.status_code} {r.text}")
                continue
            with lock:
                for e, h in zip(r.json()["entries"], hashes, strict=True):
                    assert e["leaf_hash"] == h
                    assert e["index"] not in acked, f"index {e['index']} acknowledged twice"
                    acked[e["index"]] = h
        session.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acked, errors, sent


def _check(trail_path: Path, acked: dict[int, str], sent: set[str], first: int) -> None:
    with Trail.open(trail_path) as trail:
        trail.checkpoint()
        size = trail.store.size
        hashes = trail.store.leaf_hashes(first, size)
        stored = {first + i: h.hex() for i, h in enumerate(hashes)}
        for index, h in acked.items():
            assert stored[index] == h, f"acknowledged entry {index} lost or changed"
        assert set(stored.values()) <= sent  # nothing but what clients sent
        assert len(set(stored.values())) == len(stored)  # no entry twice
        for index in list(acked)[:: max(1, len(acked) // 50)]:
            trail.prove_inclusion(index).verify()
        assert trail.verify().statements == size


def test_fifty_clients_lose_and_duplicate_nothing(rich_trail: Path) -> None:
    server = start_server(rich_trail, "--rate-limit", "0")
    try:
        secret = token(rich_trail, "admin", Role.ADMIN)[1]
        key = SigningKey.load(rich_trail / "keys" / "admin.key")
        first = server.get("/api/v1/log").json()["size"]
        acked, errors, sent = _load(server, secret, key, 6.0, stop_at_error=False)
        assert errors == []
        assert len(acked) >= CLIENTS * BATCH
        info = server.get("/api/v1/log").json()
        assert info["size"] == first + len(acked)  # every append was acknowledged
    finally:
        server.stop()
    _check(rich_trail, acked, sent, first)
    server = start_server(rich_trail)
    try:
        info = server.get("/api/v1/log").json()
        body, _ = open_checkpoint(server.get("/api/v1/checkpoint").content,
                                  [parse_vkey(info["vkey"])])  # fmt: skip
        for index in list(acked)[:20]:
            p = server.get(f"/api/v1/proofs/inclusion?index={index}&size={body.size}").json()
            path = [base64.b64decode(h) for h in p["hashes"]]
            merkle.verify_inclusion(bytes.fromhex(acked[index]), index, body.size, path, body.root)
    finally:
        server.stop()


def test_killing_the_server_mid_load_loses_nothing_acknowledged(rich_trail: Path) -> None:
    server = start_server(rich_trail, "--rate-limit", "0")
    secret = token(rich_trail, "admin", Role.ADMIN)[1]
    key = SigningKey.load(rich_trail / "keys" / "admin.key")
    first = server.get("/api/v1/log").json()["size"]
    killer = threading.Timer(2.0, server.kill)
    killer.start()
    acked, errors, sent = _load(server, secret, key, 8.0, stop_at_error=True)
    killer.join()
    assert acked and errors  # the kill really landed mid-load
    _check(rich_trail, acked, sent, first)
    again = start_server(rich_trail, "--rate-limit", "0")  # and it serves again after
    try:
        assert again.get("/api/v1/log").json()["size"] >= first + len(acked)
    finally:
        again.stop()
