"""Fingerprint benchmark: fairtrail against model_signing, openssl and b3sum, same data,
same run, everything read from the page cache (each input is read once before timing).

    .venv/bin/python bench/bench_fingerprint.py [--big-files 8] [--big-mib 256]
        [--small-files 20000] [--rows 1000000]

Prints Markdown tables with throughput and ratios. Not a test: nothing fails when slow.
`b3sum` is Debian's package (`make bench` installs it); it is skipped if missing.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from _timing import timed
from fairtrail.lifecycle import rows
from fairtrail.lifecycle.fingerprint import fingerprint

MIB = 1 << 20


def warm(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with p.open("rb") as f:
                while f.read(8 * MIB):
                    pass


def model_signing_hash(folder: Path, sharded: bool) -> None:
    from model_signing import hashing

    config = hashing.Config()
    if sharded:
        config.use_shard_serialization()
    else:
        config.use_file_serialization()
    config.hash(folder)


def shell(cmd: str) -> Callable[[], None]:
    return lambda: subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)


def table(title: str, size: int, results: dict[str, float], base: str) -> None:
    print(f"\n{title}\n")
    print(f"| tool | seconds (best of 3) | MiB/s | time ÷ {base}'s |")
    print("|---|---|---|---|")
    for name, secs in results.items():
        ratio = secs / results[base] if name != base else 1.0
        print(f"| {name} | {secs:.3f} | {size / MIB / secs:,.0f} | {ratio:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-files", type=int, default=8)
    ap.add_argument("--big-mib", type=int, default=256)
    ap.add_argument("--small-files", type=int, default=20_000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {subprocess.run(['openssl', 'version'], capture_output=True, text=True).stdout.strip()}"  # noqa: E501
    )
    b3sum = shutil.which("b3sum")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        big = root / "big"
        big.mkdir()
        chunk = os.urandom(MIB)
        for n in range(args.big_files):
            with (big / f"shard-{n}.bin").open("wb") as f:
                for _ in range(args.big_mib):
                    f.write(chunk)
        warm(big)
        size = args.big_files * args.big_mib * MIB
        res = {
            "fairtrail sha256": timed(lambda: fingerprint(big)),
            "model_signing (default: one hash per file)": timed(
                lambda: model_signing_hash(big, False)
            ),
            "model_signing (sharded)": timed(lambda: model_signing_hash(big, True)),
            "openssl dgst -sha256 (files in parallel, 2 processes)": timed(
                shell(f"find {big} -type f -print0 | xargs -0 -n 1 -P 2 openssl dgst -sha256")
            ),
            "fairtrail blake3": timed(lambda: fingerprint(big, algorithm="blake3")),
        }
        if b3sum:
            res["b3sum"] = timed(shell(f"{b3sum} {big}/*"))
        table(
            f"{args.big_files} files x {args.big_mib} MiB (SHA-256 unless named)",
            size,
            res,
            "fairtrail sha256",
        )

        small = root / "small"
        small.mkdir()
        rng = random.Random(1)
        for n in range(args.small_files):
            sub = small / f"d{n % 100:02d}"
            sub.mkdir(exist_ok=True)
            (sub / f"f{n}.bin").write_bytes(rng.randbytes(16 * 1024))
        warm(small)
        size = args.small_files * 16 * 1024
        res = {
            "fairtrail sha256": timed(lambda: fingerprint(small)),
            "model_signing (default)": timed(lambda: model_signing_hash(small, False)),
            "find | xargs openssl dgst -sha256": timed(
                shell(f"find {small} -type f -print0 | xargs -0 openssl dgst -sha256")
            ),
        }
        table(f"{args.small_files:,} files x 16 KiB", size, res, "fairtrail sha256")

        csv_path = root / "rows.csv"
        with csv_path.open("w") as f:
            f.write("id,age,sex,amount,label\n")
            for i in range(args.rows):
                f.write(f"{i},{rng.randint(18, 80)},{rng.choice('MF')},"
                        f"{rng.random() * 1e4:.2f},{rng.randint(0, 1)}\n")  # fmt: skip
        secret = rows.new_secret()
        secs = timed(lambda: rows.build_row_tree(csv_path, secret))
        print(f"\nRow-level tree, {args.rows:,}-row CSV ({csv_path.stat().st_size / MIB:.0f} MiB): "
              f"{secs:.3f} s, {args.rows / secs:,.0f} rows/s (best of 3)")  # fmt: skip


if __name__ == "__main__":
    main()
