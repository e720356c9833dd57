"""`fairtrail chain|anchor|approve|witness`: chains, anchors, on-chain approvals, witnesses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fairtrail.cli._context import STATE, ActorOpt, KeyOpt, print_json
from fairtrail.errors import ConfigError, InputError, NoteError, RemoteError

chain_app = typer.Typer(help="EVM chains the trail anchors to: add, deploy contracts, keys.")
anchor_app = typer.Typer(
    help="Anchor the latest checkpoint on the configured chains; `anchor status` shows states.",
    invoke_without_command=True,
    no_args_is_help=False,
)
witness_app = typer.Typer(help="C2SP tlog-witness: run a witness, or register one with the trail.")

ChainOpt = Annotated[
    list[str] | None, typer.Option("--chain", help="Chain name (repeat; default: all).")
]


def _pick(trail: Any, names: list[str] | None) -> list[Any]:
    if not names:
        if not trail.config.chains:
            raise ConfigError("no chain is configured; add one with `fairtrail chain add`")
        return list(trail.config.chains)
    return [trail.config.chain(n) for n in names]


# ---------------------------------------------------------------------- chain


@chain_app.command("add")
def chain_add(
    name: Annotated[str, typer.Argument(help="A name for the chain, e.g. sepolia or local.")],
    rpc: Annotated[str, typer.Option(help="JSON-RPC URL, or 'local' (in-process).")] = "local",
    chain_id: Annotated[
        int | None, typer.Option(help="Chain id the RPC must report [asked from a local chain].")
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(help="Submitter key file (hex secp256k1) [default: a new keys/NAME.eth]."),
    ] = None,
    anchor_contract: Annotated[str | None, typer.Option(help="Existing FairtrailAnchor.")] = None,
    registry_contract: Annotated[str | None, typer.Option(help="Existing AuditRegistry.")] = None,
    confirmations: Annotated[int, typer.Option(help="Confirmations until final.", min=1)] = 2,
    finalized_tag: Annotated[
        bool, typer.Option("--finalized-tag", help="Final at the node's `finalized` block.")
    ] = False,
    max_fee_gwei: Annotated[float, typer.Option(help="Never pay more per gas.")] = 200.0,
    bump_after: Annotated[
        float, typer.Option(help="Seconds before a stuck transaction gets a fee bump.")
    ] = 120.0,
    require_approval: Annotated[
        bool, typer.Option(help="`fairtrail deploy` requires isApproved on this chain.")
    ] = False,
) -> None:
    """Configure a chain. With --rpc local, a development chain lives in the trail folder
    and the new submitter key is funded from its dev accounts."""
    from fairtrail.anchor.wallet import create_wallet, load_wallet

    with STATE.open() as trail:
        if any(c.name == name for c in trail.config.chains):
            raise ConfigError(f"a chain named {name!r} is already configured")
        created = None
        if key is None:
            key_path = created = trail.paths.eth_key(f"chain-{name}")
            account = create_wallet(key_path)
        else:
            key_path = key.resolve()
            account = load_wallet(key_path)
        try:
            chain_id = _configure_chain(
                trail, name, rpc, chain_id, key_path, account.address,
                ChainOptions(anchor_contract, registry_contract, confirmations, finalized_tag,
                             max_fee_gwei, bump_after, require_approval),
            )  # fmt: skip
        except BaseException:
            if created is not None:  # a refused chain leaves no key behind to block a retry
                created.unlink(missing_ok=True)
            raise
    STATE.out.print(f"chain {name}: chain id {chain_id}, submitter {account.address}")


@dataclass(frozen=True)
class ChainOptions:
    anchor_contract: str | None
    registry_contract: str | None
    confirmations: int
    finalized_tag: bool
    max_fee_gwei: float
    bump_after: float
    require_approval: bool


def _configure_chain(
    trail: Any, name: str, rpc: str, chain_id: int | None, key_path: Path, address: str,
    o: ChainOptions,
) -> int:  # fmt: skip
    """Check and save the chain's configuration; return its chain id."""
    from pydantic import ValidationError

    from fairtrail._validation import first_error
    from fairtrail.anchor.client import ChainClient
    from fairtrail.anchor.config import LOCAL_RPC, ChainConfig

    try:
        rel = key_path.relative_to(trail.paths.root.resolve())
    except ValueError:
        rel = key_path
    confirmations = o.confirmations
    if rpc == LOCAL_RPC:
        from fairtrail.anchor._local import LocalChain

        local = LocalChain(trail.paths.chains / f"{name}.db")
        try:
            chain_id = chain_id or int(local.web3.eth.chain_id)
            _fund_from_dev(local, address)
        finally:
            local.close()
        if confirmations == 2:
            confirmations = 1  # one block: the in-process chain has no reorgs
    if chain_id is None:
        raise InputError("--chain-id is required for a remote chain (EIP-155)")
    try:
        config = ChainConfig(
            name=name, rpc=rpc, chain_id=chain_id, key=str(rel),
            anchor_contract=o.anchor_contract, registry_contract=o.registry_contract,
            confirmations=confirmations, use_finalized_tag=o.finalized_tag,
            max_fee_gwei=o.max_fee_gwei, bump_after_seconds=o.bump_after,
            require_approval=o.require_approval,
        )  # fmt: skip
    except ValidationError as exc:
        raise InputError(f"chain {name}: {first_error(exc, 'chain')}") from None
    if rpc != LOCAL_RPC:
        with ChainClient.connect(config, trail.paths.root):
            pass  # the RPC answers with the configured chain id
    trail.set_chain(config)
    return chain_id


