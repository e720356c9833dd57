"""Anchoring, on-chain approvals and anchor verification, wired to a trail.

`anchor/` knows chains and checkpoints; this module adds what needs the rest of the
trail: recording Anchor and ChainApproval statements, the local policy pass an auditor
needs before approving, and checking recorded anchors against the chain.

The chain work runs with the trail opened read-only; the writer lock is taken only for
the moment statements are appended, so a slow or unreachable RPC never blocks appends.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from web3 import Web3
from web3.logs import DISCARD

from fairtrail.anchor.client import ChainClient, to_hex
from fairtrail.anchor.config import ChainConfig, WitnessConfig
from fairtrail.anchor.cosign import request_cosignature
from fairtrail.anchor.queue import AnchorQueue, AnchorRow, log_id
from fairtrail.errors import (
    ChainError,
    ConfigError,
    InputError,
    NoteError,
    PolicyDeniedError,
    VerificationError,
    WitnessError,
)
from fairtrail.log.checkpoint import Checkpoint, SignedNote, parse_cosigner_vkey, verify_note
from fairtrail.statements.statement import Statement, Subject, predicate_type

if TYPE_CHECKING:
    from fairtrail.crypto.keys import SigningKey
    from fairtrail.lifecycle.models import ModelRecord
    from fairtrail.trail import Trail

__all__ = [
    "ANCHOR_PREDICATE",
    "APPROVAL_PREDICATE",
    "AnchorCheck",
    "AnchorOutcome",
    "WitnessOutcome",
    "approve_model",
    "check_cosignatures",
    "collect_cosignatures",
    "keep_cosignatures",
    "latest_approval",
    "chain_approved",
    "chain_digest",
    "deploy_contracts",
    "record_included",
    "refresh_anchors",
    "send_anchors",
    "verify_anchors",
]

ANCHOR_PREDICATE = predicate_type("anchor")
APPROVAL_PREDICATE = predicate_type("chain-approval")


def chain_digest(ref: str) -> bytes:
    """The bytes32 a digest `alg:hex` is known by on chain: the raw 32-byte digest, or
    SHA-256 of the reference for digests of another length."""
    alg, _, value = ref.partition(":")
    if len(value) == 64:
        return bytes.fromhex(value)
    return hashlib.sha256(ref.encode("utf-8")).digest()


# ------------------------------------------------------------------ contracts


def deploy_contracts(
    trail: Trail, chain: ChainConfig, *, auditors: list[str], threshold: int
) -> ChainConfig:
    """Deploy FairtrailAnchor (the chain key may submit) and, if auditors are given,
    AuditRegistry; save their addresses in the trail's configuration."""
    with ChainClient.connect(chain, trail.paths.root) as client:
        account = client.wallet()
        update: dict[str, Any] = {}
        if chain.anchor_contract is None:
            update["anchor_contract"] = client.deploy("FairtrailAnchor", account, [account.address])
        if auditors:
            if not 1 <= threshold <= len(set(a.lower() for a in auditors)):
                raise InputError(f"--threshold must be between 1 and {len(auditors)} (auditors)")
            addresses = [_address(a) for a in auditors]
            update["registry_contract"] = client.deploy(
                "AuditRegistry", account, addresses, threshold
            )
    new = chain.model_copy(update=update)
    trail.set_chain(new)
    return new


def _address(text: str) -> str:
    if not Web3.is_address(text):
        raise InputError(f"{text!r} is not an Ethereum address (0x + 40 hex digits)")
    return Web3.to_checksum_address(text)


# ------------------------------------------------------------------- anchoring


@dataclass
class AnchorOutcome:
    chain: str
    rows: list[AnchorRow] = field(default_factory=list)
    error: str | None = None


def send_anchors(
    trail: Trail, chains: list[ChainConfig], *, wait: float = 30.0
) -> list[AnchorOutcome]:
    """Queue the latest signed checkpoint on each chain, then drain every queue.

    A chain that fails gets its reason written on its pending anchors and is reported
    in its outcome; the other chains still go ahead.
    """
    latest = trail.latest_checkpoint()
    if latest is None:
        raise InputError("the trail has no signed checkpoint yet; run `fairtrail checkpoint`")
    return _drain_chains(trail, chains, wait, latest[0])


