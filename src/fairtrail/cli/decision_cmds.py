"""`fairtrail decisions record`: individual model decisions at volume."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fairtrail.cli._context import STATE, ActorOpt, KeyOpt, print_json, read_input

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


@decisions_app.command("receipt")
def decisions_receipt(
    decision_id: Annotated[str, typer.Argument(help="A recorded decision's id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Receipt file to write.")],
    with_input: Annotated[
        bool,
        typer.Option(help="Add the salt and input from the vault: the data subject's copy."),
    ] = False,
) -> None:
    """Write a decision receipt: the record, its path to the signed batch, and a C2SP
    tlog-proof. With --with-input it opens the input commitment: give it only to the
    data subject."""
    import json

    from fairtrail.crypto._files import write_atomic, write_private
    from fairtrail.trace import decision_receipt, subject_copy

    with STATE.open(writable=False) as trail:
        doc = (
            subject_copy(trail, decision_id) if with_input else decision_receipt(trail, decision_id)
        )
    data = (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    if with_input:
        out.unlink(missing_ok=True)
        write_private(out, data)  # personal data: 0600
    else:
        write_atomic(out, data)
    STATE.out.print(f"wrote {out}", markup=False)


@decisions_app.command("check")
def decisions_check(
    file: Annotated[Path, typer.Argument(help="A decision receipt.")],
    trusted_key: Annotated[
        str | None, typer.Option(help="The log's verifier key (fairtrail log vkey) to pin.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Check a receipt offline (no trail needed). Exit 3 if it does not verify."""
    from fairtrail.trace import check_receipt

    data = read_input(file, 4 << 20, "receipt")
    result = check_receipt(data, trusted_key)
    if as_json:
        print_json(result)
        return
    r = result["record"]
    STATE.out.print(f"✓ decision {r['id']}: {r['output']} at {r['time']} is in the signed batch "
                    f"at entry {result['batchEntry']} under checkpoint {result['checkpoint']}",
                    markup=False)  # fmt: skip
    if result["input"] is not None:
        STATE.out.print(f"✓ the input {result['input']} opens its commitment", markup=False)
