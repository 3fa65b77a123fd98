"""The sequencer: appends that arrive while one is being committed share the next commit.

Tessera's sequencer assigns the next indexes under one lock; here the ordering lock is the
database's (see `ledger.db`), and what this module adds is the group commit: one thread at a
time leads, takes every waiting request (up to a batch's worth of entries), runs them in
order through the append step in one transaction, and hands each request its own results.
Each entry is still accepted or refused on its own, exactly as if the requests had come one
after another; they just share the commit, the checkpoint signature and the state root.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from ledger.errors import UnavailableError

Item = TypeVar("Item")
Result = TypeVar("Result")


class Sequencer(Generic[Item, Result]):
    """Runs `run` over the items of the requests that are waiting, in the order they came.

    `run` gets one list of items and returns one result for each, in order; if it raises,
    every request of its group gets the error."""

    def __init__(self, run: Callable[[list[Item]], list[Result]], limit: int) -> None:
        self._run = run
        self._limit = limit  # items a group holds at most (a larger request goes alone)
        self._group = threading.Condition()
        self._waiting: deque[_Request[Item, Result]] = deque()
        self._leading = False

    def commit(self, items: list[Item]) -> list[Result]:
        """The results of `items`, once the group they joined is committed."""
        return self._commit_group(_Request(items))

    def _commit_group(self, request: _Request[Item, Result]) -> list[Result]:
        with self._group:
            self._waiting.append(request)
            while request.results is None and request.error is None:
                if self._leading:
                    self._group.wait()
                    continue
                self._leading = True
                group: list[_Request[Item, Result]] = []
                count = 0
                while self._waiting and (
                    not group or count + len(self._waiting[0].items) <= self._limit
                ):
                    group.append(self._waiting.popleft())
                    count += len(group[-1].items)
                self._group.release()
                try:
                    self._run_group(group)
                finally:
                    self._group.acquire()
                    self._leading = False
                    self._group.notify_all()
        if request.error is not None:
            raise request.error
        assert request.results is not None
        return request.results

    def _run_group(self, group: list[_Request[Item, Result]]) -> None:
        items = [item for request in group for item in request.items]
        try:
            results = self._run(items)
        except BaseException as exc:
            for request in group:
                request.error = (
                    exc if isinstance(exc, Exception) else UnavailableError("append interrupted")
                )
            if not isinstance(exc, Exception):
                raise
            return
        position = 0
        for request in group:
            request.results = results[position : position + len(request.items)]
            position += len(request.items)


class _Request(Generic[Item, Result]):
    """One caller's items waiting for the next group commit."""

    __slots__ = ("error", "items", "results")

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.results: list[Result] | None = None
        self.error: Exception | None = None
