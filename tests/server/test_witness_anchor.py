"""While the server holds the trail, it also gets each new checkpoint cosigned by the
configured witnesses and anchors on the configured chains: what `fairtrail checkpoint
--witness` and `fairtrail anchor` do, which cannot run beside it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.anchor.test_witness import _serve
from tests.cli.test_cli import ft
from tests.server._fixtures import Server, start_server
from tests.server.test_api import auth, note, token

from fairtrail import Role, Trail
from fairtrail.anchor.devnode import free_port
from fairtrail.anchoring import ANCHOR_PREDICATE
from fairtrail.crypto.keys import SigningKey

pytestmark = pytest.mark.integration


def _append(server: Server, n: int) -> int:
    secret = token(server.trail, "admin", Role.ADMIN)[1]
    admin = SigningKey.load(server.trail / "keys" / "admin.key")
    r = server.post("/api/v1/entries", json={"envelopes": [note(n, admin)]}, headers=auth(secret))
    assert r.status_code == 201, r.text
    return int(r.json()["entries"][0]["index"])


def _until(what: str, check: object, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.2)


def test_new_checkpoints_are_cosigned_while_serving(rich_trail: Path, tmp_path: Path) -> None:
    folder, name = tmp_path / "w", "witness.test/live"
    vkey = subprocess.run(
        [sys.executable, "-m", "fairtrail", "witness", "init", str(folder), "--name", name],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    log_vkey = json.loads((rich_trail / "fairtrail.json").read_text())["log_vkey"]
    assert ft(rich_trail, "witness", "trust", str(folder), log_vkey).returncode == 0
    url = f"http://127.0.0.1:{free_port()}"
    witness = _serve(folder, url)
    try:
        assert ft(rich_trail, "witness", "add", name, "--vkey", vkey, "--url", url).returncode == 0
        with pytest.raises(RuntimeError, match="no registered witness named 'nobody'"):
            start_server(rich_trail, "--cosign-with", "nobody")
        server = start_server(rich_trail, "--cosign-with", name)
        try:
            index = _append(server, 1)

            def cosigned() -> bool:
                text = server.get("/api/v1/checkpoint").text
                return f"— {name} " in text and int(text.split("\n")[1]) > index

            _until("a cosigned checkpoint over the new entry", cosigned)
            assert name in server.get("/verify").text
        finally:
            server.stop()
    finally:
        witness.kill()
        witness.wait()
    r = ft(rich_trail, "verify", "--witnesses", "1")
    assert r.returncode == 0, r.stderr


def test_checkpoints_are_anchored_while_serving(rich_trail: Path) -> None:
    assert ft(rich_trail, "chain", "add", "local").returncode == 0
    assert ft(rich_trail, "chain", "deploy", "local").returncode == 0
    server = start_server(rich_trail, "--anchor-interval", "1")
    try:
        index = _append(server, 2)
        landed = ('badge included">included', 'badge final">final')
        _until("an anchor included on chain",
               lambda: any(s in server.get("/verify").text for s in landed), 40)  # fmt: skip
        _until("its Anchor statement", lambda: server.get("/api/v1/log").json()["size"] > index + 1)
        time.sleep(3)  # a few more rounds: the Anchor statements alone call for no new anchor
        size = server.get("/api/v1/log").json()["size"]
        time.sleep(3)
        assert server.get("/api/v1/log").json()["size"] == size
    finally:
        server.stop()
    with Trail.open(rich_trail, writable=False) as trail:
        anchors = trail.indices_of_type(ANCHOR_PREDICATE)
        assert anchors, f"no Anchor statement was recorded: {server.log[-2000:]}"
        _, st = trail.statement(anchors[-1])
        assert st.predicate["checkpoint"]["size"] > index
    r = ft(rich_trail, "verify", "--anchors")
    assert r.returncode == 0, r.stdout + r.stderr
