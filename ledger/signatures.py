"""Checking a batch's signatures on other cores: the `SignaturePool` a `Ledger` holds.

`entries` says what a good signature is (pure); this module says where the checking runs. A
large batch has its signatures checked by helper processes while the caller goes on ordering
and valuing the first entries; a small one is checked here, sparing the hand-off. Threads
would not do: the caller's Python holds the GIL that each of PyNaCl's calls needs back.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from ledger.entries import Entry, forged, shaped, signature_error
from ledger.errors import EntryError, SignatureError
from ledger.processes import exit_with_parent

CHUNK = 64  # signatures sent to a checker at once


def _checker_processes() -> Executor | None:
    """One checker process per core but one; None on a single core."""
    if (os.cpu_count() or 1) < 2:
        return None
    context = multiprocessing.get_context("spawn")  # never fork a threaded server
    return ProcessPoolExecutor(
        (os.cpu_count() or 2) - 1,
        mp_context=context,
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    )


class SignaturePool:
    """Checker processes, started at the first large batch (or by `warm`).

    A checker that dies (killed, out of memory) has its chunk checked here instead, and a new
    pool is started next time; but a pool that broke before it ever worked (say, in a script
    that `spawn` cannot import again because it has no `if __name__ == "__main__":` guard) is
    not tried again: every batch is then checked here.
    """

    def __init__(self, start: Callable[[], Executor | None] = _checker_processes) -> None:
        self._start = start
        self._executor: tuple[int, Executor] | None = None  # (the pid that started it, it)
        self.worked = False  # whether a chunk was ever checked by a pool
        self.failed = False  # whether a pool broke before it ever worked

    def executor(self) -> Executor | None:
        """The running pool (started again in a forked child), or None to check here."""
        if self.failed:
            return None
        if self._executor is None or self._executor[0] != os.getpid():
            executor = self._start()
            if executor is None:
                return None
            self._executor = (os.getpid(), executor)
        return self._executor[1]

    def warm(self) -> None:
        """Start the checkers now rather than at the first large batch."""
        executor = self.executor()
        if executor is not None:
            try:
                executor.submit(int).result()
            except BrokenExecutor:
                self.broke()

    def stop(self) -> None:
        """Stop the checkers this process started, and wait for them: a server that stops
        leaves no process behind, nor the pool's semaphores for `resource_tracker` to find."""
        if self._executor is not None and self._executor[0] == os.getpid():
            self._executor[1].shutdown(wait=True, cancel_futures=True)
        self._executor = None

    def broke(self) -> None:
        """A checker died: start a new pool next time, unless no pool ever got to work."""
        self._executor = None
        if not self.worked:
            self.failed = True

    def check(self, values: Sequence[Any]) -> list[Unverified | EntryError]:
        """The shape and canonical bytes of each value, checked here, and its signature, being
        checked: `Unverified.verified()` waits for the verdict.

        The shapes and bytes are made here a chunk at a time, and each chunk is sent to the
        checkers as soon as it is made."""
        results: list[Unverified | EntryError | None] = [None] * len(values)
        executor = self.executor() if len(values) >= 2 * CHUNK else None
        items: list[tuple[int, bytes, bytes]] = []  # (position, signature + signed, key)
        made: list[tuple[int, Entry]] = []  # the entries of `items`

        def send() -> None:
            chunk = _Chunk(items, executor, self)
            for position, entry in made:
                results[position] = Unverified(entry, chunk, position)

        for position, data in enumerate(values):
            try:
                entry, signed = shaped(data)
            except EntryError as exc:
                results[position] = exc
                continue
            made.append((position, entry))
            items.append(
                (position, bytes.fromhex(data["sig"]) + signed, bytes.fromhex(data["author"]))
            )
            if len(items) == CHUNK:
                send()
                items, made = [], []
        if items:
            send()
        checked = [item for item in results if item is not None]
        assert len(checked) == len(values)
        return checked


_shared: SignaturePool | None = None


def shared_pool() -> SignaturePool:
    """The process's pool, which every `Ledger` not given its own shares: one set of checker
    processes a process, however many logs it opens."""
    global _shared
    if _shared is None:
        _shared = SignaturePool()
    return _shared


@dataclass(frozen=True, slots=True)
class Unverified:
    """An entry of the right shape whose signature is being checked by a `SignaturePool`."""

    entry: Entry
    _chunk: _Chunk
    _position: int

    def verified(self) -> Entry | SignatureError:
        """The entry once its signature is checked (waiting for it), or the refusal."""
        if self._position in self._chunk.forged():
            return signature_error(self.entry.author)
        return self.entry


class _Chunk:
    """Signatures to check, sent to the pool (or checked at once without one)."""

    __slots__ = ("_bad", "_future", "_items", "_pool")

    def __init__(
        self,
        items: list[tuple[int, bytes, bytes]],
        executor: Executor | None,
        pool: SignaturePool,
    ) -> None:
        self._items = items
        self._pool = pool
        self._future: Future[list[int]] | None = (
            None if executor is None else executor.submit(forged, items)
        )
        self._bad: list[int] | None = forged(items) if executor is None else None

    def forged(self) -> list[int]:
        """The positions whose signature does not verify."""
        if self._bad is None:
            assert self._future is not None
            try:
                self._bad = self._future.result()
            except BrokenExecutor:  # a checker died (killed, out of memory): check here
                self._pool.broke()
                self._bad = forged(self._items)
            else:
                self._pool.worked = True
        return self._bad
