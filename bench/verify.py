"""Offline audit benchmark: `verify_bundle` on a bundle of N signed leaves, beside raw Ed25519.

    python bench/verify.py [--leaves 200000] [--members 2000] [--jobs 1] [--dir DIR] [--profile]

Builds a bundle with the pure modules only (no database): a genesis signed by a log key,
`--members` joins, then contributions each drawing 10-30 evaluations (70% upvotes, some changed
votes), every entry signed by its member, leaves written as they are made, a frontier for the
root, a signed checkpoint and state.json from valuation. An existing bundle in `--dir` of the
same size is reused. Then, in a fresh child process (so that its peak memory is its own), it
measures the raw PyNaCl Ed25519 verify rate on the bundle's own signatures and times
`verify_bundle`; it prints leaves/s, the ratio to the raw rate and the peak RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nacl.signing import SigningKey, VerifyKey

import valuation
from ledger import checkpoint as cp
from ledger import entries
from ledger.audit import (
    CHECKPOINT,
    LEAVES,
    LOG_VKEY,
    STATE,
    TreeBuilder,
    verify_bundle,
)
from valuation import jcs
from valuation.jcs import canonical_chunks

NETWORK = "bench"
ORIGIN = "bench.example/multitude"
START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class _Writer:
    """Signs entries, checks them with valuation, and writes the accepted ones as leaves."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.state = valuation.new_state()
        self.tree = TreeBuilder()
        self.size = 0
        self.seqs: dict[str, int] = {}
        self.refused = 0

    def add(self, key: SigningKey, kind: str, body: dict[str, Any]) -> str | None:
        author = bytes(key.verify_key).hex()
        seq = self.seqs.get(author, 0) + 1
        moment = START + timedelta(microseconds=1000 * self.size)
        data: dict[str, Any] = {
            "v": 1,
            "network": NETWORK,
            "kind": kind,
            "author": author,
            "seq": seq,
            "ts": entries.format_timestamp(moment)[:23] + "Z",
            "body": body,
        }
        # jcs.canonical is RFC 8785 for these ASCII-keyed objects, and much faster;
        # the first leaves are checked against ledger.entries below.
        data["sig"] = key.sign(entries.ENTRY_DOMAIN + jcs.canonical(data)).signature.hex()
        entry_id = hashlib.sha256(jcs.canonical(data)).hexdigest()
        logged_at = entries.format_timestamp(moment)
        event = valuation.Event(self.size, entry_id, kind, author, logged_at, body)
        try:
            valuation.apply(self.state, event)
        except valuation.ValuationError:
            self.refused += 1
            return None
        raw = jcs.canonical({"entry": data, "logged_at": logged_at})
        if self.size < 50:
            assert raw == entries.leaf_bytes(data, logged_at)
            assert entries.parse_leaf(raw).entry.id == entry_id
        self.handle.write(raw + b"\n")
        self.seqs[author] = seq
        self.tree.add(raw)
        self.size += 1
        return entry_id


def make_bundle(directory: Path, leaves: int, members: int, seed: int) -> None:
    rng = random.Random(seed)
    log_key = SigningKey(hashlib.sha256(b"bench log").digest())
    keys = [SigningKey(hashlib.sha256(f"member {n}".encode()).digest()) for n in range(members)]
    publics = [bytes(k.verify_key).hex() for k in keys]
    vkey = cp.verifier_key(ORIGIN, bytes(log_key.verify_key))
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / LEAVES).open("wb") as handle:
        writer = _Writer(handle)
        genesis = {
            "origin": ORIGIN,
            "log_key": vkey,
            "valuation": valuation.PRESETS["example"],
            "founders": [],
        }
        writer.add(log_key, "network.genesis", genesis)
        for n in range(members):
            if writer.size >= leaves:
                break
            join: dict[str, Any] = {"name": f"member {n}"}
            if n and rng.random() < 0.3:
                join["referrer"] = publics[rng.randrange(n)]
            writer.add(keys[n], "member.join", join)
        joined = writer.size - 1
        open_work: list[list[Any]] = []  # [contribution id, evaluations still to come]
        while writer.size < leaves:
            if not open_work or rng.random() < 0.05:
                body = {
                    "title": f"work {writer.size}",
                    "type": ("article", "comment")[rng.random() < 0.3],
                }
                cid = writer.add(keys[rng.randrange(joined)], "contribution.submit", body)
                if cid is not None:
                    open_work.append([cid, rng.randint(10, 30)])
                continue
            work = open_work[rng.randrange(len(open_work)) if rng.random() < 0.2 else -1]
            value = 1 if rng.random() < 0.7 else 0
            cast = {"contribution": work[0], "value": value}
            if writer.add(keys[rng.randrange(joined)], "evaluation.cast", cast) is not None:
                work[1] -= 1
                if work[1] == 0:
                    open_work.remove(work)
    root = writer.tree.root()
    note = cp.sign_checkpoint(cp.Checkpoint(ORIGIN, writer.size, root), log_key)
    (directory / CHECKPOINT).write_text(note, encoding="utf-8")
    (directory / LOG_VKEY).write_text(vkey, encoding="utf-8")
    document = valuation.state_json(writer.state)
    document["digest"] = valuation.digest(writer.state)
    with (directory / STATE).open("wb") as handle:
        handle.writelines(canonical_chunks(document))
        handle.write(b"\n")
    print(
        f"made {writer.size:,} leaves ({writer.state.member_count:,} members, "
        f"{writer.state.contribution_count:,} contributions; {writer.refused} entries refused "
        "by valuation and left out)"
    )


