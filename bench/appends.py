"""Appends as the log grows (issue 15): single POSTs, batches and proofs over HTTP, into a log of
any size, and concurrent writers against several workers on PostgreSQL.

    python -m bench.appends [--entries 1000] [--keep PATH] [--singles 1000] [--batches 10]
    python -m bench.appends writers [--writers 8] [--workers 4] [--per-writer 250] [--db URL]
    python -m bench.appends groups [--group 4] [--entries 2000] [--db URL]

The first form builds a log of `--entries` signed entries under the default algorithm
(backfeed/2): 20 founders, `--members` members joining (every third referred by a founder),
then contributions, each drawing evaluations from the members while it is fresh. It builds
in-process (`Ledger.append`, batches of 1,000) into a SQLite file (`--keep PATH` keeps it, and
an existing file is reused as it is). Then it serves it with `multitude serve` and, from one
client over HTTP on the loopback, times:
- `--singles` single POSTs one after the other: latency p50/p99 and entries/s;
- `--batches` batches of 1,000 (POST /v1/entries/batch): entries/s;
- GET /v1/state/proof and GET /v1/log/proof/inclusion at the latest size: p50/p99.
The entries timed are signed before the clock starts (a member's machine signs): new keys
that join, each posting an article and evaluating the newest ones.

`writers`: a 1,000-entry log on PostgreSQL served by `serve --workers N`; W writer processes,
each with keys of its own, POST single entries as fast as they are answered. Prints entries/s
from the first POST to the last answer.

`groups`: the append step alone, with no HTTP and no workers: on the same 1,000-entry log,
groups of `--group` entries appended in this process one after the other, as the append
process commits them under `writers`. Prints entries/s and CPU an entry: the ceiling that
the append process, one thread, sets on `writers`.

Each figure is printed beside its baseline (the issue's measurements before the state map) and
its goal. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from nacl.signing import SigningKey

from bench.log import PG, Server, cpu_by_role, reset_postgres
from ledger.db import make_engine, upgrade
from ledger.entries import parse_entry, sign_entry
from ledger.service import Ledger, NetworkConfig
from valuation import DEFAULT_VALUATION, PRESETS

FOUNDERS = 20
TYPE = "article"

# The issue's figures, measured before the state map (single POSTs from one client).
BASELINE_SINGLE = {  # log size -> (p50 ms, p99 ms, appends/s)
    6_000: (11.3, 18.3, 86.0),
    112_000: (31.3, None, 32.0),
    1_120_000: (332.0, 439.0, 3.0),
}
BASELINE_WRITERS = 123.0  # entries/s, 8 writers against serve --workers 4 on PostgreSQL


class Signer:
    """Keys that sign entries in sequence: each key's seq counts up from 1."""

    def __init__(self, network: str) -> None:
        self.network = network
        self.seqs: dict[bytes, int] = {}

    def sign(self, key: SigningKey, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        seq = self.seqs.get(bytes(key), 0) + 1
        self.seqs[bytes(key)] = seq
        return sign_entry(key, network=self.network, kind=kind, seq=seq, body=body)


def community(
    signer: Signer, founders: list[SigningKey], count: int, members: int, seed: int = 1
) -> Iterator[dict[str, Any]]:
    """`count` entries after the genesis, signed as they are read (so that a long build keeps
    each `ts` within the log's clock skew): `members` joins, then articles (one entry in 8),
    each up- or down-voted by random members while it is among the 4 newest."""
    rng = random.Random(seed)
    keys = list(founders)
    made = 0
    for i in range(members):
        if made == count:
            return
        key = SigningKey.generate()
        body: dict[str, Any] = {"name": f"member {i}"}
        if i % 3 == 0:
            body["referrer"] = bytes(founders[i % len(founders)].verify_key).hex()
        yield signer.sign(key, "member.join", body)
        keys.append(key)
        made += 1
    fresh: list[str] = []
    n = 0
    while made < count:
        key = keys[rng.randrange(len(keys))]
        if n % 8 == 0 or not fresh:
            entry = signer.sign(key, "contribution.submit", {"title": f"work {n}", "type": TYPE})
            fresh = [*fresh[-3:], parse_entry(entry).id]
        else:
            value = 1 if rng.random() < 0.7 else 0
            entry = signer.sign(
                key, "evaluation.cast", {"contribution": rng.choice(fresh), "value": value}
            )
        yield entry
        made += 1
        n += 1


def newcomers(signer: Signer, count: int, tag: str) -> list[dict[str, Any]]:
    """`count` entries by new keys: each joins, posts an article and evaluates the newest
    articles (its own excepted), 10 entries a key."""
    entries: list[dict[str, Any]] = []
    fresh: list[str] = []
    k = 0
    while len(entries) < count:
        key = SigningKey.generate()
        entries.append(signer.sign(key, "member.join", {"name": f"{tag} {k}"}))
        for j, cid in enumerate(reversed(fresh[-8:])):
            entries.append(
                signer.sign(key, "evaluation.cast", {"contribution": cid, "value": (k + j) % 2})
            )
        article = signer.sign(key, "contribution.submit", {"title": f"{tag} {k}", "type": TYPE})
        entries.append(article)
        fresh.append(parse_entry(article).id)
        k += 1
    return entries[:count]


def build(
    path: Path, count: int, members: int, valuation: Mapping[str, Any] = DEFAULT_VALUATION
) -> None:
    """A log of `count` entries (the genesis included) in the SQLite file at `path`, under
    `valuation` (the default algorithm's, or backfeed/1's `example` preset: both have an
    `article` type)."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    key = SigningKey.generate()
    (path.parent / "log.key").write_text(bytes(key).hex() + "\n")
    ledger = Ledger(engine, key)
    founders = [SigningKey.generate() for _ in range(FOUNDERS)]
    network = f"bench-{bytes(key.verify_key).hex()[:8]}"
    ledger.create_network(
        NetworkConfig(
            network,
            f"localhost/{network}",
            valuation,
            [
                {
                    "member": bytes(f.verify_key).hex(),
                    "name": f"founder {i}",
                    "reputation": "10",
                    "tokens": "10",
                }
                for i, f in enumerate(founders)
            ],
        )
    )
    source = community(Signer(network), founders, count - 1, members)
    done, started = 1, time.perf_counter()
    while batch := list(islice(source, 1000)):
        refused = [r for r in ledger.append(batch) if not hasattr(r, "index")]
        if refused:
            raise SystemExit(f"refused while building: {refused[0]}")
        done += len(batch)
        rate = (done - 1) / (time.perf_counter() - started)
        print(f"\r  building: {done:,}/{count:,} entries, {rate:,.0f}/s", end="", file=sys.stderr)
    print(file=sys.stderr)
    ledger.signatures.stop()
    engine.dispose()


class Connection:
    """One kept-alive HTTP/1.1 connection on a plain socket. A request's bytes are written
    before the clock starts (`prepare`), as a member's machine signs and encodes its entry
    before sending it, so the latencies timed are the server's and the loopback's, not a
    client library's (httpx spends about 0.8 ms of CPU a request on this machine, and
    http.client 0.3 to 0.5 ms: as much as the server's whole HTTP stack)."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.host = f"{host}:{port}".encode()
        self.socket = self._connect()
        self.buffer = b""

    def _connect(self) -> socket.socket:
        connection = socket.create_connection(self.address, timeout=60)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def prepare(self, method: str, path: str, body: Any = None) -> bytes:
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method.encode(), path.encode(), self.host)
        if body is None:
            return head + b"\r\n"
        data = json.dumps(body, separators=(",", ":")).encode()
        return head + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
            len(data),
            data,
        )

    def send(self, request: bytes) -> tuple[int, bytes]:
        """Send a prepared request; its status and body."""
        try:
            return self._exchange(request)
        except ConnectionError:
            # The server closed the connection while it sat idle (uvicorn's keep-alive
            # timeout): open another and ask again.
            self.socket.close()
            self.socket, self.buffer = self._connect(), b""
            return self._exchange(request)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        return self.send(self.prepare(method, path, body))

    def _exchange(self, request: bytes) -> tuple[int, bytes]:
        self.socket.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        fields = dict(line.split(b":", 1) for line in lines[1:])
        length = next(
            (int(value) for name, value in fields.items() if name.lower() == b"content-length"),
            None,
        )
        if length is None:
            raise SystemExit(f"an answer without Content-Length: {lines[0].decode()}")
        while len(rest) < length:
            rest += self._receive_more()
        self.buffer = rest[length:]
        return int(lines[0].split()[1]), rest[:length]

    def _receive(self) -> None:
        self.buffer += self._receive_more()

    def _receive_more(self) -> bytes:
        data = self.socket.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        return data

    def close(self) -> None:
        self.socket.close()


