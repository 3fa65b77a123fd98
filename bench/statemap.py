"""State map benchmark (issue 15): what the state map costs on a large community's log.

    python -m bench.statemap [--events 1000000] [--members 20000] [--commits 2000]

Replays a generated community (bench/replay.py's, under the default algorithm), then prints,
each beside its goal:
- the state root of all records computed from nothing (start-up and `multitude verify`);
- a one-entry commit's state-map cost at that size: apply one entry, write the records it
  changed into the map and keep the version (`LiveMap.note` + `LiveMap.seal`), p50 and p99;
- a proof at the latest size, p50 and p99 (the HTTP route adds its own cost on top);
- what a proof at an old checkpointed size costs: a replay to that size and a build.
No database and no signing: the figures are the state map's own share of an append.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import valuation
from bench.backfeed2 import backfeed2_valuation
from bench.replay import community
from ledger.live_map import LiveMap
from valuation.statemap import StateMap


def _ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--commits", type=int, default=2_000, help="one-entry commits timed")
    args = parser.parse_args()

    events = list(community(args.events + args.commits, args.members, backfeed2_valuation(), 7))
    head, tail = events[: args.events], events[args.events :]
    started = time.perf_counter()
    state = valuation.replay(head)
    replayed = time.perf_counter() - started
    records = list(valuation.iter_records(state))
    print(
        f"log of {len(head):,} entries: {len(records):,} records "
        f"({state.member_count:,} members, {state.contribution_count:,} contributions); "
        f"replay {replayed:.1f} s"
    )

    started = time.perf_counter()
    live = LiveMap(state)
    live.seal(state)
    built = time.perf_counter() - started
    print(
        f"root from nothing:        {built:6.2f} s   ({1e6 * built / len(records):.1f} µs a record; "
        "paid at start-up and by verify, never by a commit)"
    )

    commit: list[float] = []
    for event in tail:
        t0 = time.perf_counter()
        changes = valuation.apply(state, event)
        live.note(changes)
        live.seal(state)
        commit.append(time.perf_counter() - t0)
    print(
        f"one-entry commit (apply + map): p50 {_ms(commit, 0.5):.3f} ms  p99 {_ms(commit, 0.99):.3f} ms"
        f"   goal: map share under 2 ms; before: the whole-state digest, 170 ms at 10^6"
    )

    keys = [f"member/{view.key}" for view in state.iter_members()][:2000]
    proofs: list[float] = []
    size = state.tree_size
    for key in keys:
        t0 = time.perf_counter()
        live.proof(key, size)
        proofs.append(time.perf_counter() - t0)
    depth = statistics.mean(len(live.proof(key, size).siblings) for key in keys)  # type: ignore[union-attr]
    print(
        f"proof at the latest size: p50 {_ms(proofs, 0.5):.3f} ms  p99 {_ms(proofs, 0.99):.3f} ms"
        f"   (mean depth {depth:.1f}; goal over HTTP: p99 under 5 ms)"
    )
    print(
        f"proof at an old size: a replay to that size ({replayed:.1f} s here) and a build "
        f"({built:.1f} s), then cached; the last 32 checkpoints are kept in memory"
    )
    _ = StateMap  # the module measured
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the process: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
