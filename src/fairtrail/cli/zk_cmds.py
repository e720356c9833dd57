"""`fairtrail zk setup|prove-audit|prove-decision|verify|status`: zero-knowledge proofs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fairtrail.cli._context import STATE, ActorOpt, KeyOpt, print_json
from fairtrail.errors import InputError, UnknownSignerError

if TYPE_CHECKING:
    from fairtrail.trail import Trail

zk_app = typer.Typer(
    no_args_is_help=True,
    help="Prove a model's audited predictions and decisions without revealing its weights.",
)

_TRUST = Annotated[
    list[str] | None, typer.Option(help="A skops type to trust when loading the model.")
]


def _known_signer(trail: Trail, actor: str | None, key: Path | None) -> None:
    signer = STATE.signer(trail, actor, key)
    if trail.keyring.by_key(signer.public) is None:
        raise UnknownSignerError("the signing key is not an actor of this trail")


def _model_file(path: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise InputError(
            f"{path}: give the model's file (a recorded .skops model): the circuit is built "
            "from its weights"
        )
    return file


@zk_app.command("setup")
def setup(
    model: Annotated[str, typer.Argument(help="The recorded model's .skops file.")],
    data: Annotated[Path, typer.Option(help="Rows to calibrate the circuit on (CSV/Parquet).")],
    batch: Annotated[int, typer.Option(help="Predictions per proof.", min=1, max=1000)] = 100,
    srs: Annotated[
        Path | None,
        typer.Option(help="An SRS file from a public ceremony [default: generate one, for "
                          "testing only]."),  # fmt: skip
    ] = None,
    trust: _TRUST = None,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Build the model's circuit with its weights hashed, and record a ZkCircuit statement."""
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.zk.circuits import setup_circuit

    file = _model_file(model)
    with STATE.open() as trail:
        record = resolve_model(trail, file)
        signer = STATE.signer(trail, actor, key)
        with STATE.err.status("building the circuit") as status:
            receipt, circuit = setup_circuit(
                trail, record, file, data, signer, batch=batch, srs=srs,
                trusted_types=tuple(trust or ()), progress=lambda s: status.update(s),
            )  # fmt: skip
    p = circuit.predicate
    f = p["fidelity"]
    STATE.out.print(
        f"recorded ZkCircuit for {record.name} at entry {receipt.index}: "
        f"{p['network']['kind']}, {len(p['featurizer']['features'])} features, batch {batch}, "
        f"2^{p['settings']['logrows']} rows; weight commitment "
        f"{p['weightCommitment']['poseidon'][:16]}…; "
        f"fidelity on {f['rows']} rows: max error {f['maxAbsError']:.2e}, {f['flips']} flipped",
        markup=False,
    )  # fmt: skip
    if srs is None:
        STATE.out.print("the SRS was generated locally: for testing only (use --srs FILE from a "
                        "public ceremony in production)", markup=False)  # fmt: skip


