"""`fairtrail audit`: measure fairness; with --model, record it; pre-register; export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fairtrail.cli._context import STATE, ActorOpt, KeyOpt, print_json, read_input
from fairtrail.errors import InputError

audit_app = typer.Typer(
    help="Fairness audits (Fairlearn's definitions), pre-registration, in-toto export.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@audit_app.callback()
def audit(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option(help="Evaluation data (.csv .tsv .parquet).")] = None,
    label: Annotated[str | None, typer.Option(help="Column with the true outcome.")] = None,
    prediction: Annotated[
        str | None, typer.Option(help="Column with the model's predictions.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Recorded model (file, ALG:HEX or name); records an Evaluation."),
    ] = None,
    sensitive: Annotated[
        list[str] | None, typer.Option(help="Sensitive column (twice: intersectional groups).")
    ] = None,
    positive_label: Annotated[
        str | None, typer.Option(help="Outcome value that counts as positive.")
    ] = None,
    min_group_size: Annotated[
        int, typer.Option(help="Groups with fewer rows are flagged, not rated.", min=1)
    ] = 30,
    claim: Annotated[
        list[str] | None, typer.Option(help="Judge METRIC>=NUMBER (or >, <=, <).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the evaluation (recorded).")] = None,
    trust: Annotated[
        list[str] | None, typer.Option(help="A skops type to trust when loading the model.")
    ] = None,
    allow_missing: Annotated[
        bool, typer.Option(help="Rate empty sensitive values as a '(missing)' group.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Measure a binary classifier's fairness and performance per group.

    Without --model it only computes and prints. With --model the model must be
    recorded in the trail; the audit is recorded as a signed Evaluation statement.
    Predictions come from --prediction COLUMN, or from the --model file itself
    (.skops only; other formats are never loaded).
    """
    if ctx.invoked_subcommand is not None:
        return
    from fairtrail.audit.evaluations import (
        AuditRequest,
        record_evaluation,
        run_audit,
        run_audit_rows,
    )
    from fairtrail.audit.preregistration import parse_claim

    if data is None or label is None or not sensitive:
        raise InputError("fairtrail audit needs --data FILE, --label COLUMN and --sensitive COLUMN")
    if prediction is None and model is None:
        raise InputError("give --prediction COLUMN or --model MODEL to say what is audited")
    claims = [parse_claim(c) for c in claim or []]
    if model is None:
        request = AuditRequest(
            data, label, sensitive, prediction=prediction, positive_label=positive_label,
            min_group_size=min_group_size, seed=seed, claims=claims, allow_missing=allow_missing,
        )  # fmt: skip
        _show(run_audit(request), None, as_json)
        return
    from fairtrail.lifecycle.models import resolve_model

    with STATE.open() as trail:
        signer = STATE.signer(trail, actor, key)
        record = resolve_model(trail, model)
        model_file = None
        if prediction is None:
            model_file = Path(model)
            if not model_file.is_file():
                raise InputError(
                    f"to predict, --model must be the model file itself, not {model!r}; or "
                    "pass --prediction COLUMN"
                )
        request = AuditRequest(
            data, label, sensitive, prediction=prediction, model_file=model_file,
            positive_label=positive_label, min_group_size=min_group_size, seed=seed,
            claims=claims, trusted_types=tuple(trust or ()), allow_missing=allow_missing,
        )  # fmt: skip
        report, evidence = run_audit_rows(request)
        receipt = record_evaluation(trail, record, request, report, signer, evidence)
    _show(receipt.statement.predicate["report"] | _extras(report, receipt), receipt.index, as_json)


def _extras(report: dict[str, Any], receipt: Any) -> dict[str, Any]:
    pred = receipt.statement.predicate
    return {
        "label": report["label"],
        "positive_label": report["positive_label"],
        "sensitive": report["sensitive"],
        "min_group_size": report["min_group_size"],
        "claims": pred["claims"],
        "preregistration": pred["preregistration"],
        "entry": receipt.index,
    }


