"""Royalty splits: a model's licence fees paid on chain, each contributor pulling the
share the trail records for them.

`deploy_split` takes the model's own contributions with a share (they must add up to
exactly 100 % and be under a signed checkpoint), maps each contributor to their chain
key (`<trail>/keys/NAME.eth`, made by `fairtrail chain key NAME`), and deploys a
`RoyaltySplit` contract holding those shares and the checkpoint's root and size. A
signed RoyaltySplit statement records where it is and what it holds, so anyone can
compare the contract with the log (`split_status` does). Fees go in with `pay`; a
contributor takes out what they are owed with `withdraw` (pull payments: nothing is
ever sent to anyone who did not ask). Everything that can be refused is refused before
a transaction is signed, so bad input moves no funds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from web3 import Web3

from fairtrail.anchor.client import ChainClient, to_hex
from fairtrail.anchor.config import ChainConfig
from fairtrail.anchor.wallet import load_wallet
from fairtrail.anchoring import chain_digest
from fairtrail.errors import InputError, VerificationError
from fairtrail.lifecycle.contributions import contributions_of
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Receipt, Trail

__all__ = ["ROYALTY_PREDICATE", "Payee", "deploy_split", "pay", "split_status", "withdraw"]

ROYALTY_PREDICATE = predicate_type("royalty-split")
_TOTAL = 10_000


@dataclass(frozen=True)
class Payee:
    actor: str
    address: str
    share_bp: int
    contributions: list[int]


def _payees(trail: Trail, model: ModelRecord, size: int) -> list[Payee]:
    own = [c for c in contributions_of(trail, model, inherited=False) if c.share_bp]
    total = sum(c.share_bp for c in own)
    if total != _TOTAL:
        raise InputError(f"the recorded shares of {model.name} add up to {total / 100:g}%, "
                         "not 100%; record the missing contributions first")  # fmt: skip
    late = [c.index for c in own if c.index >= size]
    if late:
        raise InputError(f"contributions at entries {late} are not under a checkpoint yet; "
                         "run `fairtrail checkpoint` first")  # fmt: skip
    by_actor: dict[str, list[Any]] = {}
    for c in own:
        by_actor.setdefault(c.contributor, []).append(c)
    out = []
    for actor, items in by_actor.items():
        key = trail.paths.eth_key(actor)
        if not key.exists():
            raise InputError(f"{actor} has no chain key to be paid at; run "
                             f"`fairtrail chain key {actor}`")  # fmt: skip
        out.append(Payee(actor, load_wallet(key).address, sum(c.share_bp for c in items),
                         [c.index for c in items]))  # fmt: skip
    return out


def deploy_split(
    trail: Trail, model: ModelRecord, chain: ChainConfig, signer: SigningKey
) -> tuple[Receipt, str]:
    """Deploy the model's RoyaltySplit on `chain` and record it; returns the receipt and
    the contract's address."""
    latest = trail.latest_checkpoint()
    if latest is None:
        raise InputError("the trail has no signed checkpoint; run `fairtrail checkpoint`")
    body, _ = latest
    payees = _payees(trail, model, body.size)
    with ChainClient.connect(chain, trail.paths.root) as client:
        address = client.deploy(
            "RoyaltySplit", client.wallet(), chain_digest(model.ref), body.root, body.size,
            [p.address for p in payees], [p.share_bp for p in payees],
        )  # fmt: skip
    statement = Statement(
        subject=[Subject(name=model.name, digest=model.digest)],
        predicate_type=ROYALTY_PREDICATE,
        predicate={
            "model": {"name": model.name, "entry": model.index, "digest": model.digest},
            "chain": {"name": chain.name, "chainId": chain.chain_id},
            "contract": address,
            "checkpoint": {"size": body.size, "root": "0x" + body.root.hex()},
            "payees": [{"actor": p.actor, "address": p.address, "share_bp": p.share_bp,
                        "contributions": p.contributions} for p in payees],
        },
    )  # fmt: skip
    return trail.record(statement, signer), address


def _split(trail: Trail, model: ModelRecord, chain: ChainConfig) -> tuple[int, dict[str, Any]]:
    for index in reversed(trail.indices_about(model.digest, ROYALTY_PREDICATE)):
        _, st = trail.statement(index)
        p = st.predicate
        if p["chain"]["name"] == chain.name and p["chain"]["chainId"] == chain.chain_id:
            return index, p
    raise InputError(f"{model.name} has no royalty split on {chain.name}; run "
                     "`fairtrail royalties deploy` first")  # fmt: skip


