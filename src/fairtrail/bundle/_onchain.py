"""`verify-bundle --rpc`: check one Anchor statement against a chain (read-only calls).

The RPC must report the chain id the anchor names (else: an anchor on the wrong
chain), the transaction must be in the canonical block the statement names, and the
`Anchored` event of the named contract must carry the log id and exactly the size
and root of the anchored checkpoint. No key is needed: nothing is signed or sent.
"""

from __future__ import annotations

import hashlib
from typing import Any

from web3.logs import DISCARD

from fairtrail.anchor.client import ChainClient, to_hex
from fairtrail.anchor.config import ChainConfig
from fairtrail.errors import ChainError

__all__ = ["check_anchor"]


def check_anchor(rpc: str, p: dict[str, Any], origin: str) -> tuple[str, str]:
    """("ok" | "mismatch", detail); ChainError if the RPC cannot be asked."""
    config = ChainConfig(
        name="bundle", rpc=rpc, chain_id=int(p["chainId"]), key="-",
        anchor_contract=str(p["contract"]),
    )  # fmt: skip
    with ChainClient(config, _NOWHERE) as client:
        actual = client.rpc("eth_chainId", lambda: client.web3.eth.chain_id)
        if actual != config.chain_id:
            return "mismatch", f"anchored on chain id {config.chain_id}, the RPC is chain {actual}"
        receipt = client.receipt(str(p["txHash"]))
        if receipt is None:
            return "mismatch", f"transaction {p['txHash']} is not on this chain"
        block_hash = to_hex(receipt["blockHash"])
        if block_hash != p["blockHash"] or client.block_hash(int(p["blockNumber"])) != block_hash:
            return "mismatch", "the transaction is not in the recorded, canonical block"
        contract = client.contract("FairtrailAnchor", str(p["contract"]))
        events = [
            e for e in contract.events.Anchored().process_receipt(receipt, errors=DISCARD)
            if e["address"].lower() == str(p["contract"]).lower()
        ]  # fmt: skip
        if not events:
            return "mismatch", f"no Anchored event from {p['contract']}"
        args = events[0]["args"]
        cp = p["checkpoint"]
        if (
            bytes(args["logId"]) != hashlib.sha256(origin.encode()).digest()
            or int(args["size"]) != int(cp["size"])
            or bytes(args["root"]).hex() != cp["root"]
        ):
            return "mismatch", "the event on chain names another log, size or root"
    return "ok", f"block {p['blockNumber']}"


class _Nowhere:
    """No trail folder: a remote RPC needs none (the key is never loaded)."""

    def __truediv__(self, other: str) -> Any:
        raise ChainError("verify-bundle --rpc takes an http(s) URL, not the local chain")


_NOWHERE: Any = _Nowhere()
