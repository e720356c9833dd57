"""Trail commands: init, record, log, checkpoint, prove, verify."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from fairtrail.cli._context import STATE, ActorOpt, KeyOpt, print_json, read_input
from fairtrail.errors import (
    ChainError,
    ProofRequestError,
    VerificationError,
    WitnessError,
)
from fairtrail.statements.statement import PREDICATE_PREFIX, Statement
from fairtrail.trail import Trail

prove_app = typer.Typer(help="Print Merkle proofs (RFC 9162) as JSON.", no_args_is_help=True)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def init(
    path: Annotated[
        Path | None, typer.Argument(help="Folder to create [default: --trail].")
    ] = None,
    origin: Annotated[
        str | None, typer.Option(help="Log origin, e.g. example.com/audit [default: random].")
    ] = None,
    admin: Annotated[str, typer.Option(help="Name of the root admin actor.")] = "admin",
    db: Annotated[
        str | None,
        typer.Option(
            help="Keep the log in this empty PostgreSQL database (postgresql://USER@HOST/DB; "
            "no password in the URL) instead of log.db."
        ),
    ] = None,
) -> None:
    """Create a new trail: log key, root admin key, and the first entry."""
    target = path or STATE.trail_path
    with Trail.init(target, origin=origin, admin=admin, log_db=db) as trail:
        STATE.out.print(
            f"created trail {target} (origin {trail.config.origin}, log {trail.store.name})"
        )
        STATE.out.print(f"root admin: {admin}, key {trail.root_key.key_id[:16]}")
        STATE.out.print(f"log verifier key: {trail.config.log_vkey}")


def record(
    file: Annotated[
        str, typer.Argument(help="Statement JSON file (in-toto Statement v1), or - for stdin.")
    ],
    actor: ActorOpt = None,
    key: KeyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the receipt as JSON.")] = False,
) -> None:
    """Sign a statement with your key and append it to the trail."""
    statement = Statement.from_json(read_input(file, what="statement file"), what=file)
    with STATE.open() as trail:
        receipt = trail.record(statement, STATE.signer(trail, actor, key))
    if as_json:
        print_json(
            {
                "index": receipt.index,
                "leaf_hash": _b64(receipt.leaf_hash),
                "signer": receipt.signer,
                "envelope": receipt.envelope.to_dict(),
            }
        )
    else:
        STATE.out.print(
            f"recorded entry {receipt.index} signed by {receipt.signer} "
            f"(leaf hash {receipt.leaf_hash.hex()[:16]}…)"
        )


log_app = typer.Typer(
    help="List the latest entries (`fairtrail log --tail N`); `log vkey` prints the log key.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@log_app.command("vkey")
def log_vkey() -> None:
    """The log's verifier key in C2SP signed-note form (name+keyid+base64(0x01 || key)):
    what independent tools need to check checkpoints and tlog-proofs."""
    with STATE.open(writable=False) as trail:
        sys.stdout.write(trail.config.log_vkey + "\n")


@log_app.callback()
def log(
    ctx: typer.Context,
    tail: Annotated[int, typer.Option(help="Show the last N entries.", min=1, max=100000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List the latest entries: index, statement type, signer, subjects."""
    if ctx.invoked_subcommand is not None:
        return
    with STATE.open(writable=False) as trail:
        rows = trail.tail(tail)
        size = trail.log.size
        latest = trail.latest_checkpoint()
    if as_json:
        for r in rows:
            sys.stdout.write(
                json.dumps(
                    {
                        "index": r.index,
                        "predicate_type": r.predicate_type,
                        "signer": r.signer,
                        "subject": r.subjects,
                    }
                )
                + "\n"
            )
        return
    table = Table("index", "type", "signer", "subject", title=f"{size} entries")
    for r in rows:
        kind = r.predicate_type.removeprefix(PREDICATE_PREFIX)
        subject = ", ".join(
            str(s.get("name") or next(iter(dict(s["digest"]).values()))[:16])  # type: ignore[call-overload]
            for s in r.subjects[:3]
        )
        table.add_row(str(r.index), kind, r.signer, subject)
    STATE.out.print(table)
    if latest:
        STATE.out.print(f"latest checkpoint: size {latest[0].size}, root {_b64(latest[0].root)}")


def checkpoint(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print size, root and note as JSON.")
    ] = False,
    witness: Annotated[
        list[str] | None,
        typer.Option(help="Registered witness (name or URL) to cosign it; repeat for more."),
    ] = None,
) -> None:
    """Self-audit the new entries and sign a C2SP checkpoint over all of them; with
    --witness, collect cosignatures (c2sp.org/tlog-witness). Exit 5 if a witness refuses."""
    from fairtrail.cli.chain_cmds import cosign

    with STATE.open() as trail:
        body, note = trail.checkpoint()
    outcomes = cosign(witness) if witness else []
    if outcomes:
        with STATE.open(writable=False) as trail:
            note = trail.cosigned_note(body.size)
    refused = [o for o in outcomes if not o.ok]
    if as_json:
        print_json(
            {
                "origin": body.origin,
                "size": body.size,
                "root": _b64(body.root),
                "note": note.to_bytes().decode("utf-8"),
            }
        )
    else:
        sys.stdout.write(note.to_bytes().decode("utf-8"))
        for o in outcomes:
            mark = "✓" if o.ok else "✗"
            STATE.err.print(f"{mark} witness {o.witness}: {o.detail}", markup=False)
    if refused:
        raise WitnessError("; ".join(o.detail for o in refused))


