"""The REST API, version 1 (`/api/v1`). Reads are public; writes need a bearer token.

Proof and entry reads go to a read-only store of their own (no queue, no lock shared
with the sequencer); everything that needs the trail's index or keyring runs on the
sequencer thread (`TrailWorker.call`). Responses carry cache headers that say what may
be cached: entries and proofs at a fixed size never change (`immutable`), the latest
checkpoint changes within seconds.

Nothing here follows a URL found in a record: records are data, served as stored.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from fairtrail.crypto.canonical import parse_json
from fairtrail.crypto.dsse import Envelope
from fairtrail.errors import InputError, StatementError
from fairtrail.log import merkle
from fairtrail.log.store import MAX_ENTRY_BYTES, Store
from fairtrail.server._worker import TrailWorker
from fairtrail.server.tokens import ApiToken, TokenStore
from fairtrail.statements.actors import Role
from fairtrail.trail import Trail

T = TypeVar("T")

#: envelopes in one append request
MAX_BATCH = 1000
IMMUTABLE = "public, max-age=31536000, immutable"
_DIGEST = re.compile(r"^(sha256|sha512|blake3):[0-9a-f]{1,128}$")


class EntryRef(BaseModel):
    index: int
    leaf_hash: str = Field(description="hex SHA-256(0x00 || leaf)")


class AppendResult(BaseModel):
    entries: list[EntryRef]


class Entry(BaseModel):
    index: int
    leaf_hash: str
    envelope: dict[str, Any]


class InclusionProofOut(BaseModel):
    index: int
    size: int
    leaf_hash: str
    hashes: list[str] = Field(description="base64 RFC 9162 audit path")


class ConsistencyProofOut(BaseModel):
    old: int
    new: int
    hashes: list[str]


class LogInfo(BaseModel):
    origin: str
    size: int
    checkpoint_size: int
    vkey: str


class StatementRef(BaseModel):
    index: int
    predicate_type: str
    signer: str | None


class ErrorOut(BaseModel):
    error: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut}, 404: {"model": ErrorOut}, 429: {"model": ErrorOut},
}  # fmt: skip


def build_router(
    worker: TrailWorker, reader: Store, tokens: TokenStore, trail_root: Path
) -> APIRouter:
    router = APIRouter(prefix="/api/v1", responses=_ERRORS)
    origin, vkey = worker.call(lambda t: (t.config.origin, t.config.log_vkey)).result()

    async def on_trail(fn: Callable[[Trail], T]) -> T:
        return await asyncio.wrap_future(worker.call(fn))

    def bearer(authorization: str | None) -> ApiToken:
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, "a bearer token is needed to write",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        token = tokens.lookup(authorization.removeprefix("Bearer ").strip())
        if token is None:
            raise HTTPException(401, "unknown or revoked token",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        return token

    # ------------------------------------------------------------------ log

    @router.get("/log", response_model=LogInfo, tags=["log"])
    def log_info(response: Response) -> LogInfo:
        latest = reader.latest_checkpoint()
        response.headers["Cache-Control"] = "public, max-age=2"
        return LogInfo(
            origin=origin, size=reader.size, checkpoint_size=latest.size if latest else 0,
            vkey=vkey,
        )  # fmt: skip

    @router.get("/checkpoint", tags=["log"], response_class=Response,
                responses={200: {"content": {"text/plain": {}}}})  # fmt: skip
    async def checkpoint() -> Response:
        """The latest checkpoint as a C2SP signed note, with every cosignature kept."""

        def note(trail: Trail) -> bytes | None:
            latest = trail.store.latest_checkpoint()
            return None if latest is None else trail.cosigned_note(latest.size).to_bytes()

        body = await on_trail(note)
        if body is None:
            raise HTTPException(404, "no checkpoint yet")
        return Response(body, media_type="text/plain; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=2"})  # fmt: skip

    @router.get("/entries/{index}", response_model=Entry, tags=["log"])
    def entry(index: int, response: Response) -> Entry:
        if not 0 <= index < reader.size:
            raise HTTPException(404, f"no entry {index} (the log has {reader.size})")
        data = reader.entries(index, index + 1)[0]
        response.headers["Cache-Control"] = IMMUTABLE
        return Entry(index=index, leaf_hash=merkle.leaf_hash(data).hex(), envelope=parse_json(data))

    @router.get("/entries", response_model=list[Entry], tags=["log"])
    def entries(
        start: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[Entry]:
        size = reader.size
        end = min(size, start + limit)
        if start >= end:
            return []
        rows = reader.entries(start, end)
        return [Entry(index=start + i, leaf_hash=merkle.leaf_hash(d).hex(), envelope=parse_json(d))
                for i, d in enumerate(rows)]  # fmt: skip

    @router.post("/entries", response_model=AppendResult, status_code=201, tags=["log"],
                 responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                            413: {"model": ErrorOut}})  # fmt: skip
    async def append(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> AppendResult:
        """Append signed DSSE envelopes (one object, or `{"envelopes": [...]}`), all in
        one durable batch: the answer comes after the commit."""
        token = bearer(authorization)
        body = await request.body()
        value = parse_json(body, what="request body", max_bytes=len(body) + 1)
        items = value.get("envelopes") if isinstance(value, dict) and "envelopes" in value \
            else [value]  # fmt: skip
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            raise StatementError(f"send 1 to {MAX_BATCH} envelopes")
        envelopes = [_envelope(i, item) for i, item in enumerate(items)]
        receipts = await asyncio.wrap_future(worker.append(envelopes, token))
        return AppendResult(entries=[EntryRef(index=r.index, leaf_hash=r.leaf_hash.hex())
                                     for r in receipts])  # fmt: skip

    # --------------------------------------------------------------- proofs

    @router.get("/proofs/inclusion", response_model=InclusionProofOut, tags=["proofs"])
    def inclusion(
        index: Annotated[int, Query(ge=0)], size: Annotated[int, Query(ge=1)], response: Response
    ) -> InclusionProofOut:
        with reader.snapshot():
            hashes = reader.inclusion_proof(index, size)
            leaf = reader.leaf_hashes(index, index + 1)[0]
        response.headers["Cache-Control"] = IMMUTABLE
        return InclusionProofOut(index=index, size=size, leaf_hash=leaf.hex(),
                                 hashes=[_b64(h) for h in hashes])  # fmt: skip

    @router.get("/proofs/consistency", response_model=ConsistencyProofOut, tags=["proofs"])
    def consistency(
        old: Annotated[int, Query(ge=1)], new: Annotated[int, Query(ge=1)], response: Response
    ) -> ConsistencyProofOut:
        hashes = reader.consistency_proof(old, new)
        response.headers["Cache-Control"] = IMMUTABLE
        return ConsistencyProofOut(old=old, new=new, hashes=[_b64(h) for h in hashes])

    # ------------------------------------------------------------ statements

    @router.get("/statements", response_model=list[StatementRef], tags=["statements"])
    async def statements(
        subject: Annotated[str, Query(description="ALG:HEX, e.g. sha256:…", max_length=200)],
        predicate_type: Annotated[str | None, Query(max_length=300)] = None,
    ) -> list[StatementRef]:
        if not _DIGEST.match(subject.lower()):
            raise InputError("subject must be ALG:HEX (sha256, sha512 or blake3)")
        alg, _, value = subject.lower().partition(":")

        def find(trail: Trail) -> list[StatementRef]:
            found = (trail.indices_about({alg: value}, predicate_type) if predicate_type
                     else trail.indices_of_subject(alg, value))  # fmt: skip
            out = []
            for i in found[:1000]:
                _, st = trail.statement(i)
                out.append(StatementRef(index=i, predicate_type=st.predicate_type,
                                        signer=trail.signer_of(i)))  # fmt: skip
            return out

        return await on_trail(find)

    # ---------------------------------------------------------------- models

    def model_call(ref: str, fn: Callable[[Trail, Any], T]) -> Callable[[Trail], T]:
        from fairtrail.lifecycle.models import resolve_model

        def run(trail: Trail) -> T:
            try:
                record = resolve_model(trail, ref, files=False)  # a request names no files
            except InputError as exc:
                raise HTTPException(404, str(exc)) from None
            return fn(trail, record)

        return run

    @router.get("/models", tags=["models"])
    async def models() -> list[dict[str, Any]]:
        from fairtrail.overview import models_overview

        return await on_trail(models_overview)

    @router.get("/models/{ref}", tags=["models"])
    async def model_status(ref: str) -> dict[str, Any]:
        from fairtrail.policy import gates

        return await on_trail(model_call(ref, gates.status))

    @router.get("/models/{ref}/lineage", tags=["models"])
    async def model_lineage(ref: str) -> list[dict[str, Any]]:
        from fairtrail.lifecycle.lineage import lineage

        def run(trail: Trail, record: Any) -> list[dict[str, Any]]:
            alg, value = next(iter(record.digest.items()))
            return [n.to_dict() for n in lineage(trail, alg, value)]

        return await on_trail(model_call(ref, run))

    @router.get("/models/{ref}/decisions", tags=["models"])
    async def model_decisions(ref: str) -> list[dict[str, Any]]:
        from fairtrail.policy.decisions import decisions_of

        def run(trail: Trail, record: Any) -> list[dict[str, Any]]:
            return [{"entry": d.index, **d.predicate} for d in decisions_of(trail, record.digest)]

        return await on_trail(model_call(ref, run))

    @router.get("/models/{ref}/bundle", tags=["models"])
    async def model_bundle(ref: str) -> dict[str, Any]:
        """The model's evidence bundle (docs/bundle-format.md), for `verify-bundle`."""
        from fairtrail.evidence import export_bundle

        return await on_trail(model_call(ref, lambda t, r: export_bundle(t, r)[0]))

    @router.get("/models/{ref}/monitoring", tags=["monitoring"])
    async def model_monitoring(ref: str) -> dict[str, Any]:
        from fairtrail.monitoring import monitor_status

        def run(trail: Trail, record: Any) -> dict[str, Any]:
            try:
                return monitor_status(trail, record)
            except InputError as exc:
                raise HTTPException(404, str(exc)) from None

        return await on_trail(model_call(ref, run))

    @router.post("/models/{ref}/monitoring", tags=["monitoring"],
                 responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})  # fmt: skip
    async def model_monitoring_ingest(
        ref: str,
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        content_type: Annotated[str | None, Header()] = None,
    ) -> list[dict[str, Any]]:
        """Feed predictions (or late labels) as CSV (`text/csv`) or JSON lines
        (`application/x-ndjson`) into the model's monitoring windows, signed with the
        token actor's key held by the server. Answers with the windows recorded."""
        token = bearer(authorization)
        if token.role not in (Role.OPERATOR, Role.ADMIN):
            raise HTTPException(403, "monitoring data needs an operator or admin token")
        kind = (content_type or "").split(";")[0].strip().lower()
        suffix = {"text/csv": ".csv", "application/x-ndjson": ".jsonl",
                  "application/jsonl": ".jsonl"}.get(kind)  # fmt: skip
        if suffix is None:
            raise HTTPException(415, "send text/csv or application/x-ndjson")
        body = await request.body()
        digest = hashlib.sha256(body).hexdigest()

        def run(trail: Trail, record: Any) -> list[dict[str, Any]]:
            from fairtrail.monitoring import Monitor

            if trail.keyring.get(token.actor) is None:
                raise HTTPException(403, f"{token.actor} is not an actor of this trail")
            try:
                key = trail.actor_key(token.actor)
            except InputError:
                raise HTTPException(
                    403, f"the server holds no key for {token.actor}; ingest with the CLI"
                ) from None
            inbox = trail_root / "inbox"
            inbox.mkdir(mode=0o700, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=inbox) as tmp:
                path = Path(tmp) / f"{digest}{suffix}"
                path.write_bytes(body)
                with Monitor(trail, record, key) as monitor:
                    return monitor.feed(path).windows

        return await on_trail(model_call(ref, run))

    return router


def _envelope(position: int, item: Any) -> Envelope:
    if not isinstance(item, dict):
        raise StatementError(f"envelope {position} is not a JSON object")
    try:
        envelope = Envelope.model_validate(item)
    except Exception:
        raise StatementError(f"envelope {position} is not a valid DSSE envelope") from None
    if len(envelope.payload) > MAX_ENTRY_BYTES * 4 // 3 + 4:
        raise StatementError(f"envelope {position} is larger than {MAX_ENTRY_BYTES} bytes")
    return envelope


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
