"""`fairtrail dataset`: record datasets, list them, prove and check single rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fairtrail.cli._context import STATE, ActorOpt, KeyOpt, print_json
from fairtrail.cli._progress import fingerprint_progress
from fairtrail.crypto.canonical import parse_json
from fairtrail.errors import InputError
from fairtrail.lifecycle import rows
from fairtrail.lifecycle.datasets import (
    datasets_with_digest,
    find_datasets,
    load_row_secret,
    prepare_dataset,
    record_dataset,
    resolve_dataset,
)
from fairtrail.lifecycle.fingerprint import SymlinkPolicy, fingerprint

dataset_app = typer.Typer(help="Record datasets and prove single rows.", no_args_is_help=True)


@dataset_app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="Data file or folder.")],
    name: Annotated[str, typer.Option(help="Dataset name; a new content makes a new version.")],
    source: Annotated[str, typer.Option(help="Where the data came from (URL, DOI, system).")],
    license: Annotated[str, typer.Option(help="SPDX licence id or expression, e.g. CC-BY-4.0.")],
    sensitive: Annotated[
        list[str] | None,
        typer.Option(help="Sensitive (protected) column; repeat for several."),
    ] = None,
    description: Annotated[str, typer.Option(help="Datasheet description.")] = "",
    collected: Annotated[str | None, typer.Option(help="Collection date, YYYY-MM-DD.")] = None,
    ignore: Annotated[
        list[str] | None, typer.Option(help="Glob of files to leave out; repeatable.")
    ] = None,
    algorithm: Annotated[str, typer.Option(help="sha256 or blake3.")] = "sha256",
    symlinks: Annotated[
        str, typer.Option(help="Symlinks in a folder: refuse, or record (never followed).")
    ] = "refuse",
    actor: ActorOpt = None,
    key: KeyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fingerprint, profile and record a dataset (licence, source, schema, groups)."""
    with fingerprint_progress(STATE.out) as progress:
        prepared = prepare_dataset(
            path,
            name=name,
            source=source,
            license=license,
            sensitive=sensitive or [],
            description=description,
            collected=collected,
            ignore=ignore or [],
            algorithm=algorithm,
            symlinks=_symlink_policy(symlinks),
            progress=progress,
        )
    with STATE.open() as trail:
        receipt = record_dataset(trail, prepared, STATE.signer(trail, actor, key))
    pred = receipt.statement.predicate
    if as_json:
        print_json({"index": receipt.index, "predicate": pred})
        return
    digest = prepared.fingerprint.subject_digest
    alg, value = next(iter(digest.items()))
    STATE.out.print(
        f"recorded dataset {pred['name']} v{pred['version']} at entry {receipt.index} "
        f"({alg}:{value[:16]}…, {pred['license']})"
    )
    tab = pred.get("tabular")
    if tab:
        groups = "; ".join(
            f"{col}: " + ", ".join(f"{k}={v}" for k, v in counts.items())
            for col, counts in tab["sensitive"].items()
        )
        STATE.out.print(
            f"  {tab['rows']} rows, {len(tab['columns'])} columns"
            + (f"; groups {groups}" if groups else "")
        )


@dataset_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List recorded datasets and their versions."""
    with STATE.open(writable=False) as trail:
        found = find_datasets(trail)
    if as_json:
        for r in found:
            sys.stdout.write(
                json.dumps(
                    {
                        "index": r.index,
                        "name": r.name,
                        "version": r.version,
                        "digest": r.digest,
                        "license": r.predicate.get("license"),
                    }
                )
                + "\n"
            )
        return
    table = Table("entry", "name", "version", "licence", "rows", "digest")
    for r in found:
        tab = r.predicate.get("tabular") or {}
        alg, value = next(iter(r.digest.items()))
        table.add_row(
            str(r.index), r.name, str(r.version), str(r.predicate.get("license")),
            str(tab.get("rows", "")), f"{alg}:{value[:16]}…",
        )  # fmt: skip
    STATE.out.print(table)


@dataset_app.command("prove-row")
def prove_row(
    data: Annotated[Path, typer.Argument(help="The recorded data file (CSV or Parquet).")],
    row: Annotated[int, typer.Argument(help="Data row number, counting from 1 (header excluded).")],
    out: Annotated[
        Path | None, typer.Option(help="Write the proof here instead of stdout.")
    ] = None,
) -> None:
    """Prove that one row is in a recorded dataset, disclosing no other row."""
    fp = fingerprint(data)
    alg, value = next(iter(fp.subject_digest.items()))
    with STATE.open(writable=False) as trail:
        record = next(iter(datasets_with_digest(trail, alg, value)), None)
        if record is None:
            raise InputError(
                f"{data} is not a recorded dataset (no dataset has {alg}:{value[:16]}…)"
            )
        secret = load_row_secret(trail, record)
    proof = rows.prove_row(data, secret, row)
    expected = record.predicate["tabular"]["rowTree"]["root"]
    if proof.root.hex() != expected:
        raise InputError(f"{data} does not give the row tree recorded at entry {record.index}")
    document = {
        "type": "fairtrail.dev/row-proof/v1",
        "dataset": {"name": record.name, "version": record.version, "index": record.index,
                    "digest": record.digest},
        "rowTree": proof.to_dict(),
    }  # fmt: skip
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        STATE.out.print(f"wrote the proof of row {row} of {record.name} v{record.version} to {out}")


@dataset_app.command("check-row")
def check_row(
    proof_file: Annotated[Path, typer.Argument(help="A proof written by `dataset prove-row`.")],
    root: Annotated[
        str | None,
        typer.Option(help="Row tree root (hex) to check against, without a trail."),
    ] = None,
) -> None:
    """Check a row proof: against the dataset statement in the trail, or a given root."""
    try:
        raw = proof_file.read_bytes()[: 4 << 20]
    except OSError as exc:
        raise InputError(f"cannot read {proof_file}: {exc.strerror}") from None
    document: Any = parse_json(raw, what=str(proof_file))
    if not isinstance(document, dict) or document.get("type") != "fairtrail.dev/row-proof/v1":
        raise InputError(f"{proof_file} is not a fairtrail row proof")
    proof = rows.RowProof.from_dict(document.get("rowTree"))
    info = document.get("dataset") or {}
    if root is not None:
        try:
            expected = bytes.fromhex(root)
        except ValueError:
            raise InputError("--root must be hex") from None
        where = "the given root"
    else:
        index = info.get("index") if isinstance(info, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise InputError(f"{proof_file} does not name the dataset's log entry")
        with STATE.open(writable=False) as trail:
            record = resolve_dataset(trail, f"#{index}")
        expected = bytes.fromhex(record.predicate["tabular"]["rowTree"]["root"])
        where = f"dataset {record.name} v{record.version} (entry {record.index})"
    rows.verify_row(proof, expected)
    STATE.out.print(f"row {proof.row} of {proof.rows} is in {where}: {proof.record.decode()}")


def _symlink_policy(value: str) -> SymlinkPolicy:
    if value == "refuse":
        return "refuse"
    if value == "record":
        return "record"
    raise InputError(f"--symlinks must be refuse or record, not {value!r}")
