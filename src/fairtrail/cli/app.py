"""Root command, global options, and the one place errors become exit codes.

Exit codes: 0 success · 1 internal fault · 2 bad input or usage (nothing recorded) ·
3 verification failed (tampering or corruption found) · 4 refused by a policy gate ·
5 a chain or witness was unreachable or refused · 130 interrupted.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fairtrail.cli._context import STATE
from fairtrail.cli.audit_cmds import audit_app
from fairtrail.cli.bundle_cmds import export, verify_bundle
from fairtrail.cli.chain_cmds import anchor_app, approve, chain_app, witness_app
from fairtrail.cli.collab_cmds import (
    contribute,
    contributors,
    leaderboard,
    licences,
    royalties_app,
    score,
)
from fairtrail.cli.dataset_cmds import dataset_app
from fairtrail.cli.decision_cmds import decisions_app
from fairtrail.cli.keys import keys_app
from fairtrail.cli.lifecycle_cmds import import_app, lineage_cmd, model_app, run_app
from fairtrail.cli.log_cmds import register_log_commands
from fairtrail.cli.monitor_cmds import monitor_app
from fairtrail.cli.policy_cmds import deploy, policy_app, review, status
from fairtrail.cli.server_cmds import report, serve, token_app
from fairtrail.cli.subject_cmds import erase, subject_app
from fairtrail.cli.trace_cmds import trace_cmd
from fairtrail.cli.zk_cmds import zk_app
from fairtrail.errors import FairtrailError

app = typer.Typer(
    name="fairtrail",
    help="A tamper-evident, verifiable audit trail for AI models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    trail: Annotated[
        Path | None,
        typer.Option(
            "--trail", "-t", help="Trail folder [env FAIRTRAIL_TRAIL; default .fairtrail]"
        ),
    ] = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for another writer to finish.", min=0)
    ] = 10.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    if trail is not None:
        STATE.trail_path = trail
    STATE.wait = wait
    STATE.verbose = verbose


app.add_typer(keys_app, name="keys")
app.add_typer(dataset_app, name="dataset")
app.add_typer(model_app, name="model")
app.add_typer(run_app, name="run")
app.command("lineage")(lineage_cmd)
app.add_typer(import_app, name="import")
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")
app.add_typer(monitor_app, name="monitor")
app.command("review")(review)
app.command("deploy")(deploy)
app.command("status")(status)
app.add_typer(chain_app, name="chain")
app.add_typer(anchor_app, name="anchor")
app.command("approve")(approve)
app.add_typer(witness_app, name="witness")
app.add_typer(subject_app, name="subject")
app.add_typer(decisions_app, name="decisions")
app.command("trace")(trace_cmd)
app.command("erase")(erase)
app.command("export")(export)
app.command("verify-bundle")(verify_bundle)
app.command("serve")(serve)
app.add_typer(token_app, name="token")
app.command("report")(report)
app.command("contribute")(contribute)
app.command("contributors")(contributors)
app.command("licences")(licences)
app.add_typer(royalties_app, name="royalties")
app.command("score")(score)
app.command("leaderboard")(leaderboard)
app.add_typer(zk_app, name="zk")
register_log_commands(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `fairtrail` script; returns the exit code.

    Usage errors are reported by Typer itself (exit 2); fairtrail's own errors become
    one line on stderr with the exit code their class names.
    """
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        app(args=argv, prog_name="fairtrail")
    except SystemExit as exc:
        if exc.code == 130:  # Typer turns Ctrl-C into exit 130 before we see it
            err.print("interrupted; nothing partial was recorded")
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return 1
    except KeyboardInterrupt:
        err.print("interrupted; nothing partial was recorded")
        return 130
    except BrokenPipeError:  # `fairtrail log | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except FairtrailError as exc:
        if STATE.verbose:
            err.print(traceback.format_exc(), markup=False)
        err.print(f"error: {' '.join(str(exc).split())}", markup=False)
        return exc.exit_code
    except Exception as exc:  # a bug: keep the user's terminal readable, but say so
        if STATE.verbose:
            err.print(traceback.format_exc(), markup=False)
        err.print(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --verbose and report it)",
            markup=False,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
