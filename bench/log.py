"""The log's throughput and proof latency, through the real HTTP API, beside the raw limit.

    python -m bench.log [--db sqlite|postgresql|URL] [--entries 5000] [--proof-sizes 10000,100000]
    python -m bench.log --existing PATH --proof-sizes 10000,100000,1000000

Prints: the raw per-core rate of JCS + Ed25519 verify + leaf hash (the work every entry costs at
least); entries appended per second with POST /v1/entries/batch and with single POSTs, each as a
fraction of that raw rate; and inclusion-proof latency (p50/p99) over HTTP at several log sizes.

The raw rate is the best of 3 rounds, and so is the batch rate (3 rounds of --entries entries,
each into an empty log, every round printed): on a shared machine both are the rate reached when
the machine lets the process be, and a neighbour's burst in one round changes neither.
Entries are signed, and the request bodies written, before the clock starts, as members do both on
their own machines.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from nacl.signing import SigningKey

from ledger import merkle
from ledger.entries import parse_entry, sign_entry

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROUNDS = 3  # of the raw rate, and of batch appends: the best is compared


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


class Server:
    def __init__(self, url: str, workdir: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from api.cli import main; main()",
                "serve",
                "--db",
                url,
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log-key",
                str(workdir / "log.key"),
                "--no-write-limit",  # the raw rate is measured, from one address
            ],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/v1/log/checkpoint", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("the server did not start")

    def wait_idle(self, timeout: float = 600) -> float:
        """Wait until the server has done its start-up work (replaying the log into its
        valuation state in the background) and sits idle; the seconds it took."""
        started = time.monotonic()
        stat = Path(f"/proc/{self.process.pid}/stat")
        if not stat.exists():
            return 0.0

        def ticks() -> int:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime + stime

        before = ticks()
        while time.monotonic() - started < timeout:
            time.sleep(1)
            now = ticks()
            if now - before <= 5:  # at most 50 ms of CPU in a second
                break
            before = now
        return time.monotonic() - started

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def cpu_seconds(server: Server) -> dict[str, float]:
    """CPU time so far of the server, its signature checkers, PostgreSQL and this client, from
    /proc (empty where there is none): where an append's time goes."""
    if not Path("/proc/self/stat").exists():
        return {}

    def of(pids: list[int]) -> float:
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / os.sysconf("SC_CLK_TCK")

    def pids(*command: str) -> list[int]:
        found = subprocess.run(command, capture_output=True, text=True, check=False).stdout
        return [int(pid) for pid in found.split()]

    mine = os.times()
    return {
        "server": of([server.process.pid]),
        "checkers": of(pids("pgrep", "-P", str(server.process.pid))),
        "PostgreSQL": of(pids("pgrep", "postgres")),
        "client": mine.user + mine.system,
    }


def cpu_by_role(server: Server) -> dict[str, float]:
    """CPU seconds so far of each part of a `serve --workers N` server and of PostgreSQL, from
    /proc (empty where there is none). The workers are
    the supervisor's children whose environment names the append process
    (`MULTITUDE_APPENDS`); its other child is the append process; their own children check
    signatures."""
    if not Path("/proc/self/stat").exists():
        return {}

    def ticks(pid: int) -> int:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0  # gone
        return int(fields[11]) + int(fields[12])  # utime + stime

    def children(pid: int) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        return [int(child) for child in found.stdout.split()]

    def is_worker(pid: int) -> bool:
        try:
            return b"MULTITUDE_APPENDS=" in Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            return False

    top = children(server.process.pid)
    workers = [pid for pid in top if is_worker(pid)]
    appenders = [pid for pid in top if pid not in workers]
    postgres = subprocess.run(["pgrep", "postgres"], capture_output=True, text=True).stdout
    roles = {
        "supervisor": [server.process.pid],
        "workers": workers,
        "append process": appenders,
        "checkers": [child for pid in top for child in children(pid)],
        "PostgreSQL": [int(pid) for pid in postgres.split()],
    }
    hertz = os.sysconf("SC_CLK_TCK")
    return {role: sum(ticks(pid) for pid in pids) / hertz for role, pids in roles.items()}


def raw_rate(entries: list[dict[str, Any]], rounds: int = ROUNDS) -> float:
    """The best of a few rounds: the rate one core reaches, not one disturbed by the machine."""
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for entry in entries:
            merkle.leaf_hash(parse_entry(entry).leaf("2026-11-25T00:00:00.000000Z"))
        best = max(best, len(entries) / (time.perf_counter() - start))
    return best


def signed_community(network: str, count: int, members: int | None = None) -> list[dict[str, Any]]:
    """`count` entries: `members` (a twentieth of them by default) join, then in turn
    submit and evaluate."""
    return list(community_entries(network, count, members))


