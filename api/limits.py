"""Limits for a public server: how many writes a client may send, and which other sites'
pages may call the API from a browser (CORS).

The write limit is a token bucket per client address, kept in this worker process's memory:
a client may send `per_minute` writes (`POST /v1/entries`, `POST /v1/entries/batch`; a batch is
one write) in a burst, and then one every `60 / per_minute` seconds. With several worker
processes (`serve --workers N`), each keeps its own buckets, so a client that the kernel spreads
over them may send up to N times as much. Reads are never limited. Past the limit the answer is
`429` with `Retry-After`, before the body is read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api import problems

WRITE_PATHS = frozenset({"/v1/entries", "/v1/entries/batch"})
MAX_CLIENTS = 10_000  # buckets kept before the full ones are dropped (a full bucket = none)


class WriteLimit:
    """ASGI middleware: at most `per_minute` writes a minute per client address (a burst of
    `per_minute`, then a steady rate); `per_minute` 0 lets everything through."""

    def __init__(
        self, app: ASGIApp, per_minute: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens a second
        self.clock = clock
        # address -> (tokens left, when counted). Only the event loop's thread touches it.
        self.buckets: dict[str, tuple[float, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.capacity > 0
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in WRITE_PATHS
        ):
            wait = self.take(_client(scope))
            if wait > 0:
                await self._refuse(send, wait)
                return
        await self.app(scope, receive, send)

    def take(self, client: str) -> float:
        """Spend one token of `client`'s; 0 when it had one, else the seconds until it will."""
        now = self.clock()
        tokens, then = self.buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.rate)
        if tokens < 1:
            self.buckets[client] = (tokens, now)
            return (1 - tokens) / self.rate
        if client not in self.buckets and len(self.buckets) >= MAX_CLIENTS:
            self._forget_full(now)
        self.buckets[client] = (tokens - 1, now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have filled up again: they hold nothing a new one would not."""
        self.buckets = {
            client: (tokens, then)
            for client, (tokens, then) in self.buckets.items()
            if tokens + (now - then) * self.rate < self.capacity
        }

    async def _refuse(self, send: Send, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        per_minute = int(self.capacity)
        response = problems.response(
            problems.problem_body(
                429,
                "too-many-writes",
                "Too many writes",
                f"this server takes at most {per_minute} writes a minute from one client "
                f"(a batch is one write: send entries in batches); retry in {seconds} s",
            ),
            headers={"Retry-After": str(seconds)},
        )
        await response({"type": "http"}, _nothing, send)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def _nothing() -> dict[str, str]:
    return {"type": "http.disconnect"}


def add_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Let the pages of `origins` (such as `https://dash.example.org`; `*` for any) call the API
    from a browser; none when empty. Nothing the API serves depends on cookies, so no
    credentials are allowed."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Last-Event-ID"],
        expose_headers=["Retry-After"],
        allow_credentials=False,
        max_age=600,
    )