def _show(report: dict[str, Any], entry: int | None, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    out = STATE.out
    o = report["overall"]
    out.print(
        f"[bold]{report['rows']} rows[/]; positive outcome {report['positive_label']!r}; "
        f"accuracy {o['accuracy']:.3f}, selection rate {o['selection_rate']:.3f}"
    )
    for column, groups in report["by_group"].items():
        table = Table(title=f"by {column}", title_justify="left")
        for head in ("group", "count", "selection", "accuracy", "TPR", "FPR", "FNR", "precision"):
            table.add_column(head, justify="left" if head == "group" else "right", no_wrap=True)
        for name, g in groups.items():
            if g["small"]:
                table.add_row(name, str(g["count"]), *["[dim]small[/]"] * 6)
                continue
            cells = [
                f"{g[m]:.3f}" + ("*" if m in g["undefined"] else "")
                for m in ("selection_rate", "accuracy", "tpr", "fpr", "fnr", "precision")
            ]
            table.add_row(name, str(g["count"]), *cells)
        out.print(table)
    table = Table(title=f"disparities over {report['disparities_over']}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in report["disparities"].items():
        table.add_row(name, "undefined (0/0)" if value is None else f"{value:.4f}")
    out.print(table)
    if report["small_groups"]:
        out.print(
            f"[yellow]small groups (under {report['min_group_size']} rows, left out of the "
            f"disparities):[/] {', '.join(report['small_groups'])}"
        )
    if any(g["undefined"] for groups in report["by_group"].values() for g in groups.values()):
        out.print("[dim]* denominator is zero: the rate reads 0 as in Fairlearn, not measured[/]")
    for c in report.get("claims", []):
        mark = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[red]undefined[/]"}
        out.print(f"claim {c['text']}: {mark[c['passed']]}")
    prereg = report.get("preregistration")
    if entry is not None:
        if prereg is None:
            out.print("[yellow]no pre-registration for this model[/]")
        elif prereg["deviations"]:
            out.print(
                f"[red]deviates from pre-registration {prereg['entry']}:[/] "
                + "; ".join(prereg["deviations"])
            )
        else:
            out.print(f"matches pre-registration at entry {prereg['entry']}")
        out.print(f"recorded Evaluation at entry {entry}")


@audit_app.command("preregister")
def preregister(
    model: Annotated[str, typer.Argument(help="Recorded model: file, ALG:HEX or name.")],
    protocol: Annotated[Path, typer.Option(help="Protocol file (YAML), see docs/formats.md.")],
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Record, before the audit, what it will measure and how it will be judged."""
    from fairtrail.audit.preregistration import load_protocol, record_preregistration
    from fairtrail.lifecycle.models import resolve_model

    parsed, data_digest = load_protocol(protocol)
    with STATE.open() as trail:
        signer = STATE.signer(trail, actor, key)
        record = resolve_model(trail, model)
        receipt = record_preregistration(trail, record, parsed, data_digest, signer)
    alg, value = next(iter(data_digest.items()))
    STATE.out.print(
        f"pre-registered the audit of {record.name} at entry {receipt.index} "
        f"(data {alg}:{value[:16]}…, {len(parsed.claims)} claims)"
    )


@audit_app.command("export")
def export(
    entry: Annotated[int, typer.Argument(help="Log index of the Evaluation statement.")],
    out: Annotated[Path, typer.Option(help="Where to write the .intoto.jsonl bundle.")],
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Export an Evaluation as an in-toto eval-result attestation (DSSE), with ours beside it."""
    from fairtrail.audit.intoto import export_eval_result

    with STATE.open(writable=False) as trail:
        signer = STATE.signer(trail, actor, key)
        lines = export_eval_result(trail, entry, signer)
    from fairtrail.crypto._files import write_atomic

    try:
        write_atomic(out, b"".join(line + b"\n" for line in lines))
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}") from None
    STATE.out.print(f"wrote {out}: an eval-result/v0.1 attestation and Evaluation entry {entry}")


@audit_app.command("challenge")
def audit_challenge(
    entry: Annotated[int, typer.Argument(help="The Evaluation's log entry.")],
    seed: Annotated[str, typer.Option(help="The auditor's seed, or a public randomness value.")],
    k: Annotated[int, typer.Option("--k", help="How many rows to open.", min=1, max=10_000)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Challenge response to write.")],
) -> None:
    """As the owner, open the k rows that SEED and the committed root select, each with
    its path to the root the Evaluation names, plus the Evaluation's tlog-proof."""
    import json

    from fairtrail.audit.challenges import answer_challenge
    from fairtrail.crypto._files import write_atomic

    with STATE.open(writable=False) as trail:
        doc = answer_challenge(trail, entry, seed, k)
    write_atomic(out, (json.dumps(doc, indent=1) + "\n").encode())
    STATE.out.print(
        f"wrote {out}: {len(doc['rows'])} rows of {doc['count']:,} opened", markup=False
    )


@audit_app.command("check-challenge")
def audit_check_challenge(
    file: Annotated[Path, typer.Argument(help="A challenge response.")],
    trusted_key: Annotated[
        str | None, typer.Option(help="The log's verifier key (fairtrail log vkey) to pin.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Check a challenge response offline: the Evaluation is on the log, the opened rows
    are exactly the ones the seed selects, each is in the committed tree; then compare
    the sample with the reported metrics. Exit 3 if anything does not verify."""
    from fairtrail.audit.challenges import check_challenge

    data = read_input(file, 64 << 20, "challenge response")
    result = check_challenge(data, trusted_key)
    if as_json:
        print_json(result)
        return
    s, r = result["sample"], result["reported"]
    STATE.out.print(
        f"✓ {result['opened']} rows selected by the seed are in the {result['count']:,} rows "
        f"the Evaluation at entry {result['entry']} committed to", markup=False,
    )  # fmt: skip
    STATE.out.print(
        f"  sample: accuracy {s['accuracy']:.3f}, selection rate {s['selection_rate']:.3f}; "
        f"reported: accuracy {r['accuracy']:.3f}, selection rate {r['selection_rate']:.3f}",
        markup=False,
    )
