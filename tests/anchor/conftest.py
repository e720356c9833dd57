"""Chains for the anchor tests: a real anvil node (started here, on 127.0.0.1 and a free
port) and eth-tester in-process. Each test gets its own anvil snapshot, reverted after,
so tests stay independent while sharing one node process per worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fairtrail.anchor.client import ChainClient
from fairtrail.anchor.config import ChainConfig
from fairtrail.anchor.devnode import ANVIL_CHAIN_ID, ANVIL_DEV_KEYS, Anvil, run_anvil
from fairtrail.anchor.wallet import create_wallet


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[Anvil]:
    with run_anvil() as node:
        yield node


@pytest.fixture
def anvil(anvil_node: Anvil) -> Iterator[Anvil]:
    snapshot = anvil_node.call("evm_snapshot")
    yield anvil_node
    anvil_node.call("evm_setAutomine", True)
    anvil_node.call("evm_revert", snapshot)


def anvil_config(node: Anvil, root: Path, key_index: int = 0, **extra: object) -> ChainConfig:
    """A chain config for `node` whose key file holds anvil dev key `key_index`."""
    key = root / f"dev{key_index}.eth"
    if not key.exists():
        create_wallet(key, bytes.fromhex(ANVIL_DEV_KEYS[key_index]))
    fields: dict[str, object] = {
        "name": "anvil", "rpc": node.url, "chain_id": ANVIL_CHAIN_ID, "key": key.name,
    } | extra  # fmt: skip
    return ChainConfig.model_validate(fields)


@pytest.fixture
def anvil_client(anvil: Anvil, tmp_path: Path) -> Iterator[ChainClient]:
    with ChainClient.connect(anvil_config(anvil, tmp_path), tmp_path) as client:
        yield client
