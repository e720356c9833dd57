"""`fairtrail model add`, `fairtrail run record`, `fairtrail lineage`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.tree import Tree

from fairtrail.cli._context import STATE, ActorOpt, KeyOpt
from fairtrail.crypto.canonical import parse_json
from fairtrail.errors import InputError
from fairtrail.lifecycle.fingerprint import fingerprint
from fairtrail.lifecycle.lineage import LineageNode, lineage
from fairtrail.lifecycle.models import record_model
from fairtrail.lifecycle.openssf import model_signing_key, sign_model

model_app = typer.Typer(help="Record model artifacts.", no_args_is_help=True)
run_app = typer.Typer(help="Record training runs made outside Python.", no_args_is_help=True)


@model_app.command("add")
def model_add(
    path: Annotated[
        Path,
        typer.Argument(
            help="Model file (.skops .pkl .joblib .pt .pth .safetensors .onnx) or folder."
        ),
    ],  # fmt: skip
    name: Annotated[str | None, typer.Option(help="Model name [default: file name].")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="Override the detected format.")
    ] = None,
    sign: Annotated[
        bool, typer.Option(help="Also sign in the OpenSSF model-signing format (MODEL.sig).")
    ] = False,
    signature: Annotated[
        Path | None, typer.Option(help="Where to write the OpenSSF signature.")
    ] = None,
    license: Annotated[str | None, typer.Option(help="The model's SPDX licence.")] = None,
    use: Annotated[
        str | None, typer.Option(help="Intended use: commercial, non-commercial or research.")
    ] = None,
    parent: Annotated[
        list[str] | None,
        typer.Option(help="A recorded model this one was fine-tuned from or merged out of."),
    ] = None,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Fingerprint a model artifact and record a Model statement."""
    openssf = None
    sig_path = signature or path.with_name(path.name + ".sig")
    with STATE.open() as trail:
        signer = STATE.signer(trail, actor, key)
        if sign:
            if not path.exists():
                raise InputError(f"no such model file or folder: {path}")
            who = actor or os.environ.get("FAIRTRAIL_ACTOR") or trail.config.admin_name
            private, public = model_signing_key(trail, who)
            openssf = sign_model(path, private, public, sig_path)
        try:
            receipt = record_model(
                trail, path, signer, name=name, fmt=fmt, openssf=openssf, license=license,
                use=use, parents=parent or [],
            )  # fmt: skip
        except BaseException:
            if openssf is not None:
                sig_path.unlink(missing_ok=True)  # nothing recorded: no orphan signature
            raise
    if openssf is not None:
        STATE.out.print(
            f"OpenSSF signature: {sig_path} (verify with: model_signing verify key {path} "
            f"--signature {sig_path} --public_key {public})"
        )
    pred = receipt.statement.predicate
    alg, value = next(iter(receipt.statement.subject[0].digest.items()))
    STATE.out.print(
        f"recorded model {pred['name']} ({pred['format']}) at entry {receipt.index}: {alg}:{value}"
    )


