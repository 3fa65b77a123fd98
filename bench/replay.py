"""Replay benchmark: a realistic community's log, replayed by `valuation`, in entries per second.

    python bench/replay.py [--events 1000000] [--members 3000] [--preset example|dmag]

Generates the events in memory (no signing, no database): a genesis, `--members` joins (some
with referrers), then contributions each drawing 10-30 evaluations from random members while
they are fresh, 70% upvotes, with some changed votes. Prints the replay rate, the state digest
and the peak memory of the process. `--profile` prints the hot spots instead.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from valuation import PRESETS, Event, apply, digest, replay, state_json_bytes

BATCH = 1000


def _hex(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def community(
    events: int, members: int, preset: str | dict[str, Any], seed: int
) -> Iterator[Event]:
    """The community's events; `preset` names one of PRESETS or is a whole valuation object
    (with an `article` and a `comment` type)."""
    rng = random.Random(seed)
    log_key = _hex("log")
    keys = [_hex(f"member {n}") for n in range(members)]
    stamp = "2026-11-25T12:00:00.000000Z"
    founders = [
        {"member": keys[n], "name": f"founder {n}", "reputation": "100", "tokens": "100"}
        for n in range(3)
    ]
    body = {
        "origin": "bench/multitude",
        "log_key": "bench/multitude+00000000+AA==",
        "valuation": PRESETS[preset] if isinstance(preset, str) else preset,
        "founders": founders,
    }
    yield Event(0, _hex("genesis"), "network.genesis", log_key, stamp, body)
    index = 1
    for n in range(3, members):
        if index >= events:
            return
        join: dict[str, object] = {"name": f"member {n}"}
        if rng.random() < 0.3:
            join["referrer"] = keys[rng.randrange(n)]
        yield Event(index, _hex(f"entry {index}"), "member.join", keys[n], stamp, join)
        index += 1
    # Open contributions: [id, evaluations still to come]. Members evaluate fresh work.
    open_work: list[list[object]] = []
    types = ("article", "comment")
    while index < events:
        if not open_work or rng.random() < 0.05:
            author = keys[rng.randrange(members)]
            entry_id = _hex(f"entry {index}")
            submit = {"title": "work", "type": types[rng.random() < 0.3], "tags": [], "refs": []}
            yield Event(index, entry_id, "contribution.submit", author, stamp, submit)
            open_work.append([entry_id, rng.randint(10, 30)])
        else:
            slot = rng.randrange(len(open_work)) if rng.random() < 0.2 else -1
            work = open_work[slot]
            value = 1 if rng.random() < 0.7 else 0
            cast = {"contribution": work[0], "value": value}
            evaluator = keys[rng.randrange(members)]
            yield Event(index, _hex(f"entry {index}"), "evaluation.cast", evaluator, stamp, cast)
            work[1] = int(work[1]) - 1  # type: ignore[call-overload]
            if work[1] == 0:
                open_work.remove(work)
        index += 1


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="example")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    events = list(community(args.events, args.members, args.preset, args.seed))
    generated = time.perf_counter() - started
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
    print(f"generated {len(events):,} events in {generated:.1f} s: {kinds}")
    print(f"peak memory after generating: {_peak_mib():,.0f} MiB")

    if args.profile:
        import cProfile
        import pstats

        cProfile.runctx(
            "replay(events)", globals(), {"events": events, "replay": replay}, "/tmp/replay.prof"
        )
        pstats.Stats("/tmp/replay.prof").sort_stats("tottime").print_stats(25)
        return

    started, cpu = time.perf_counter(), time.process_time()
    state = replay(events[:-BATCH])
    for event in events[-BATCH:]:
        apply(state, event)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"replayed {len(events):,} events in {elapsed:.1f} s ({cpu:.1f} s of CPU): "
        f"{len(events) / elapsed:,.0f} entries/s"
        f" ({state.member_count:,} members, {state.contribution_count:,} contributions)"
    )
    print(f"peak memory after replaying: {_peak_mib():,.0f} MiB")
    # The live log signs a digest after every commit: the first costs the whole state's JCS,
    # the next ones only what the commit changed (and SHA-256 over the state's bytes).
    state = replay(events[:-BATCH])
    started = time.perf_counter()
    digest(state)
    cold = time.perf_counter() - started
    for event in events[-BATCH:]:
        apply(state, event)
    started = time.perf_counter()
    final = digest(state)
    warm = time.perf_counter() - started
    size = len(state_json_bytes(state))
    print(
        f"state digest {final}: {cold:.2f} s from cold, {warm:.3f} s after a commit of "
        f"{BATCH:,} more entries ({size / 2**20:,.0f} MiB of state JSON)"
    )


if __name__ == "__main__":
    main()
