"""`fairtrail contribute`, `fairtrail contributors` and `fairtrail licences`."""

from __future__ import annotations

from typing import Annotated

import typer

from fairtrail.cli._context import STATE, ActorOpt, KeyOpt, print_json
from fairtrail.errors import PolicyDeniedError


def contribute(
    model: Annotated[str, typer.Argument(help="The model: a file, name or ALG:HEX.")],
    kind: Annotated[str, typer.Option(help="data, code, weights, evaluation or review.")],
    ref: Annotated[str, typer.Option(help="ALG:HEX of what was contributed.")],
    share: Annotated[
        str | None, typer.Option(help="Share of the model's licence income, in percent.")
    ] = None,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Record a contribution to a model, signed by the contributor."""
    from fairtrail.lifecycle.contributions import contribute as record
    from fairtrail.lifecycle.models import resolve_model

    with STATE.open() as trail:
        signer = STATE.signer(trail, actor, key)
        receipt = record(trail, resolve_model(trail, model), kind, ref, share, signer)
        p = receipt.statement.predicate
    share_text = f", share {p['share_bp'] / 100:.2f}%" if p["share_bp"] else ""
    STATE.out.print(f"recorded {kind} contribution by {receipt.signer} to {p['model']['name']} "
                    f"at entry {receipt.index}{share_text}", markup=False)  # fmt: skip


def contributors(
    model: Annotated[str, typer.Argument(help="The model: a file, name or ALG:HEX.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The model's contributors with their shares, and those of its parent models, each
    with whether its statement is proved under the latest checkpoint."""
    from fairtrail.lifecycle.contributions import contributions_of
    from fairtrail.lifecycle.lineage import proof_status
    from fairtrail.lifecycle.models import resolve_model

    with STATE.open(writable=False) as trail:
        record = resolve_model(trail, model)
        found = contributions_of(trail, record)
        latest = trail.latest_checkpoint()
        size = latest[0].size if latest else 0
        rows = [{**c.to_dict(), "proof": proof_status(trail, c.index, size)} for c in found]
    if as_json:
        print_json({"model": record.name, "contributions": rows,
                    "share_total": f"{sum(c.share_bp for c in found if not c.via) / 100:.2f}"})
        return  # fmt: skip
    if not rows:
        STATE.out.print(f"{record.name}: no contribution recorded", markup=False)
    for r in rows:
        via = f" (through {' <- '.join(r['via'])})" if r["via"] else ""
        share = f"{r['share']}%" if r["share_bp"] else "no share"
        STATE.out.print(f"{r['contributor']}: {r['kind']} {r['ref'][:23]}… {share}{via}, "
                        f"entry {r['entry']}, {r['proof']}", markup=False)  # fmt: skip


def licences(
    model: Annotated[str, typer.Argument(help="The model: a file, name or ALG:HEX.")],
    use: Annotated[
        str | None, typer.Option(help="Judge for this use [default: the model's intended use].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Check the licences along the model's lineage against its use; exit 4 on a conflict,
    each shown with the path that causes it."""
    from fairtrail.lifecycle.licences import check_licences
    from fairtrail.lifecycle.models import resolve_model

    with STATE.open(writable=False) as trail:
        record = resolve_model(trail, model)
        found = check_licences(trail, record, use)
    used = use or str(record.predicate.get("use") or "commercial")
    if as_json:
        print_json({"model": record.name, "use": used,
                    "conflicts": [c.to_dict() for c in found]})  # fmt: skip
    else:
        for c in found:
            path = " <- ".join(f"{s['kind']} {s['name']} (entry {s['entry']})" for s in c.path)
            STATE.out.print(f"✗ {c.kind}: {c.message} [{c.licence or 'none'}]\n    {path}",
                            markup=False)  # fmt: skip
        if not found:
            STATE.out.print(f"✓ {record.name}: every licence along its lineage allows "
                            f"{used} use", markup=False)  # fmt: skip
    if found:
        raise PolicyDeniedError(f"{len(found)} licence conflict(s) for {used} use of {record.name}")


royalties_app = typer.Typer(
    help="A model's licence fees on chain, split by the recorded contribution shares.",
    no_args_is_help=True,
)
ChainOpt = Annotated[str | None, typer.Option(help="The chain [default: the only one].")]


@royalties_app.command("deploy")
def royalties_deploy(
    model: Annotated[str, typer.Argument(help="The model: a file, name or ALG:HEX.")],
    chain: ChainOpt = None,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Deploy the model's RoyaltySplit with the shares under the latest checkpoint."""
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.royalties import deploy_split

    with STATE.open() as trail:
        record = resolve_model(trail, model)
        receipt, address = deploy_split(
            trail, record, trail.config.chain(chain), STATE.signer(trail, actor, key)
        )
        payees = receipt.statement.predicate["payees"]
    split = ", ".join(f"{p['actor']} {p['share_bp'] / 100:g}%" for p in payees)
    STATE.out.print(f"RoyaltySplit for {record.name} at {address} ({split}); recorded at "
                    f"entry {receipt.index}", markup=False)  # fmt: skip


@royalties_app.command("pay")
def royalties_pay(
    model: Annotated[str, typer.Argument(help="The model: a file, name or ALG:HEX.")],
    wei: Annotated[int, typer.Option(help="The licence fee, in wei.")],
    payer: Annotated[str, typer.Option("--as", help="Whose chain key pays.")],
    chain: ChainOpt = None,
) -> None:
    """Pay a licence fee into the model's RoyaltySplit."""
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.royalties import pay

    with STATE.open(writable=False) as trail:
        record = resolve_model(trail, model)
        tx = pay(trail, record, trail.config.chain(chain), payer, wei)
    STATE.out.print(f"paid {wei} wei for {record.name} ({tx})", markup=False)


@royalties_app.command("withdraw")
def royalties_withdraw(
    model: Annotated[str, typer.Argument(help="The model: a file, name or ALG:HEX.")],
    actor: Annotated[str, typer.Option("--as", help="The contributor withdrawing.")],
    chain: ChainOpt = None,
) -> None:
    """Withdraw what the contributor is owed from the model's RoyaltySplit."""
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.royalties import withdraw

    with STATE.open(writable=False) as trail:
        record = resolve_model(trail, model)
        wei, tx = withdraw(trail, record, trail.config.chain(chain), actor)
    STATE.out.print(f"{actor} withdrew {wei} wei from {record.name}'s royalties ({tx})",
                    markup=False)  # fmt: skip


@royalties_app.command("status")
def royalties_status(
    model: Annotated[str, typer.Argument(help="The model: a file, name or ALG:HEX.")],
    chain: ChainOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """What was paid in and out, per contributor, checked against the log (exit 3 if the
    contract does not hold the recorded shares and checkpoint)."""
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.royalties import split_status

    with STATE.open(writable=False) as trail:
        info = split_status(trail, resolve_model(trail, model), trail.config.chain(chain))
    if as_json:
        print_json(info)
        return
    out = STATE.out
    out.print(f"{info['model']}: RoyaltySplit {info['contract']} on {info['chain']}, shares "
              f"fixed at checkpoint {info['checkpoint']['size']} (matches the log)", markup=False)
    out.print(f"received {info['received']} wei, paid out {info['released']}, rounding "
              f"dust {info['dust']}", markup=False)  # fmt: skip
    for p in info["payees"]:
        out.print(f"  {p['actor']} {p['share_bp'] / 100:g}%: withdrew {p['released']} wei, "
                  f"owed {p['releasable']} ({p['address']})", markup=False)  # fmt: skip


def score(
    model: Annotated[str, typer.Argument(help="The model: a file, name or ALG:HEX.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The model's reputation score (0-100) from verifiable facts, with every component,
    its weight and the log entries it was computed from (formula: docs/cli.md)."""
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.reputation import model_score

    with STATE.open(writable=False) as trail:
        info = model_score(trail, resolve_model(trail, model))
    if as_json:
        print_json(info)
        return
    STATE.out.print(f"{info['model']['name']}: score {info['score']:.2f} / 100", markup=False)
    for name, c in info["components"].items():
        STATE.out.print(f"  {name:<13}{c['value']:.3f} x {c['weight']:>2}  {c['why']} "
                        f"(entries {c['entries'] or '-'})", markup=False)  # fmt: skip


def leaderboard(
    metric: Annotated[
        str, typer.Option(help="score, accuracy, demographic_parity_ratio or "
                               "equalized_odds_difference (lower is better).")  # fmt: skip
    ] = "score",
    model: Annotated[
        list[str] | None, typer.Option(help="Rank only these models (repeat).")
    ] = None,
    teams: Annotated[bool, typer.Option(help="Rank teams (who recorded the models).")] = False,
    publish: Annotated[
        str | None, typer.Option(help="Award the scores as AuditRegistry points on this chain.")
    ] = None,
    actor: ActorOpt = None,
    key: KeyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Rank models evaluated on the same data, label and sensitive attributes (others are
    refused: no apples-to-oranges comparison); with --publish, an auditor who approved
    them awards their scores on chain, where a quorum approves."""
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.reputation import leaderboard as rank
    from fairtrail.reputation import publish_points, team_scores

    with STATE.open(writable=publish is not None) as trail:
        if teams:
            team_rows = team_scores(trail)
            if as_json:
                print_json(team_rows)
            else:
                for r in team_rows:
                    STATE.out.print(f"{r['team']}: {r['score']:.2f} over {r['models']} "
                                    "model(s)", markup=False)  # fmt: skip
            return
        chosen = [resolve_model(trail, m) for m in model] if model else None
        board = rank(trail, chosen, metric)
        published = []
        if publish is not None:
            chain = trail.config.chain(publish)
            who = actor or trail.config.admin_name
            signer = STATE.signer(trail, actor, key)
            for row in board["rows"]:
                record = resolve_model(trail, row["digest"])
                published.append(publish_points(trail, record, chain, signer,
                                                trail.paths.eth_key(who)))  # fmt: skip
    if as_json:
        print_json({**board, "published": published})
        return
    c = board["cohort"]
    STATE.out.print(f"ranked by {metric}; all evaluated on {c['data'][:30]}… "
                    f"(label {c['label']}, by {', '.join(c['sensitive'])})", markup=False)
    for n, r in enumerate(board["rows"], 1):
        value = r[metric]
        shown = "undefined" if value is None else f"{value:.3f}"
        STATE.out.print(f"{n}. {r['model']}: {metric} {shown} (score {r['score']:.2f}, "
                        f"evaluation entry {r['evaluation']})", markup=False)  # fmt: skip
    for p in published:
        STATE.out.print(f"awarded {p['points']} points to {p['model']} on chain "
                        f"({p['transaction']})", markup=False)  # fmt: skip
