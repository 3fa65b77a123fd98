"""A real `multitude serve` in a subprocess on a free loopback port, started, killed and
restarted by the stress tests, with a PostgreSQL database of a test's own and `multitude check`
run as its own process.

The server runs in its own process group, so that a SIGKILL reaches the uvicorn supervisor and
every worker at once, as a power cut would.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.helpers import MULTITUDE, PG_URL, free_port

HOST = "127.0.0.1"  # only loopback is ever load-tested


class Server:
    """`multitude serve` on one database, started, killed and restarted by the test."""

    def __init__(self, url: str, workdir: Path, workers: int) -> None:
        self.url = url
        self.workdir = workdir
        self.workers = workers
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log_key = workdir / "multitude-log.key"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 60.0) -> None:
        assert self.proc is None
        log = (self.workdir / f"serve-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                MULTITUDE,
                "serve",
                "--db",
                self.url,
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--log-key",
                str(self.log_key),
                # These tests load the log on purpose, from one address: no write limit.
                "--no-write-limit",
            ],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited with {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.base}/v1/log/checkpoint", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not answer within {timeout} s: {self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole server: supervisor and workers, no chance to clean up."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)
        self.proc = None

    def log(self) -> str:
        logs = sorted(self.workdir.glob("serve-*.log"))
        return logs[-1].read_text(errors="replace")[-3000:] if logs else ""

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.base}{path}", params=params, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()


@contextmanager
def own_postgres_database() -> Iterator[str]:
    """A database of this test's own on the test server, dropped after.

    Other test sessions reset the schema of the shared test database at any moment; a stress
    run of minutes must not share it.
    """
    if PG_URL is None:
        pytest.skip("MULTITUDE_TEST_DATABASE_URL is not set")
    name = f"multitude_stress_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'multitude.db'}"


def run_check(url: str) -> subprocess.CompletedProcess[str]:
    """`multitude check --db URL`, as its own process."""
    return subprocess.run(
        [MULTITUDE, "check", "--db", url],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )
