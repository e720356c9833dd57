"""Bounded request bodies and per-client rate limits, as plain ASGI middleware.

Bodies: a declared Content-Length over the limit is refused before a byte is read,
and a streamed body is counted as it arrives and cut off at the limit (413).
Rate limits: a token bucket per client, keyed by the bearer token when there is one
(clients behind one address stay apart) and by the peer address otherwise. An empty
bucket answers 429 with Retry-After, before any work is done.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "RateLimit"]


async def _refuse(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await _refuse(send, 413, f"request body over {self.max_bytes} bytes", {})
                    return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _refuse(send, 413, f"request body over {self.max_bytes} bytes", {})


class RateLimit:
    """`rate` requests per second per client, bursts up to `burst` (0 turns it off)."""

    _MAX_CLIENTS = 10_000  # buckets kept; the least recently seen are forgotten

    def __init__(self, app: ASGIApp, rate: float, burst: int) -> None:
        self.app, self.rate, self.burst = app, rate, max(1, burst)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _client(self, scope: Scope) -> str:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                return "t:" + hashlib.sha256(value).hexdigest()[:32]
        peer: Any = scope.get("client")
        return f"a:{peer[0] if peer else '?'}"

    def _take(self, client: str) -> float:
        """0 if a request may go now, else the seconds until one may."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self._MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rate <= 0:
            await self.app(scope, receive, send)
            return
        wait = self._take(self._client(scope))
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            await _refuse(send, 429, "too many requests; slow down", {"retry-after": retry})
            return
        await self.app(scope, receive, send)
