"""The FastAPI application factory: `create_app(settings)` builds one app over one database."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from types import FrameType
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import dashboard, docs, limits, problems
from api.events import EventHub
from api.limits import WriteLimit
from api.routes import router
from api.settings import Settings, default_log_key_path
from ledger.append_process import RemoteAppends
from ledger.db import make_engine
from ledger.errors import LedgerError
from ledger.keys import read_key
from ledger.processes import hand_over_sooner
from ledger.service import Ledger
from ledger.signatures import SignaturePool

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


class NoSniff:
    """`X-Content-Type-Options: nosniff` on every response: a browser must take JSON, problems
    and leaf bytes for what their Content-Type says, never guess them into HTML or a script."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-content-type-options" for name, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_nosniff)


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


def _on_stop_signals(callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` on the event loop when SIGINT or SIGTERM arrives, then let the server's
    own handler (uvicorn's) have the signal; return what puts the handlers back.

    uvicorn stops by waiting for every open response to end before it shuts the app down, and
    an event stream never ends by itself: without this, one open dashboard keeps a stopping
    server alive. Signals reach only the main thread (not an app run by a test client's).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[signal.Signals, Any] = {}

    def handler(number: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        before = previous[signal.Signals(number)]
        if callable(before):
            before(number, frame)
        elif before is not None:  # SIG_DFL or SIG_IGN: put it back and take the signal again
            signal.signal(number, before)
            os.kill(os.getpid(), number)

    for number in (signal.SIGINT, signal.SIGTERM):
        previous[number] = signal.signal(number, handler)

    def restore() -> None:
        for number, before in previous.items():
            signal.signal(number, before)

    return restore


# The threads the write routes wait in, each for the commit of its group (api.routes
# `_appending`): as many requests as this can share one commit.
APPEND_THREADS = 128


def create_app(settings: Settings | None = None, ledger: Ledger | None = None) -> FastAPI:
    settings = settings or Settings()
    # A ledger made here is this app's, with checker processes of its own that stop with it
    # (a server stopped by SIGTERM is killed by that signal once the app has shut down: what
    # is not stopped here is left to `resource_tracker`). A ledger given is the caller's.
    owned = ledger is None
    if ledger is None:
        key_path = settings.log_key or default_log_key_path(settings.db)
        log_key = read_key(key_path) if key_path.exists() else None
        appends = None
        if settings.appends is not None and settings.appends_key is not None:
            appends = RemoteAppends(settings.appends, bytes.fromhex(settings.appends_key))
        ledger = Ledger(
            make_engine(settings.db), log_key, signatures=SignaturePool(), appends=appends
        )
    hub = EventHub(ledger, settings.events_poll_seconds, settings.events_keepalive_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hand_over_sooner()
        if not ledger.appends_elsewhere:  # else the append process checks the signatures
            await asyncio.to_thread(ledger.signatures.warm)
        await hub.start()
        # Started as they are needed, one at a time; new with each start of the app.
        append_threads = ThreadPoolExecutor(APPEND_THREADS, thread_name_prefix="multitude-append")
        app.state.append_threads = append_threads
        # Replay the log into this worker's valuation state now, in the background, rather
        # than on its first append (a large log takes a while); appends wait for it anyway.
        warm = asyncio.create_task(asyncio.to_thread(_warm, ledger))
        restore = _on_stop_signals(hub.close)
        try:
            yield
        finally:
            restore()
            warm.cancel()
            await hub.stop()
            append_threads.shutdown(wait=False)
            if owned:
                await asyncio.to_thread(ledger.signatures.stop)

    app = FastAPI(
        title="Multitude",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # ours, served offline: api/docs.py
        redoc_url=None,  # FastAPI's loads from a CDN; /docs is enough
    )
    app.state.settings = settings
    app.state.ledger = ledger
    app.state.events = hub
    problems.install(app)
    app.include_router(router)

    @app.get(
        "/v1/events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **problems.documented(400)},
        tags=["events"],
        summary="Every append and the figures it changed, live (Server-Sent Events)",
        description="One event per append, with its index as the event id. A client that "
        "reconnects sends `Last-Event-ID` (or `after`) and receives what it missed.",
    )
    async def events(
        request: Request,
        last_event_id: Annotated[
            str | None,
            Header(
                description="The id of the last event received (a log index): the stream "
                "resumes after it. Anything but a decimal index is a 400 problem."
            ),
        ] = None,
        after: Annotated[
            int | None, Query(ge=0, le=2**53, description="resume after this log index")
        ] = None,
    ) -> StreamingResponse:
        start = after
        if last_event_id is not None:
            start = _event_id(last_event_id)
        cursor = await hub.cursor_after(start)
        return StreamingResponse(
            hub.stream(cursor),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    docs.mount(app)
    dashboard.mount(app)
    # The last added is the outermost: CORS headers and nosniff reach refusals too.
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(WriteLimit, per_minute=settings.write_limit_per_minute)
    limits.add_cors(app, settings.cors_origins)
    app.add_middleware(NoSniff)
    return app


def _event_id(value: str) -> int:
    """A `Last-Event-ID` this server wrote: a log index, in decimal digits and nothing else."""
    if not (value.isascii() and value.isdigit() and len(value) <= 16 and int(value) <= 2**53):
        raise problems.ProblemError(
            400,
            "bad-last-event-id",
            "Bad Last-Event-ID",
            f"Last-Event-ID must be the id of an event of this stream (a log index such as "
            f"41), not {value[:40]!r}; send none to start from now",
        )
    return int(value)


def app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory` workers: settings come from `MULTITUDE_*`."""
    os.environ.setdefault("MULTITUDE_DB", "sqlite:///multitude.db")
    return create_app(Settings())
