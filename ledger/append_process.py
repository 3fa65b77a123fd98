"""One process appends for every worker: group commit across the API's worker processes.

With `serve --workers N`, each worker would otherwise run its own sequencer and take turns
with the others on the log's ordering lock: every turn then catches up the entries the others
appended and commits only its own few, so more workers meant fewer entries a commit (and on
PostgreSQL a convoy on the lock). Instead the workers hand every append to this process, whose
one sequencer (`ledger.sequencer`) shares each commit among all the requests waiting, whichever
worker they came in by, as Tessera's sequencer does. The workers still serve every read from
the database and their own replayed state.

The hand-off is `multiprocessing.connection` over a Unix socket, with an authentication key:
a worker sends the entries as JSON values and gets back, per entry, its `Appended` or its error.
An entry is acknowledged only once this process has committed it, as before; if the process
dies, the workers answer 503 until the server is restarted.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from ledger import errors
from ledger.appender import Appended
from ledger.errors import LedgerError, UnavailableError
from ledger.processes import hand_over_sooner

_ERRORS = {
    name: value
    for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, LedgerError)
}


def _encode(result: Appended | LedgerError) -> tuple[Any, ...]:
    if isinstance(result, Appended):
        return ("appended", result.id, result.index, result.logged_at, result.leaf_hash)
    return ("error", type(result).__name__, result.args, dict(vars(result)))


def _decode(value: tuple[Any, ...]) -> Appended | LedgerError:
    if value[0] == "appended":
        return Appended(*value[1:])
    _, name, args, attributes = value
    kind = _ERRORS.get(name, LedgerError)
    error = kind.__new__(kind)  # its own __init__ may take other arguments than args
    error.args = tuple(args)
    vars(error).update(attributes)
    return error


def serve_appends(url: str, log_key: Path, address: str, authkey: bytes, parent: int) -> None:
    """The append process's main: answer the workers' appends until the parent goes away."""
    from ledger.db import make_engine
    from ledger.keys import read_key
    from ledger.service import Ledger

    # The server's stop (a signal to the whole process group) is the supervisor's to handle:
    # it stops the workers first, then this process (`STOP`), so no append is cut short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(STOP, _stop)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    # One thread a worker connection waits for its group's commit here: wake it promptly.
    hand_over_sooner()
    ledger = Ledger(make_engine(url), read_key(log_key))
    try:
        # Listening before the replay: a worker's first append waits for it, as it would
        # wait for its own.
        with Listener(address, family="AF_UNIX", authkey=authkey) as listener:
            ledger.signatures.warm()
            # An empty log, or the database away: the appends will say so.
            with contextlib.suppress(LedgerError):
                ledger.replayed_state()
            while True:
                try:
                    connection = listener.accept()
                except (OSError, EOFError, multiprocessing.AuthenticationError):
                    continue  # a worker that failed to authenticate, or went away at once
                threading.Thread(target=_answer, args=(ledger, connection), daemon=True).start()
    except _Stopped:
        pass
    finally:
        ledger.signatures.stop()
        ledger.engine.dispose()


STOP = signal.SIGUSR1


class _Stopped(BaseException):
    pass


def _stop(_signal: int, _frame: Any) -> None:
    raise _Stopped


class AppendProcess:
    """The append process of a server, started by `serve` before its workers."""

    def __init__(self, url: str, log_key: Path) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="multitude-"))
        self.address = str(self.directory / "appends.sock")
        self.authkey = os.urandom(32)
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(
            target=serve_appends,
            args=(url, log_key, self.address, self.authkey, os.getpid()),
            name="multitude-appends",
        )
        self.process.start()
        deadline = time.monotonic() + 60
        while not Path(self.address).exists():
            if not self.process.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise UnavailableError("the append process did not start")
            time.sleep(0.02)

    def environment(self) -> dict[str, str]:
        """What the workers' settings read (api.settings.Settings)."""
        return {"MULTITUDE_APPENDS": self.address, "MULTITUDE_APPENDS_KEY": self.authkey.hex()}

    def stop(self) -> None:
        if self.process.pid is not None and self.process.is_alive():
            os.kill(self.process.pid, STOP)
            self.process.join(15)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        shutil.rmtree(self.directory, ignore_errors=True)


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)  # the supervisor was killed: nothing here outlives it


def _answer(ledger: Any, connection: Connection) -> None:
    with connection:
        while True:
            try:
                entries = connection.recv()
            except (EOFError, OSError):
                return
            try:
                reply: Any = [_encode(result) for result in ledger.append(entries)]
            except LedgerError as exc:
                reply = ("raise", _encode(exc))
            connection.send(reply)


class RemoteAppends:
    """A worker's side: appends sent to the append process, over connections kept open (one
    per thread appending at a time)."""

    def __init__(self, address: str, authkey: bytes) -> None:
        self._address = address
        self._authkey = authkey
        self._idle: queue.SimpleQueue[Connection] = queue.SimpleQueue()

    def append(self, entries: Sequence[Any]) -> list[Appended | LedgerError]:
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = self._connect()
        try:
            connection.send(list(entries))
            reply = connection.recv()
        except (EOFError, OSError) as exc:
            connection.close()
            raise UnavailableError(f"the append process is not answering ({exc})") from None
        self._idle.put(connection)
        if isinstance(reply, tuple) and reply[0] == "raise":
            error = _decode(reply[1])
            assert isinstance(error, LedgerError)
            raise error
        return [_decode(value) for value in reply]

    def _connect(self) -> Connection:
        try:
            return Client(self._address, family="AF_UNIX", authkey=self._authkey)
        except (OSError, EOFError, multiprocessing.AuthenticationError) as exc:
            raise UnavailableError(f"the append process is not answering ({exc})") from None
