"""Start a local `anvil` node (npm `@foundry-rs/anvil-linux-amd64`) for tests and demos.

The node listens on 127.0.0.1 only, on a port the OS picked free, and is stopped
(terminate, then kill) when the context exits. Its ten dev accounts are the
well-known anvil ones: never use them on a real network.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_account import Account

__all__ = [
    "ANVIL_CHAIN_ID",
    "ANVIL_DEV_KEYS",
    "ANVIL_MNEMONIC",
    "Anvil",
    "anvil_binary",
    "anvil_dev_key",
    "free_port",
    "run_anvil",
]

ANVIL_CHAIN_ID = 31337
#: anvil's default mnemonic: its dev accounts are m/44'/60'/0'/0/i of it (public keys!).
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


def anvil_dev_key(index: int) -> bytes:
    """The private key of anvil's dev account `index` (derived, BIP-44)."""
    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return bytes(account.key)


ANVIL_DEV_KEYS = tuple(anvil_dev_key(i).hex() for i in range(3))


def anvil_binary() -> Path | None:
    """The anvil binary: $FAIRTRAIL_ANVIL, the repository's node_modules, or PATH."""
    if env := os.environ.get("FAIRTRAIL_ANVIL"):
        return Path(env)
    here = Path(__file__).resolve().parents[3]
    candidate = here / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    if candidate.exists():
        return candidate
    found = shutil.which("anvil")
    return Path(found) if found else None


@dataclass(frozen=True)
class Anvil:
    url: str
    port: int
    process: subprocess.Popen[bytes]

    def call(self, method: str, *params: object) -> object:
        """A raw JSON-RPC call (evm_snapshot, evm_revert, evm_mine, anvil_* ...)."""
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        reply = requests.post(self.url, json=body, timeout=10).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for nodes and servers started on loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def run_anvil(*extra: str, timeout: float = 20.0) -> Iterator[Anvil]:
    binary = anvil_binary()
    if binary is None:
        raise FileNotFoundError("anvil is not installed: run `npm ci` in the repository")
    last: Exception | None = None
    for _ in range(3):  # the port may be taken between picking and binding
        port = free_port()
        proc = subprocess.Popen(
            [str(binary), "--host", "127.0.0.1", "--port", str(port), "--silent", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        node = Anvil(f"http://127.0.0.1:{port}", port, proc)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    node.call("eth_chainId")
                    break
                except requests.RequestException as exc:
                    last = exc
                    time.sleep(0.02)
            else:
                raise RuntimeError(f"anvil did not start: {last}")
            yield node
            return
        except RuntimeError as exc:
            last = exc
            if proc.poll() is None:
                raise
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
    raise RuntimeError(f"anvil did not start: {last}")
