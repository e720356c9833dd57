"""Anchoring benchmark: gas per anchor against entries per checkpoint, and the anchor
round trip on a real anvil node next to web3.py used with its defaults.

    .venv/bin/python -W ignore bench/bench_anchor.py [--max-entries 1000000] [--trips 200]

Gas: one log grows to 10, 100, ... entries (real leaves, real roots); each checkpoint is
anchored through the product's queue on anvil and `gasUsed` is read from the receipt.
Round trip: enqueue -> sign -> send -> receipt -> state `included`, the product path
(5 ms receipt polls), against the same `anchor()` call sent with web3.py's defaults
(`build_transaction` + `wait_for_transaction_receipt`, which polls every 0.1 s).
Not a test: nothing fails when slow.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from fairtrail.anchor.client import ChainClient
from fairtrail.anchor.config import ChainConfig
from fairtrail.anchor.devnode import ANVIL_CHAIN_ID, ANVIL_DEV_KEYS, run_anvil
from fairtrail.anchor.queue import AnchorQueue, log_id
from fairtrail.anchor.wallet import create_wallet
from fairtrail.crypto.keys import SigningKey
from fairtrail.log.checkpoint import Ed25519NoteVerifier
from fairtrail.log.sqlite import SqliteStore
from fairtrail.log.tlog import TransparencyLog


def gas_table(root: Path, config: ChainConfig, max_entries: int) -> list[tuple[int, int]]:
    key = SigningKey.generate()
    store = SqliteStore.open(root / "log.db", writer=True, create=True)
    log = TransparencyLog(store, Ed25519NoteVerifier("bench.example/log", key.public), key)
    rows = []
    size = 10
    with AnchorQueue(root / "anchors.db") as queue, ChainClient(config, root) as client:
        while size <= max_entries:
            missing = size - store.size
            while missing:
                batch = min(missing, 10_000)
                log.append([os.urandom(64) for _ in range(batch)])
                missing -= batch
            body, _ = log.checkpoint()
            row = queue.enqueue(config, body.origin, body.size, body.root)
            assert row is not None
            queue.drain(client)
            queue.wait_included(client, 30)
            (row,) = [r for r in queue.drain(client) if r.size == body.size]
            assert row.tx_hash is not None
            receipt = client.receipt(row.tx_hash)
            assert receipt is not None
            rows.append((size, int(receipt["gasUsed"])))
            size *= 10
    store.close()
    return rows


def trips_product(root: Path, config: ChainConfig, n: int) -> list[float]:
    times = []
    origin = "trips.example/log"
    with AnchorQueue(root / "trips.db") as queue, ChainClient(config, root) as client:
        for size in range(1, n + 1):
            t = time.perf_counter()
            queue.enqueue(config, origin, size, hashlib.sha256(b"%d" % size).digest())
            queue.drain(client)
            queue.wait_included(client, 30)
            queue.drain(client)
            times.append(time.perf_counter() - t)
            assert queue.rows()[-1].state != "pending"
    return times


def trips_web3_defaults(root: Path, config: ChainConfig, n: int) -> list[float]:
    times = []
    lid = log_id("web3.example/log")
    with ChainClient(config, root) as client:
        account = client.wallet()
        w3 = client.web3
        contract = client.contract("FairtrailAnchor")
        for size in range(1, n + 1):
            t = time.perf_counter()
            tx = contract.functions.anchor(lid, size, hashlib.sha256(b"%d" % size).digest())
            built = tx.build_transaction(
                {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address)}
            )
            signed = account.sign_transaction(built)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            w3.eth.wait_for_transaction_receipt(tx_hash)
            times.append(time.perf_counter() - t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-entries", type=int, default=1_000_000)
    parser.add_argument("--trips", type=int, default=200)
    args = parser.parse_args()
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp, run_anvil() as node:
        root = Path(tmp)
        create_wallet(root / "dev.eth", bytes.fromhex(ANVIL_DEV_KEYS[0]))
        config = ChainConfig(name="anvil", rpc=node.url, chain_id=ANVIL_CHAIN_ID, key="dev.eth")
        with ChainClient(config, root) as client:
            address = client.deploy("FairtrailAnchor", client.wallet(), [client.wallet().address])
        config = config.model_copy(update={"anchor_contract": address})

        print("\n| entries per checkpoint | gas per anchor | gas per entry |")
        print("|---|---|---|")
        for size, gas in gas_table(root, config, args.max_entries):
            print(f"| {size:,} | {gas:,} | {gas / size:.4f} |")

        ours = trips_product(root, config, args.trips)
        peer = trips_web3_defaults(root, config, min(args.trips, 50))
        m_ours, m_peer = statistics.median(ours), statistics.median(peer)
        p99 = sorted(ours)[int(len(ours) * 0.99) - 1]
        print(f"\nanchor round trip on anvil, fairtrail queue: median {m_ours * 1000:.1f} ms, "
              f"p99 {p99 * 1000:.1f} ms ({len(ours)} anchors)")  # fmt: skip
        print(f"same call, web3.py defaults: median {m_peer * 1000:.1f} ms ({len(peer)} anchors)")
        print(f"ratio: {m_peer / m_ours:.1f}x")


if __name__ == "__main__":
    main()
