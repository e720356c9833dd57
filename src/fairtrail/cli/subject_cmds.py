"""`fairtrail subject add|disclose|check` and `fairtrail erase`: personal data off the log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fairtrail.cli._context import STATE, ActorOpt, KeyOpt, print_json, read_input
from fairtrail.errors import InputError

subject_app = typer.Typer(
    help="Personal records: encrypted in the vault, committed on the log with SD-JWT."
)


@subject_app.command("add")
def subject_add(
    subject: Annotated[str, typer.Argument(help="The data subject's id (never logged).")],
    field: Annotated[list[str], typer.Option(help="NAME=VALUE of a personal field (repeat).")],
    purpose: Annotated[str, typer.Option(help="Why it is kept (logged; no personal data).")] = "",
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Keep the fields encrypted in the vault (one AES-256-GCM key per subject); log a
    signed PersonalRecord with a random handle and an SD-JWT of salted digests only."""
    from fairtrail.subjects import record_personal

    fields: dict[str, str] = {}
    for item in field:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--field wants NAME=VALUE, got {item[:40]!r}")
        fields[name.strip()] = value
    with STATE.open() as trail:
        receipt = record_personal(trail, subject, fields, STATE.signer(trail, actor, key), purpose)
    p = receipt.statement.predicate
    STATE.out.print(
        f"recorded {p['fields']} field(s) as {p['record']} for {p['handle']} at entry "
        f"{receipt.index} (the log holds salted digests only)",
        markup=False,
    )


@subject_app.command("disclose")
def subject_disclose(
    subject: Annotated[str, typer.Argument(help="The data subject's id.")],
    names: Annotated[list[str], typer.Argument(help="Field(s) to reveal.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Disclosure file to write.")],
) -> None:
    """Reveal only NAMES of the subject's latest record: an SD-JWT presentation with the
    record's C2SP tlog-proof, checkable by anyone with `fairtrail subject check`."""
    from fairtrail.crypto._files import write_atomic
    from fairtrail.subjects import disclose

    with STATE.open(writable=False) as trail:
        document = disclose(trail, subject, names)
    write_atomic(out, (json.dumps(document, indent=1) + "\n").encode("utf-8"))
    STATE.out.print(f"wrote {out}: {', '.join(names)} of entry {document['entry']}", markup=False)


@subject_app.command("check")
def subject_check(
    file: Annotated[Path, typer.Argument(help="Disclosure file.")],
    trusted_key: Annotated[
        str | None, typer.Option(help="The log's verifier key (fairtrail log vkey) to pin.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Check a disclosure offline (no trail needed): the record is on the log under a
    signed checkpoint, and each revealed value matches its salted digest. Exit 3 if not."""
    from fairtrail.subjects import check_disclosure

    data = read_input(file, 4 << 20, "disclosure")
    result = check_disclosure(data, trusted_key)
    if as_json:
        print_json(result)
        return
    pinned = "" if result["pinned"] else " (log key not pinned: pass --trusted-key)"
    STATE.out.print(
        f"✓ record {result['record']} of {result['handle']} is entry {result['entry']} under "
        f"checkpoint {result['checkpoint']}{pinned}",
        markup=False,
    )
    for name, value in result["disclosed"].items():
        STATE.out.print(f"✓ {name} = {value}", markup=False)


def erase(
    subject: Annotated[str, typer.Argument(help="The data subject's id.")],
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Erase a data subject (needs admin or compliance-officer): record an Erasure, then
    destroy the subject's key, records and handle mapping. Proofs still verify."""
    from fairtrail.subjects import erase_subject

    with STATE.open() as trail:
        receipt, handle = erase_subject(trail, subject, STATE.signer(trail, actor, key))
    where = f"Erasure at entry {receipt.index}" if receipt else "Erasure already recorded"
    STATE.out.print(f"erased {handle}: key and records destroyed; {where}", markup=False)
