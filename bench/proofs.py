"""Proofs from stored subtree nodes stay O(log n): time them at 10^4, 10^5 and 10^6 leaves.

Builds an in-memory dict store with `ledger.merkle.append` (batches of 1,000, as the batch
endpoint appends), then times, for random leaves and sizes, what a request costs apart from the
database round trip: plan the node ids, fetch them (dict lookups standing in for one query),
assemble the proof; and, for comparison, verifying it. Prints p50/p99 in microseconds.

    python -m bench.proofs [--sizes 10000 100000 1000000] [--samples 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from ledger import merkle
from ledger.merkle import NodeId

BATCH = 1_000


def build(n: int) -> tuple[dict[NodeId, bytes], float]:
    """A store of every complete subtree node of an n-leaf tree, and the seconds it took."""
    store: dict[NodeId, bytes] = {}
    frontier: merkle.Frontier = []
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        leaves = [
            merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(start, min(n, start + BATCH))
        ]
        frontier, completed = merkle.append(frontier, start, leaves)
        for level, index, h in completed:
            store[(level, index)] = h
    return store, time.perf_counter() - started


def timed(op: Callable[[int], object], args: list[int]) -> list[float]:
    """Microseconds of each call of `op`, one per argument."""
    times = []
    for arg in args:
        t = time.perf_counter_ns()
        op(arg)
        times.append((time.perf_counter_ns() - t) / 1_000)
    return times


def pct(times: list[float], q: int) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[q - 1]


def bench_size(n: int, samples: int, rng: random.Random) -> list[str]:
    """The table rows for one tree size."""
    store, build_s = build(n)
    root = merkle.root_at(n, store)
    indexes = [rng.randrange(n) for _ in range(samples)]
    firsts = [rng.randrange(1, n) for _ in range(samples)]
    reads: list[int] = []
    lengths: list[int] = []

    def fetch(ids: set[NodeId]) -> dict[NodeId, bytes]:
        # One query's worth of rows: exactly the planned nodes.
        return {node: store[node] for node in ids}

    def inclusion(index: int) -> None:
        ids = merkle.inclusion_plan(index, n)
        proof = merkle.inclusion_proof(index, n, fetch(ids))
        reads.append(len(ids))
        lengths.append(len(proof))

    def consistency(first: int) -> None:
        ids = merkle.consistency_plan(first, n)
        proof = merkle.consistency_proof(first, n, fetch(ids))
        reads.append(len(ids))
        lengths.append(len(proof))

    proofs = [merkle.inclusion_proof(index, n, store) for index in indexes]

    def verify(k: int) -> None:
        merkle.verify_inclusion(store[(0, indexes[k])], indexes[k], n, proofs[k], root)

    rows: list[tuple[str, list[float], str, str]] = []
    for name, op, args in (
        ("inclusion plan+proof", inclusion, indexes),
        ("consistency plan+proof", consistency, firsts),
    ):
        reads.clear()
        lengths.clear()
        times = timed(op, args)
        rows.append((name, times, str(max(reads)), str(max(lengths))))
    rows.append(("verify inclusion", timed(verify, list(range(samples))), "", ""))
    rows.append(("root_at", timed(lambda _: merkle.root_at(n, store), indexes), "", ""))

    lines = []
    for i, (name, times, max_reads, max_len) in enumerate(rows):
        lead = f"{n:>9} {build_s:>8.2f} {len(store):>9}" if i == 0 else " " * 28
        lines.append(
            f"{lead} | {name:<22} {pct(times, 50):>8.1f} {pct(times, 99):>8.1f} "
            f"{max_reads:>6} {max_len:>6}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**4, 10**5, 10**6])
    parser.add_argument("--samples", type=int, default=2_000)
    args = parser.parse_args()
    rng = random.Random(9162)
    header = (
        f"{'leaves':>9} {'build s':>8} {'nodes':>9} | {'operation':<22} "
        f"{'p50 µs':>8} {'p99 µs':>8} {'reads':>6} {'hashes':>6}"
    )
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        for line in bench_size(n, args.samples, rng):
            print(line, flush=True)
    print(
        "\nbuild: append in batches of 1,000; nodes: stored subtree nodes; reads: most nodes one "
        "proof fetched;\nhashes: longest proof. Times exclude the database round trip."
    )


if __name__ == "__main__":
    main()
