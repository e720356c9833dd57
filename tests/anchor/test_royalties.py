"""RoyaltySplit on a real anvil node: shares fixed from a checkpoint, fees paid in,
contributors pulling their share (rounding, one who never withdraws), bad input that
moves no funds, the contract's own guards, and a re-entrant payee that gets nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from fairtrail import Trail
from fairtrail.anchor.client import ChainClient
from fairtrail.anchor.devnode import Anvil, anvil_dev_key
from fairtrail.anchor.wallet import create_wallet, load_wallet
from fairtrail.errors import InputError
from fairtrail.lifecycle.contributions import contribute
from fairtrail.lifecycle.models import resolve_model
from fairtrail.royalties import deploy_split, pay, split_status, withdraw
from tests.anchor.conftest import anvil_config
from tests.cli.test_cli import assert_user_error, ft
from tests.lifecycle.test_contributions_licences import _dataset, _model, _trail

pytestmark = pytest.mark.integration


def _setup(tmp_path: Path, anvil: Anvil, shares: dict[str, str]) -> tuple[Trail, Any]:
    trail = _trail(tmp_path)
    data = _dataset(trail, tmp_path, "credit", "CC-BY-4.0")
    _model(trail, tmp_path, "m", ["credit"], license="MIT")
    model = resolve_model(trail, "m")
    for n, (name, share) in enumerate(shares.items()):
        ref = data if name == "dana" else f"sha1:{n:040x}"
        contribute(trail, model, "data" if name == "dana" else "code", ref, share,
                   trail.actor_key(name))  # fmt: skip
    for i, name in enumerate(["dana", "mo", "ana", "ops"], start=1):  # funded dev accounts
        create_wallet(trail.paths.eth_key(name), anvil_dev_key(i))
    chain = anvil_config(anvil, trail.paths.root)
    trail.set_chain(chain)
    trail.checkpoint()
    return trail, model


def _balance(client: ChainClient, address: str) -> int:
    return int(client.web3.eth.get_balance(Web3.to_checksum_address(address)))


def test_fees_split_by_recorded_shares(tmp_path: Path, anvil: Anvil) -> None:
    trail, model = _setup(tmp_path, anvil, {"dana": "50", "mo": "33.33", "ana": "16.67"})
    chain = trail.config.chain("anvil")
    receipt, address = deploy_split(trail, model, chain, trail.actor_key("admin"))
    assert [p["share_bp"] for p in receipt.statement.predicate["payees"]] == [5000, 3333, 1667]
    fees = [10**18 + 1, 7, 999]
    for wei in fees:
        pay(trail, model, chain, "ops", wei)
    total = sum(fees)
    owed = {"dana": total * 5000 // 10_000, "mo": total * 3333 // 10_000}
    with ChainClient.connect(chain, trail.paths.root) as client:
        before = {n: _balance(client, load_wallet(trail.paths.eth_key(n)).address) for n in owed}
    for name in ("dana", "mo"):
        got, _ = withdraw(trail, model, chain, name)
        assert got == owed[name]
    with ChainClient.connect(chain, trail.paths.root) as client:
        ops = load_wallet(trail.paths.eth_key("ops")).address
        held = (_balance(client, ops), _balance(client, address), client.nonce(ops))
    with pytest.raises(InputError, match="nothing to withdraw"):
        withdraw(trail, model, chain, "dana")  # refused before anything is signed
    with pytest.raises(InputError, match="holds no share"):
        withdraw(trail, model, chain, "ops")
    with pytest.raises(InputError, match="positive"):
        pay(trail, model, chain, "ops", 0)
    with ChainClient.connect(chain, trail.paths.root) as client:  # no funds moved, nothing sent
        assert (_balance(client, ops), _balance(client, address), client.nonce(ops)) == held
    status = split_status(trail, model, chain)
    by = {p["actor"]: p for p in status["payees"]}
    # ana never withdrew: her share is still hers, in full
    assert by["ana"]["released"] == 0 and by["ana"]["releasable"] == total * 1667 // 10_000
    assert status["received"] == total and status["released"] == sum(owed.values())
    assert status["balance"] == total - sum(owed.values())
    assert 0 <= status["dust"] <= len(fees) * 3  # floor rounding, never more than was paid
    with ChainClient.connect(chain, trail.paths.root) as client:
        for name, wei in owed.items():  # each got their share, less only their gas
            after = _balance(client, load_wallet(trail.paths.eth_key(name)).address)
            assert 0 < before[name] + wei - after < 10**16
        contract = client.contract("RoyaltySplit", address)
        stranger = load_wallet(trail.paths.eth_key("ops")).address
        with pytest.raises(Exception, match="not a payee"):
            contract.functions.withdraw().call({"from": stranger})
        with pytest.raises(Exception, match="no value"):
            contract.functions.pay().call({"from": stranger, "value": 0})
    trail.close()


def test_shares_must_add_up_and_be_checkpointed(tmp_path: Path, anvil: Anvil) -> None:
    trail, model = _setup(tmp_path, anvil, {"dana": "50", "mo": "30"})
    chain = trail.config.chain("anvil")
    size = trail.store.size
    with pytest.raises(InputError, match="add up to 80%, not 100%"):
        deploy_split(trail, model, chain, trail.actor_key("admin"))
    contribute(trail, model, "code", "sha1:" + "e" * 40, "20", trail.actor_key("ana"))
    with pytest.raises(InputError, match="not under a checkpoint"):
        deploy_split(trail, model, chain, trail.actor_key("admin"))
    assert trail.store.size == size + 1  # only the contribution: no split was recorded
    trail.checkpoint()
    deploy_split(trail, model, chain, trail.actor_key("admin"))
    trail.close()
    path = tmp_path / "trail"
    r = ft(path, "royalties", "pay", "m", "--wei", "1000", "--as", "ops")
    assert r.returncode == 0, r.stderr
    r = ft(path, "royalties", "withdraw", "m", "--as", "mo")
    assert r.returncode == 0 and "withdrew 300 wei" in r.stdout, r.stderr
    assert_user_error(ft(path, "royalties", "withdraw", "m", "--as", "ops"), 2, "holds no share")
    assert_user_error(ft(path, "royalties", "withdraw", "nope", "--as", "mo"), 2, "nope")
    assert_user_error(ft(path, "royalties", "pay", "m", "--wei", "-5", "--as", "ops"), 2,
                      "positive")  # fmt: skip
    status = json.loads(ft(path, "royalties", "status", "m", "--json").stdout)
    assert status["received"] == 1000 and status["released"] == 300


_ATTACKER = """// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;
interface ISplit { function withdraw() external; }
contract Attacker {
    ISplit public split;
    bool public reenter = true;
    uint256 public received;
    function target(address s) external { split = ISplit(s); }
    function setReenter(bool on) external { reenter = on; }
    function attack() external { split.withdraw(); }
    receive() external payable { received += msg.value; if (reenter) { split.withdraw(); } }
}
"""


def test_a_reentrant_payee_gets_nothing(tmp_path: Path, anvil: Anvil) -> None:
    from fairtrail.anchor._solc import EVM_VERSION, solcjs_path
    from fairtrail.anchoring import chain_digest

    select = {"*": {"*": ["abi", "evm.bytecode.object"]}}
    spec = {"language": "Solidity", "sources": {"A.sol": {"content": _ATTACKER}},
            "settings": {"evmVersion": EVM_VERSION, "outputSelection": select}}  # fmt: skip
    out = subprocess.run([str(solcjs_path()), "--standard-json"], input=json.dumps(spec),
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    unit = json.loads(out[out.index("{") :])["contracts"]["A.sol"]["Attacker"]
    config = anvil_config(anvil, tmp_path)
    with ChainClient.connect(config, tmp_path) as client:
        account = client.wallet()
        factory = client.web3.eth.contract(
            abi=unit["abi"], bytecode=unit["evm"]["bytecode"]["object"]
        )
        receipt = client.transact(factory.constructor(), account)  # type: ignore[arg-type]
        attacker = client.web3.eth.contract(address=receipt["contractAddress"], abi=unit["abi"])
        other = Web3.to_checksum_address("0x" + "11" * 20)
        split_address = client.deploy(
            "RoyaltySplit", account, chain_digest("sha256:" + "ab" * 32), b"\x01" * 32, 5,
            [attacker.address, other], [5000, 5000],
        )  # fmt: skip
        split = client.contract("RoyaltySplit", split_address)
        client.transact(attacker.functions.target(split_address), account)
        client.transact(split.functions.pay(), account, value=10_000)
        from fairtrail.errors import ChainError

        with pytest.raises(ChainError):  # the nested withdraw reverts the whole withdrawal
            client.transact(attacker.functions.attack(), account)
        assert split.functions.released(attacker.address).call() == 0
        assert _balance(client, split_address) == 10_000
        assert split.functions.releasable(attacker.address).call() == 5_000
        # the control: the same payee, not re-entering, is paid its share exactly once
        client.transact(attacker.functions.setReenter(False), account)
        client.transact(attacker.functions.attack(), account)
        assert attacker.functions.received().call() == 5_000
        assert _balance(client, split_address) == 5_000
