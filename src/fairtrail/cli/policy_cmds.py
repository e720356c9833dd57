"""`fairtrail policy …`, `fairtrail review`, `fairtrail deploy`, `fairtrail status`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fairtrail.cli._context import STATE, ActorOpt, KeyOpt, print_json
from fairtrail.errors import InputError, PolicyDeniedError

policy_app = typer.Typer(
    help="Policy-as-code: CEL rules that gate deployment.", no_args_is_help=True
)

ModelArg = Annotated[str, typer.Argument(help="Recorded model: file, ALG:HEX or name.")]
PolicyOpt = Annotated[
    list[str] | None, typer.Option("--policy", help="Only this policy (repeatable) [default: all].")
]


@policy_app.command("add")
def policy_add(
    file: Annotated[Path | None, typer.Argument(help="Policy file (YAML).")] = None,
    pack: Annotated[
        str | None, typer.Option(help="Add a shipped pack instead (see `policy packs`).")
    ] = None,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Check a policy's rules against the fact schema and record it as a new version."""
    from fairtrail.policy.decisions import record_policy
    from fairtrail.policy.packs import pack_path
    from fairtrail.policy.rules import load_policy

    if (file is None) == (pack is None):
        raise InputError("give a policy FILE or --pack NAME (one of them)")
    policy = load_policy(pack_path(pack) if pack is not None else file)  # type: ignore[arg-type]
    with STATE.open() as trail:
        receipt = record_policy(trail, policy, STATE.signer(trail, actor, key))
    doc = policy.doc
    STATE.out.print(
        f"recorded policy {doc.name} v{doc.version} ({len(doc.rules)} rules) at entry "
        f"{receipt.index}: sha256:{policy.digest}"
    )


@policy_app.command("packs")
def policy_packs() -> None:
    """List the policy packs shipped with fairtrail."""
    from fairtrail.policy.packs import pack_path, packs
    from fairtrail.policy.rules import load_policy

    for name in packs():
        doc = load_policy(pack_path(name)).doc
        STATE.out.print(
            f"[bold]{name}[/] v{doc.version}: {len(doc.rules)} rules. {doc.description}"
        )


@policy_app.command("list")
def policy_list() -> None:
    """The current version of every policy in the trail."""
    from fairtrail.policy.decisions import current_policies

    with STATE.open(writable=False) as trail:
        policies = current_policies(trail)
    for p in policies:
        doc = p.policy.doc
        STATE.out.print(
            f"{doc.name} v{doc.version}: {len(doc.rules)} rules, entry {p.index}, "
            f"sha256:{p.policy.digest[:16]}…"
        )


