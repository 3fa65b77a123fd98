"""What-if benchmark: `ledger.whatif.replay_under` on a bundle of N signed leaves.

    python bench/whatif.py [--leaves 1000000] [--members 3000] [--dir DIR] [--algorithm A]
                           [--jobs 2]

Builds the bundle with `bench/verify.py`'s `make_bundle` (a backfeed/1 log of joins,
contributions and evaluations; an existing bundle in `--dir` of the same size is reused), then
replays it under its own rules and under `--algorithm` with its defaults for each of the log's
contribution types, as `multitude whatif` without --params (backfeed/1:
the example preset with a reward threshold of 0.3, so that figures move), and prints the wall
time, the entries per second, the refusals and the peak memory.
"""

from __future__ import annotations

import argparse
import copy
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from verify import make_bundle

import valuation
from ledger.audit import LEAVES
from ledger.whatif import log_valuation, replay_under, valuation_for


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its finished children."""
    here = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return here.ru_utime + here.ru_stime, children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, help="where to keep the bundle [default: a temp dir]")
    parser.add_argument("--algorithm", default="backfeed/2")
    parser.add_argument("--jobs", type=int, default=2, choices=(1, 2))
    args = parser.parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="multitude-whatif-")) / "bundle"
    if not (directory / LEAVES).exists() or _lines(directory / LEAVES) != args.leaves:
        started = time.perf_counter()
        make_bundle(directory, args.leaves, args.members, args.seed)
        print(f"built in {time.perf_counter() - started:.1f} s")
    if args.algorithm == valuation.ALGORITHM:
        other = copy.deepcopy(valuation.PRESETS["example"])
        other["params"]["contribution_types"]["article"]["reward_threshold"] = "0.3"
    else:
        # As `multitude whatif` does without --params: the defaults for each of the log's types.
        other = valuation_for(args.algorithm, like=log_valuation(directory))
    started = time.perf_counter()
    cpu_here, cpu_helper = _cpu()
    result = replay_under(directory, other, jobs=args.jobs)
    seconds = time.perf_counter() - started
    cpu_here, cpu_helper = (a - b for a, b in zip(_cpu(), (cpu_here, cpu_helper), strict=True))
    moved = sum(1 for mover in result.movers if mover.rank_change)
    print(
        f"whatif {result.algorithm} -> {result.other_algorithm}: {result.tree_size:,} entries "
        f"in {seconds:.1f} s ({result.tree_size / seconds:,.0f} entries/s, jobs {args.jobs}); "
        f"{len(result.movers):,} members, {moved:,} changed rank; refused {result.refused}"
    )
    print(
        f"CPU: {cpu_here:.1f} s in this process (the other rules, and the root), "
        f"{cpu_helper:.1f} s in the helper process (the log's own rules); on an idle machine "
        "with 2 cores the wall time is about the larger of the two"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: {peak:.0f} MiB here, {children:.0f} MiB in the helper process")


if __name__ == "__main__":
    main()
