"""Helper processes end with their parent, however the parent ends."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARENT = """
import os, sys, time
os.cpu_count = lambda: 2  # a pool even on a one-core machine
from ledger.signatures import SignaturePool
if __name__ == "__main__":
    pool = SignaturePool()
    pool.warm()
    print(" ".join(str(pid) for pid in pool.executor()._processes), flush=True)
    time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; only its parent has not collected it


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_signature_checkers_end_when_their_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert parent.stdout is not None
    checkers = [int(pid) for pid in parent.stdout.readline().split()]
    assert checkers and all(alive(pid) for pid in checkers)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(pid) for pid in checkers):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in checkers), "a signature checker outlived its parent"
