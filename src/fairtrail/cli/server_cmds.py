"""`fairtrail serve`, `fairtrail token create|list|revoke` and `fairtrail report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fairtrail.cli._context import STATE, print_json
from fairtrail.errors import ConfigError, InputError
from fairtrail.statements.actors import Role

token_app = typer.Typer(help="API tokens for writing through the server.", no_args_is_help=True)


def serve(
    db: Annotated[
        str | None,
        typer.Option(
            help="The log: sqlite:PATH (the trail's log.db) or postgresql://USER@HOST/DB; "
            "it must be the trail's own [default: the trail's]."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 7300,
    rate_limit: Annotated[
        float, typer.Option(help="Requests per second per client; 0: no limit.", min=0)
    ] = 200.0,
    burst: Annotated[int, typer.Option(help="Requests a client may burst.", min=1)] = 400,
    max_body: Annotated[int, typer.Option(help="Largest request body in bytes.", min=1024)] = (
        16 << 20
    ),
    witness: Annotated[
        Path | None, typer.Option(help="Also serve this witness folder at /witness/.")
    ] = None,
    checkpoint_interval: Annotated[
        float, typer.Option(help="Sign a checkpoint this often (s) when the log grew; 0: never.",
                            min=0)  # fmt: skip
    ] = 1.0,
    cosign_with: Annotated[
        list[str] | None,
        typer.Option(help="Registered witness to ask for a cosignature of each checkpoint."),
    ] = None,
    anchor_interval: Annotated[
        float, typer.Option(help="Anchor on every configured chain this often (s); 0: never.",
                            min=0)  # fmt: skip
    ] = 0.0,
    anchor_as: Annotated[
        str | None, typer.Option(help="Actor who signs Anchor statements [default: admin].")
    ] = None,
) -> None:
    """Serve the trail: REST API under /api/v1, the dashboard at /, OpenAPI at /openapi.json.
    The server is the trail's one writer while it runs."""
    import uvicorn

    from fairtrail._config import TrailConfig, TrailPaths
    from fairtrail.server import ServerConfig, create_app

    paths = TrailPaths(STATE.trail_path)
    config = TrailConfig.load(paths)
    if db is not None:
        if db.startswith("sqlite:"):
            want = Path(db.removeprefix("sqlite:")).resolve()
            if config.log_db is not None or want != paths.log_db.resolve():
                raise ConfigError(f"{db} is not this trail's log (it is {_log_of(config, paths)})")
        elif db != config.log_db:
            raise ConfigError(f"{db} is not this trail's log (it is {_log_of(config, paths)})")
    app = create_app(ServerConfig(
        trail=paths.root, rate_limit=rate_limit, burst=burst, max_body=max_body,
        lock_timeout=STATE.wait, witness=witness, checkpoint_interval=checkpoint_interval,
        cosign_with=tuple(cosign_with or ()), anchor_interval=anchor_interval,
        anchor_signer=anchor_as,
    ))  # fmt: skip
    STATE.err.print(
        f"fairtrail serving {config.origin} on http://{host}:{port}/ "
        f"(API /api/v1, OpenAPI /openapi.json)",
        markup=False,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", workers=1,
                timeout_graceful_shutdown=10)  # fmt: skip


def _log_of(config: object, paths: object) -> str:
    from fairtrail._config import TrailConfig, TrailPaths

    assert isinstance(config, TrailConfig) and isinstance(paths, TrailPaths)
    return config.log_db or f"sqlite:{paths.log_db}"


@token_app.command("create")
def token_create(
    actor: Annotated[str, typer.Argument(help="The actor the token writes as.")],
    role: Annotated[Role, typer.Option(help="The role the token acts in.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Make a token (printed once; only its hash is kept). Needs the trail folder."""
    from fairtrail.server.tokens import TokenStore

    with STATE.open(writable=False) as trail:
        known = trail.keyring.get(actor)
        if known is None:
            raise InputError(f"no actor named {actor!r} in this trail")
        if not known.has(role):
            raise InputError(f"{actor} does not hold the role {role.value}")
        with TokenStore.of_trail(trail.paths.root) as tokens:
            token, secret = tokens.create(actor, role)
    if as_json:
        print_json({"id": token.id, "actor": actor, "role": role.value, "token": secret})
        return
    STATE.err.print(f"token {token.id} for {actor} as {role.value} (shown once):", markup=False)
    STATE.out.print(secret, markup=False)


@token_app.command("list")
def token_list() -> None:
    """Every token: id, actor, role, when made, and when revoked."""
    from fairtrail.server.tokens import TokenStore

    with TokenStore.of_trail(STATE.open(writable=False).paths.root) as tokens:
        for t in tokens.list():
            state = f"revoked {t.revoked}" if t.revoked else "live"
            STATE.out.print(f"{t.id}  {t.actor}  {t.role.value}  {t.created}  {state}",
                            markup=False)  # fmt: skip


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token; a running server refuses it from the next request on."""
    from fairtrail.server.tokens import TokenStore

    with TokenStore.of_trail(STATE.open(writable=False).paths.root) as tokens:
        token = tokens.revoke(token_id)
    STATE.out.print(f"revoked token {token.id} ({token.actor} as {token.role.value})", markup=False)


def report(
    model: Annotated[str, typer.Argument(help="The model: a file, name or ALG:HEX.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="The report: FILE.html or FILE.pdf.")],
) -> None:
    """Write an audit report (model card, provenance, training, fairness tables and charts,
    reviews, policy results with citations, EU AI Act Annex IV mapping, monitoring, how to
    verify offline) and the evidence bundle beside it (FILE.bundle.json)."""
    from fairtrail.lifecycle.models import resolve_model
    from fairtrail.report import write_report

    if out.suffix.lower() not in (".html", ".htm", ".pdf"):
        raise InputError("the report is HTML or PDF: name it FILE.html or FILE.pdf")
    if not out.parent.is_dir():
        raise InputError(f"no folder {out.parent} to write the report in")
    with STATE.open(writable=False) as trail:
        bundle, left_out = write_report(trail, resolve_model(trail, model), out)
    STATE.out.print(f"wrote {out} and {bundle}", markup=False)
    if left_out:
        STATE.err.print(
            f"{len(left_out)} related entries are not under a checkpoint yet and are not in "
            "the bundle; run `fairtrail checkpoint` and write the report again",
            markup=False,
        )