def percentiles(timings: list[float]) -> tuple[float, float]:
    timings = sorted(timings)
    return statistics.median(timings), timings[max(0, int(len(timings) * 0.99) - 1)]


def post_singles(http: Connection, entries: list[dict[str, Any]]) -> tuple[list[float], float]:
    """Each entry POSTed alone, in order: the latency of each (ms) and entries/s overall."""
    timings = []
    requests = [http.prepare("POST", "/v1/entries", entry) for entry in entries]
    started = time.perf_counter()
    for request in requests:
        t = time.perf_counter()
        status, answer = http.send(request)
        timings.append((time.perf_counter() - t) * 1000)
        if status != 201:
            raise SystemExit(f"refused: {answer.decode()}")
    return timings, len(entries) / (time.perf_counter() - started)


def post_batches(http: httpx.Client, entries: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for i in range(0, len(entries), 1000):
        answer = http.post("/v1/entries/batch", json={"entries": entries[i : i + 1000]})
        answer.raise_for_status()
        if answer.json()["refused"]:
            raise SystemExit(f"refused: {answer.json()['results'][:1]}")
    return len(entries) / (time.perf_counter() - started)


def time_gets(http: Connection, requests: list[tuple[str, dict[str, Any]]]) -> list[float]:
    timings = []
    prepared = [
        (path, http.prepare("GET", f"{path}?{urlencode(params)}")) for path, params in requests
    ]
    for path, request in prepared:
        t = time.perf_counter()
        status, answer = http.send(request)
        timings.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}: {answer.decode()}")
    return timings


