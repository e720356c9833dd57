"""`fairtrail export` and `fairtrail verify-bundle`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from fairtrail.cli._context import STATE, print_json
from fairtrail.errors import InputError


def export(
    model: Annotated[str, typer.Argument(help="Recorded model (file, ALG:HEX or name).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle file to write (JSON).")],
) -> None:
    """Write MODEL's evidence bundle: its statements and lineage, each with an inclusion
    proof to the latest checkpoint (with cosignatures), anchored checkpoints with
    consistency proofs, and the actor statements that give keys and roles."""
    from fairtrail.crypto._files import write_atomic
    from fairtrail.evidence import export_bundle
    from fairtrail.lifecycle.models import resolve_model

    with STATE.open(writable=False) as trail:
        record = resolve_model(trail, model)
        document, pending = export_bundle(trail, record)
    data = json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"
    write_atomic(out, data)
    STATE.out.print(
        f"wrote {out}: {len(document['entries'])} statements under checkpoint "
        f"{document['checkpoint'].splitlines()[1]}, {len(document['anchored'])} anchored "
        f"checkpoint(s), {len(data):,} bytes",
        markup=False,
    )
    if pending:
        STATE.err.print(
            f"note: {len(pending)} related statement(s) are newer than the latest checkpoint "
            f"and were left out (entries {', '.join(map(str, pending[:10]))}); run "
            "`fairtrail checkpoint` and export again to include them",
            markup=False,
        )


def verify_bundle(
    file: Annotated[Path, typer.Argument(help="Bundle file (from `fairtrail export`).")],
    trusted_key: Annotated[
        list[str] | None,
        typer.Option(help="Pinned verifier key: the log's (fairtrail log vkey) or a witness's."),
    ] = None,
    require_witnesses: Annotated[
        int, typer.Option(help="Cosignatures needed from pinned witness keys.", min=0)
    ] = 0,
    rpc: Annotated[
        str | None, typer.Option(help="Also check anchors on this chain (network).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a bundle offline: every signature, proof, link and the policy decision
    chain. Exit codes name the first failure: 10 malformed, 11 unknown version, 12 unknown
    key, 13 bad signature, 14 missing proof, 15 bad proof, 16 broken link, 17 policy chain,
    18 too few witnesses, 19 anchor mismatch (5: --rpc unreachable)."""
    from fairtrail.bundle.format import MAX_BUNDLE_BYTES
    from fairtrail.bundle.verify import verify_bundle as check

    try:
        with file.open("rb") as f:
            data = f.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}") from None
    report = check(
        data, trusted_keys=trusted_key or [], require_witnesses=require_witnesses, rpc=rpc
    )
    if as_json:
        print_json(report.to_dict())
    else:
        mark = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]"}
        for c in report.claims:
            STATE.out.print(f"{mark[c.status]} {c.name}: ", end="")
            STATE.out.print(c.detail, markup=False)
        if report.failure:
            STATE.out.print(f"[red]✗ bundle does not verify: {report.failure}[/]")
        else:
            STATE.out.print("[green]✓ bundle verifies[/]")
    if report.failure:
        sys.stderr.write(
            f"error: bundle does not verify ({report.failure}): "
            f"{next(c.detail for c in report.claims if c.status == 'fail')}\n"
        )
        raise typer.Exit(report.exit_code)
