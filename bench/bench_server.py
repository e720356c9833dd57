"""Server benchmarks (issue 8), each beside its in-process floor in the same run:

1. appends through HTTP: batches of pre-signed envelopes from concurrent clients to a
   real `fairtrail serve` (admission included: signature, keyring, token), against
   `Trail.record_envelopes` in-process on the same envelopes;
2. proof endpoints at 1,000,000 entries: p50/p99 of /proofs/inclusion and
   /proofs/consistency from one keep-alive client, against the store's own proof calls;
3. dashboard pages at 10,000 statements: the models list, a model's page and the
   verification panel, against gathering the same data in-process (`fairtrail.overview`).

    .venv/bin/python -W ignore bench/bench_server.py [--appends 60000] [--proof-entries 1000000]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.server._fixtures import build_rich_trail, start_server  # noqa: E402

from fairtrail import Role, Trail  # noqa: E402
from fairtrail.crypto.dsse import Envelope, sign_envelope  # noqa: E402
from fairtrail.crypto.keys import SigningKey  # noqa: E402
from fairtrail.server.tokens import TokenStore  # noqa: E402
from fairtrail.statements.statement import PAYLOAD_TYPE, Statement  # noqa: E402


def envelopes(key: SigningKey, n: int, tag: str) -> list[Envelope]:
    out = []
    for i in range(n):
        st = Statement.from_dict({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": f"{tag}-{i}", "digest": {"sha256": f"{i:064x}"}}],
            "predicateType": "https://example.com/bench/v1", "predicate": {"i": i, "t": tag},
        })  # fmt: skip
        out.append(sign_envelope(PAYLOAD_TYPE, st.to_json(), [key]))
    return out


def bench_appends(root: Path, n: int, clients: int, batch: int) -> None:
    trail = Trail.init(root / "appends")
    admin = trail.actor_key("admin")
    trail.create_actor("mo", [Role.ML_ENGINEER], admin)
    mo = trail.actor_key("mo")
    print(f"signing {2 * n:,} envelopes ...", flush=True)
    local = envelopes(mo, n, "local")
    t = time.perf_counter()
    for i in range(0, n, batch):
        trail.record_envelopes(local[i : i + batch])
    floor = time.perf_counter() - t
    trail.close()
    with TokenStore.of_trail(root / "appends") as tokens:
        secret = tokens.create("mo", Role.ML_ENGINEER)[1]
    remote = [e.to_dict() for e in envelopes(mo, n, "http")]
    server = start_server(root / "appends", "--rate-limit", "0")
    try:
        chunks = [remote[i : i + batch] for i in range(0, n, batch)]
        lock = threading.Lock()
        failures: list[str] = []

        def client() -> None:
            session = requests.Session()
            headers = {"Authorization": f"Bearer {secret}"}
            while True:
                with lock:
                    if not chunks:
                        return
                    chunk = chunks.pop()
                r = session.post(server.url + "/api/v1/entries", json={"envelopes": chunk},
                                 headers=headers, timeout=120)  # fmt: skip
                if r.status_code != 201:
                    failures.append(r.text)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        http = time.perf_counter() - t
    finally:
        server.stop()
    assert not failures, failures[:3]
    print(f"\n## Appends, {n:,} statements in batches of {batch}, {clients} clients")
    print("| path | time | statements/s |\n|---|---:|---:|")
    print(f"| HTTP `POST /api/v1/entries` (fairtrail serve) | {http:.2f} s | {n / http:,.0f} |")
    print(f"| in-process `Trail.record_envelopes` (floor) | {floor:.2f} s | {n / floor:,.0f} |")
    print(f"HTTP takes {http / floor:.2f}x the in-process time")


def bench_proofs(root: Path, entries: int, requests_n: int) -> None:
    trail = Trail.init(root / "proofs")
    admin = trail.actor_key("admin")
    sample = [e.to_json() for e in envelopes(admin, 64, "p")]
    print(f"\nappending {entries:,} entries ...", flush=True)
    done = trail.store.size
    while done < entries:  # raw leaves: proofs do not look inside entries
        n = min(100_000, entries - done)
        trail.log.append([sample[(done + i) % 64] for i in range(n)])
        done += n
    trail.checkpoint()
    size = trail.store.size
    rnd = random.Random(1)
    picks = [(rnd.randrange(size), rnd.randrange(1, size)) for _ in range(requests_n)]
    local_incl, local_cons = [], []
    for index, old in picks:
        t = time.perf_counter()
        trail.store.inclusion_proof(index, size)
        local_incl.append(time.perf_counter() - t)
        t = time.perf_counter()
        trail.store.consistency_proof(old, size)
        local_cons.append(time.perf_counter() - t)
    trail.close()
    server = start_server(root / "proofs", "--rate-limit", "0")
    http_incl, http_cons = [], []
    try:
        session = requests.Session()
        for index, old in picks:
            t = time.perf_counter()
            r = session.get(f"{server.url}/api/v1/proofs/inclusion?index={index}&size={size}")
            http_incl.append(time.perf_counter() - t)
            assert r.status_code == 200
            t = time.perf_counter()
            r = session.get(f"{server.url}/api/v1/proofs/consistency?old={old}&new={size}")
            http_cons.append(time.perf_counter() - t)
            assert r.status_code == 200
    finally:
        server.stop()

    def row(name: str, xs: list[float]) -> str:
        xs = sorted(xs)
        p99 = xs[int(len(xs) * 0.99) - 1]
        return f"| {name} | {statistics.median(xs) * 1e3:.3f} ms | {p99 * 1e3:.3f} ms |"

    print(f"\n## Proofs at {size:,} entries, {requests_n:,} random requests each, one client")
    print("| what | median | p99 |\n|---|---:|---:|")
    print(row("HTTP inclusion proof (client wall time)", http_incl))
    print(row("HTTP consistency proof (client wall time)", http_cons))
    print(row("in-process store.inclusion_proof (floor)", local_incl))
    print(row("in-process store.consistency_proof (floor)", local_cons))


def bench_pages(root: Path, statements: int, rounds: int) -> None:
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.overview import model_overview, models_overview, verification_overview

    credit = build_rich_trail(root / "pages")
    with Trail.open(credit.path) as trail:
        admin = trail.actor_key("admin")
        fill = statements - trail.store.size
        for i in range(0, fill, 1000):
            trail.record_envelopes(envelopes(admin, min(1000, fill - i), f"f{i}"))
        trail.checkpoint()
        size = trail.store.size
        model = resolve_model(trail, "credit-model")
        ref = model.ref
        floors = {}
        for name, fn in [("/", lambda: models_overview(trail)),
                         (f"/models/{ref}", lambda: model_overview(trail, model)),
                         ("/verify", lambda: verification_overview(trail))]:  # fmt: skip
            fn()
            ts = []
            for _ in range(rounds):
                t = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t)
            floors[name] = statistics.median(ts)
    server = start_server(credit.path, "--rate-limit", "0")
    print(f"\n## Dashboard pages at {size:,} statements, median and max of {rounds} loads")
    print("| page | median | max | data gathering alone (floor) |\n|---|---:|---:|---:|")
    try:
        session = requests.Session()
        for path, floor in floors.items():
            session.get(server.url + path)
            ts = []
            for _ in range(rounds):
                t = time.perf_counter()
                r = session.get(server.url + path)
                ts.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
            label = "/models/{digest}" if path.startswith("/models") else path
            print(f"| `{label}` | {statistics.median(ts) * 1e3:.1f} ms | {max(ts) * 1e3:.1f} ms "
                  f"| {floor * 1e3:.1f} ms |")  # fmt: skip
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--appends", type=int, default=60_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--proof-entries", type=int, default=1_000_000)
    ap.add_argument("--proof-requests", type=int, default=2000)
    ap.add_argument("--page-statements", type=int, default=10_000)
    ap.add_argument("--page-rounds", type=int, default=20)
    args = ap.parse_args()
    py = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {py}")
    root = Path(tempfile.mkdtemp(prefix="bench-server-", dir=os.environ.get("BENCH_DIR")))
    try:
        bench_appends(root, args.appends, args.clients, args.batch)
        bench_proofs(root, args.proof_entries, args.proof_requests)
        bench_pages(root, args.page_statements, args.page_rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