def refresh_anchors(
    trail: Trail, chains: list[ChainConfig], *, wait: float = 5.0
) -> list[AnchorOutcome]:
    """Drain each chain's queue without queueing anything new (status, reorgs, finality).
    A chain whose anchors are all final is not asked."""
    return _drain_chains(trail, chains, wait, None)


def _drain_chains(
    trail: Trail, chains: list[ChainConfig], wait: float, checkpoint: Checkpoint | None
) -> list[AnchorOutcome]:
    outcomes = []
    with AnchorQueue(trail.paths.anchors_db) as queue:
        for chain in chains:
            outcome = AnchorOutcome(chain.name)
            try:
                if checkpoint is not None:
                    queue.enqueue(chain, checkpoint.origin, checkpoint.size, checkpoint.root)
                if checkpoint is not None or any(
                    r.state != "final" for r in queue.rows(chain.name)
                ):
                    with ChainClient(chain, trail.paths.root) as client:
                        queue.drain(client)
                        queue.wait_included(client, wait)  # a send may land at once
                        queue.drain(client)
            except ChainError as exc:
                queue.note_failure(chain.name, str(exc))
                outcome.error = str(exc)
            outcome.rows = queue.rows(chain.name)
            outcomes.append(outcome)
    return outcomes


def record_included(trail: Trail, signer: SigningKey) -> list[int]:
    """Append an Anchor statement for every anchor included in a block no statement
    describes yet; return their indices. Idempotent across crashes: an anchor already
    described by a statement on the log is marked, not recorded twice."""
    recorded = []
    with AnchorQueue(trail.paths.anchors_db) as queue:
        for row in queue.rows():
            if not row.needs_statement:
                continue
            assert row.block_hash is not None
            existing = _anchor_statement_for(trail, row)
            if existing is None:
                receipt = trail.record(_anchor_statement(trail, row), signer)
                existing = receipt.index
                recorded.append(existing)
            queue.mark_recorded(row.id, row.block_hash, existing)
    return recorded


