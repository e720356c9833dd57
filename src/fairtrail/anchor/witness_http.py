"""The witness over HTTP: `POST /add-checkpoint` (c2sp.org/tlog-witness), FastAPI.

Bodies are read with a hard cap before anything is parsed; the protocol itself is in
`witness.Witness.add_checkpoint`. Requests are handled one at a time by the witness's
own SQLite transaction, so concurrent submissions are safe.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from fairtrail.anchor.witness import MAX_BODY_BYTES, Witness

__all__ = ["witness_app"]


def witness_app(witness: Witness) -> FastAPI:
    app = FastAPI(
        title="fairtrail witness",
        summary="C2SP tlog-witness: cosigns checkpoints consistent with what it saw",
        docs_url=None,
        redoc_url=None,
    )

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            return Response(b"request body too large\n", status_code=413, media_type="text/plain")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return Response(
                    b"request body too large\n", status_code=413, media_type="text/plain"
                )
        answer = witness.add_checkpoint(bytes(body))
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)

    @app.get("/vkey")
    def vkey() -> Response:
        """The witness's cosigner verifier key, for operators setting it up."""
        return Response(witness.vkey + "\n", media_type="text/plain")

    return app
