"""`fairtrail decisions record`: individual model decisions at volume."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fairtrail.cli._context import STATE, ActorOpt, KeyOpt, print_json

decisions_app = typer.Typer(help="Record individual model decisions (inputs stay in the vault).")


@decisions_app.command("record")
def decisions_record(
    file: Annotated[
        Path,
        typer.Argument(
            help=".csv (decision_id, model, output, time, [subject], input columns…) or .jsonl"
        ),
    ],  # fmt: skip
    batch_size: Annotated[
        int, typer.Option(help="Decisions per signed batch statement.", min=1, max=100_000)
    ] = 50_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the batches as JSON.")] = False,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Record each decision as a record (id, model digest, salted commitment of the
    input, output, time) in a Merkle tree per batch; one signed DecisionBatch statement
    per batch. Inputs and salts are sealed in the vault under each decision's data
    subject. A bad row refuses its whole batch (exit 2); earlier batches stay recorded."""
    from fairtrail.decisions import read_decisions, record_decisions

    with STATE.open() as trail:
        results = record_decisions(
            trail, read_decisions(file), STATE.signer(trail, actor, key), batch_size=batch_size
        )
    if as_json:
        print_json([r.__dict__ for r in results])
        return
    total = sum(r.count for r in results)
    STATE.out.print(
        f"recorded {total:,} decision(s) in {len(results)} batch(es): "
        + ", ".join(f"{r.count:,} at entry {r.entry}" for r in results),
        markup=False,
    )
