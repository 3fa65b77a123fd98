"""The FastAPI application factory: `create_app(settings)` builds one app over one database."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, Request
from fastapi.responses import StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import dashboard, problems
from api.events import EventHub
from api.routes import router
from api.schemas import Problem
from api.settings import Settings, default_log_key_path
from ledger.db import make_engine
from ledger.errors import LedgerError
from ledger.keys import read_key
from ledger.service import Ledger

DESCRIPTION = """
Multitude keeps a community's contributions and peer evaluations in an append-only, signed,
Merkle-tree log (RFC 9162), values them live with `backfeed/1`, and lets anyone verify both.

Every write is an entry signed by its author on their own machine: the API needs no passwords.
Errors are RFC 9457 problem documents. Amounts are decimal strings.
"""


class BodyLimit:
    """Refuse bodies over `limit` bytes early: by Content-Length, else while they stream in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = problems.response(
            problems.problem_body(
                413,
                "too-large",
                "Body too large",
                f"request bodies are limited to {self.limit} bytes",
            ),
            headers={"Connection": "close"},
        )
        await response({"type": "http"}, _nothing, send)


class _TooLarge(Exception):
    pass


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def _warm(ledger: Ledger) -> None:
    with contextlib.suppress(LedgerError):
        ledger.replayed_state()
    # What start-up made (modules, the replayed state: millions of objects on a large log)
    # lives as long as the server: keep the collector from walking it again and again.
    gc.freeze()


SWITCH_INTERVAL = 0.0002  # seconds; at the default 0.005, batch appends were 11 % slower


def create_app(settings: Settings | None = None, ledger: Ledger | None = None) -> FastAPI:
    settings = settings or Settings()
    if ledger is None:
        key_path = settings.log_key or default_log_key_path(settings.db)
        log_key = read_key(key_path) if key_path.exists() else None
        ledger = Ledger(make_engine(settings.db), log_key)
    hub = EventHub(ledger, settings.events_poll_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # A large batch has its signatures checked by a pool of processes while this one goes
        # on in Python: their results come back through the pool's threads, which would wait
        # up to the default 5 ms for the GIL each time. Hand it over sooner.
        sys.setswitchinterval(SWITCH_INTERVAL)
        await asyncio.to_thread(ledger.signatures.warm)
        await hub.start()
        # Replay the log into this worker's valuation state now, in the background, rather
        # than on its first append (a large log takes a while); appends wait for it anyway.
        warm = asyncio.create_task(asyncio.to_thread(_warm, ledger))
        yield
        warm.cancel()
        await hub.stop()

    app = FastAPI(
        title="Multitude",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.ledger = ledger
    app.state.events = hub
    problems.install(app)
    app.include_router(router)

    @app.get(
        "/v1/events",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/event-stream": {}}},
            400: {"model": Problem, "content": {"application/problem+json": {}}},
        },
        summary="Every append and the figures it changed, live (Server-Sent Events)",
    )
    async def events(
        request: Request,
        last_event_id: Annotated[str | None, Header()] = None,
        after: int | None = None,
    ) -> StreamingResponse:
        start = after
        if last_event_id is not None and last_event_id.strip().isdigit():
            start = int(last_event_id)
        return StreamingResponse(
            hub.stream(start),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    dashboard.mount(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


def app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory` workers: settings come from `MULTITUDE_*`."""
    os.environ.setdefault("MULTITUDE_DB", "sqlite:///multitude.db")
    return create_app(Settings())