def raw_verify_rate(directory: Path, count: int) -> tuple[float, float]:
    """PyNaCl VerifyKey.verify per second on the bundle's own first `count` signatures, by the
    wall clock and by this process's CPU time."""
    samples = []
    with (directory / LEAVES).open("rb") as handle:
        for _, line in zip(range(count), handle, strict=False):
            data = json.loads(line)["entry"]
            key = VerifyKey(bytes.fromhex(data["author"]))
            samples.append((key, entries.signing_bytes(data), bytes.fromhex(data["sig"])))
    wall, cpu = time.perf_counter(), time.process_time()
    for key, message, signature in samples:
        key.verify(message, signature)
    return len(samples) / (time.perf_counter() - wall), len(samples) / (time.process_time() - cpu)


def _peak_mib() -> float:
    """This process's peak RSS. On Linux, VmHWM: getrusage's ru_maxrss would also count the
    RSS of the generating parent at the fork before exec, which Linux folds into it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(directory: Path, jobs: int, profile: bool) -> None:
    """Run in the child: raw rate, then verify_bundle; print one JSON line."""
    raw_rate, raw_cpu_rate = raw_verify_rate(directory, 20_000)
    if profile:
        import cProfile
        import pstats

        cProfile.runctx(
            "verify_bundle(directory, jobs=jobs)",
            globals(),
            {"directory": directory, "jobs": jobs},
            "/tmp/verify.prof",
        )
        pstats.Stats("/tmp/verify.prof").sort_stats("tottime").print_stats(25)
        return
    wall, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    report = verify_bundle(directory, jobs=jobs)
    result = {
        "ok": report.ok,
        "failure": None if report.failure is None else str(report.failure),
        "entries": report.entries,
        "seconds": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "workers_cpu": _children_cpu() - children,
        "raw_rate": raw_rate,
        "raw_cpu_rate": raw_cpu_rate,
        "peak_mib": _peak_mib(),
        "worker_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=200_000)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, help="where to keep the bundle [default: a temp dir]")
    parser.add_argument("--profile", action="store_true", help="print verify_bundle's hot spots")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's entry
    args = parser.parse_args()
    if args.measure is not None:
        measure(args.measure, args.jobs, args.profile)
        return

    directory = args.dir or Path(tempfile.mkdtemp(prefix="multitude-bench-")) / "bundle"
    existing = directory / CHECKPOINT
    if existing.is_file() and f"\n{args.leaves}\n" in existing.read_text():
        print(f"reusing the bundle in {directory}")
    else:
        started = time.perf_counter()
        make_bundle(directory, args.leaves, args.members, args.seed)
        print(f"  in {time.perf_counter() - started:.1f} s, into {directory}")
    size = (directory / LEAVES).stat().st_size
    print(f"leaves.jsonl: {size / 2**20:,.1f} MiB")

    command = [sys.executable, __file__, "--measure", str(directory), "--jobs", str(args.jobs)]
    if args.profile:
        subprocess.run([*command, "--profile"], check=True)
        return
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["ok"]:
        print(f"verify FAILED: {result['failure']}")
        sys.exit(1)
    n = result["entries"]
    rate = n / result["seconds"]
    print(
        f"verify_bundle --jobs {args.jobs}: {n:,} leaves in {result['seconds']:.1f} s "
        f"= {rate:,.0f} leaves/s"
    )
    print(f"raw PyNaCl Ed25519 verify, same run: {result['raw_rate']:,.0f} /s")
    print(f"ratio (wall clock): {rate / result['raw_rate']:.0%} of the raw verify rate")
    # CPU time is what a loaded machine does not distort: the cost of one leaf against the cost
    # of one raw verify. With workers on their own cores, the main process bounds the rate.
    raw_us = 1e6 / result["raw_cpu_rate"]
    main_us = 1e6 * result["cpu"] / n
    workers_us = 1e6 * result["workers_cpu"] / n
    print(
        f"CPU per leaf: {main_us:,.0f} us in the main process"
        + (f" + {workers_us:,.0f} us in the workers" if args.jobs > 1 else "")
        + f"; one raw verify: {raw_us:,.0f} us"
    )
    bound = ", the main process's share (workers on cores of their own)" if args.jobs > 1 else ""
    print(f"ratio (CPU time{bound}): {raw_us / main_us:.0%} of the raw verify rate")
    workers = f", workers {result['worker_peak_mib']:,.0f} MiB at most" if args.jobs > 1 else ""
    print(f"peak RSS: {result['peak_mib']:,.0f} MiB{workers}")


if __name__ == "__main__":
    main()
