"""Log benchmark: fairtrail's SQLite log against pymerkle's SQLite backend, same run, same leaves.

    .venv/bin/python bench/bench_log.py [--sizes 1000000,10000000] [--batch 10000]

For each size N it appends N random 200-byte leaves in durable batches (one committed
transaction per batch) to both, then measures inclusion and consistency proof latency,
and the full integrity check (fsck: every leaf re-hashed, every stored hash rebuilt).
pymerkle proofs are measured at a smaller size because they grow linearly with it.
Prints a Markdown table; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from pymerkle import SqliteTree

from _timing import timed
from fairtrail.crypto import SigningKey
from fairtrail.log import SqliteStore, TransparencyLog, fsck, merkle
from fairtrail.log.checkpoint import Ed25519NoteVerifier

LEAF = 200


def leaves(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out: list[bytes] = []
    for start in range(0, n, 100_000):
        blob = rng.randbytes(min(100_000, n - start) * LEAF)
        out.extend(blob[i : i + LEAF] for i in range(0, len(blob), LEAF))
    return out


def once(fn: Callable[[], object]) -> float:
    return timed(fn, repeat=1)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bench_ours(data: list[bytes], batch: int, folder: Path) -> dict[str, float]:
    key = SigningKey.generate()
    store = SqliteStore.open(folder / "ours.db", writer=True, create=True)
    log = TransparencyLog(store, Ed25519NoteVerifier("bench.example/log", key.public), key)
    n = len(data)
    t = once(lambda: [log.append(data[i : i + batch]) for i in range(0, n, batch)])
    out = {"append_per_s": n / t}
    out["checkpoint_s"] = once(log.checkpoint)
    rng = random.Random(1)
    warm, cold, cons = [], [], []
    for _ in range(1000):
        i = rng.randrange(n)
        store._tile_cache.clear()  # cold: every tile read from SQLite
        cold.append(once(lambda i=i: store.inclusion_proof(i, n)))
        warm.append(once(lambda i=i: store.inclusion_proof(i, n)))
        m = rng.randrange(1, n)
        cons.append(once(lambda m=m: store.consistency_proof(m, n)))
    i = rng.randrange(n)
    merkle.verify_inclusion(
        merkle.leaf_hash(data[i]), i, n, store.inclusion_proof(i, n), store.root(n)
    )
    out["incl_cold_ms"] = median_ms(cold)
    out["incl_warm_ms"] = median_ms(warm)
    out["incl_p99_ms"] = sorted(cold)[989] * 1000
    out["cons_ms"] = median_ms(cons)
    out["verify_per_s"] = n / once(lambda: fsck(log))
    store.close()
    return out


def bench_pymerkle(
    data: list[bytes], batch: int, folder: Path, proof_size: int
) -> dict[str, float]:
    tree = SqliteTree(str(folder / "pymerkle.db"))
    n = len(data)
    t = once(lambda: [tree.append_entries(data[i : i + batch]) for i in range(0, n, batch)])
    out = {"append_per_s": n / t}
    rng = random.Random(1)
    size = min(proof_size, n)
    incl = [once(lambda: tree.prove_inclusion(rng.randrange(1, size + 1), size)) for _ in range(20)]
    out["incl_ms"] = median_ms(incl)
    out["proof_size"] = size
    tree.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000000")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--pymerkle-proof-size", type=int, default=100_000)
    parser.add_argument("--skip-pymerkle-above", type=int, default=1_000_000)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, SQLite {__import__('sqlite3').sqlite_version}"
    )
    print(
        "| leaves | fairtrail append/s | pymerkle append/s | ratio | incl. proof median "
        "cold / warm (p99) | consistency median | pymerkle incl. proof | verify leaves/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        data = leaves(n, seed=n)
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
            ours = bench_ours(data, args.batch, Path(tmp))
            theirs = (
                bench_pymerkle(data, args.batch, Path(tmp), args.pymerkle_proof_size)
                if n <= args.skip_pymerkle_above
                else None
            )
        their_append = f"{theirs['append_per_s']:,.0f}" if theirs else "(skipped)"
        ratio = f"{ours['append_per_s'] / theirs['append_per_s']:.2f}x" if theirs else "-"
        their_proof = (
            f"{theirs['incl_ms']:.1f} ms at {int(theirs['proof_size']):,}" if theirs else "-"
        )
        print(
            f"| {n:,} | {ours['append_per_s']:,.0f} | {their_append} | {ratio} | "
            f"{ours['incl_cold_ms']:.3f} / {ours['incl_warm_ms']:.3f} ms "
            f"({ours['incl_p99_ms']:.3f}) | {ours['cons_ms']:.3f} ms | {their_proof} | "
            f"{ours['verify_per_s']:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
