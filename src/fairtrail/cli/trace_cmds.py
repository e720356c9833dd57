"""`fairtrail trace DECISION_ID`: which model, data, audits and approvals made a decision."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fairtrail.cli._context import STATE, print_json


def trace_cmd(
    decision_id: Annotated[str, typer.Argument(help="A recorded decision's id.")],
    report: Annotated[
        Path | None,
        typer.Option(help="Write a redress report (HTML) with the bundle and receipt beside it."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the trace as JSON.")] = False,
) -> None:
    """Prove the decision, then show the model, its training run and data, the audit,
    reviews, policy decisions and deployment in force when it was recorded, and any open
    monitoring alerts."""
    from fairtrail.trace import redress_report, trace

    with STATE.open(writable=False) as trail:
        info = trace(trail, decision_id)
        written = redress_report(trail, decision_id, report) if report else []
    if as_json:
        print_json(info)
    else:
        d, m = info["decision"], info["model"]
        out = STATE.out
        out.print(f"decision {d['id']}: {d['output']} at {d['time']} (batch entry "
                  f"{d['batchEntry']}, {d['proved']})", markup=False)  # fmt: skip
        out.print(f"  model {m['name']} (entry {m['entry']})", markup=False)
        for node in info["lineage"]:
            for run in node.get("children", []):
                out.print(f"  trained by run {run['name']} (entry {run['index']})", markup=False)
                for ds in run.get("children", []):
                    out.print(f"    on {ds['name']} (entry {ds['index']})", markup=False)
        ev = info["evaluation"]
        out.print("  audit: " + (f"entry {ev['entry']} by {ev['sensitive']}" if ev else "none"),
                  markup=False)  # fmt: skip
        for p in info["policyDecisions"]:
            verdict = "passed" if p["passed"] else "FAILED " + ", ".join(p["failing"])
            out.print(f"  policy {p['policy']} v{p['version']}: {verdict} (entry {p['entry']})",
                      markup=False)  # fmt: skip
        approvals = sum(1 for r in info["reviews"] if r["approve"])
        out.print(f"  reviews: {approvals} approval(s) of {len(info['reviews'])}", markup=False)
        dep = info["deployment"]
        where = f"{dep['environment']} (entry {dep['entry']})" if dep else "no"
        out.print(f"  deployed: {where}", markup=False)
        out.print(f"  open alerts: {len(info['openAlerts'])}", markup=False)
    for path in written:
        STATE.err.print(f"wrote {path}", markup=False)