@run_app.command("record")
def run_record(
    name: Annotated[str, typer.Option(help="Run (or model family) name.")],
    dataset: Annotated[
        list[str] | None, typer.Option(help="Input dataset: NAME, NAME@VERSION or #INDEX.")
    ] = None,
    param: Annotated[list[str] | None, typer.Option(help="Hyperparameter KEY=VALUE.")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="Final metric KEY=NUMBER.")] = None,
    model: Annotated[list[Path] | None, typer.Option(help="Output model artifact.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed used.")] = None,
    code: Annotated[Path | None, typer.Option(help="Code folder (git) [default: here].")] = None,
    code_license: Annotated[
        str | None, typer.Option(help="SPDX licence of the training code.")
    ] = None,
    failed: Annotated[
        str | None, typer.Option(help="Record a failed run, with this reason.")
    ] = None,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Record a training run done by any tool: inputs, parameters, metrics, outputs."""
    params = dict(_pair(p, "--param") for p in param or [])
    metrics = {k: _number(k, v) for k, v in (_pair(m, "--metric") for m in metric or [])}
    for m in model or []:
        if not m.exists():
            raise InputError(f"no such model file or folder: {m}")
    with STATE.open() as trail:
        run = trail.run(
            name, datasets=dataset or [], params=params, seed=seed,
            signer=STATE.signer(trail, actor, key), code_dir=code, code_license=code_license,
        )  # fmt: skip
        try:
            with run:
                for k, v in metrics.items():
                    run.log_metric(k, v)
                for m in model or []:
                    run.log_model(m)
                if failed:
                    raise _ReportedFailure(failed)
        except _ReportedFailure:
            pass
        assert run.receipt is not None
    state = run.receipt.statement.predicate["status"]["state"]
    STATE.out.print(f"recorded {state} run {name} ({run.run_id}) at entry {run.receipt.index}")


class _ReportedFailure(Exception):
    """A failure the user reported with --failed (recorded, not an error of ours)."""


def lineage_cmd(
    model: Annotated[str, typer.Argument(help="Model file, or ALG:HEX digest.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the tree as JSON.")] = False,
) -> None:
    """Show where a model came from: runs, datasets, and the proof status of each."""
    if ":" in model and not Path(model).exists():
        alg, _, value = model.partition(":")
    else:
        fp = fingerprint(Path(model))
        alg, value = next(iter(fp.subject_digest.items()))
    with STATE.open(writable=False) as trail:
        trees = lineage(trail, alg.lower(), value.lower())
    if as_json:
        sys.stdout.write(json.dumps([t.to_dict() for t in trees], indent=2) + "\n")
        return
    for node in trees:
        tree = Tree(_label(node))
        _grow(tree, node)
        STATE.out.print(tree, soft_wrap=False)  # wrap long labels instead of cutting them


def _grow(tree: Tree, node: LineageNode) -> None:
    for child in node.children:
        _grow(tree.add(_label(child)), child)


def _label(node: LineageNode) -> str:
    alg, value = next(iter(node.digest.items()), ("?", "?"))
    extra = ", ".join(f"{k}={v}" for k, v in node.details.items() if v not in (None, {}, ""))
    mark = "[green]✓[/]" if node.proof.startswith("proved") else "[yellow]![/]"
    return (
        f"{mark} [bold]{node.kind}[/] {node.name}: entry {node.index}, {alg}:{value[:16]}…, "
        f"[dim]{node.proof}[/]\n  {extra}"
    )


def _pair(text: str, option: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InputError(f"{option} takes KEY=VALUE, not {text!r}")
    try:
        parsed: Any = parse_json(value.encode(), what=option)
    except InputError:
        parsed = value  # plain text
    return key, parsed


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"--metric {key} must be a number, not {value!r}")
    return float(value)


import_app = typer.Typer(help="Import records from other tools.", no_args_is_help=True)


@import_app.command("mlflow")
def import_mlflow_cmd(
    tracking_uri: Annotated[
        str, typer.Option(help="Local MLflow store: file:PATH or sqlite:///PATH.")
    ],
    experiment: Annotated[str | None, typer.Option(help="Only this experiment.")] = None,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Turn MLflow runs (params, metrics, artifacts) into signed statements."""
    import warnings

    from fairtrail.lifecycle.integrations.mlflow import import_mlflow

    with STATE.open() as trail, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's deprecation chatter is not ours to show
        report = import_mlflow(
            trail, tracking_uri, STATE.signer(trail, actor, key), experiment=experiment
        )
    for run_id, index in report.imported:
        STATE.out.print(f"imported MLflow run {run_id} as entry {index}")
    STATE.out.print(
        f"{len(report.imported)} runs imported ({report.models} models), "
        f"{len(report.skipped)} skipped (already imported or still running)"
    )
