"""Database faults: an outage is a prompt 503 problem, never a hang or a 500, and the API recovers
by itself without losing or duplicating an entry.

PostgreSQL: the server under test is a private PostgreSQL instance of this test's own (initdb in
a temporary directory, its own port on 127.0.0.1), stopped and started while writers append
through `multitude serve --workers 2`. The machine's shared server is never touched, so other
test runs on it are not disturbed; the instance is stopped and removed in a `finally`.

SQLite: a database opened read-only (`?mode=ro`) refuses an append with a 503 that says why;
a full database (SQLite's `max_page_count`, a full disk in miniature) does too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from nacl.signing import SigningKey
from sqlalchemy import event

from api.app import create_app
from api.settings import Settings
from ledger.check import check
from ledger.db import make_engine, upgrade
from ledger.entries import sign_entry
from ledger.service import Ledger
from tests.helpers import assert_problem, free_port, new_ledger
from tests.stress.clients import Outcome, audit, network_of, read_log, write_until
from tests.stress.server import HOST, Server, run_check, sqlite_url

pytestmark = pytest.mark.slow

PG_ROOT = Path("/usr/lib/postgresql")


class PrivatePostgres:
    """A PostgreSQL instance in a temporary directory, run as the `postgres` user."""

    def __init__(self) -> None:
        versions = sorted(PG_ROOT.glob("*/bin/pg_ctl")) if PG_ROOT.exists() else []
        if not versions or os.geteuid() != 0 or shutil.which("runuser") is None:
            pytest.skip("needs root, runuser and PostgreSQL's server binaries")
        self.bin = versions[-1].parent
        self.root = Path(tempfile.mkdtemp(prefix="multitude-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@{HOST}:{self.port}/postgres"
        shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={HOST}"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def remove(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.remove()


def member_entry(network: str) -> dict[str, Any]:
    key = SigningKey.generate()
    return sign_entry(key, network=network, kind="member.join", seq=1, body={"name": "n"})


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    assert response.headers.get("retry-after")
    return assert_problem(response, 503, "database")


def test_postgresql_outage_is_503_and_the_api_recovers_by_itself(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    pg = private_postgres
    server = Server(pg.url, tmp_path, workers=2)
    server.start()
    network = network_of(server.base)
    stop = threading.Event()
    outcomes: list[Outcome] = []
    writers = [
        threading.Thread(target=write_until, args=(server.base, seed, stop, outcomes))
        for seed in range(3)
    ]
    figures: dict[str, Any] = {}
    try:
        for thread in writers:
            thread.start()
        time.sleep(2)

        # 1. A plain outage: every request gets a prompt 503 problem.
        pg.stop()
        outage_started = time.monotonic()
        for _ in range(3):
            started = time.monotonic()
            assert_unavailable(
                httpx.post(f"{server.base}/v1/entries", json=member_entry(network), timeout=30)
            )
            assert_unavailable(httpx.get(f"{server.base}/v1/members", timeout=30))
            assert_unavailable(httpx.get(f"{server.base}/v1/log/checkpoint", timeout=30))
            assert time.monotonic() - started < 20, "an outage must not hang a request"
        figures["outage_seconds"] = round(time.monotonic() - outage_started, 1)

        # 2. The database returns: the API recovers without a restart of its own.
        pg.start()
        recovered = time.monotonic()
        while True:
            response = httpx.post(
                f"{server.base}/v1/entries", json=member_entry(network), timeout=30
            )
            if response.status_code == 201:
                break
            assert_unavailable(response)
            assert time.monotonic() - recovered < 30, "the API did not recover within 30 s"
            time.sleep(0.2)
        figures["recovery_seconds"] = round(time.monotonic() - recovered, 1)

        # 3. A restart under load, twice: stop and start at once, writers never pausing.
        for _ in range(2):
            time.sleep(1.5)
            pg.stop()
            pg.start()
        time.sleep(2)
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=90)
        if not (pg.data / "postmaster.pid").exists():
            pg.start()
    assert not any(thread.is_alive() for thread in writers)
    assert not [r for o in outcomes for r in o.refused], "a writer was refused or died"
    not_503 = [e for o in outcomes for e in o.errors if "HTTP" in e and "HTTP 503" not in e]
    assert not not_503, not_503
    result = audit(server.base, outcomes)
    present = set(read_log(server.base).ids)
    unknown = [i for o in outcomes for i in o.unknown]
    landed = sum(1 for i in unknown if i in present)
    assert result["size"] == result["acked"] + landed + 2  # the genesis and our one join
    engine = make_engine(pg.url)
    try:
        check(engine)
    finally:
        engine.dispose()
    server.stop()
    figures.update(result, unanswered=len(unknown), landed=landed)
    print(f"\npostgresql outage: {figures}")


@pytest.fixture
def read_only_sqlite(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A database with a network in it, then served read-only."""
    url = sqlite_url(tmp_path)
    writer = Server(url, tmp_path, workers=1)
    writer.start()
    response = httpx.post(
        f"{writer.base}/v1/entries", json=member_entry(network_of(writer.base)), timeout=30
    )
    assert response.status_code == 201
    writer.stop()
    yield f"sqlite:///file:{tmp_path / 'multitude.db'}?mode=ro&uri=true", tmp_path


def test_a_read_only_sqlite_database_is_a_clear_503_on_append(
    read_only_sqlite: tuple[str, Path],
) -> None:
    url, workdir = read_only_sqlite
    server = Server(url, workdir, workers=1)
    server.start()
    try:
        before = read_log(server.base)
        started = time.monotonic()
        problem = assert_unavailable(
            httpx.post(
                f"{server.base}/v1/entries", json=member_entry(network_of(server.base)), timeout=60
            )
        )
        assert "readonly" in problem["detail"].replace("-", "").replace(" ", "")
        assert time.monotonic() - started < 10, "a read-only database must not hang an append"
        assert read_log(server.base).ids == before.ids  # reads still work, nothing changed
    finally:
        server.stop()
    assert run_check(url).returncode == 0


def test_a_full_sqlite_database_is_a_503_and_leaves_no_trace(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    key = SigningKey.generate()
    new_ledger(engine, key)
    engine.dispose()

    full = make_engine(url)

    @event.listens_for(full, "connect")
    def _no_room(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    app = create_app(Settings(db=url), ledger=Ledger(full, key))
    with TestClient(app) as client:
        before = client.get("/v1/log/checkpoint").text
        joins = [
            sign_entry(
                SigningKey(bytes([n]) * 32),
                network="demo",
                kind="member.join",
                seq=1,
                body={"name": f"member {n}"},
            )
            for n in range(200)
        ]  # far more than the free room in the pages there are: the database is full
        response = client.post("/v1/entries/batch", json={"entries": joins})
        assert_problem(response, 503, "full")
        assert client.get("/v1/log/checkpoint").text == before, "a failed batch left a trace"
    full.dispose()
    engine = make_engine(url)
    try:
        check(engine)
    finally:
        engine.dispose()
