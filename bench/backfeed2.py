"""backfeed/2's speed beside backfeed/1's: the cost of one evaluation as evaluators pile up, and
the replay of a large log.

    python bench/backfeed2.py evaluators [--evaluators 10000] [--skip-backfeed1]
    python bench/backfeed2.py replay [--events 1000000] [--members 3000]

`evaluators`: a genesis with N founders of reputation 1 each and an anchor of reputation 1.5 N,
one contribution that the anchor up-votes first (so that every later up-vote raises a score
already past the threshold, and pays), then each founder up-votes it once. Prints ms per evaluation over the first and the last tenth, for backfeed/2
(goal: last <= 1.2 x first) and backfeed/1 (which pays every earlier aligned evaluator, O(k)).

`replay`: bench/replay.py's community generator, under backfeed/2 with an `article` and a
`comment` type, replayed by `valuation.replay` on one core (goal: 10^6 entries in under 15 s),
beside backfeed/1 with the `example` preset when `--compare` is given.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.replay import community
from valuation import DEFAULT_VALUATION, PRESETS, Event, apply, new_state, replay

STAMP = "2026-11-25T12:00:00.000000Z"


def _hex(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def backfeed2_valuation() -> dict[str, Any]:
    """backfeed/2's defaults plus a `comment` type, for the community generator."""
    valuation = copy.deepcopy(DEFAULT_VALUATION)
    valuation["params"]["contribution_types"]["comment"] = {
        "fee": "0",
        "reward_threshold": "0.5",
        "token_reward_factor": "10",
        "reputation_reward_factor": "1",
        "evaluator_share": "0.2",
        "evaluation_values": [0, 1],
    }
    return valuation


def evaluators(count: int, valuation: dict[str, Any]) -> tuple[float, float]:
    """ms per evaluation over the first and the last tenth of `count` up-votes of one work."""
    keys = [_hex(f"evaluator {n}") for n in range(count + 2)]
    founders = [
        {"member": key, "name": f"m{n}", "reputation": "1", "tokens": "1"}
        for n, key in enumerate(keys)
    ]
    anchor = keys[-1]
    founders[-1]["reputation"] = str(count * 3 // 2)
    body = {"origin": "bench", "log_key": "bench+00000000+AA==", "valuation": valuation}
    state = new_state()
    apply(
        state,
        Event(
            0,
            _hex("genesis"),
            "network.genesis",
            _hex("log"),
            STAMP,
            {**body, "founders": founders},
        ),
    )
    work = _hex("work")
    apply(state, Event(1, work, "contribution.submit", keys[0], STAMP, {"title": "work"}))
    up = {"contribution": work, "value": 1}
    apply(state, Event(2, _hex("anchor"), "evaluation.cast", anchor, STAMP, up))
    tenth = max(count // 10, 1)
    times: list[float] = []
    for n in range(1, count + 1):
        event = Event(n + 2, _hex(f"cast {n}"), "evaluation.cast", keys[n], STAMP, up)
        started = time.perf_counter()
        apply(state, event)
        times.append(time.perf_counter() - started)
    first = sum(times[:tenth]) / tenth * 1000
    last = sum(times[-tenth:]) / tenth * 1000
    return first, last


def run_evaluators(args: argparse.Namespace) -> None:
    print(f"{args.evaluators:,} distinct evaluators up-voting one contribution")
    first, last = evaluators(args.evaluators, DEFAULT_VALUATION)
    print(
        f"backfeed/2: {first:.3f} ms an evaluation over the first tenth, {last:.3f} ms over "
        f"the last: last / first = {last / first:.2f} (goal <= 1.2)"
    )
    if not args.skip_backfeed1:
        first, last = evaluators(args.evaluators, PRESETS["example"])
        print(
            f"backfeed/1: {first:.3f} ms an evaluation over the first tenth, {last:.3f} ms over "
            f"the last: last / first = {last / first:.2f}"
        )


def run_replay(args: argparse.Namespace) -> None:
    runs = [("backfeed/2", backfeed2_valuation())]
    if args.compare:
        runs.append(("backfeed/1", PRESETS["example"]))
    for name, valuation in runs:
        events = list(community(args.events, args.members, valuation, args.seed))
        started, cpu = time.perf_counter(), time.process_time()
        state = replay(events)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"{name}: replayed {len(events):,} entries in {elapsed:.1f} s ({cpu:.1f} s of CPU): "
            f"{len(events) / elapsed:,.0f} entries/s ({state.member_count:,} members, "
            f"{state.contribution_count:,} contributions; goal for 10^6 under backfeed/2: < 15 s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    piling = commands.add_parser("evaluators")
    piling.add_argument("--evaluators", type=int, default=10_000)
    piling.add_argument("--skip-backfeed1", action="store_true")
    replaying = commands.add_parser("replay")
    replaying.add_argument("--events", type=int, default=1_000_000)
    replaying.add_argument("--members", type=int, default=3000)
    replaying.add_argument("--seed", type=int, default=1)
    replaying.add_argument("--compare", action="store_true")
    args = parser.parse_args()
    if args.command == "evaluators":
        run_evaluators(args)
    else:
        run_replay(args)


if __name__ == "__main__":
    main()
