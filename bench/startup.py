"""How long `multitude` takes to start, beside the goal (0.3 s) and the old figure (0.55 s).

    python -m bench.startup [--runs 7]

Each command runs `--runs` times as the console script does (`python -c "from api.cli import
main; main()"`), and the best run is shown: the machine is shared, and the least time is the
one the code costs. `--help` is timed to its exit. A command that talks to the API is timed to
the request that does its work, which a stand-in API here receives: a read to its first
request, `join` to its POST (after it has read its key, asked for the genesis and its seq, and
signed). The stand-in then answers 503, and the command's one-sentence refusal is not timed.

Two figures per command: the wall time, and the CPU time of the process itself (its rusage at
exit, or `/proc/PID/schedstat` at the request), which moves less when other work shares the
cores. `import api.cli` alone is timed in a fresh process too.

Bytecode must be cached for the figures to mean anything: with PYTHONDONTWRITEBYTECODE set,
every run compiles the project's modules again, so this script unsets it (and the first run of
each command, which writes the cache, is not counted).

The 0.55 s before is issue 17's figure for the member commands (typer 0.29's pydantic adapters,
httpx and its own command line, the certificate store, both valuation algorithms); `multitude
--help` took 0.18-0.30 s then.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.3
BEFORE = 0.55
ENTRY = "import sys; sys.argv[0] = 'multitude'; from api.cli import main; main()"
KEY = "{key}"  # stands for a member's key file made for the run

# (what, arguments, timed to: "exit", "request" (the first) or "POST")
COMMANDS: list[tuple[str, list[str], str]] = [
    ("multitude --help", ["--help"], "exit"),
    ("multitude join --help", ["join", "--help"], "exit"),
    ("multitude figures --help", ["figures", "--help"], "exit"),
    ("multitude leaderboard (to its request)", ["leaderboard"], "request"),
    ("multitude members (to its request)", ["members"], "request"),
    ("multitude checkpoint (to its request)", ["checkpoint"], "request"),
    (
        "multitude figures KEY (to its request)",
        ["figures", "ab" * 32, "--trust-server-key"],
        "request",
    ),
    ("multitude join (to its POST)", ["join", "--key", KEY, "--name", "Ann"], "POST"),
]


class StandIn(BaseHTTPRequestHandler):
    """Just enough of the API for a member's command to reach the request that does its work:
    a genesis, a key that has not joined (next seq 1), and 503 for anything else."""

    protocol_version = "HTTP/1.1"
    seen: queue.Queue[tuple[str, float, float]] = queue.Queue()
    pid = 0

    def do_GET(self) -> None:
        self._seen("GET")
        if self.path.startswith("/v1/entries"):
            genesis = {"network": "bench", "author": "00" * 32, "body": {}}
            self._answer(200, {"items": [{"entry": genesis}], "next": None})
        elif self.path.startswith("/v1/members/"):
            self._answer(404, {"status": 404, "detail": "not a member", "next_seq": 1})
        else:
            self._answer(503, {"status": 503, "detail": "a stand-in"})

    def do_POST(self) -> None:
        self._seen("POST")
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(503, {"status": 503, "detail": "a stand-in"})

    def _seen(self, method: str) -> None:
        self.seen.put((method, time.perf_counter(), _cpu_so_far(StandIn.pid)))

    def _answer(self, status: int, document: object) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _cpu_so_far(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/schedstat") as handle:
            return int(handle.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return float("nan")


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("MULTITUDE_API", None)
    return env


def once(args: list[str], until: str, api: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one run, to its exit or to the request it is timed to."""
    while not StandIn.seen.empty():
        StandIn.seen.get_nowait()
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args, *(["--api", api] if until != "exit" else [])],
        cwd=ROOT,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    StandIn.pid = process.pid
    if until == "exit":
        _, _, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = 0  # reaped above
        return wall, usage.ru_utime + usage.ru_stime
    while True:
        method, at, cpu = StandIn.seen.get(timeout=60)
        if until == "request" or method == until:
            break
    process.wait()
    return at - start, cpu


def import_time(runs: int) -> float:
    script = "import time; t = time.perf_counter(); import api.cli; print(time.perf_counter() - t)"
    times = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=environment(),
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(done.stdout))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (best shown)")
    runs = max(1, parser.parse_args().runs)
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with tempfile.TemporaryDirectory() as folder:
            key = Path(folder) / "member.key"
            key.write_text("11" * 32 + "\n")
            key.chmod(0o600)
            commands = [
                (what, [str(key) if a == KEY else a for a in args], until)
                for what, args, until in COMMANDS
            ]
            report(commands, runs, api)
    finally:
        server.shutdown()


def report(commands: list[tuple[str, list[str], str]], runs: int, api: str) -> None:
    for _, args, until in commands:  # write the bytecode cache
        once(args, until, api)
    print(f"best of {runs} runs; goal {GOAL:.2f} s, before {BEFORE:.2f} s (member commands)")
    print(f"{'command':<42} {'wall':>7} {'cpu':>7} {'goal':>6} {'before':>7}")
    for what, args, until in commands:
        timed = [once(args, until, api) for _ in range(runs)]
        wall = min(w for w, _ in timed)
        cpu = min(c for _, c in timed)
        mark = "ok" if wall < GOAL else "SLOW"
        print(f"{what:<42} {wall:>6.3f}s {cpu:>6.3f}s {GOAL:>5.2f}s {BEFORE:>6.2f}s  {mark}")
    print(f"{'import api.cli (in process)':<42} {import_time(runs):>6.3f}s")


if __name__ == "__main__":
    main()