def pay(trail: Trail, model: ModelRecord, chain: ChainConfig, payer: str, wei: int) -> str:
    """Pay `wei` of licence fee from `payer`'s chain key; returns the transaction hash."""
    if wei <= 0:
        raise InputError("the amount must be a positive number of wei")
    _, split = _split(trail, model, chain)
    key = trail.paths.eth_key(payer)
    if not key.exists():
        raise InputError(f"{payer} has no chain key to pay from; run "
                         f"`fairtrail chain key {payer}`")  # fmt: skip
    with ChainClient.connect(chain, trail.paths.root) as client:
        contract = client.contract("RoyaltySplit", split["contract"])
        receipt = client.transact(contract.functions.pay(), load_wallet(key), value=wei)
    return to_hex(receipt["transactionHash"])


def withdraw(trail: Trail, model: ModelRecord, chain: ChainConfig, actor: str) -> tuple[int, str]:
    """Withdraw what `actor` is owed; returns (wei, transaction hash). A non-contributor,
    or a contributor owed nothing, is refused before anything is signed."""
    _, split = _split(trail, model, chain)
    mine = [p for p in split["payees"] if p["actor"] == actor]
    if not mine:
        raise InputError(f"{actor} holds no share of {model.name}'s royalties")
    key = trail.paths.eth_key(actor)
    if not key.exists():
        raise InputError(f"{actor}'s chain key {key.name} is missing")
    account = load_wallet(key)
    if account.address != mine[0]["address"]:
        raise InputError(f"{actor}'s chain key is not the address the split pays "
                         f"({mine[0]['address']})")  # fmt: skip
    with ChainClient.connect(chain, trail.paths.root) as client:
        contract = client.contract("RoyaltySplit", split["contract"])
        owed = int(client.rpc(
            "releasable", lambda: contract.functions.releasable(account.address).call()))
        if owed == 0:
            raise InputError(f"{actor} has nothing to withdraw from {model.name}'s royalties now")
        receipt = client.transact(contract.functions.withdraw(), account)
    return owed, to_hex(receipt["transactionHash"])


def split_status(trail: Trail, model: ModelRecord, chain: ChainConfig) -> dict[str, Any]:
    """The split as the chain holds it, checked against the log: the contract's model,
    checkpoint and shares must be the recorded ones, and the checkpoint the trail's."""
    index, split = _split(trail, model, chain)
    with ChainClient.connect(chain, trail.paths.root) as client:
        contract = client.contract("RoyaltySplit", split["contract"])
        f = contract.functions

        def call(name: str, *args: Any) -> Any:
            return client.rpc(name, lambda: getattr(f, name)(*args).call())

        on_chain = {
            "model": "0x" + bytes(call("modelDigest")).hex(),
            "root": "0x" + bytes(call("checkpointRoot")).hex(),
            "size": int(call("checkpointSize")),
        }
        payees = []
        for p in split["payees"]:
            address = Web3.to_checksum_address(p["address"])
            share = int(call("shares", address))
            if share != p["share_bp"]:
                raise VerificationError(f"the contract holds share {share} for {p['actor']}",
                                        expected=p["share_bp"], actual=share)  # fmt: skip
            payees.append({**p, "released": int(call("released", address)),
                           "releasable": int(call("releasable", address))})  # fmt: skip
        balance = int(client.rpc("eth_getBalance", lambda: client.web3.eth.get_balance(
            Web3.to_checksum_address(split["contract"]))))  # fmt: skip
        received, released = int(call("totalReceived")), int(call("totalReleased"))
    expected_model = "0x" + chain_digest(model.ref).hex()
    size = split["checkpoint"]["size"]
    stored = next((c for c in trail.store.checkpoints() if c.size == size), None)
    trail_root = None if stored is None else "0x" + trail.log.open_stored(stored)[0].root.hex()
    for what, want, got in [("model digest", expected_model, on_chain["model"]),
                            ("checkpoint root", split["checkpoint"]["root"], on_chain["root"]),
                            ("checkpoint size", size, on_chain["size"]),
                            ("signed checkpoint root", trail_root, on_chain["root"])]:  # fmt: skip
        if want != got:
            raise VerificationError(f"the RoyaltySplit contract's {what} is not the log's",
                                    expected=want, actual=got)  # fmt: skip
    if balance < received - released:  # the contract must hold everything not yet paid out
        raise VerificationError("the RoyaltySplit holds less than it owes",
                                expected=received - released, actual=balance)  # fmt: skip
    return {
        "model": model.name, "entry": index, "chain": chain.name, "contract": split["contract"],
        "checkpoint": split["checkpoint"], "received": received, "released": released,
        "balance": balance, "payees": payees,
        "dust": received - released - sum(p["releasable"] for p in payees),
    }  # fmt: skip
