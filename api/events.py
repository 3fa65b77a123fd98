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


class EventHub:
    def __init__(self, ledger: Ledger, poll_seconds: float) -> None:
        self.ledger = ledger
        self.poll_seconds = poll_seconds
        self.size = 0
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def notify(self) -> None:
        self._wake.set()

    async def _poll(self) -> None:
        while True:
            try:
                size = await run_in_threadpool(self._tree_size)
            except LedgerError:
                size = self.size  # the database is down; streams wait for it to return
            if size != self.size:
                self.size = size
                async with self._changed:
                    self._changed.notify_all()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def _tree_size(self) -> int:
        with read_session(self.ledger.engine) as session:
            return repo.tree_size(session)

    async def stream(self, after: int | None) -> AsyncIterator[str]:
        cursor = (await run_in_threadpool(self._tree_size)) if after is None else after + 1
        yield "retry: 1000\n\n"
        while True:
            if cursor < self.size:
                events = await run_in_threadpool(
                    self._events, cursor, min(self.size, cursor + CHUNK)
                )
                for index, payload in events:
                    yield f"id: {index}\nevent: append\ndata: {payload}\n\n"
                    cursor = index + 1
                if events:
                    continue
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
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