def _fund_from_dev(local: Any, address: str) -> None:
    w3 = local.web3
    dev = w3.eth.accounts[0]
    w3.eth.send_transaction({"from": dev, "to": address, "value": 10**20})
    local.save()


@chain_app.command("deploy")
def chain_deploy(
    name: Annotated[str | None, typer.Argument(help="Chain name [the only one].")] = None,
    auditor: Annotated[
        list[str] | None, typer.Option(help="Auditor address for AuditRegistry (repeat).")
    ] = None,
    threshold: Annotated[int, typer.Option(help="Approvals needed (k of n).", min=1)] = 1,
) -> None:
    """Deploy FairtrailAnchor (and AuditRegistry when auditors are given)."""
    from fairtrail.anchoring import deploy_contracts

    with STATE.open() as trail:
        chain = deploy_contracts(
            trail, trail.config.chain(name), auditors=auditor or [], threshold=threshold
        )
    STATE.out.print(f"chain {chain.name}: FairtrailAnchor at {chain.anchor_contract}")
    if chain.registry_contract:
        STATE.out.print(
            f"chain {chain.name}: AuditRegistry at {chain.registry_contract} "
            f"({threshold} of {len(auditor or [])} auditors)"
        )


@chain_app.command("list")
def chain_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The configured chains."""
    with STATE.open(writable=False) as trail:
        chains = [c.model_dump() for c in trail.config.chains]
    if as_json:
        print_json(chains)
        return
    for c in chains:
        STATE.out.print(
            f"{c['name']}: {c['rpc']} (chain id {c['chain_id']}), anchor {c['anchor_contract']}, "
            f"registry {c['registry_contract']}, final after "
            + ("the finalized tag" if c["use_finalized_tag"] else f"{c['confirmations']} blocks")
        )


@chain_app.command("key")
def chain_key(
    actor: Annotated[str, typer.Argument(help="Actor the key belongs to, e.g. an auditor.")],
    fund: Annotated[
        str | None, typer.Option(help="Fund it on this local chain (development only).")
    ] = None,
) -> None:
    """Create a secp256k1 key for an actor (keys/ACTOR.eth, 0600); print its address."""
    from fairtrail.anchor.wallet import create_wallet
    from fairtrail.statements.actors import check_actor_name

    with STATE.open(writable=False) as trail:
        account = create_wallet(trail.paths.eth_key(check_actor_name(actor)))
        if fund is not None:
            from fairtrail.anchor._local import LocalChain
            from fairtrail.anchor.config import LOCAL_RPC

            if trail.config.chain(fund).rpc != LOCAL_RPC:
                raise InputError("--fund only works on a local development chain")
            local = LocalChain(trail.paths.chains / f"{fund}.db")
            try:
                _fund_from_dev(local, account.address)
            finally:
                local.close()
    STATE.out.print(account.address)


# --------------------------------------------------------------------- anchor


@anchor_app.callback()
def anchor(
    ctx: typer.Context,
    chain: ChainOpt = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for inclusion.", min=0)] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print states as JSON.")] = False,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Send the latest signed checkpoint to each chain and record an Anchor statement
    once it is in a block. RPC failures leave the anchor pending with the reason (exit 5);
    the log is never blocked or changed by them."""
    if ctx.invoked_subcommand is not None:
        return
    from fairtrail.anchoring import record_included, send_anchors

    with STATE.open(writable=False) as trail:
        unconfigured = not trail.config.chains and not chain
    if unconfigured:  # zero setup: the in-process chain, kept in the trail folder
        STATE.err.print(
            "no chain is configured: using the in-process development chain 'local' "
            "(add a real one with `fairtrail chain add NAME --rpc URL --chain-id N`)",
            markup=False,
        )
        out, STATE.out = STATE.out, STATE.err  # keep stdout for the anchor report (--json)
        try:
            chain_add("local")
            chain_deploy("local")
        finally:
            STATE.out = out
    with STATE.open(writable=False) as trail:
        outcomes = send_anchors(trail, _pick(trail, chain), wait=wait)
    with STATE.open() as trail:
        recorded = record_included(trail, STATE.signer(trail, actor, key))
    _show(outcomes, as_json, recorded)
    failures = [o for o in outcomes if o.error]
    if failures:
        raise RemoteError("; ".join(f"{o.chain}: {o.error}" for o in failures))


