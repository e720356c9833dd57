"""`fairtrail monitor`: production predictions into signed windows that re-audit by themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fairtrail.cli._context import STATE, ActorOpt, KeyOpt, print_json

monitor_app = typer.Typer(help="Continuous monitoring: windows, drift, fairness, alerts.")

_BLOCKS = "▁▂▃▄▅▆▇█"


@monitor_app.command("setup")
def monitor_setup(
    model: Annotated[str, typer.Argument(help="The model: a file, name or sha256:DIGEST.")],
    reference: Annotated[
        Path, typer.Option(help="The training (or evaluation) data recorded for the model.")
    ],
    window_rows: Annotated[
        int | None, typer.Option(help="A window every N rows (default 10,000).", min=1)
    ] = None,
    window_seconds: Annotated[
        int | None, typer.Option(help="A window every N seconds of the time column.", min=1)
    ] = None,
    id_column: Annotated[str, typer.Option(help="Prediction id (late labels match it).")] = "id",
    prediction_column: Annotated[str, typer.Option(help="Column of predictions.")] = "prediction",
    label_column: Annotated[str, typer.Option(help="Column of true labels.")] = "label",
    time_column: Annotated[str | None, typer.Option(help="Column of ISO 8601 times.")] = None,
    sensitive: Annotated[
        list[str] | None, typer.Option(help="Sensitive column (repeat); default: the audit's.")
    ] = None,
    positive_label: Annotated[str | None, typer.Option(help="The positive outcome.")] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(help="Monitoring policy (repeat); default production-monitoring."),
    ] = None,
    revoke: Annotated[
        list[str] | None,
        typer.Option(help="CHAIN:AUDITOR whose on-chain approval an alert revokes (repeat)."),
    ] = None,
    min_group_size: Annotated[int, typer.Option(help="Smaller groups are not rated.")] = 30,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Record a MonitoringPlan: the columns, the window, the policies run after every
    window, and the reference profile (bins and counts of each feature of the training
    data, never its rows)."""
    from fairtrail.errors import InputError
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.monitoring import setup_monitor

    pairs = []
    for item in revoke or []:
        chain, _, auditor = item.partition(":")
        if not chain or not auditor:
            raise InputError(f"--revoke {item!r}: give CHAIN:AUDITOR")
        pairs.append({"chain": chain, "auditor": auditor})
    with STATE.open() as trail:
        record = resolve_model(trail, model)
        entry, plan = setup_monitor(
            trail, record, reference, STATE.signer(trail, actor, key),
            window_rows=None if window_seconds else (window_rows or 10_000),
            window_seconds=window_seconds,
            columns={"id": id_column, "prediction": prediction_column,
                     "label": label_column, "time": time_column},
            sensitive=sensitive, positive_label=positive_label, policies=policy,
            revoke=pairs, min_group_size=min_group_size,
        )  # fmt: skip
    window = plan.window
    STATE.out.print(
        f"recorded MonitoringPlan for {record.name} at entry {entry}: a window every "
        f"{window['size']:,} {window['kind']}, {len(plan.features)} features profiled, "
        f"sensitive {', '.join(plan.sensitive) or 'none'}, policies "
        f"{', '.join(plan.predicate['policies'])}",
        markup=False,
    )


def _show(result: Any) -> None:
    if result.skipped:
        STATE.out.print(f"{result.file}: {result.skipped}", markup=False)
        return
    STATE.out.print(f"{result.file}: {result.rows:,} rows", markup=False)
    for w in result.windows:
        verdict = (
            "pass"
            if all(p["passed"] for p in w["policies"])
            else "FAIL " + ", ".join(r["id"] for p in w["policies"] for r in p["failing"])
        )
        STATE.out.print(
            f"  window {w['seq']} ({w['kind']}, {w['rows']:,} rows) at entry {w['entry']}: "
            f"{verdict}",
            markup=False,
        )
        for alert in w["alerts"]:
            STATE.out.print(
                f"  ALERT {alert['alertId']} (entry {alert['entry']}): rule {alert['rule']}",
                markup=False,
            )
            for d in alert.get("decisions", []):
                STATE.out.print(f"  re-audit: PolicyDecision at entry {d} (failed)", markup=False)
            for r in alert.get("revocations", []):
                STATE.out.print(f"  on-chain approval revoked: {r}", markup=False)


