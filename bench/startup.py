"""How long `multitude` takes to start, beside the goal (0.3 s) and the old figure (0.55 s).

    python -m bench.startup [--runs 5]

Each command runs `--runs` times as the console script does (`python -c "from api.cli import
main; main()"`), and the best run is shown: the machine is shared, and the least time is the
one the code costs. Commands that talk to the API are measured up to their first request: a
socket here accepts the connection and times the first byte, then closes it (the command then
reports that the API cannot be reached, which is not timed). `import api.cli` alone is shown
too.

Bytecode must be cached for the figures to mean anything: with PYTHONDONTWRITEBYTECODE set,
every run compiles the project's modules again, so this script unsets it (the first run of
each command writes the cache and is not the best).

The 0.55 s before is issue 17's figure for member commands (typer 0.29's pydantic adapters and
httpx), `multitude --help` took 0.18-0.30 s then.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.3
BEFORE = 0.55
ENTRY = "import sys; sys.argv[0] = 'multitude'; from api.cli import main; main()"

# (what, arguments, whether it is timed up to its first request)
COMMANDS: list[tuple[str, list[str], bool]] = [
    ("multitude --help", ["--help"], False),
    ("multitude join --help", ["join", "--help"], False),
    ("multitude figures --help", ["figures", "--help"], False),
    ("multitude leaderboard (to the request)", ["leaderboard"], True),
    ("multitude members (to the request)", ["members"], True),
    ("multitude checkpoint (to the request)", ["checkpoint"], True),
]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("MULTITUDE_API", None)
    return env


def once(args: list[str], to_request: bool) -> tuple[float, float]:
    """(wall, CPU) seconds of one run: to its exit, or to the first byte of its first request.

    The CPU time is the process's own (`/proc/PID/schedstat` at the first byte, or its
    rusage at exit): on a shared machine it moves less than the wall time, which includes the
    time spent waiting for a core."""
    env = environment()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", ENTRY, *args, *(["--api", url] if to_request else [])],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if to_request:
            connection, _ = server.accept()
            with connection:
                connection.recv(1)
                wall = time.perf_counter() - start
                cpu = _cpu_so_far(process.pid)
            process.wait()
            return wall, cpu
    _, _, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = 0  # reaped above
    return wall, usage.ru_utime + usage.ru_stime


def _cpu_so_far(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/schedstat") as handle:
            return int(handle.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return float("nan")


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (best shown)")
    options = parser.parse_args()
    runs = max(1, options.runs)
    for _, args, to_request in COMMANDS:  # write the bytecode cache
        once(args, to_request)
    print(f"best of {runs} runs; goal {GOAL:.2f} s, before {BEFORE:.2f} s (member commands)")
    print(f"{'command':<42} {'wall':>7} {'cpu':>7} {'goal':>6} {'before':>7}")
    for what, args, to_request in COMMANDS:
        runs_of = [once(args, to_request) for _ in range(runs)]
        wall = min(w for w, _ in runs_of)
        cpu = min(c for _, c in runs_of)
        mark = "ok" if wall < GOAL else "SLOW"
        print(f"{what:<42} {wall:>6.3f}s {cpu:>6.3f}s {GOAL:>5.2f}s {BEFORE:>6.2f}s  {mark}")
    print(f"{'import api.cli (in process)':<42} {import_time(runs):>6.3f}s")


if __name__ == "__main__":
    main()
