"""The anchor queue on a real anvil node: states, reorgs, fee bumps, faults, nonces."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from fairtrail.anchor.client import ChainClient
from fairtrail.anchor.config import ChainConfig
from fairtrail.anchor.devnode import Anvil
from fairtrail.anchor.queue import AnchorQueue, log_id
from fairtrail.errors import ChainError

from .conftest import anvil_config

pytestmark = pytest.mark.integration

ORIGIN = "example.com/log"


def _root(size: int) -> bytes:
    return hashlib.sha256(b"root %d" % size).digest()


def _setup(anvil: Anvil, root: Path, **extra: object) -> ChainConfig:
    config = anvil_config(anvil, root, **extra)
    with ChainClient.connect(config, root) as client:
        account = client.wallet()
        address = client.deploy("FairtrailAnchor", account, [account.address])
    return config.model_copy(update={"anchor_contract": address})


def test_pending_included_final(anvil: Anvil, tmp_path: Path) -> None:
    config = _setup(anvil, tmp_path, confirmations=3)
    with AnchorQueue(tmp_path / "anchors.db") as q, ChainClient(config, tmp_path) as client:
        row = q.enqueue(config, ORIGIN, 10, _root(10))
        assert row is not None and row.state == "pending"
        assert q.enqueue(config, ORIGIN, 10, _root(10)) is None  # no duplicate anchors
        assert q.enqueue(config, ORIGIN, 9, _root(9)) is None  # never a smaller size
        q.drain(client)
        q.wait_included(client, 10)
        (row,) = q.rows()
        assert row.state == "included" and row.needs_statement and row.sends == 1
        anvil.call("anvil_mine", 1)
        (row,) = q.drain(client)
        assert row.state == "included"  # 2 confirmations of 3
        anvil.call("anvil_mine", 1)
        (row,) = q.drain(client)
        assert row.state == "final"
        contract = client.contract("FairtrailAnchor", config.anchor_contract)
        assert contract.functions.head(log_id(ORIGIN)).call() == [10, _root(10)[:24]]
        events = [e for _, e in q.history(row.id)]
        assert events[0] == "queued" and events[-1].startswith("final (3 confirmations")


def test_reorg_moves_the_anchor_back_to_pending_and_it_is_sent_again(
    anvil: Anvil, tmp_path: Path
) -> None:
    config = _setup(anvil, tmp_path, confirmations=5)
    with AnchorQueue(tmp_path / "anchors.db") as q, ChainClient(config, tmp_path) as client:
        snapshot = anvil.call("evm_snapshot")
        q.enqueue(config, ORIGIN, 7, _root(7))
        q.drain(client)
        q.wait_included(client, 10)
        (before,) = q.rows()
        assert before.state == "included"
        anvil.call("evm_revert", snapshot)  # the block with our anchor is gone
        anvil.call("anvil_mine", 3)  # and the chain moved on without it
        (row,) = q.drain(client)
        # detected, back to pending, and the same signed transaction went out again
        assert row.sends == 2
        assert row.tx_hash == before.tx_hash
        q.wait_included(client, 10)
        (row,) = q.drain(client)
        assert row.state == "included"
        assert row.block_hash != before.block_hash
        assert row.needs_statement  # the new inclusion needs its own Anchor statement
        history = " | ".join(e for _, e in q.history(row.id))
        assert "reorg: block" in history and history.count("sent ") == 2


def test_stuck_transaction_gets_a_fee_bump_within_the_cap(anvil: Anvil, tmp_path: Path) -> None:
    config = _setup(anvil, tmp_path, bump_after_seconds=0, max_fee_gwei=5)
    anvil.call("evm_setAutomine", False)
    with AnchorQueue(tmp_path / "anchors.db") as q, ChainClient(config, tmp_path) as client:
        q.enqueue(config, ORIGIN, 3, _root(3))
        q.drain(client)  # signed and sent, not mined
        first = q.rows()[0].tx_hash
        q.drain(client)  # still not mined: replaced, same nonce, fees +12.5 %
        (row,) = q.rows()
        assert row.tx_hash != first and row.sends == 2
        txs = q._conn.execute(
            "SELECT nonce, max_fee, priority_fee FROM txs ORDER BY rowid"
        ).fetchall()
        assert txs[0]["nonce"] == txs[1]["nonce"]
        assert txs[1]["max_fee"] * 1000 >= txs[0]["max_fee"] * 1125
        assert txs[1]["priority_fee"] * 1000 >= txs[0]["priority_fee"] * 1125
        # bump until the cap: then it waits instead of overpaying
        for _ in range(30):
            q.drain(client)
        (row,) = q.rows()
        assert "pass the cap of 5.0" in (row.reason or "")
        fees = [r[0] for r in q._conn.execute("SELECT max_fee FROM txs")]
        assert max(fees) <= 5 * 10**9
        anvil.call("evm_mine")
        q.drain(client)
        (row,) = q.rows()
        assert row.state in ("included", "final")
        mined = q._conn.execute("SELECT tx_hash FROM txs WHERE status = 'mined'").fetchall()
        assert [m[0] for m in mined] == [row.tx_hash]  # exactly one of them landed


def test_unreachable_rpc_leaves_the_anchor_pending_with_the_reason(tmp_path: Path) -> None:
    config = ChainConfig(
        name="down", rpc="http://127.0.0.1:9", chain_id=31337, key="k.eth",
        anchor_contract="0x" + "11" * 20,
    )  # fmt: skip
    with AnchorQueue(tmp_path / "anchors.db") as q, ChainClient(config, tmp_path) as client:
        q.enqueue(config, ORIGIN, 5, _root(5))
        with pytest.raises(ChainError, match="unreachable"):
            q.drain(client)
        (row,) = q.rows()
        assert row.state == "pending" and "unreachable" in (row.reason or "")


def test_wrong_chain_id_no_contract_no_funds_and_revert_are_one_line_each(
    anvil: Anvil, tmp_path: Path
) -> None:
    config = _setup(anvil, tmp_path)
    wrong = config.model_copy(update={"chain_id": 1})
    with pytest.raises(ChainError, match="reports chain id 31337, the configuration says 1"):
        ChainClient.connect(wrong, tmp_path)
    nothing = config.model_copy(update={"anchor_contract": "0x" + "22" * 20})
    with AnchorQueue(tmp_path / "a.db") as q, ChainClient(nothing, tmp_path) as client:
        q.enqueue(nothing, ORIGIN, 1, _root(1))
        with pytest.raises(ChainError, match="no contract deployed at"):
            q.drain(client)
        assert "no contract" in (q.rows()[0].reason or "")
    from fairtrail.anchor.wallet import create_wallet

    create_wallet(tmp_path / "poor.eth", hashlib.sha256(b"poor").digest())
    poor = config.model_copy(update={"key": "poor.eth"})
    with AnchorQueue(tmp_path / "b.db") as q, ChainClient(poor, tmp_path) as client:
        q.enqueue(poor, ORIGIN, 1, _root(1))
        with pytest.raises(
            ChainError, match="reverted: FairtrailAnchor: caller is not a submitter"
        ):
            q.drain(client)  # simulated first: costs nothing, says why
        contract = client.contract("FairtrailAnchor", poor.anchor_contract)
        poor_address = client.wallet().address
        client.transact(
            contract.functions.addSubmitter(poor_address), client.wallet(tmp_path / "dev0.eth")
        )
        with pytest.raises(ChainError, match="has 0.000000 ETH"):
            q.drain(client)
        (row,) = q.rows()
        assert row.state == "pending" and "fund it" in (row.reason or "")
        assert q._conn.execute("SELECT COUNT(*) FROM txs").fetchone()[0] == 0


def test_crash_after_signing_rebroadcasts_the_same_transaction(
    anvil: Anvil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _setup(anvil, tmp_path)
    with AnchorQueue(tmp_path / "anchors.db") as q, ChainClient(config, tmp_path) as client:
        q.enqueue(config, ORIGIN, 4, _root(4))

        def crash(tx: object) -> None:
            raise ChainError("simulated crash between storing and sending")

        monkeypatch.setattr(client, "broadcast", crash)
        with pytest.raises(ChainError):
            q.drain(client)
        stored = q._conn.execute("SELECT tx_hash, status FROM txs").fetchall()
        assert [s["status"] for s in stored] == ["signed"]
        monkeypatch.undo()
        q.drain(client)
        q.wait_included(client, 10)
        (row,) = q.drain(client)
        assert row.state != "pending" and row.tx_hash == stored[0]["tx_hash"]
        assert q._conn.execute("SELECT COUNT(*) FROM txs").fetchone()[0] == 1


def test_two_workers_never_share_a_nonce(anvil: Anvil, tmp_path: Path) -> None:
    config = _setup(anvil, tmp_path)
    second = config.model_copy(update={"name": "anvil2"})  # same key, same contract
    anvil.call("evm_setAutomine", False)
    with AnchorQueue(tmp_path / "anchors.db") as q:
        q.enqueue(config, ORIGIN, 1, _root(1))
        q.enqueue(second, ORIGIN, 2, _root(2))
    errors: list[BaseException] = []

    def work(cfg: ChainConfig) -> None:
        try:
            with AnchorQueue(tmp_path / "anchors.db") as q, ChainClient(cfg, tmp_path) as c:
                q.drain(c)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in (config, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with AnchorQueue(tmp_path / "anchors.db") as q:
        nonces = [r[0] for r in q._conn.execute("SELECT nonce FROM txs")]
    assert len(nonces) == 2 and max(nonces) - min(nonces) == 1  # distinct and gap-free


def test_finalized_tag_only_when_the_node_says_so(anvil: Anvil, tmp_path: Path) -> None:
    config = _setup(anvil, tmp_path, use_finalized_tag=True, confirmations=1)
    with AnchorQueue(tmp_path / "anchors.db") as q, ChainClient(config, tmp_path) as client:
        q.enqueue(config, ORIGIN, 2, _root(2))
        q.drain(client)
        q.wait_included(client, 10)
        anvil.call("anvil_mine", hex(20))  # many confirmations, but not finalized yet
        (row,) = q.drain(client)
        assert row.state == "included"  # never a false "final" while finality stalls
        anvil.call("anvil_mine", hex(64))  # anvil finalizes 64 blocks behind the head
        (row,) = q.drain(client)
        assert row.state == "final"
        assert q.history(row.id)[-1][1] == "final (finalized tag)"