@anchor_app.command("status")
def anchor_status(
    chain: ChainOpt = None,
    refresh: Annotated[
        bool, typer.Option(help="Ask the chains first (finality, reorgs, resends).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Each anchor's state: pending (with the reason), included, or final."""
    from fairtrail.anchor.queue import AnchorQueue
    from fairtrail.anchoring import AnchorOutcome, record_included, refresh_anchors

    with STATE.open(writable=False) as trail:
        chains = _pick(trail, chain)
        if refresh:
            outcomes = refresh_anchors(trail, chains)
        else:
            with AnchorQueue(trail.paths.anchors_db) as queue:
                outcomes = [AnchorOutcome(c.name, queue.rows(c.name)) for c in chains]
    recorded: list[int] = []
    if refresh:
        with STATE.open() as trail:
            recorded = record_included(trail, STATE.signer(trail, actor, key))
    _show(outcomes, as_json, recorded)


def _show(outcomes: list[Any], as_json: bool, recorded: list[int]) -> None:
    if recorded:  # show the statement numbers just written
        from fairtrail.anchor.queue import AnchorQueue

        with STATE.open(writable=False) as trail, AnchorQueue(trail.paths.anchors_db) as queue:
            for o in outcomes:
                o.rows = queue.rows(o.chain)
    if as_json:
        print_json(
            {
                "chains": [
                    {"chain": o.chain, "error": o.error,
                     "anchors": [_row_json(r) for r in o.rows]}
                    for o in outcomes
                ],
                "recorded": recorded,
            }
        )  # fmt: skip
        return
    table = Table(title="anchors", title_justify="left")
    for col in ("chain", "size", "state", "tx", "block", "statement", "reason"):
        table.add_column(col)
    colour = {"final": "green", "included": "yellow", "pending": "red"}
    for o in outcomes:
        for r in o.rows:
            table.add_row(
                r.chain, str(r.size), f"[{colour[r.state]}]{r.state}[/]",
                (r.tx_hash or "")[:12], "" if r.block_number is None else str(r.block_number),
                "" if r.statement_index is None else f"#{r.statement_index}", r.reason or "",
            )  # fmt: skip
    STATE.out.print(table)
    for o in outcomes:
        if o.error:
            STATE.out.print(f"[red]✗ {o.chain}: {o.error}[/]")


def _row_json(r: Any) -> dict[str, Any]:
    return {
        "size": r.size, "root": r.root, "state": r.state, "reason": r.reason,
        "txHash": r.tx_hash, "blockNumber": r.block_number, "blockHash": r.block_hash,
        "contract": r.contract, "chainId": r.chain_id, "statement": r.statement_index,
        "sends": r.sends,
    }  # fmt: skip


# -------------------------------------------------------------------- approve


def approve(
    model: Annotated[str, typer.Argument(help="Recorded model (file, ALG:HEX or name).")],
    chain: Annotated[str | None, typer.Option(help="Chain name [the only one].")] = None,
    wallet: Annotated[
        Path | None, typer.Option(help="Auditor's chain key [keys/ACTOR.eth].")
    ] = None,
    revoke: Annotated[bool, typer.Option(help="Withdraw this auditor's approval.")] = False,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """As an auditor, approve MODEL on chain after a local policy pass (k of n approvals
    make `isApproved` true); records a signed ChainApproval statement. Exit 4 if the
    model does not pass policy."""
    import os

    from fairtrail.anchoring import approve_model
    from fairtrail.lifecycle.models import resolve_model

    with STATE.open() as trail:
        signer = STATE.signer(trail, actor, key)
        who = trail.keyring.by_key(signer.public)
        name = actor or os.environ.get("FAIRTRAIL_ACTOR") or (who.name if who else "")
        wallet_path = wallet or trail.paths.eth_key(name)
        record = resolve_model(trail, model)
        predicate, index = approve_model(
            trail, record, trail.config.chain(chain), signer, wallet_path, revoke=revoke
        )
    verb = "revoked approval of" if revoke else "approved"
    STATE.out.print(
        f"{verb} {record.name} on {predicate['chain']} (tx {predicate['txHash'][:12]}…, "
        f"block {predicate['blockNumber']}): {predicate['approvals']} of "
        f"{predicate['threshold']} approvals, isApproved={predicate['isApproved']}; "
        f"recorded at entry {index}"
    )


# -------------------------------------------------------------------- witness


@witness_app.command("init")
def witness_init(
    folder: Annotated[Path, typer.Argument(help="Folder for the witness's key and state.")],
    name: Annotated[str, typer.Option(help="Witness key name, e.g. witness.example/w1.")],
) -> None:
    """Create a witness (key 0600, empty state); print its verifier key."""
    from fairtrail.anchor.witness import init_witness

    STATE.out.print(init_witness(folder, name), markup=False)


@witness_app.command("trust")
def witness_trust(
    folder: Annotated[Path, typer.Argument(help="The witness folder.")],
    log_vkey: Annotated[str, typer.Argument(help="A log's verifier key (fairtrail.json).")],
) -> None:
    """Let the witness cosign checkpoints of the log with this key."""
    from fairtrail.anchor.witness import Witness

    witness = Witness(folder)
    try:
        origin = witness.trust(log_vkey)
    finally:
        witness.close()
    STATE.out.print(f"witness trusts log {origin}", markup=False)


@witness_app.command("serve")
def witness_serve(
    folder: Annotated[Path, typer.Argument(help="The witness folder.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 7380,
) -> None:
    """Serve POST /add-checkpoint (c2sp.org/tlog-witness) until interrupted."""
    import uvicorn

    from fairtrail.anchor.witness import Witness
    from fairtrail.anchor.witness_http import witness_app as make_app

    witness = Witness(folder)
    logs = ", ".join(witness.settings.logs) or "no log yet (use `fairtrail witness trust`)"
    STATE.err.print(
        f"witness {witness.settings.name} on http://{host}:{port}/add-checkpoint for {logs}\n"
        f"verifier key: {witness.vkey}",
        markup=False,
    )
    try:
        uvicorn.run(make_app(witness), host=host, port=port, log_level="warning", workers=1)
    finally:
        witness.close()


@witness_app.command("add")
def witness_add(
    name: Annotated[str, typer.Argument(help="The witness's key name.")],
    vkey: Annotated[str, typer.Option(help="Its cosigner verifier key.")],
    url: Annotated[str, typer.Option(help="Its submission prefix, e.g. http://127.0.0.1:7380.")],
) -> None:
    """Register a witness with this trail (for `checkpoint --witness` and `verify`)."""
    from fairtrail.anchor.config import WitnessConfig
    from fairtrail.log.checkpoint import parse_cosigner_vkey

    try:
        verifier = parse_cosigner_vkey(vkey)
    except NoteError as exc:
        raise InputError(f"--vkey is not a witness verifier key: {exc}") from None
    if verifier.name != name:
        raise InputError(f"the verifier key is for {verifier.name!r}, not {name!r}")
    try:
        config = WitnessConfig(name=name, vkey=vkey, url=url)
    except ValueError:
        raise InputError("--url must be an http(s):// URL") from None
    with STATE.open() as trail:
        trail.set_witness(config)
    STATE.out.print(f"witness {name} at {url} registered", markup=False)


def cosign(witnesses: list[str]) -> list[Any]:
    """Collect cosignatures for the latest checkpoint (used by `fairtrail checkpoint`)."""
    from fairtrail.anchoring import collect_cosignatures, keep_cosignatures

    with STATE.open(writable=False) as trail:
        chosen = []
        for w in witnesses:
            match = [c for c in trail.config.witnesses if w in (c.name, c.url, c.url.rstrip("/"))]
            if not match:
                raise ConfigError(
                    f"no witness {w!r} is registered; add it with `fairtrail witness add`"
                )
            chosen.append(match[0])
        outcomes = collect_cosignatures(trail, chosen)
    with STATE.open() as trail:  # the writer lock only to store what came back
        keep_cosignatures(trail, outcomes)
    return outcomes
