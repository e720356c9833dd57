"""Decision recording benchmark: N decisions recorded durably in batches, next to the
floor of the same durable work without fairtrail (one SQLite table, the same record
bytes, one transaction per batch, synchronous=FULL).

    .venv/bin/python -W ignore bench/bench_decisions.py [--decisions 200000]

Not a test: nothing fails when slow.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from fairtrail import Trail
from fairtrail.decisions import record_decisions
from fairtrail.lifecycle.models import record_model
from fairtrail.trace import trace


def rows(n: int, model: str) -> Iterator[dict]:
    """N decisions about N/4 customers, made lazily (10M dicts would not fit in memory)."""
    rnd = random.Random(3)
    for i in range(n):
        yield {"id": f"d{i}", "model": model, "output": rnd.choice(["approve", "deny"]),
               "time": "2026-11-25T10:00:00Z", "subject": f"cust-{i % (n // 4 or 1)}",
               "input": {"income": rnd.randint(10, 99) * 1000,
                         "age": rnd.randint(18, 90)}}  # fmt: skip


def floor(path: Path, data: Iterator[dict], batch: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE d (id TEXT PRIMARY KEY, record BLOB)")
    took = 0.0
    while chunk := list(itertools.islice(data, batch)):
        t = time.perf_counter()
        db.execute("BEGIN")
        values = [(r["id"], json.dumps(r, sort_keys=True).encode()) for r in chunk]
        db.executemany("INSERT INTO d VALUES (?, ?)", values)
        db.execute("COMMIT")
        took += time.perf_counter() - t  # the rows' making is not timed, as for fairtrail
    db.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--traces", type=int, default=100)
    args = parser.parse_args()
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = root / "m.safetensors"
        header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})
        model.write_bytes(len(header).to_bytes(8, "little") + header.encode() + bytes(8))
        with Trail.init(root / "trail") as trail:
            admin = trail.actor_key("admin")
            record_model(trail, model, admin)
            # up to 2M rows are made before the clock starts, as a caller's batch would
            # be; beyond that they would not fit in memory and are made on the fly, inside
            # the timed part (which then understates fairtrail's own rate)
            made_first = args.decisions <= 2_000_000
            data: Iterable[dict] = rows(args.decisions, str(model))
            if made_first:
                data = list(data)
            t = time.perf_counter()
            results = record_decisions(trail, data, admin, batch_size=args.batch)
            took = time.perf_counter() - t
            trail.checkpoint()
            rnd = random.Random(9)
            times = []
            for _ in range(args.traces):
                did = f"d{rnd.randrange(args.decisions)}"
                t = time.perf_counter()
                info = trace(trail, did)
                times.append(time.perf_counter() - t)
                assert info["decision"]["id"] == did
            times.sort()
        base = floor(root / "floor.db", rows(args.decisions, str(model)), args.batch)
        n = sum(r.count for r in results)
        print(
            f"fairtrail: {n:,} decisions in {len(results)} batches, {took:.2f} s "
            f"= {n / took:,.0f} decisions/s (vault + decisions.db + signed batch statements"
            f"{'' if made_first else '; rows made on the fly, inside the time'})"
        )
        print(f"trace of a random decision among {n:,} (proof checked, model, lineage, "
              f"everything in force): median {times[len(times) // 2] * 1000:.1f} ms, "
              f"max {times[-1] * 1000:.1f} ms over {len(times)}")  # fmt: skip
        print(f"floor (one SQLite table, same rows, same durability): {base:.2f} s "
              f"= {n / base:,.0f}/s; ratio {took / base:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