def _anchor_statement(trail: Trail, row: AnchorRow) -> Statement:
    chain = trail.config.chain(row.chain)
    return Statement(
        subject=[Subject(name=f"checkpoint:{row.origin}@{row.size}", digest={"sha256": row.root})],
        predicate_type=ANCHOR_PREDICATE,
        predicate={
            "chain": row.chain,
            "chainId": row.chain_id,
            "contract": Web3.to_checksum_address(row.contract),
            "logId": log_id(row.origin).hex(),
            "checkpoint": {"origin": row.origin, "size": row.size, "root": row.root},
            "txHash": row.tx_hash,
            "blockNumber": row.block_number,
            "blockHash": row.block_hash,
            "finality": "finalized tag"
            if chain.use_finalized_tag
            else f"{chain.confirmations} confirmations",
            "recordedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )


def _anchor_statement_for(trail: Trail, row: AnchorRow) -> int | None:
    for index in trail.indices_about({"sha256": row.root}, ANCHOR_PREDICATE):
        _, st = trail.statement(index)
        p = st.predicate
        if (
            p["chain"] == row.chain
            and p["txHash"] == row.tx_hash
            and p["blockHash"] == row.block_hash
        ):
            return index
    return None


# ------------------------------------------------------------------ witnesses


@dataclass(frozen=True)
class WitnessOutcome:
    witness: str
    ok: bool
    detail: str
    size: int = 0
    lines: tuple[bytes, ...] = ()


def collect_cosignatures(trail: Trail, witnesses: list[WitnessConfig]) -> list[WitnessOutcome]:
    """Ask each witness to cosign the latest checkpoint (the trail may be read-only:
    no writer lock is held while witnesses answer). Only cosignatures that verify with
    the witness's configured key are returned; `keep_cosignatures` stores them. A
    refusal is reported, never fatal for the others."""
    latest = trail.latest_checkpoint()
    if latest is None:
        raise InputError("the trail has no signed checkpoint yet")
    body, note = latest
    outcomes = []
    with AnchorQueue(trail.paths.anchors_db) as queue:
        for witness in witnesses:
            last = queue.witness_size(witness.name) or 0
            if last > body.size:
                last = 0  # let the witness tell us (409) rather than trust a stale record
            try:
                result = request_cosignature(
                    witness,
                    note,
                    body,
                    last,
                    lambda a, b: trail.prove_consistency(a, b).hashes,
                )
            except WitnessError as exc:
                outcomes.append(WitnessOutcome(witness.name, False, str(exc)))
                continue
            lines = tuple(s.line().encode() for s in result.signatures)
            outcomes.append(
                WitnessOutcome(witness.name, True, f"cosigned size {body.size}", body.size, lines)
            )
    return outcomes


def keep_cosignatures(trail: Trail, outcomes: list[WitnessOutcome]) -> None:
    """Store the cosignatures `collect_cosignatures` got, with the checkpoint they sign,
    and remember each witness's size for the next request's consistency proof."""
    with AnchorQueue(trail.paths.anchors_db) as queue:
        for o in outcomes:
            if o.ok:
                trail.store.add_cosignatures(o.size, list(o.lines))
                queue.set_witness_size(o.witness, o.size)


def check_cosignatures(trail: Trail, required: int) -> tuple[int, list[str]]:
    """(number of configured witnesses whose cosignature of the latest checkpoint
    verifies, their names). Raises VerificationError below `required`."""
    latest = trail.latest_checkpoint()
    if latest is None:
        raise InputError("the trail has no signed checkpoint yet")
    body, note = latest
    good = []
    for witness in trail.config.witnesses:
        verifier = parse_cosigner_vkey(witness.vkey)
        lines = trail.store.cosignatures(body.size)
        try:
            combined = SignedNote.parse(note.to_bytes() + b"".join(lines))
            verify_note(combined, [verifier])
        except NoteError:
            continue
        good.append(witness.name)
    if len(good) < required:
        raise VerificationError(
            f"checkpoint {body.size} has {len(good)} valid witness cosignature(s), "
            f"{required} required",
            expected=required,
            actual=len(good),
        )
    return len(good), good


# ------------------------------------------------------------------ verification


@dataclass(frozen=True)
class AnchorCheck:
    index: int
    chain: str
    size: int
    tx_hash: str
    status: str  # ok | superseded | mismatch | unreachable
    detail: str


def verify_anchors(trail: Trail) -> list[AnchorCheck]:
    """Check every Anchor statement against its chain.

    `ok`: the transaction is in the canonical block the statement names, on the right
    chain id, and the `Anchored` event of the right contract carries this log's id and
    exactly the size and root of the trail's own signed checkpoint. `superseded`: a
    reorg moved the anchor and a later statement records where it landed. `mismatch`:
    anything else (exit 3). `unreachable`: the chain could not be asked (exit 5).
    """
    checks: list[AnchorCheck] = []
    statements = []
    for index in trail.indices_of_type(ANCHOR_PREDICATE):
        _, st = trail.statement(index)
        statements.append((index, st.predicate))
    latest: dict[tuple[str, int], int] = {}
    for index, p in statements:
        latest[(p["chain"], int(p["checkpoint"]["size"]))] = index
    clients: dict[str, ChainClient | str] = {}
    try:
        for index, p in statements:
            name, size = p["chain"], int(p["checkpoint"]["size"])
            client = clients.get(name)
            if client is None:
                try:
                    client = ChainClient.connect(_chain_for_check(trail, p), trail.paths.root)
                except (ChainError, ConfigError) as exc:
                    client = str(exc)
                clients[name] = client
            if isinstance(client, str):
                checks.append(AnchorCheck(index, name, size, p["txHash"], "unreachable", client))
                continue
            try:
                status, detail = _check_one(trail, client, p)
            except ChainError as exc:
                status, detail = "unreachable", str(exc)
            if status == "mismatch" and latest[(name, size)] != index and "block" in detail:
                status = "superseded"
                detail += f"; re-anchored, see entry {latest[(name, size)]}"
            checks.append(AnchorCheck(index, name, size, p["txHash"], status, detail))
    finally:
        for client in clients.values():
            if isinstance(client, ChainClient):
                client.close()
    return checks


def _chain_for_check(trail: Trail, p: dict[str, Any]) -> ChainConfig:
    chain = trail.config.chain(p["chain"])
    if chain.chain_id != p["chainId"]:
        raise ConfigError(
            f"anchor says chain id {p['chainId']} but chain {chain.name} is configured as "
            f"{chain.chain_id}"
        )
    return chain


def _check_one(trail: Trail, client: ChainClient, p: dict[str, Any]) -> tuple[str, str]:
    cp = p["checkpoint"]
    size, root = int(cp["size"]), str(cp["root"])
    configured = client.config.anchor_contract
    if configured is None or str(p["contract"]).lower() != configured.lower():
        return "mismatch", (
            f"anchor names contract {p['contract']}, the configured FairtrailAnchor of "
            f"{client.config.name} is {configured}"
        )
    if cp["origin"] != trail.config.origin:
        return "mismatch", f"anchor is for log {cp['origin']!r}, not this one"
    note = trail.checkpoint_note(size)
    signed_root = None if note is None else _root_of(note.text)
    if signed_root != root:
        return (
            "mismatch",
            f"the trail has no signed checkpoint of size {size} with root {root[:16]}…",
        )
    receipt = client.receipt(p["txHash"])
    if receipt is None:
        return "mismatch", f"transaction {p['txHash']} is not on chain (reorged out of block?)"
    block_hash = to_hex(receipt["blockHash"])
    if block_hash != p["blockHash"] or int(receipt["blockNumber"]) != p["blockNumber"]:
        return (
            "mismatch",
            f"transaction is in block {receipt['blockNumber']}, not the recorded block",
        )
    if client.block_hash(int(p["blockNumber"])) != p["blockHash"]:
        return "mismatch", f"block {p['blockNumber']} is no longer canonical"
    if int(receipt["status"]) != 1:
        return "mismatch", "the anchor transaction reverted"
    contract = client.contract("FairtrailAnchor", p["contract"])
    events = contract.events.Anchored().process_receipt(receipt, errors=DISCARD)
    mine = [e for e in events if e["address"].lower() == str(p["contract"]).lower()]
    if not mine:
        return "mismatch", f"no Anchored event from {p['contract']} in that transaction"
    args = mine[0]["args"]
    if bytes(args["logId"]) != log_id(trail.config.origin):
        return "mismatch", "the event names another log id"
    if int(args["size"]) != size or bytes(args["root"]).hex() != root:
        return "mismatch", (
            f"on chain: size {args['size']} root {bytes(args['root']).hex()[:16]}…, "
            f"checkpoint: size {size} root {root[:16]}…"
        )
    return "ok", f"block {p['blockNumber']} on chain id {client.config.chain_id}"


def _root_of(text: str) -> str:
    return base64.b64decode(text.split("\n")[2]).hex()


# ------------------------------------------------------------------ approvals


def approve_model(
    trail: Trail,
    model: ModelRecord,
    chain: ChainConfig,
    auditor: SigningKey,
    wallet: Path,
    *,
    revoke: bool = False,
) -> tuple[dict[str, Any], int]:
    """Send `approve` for `model` to the chain's AuditRegistry after a local policy
    pass, or `revoke` this auditor's latest approval of it (no policy pass needed: a
    model that stopped passing is exactly when an approval is withdrawn), and record a
    signed ChainApproval statement. Returns the statement's predicate and index."""
    from fairtrail.policy.gates import gate
    from fairtrail.statements.actors import Role

    actor = trail.keyring.by_key(auditor.public)
    if actor is None or Role.AUDITOR not in actor.roles:
        who = actor.name if actor else "this key"
        raise InputError(f"{who} may not approve on chain: needs the role auditor")
    if revoke:
        previous = latest_approval(trail, model, chain, actor.name)
        if previous is None:
            raise InputError(f"{actor.name} has no approval of {model.name} on {chain.name}")
        policy = previous["policy"]
        decision_index = previous["decision"]
    else:
        passing, reasons = gate(trail, model)
        if reasons or not passing:
            raise PolicyDeniedError(
                f"{model.name} does not pass policy locally: " + "; ".join(reasons)
            )
        decision = passing[0]
        policy = {
            "name": decision.predicate["policy"]["name"],
            "digest": decision.predicate["policy"]["digest"]["sha256"],
        }
        decision_index = decision.index
    policy_digest = policy["digest"]
    latest = trail.latest_checkpoint()
    if latest is None:
        raise InputError("the trail has no signed checkpoint; run `fairtrail checkpoint`")
    body, _ = latest
    with ChainClient.connect(chain, trail.paths.root) as client:
        registry = client.contract("AuditRegistry")
        account = client.wallet(wallet)
        model32 = chain_digest(model.ref)
        if revoke:
            call = registry.functions.revoke(model32, bytes.fromhex(policy_digest))
        else:
            call = registry.functions.approve(model32, bytes.fromhex(policy_digest), body.root)
        receipt = client.transact(call, account)
        approved = bool(
            client.rpc("isApproved", lambda: registry.functions.isApproved(model32).call())
        )
        count = int(
            client.rpc(
                "approvalCount",
                lambda: registry.functions.approvalCount(
                    model32, bytes.fromhex(policy_digest)
                ).call(),
            )
        )
        threshold = int(client.rpc("threshold", lambda: registry.functions.threshold().call()))
    predicate = {
        "action": "revoke" if revoke else "approve",
        "chain": chain.name,
        "chainId": chain.chain_id,
        "registry": registry.address,
        "auditorAddress": account.address,
        "model": {"name": model.name, "entry": model.index, "digest": model.digest},
        "modelDigest32": model32.hex(),
        "policy": policy,
        "decision": decision_index,
        "checkpoint": {"size": body.size, "root": body.root.hex()},
        "txHash": to_hex(receipt["transactionHash"]),
        "blockNumber": int(receipt["blockNumber"]),
        "blockHash": to_hex(receipt["blockHash"]),
        "approvals": count,
        "threshold": threshold,
        "isApproved": approved,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    statement = Statement(
        subject=[Subject(name=model.name, digest=model.digest)],
        predicate_type=APPROVAL_PREDICATE,
        predicate=predicate,
    )
    return predicate, trail.record(statement, auditor).index


def latest_approval(
    trail: Trail, model: ModelRecord, chain: ChainConfig, auditor: str
) -> dict[str, Any] | None:
    """The predicate of `auditor`'s latest `approve` of `model` on `chain`, if any."""
    for index in reversed(trail.indices_about(model.digest, APPROVAL_PREDICATE)):
        if trail.signer_of(index) != auditor:
            continue
        _, st = trail.statement(index)
        p = st.predicate
        if p["chain"] == chain.name and p["chainId"] == chain.chain_id:
            return p if p["action"] == "approve" else None
    return None


def chain_approved(trail: Trail, model: ModelRecord) -> list[str]:
    """Reasons deployment is refused by chains configured with `require_approval`
    (empty when every such chain says isApproved). Asks the chain, not the log."""
    reasons = []
    for chain in trail.config.chains:
        if not chain.require_approval:
            continue
        try:
            with ChainClient.connect(chain, trail.paths.root) as client:
                call = client.contract("AuditRegistry").functions.isApproved(
                    chain_digest(model.ref)
                )
                ok = client.rpc("isApproved", call.call)
        except ChainError as exc:
            reasons.append(f"chain {chain.name}: cannot confirm approval ({exc})")
            continue
        if not ok:
            reasons.append(
                f"chain {chain.name}: AuditRegistry does not hold a k-of-n approval of this model"
            )
    return reasons


def deploy(
    trail: Trail, model: ModelRecord, env: str, signer: SigningKey, names: list[str] | None = None
) -> Any:
    """`policy.gates.deploy`, plus the chains configured with `require_approval`: each
    must report `isApproved` for the model, or nothing is recorded (exit 4)."""
    from fairtrail.policy import gates

    reasons = chain_approved(trail, model)
    if reasons:
        try:  # name the local policy failures too: they are usually why approval is missing
            _, local = gates.gate(trail, model, names)
        except InputError:
            local = []
        raise PolicyDeniedError(
            f"deployment of {model.name} refused: " + "; ".join([*local, *reasons])
        )
    return gates.deploy(trail, model, env, signer, names)
