"""`GET /v1/events`: every append and the figures it changed, as Server-Sent Events.

One poller per worker process watches the log's size (woken at once by this worker's own
appends, and every `events_poll_seconds` for the other workers'), and each open stream reads
the new leaves from the database from its own cursor. The event id is the log index, so a
client that reconnects with `Last-Event-ID` gets exactly what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool

from ledger import repository as repo
from ledger.db import read_session
from ledger.entries import stored_leaf
from ledger.errors import LedgerError
from ledger.service import Ledger
from valuation import format_amount

KEEPALIVE_SECONDS = 15.0
CHUNK = 200

log = logging.getLogger(__name__)


class EventHub:
    """The log's size as this worker last saw it, and a signal to the streams when it grows.

    No lock is shared with the streams: everything here runs on the event loop's one thread,
    so a stream reads `size` and takes the current `_grown` event with no await between, then
    waits on that event alone. A stream that goes away (the client left, the server stops)
    is cancelled while it waits, holding nothing that another stream needs.
    """

    def __init__(
        self, ledger: Ledger, poll_seconds: float, keepalive_seconds: float = KEEPALIVE_SECONDS
    ) -> None:
        self.ledger = ledger
        self.poll_seconds = poll_seconds
        self.keepalive_seconds = keepalive_seconds
        self.size = 0
        self._grown = asyncio.Event()  # set, and replaced, each time `size` grows
        self._closing = asyncio.Event()  # set when the server stops: streams end
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Made anew on the loop that runs the app (a test may run one app on several loops).
        self._grown, self._closing = asyncio.Event(), asyncio.Event()
        self._task = asyncio.create_task(self._poll())

    def close(self) -> None:
        """End every open stream now (the server is stopping), cleanly, at an event boundary."""
        self._closing.set()

    async def stop(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def notify(self, size: int) -> None:
        """This worker appended: the log holds at least `size` entries. The streams learn it
        at once, with no query (the poll still finds what other workers append)."""
        self._grew(size)

    def _grew(self, size: int) -> None:
        if size > self.size:
            self.size = size
            grown, self._grown = self._grown, asyncio.Event()
            grown.set()

    async def _poll(self) -> None:
        failing = False
        while True:
            try:
                size = await run_in_threadpool(self._tree_size)
                failing = False
            except Exception as exc:  # the database is down: streams wait for it to return
                if not failing:
                    log.warning("events: cannot read the log's size (%s); retrying", exc)
                failing = True
                size = self.size
            self._grew(size)
            await asyncio.sleep(self.poll_seconds)

    def _tree_size(self) -> int:
        with read_session(self.ledger.engine) as session:
            return repo.tree_size(session)

    async def cursor_after(self, after: int | None) -> int:
        """Where a stream starts: after index `after`, or at the log's end when None (read
        before the stream starts, so that a database outage is a problem, not a broken stream)."""
        return (await run_in_threadpool(self._tree_size)) if after is None else after + 1

    async def stream(self, cursor: int) -> AsyncIterator[str]:
        """Every entry from index `cursor` on, live, until the client leaves or the server stops."""
        yield "retry: 1000\n\n"
        while not self._closing.is_set():
            grown = self._grown  # taken before `size` is read: no growth can slip between
            if cursor < self.size:
                try:
                    events = await run_in_threadpool(
                        self._events, cursor, min(self.size, cursor + CHUNK)
                    )
                except LedgerError:  # the database is away: wait for the next change
                    events = []
                for index, payload in events:
                    yield f"id: {index}\nevent: append\ndata: {payload}\n\n"
                    cursor = index + 1
                if events:
                    continue
            waiters = [
                asyncio.ensure_future(grown.wait()),
                asyncio.ensure_future(self._closing.wait()),
            ]
            try:
                done, _ = await asyncio.wait(
                    waiters, timeout=self.keepalive_seconds, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()
            if not done:
                yield ": keepalive\n\n"

    def _events(self, start: int, end: int) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        with read_session(self.ledger.engine) as session:
            changed: dict[int, list[dict[str, str]]] = {}
            for h in repo.history_of_leaves(session, start, end):
                changed.setdefault(h.idx, []).append(
                    {
                        "member": h.member,
                        "reputation": format_amount(h.reputation),
                        "tokens": format_amount(h.tokens),
                    }
                )
            for row in repo.leaves(session, start, end - start):
                entry, _ = stored_leaf(bytes(row.leaf))
                members = changed.get(row.idx, [])
                data: dict[str, Any] = {
                    "index": row.idx,
                    "id": row.entry_id,
                    "kind": row.kind,
                    "author": row.author,
                    "logged_at": row.logged_at,
                    "tree_size": row.idx + 1,
                    "members": members,
                    "contribution": entry["body"].get("contribution")
                    if row.kind == "evaluation.cast"
                    else (row.entry_id if row.kind == "contribution.submit" else None),
                }
                out.append((row.idx, json.dumps(data, separators=(",", ":"))))
        return out
