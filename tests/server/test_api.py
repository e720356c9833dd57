"""The REST API against a real `fairtrail serve` process: public reads whose proofs
verify, authenticated writes (tokens hashed, revocation immediate, signer and role
bound), bounded bodies, rate limits, errors without internals, no URL ever fetched,
one server per trail, the PostgreSQL store behind the same API, monitoring over HTTP."""

from __future__ import annotations

import base64
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from tests._postgres import PostgresServer
from tests.server._fixtures import Server, start_server

from fairtrail import Role, Trail
from fairtrail.crypto.dsse import Envelope, sign_envelope
from fairtrail.crypto.keys import SigningKey
from fairtrail.log import merkle
from fairtrail.log.checkpoint import open_checkpoint, parse_vkey
from fairtrail.server.tokens import TokenStore
from fairtrail.statements.statement import PAYLOAD_TYPE, Statement

pytestmark = pytest.mark.integration


def note(n: int, key: SigningKey, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    st = Statement.from_dict({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": f"doc-{n}", "digest": {"sha256": f"{n:064x}"}}],
        "predicateType": "https://example.com/note/v1",
        "predicate": {"n": n, **(extra or {})},
    })  # fmt: skip
    return sign_envelope(PAYLOAD_TYPE, st.to_json(), [key]).to_dict()


def token(trail: Path, actor: str, role: Role) -> tuple[str, str]:
    with TokenStore.of_trail(trail) as tokens:
        made, secret = tokens.create(actor, role)
    return made.id, secret


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_reads_are_public_and_their_proofs_verify(server: Server) -> None:
    info = server.get("/api/v1/log").json()
    r = server.get("/api/v1/checkpoint")
    assert r.status_code == 200 and "max-age=2" in r.headers["cache-control"]
    body, _ = open_checkpoint(r.content, [parse_vkey(info["vkey"])], origin=info["origin"])
    assert body.size == info["checkpoint_size"] > 10
    for index in (0, 7, body.size - 1):
        p = server.get(f"/api/v1/proofs/inclusion?index={index}&size={body.size}")
        assert p.status_code == 200 and "immutable" in p.headers["cache-control"]
        entry = server.get(f"/api/v1/entries/{index}").json()
        leaf = merkle.leaf_hash(Envelope.model_validate(entry["envelope"]).to_json())
        assert leaf.hex() == entry["leaf_hash"] == p.json()["leaf_hash"]
        hashes = [base64.b64decode(h) for h in p.json()["hashes"]]
        merkle.verify_inclusion(leaf, index, body.size, hashes, body.root)
    c = server.get(f"/api/v1/proofs/consistency?old=3&new={body.size}").json()
    assert c["old"] == 3 and len(c["hashes"]) > 0
    model = server.get("/api/v1/models").json()[0]
    found = server.get(f"/api/v1/statements?subject={model['ref']}").json()
    assert model["entry"] in [s["index"] for s in found]
    assert server.get("/api/v1/models/credit-model/lineage").json()[0]["kind"] == "model"
    assert server.get("/api/v1/models/credit-model/decisions").json()[0]["policy"]
    assert server.get("/api/v1/models/credit-model/monitoring").json()["windows"]
    bundle = server.get("/api/v1/models/credit-model/bundle").json()
    assert bundle["checkpoint"] and bundle["entries"]
    assert server.get("/openapi.json").json()["info"]["title"] == "fairtrail"


def test_bad_reads_are_one_line_4xx(server: Server) -> None:
    for path, status in [
        ("/api/v1/entries/99999", 404), ("/api/v1/proofs/inclusion?index=50&size=3", 400),
        ("/api/v1/proofs/inclusion?index=-1&size=3", 422), ("/api/v1/models/nope/bundle", 404),
        ("/api/v1/statements?subject=md5:00", 400), ("/api/v1/models/..%2Fetc/lineage", 404),
        ("/api/v1/proofs/consistency?old=9&new=3", 400), ("/models/README.md", 404),
        ("/api/v1/models/pyproject.toml", 404), ("/api/v1/models/sha256:00", 404),
    ]:  # fmt: skip
        r = server.get(path)
        assert r.status_code == status, (path, r.text)
        assert set(r.json()) == {"error"} and "\n" not in r.json()["error"]
        assert "Traceback" not in r.text


def test_writes_need_a_live_token_of_the_signer(server: Server) -> None:
    trail = server.trail
    mo = Trail.open(trail, writable=False)
    size = mo.store.size
    mo.close()
    admin_key = SigningKey.load(trail / "keys" / "admin.key")
    rita_key = SigningKey.load(trail / "keys" / "rita.key")
    body = {"envelopes": [note(1, rita_key), note(2, rita_key)]}
    assert server.post("/api/v1/entries", json=body).status_code == 401
    assert server.post("/api/v1/entries", json=body, headers=auth("ft_nope")).status_code == 401
    token_id, secret = token(trail, "rita", Role.REVIEWER)
    r = server.post("/api/v1/entries", json=body, headers=auth(secret))
    assert r.status_code == 201, r.text
    assert [e["index"] for e in r.json()["entries"]] == [size, size + 1]
    # signed by someone else than the token's actor: refused, nothing recorded
    r = server.post(
        "/api/v1/entries", json={"envelopes": [note(3, admin_key)]}, headers=auth(secret)
    )
    assert r.status_code == 403 and "signed by admin" in r.json()["error"]
    stranger = server.post(
        "/api/v1/entries", json=note(4, SigningKey.generate()), headers=auth(secret)
    )
    assert stranger.status_code == 403
    # revocation takes effect on the very next request
    with TokenStore.of_trail(trail) as tokens:
        tokens.revoke(token_id)
    assert (
        server.post("/api/v1/entries", json=note(5, rita_key), headers=auth(secret)).status_code
        == 401
    )
    # a token whose actor lost the role is refused at once
    _, secret2 = token(trail, "rita", Role.REVIEWER)
    admin_secret = token(trail, "admin", Role.ADMIN)[1]
    from fairtrail.statements.actors import actor_statement

    revoke = actor_statement("revoke-role", "rita", rita_key.public, [Role.REVIEWER])
    env = sign_envelope(PAYLOAD_TYPE, revoke.to_json(), [admin_key]).to_dict()
    assert server.post("/api/v1/entries", json=env, headers=auth(admin_secret)).status_code == 201
    r = server.post("/api/v1/entries", json=note(6, rita_key), headers=auth(secret2))
    assert r.status_code == 403 and "no longer grants" in r.json()["error"]
    for bad, status in [(b"{", 400), (b"[]", 400), (b'{"envelopes": []}', 400),
                        (b'{"envelopes": [1]}', 400), (b'{"payload": 1}', 400)]:  # fmt: skip
        r = server.post("/api/v1/entries", data=bad, headers=auth(admin_secret))
        assert r.status_code == status, (bad, r.text)
    assert server.get("/api/v1/log").json()["size"] == size + 3
    with TokenStore.of_trail(trail) as tokens:
        assert (trail / "server.db").stat().st_mode & 0o777 == 0o600
        assert all(secret not in repr(t) for t in tokens.list())


def test_bodies_are_bounded_and_floods_get_429(rich_trail: Path) -> None:
    s = start_server(rich_trail, "--rate-limit", "5", "--burst", "5", "--max-body", "4096")
    try:
        secret = token(rich_trail, "admin", Role.ADMIN)[1]
        big = s.post("/api/v1/entries", data=b"x" * 5000, headers=auth(secret))
        assert big.status_code == 413
        chunked = s.post("/api/v1/entries", data=iter([b"x" * 3000, b"x" * 3000]),
                         headers=auth(secret))  # fmt: skip
        assert chunked.status_code == 413 and "request body over" in chunked.json()["error"]
        codes = [s.get("/api/v1/log").status_code for _ in range(20)]
        assert codes.count(429) >= 10 and codes[0] == 200
        r = s.get("/api/v1/log")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    finally:
        s.stop()


def test_a_second_server_on_the_same_trail_is_refused(server: Server) -> None:
    with pytest.raises(RuntimeError, match="another process is writing"):
        start_server(server.trail, "--rate-limit", "0")
    assert server.get("/api/v1/log").status_code == 200


def test_no_url_in_a_record_is_ever_fetched(server: Server) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    hits: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                hits.append(listener.accept())
            except TimeoutError:
                continue

    t = threading.Thread(target=accept)
    t.start()
    try:
        admin = SigningKey.load(server.trail / "keys" / "admin.key")
        url = f"http://127.0.0.1:{port}/payload"
        secret = token(server.trail, "admin", Role.ADMIN)[1]
        urls = {"source": url, "logo": url, "see": [url]}
        r = server.post("/api/v1/entries", headers=auth(secret), json=note(9, admin, urls))
        index = r.json()["entries"][0]["index"]
        for path in ["/", "/verify", f"/entries/{index}", f"/api/v1/entries/{index}",
                     "/api/v1/models", "/api/v1/models/credit-model/bundle",
                     f"/api/v1/statements?subject=sha256:{9:064x}"]:  # fmt: skip
            assert server.get(path).status_code == 200, path
    finally:
        stop.set()
        t.join()
        listener.close()
    assert hits == []


def test_monitoring_windows_arrive_over_http(server: Server, tmp_path: Path) -> None:
    from tests.monitoring.test_monitoring import stream

    stream(tmp_path / "c.csv", 1000, 7)
    data = (tmp_path / "c.csv").read_bytes()
    reviewer = token(server.trail, "rita", Role.REVIEWER)[1]
    path = "/api/v1/models/credit-model/monitoring"
    headers = {"Content-Type": "text/csv"}
    assert server.post(path, data=data, headers=headers | auth(reviewer)).status_code == 403
    ops = token(server.trail, "ops", Role.OPERATOR)[1]
    before = len(server.get(path).json()["windows"])
    r = server.post(path, data=data, headers=headers | auth(ops))
    assert r.status_code == 200, r.text
    assert [w["kind"] for w in r.json()] == ["predictions"]
    assert len(server.get(path).json()["windows"]) == before + 1
    bad = server.post(path, data=b"x", headers={"Content-Type": "image/png"} | auth(ops))
    assert bad.status_code == 415


def test_the_api_over_a_postgresql_log(tmp_path: Path, postgres: PostgresServer) -> None:
    trail = Trail.init(tmp_path / "t", origin="pg.example/api", log_db=postgres.new_database())
    trail.create_actor("mo", [Role.ML_ENGINEER], trail.actor_key("admin"))
    trail.close()
    wrong = None
    with pytest.raises(RuntimeError, match="is not this trail's log"):
        wrong = start_server(tmp_path / "t", "--db", postgres.url("other"))
    assert wrong is None
    s = start_server(tmp_path / "t")
    try:
        secret = token(tmp_path / "t", "mo", Role.ML_ENGINEER)[1]
        mo = SigningKey.load(tmp_path / "t" / "keys" / "mo.key")
        r = s.post("/api/v1/entries", headers=auth(secret),
                   json={"envelopes": [note(i, mo) for i in range(20)]})  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["entries"][0]["index"] == 2
    finally:
        s.stop()
    with Trail.open(tmp_path / "t") as again:
        again.checkpoint()
        assert again.verify().statements == 22
        again.prove_inclusion(21).verify()


def test_errors_never_show_internals(server: Server) -> None:
    secret = token(server.trail, "admin", Role.ADMIN)[1]
    r = requests.post(server.url + "/api/v1/entries", data=b"\xff" * 100,
                      headers=auth(secret), timeout=10)  # fmt: skip
    assert r.status_code == 400
    for text in (r.text, server.get("/api/v1/models/x:y/lineage").text):
        assert "Traceback" not in text and "sqlite" not in text.lower() and "/tmp" not in text


def test_the_server_signs_checkpoints_over_what_it_appended(server: Server) -> None:
    import time

    secret = token(server.trail, "admin", Role.ADMIN)[1]
    admin = SigningKey.load(server.trail / "keys" / "admin.key")
    r = server.post("/api/v1/entries", json={"envelopes": [note(i, admin) for i in range(3)]},
                    headers=auth(secret))  # fmt: skip
    last = r.json()["entries"][-1]
    deadline = time.monotonic() + 10
    while server.get("/api/v1/log").json()["checkpoint_size"] <= last["index"]:
        assert time.monotonic() < deadline, "no checkpoint within 10 s"
        time.sleep(0.2)
    info = server.get("/api/v1/log").json()
    body, _ = open_checkpoint(server.get("/api/v1/checkpoint").content, [parse_vkey(info["vkey"])])
    p = server.get(f"/api/v1/proofs/inclusion?index={last['index']}&size={body.size}").json()
    merkle.verify_inclusion(bytes.fromhex(last["leaf_hash"]), last["index"], body.size,
                            [base64.b64decode(h) for h in p["hashes"]], body.root)  # fmt: skip


def test_the_server_hosts_a_witness_for_other_logs(rich_trail: Path, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from tests.cli.test_cli import ft

    other = tmp_path / "other"
    assert ft(other, "init", "--origin", "other.example/log").returncode == 0
    folder = tmp_path / "w"
    vkey = subprocess.run(
        [sys.executable, "-m", "fairtrail", "witness", "init", str(folder),
         "--name", "w.example/1"], capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    log_vkey = json.loads((other / "fairtrail.json").read_text())["log_vkey"]
    assert ft(other, "witness", "trust", str(folder), log_vkey).returncode == 0
    s = start_server(rich_trail, "--witness", str(folder))
    try:
        assert s.get("/witness/vkey").text.strip() == vkey
        r = ft(other, "witness", "add", "w.example/1", "--vkey", vkey, "--url", s.url + "/witness")
        assert r.returncode == 0, r.stderr
        r = ft(other, "checkpoint", "--witness", "w.example/1")
        assert r.returncode == 0, r.stderr
        assert "— w.example/1" in r.stdout
    finally:
        s.stop()


def test_a_client_that_goes_away_loses_nothing_acknowledged(server: Server) -> None:
    import json
    import time

    secret = token(server.trail, "admin", Role.ADMIN)[1]
    admin = SigningKey.load(server.trail / "keys" / "admin.key")
    size = server.get("/api/v1/log").json()["size"]

    def raw(body: bytes, send: int) -> None:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            head = (f"POST /api/v1/entries HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {secret}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
            sock.sendall(head.encode() + body[:send])
        # closed here: before the answer (and, with send < len(body), mid-body)

    body = json.dumps({"envelopes": [note(70 + i, admin) for i in range(10)]}).encode()
    raw(body, len(body) // 2)  # gone mid-body: nothing may be recorded
    time.sleep(1.0)
    assert server.get("/api/v1/log").json()["size"] == size
    raw(body, len(body))  # gone before the answer: the batch lands once, whole
    deadline = time.monotonic() + 10
    while server.get("/api/v1/log").json()["size"] == size and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    assert server.get("/api/v1/log").json()["size"] == size + 10
    found = server.get(f"/api/v1/statements?subject=sha256:{70:064x}").json()
    assert len(found) == 1