@prove_app.command("inclusion")
def prove_inclusion(
    index: Annotated[int, typer.Argument(help="Entry index.")],
    size: Annotated[
        int | None, typer.Option(help="Tree size [default: latest checkpoint].")
    ] = None,
    tlog_proof: Annotated[
        Path | None,
        typer.Option(
            "--tlog-proof",
            help="Also write the proof as a C2SP tlog-proof file (with the checkpoint "
            "and its cosignatures).",
        ),
    ] = None,
) -> None:
    """Prove that entry INDEX is in the tree of SIZE leaves."""
    with STATE.open(writable=False) as trail:
        if size is None:
            latest = trail.latest_checkpoint()
            if latest is None or index >= latest[0].size:
                have = latest[0].size if latest else 0
                raise ProofRequestError(
                    f"entry {index} is not covered by a checkpoint (latest covers {have} "
                    "entries); run `fairtrail checkpoint` or pass --size"
                )
            size = latest[0].size
        proof = trail.prove_inclusion(index, size)
        note = trail.checkpoint_note(size)
        if tlog_proof is not None:
            from fairtrail.crypto._files import write_atomic
            from fairtrail.log.tlog_proof import format_tlog_proof

            cosigned = trail.cosigned_note(size)
            write_atomic(tlog_proof, format_tlog_proof(index, proof.hashes, cosigned.to_bytes()))
    print_json(
        {
            "index": proof.index,
            "size": proof.size,
            "leaf_hash": _b64(proof.leaf_hash),
            "hashes": [_b64(h) for h in proof.hashes],
            "root": _b64(proof.root),
            "checkpoint": note.to_bytes().decode("utf-8") if note else None,
        }
    )


@prove_app.command("consistency")
def prove_consistency(
    old: Annotated[int, typer.Argument(help="Older tree size.")],
    new: Annotated[int, typer.Argument(help="Newer tree size.")],
) -> None:
    """Prove that the tree of OLD leaves is a prefix of the tree of NEW leaves."""
    with STATE.open(writable=False) as trail:
        proof = trail.prove_consistency(old, new)
        notes = [trail.checkpoint_note(old), trail.checkpoint_note(new)]
    print_json(
        {
            "size1": proof.size1,
            "size2": proof.size2,
            "root1": _b64(proof.root1),
            "root2": _b64(proof.root2),
            "hashes": [_b64(h) for h in proof.hashes],
            "checkpoints": [n.to_bytes().decode("utf-8") if n else None for n in notes],
        }
    )


def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    anchors: Annotated[
        bool, typer.Option("--anchors", help="Also check every recorded anchor on its chain.")
    ] = False,
    witnesses: Annotated[
        int,
        typer.Option(help="Require K valid witness cosignatures on the latest checkpoint.", min=0),
    ] = 0,
) -> None:
    """Check everything: every leaf, stored hash, checkpoint and signature. Exit 3 on
    tampering (or an anchor that does not match), 5 if a chain cannot be asked."""
    from fairtrail.anchoring import check_cosignatures, verify_anchors

    with STATE.open(writable=False) as trail:
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,}"),
            TimeRemainingColumn(),
            transient=True,
            disable=as_json or not sys.stderr.isatty(),
            console=None,
        ) as bar:
            task = bar.add_task("verify", total=trail.log.size)
            report = trail.verify(lambda done, total: bar.update(task, completed=done))
        cosigned = check_cosignatures(trail, witnesses) if witnesses else None
        checks = verify_anchors(trail) if anchors else []
    bad = [c for c in checks if c.status == "mismatch"]
    unreachable = [c for c in checks if c.status == "unreachable"]
    if as_json:
        print_json(
            {
                "ok": not bad and not unreachable,
                "size": report.log.size,
                "root": _b64(report.log.root),
                "checkpoints": report.log.checkpoints,
                "statements": report.statements,
                "actors": report.actors,
                "witnesses": None if cosigned is None else cosigned[1],
                "anchors": [c.__dict__ for c in checks],
            }
        )
    else:
        _print_verify(report, cosigned, checks)
    if bad:
        raise VerificationError(
            f"{len(bad)} anchor(s) do not match the chain: "
            + "; ".join(f"entry {c.index} on {c.chain}: {c.detail}" for c in bad)
        )
    if unreachable:
        raise ChainError("; ".join(f"{c.chain}: {c.detail}" for c in unreachable[:1]))


def _print_verify(report: Any, cosigned: tuple[int, list[str]] | None, checks: list[Any]) -> None:
    STATE.out.print(
        f"✓ log: {report.log.size} entries, every leaf and stored hash "
        f"recomputed; root {_b64(report.log.root)}"
    )
    STATE.out.print(
        f"✓ checkpoints: {report.log.checkpoints} signed and mutually consistent"
        + (
            f" (latest at size {report.log.latest_checkpoint})"
            if report.log.latest_checkpoint is not None
            else ""
        )
    )
    STATE.out.print(
        f"✓ statements: {report.statements} signatures valid against the keyring "
        f"({report.actors} actors)"
    )
    if cosigned is not None:
        STATE.out.print(
            f"✓ witnesses: {cosigned[0]} valid cosignature(s) on the latest checkpoint "
            f"({', '.join(cosigned[1])})"
        )
    mark = {"ok": "[green]✓[/]", "superseded": "[yellow]~[/]", "mismatch": "[red]✗[/]",
            "unreachable": "[red]?[/]"}  # fmt: skip
    for c in checks:
        STATE.out.print(
            f"{mark[c.status]} anchor entry {c.index}: checkpoint {c.size} on {c.chain} "
            f"({c.tx_hash[:12]}…): {c.status}, {c.detail}"
        )


def register_log_commands(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("record")(record)
    app.add_typer(log_app, name="log")
    app.command("checkpoint")(checkpoint)
    app.add_typer(prove_app, name="prove")
    app.command("verify")(verify)
