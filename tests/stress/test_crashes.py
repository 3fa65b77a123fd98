"""SIGKILL under load, 20 times in a row: no acknowledged entry lost, nothing half-written.

Writer threads append as fast as the server answers while the whole server (supervisor and
workers) is killed at random moments and restarted. After every kill `multitude check` runs on
the database exactly as the crash left it (a leaf without its checkpoint, tree nodes or
figures would fail it); after every restart every entry acknowledged so far is where the
server said. An entry whose request died with the server may be in the log or not, but only
once and whole.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.check import check
from ledger.db import make_engine
from ledger.errors import IntegrityError
from tests.stress.clients import Outcome, audit, read_log, write_until
from tests.stress.server import run_check

pytestmark = pytest.mark.slow

KILLS = 20
WRITERS = 2


# Two workers on PostgreSQL, where several processes share the ordering lock; one on SQLite,
# whose write lock orders appends either way, to keep the 20 restarts quick.
@pytest.mark.parametrize(("backend", "workers"), [("postgresql", 2), ("sqlite", 1)])
def test_sigkill_under_load_loses_no_acknowledged_entry(
    serve: Any, backend: str, workers: int
) -> None:
    server = serve(backend, workers)
    engine = make_engine(server.url)
    rng = random.Random(20261125)
    stop = threading.Event()
    outcomes: list[Outcome] = []
    writers = [
        threading.Thread(target=write_until, args=(server.base, seed, stop, outcomes))
        for seed in range(WRITERS)
    ]
    started = time.monotonic()
    for thread in writers:
        thread.start()
    kills = 0
    try:
        for _ in range(KILLS):
            acked_before = sum(len(o.acked) for o in outcomes)
            deadline = time.monotonic() + 30
            while sum(len(o.acked) for o in outcomes) == acked_before:  # under load, really
                assert time.monotonic() < deadline, "the writers made no progress in 30 s"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 1.0))
            server.kill()
            kills += 1
            try:
                check(engine)  # what `multitude check` runs, without a new interpreter
            except IntegrityError as exc:
                if backend == "sqlite":
                    keep = Path(tempfile.gettempdir()) / f"multitude-crash-{os.getpid()}"
                    shutil.copytree(server.workdir, keep, dirs_exist_ok=True)
                    print(f"\nthe crashed database is kept in {keep}")
                raise AssertionError(f"after kill {kills}: {exc}") from None
            server.start()
            acked = [ack for outcome in list(outcomes) for ack in list(outcome.acked)]
            log = read_log(server.base)  # every ack above came before it began
            for entry_id, index, _ in acked:
                assert index < log.size and log.ids[index] == entry_id, (
                    f"after kill {kills}: acknowledged entry {entry_id[:12]} at {index} lost"
                )
    finally:
        engine.dispose()
        stop.set()
        for thread in writers:
            thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in writers)
    assert not [r for o in outcomes for r in o.refused], "a writer was refused or died"
    figures = audit(server.base, outcomes)
    log = read_log(server.base)
    present = set(log.ids)
    unknown = [i for o in outcomes for i in o.unknown]
    landed = sum(1 for i in unknown if i in present)
    elapsed = time.monotonic() - started
    assert kills == KILLS
    checked = run_check(server.url)
    assert checked.returncode == 0, checked.stderr
    assert figures["size"] == figures["acked"] + landed + 1  # nothing else crept in
    print(
        f"\n{backend}: {kills} kills survived, {figures['acked']} entries acknowledged and "
        f"present, {len(unknown)} unanswered of which {landed} landed (once), log size "
        f"{figures['size']}, {elapsed:.0f} s; 5xx seen: {sum(o.status_5xx for o in outcomes)}"
    )
    assert httpx.get(f"{server.base}/v1/log/checkpoint", timeout=10).status_code == 200
