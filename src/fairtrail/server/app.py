"""`create_app`: the trail over HTTP (REST API, dashboard, optional witness).

The process holds the trail's writer lock for as long as it runs (a second server on
the same trail or database is refused: RELIABILITY C2). Errors are mapped to HTTP in
one place, `_error_response`: fairtrail's input errors become 4xx with their one-line
message; anything else becomes a 5xx whose body names no path, SQL or stack frame
(the details go to the server's own log at ERROR level, never to the client).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fairtrail.anchor.config import WitnessConfig
from fairtrail.anchoring import (
    WitnessOutcome,
    collect_cosignatures,
    keep_cosignatures,
    record_included,
    send_anchors,
)
from fairtrail.errors import (
    ConfigError,
    FairtrailError,
    InputError,
    PolicyDeniedError,
    StoreError,
    StoreLockedError,
    UnknownSignerError,
    VerificationError,
)
from fairtrail.server._limits import BodyLimit, RateLimit
from fairtrail.server._worker import AuthorizationError, TrailWorker
from fairtrail.server.api import build_router
from fairtrail.server.tokens import TokenStore
from fairtrail.trail import Trail

__all__ = ["ServerConfig", "create_app"]

_log = logging.getLogger("fairtrail.server")


@dataclass(frozen=True)
class ServerConfig:
    """How the server runs. Defaults suit one team on one machine."""

    trail: Path
    #: requests per second per client (bearer token, else address); 0 turns limits off
    rate_limit: float = 200.0
    burst: int = 400
    #: the largest request body accepted (an append batch of 1,000 envelopes fits)
    max_body: int = 16 << 20
    #: seconds to wait for another writer to let go of the trail when starting
    lock_timeout: float = 0.0
    #: a witness folder (`fairtrail witness init`) to serve at /witness/add-checkpoint
    witness: Path | None = None
    #: sign a checkpoint this often (seconds) when the log has grown; 0: never (the
    #: server holds the writer lock, so `fairtrail checkpoint` cannot run beside it)
    checkpoint_interval: float = 1.0
    #: registered witnesses (`fairtrail witness add`) asked to cosign each new checkpoint
    cosign_with: tuple[str, ...] = ()
    #: anchor the latest checkpoint on every configured chain this often (seconds); 0: never
    anchor_interval: float = 0.0
    #: the actor whose key (in the trail's keys folder) signs Anchor statements
    anchor_signer: str | None = None


def _error_response(exc: Exception) -> JSONResponse:
    if isinstance(exc, AuthorizationError | UnknownSignerError):
        return JSONResponse({"error": _one_line(exc)}, status_code=403)
    if isinstance(exc, PolicyDeniedError):
        return JSONResponse({"error": _one_line(exc)}, status_code=409)
    if isinstance(exc, StoreLockedError | StoreError):
        _log.error("store error: %s", exc)
        return JSONResponse(
            {"error": "the log store is unavailable; try again later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, InputError):
        return JSONResponse({"error": _one_line(exc)}, status_code=400)
    if isinstance(exc, VerificationError):
        _log.error("verification failed: %s", exc)
        return JSONResponse(
            {"error": "the log failed a self-check; its operator must run `fairtrail verify`"},
            status_code=500,
        )
    _log.error("internal error", exc_info=exc)
    return JSONResponse({"error": "internal error"}, status_code=500)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]


def _checkpoint_if_grown(trail: Trail) -> bool:
    """Sign a checkpoint when the log has grown since the last one; True if it did."""
    latest = trail.store.latest_checkpoint()
    if latest is None or latest.size < trail.store.size:
        trail.checkpoint()
        return True
    return False


def _ask_witnesses(root: Path, witnesses: list[WitnessConfig]) -> list[WitnessOutcome]:
    with Trail.open(root, writable=False) as view:
        return collect_cosignatures(view, witnesses)


def _anchor(trail: Trail, signer: str) -> None:
    """Anchor the latest checkpoint on every chain (a short wait for inclusion: the
    queue picks up the rest next round) and record Anchor statements for what landed.

    A checkpoint that adds nothing but Anchor statements since the last anchored one is
    not anchored again: otherwise each Anchor statement would call for another anchor."""
    from fairtrail.anchor.queue import AnchorQueue
    from fairtrail.anchoring import ANCHOR_PREDICATE

    latest = trail.store.latest_checkpoint()
    if latest is None:
        return
    with AnchorQueue(trail.paths.anchors_db) as queue:
        anchored = min((max((r.size for r in queue.rows(c.name)), default=0)
                        for c in trail.config.chains), default=0)  # fmt: skip
    if anchored < latest.size:
        news = set(range(anchored, latest.size)) - set(trail.indices_of_type(ANCHOR_PREDICATE))
        if news:
            send_anchors(trail, list(trail.config.chains), wait=2.0)
    record_included(trail, trail.actor_key(signer))


def _warm_up(trail: Trail) -> None:
    import fairtrail.evidence
    import fairtrail.monitoring
    import fairtrail.overview
    from fairtrail.report import render

    render("entry.html", index=0, statement={"predicateType": ""}, signer="", proof=None,
           statement_text="", leaf_hash="", origin="")  # fmt: skip
    del fairtrail.evidence, fairtrail.monitoring, fairtrail.overview


def create_app(config: ServerConfig) -> FastAPI:
    """The ASGI app. Opening the trail (and taking its writer lock) happens here, so a
    refused start is an error before the server listens."""
    trail = Trail.open(config.trail, lock_timeout=config.lock_timeout)
    try:
        witnesses = [w for w in trail.config.witnesses if w.name in config.cosign_with]
        unknown = set(config.cosign_with) - {w.name for w in witnesses}
        if unknown:
            raise ConfigError(f"no registered witness named {sorted(unknown)[0]!r}; add it "
                              "with `fairtrail witness add`")  # fmt: skip
        if config.anchor_interval > 0 and not trail.config.chains:
            raise ConfigError("--anchor-interval needs a chain; add one with `fairtrail chain add`")
        reader = trail.reader_store()
        tokens = TokenStore.of_trail(trail.paths.root)
    except BaseException:
        trail.close()
        raise
    worker = TrailWorker(trail)
    worker.call(_warm_up).result()  # imports and templates now, not on the first page view
    witness = None
    if config.witness is not None:
        from fairtrail.anchor.witness import Witness

        witness = Witness(config.witness)


    async def checkpoints() -> None:
        while True:
            await asyncio.sleep(config.checkpoint_interval)
            try:
                signed = await asyncio.wrap_future(worker.call(_checkpoint_if_grown))
                if signed and witnesses:
                    # witnesses are asked off the sequencer thread, from a read-only view
                    # of the log, so a slow witness never holds up appends
                    outcomes = await asyncio.to_thread(_ask_witnesses, config.trail, witnesses)
                    keep = functools.partial(keep_cosignatures, outcomes=outcomes)
                    await asyncio.wrap_future(worker.call(keep))
                    for o in outcomes:
                        if not o.ok:
                            _log.error("witness %s did not cosign: %s", o.witness, o.detail)
            except Exception as exc:  # reported, and tried again next time
                _log.error("could not sign or cosign a checkpoint: %s", exc)

    async def anchors() -> None:
        signer = config.anchor_signer or trail.config.admin_name
        while True:
            await asyncio.sleep(config.anchor_interval)
            try:
                await asyncio.wrap_future(worker.call(lambda t: _anchor(t, signer)))
            except Exception as exc:  # the queue keeps the reason; tried again next time
                _log.error("could not anchor: %s", exc)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if config.checkpoint_interval > 0:
            tasks.append(asyncio.create_task(checkpoints()))
        if config.anchor_interval > 0:
            tasks.append(asyncio.create_task(anchors()))
        yield
        for task in tasks:
            task.cancel()
        worker.close()
        reader.close()
        tokens.close()
        if witness is not None:
            witness.close()

    app = FastAPI(
        title="fairtrail",
        summary="A tamper-evident, verifiable audit trail of AI models",
        version="1",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
    )

    @app.exception_handler(FairtrailError)
    async def on_fairtrail_error(_: Request, exc: FairtrailError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def on_bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse(
            {"error": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=422
        )

    @app.exception_handler(Exception)
    async def on_internal_error(_: Request, exc: Exception) -> JSONResponse:
        return _error_response(exc)

    app.include_router(build_router(worker, reader, tokens, trail.paths.root))
    from fairtrail.server.dashboard import build_dashboard

    app.include_router(build_dashboard(worker))
    if witness is not None:
        from fairtrail.anchor.witness_http import witness_app

        app.mount("/witness", witness_app(witness))
    # outermost first: refuse floods before reading bodies, then bound the bodies
    app.add_middleware(BodyLimit, max_bytes=config.max_body)
    if config.rate_limit > 0:
        app.add_middleware(RateLimit, rate=config.rate_limit, burst=config.burst)
    return app