def nearest_baseline(size: int) -> tuple[int, tuple[float, float | None, float]]:
    at = min(BASELINE_SINGLE, key=lambda s: abs(s - size) / s)
    return at, BASELINE_SINGLE[at]


def one_log(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = (args.keep or Path(tmp) / "bench.db").resolve()
        label = "as built before"
        if not path.exists():
            label = args.algorithm
            path.parent.mkdir(parents=True, exist_ok=True)
            valuation = PRESETS["example"] if args.algorithm == "backfeed/1" else DEFAULT_VALUATION
            build(path, args.entries, args.members or max(10, args.entries // 20), valuation)
        server = Server(f"sqlite:///{path}", path.parent)
        try:
            warm = server.wait_idle()
            raw = Connection(server.base)
            with httpx.Client(base_url=server.base, timeout=60) as http:
                head = http.get("/v1/log/checkpoint").text.splitlines()
                size = int(head[1])
                network = http.get("/v1/entries", params={"limit": 1}).json()["items"][0]
                signer = Signer(network["entry"]["network"])
                print(f"log: SQLite, {size:,} entries ({label}); server idle after {warm:.0f} s")
                if args.singles:
                    time_singles(raw, signer, args.singles, size)
                if args.batches:
                    brate_now = post_batches(http, newcomers(signer, args.batches * 1000, "batch"))
                    print(
                        f"batches of 1,000:          {brate_now:7.0f} entries/s "
                        f"(baseline at 112,000: 2,217 evaluations/s; goal: the rate at 10^6 at "
                        f"least 80 % of the rate at 10^4)"
                    )
                if args.proofs:
                    time_proofs(raw, http, args.proofs)
            raw.close()
        finally:
            server.stop()


def time_singles(raw: Connection, signer: Signer, count: int, size: int) -> None:
    """`count` single POSTs, one after the other: latency and rate beside the baseline."""
    timings, rate = post_singles(raw, newcomers(signer, count, "single"))
    p50, p99 = percentiles(timings)
    at, (b50, b99, brate) = nearest_baseline(size)
    print(
        f"single POSTs, one client:  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
        f"{rate:7.0f} appends/s   (baseline at {at:,}: p50 {b50} ms, "
        f"p99 {b99 if b99 is not None else '-'} ms, {brate:.0f}/s; goal p50 < 3 ms)"
    )


def time_proofs(raw: Connection, http: httpx.Client, count: int) -> None:
    """`count` state proofs of members from all over the ranking, and as many inclusion
    proofs, at the latest size."""
    rng = random.Random(2)
    members_count = http.get("/v1/stats").json()["members"]
    members = [
        m["member"]
        for offset in rng.sample(range(members_count), min(members_count, 20))
        for m in http.get("/v1/members", params={"offset": offset, "limit": 10}).json()["items"]
    ]
    size = int(http.get("/v1/log/checkpoint").text.splitlines()[1])
    state = time_gets(
        raw, [("/v1/state/proof", {"key": f"member/{rng.choice(members)}"}) for _ in range(count)]
    )
    p50, p99 = percentiles(state)
    print(
        f"GET /v1/state/proof:       p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
        f"at {size:,} (goal: p99 < 5 ms)"
    )
    inclusion = time_gets(
        raw,
        [
            ("/v1/log/proof/inclusion", {"index": rng.randrange(size), "tree_size": size})
            for _ in range(count)
        ],
    )
    p50, p99 = percentiles(inclusion)
    print(f"GET /v1/log/proof/inclusion: p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")


def _writer(base: str, bodies: list[dict[str, Any]], ready: Any, go: Any, out: Any) -> None:
    http = Connection(base)  # as the single client's: the server's time is measured
    http.request("GET", "/v1/log/checkpoint")  # the connection is open before the clock starts
    requests = [http.prepare("POST", "/v1/entries", body) for body in bodies]
    ready.wait()
    go.wait()
    refused = 0
    cpu = time.process_time()
    for request in requests:
        if http.send(request)[0] != 201:
            refused += 1
    # Its own CPU time, from itself: /proc would also count its exit, after the clock stops.
    out.put((time.perf_counter(), refused, time.process_time() - cpu))
    http.close()


def seeded(url: str, work: Path) -> tuple[Ledger, Signer]:
    """A 1,000-entry log on PostgreSQL at `url` (its schema dropped first), its key in
    `work/log.key`: the ledger that appended it, and a signer for more of its entries."""
    reset_postgres(url)
    engine = make_engine(url)
    upgrade(engine)
    key = SigningKey.generate()
    (work / "log.key").write_text(bytes(key).hex() + "\n")
    ledger = Ledger(engine, key)
    network = f"bench-{bytes(key.verify_key).hex()[:8]}"
    ledger.create_network(NetworkConfig(network, f"localhost/{network}", DEFAULT_VALUATION))
    signer = Signer(network)
    ledger.append(newcomers(signer, 999, "seed"))
    return ledger, signer


def groups(args: argparse.Namespace) -> None:
    """The append step alone, in this process: groups of `--group` entries committed one
    after the other, as the append process's sequencer commits them under `writers`."""
    with tempfile.TemporaryDirectory() as tmp:
        ledger, signer = seeded(args.db or PG, Path(tmp))
        try:
            entries = newcomers(signer, args.entries, "group")
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(entries), args.group):
                refused = [
                    r for r in ledger.append(entries[i : i + args.group]) if not hasattr(r, "index")
                ]
                if refused:
                    raise SystemExit(f"refused: {refused[0]}")
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            ledger.signatures.stop()
            ledger.engine.dispose()
    print(
        f"groups of {args.group}, in-process on PostgreSQL: {len(entries)} entries in "
        f"{elapsed:.1f} s = {len(entries) / elapsed:,.0f}/s, "
        f"{cpu * 1000 / len(entries):.2f} ms of CPU an entry (this process's threads); "
        f"writers' goal >= 1,000/s, which this ceiling must clear with the cores shared"
    )


def writers(args: argparse.Namespace) -> None:
    url = args.db or PG
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ledger, signer = seeded(url, work)
        ledger.signatures.stop()
        ledger.engine.dispose()
        server = Server(url, work, workers=args.workers)
        try:
            server.wait_idle()
            context = multiprocessing.get_context("spawn")
            ready = context.Barrier(args.writers + 1)
            go = context.Event()
            out = context.Queue()
            shares = [newcomers(signer, args.per_writer, f"w{w}") for w in range(args.writers)]
            processes = [
                context.Process(target=_writer, args=(server.base, share, ready, go, out))
                for share in shares
            ]
            for process in processes:
                process.start()
            ready.wait()
            before = cpu_by_role(server)
            started = time.perf_counter()
            go.set()
            ends = [out.get() for _ in processes]
            after = cpu_by_role(server)
            for process in processes:
                process.join()
            total = args.writers * args.per_writer
            refused = sum(r for _, r, _ in ends)
            elapsed = max(t for t, _, _ in ends) - started
            rate = (total - refused) / elapsed
            print(
                f"{args.writers} writers, single POSTs, serve --workers {args.workers} on "
                f"PostgreSQL: {total - refused} entries in {elapsed:.1f} s = {rate:,.0f}/s "
                f"(baseline {BASELINE_WRITERS:.0f}/s; goal >= 1,000/s); refused {refused}"
            )
            if after:
                # Where the time went: CPU per entry of each part, and the two cores' share.
                spent = {role: after[role] - before[role] for role in after}
                spent["writers"] = sum(cpu for _, _, cpu in ends)
                parts = ", ".join(
                    f"{role} {seconds * 1000 / total:.2f}" for role, seconds in spent.items()
                )
                busy = sum(spent.values()) / (elapsed * (os.cpu_count() or 1))
                print(f"  CPU ms per entry: {parts}; the cores were {busy:.0%} busy")
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    many = sub.add_parser("writers", help="concurrent writers against several workers")
    many.add_argument("--writers", type=int, default=8)
    many.add_argument("--workers", type=int, default=4)
    many.add_argument("--per-writer", type=int, default=250)
    many.add_argument("--db", help=f"a PostgreSQL URL (default {PG}); its schema is dropped")
    alone = sub.add_parser("groups", help="the append step alone, in-process, a group at a time")
    alone.add_argument("--group", type=int, default=4, help="entries a commit (default 4)")
    alone.add_argument("--entries", type=int, default=2000)
    alone.add_argument("--db", help=f"a PostgreSQL URL (default {PG}); its schema is dropped")
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--members", type=int, default=0, help="default: a twentieth")
    parser.add_argument("--keep", type=Path, help="build the log here, or reuse the one there")
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument(
        "--algorithm",
        choices=("backfeed/2", "backfeed/1"),
        default="backfeed/2",
        help="the network's valuation when the log is built (backfeed/1: the example preset)",
    )
    args = parser.parse_args()
    if args.command == "writers":
        writers(args)
    elif args.command == "groups":
        groups(args)
    else:
        one_log(args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