@zk_app.command("prove-audit")
def prove_audit(
    model: Annotated[
        str, typer.Argument(help="The recorded model: its .skops file, name or ALG:HEX.")
    ],
    data: Annotated[Path, typer.Option(help="The data the Evaluation audited.")],
    trust: _TRUST = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the ZkProof predicate.")] = False,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Prove every prediction of the model's latest Evaluation, batch by batch, and record
    the proofs linked to it (with the fairness report recomputed from them)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.zk.proofs import counter, plan_audit, prove_batches, record_audit

    file = Path(model) if Path(model).is_file() else None
    # read, prove, then record: the writer lock is held only for the last step
    with STATE.open(writable=False) as trail:
        record = resolve_model(trail, model)
        _known_signer(trail, actor, key)  # fails before minutes of proving, not after
        plan = plan_audit(trail, record, data, model_file=file, trusted_types=tuple(trust or ()))
    bar = Progress(TextColumn("proving"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=STATE.err, transient=True)  # fmt: skip
    with bar:
        task = bar.add_task("prove", total=len(plan.x))
        batches = prove_batches(plan.circuit, plan.x, counter(
            len(plan.x), lambda done, total: bar.update(task, completed=done)))  # fmt: skip
    with STATE.open() as trail:
        receipt, p = record_audit(trail, plan, batches, STATE.signer(trail, actor, key))
    if as_json:
        print_json({"entry": receipt.index, **p})
        return
    for line in audit_summary(receipt.index, p):
        STATE.out.print(line, markup=False)


def audit_summary(entry: int, p: dict[str, Any]) -> list[str]:
    """What `zk prove-audit` prints of the ZkProof predicate `p` recorded at `entry`."""
    a, f, report = p["agreement"], p["fidelity"], p["report"]
    lines = [
        f"recorded ZkProof at entry {entry}: {p['rows']} predictions of Evaluation "
        f"{p['evaluation']['entry']} proven in {len(p['batches'])} proof(s), "
        f"{p['proving']['seconds']:.1f} s, {p['proving']['proofBytes'] // 1024} KiB; "
        f"{a['same']} of {a['rows']} equal the Evaluation's"
        + (f"; max error {f['maxAbsError']:.2e}, {f['flips']} flipped" if f else "")
    ]  # fmt: skip
    compared = list(report["groups_compared"])  # the group labels, as in an Evaluation
    if len(compared) < 2:
        lines.append("fairness from the proven predictions: fewer than two groups are large "
                     "enough to compare")  # fmt: skip
        return lines
    shown = ", ".join(f"{k} {v:.3f}" for k, v in report["disparities"].items()
                      if isinstance(v, float) and k.startswith(("demographic", "equalized")))
    lines.append(f"fairness from the proven predictions ({len(compared)} groups compared: "
                 f"{', '.join(map(str, compared))}): {shown}")  # fmt: skip
    return lines


@zk_app.command("prove-decision")
def prove_decision(
    decision_id: Annotated[str, typer.Argument(help="The recorded decision's id.")],
    model: Annotated[
        str | None, typer.Option(help="The model's .skops file, to report the float error.")
    ] = None,
    trust: _TRUST = None,
    actor: ActorOpt = None,
    key: KeyOpt = None,
) -> None:
    """Prove that the committed model gives the recorded output for one decision (its input
    comes from the vault and stays private), and record the proof."""
    from fairtrail.zk.proofs import plan_decision, prove_batches, record_decision

    file = _model_file(model) if model is not None else None
    with STATE.open(writable=False) as trail:
        _known_signer(trail, actor, key)
        plan = plan_decision(trail, decision_id, model_file=file, trusted_types=tuple(trust or ()))
    with STATE.err.status("proving"):
        (batch,) = prove_batches(plan.circuit, plan.x)
    with STATE.open() as trail:
        receipt, p = record_decision(trail, plan, batch, STATE.signer(trail, actor, key))
    STATE.out.print(
        f"recorded ZkProof at entry {receipt.index}: decision {decision_id} -> "
        f"{p['decision']['proven']!r} proven for {p['model']['name']} in "
        f"{p['proving']['seconds']:.1f} s ({p['proving']['proofBytes'] // 1024} KiB)",
        markup=False,
    )


@zk_app.command("verify")
def verify(
    entry: Annotated[int, typer.Argument(help="The ZkProof statement's entry.", min=0)],
) -> None:
    """Verify a recorded ZkProof against its circuit's key and commitments; exit 3 if not."""
    from fairtrail.zk.local import verify_entry

    with STATE.open(writable=False) as trail:
        p, seconds = verify_entry(trail, entry)
    STATE.out.print(f"ZkProof {entry}: {len(p['batches'])} proof(s) of {p['rows']} "
                    f"prediction(s) verify ({seconds * 1000:.0f} ms)", markup=False)  # fmt: skip


@zk_app.command("status")
def status(
    model: Annotated[str, typer.Argument(help="The recorded model: a file, name or ALG:HEX.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The model's circuits and proofs, with their fidelity and coverage."""
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.zk.facts import zk_facts

    with STATE.open(writable=False) as trail:
        facts = zk_facts(trail, resolve_model(trail, model))
    if as_json:
        print_json(facts)
        return
    for k, v in facts.items():
        STATE.out.print(f"{k}: {v}", markup=False)


@zk_app.command("check-input")
def check_input(
    receipt: Annotated[Path, typer.Argument(help="Your receipt, with its salt and input.")],
    bundle: Annotated[Path, typer.Option(help="The model's evidence bundle.")],
) -> None:
    """Offline, for the data subject: the bundle verifies and the proof of your decision was
    made on your input; exit 3 if not."""
    from fairtrail.zk.subject import check_subject_input

    for path in (receipt, bundle):
        if not path.is_file():
            raise InputError(f"no such file: {path}")
    result = check_subject_input(receipt.read_bytes(), bundle.read_bytes())
    STATE.out.print(
        f"decision {result['decision']}: the bundle verifies and its ZkProof (entry "
        f"{result['entry']}) was made on your input; {result['model']} gives "
        f"{result['proven']!r} (recorded: {result['recorded']!r})",
        markup=False,
    )