@monitor_app.command("ingest")
def monitor_ingest(
    model: Annotated[str, typer.Argument(help="The monitored model.")],
    files: Annotated[
        list[Path], typer.Argument(help="Predictions or late labels (.csv/.parquet/.jsonl).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the windows as JSON.")] = False,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Read prediction files into windows; after each window the monitoring policies run,
    and a failing rule opens an alert, records a failing PolicyDecision and makes the
    deployment non-compliant. A file already read is skipped; an interrupted run goes on
    from the last recorded window."""
    from fairtrail.errors import InputError
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.monitoring import Monitor

    for path in files:
        if not path.is_file():
            raise InputError(f"no such file: {path}")
    results = []
    with STATE.open() as trail:
        record = resolve_model(trail, model)
        with Monitor(trail, record, STATE.signer(trail, actor, key)) as monitor:
            for path in files:
                result = monitor.feed(path)
                results.append(result)
                if not as_json:
                    _show(result)
            carried = monitor.counts.rows
    if as_json:
        print_json([r.__dict__ for r in results])
    elif carried:
        STATE.out.print(f"{carried:,} rows wait in the open window", markup=False)


@monitor_app.command("watch")
def monitor_watch(
    directory: Annotated[Path, typer.Argument(help="Folder where prediction files land.")],
    model: Annotated[str, typer.Option(help="The monitored model.")],
    interval: Annotated[float, typer.Option(help="Seconds between looks.", min=0.05)] = 2.0,
    once: Annotated[
        bool, typer.Option(help="Read what has landed, then stop (no waiting for more).")
    ] = False,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Follow DIRECTORY: each complete file is read once, in name order. Stops cleanly on
    SIGINT or SIGTERM between two chunks; recorded windows are never lost, and the rows
    after the last one are read again on the next start."""
    import signal

    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.monitoring import Monitor, Stopped, watch

    asked: list[int] = []

    def stop_on(signum: int, _frame: Any) -> None:
        asked.append(signum)

    previous = {s: signal.signal(s, stop_on) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with STATE.open() as trail:
            record = resolve_model(trail, model)
            with Monitor(trail, record, STATE.signer(trail, actor, key)) as monitor:
                STATE.err.print(f"watching {directory} for {record.name}", markup=False)
                try:
                    read = watch(
                        monitor, directory, interval=interval, stop=lambda: bool(asked),
                        once=once, report=_show,
                    )  # fmt: skip
                except Stopped:
                    read = -1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if asked:
        STATE.err.print("stopped; every recorded window is kept", markup=False)
    elif read >= 0:
        STATE.err.print(f"read {read} file(s)", markup=False)


def _spark(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return ""
    low, high = min(present), max(present)
    span = (high - low) or 1.0
    return "".join(
        " " if v is None else _BLOCKS[int((v - low) / span * (len(_BLOCKS) - 1))] for v in values
    )


@monitor_app.command("status")
def monitor_status_cmd(
    model: Annotated[str, typer.Argument(help="The monitored model.")],
    chart: Annotated[
        Path | None, typer.Option(help="Write an HTML chart of every metric by window.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Windows, trends, open alerts and each deployment's compliance at a glance."""
    from rich.table import Table

    from fairtrail.crypto._files import write_atomic
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.monitoring import SERIES, chart_html, monitor_status

    with STATE.open(writable=False) as trail:
        status = monitor_status(trail, resolve_model(trail, model))
    if chart is not None:
        write_atomic(chart, chart_html(status).encode("utf-8"))
    if as_json:
        print_json(status)
        return
    rows = status["windows"]
    table = Table(title=f"{status['model']['name']}: {len(rows)} window(s)")
    for column in ("window", "kind", "rows", "rejected", "PSI max", "pos. rate", "DP ratio",
                   "EO diff", "policy"):  # fmt: skip
        table.add_column(column)

    def num(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    for r in rows[-15:]:
        table.add_row(
            str(r["seq"]), r["kind"], f"{r['rows']:,}", str(r["rejected"]), num(r["psi_max"]),
            num(r["prediction_rate"]), num(r["disparities.demographic_parity_ratio"]),
            num(r["disparities.equalized_odds_difference"]),
            "pass" if r["passed"] else "[red]FAIL[/] " + ", ".join(r["failing"]),
        )  # fmt: skip
    STATE.out.print(table)
    for label, path in SERIES:
        line = _spark([r[path] for r in rows])
        if line.strip():
            STATE.out.print(f"{label:>28}  {line}", markup=False)
    for a in status["openAlerts"]:
        STATE.out.print(f"open alert {a['alertId']}: {a['message']}", markup=False)
    for d in status["deployments"]:
        state = "compliant" if d["compliant"] else "NON-COMPLIANT (open alerts)"
        STATE.out.print(
            f"deployment {d['environment']} (entry {d['entry']}): {state}", markup=False
        )
    if chart is not None:
        STATE.out.print(f"wrote {chart}", markup=False)


@monitor_app.command("resolve")
def monitor_resolve(
    model: Annotated[str, typer.Argument(help="The monitored model.")],
    alert_id: Annotated[str, typer.Argument(help="The alert's id.")],
    comment: Annotated[str, typer.Option(help="What was found and done.")],
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Close an alert (a person's signed judgement). The model needs a passing policy
    check again before it can be deployed."""
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.monitoring import resolve_alert

    with STATE.open() as trail:
        record = resolve_model(trail, model)
        index = resolve_alert(trail, record, alert_id, comment, STATE.signer(trail, actor, key))
    STATE.out.print(f"resolved {alert_id} at entry {index}", markup=False)