@policy_app.command("check")
def policy_check(
    model: ModelArg,
    policy: PolicyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print decisions as JSON.")] = False,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Judge a model by the current policies; record a signed PolicyDecision for each.

    Exits 4 when a decision fails (it is still recorded: a failure is evidence too).
    """
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.policy.decisions import check_model, current_policies

    decisions = []
    with STATE.open() as trail:
        signer = STATE.signer(trail, actor, key)
        record = resolve_model(trail, model)
        for recorded in current_policies(trail, policy):
            receipt, results = check_model(trail, record, recorded, signer)
            decisions.append((recorded, receipt, results))
    failed = [r for r, receipt, _ in decisions if not receipt.statement.predicate["passed"]]
    if as_json:
        print_json([receipt.statement.predicate | {"entry": receipt.index}
                    for _, receipt, _ in decisions])  # fmt: skip
    else:
        for recorded, receipt, results in decisions:
            _show_results(recorded.policy.doc, receipt, results)
    if failed:
        names = ", ".join(f"{r.policy.doc.name} v{r.policy.doc.version}" for r in failed)
        raise PolicyDeniedError(f"{record.name} fails {names} (decisions are recorded)")


def _show_results(doc: Any, receipt: Any, results: list[Any]) -> None:
    passed = receipt.statement.predicate["passed"]
    verdict = "[green]PASSED[/]" if passed else "[red]FAILED[/]"
    STATE.out.print(
        f"[bold]{doc.name} v{doc.version}[/]: {verdict} (decision at entry {receipt.index})"
    )
    for r in results:
        mark = (
            "[green]✓[/]"
            if r.passed
            else ("[red]✗[/]" if r.severity == "error" else "[yellow]![/]")
        )
        line = (
            f" {mark} {r.id}" + ("" if r.severity == "error" else " (warning)") + f": {r.message}"
        )
        if r.error:
            line += f" [red](could not evaluate: {r.error})[/]"
        if r.cite:
            line += f" [dim]— {r.cite}[/]"
        STATE.out.print(line)


def review(
    model: ModelArg,
    approve: Annotated[bool, typer.Option("--approve", help="Approve the model.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject the model.")] = False,
    comment: Annotated[str, typer.Option(help="What you checked, and why you decided so.")] = "",
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Sign an approval or rejection of a model (your role comes from the keyring)."""
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.policy.reviews import record_review

    if approve == reject:
        raise InputError("say --approve or --reject (exactly one)")
    with STATE.open() as trail:
        signer = STATE.signer(trail, actor, key)
        record = resolve_model(trail, model)
        receipt = record_review(trail, record, approve, comment, signer)
    pred = receipt.statement.predicate
    STATE.out.print(
        f"{pred['reviewer']} ({', '.join(pred['roles'])}) {pred['decision']}d {record.name} "
        f"at entry {receipt.index}"
    )


def deploy(
    model: ModelArg,
    env: Annotated[str, typer.Option(help="Environment deployed to, e.g. production.")],
    policy: PolicyOpt = None,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Record a deployment, only if every current policy's latest decision passed and
    every chain configured with require_approval reports isApproved (k of n auditors).

    Exits 4, naming the failing rules, when the gate refuses; nothing is recorded then.
    """
    from fairtrail.anchoring import deploy as deploy_gated
    from fairtrail.lifecycle.models import resolve_model

    with STATE.open() as trail:
        signer = STATE.signer(trail, actor, key)
        record = resolve_model(trail, model)
        receipt = deploy_gated(trail, record, env, signer, policy)
    decisions = receipt.statement.predicate["decisions"]
    STATE.out.print(
        f"deployed {record.name} to {env} at entry {receipt.index} (passing decisions: "
        + ", ".join(f"{d['policy']} v{d['version']} #{d['entry']}" for d in decisions)
        + ")"
    )


def status(
    model: ModelArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Audit, policy decisions, reviews and deployments of a model at a glance."""
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.policy import gates

    with STATE.open(writable=False) as trail:
        info = gates.status(trail, resolve_model(trail, model))
    if as_json:
        print_json(info)
        return
    out = STATE.out
    m = info["model"]
    out.print(f"[bold]{m['name']}[/] (entry {m['entry']}, {m['digest']})")
    ev = info["evaluation"]
    if ev is None:
        out.print("audit:       [yellow]none[/]")
    else:
        d = ev["disparities"]
        prereg = ev["preregistration"]
        pr = "none" if prereg is None else f"entry {prereg['entry']}"
        if prereg is not None and prereg["deviations"]:
            pr += " [red](deviates)[/]"
        out.print(
            f"audit:       entry {ev['entry']} ({ev['evaluatedAt']}), {ev['rows']} rows by "
            f"{', '.join(ev['sensitive'])}; DP ratio {_num(d['demographic_parity_ratio'])}, "
            f"EO difference {_num(d['equalized_odds_difference'])}; pre-registration {pr}"
        )
    for dec in info["decisions"]:
        verdict = (
            "[green]passed[/]" if dec["passed"] else f"[red]failed[/] {', '.join(dec['failing'])}"
        )
        out.print(
            f"policy:      {dec['policy']} v{dec['version']}: {verdict} (entry {dec['entry']})"
        )
    if not info["decisions"]:
        out.print("policy:      [yellow]no decision yet[/]")
    for r in info["reviews"]:
        out.print(f"review:      {r['actor']} ({', '.join(r['roles'])}) {r['decision']}s: "
                  f"{r['comment']} (entry {r['entry']})")  # fmt: skip
    if not info["reviews"]:
        out.print("review:      [yellow]none[/]")
    for dep in info["deployments"]:
        out.print(f"deployment:  {dep['environment']} at {dep['deployedAt']} by {dep['by']} "
                  f"(entry {dep['entry']})")  # fmt: skip
    if info["deployable"]:
        out.print("gate:        [green]open[/] (deployable now)")
    else:
        out.print("gate:        [red]closed[/]: " + "; ".join(info["blocked_by"]))


def _num(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"
