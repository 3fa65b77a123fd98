"""Valuation, live: appends with valuation on beside the same without it, and figure reads.

    python -m bench.figures [--db sqlite|postgresql|URL] [--entries 100000] [--reads 500]
                            [--no-baseline]

Builds a community of `--entries` signed entries through the real append path (batches of
1,000, `Ledger.append`), timing it once with valuation on and once, on a second database, with
valuation replaced by a no-op (the bench's own stand-in, never used elsewhere) so the cost of
valuing live shows. Then serves the first database over HTTP and times GET /v1/members/{key} and
GET /v1/leaderboard (p50/p99).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
from nacl.signing import SigningKey

import valuation
from bench.log import PG, Server, community_entries, reset_postgres
from ledger.appender import _BatchWriter
from ledger.db import make_engine, upgrade
from ledger.service import Ledger, NetworkConfig


def build(url: str, key_path: Path, count: int, valued: bool) -> float:
    """Append `count` entries of `community_entries` in batches of 1,000, each batch signed just
    before it is sent (as members sign theirs); only the appends are timed."""
    if url.startswith("postgresql"):
        reset_postgres(url)
    engine = make_engine(url)
    upgrade(engine)
    key = SigningKey.generate()
    key_path.write_text(bytes(key).hex() + "\n")
    ledger = Ledger(engine, key)
    ledger.create_network(NetworkConfig("bench", "localhost/bench", valuation.PRESETS["example"]))
    patches = []
    if not valued:
        empty = valuation.Changes(index=0, postings=(), members=(), contributions=())
        patches = [
            mock.patch.object(valuation, "apply", lambda state, event: _count(state, empty)),
            mock.patch.object(valuation, "digest", lambda state: "0" * 64),
            mock.patch.object(_BatchWriter, "add_figures", lambda *args, **kwargs: None),
        ]
    for patch in patches:
        patch.start()
    try:
        source = community_entries("bench", count)
        appending = 0.0
        done = 0
        while batch := list(islice(source, 1000)):
            start = time.perf_counter()
            results = ledger.append(batch)
            appending += time.perf_counter() - start
            refused = [r for r in results if not hasattr(r, "index")]
            if refused:
                raise SystemExit(f"refused: {refused[0]}")
            done += len(batch)
            print(f"\r  {done}/{count}", end="", file=sys.stderr)
        print(file=sys.stderr)
        return count / appending
    finally:
        for patch in patches:
            patch.stop()
        engine.dispose()


def _count(state: Any, empty: valuation.Changes) -> valuation.Changes:
    state._tree_size += 1
    return empty


def percentiles(timings: list[float]) -> tuple[float, float]:
    timings.sort()
    return statistics.median(timings), timings[max(0, int(len(timings) * 0.99) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument(
        "--keep",
        type=Path,
        help="build the SQLite database at this path, or, if it holds a log, only time reads",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the second build with valuation off (halves the time at 10^6 entries)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url = {"sqlite": f"sqlite:///{work / 'bench.db'}", "postgresql": PG}.get(args.db, args.db)
        built = False
        if args.keep is not None:
            url = f"sqlite:///{args.keep.resolve()}"
            built = args.keep.exists()
            work = args.keep.resolve().parent
        bare = f"sqlite:///{work / 'bare.db'}" if url.startswith("sqlite") else url
        print(f"database: {url.split('://')[0]}, {args.entries} entries")
        if not built:
            with_valuation = build(url, work / "log.key", args.entries, valued=True)
            print(f"appends, batches of 1000, valuation on:  {with_valuation:8.0f} entries/s")
        if not built and not args.no_baseline:
            without = build(bare, work / "bare.key", args.entries, valued=False)
            print(f"appends, batches of 1000, valuation off: {without:8.0f} entries/s")

        server = Server(url, work)
        try:
            warm = server.wait_idle()
            print(f"server ready and idle after {warm:.0f} s (replaying the log at start-up)")
            with httpx.Client(base_url=server.base, timeout=30) as http:
                # Keys from all over the ranking: a rank costs more the lower the member stands.
                rng = random.Random(1)
                count = http.get("/v1/stats").json()["members"]
                keys = [
                    m["member"]
                    for offset in sorted(
                        rng.sample(range(0, count, 100), min(10, count // 100 + 1))
                    )
                    for m in http.get(
                        "/v1/members", params={"offset": offset, "limit": 100}
                    ).json()["items"]
                ]
                member_times, board_times = [], []
                for _ in range(args.reads):
                    t = time.perf_counter()
                    http.get(f"/v1/members/{rng.choice(keys)}").raise_for_status()
                    member_times.append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    http.get(
                        "/v1/leaderboard", params={"by": "reputation", "limit": 20}
                    ).raise_for_status()
                    board_times.append((time.perf_counter() - t) * 1000)
            for name, timings in (
                ("GET /v1/members/{key}", member_times),
                ("GET /v1/leaderboard", board_times),
            ):
                p50, p99 = percentiles(timings)
                print(
                    f"{name:<24} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
                    f"({count} members; {len(keys)} keys sampled across the ranking)"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
