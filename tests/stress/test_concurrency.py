"""Many writers at once on several API workers: one total order, nothing lost, nothing forked.

8 writer processes append signed entries as fast as the server answers, one at a time and in
batches, against `multitude serve --workers 4` on PostgreSQL (2 workers on SQLite). Afterwards an
independent reader checks: indexes dense from 0, no entry twice, every acknowledged entry at the
index it was given, every checkpoint any writer saw consistent with the final one (RFC 9162
consistency proofs from the API), the live state digest equal to a replay of the leaves, and
`multitude check` passes.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import pytest

from tests.stress.clients import Outcome, audit, write
from tests.stress.server import run_check

pytestmark = pytest.mark.slow

WRITERS = 8
ENTRIES_EACH = 300
SECONDS = 150  # each writer stops here even if it has not sent all its entries


@pytest.mark.parametrize(("backend", "workers"), [("postgresql", 4), ("sqlite", 2)])
def test_concurrent_writers_get_one_dense_consistent_log(
    serve: Any, backend: str, workers: int, record_property: Any
) -> None:
    server = serve(backend, workers)
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with context.Pool(WRITERS) as pool:
        outcomes: list[Outcome] = pool.starmap(
            write, [(server.base, seed, ENTRIES_EACH, SECONDS) for seed in range(WRITERS)]
        )
    elapsed = time.monotonic() - started
    assert not [e for o in outcomes for e in o.errors], "transport errors or 5xx during the run"
    assert not [r for o in outcomes for r in o.refused], "a writer's own entry was refused"
    acked = sum(len(o.acked) for o in outcomes)
    assert acked == WRITERS * ENTRIES_EACH, f"only {acked} entries were acknowledged"

    figures = audit(server.base, outcomes)
    assert figures["size"] == acked + 1  # and the genesis
    checked = run_check(server.url)
    assert checked.returncode == 0, checked.stderr
    record_property("figures", {**figures, "seconds": round(elapsed, 1)})
    print(f"\n{backend}: {figures}, appends took {elapsed:.1f} s; {checked.stdout.strip()}")
