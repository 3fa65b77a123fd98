"""`multitude serve` in a subprocess: its limits flags reach every worker, and it stops on
SIGTERM as cleanly as on Ctrl-C: at once, even with an event stream open, and with nothing on
stderr but its own lines (no leaked semaphores from the signature checkers' pool, no
traceback)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import MULTITUDE, free_port

pytestmark = pytest.mark.slow  # each test starts servers: some 10 s apiece


@contextmanager
def serving(tmp_path: Path, *flags: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`multitude serve FLAGS` on a fresh SQLite database, once it answers; killed if the test
    leaves it running."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [MULTITUDE, "serve", "--db", f"sqlite:///{tmp_path / 'm.db'}", "--port", str(port), *flags],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # systemd stops the whole group: "process group" does too
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1].decode()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{base}/v1/log/checkpoint", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield server, base
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.mark.parametrize(("to", "workers"), [("server", 1), ("process group", 2)])
def test_sigterm_stops_serve_cleanly_with_a_stream_open(
    tmp_path: Path, to: str, workers: int
) -> None:
    with serving(tmp_path, "--workers", str(workers)) as (server, base):
        with (
            httpx.Client(timeout=30) as http,
            http.stream("GET", f"{base}/v1/events") as stream,
        ):
            lines = stream.iter_lines()
            assert next(lines) == "retry: 1000"
            stopped = time.monotonic()
            if to == "server":
                server.send_signal(signal.SIGTERM)
            else:
                os.killpg(server.pid, signal.SIGTERM)
            # The open stream ends cleanly (the last chunk is sent), rather than holding the
            # server up until the client leaves.
            assert list(lines) in ([], [""])
        _, err = server.communicate(timeout=30)
        took = time.monotonic() - stopped
    # uvicorn ends a worker by the signal it was sent (status 143 in a shell), or with 0 from
    # its supervisor: either way a stop that was asked for.
    assert server.returncode in (0, -signal.SIGTERM), server.returncode
    assert took < 10, f"stopping took {took:.1f} s"
    text = err.decode()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines and all(
        line.startswith(("created ", "serving network", "log verifier key: ")) for line in lines
    ), text


def test_serve_flags_set_the_write_limit_and_cors_of_every_worker(tmp_path: Path) -> None:
    flags = ["--workers", "2", "--write-limit", "1", "--cors-origin", "https://dash.example.org"]
    with serving(tmp_path, *flags) as (_, base), httpx.Client(base_url=base, timeout=30) as http:
        origin = {"Origin": "https://dash.example.org"}
        read = http.get("/v1/members", headers=origin)
        assert read.headers["access-control-allow-origin"] == "https://dash.example.org"
        # A burst of 1 write a minute per worker: whichever workers take them, by the third
        # write one of them has refused.
        statuses = [http.post("/v1/entries", content=b"{").status_code for _ in range(3)]
        assert 429 in statuses and set(statuses) <= {400, 429}, statuses
    with serving(tmp_path, "--no-write-limit") as (_, base), httpx.Client(base_url=base) as http:
        assert {http.post("/v1/entries", content=b"{").status_code for _ in range(20)} == {400}
        read = http.get("/v1/members", headers={"Origin": "https://dash.example.org"})
        assert "access-control-allow-origin" not in read.headers
