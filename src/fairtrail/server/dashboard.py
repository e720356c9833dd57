"""The dashboard: server-rendered HTML pages over the same data as the API.

Why server-rendered (Jinja2 + inline SVG) rather than a built front end: the pages are
evidence, so they should show the same thing with JavaScript off, load nothing from
elsewhere, and be as easy to audit as the API; there is no bundle, no npm build and
no client state to go stale. Every page is rendered on the sequencer thread from
`fairtrail.overview`, which decides nothing the CLI does not.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse

from fairtrail.errors import InputError
from fairtrail.server._worker import TrailWorker
from fairtrail.trail import Trail

__all__ = ["build_dashboard"]

T = TypeVar("T")


def build_dashboard(worker: TrailWorker) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def page(fn: Callable[[Trail], str]) -> HTMLResponse:
        html = await asyncio.wrap_future(worker.call(fn))
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    @router.get("/", response_class=HTMLResponse)
    async def models() -> HTMLResponse:
        from fairtrail.overview import models_overview
        from fairtrail.report import render

        def run(trail: Trail) -> str:
            return render("models.html", models=models_overview(trail),
                          origin=trail.config.origin, size=trail.store.size)  # fmt: skip

        return await page(run)

    @router.get("/models/{ref}", response_class=HTMLResponse)
    async def model(ref: str) -> HTMLResponse:
        from fairtrail.lifecycle.models import resolve_model
        from fairtrail.overview import model_overview
        from fairtrail.report import render
        from fairtrail.report.render import model_context

        def run(trail: Trail) -> str:
            try:
                record = resolve_model(trail, ref, files=False)  # a request names no files
            except InputError as exc:
                raise HTTPException(404, str(exc)) from None
            context = model_context(model_overview(trail, record))
            return render("model.html", origin=trail.config.origin, **context)

        return await page(run)

    @router.get("/verify", response_class=HTMLResponse)
    async def verify() -> HTMLResponse:
        from fairtrail.overview import verification_overview
        from fairtrail.report import render

        def run(trail: Trail) -> str:
            return render("verify.html", v=verification_overview(trail), origin=trail.config.origin)

        return await page(run)

    @router.get("/entries/{index}", response_class=HTMLResponse)
    async def entry(index: int) -> HTMLResponse:
        from fairtrail.report import render

        def run(trail: Trail) -> str:
            if not 0 <= index < trail.store.size:
                raise HTTPException(404, f"no entry {index}")
            _, statement = trail.statement(index)
            latest = trail.latest_checkpoint()
            proof: dict[str, Any] | None = None
            if latest is not None and index < latest[0].size:
                p = trail.prove_inclusion(index, latest[0].size)
                p.verify()
                proof = {"size": latest[0].size, "hashes": p.hashes}
            leaf = trail.store.leaf_hashes(index, index + 1)[0]
            doc = statement.to_dict()
            text = json.dumps(doc, indent=2, ensure_ascii=False)
            return render("entry.html", index=index, statement=doc, signer=trail.signer_of(index),
                          statement_text=text, leaf_hash=leaf.hex(), proof=proof,
                          origin=trail.config.origin)  # fmt: skip

        return await page(run)

    return router
