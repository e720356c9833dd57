"""The contracts, against a real anvil node: every require() branch, events, gas."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from eth_account import Account
from web3.contract import Contract

from fairtrail.anchor import _solc, artifacts
from fairtrail.anchor.client import ChainClient
from fairtrail.anchor.config import ChainConfig
from fairtrail.anchor.devnode import ANVIL_DEV_KEYS, Anvil
from fairtrail.anchor.queue import log_id
from fairtrail.anchor.wallet import create_wallet
from fairtrail.errors import ChainError

pytestmark = pytest.mark.integration

OWNER, A1, A2 = (Account.from_key(bytes.fromhex(k)) for k in ANVIL_DEV_KEYS)
A3, OUTSIDER = (Account.from_key(hashlib.sha256(s).digest()) for s in (b"a3", b"outsider"))
LOG = log_id("example.com/log")
M = hashlib.sha256(b"model").digest()
P = hashlib.sha256(b"policy").digest()
P2 = hashlib.sha256(b"policy v2").digest()
R = hashlib.sha256(b"root").digest()


def test_committed_artifacts_are_what_the_pinned_compiler_makes() -> None:
    built = _solc.compile_contracts()
    assert built["compiler"].startswith(_solc.SOLC_VERSION + "+")
    assert built["settings"]["evmVersion"] == "prague"
    assert _solc.render(built) == _solc.ARTIFACTS.read_text("utf-8")
    for name in _solc.CONTRACTS:
        source = (_solc.ARTIFACTS.parent / f"{name}.sol").read_bytes()
        assert (
            artifacts.artifacts()["contracts"][name]["source_sha256"]
            == hashlib.sha256(source).hexdigest()
        )


@pytest.fixture(autouse=True)
def _fund_extra_accounts(anvil: Anvil) -> None:
    for account in (A3, OUTSIDER):
        anvil.call("anvil_setBalance", account.address, hex(10**20))


def _reverts(client: ChainClient, call: object, account: object, reason: str) -> None:
    with pytest.raises(ChainError, match=reason):
        client.transact(call, account)  # type: ignore[arg-type]


def _anchor(client: ChainClient) -> Contract:
    return client.contract(
        "FairtrailAnchor", client.deploy("FairtrailAnchor", OWNER, [OWNER.address])
    )


def test_anchor_contract_every_branch(anvil_client: ChainClient) -> None:
    c = anvil_client
    anchor = _anchor(c)
    f = anchor.functions
    # only authorised submitters
    _reverts(c, f.anchor(LOG, 1, R), A1, "caller is not a submitter")
    receipt = c.transact(f.anchor(LOG, 5, R), OWNER)
    (event,) = anchor.events.Anchored().process_receipt(receipt)
    assert (bytes(event.args.logId), event.args.size, bytes(event.args.root)) == (LOG, 5, R)
    assert f.head(LOG).call() == [5, R[:24]]
    # a size not larger than the last: same size (any root) and smaller sizes
    _reverts(c, f.anchor(LOG, 5, R), OWNER, "size not larger than last")
    _reverts(c, f.anchor(LOG, 5, b"\x01" * 32), OWNER, "size not larger than last")
    _reverts(c, f.anchor(LOG, 4, R), OWNER, "size not larger than last")
    # another log is independent
    c.transact(f.anchor(log_id("other"), 1, R), OWNER)
    # owner-only management
    _reverts(c, f.addSubmitter(A1.address), A1, "caller is not the owner")
    _reverts(c, f.removeSubmitter(OWNER.address), A1, "caller is not the owner")
    _reverts(c, f.transferOwnership(A1.address), A1, "caller is not the owner")
    _reverts(c, f.addSubmitter("0x" + "00" * 20), OWNER, "submitter is the zero address")
    _reverts(c, f.addSubmitter(OWNER.address), OWNER, "already a submitter")
    _reverts(c, f.removeSubmitter(A1.address), OWNER, "not a submitter")
    c.transact(f.addSubmitter(A1.address), OWNER)
    c.transact(f.anchor(LOG, 6, R), A1)
    c.transact(f.removeSubmitter(A1.address), OWNER)
    _reverts(c, f.anchor(LOG, 7, R), A1, "caller is not a submitter")
    _reverts(c, f.transferOwnership("0x" + "00" * 20), OWNER, "new owner is the zero address")
    c.transact(f.transferOwnership(A2.address), OWNER)
    assert f.owner().call() == A2.address
    _reverts(c, f.addSubmitter(A3.address), OWNER, "caller is not the owner")


def test_constructor_refuses_bad_submitter_lists(anvil_client: ChainClient) -> None:
    with pytest.raises(ChainError, match="already a submitter"):
        anvil_client.deploy("FairtrailAnchor", OWNER, [A1.address, A1.address])
    with pytest.raises(ChainError, match="zero address"):
        anvil_client.deploy("FairtrailAnchor", OWNER, ["0x" + "00" * 20])


def test_anchor_gas_is_within_budget_and_independent_of_tree_size(
    anvil_client: ChainClient,
) -> None:
    anchor = _anchor(anvil_client)
    used = []
    for size in (10, 1_000, 1_000_000, 2**40, 2**63 - 1):
        receipt = anvil_client.transact(anchor.functions.anchor(LOG, size, R), OWNER)
        used.append(receipt["gasUsed"])
    assert max(used) <= 50_000, used  # the first anchor of a log writes a fresh slot
    # later anchors cost the same at any size, up to calldata pricing of the size argument
    # itself (12 gas more per non-zero byte, 8 bytes at most)
    assert max(used[1:]) - min(used[1:]) <= 8 * 12, used


def _registry(client: ChainClient, k: int = 2) -> Contract:
    address = client.deploy("AuditRegistry", OWNER, [A1.address, A2.address, A3.address], k)
    return client.contract("AuditRegistry", address)


def test_registry_k_of_n(anvil_client: ChainClient) -> None:
    c = anvil_client
    reg = _registry(c)
    f = reg.functions
    assert (f.threshold().call(), f.auditorCount().call()) == (2, 3)
    receipt = c.transact(f.approve(M, P, R), A1)
    (event,) = reg.events.Approved().process_receipt(receipt)
    assert event.args.auditor == A1.address and bytes(event.args.checkpointRoot) == R
    assert not f.isApproved(M).call()
    # a second approval by the same auditor does not count twice
    _reverts(c, f.approve(M, P, R), A1, "already approved")
    # the second auditor under *another* policy does not make a quorum
    c.transact(f.approve(M, P2, R), A2)
    assert not f.isApproved(M).call()
    c.transact(f.approve(M, P, R), A2)
    assert f.isApproved(M).call() and f.isApprovedFor(M, P).call()
    assert not f.isApprovedFor(M, P2).call()
    assert f.approvalCount(M, P).call() == 2
    # revoking drops below k
    receipt = c.transact(f.revoke(M, P), A2)
    assert reg.events.Revoked().process_receipt(receipt)[0].args.auditor == A2.address
    assert not f.isApproved(M).call()
    _reverts(c, f.revoke(M, P), A2, "no active approval")
    c.transact(f.approve(M, P, R), A3)
    assert f.isApproved(M).call()
    # removing an auditor voids their approvals, even if they come back later
    c.transact(f.removeAuditor(A3.address), OWNER)
    assert not f.isApproved(M).call()
    c.transact(f.addAuditor(A3.address), OWNER)
    assert not f.isApproved(M).call()
    assert f.approvalOf(M, P, A3.address).call()[2] is False
    c.transact(f.approve(M, P, R), A3)
    assert f.isApproved(M).call()
    # raising k takes effect at once
    c.transact(f.setThreshold(3), OWNER)
    assert not f.isApproved(M).call()


def test_registry_every_require(anvil_client: ChainClient) -> None:
    c = anvil_client
    reg = _registry(c, k=3)
    f = reg.functions
    zero = b"\x00" * 32
    _reverts(c, f.approve(M, P, R), OUTSIDER, "caller is not an auditor")
    _reverts(c, f.revoke(M, P), OUTSIDER, "caller is not an auditor")
    _reverts(c, f.approve(zero, P, R), A1, "empty model digest")
    _reverts(c, f.approve(M, zero, R), A1, "empty policy digest")
    _reverts(c, f.approve(M, P, zero), A1, "empty checkpoint root")
    for call in (f.addAuditor(OUTSIDER.address), f.removeAuditor(A1.address),
                 f.setThreshold(1), f.transferOwnership(A1.address)):  # fmt: skip
        _reverts(c, call, A1, "caller is not the owner")
    _reverts(c, f.addAuditor("0x" + "00" * 20), OWNER, "auditor is the zero address")
    _reverts(c, f.addAuditor(A1.address), OWNER, "already an auditor")
    _reverts(c, f.removeAuditor(OUTSIDER.address), OWNER, "not an auditor")
    _reverts(c, f.removeAuditor(A1.address), OWNER, "fewer auditors than k")
    _reverts(c, f.setThreshold(0), OWNER, "threshold must be 1..auditorCount")
    _reverts(c, f.setThreshold(4), OWNER, "threshold must be 1..auditorCount")
    _reverts(c, f.transferOwnership("0x" + "00" * 20), OWNER, "new owner is the zero address")
    receipt = c.transact(f.setThreshold(1), OWNER)
    assert reg.events.ThresholdChanged().process_receipt(receipt)[0].args.newThreshold == 1
    receipt = c.transact(f.transferOwnership(A1.address), OWNER)
    assert reg.events.OwnershipTransferred().process_receipt(receipt)[0].args.newOwner == A1.address
    receipt = c.transact(f.addAuditor(OUTSIDER.address), A1)
    assert reg.events.AuditorAdded().process_receipt(receipt)[0].args.auditor == OUTSIDER.address
    receipt = c.transact(f.removeAuditor(OUTSIDER.address), A1)
    assert reg.events.AuditorRemoved().process_receipt(receipt)[0].args.auditor == OUTSIDER.address


def test_registry_constructor_checks(anvil_client: ChainClient) -> None:
    with pytest.raises(ChainError, match="threshold must be"):
        anvil_client.deploy("AuditRegistry", OWNER, [A1.address], 2)
    with pytest.raises(ChainError, match="threshold must be"):
        anvil_client.deploy("AuditRegistry", OWNER, [A1.address], 0)
    with pytest.raises(ChainError, match="already an auditor"):
        anvil_client.deploy("AuditRegistry", OWNER, [A1.address, A1.address], 1)


def test_the_same_artifact_runs_on_the_in_process_chain(tmp_path: Path) -> None:
    from fairtrail.anchor._local import LocalChain

    local = LocalChain(tmp_path / "chains" / "dev.db")
    key = local.funded_keys[0]
    chain_id = local.web3.eth.chain_id
    local.close()
    create_wallet(tmp_path / "dev.eth", key)
    config = ChainConfig(name="dev", rpc="local", chain_id=chain_id, key="dev.eth")
    with ChainClient.connect(config, tmp_path) as client:
        account = client.wallet()
        anchor = client.contract(
            "FairtrailAnchor", client.deploy("FairtrailAnchor", account, [account.address])
        )
        receipt = client.transact(anchor.functions.anchor(LOG, 3, R), account)
        assert receipt["gasUsed"] <= 50_000
        with pytest.raises(ChainError, match="size not larger than last"):
            client.transact(anchor.functions.anchor(LOG, 3, R), account)
        address = anchor.address
    # the chain persists across processes (a reopened file has the contract and head)
    with ChainClient.connect(config, tmp_path) as client:
        assert client.contract("FairtrailAnchor", address).functions.head(LOG).call()[0] == 3


def test_a_local_chain_in_use_is_one_clear_error(tmp_path: Path) -> None:
    from fairtrail.anchor._local import LocalChain, _SqliteKV

    first = LocalChain(tmp_path / "dev.db")
    try:
        with pytest.raises(ChainError, match="in use by another fairtrail process"):
            _SqliteKV(tmp_path / "dev.db", timeout=0.1)
    finally:
        first.close()
    LocalChain(tmp_path / "dev.db").close()  # free again once the first has finished