def community_entries(
    network: str, count: int, members: int | None = None
) -> Iterator[dict[str, Any]]:
    """`signed_community`, signed as it is read, so that a long run's entries keep a `ts`
    within the log's clock skew."""
    keys = [SigningKey.generate() for _ in range(max(2, members or count // 20))]
    seqs = dict.fromkeys(range(len(keys)), 0)
    contributions: list[str] = []

    def sign(i: int, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        seqs[i] += 1
        return sign_entry(keys[i], network=network, kind=kind, seq=seqs[i], body=body)

    made = 0
    for i in range(len(keys)):
        if made == count:
            return
        yield sign(i, "member.join", {"name": f"member {i}"})
        made += 1
    n = 0
    while made < count:
        i = n % len(keys)
        if n % 8 == 0 or not contributions:
            entry = sign(i, "contribution.submit", {"title": f"work {n}", "type": "comment"})
            contributions.append(parse_entry(entry).id)
        else:
            entry = sign(
                i,
                "evaluation.cast",
                {"contribution": contributions[-1 - n % 4 % len(contributions)], "value": n % 2},
            )
        yield entry
        made += 1
        n += 1


def network_of(base: str) -> str:
    first = httpx.get(f"{base}/v1/entries", params={"limit": 1}).json()["items"][0]
    return str(first["entry"]["network"])


def bench_appends(base: str, entries: list[dict[str, Any]], batch: int) -> float:
    """Entries appended per second. The request bodies are written before the clock starts, as
    the entries were signed: a member's machine does both; the server's work is timed."""
    if batch == 1:
        bodies = [json.dumps(entry).encode() for entry in entries]
        path = "/v1/entries"
    else:
        bodies = [
            json.dumps({"entries": entries[i : i + batch]}).encode()
            for i in range(0, len(entries), batch)
        ]
        path = "/v1/entries/batch"
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=base, timeout=60) as http:
        start = time.perf_counter()
        for body in bodies:
            result = http.post(path, content=body, headers=headers)
            result.raise_for_status()
            if batch > 1 and result.json()["refused"]:
                raise SystemExit(f"entries refused: {result.json()['results'][:1]}")
        return len(entries) / (time.perf_counter() - start)


def bench_proofs(base: str, size: int, samples: int = 300) -> tuple[float, float]:
    timings = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for k in range(samples):
            index = (k * 7919) % size
            t = time.perf_counter()
            http.get(
                "/v1/log/proof/inclusion", params={"index": index, "tree_size": size}
            ).raise_for_status()
            timings.append((time.perf_counter() - t) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1]


def proofs_only(path: Path, sizes: list[int]) -> None:
    server = Server(f"sqlite:///{path}", path.parent)
    try:
        server.wait_idle()
        logged = int(httpx.get(f"{server.base}/v1/log/checkpoint").text.splitlines()[1])
        print(f"database: {path} ({logged} leaves)")
        for size in sorted(s for s in sizes if s <= logged):
            p50, p99 = bench_proofs(server.base, size)
            print(
                f"inclusion proof at {size:>9} leaves over HTTP: p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
            )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--proof-sizes", default="10000,100000")
    parser.add_argument(
        "--existing",
        type=Path,
        help="only time proofs, on this SQLite log (say, bench.figures --keep's 10^6 entries)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.proof_sizes.split(",") if s]
    if args.existing is not None:
        proofs_only(args.existing.resolve(), sizes)
        return

    with tempfile.TemporaryDirectory() as tmp:
        server: Server | None = None
        try:
            kind = args.db if args.db in ("sqlite", "postgresql") else args.db.split("+")[0]
            rates: list[float] = []
            spent: dict[str, float] = {}
            raw = 0.0
            for r in range(ROUNDS):
                # Each round starts from an empty log, as the raw rounds start from nothing: a
                # larger log costs more a commit (more index pages to write, a larger state to
                # digest), which is bench.figures' to show.
                work = Path(tmp) / f"round{r}"
                work.mkdir()
                url = {"sqlite": f"sqlite:///{work / 'bench.db'}", "postgresql": PG}.get(
                    args.db, args.db
                )
                if url.startswith("postgresql"):
                    reset_postgres(url)
                server = Server(url, work)
                last = r == ROUNDS - 1
                count = args.entries * (2 if last else 1) + (max(sizes, default=0) if last else 0)
                print(f"round {r + 1} of {ROUNDS}: signing {count} entries ...", file=sys.stderr)
                # A community of the same size whatever the proof sizes: the members a batch
                # touches are rows its append rewrites.
                entries = signed_community(network_of(server.base), count, args.entries // 10)
                if not raw:
                    raw = raw_rate(entries[: min(5000, len(entries))])
                    print(f"database: {kind}")
                    print(
                        f"raw limit (JCS + Ed25519 verify + leaf hash, one core): {raw:10.0f} entries/s"
                    )
                before = cpu_seconds(server)
                rates.append(bench_appends(server.base, entries[: args.entries], 1000))
                for k, v in cpu_seconds(server).items():
                    spent[k] = spent.get(k, 0.0) + v - before[k]
                if not last:
                    server.stop()
                    server = None
            batch = max(rates)
            print(
                f"POST /v1/entries/batch (1000 a batch):                  {batch:10.0f} entries/s  ({batch / raw:.0%} of raw)"
            )
            print(
                f"  best of {ROUNDS} rounds of {args.entries} into an empty log: "
                + ", ".join(f"{rate:.0f}/s ({rate / raw:.0%})" for rate in rates)
            )
            if spent:
                print(
                    f"  CPU per entry ({os.cpu_count()} cores): "
                    + ", ".join(
                        f"{k} {v / (ROUNDS * args.entries) * 1e6:.0f} µs" for k, v in spent.items()
                    )
                )
            assert server is not None  # the last round's, kept for what follows
            single = bench_appends(server.base, entries[args.entries : 2 * args.entries], 1)
            print(
                f"POST /v1/entries (one at a time):                       {single:10.0f} entries/s  ({single / raw:.0%} of raw)"
            )
            done = 2 * args.entries + 1
            for size in sorted(sizes):
                if size > done:
                    bench_appends(server.base, entries[done - 1 : size - 1], 1000)
                    done = size
                p50, p99 = bench_proofs(server.base, size)
                print(
                    f"inclusion proof at {size:>9} leaves over HTTP: p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
                )
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
