"""Stress fixtures: `serve(backend, workers)`, a real `multitude serve` (tests/stress/server.py)
on a fresh database.

Every test here is `slow`, and every loop is bounded in count and in time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.stress.server import Server, own_postgres_database, sqlite_url


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """`serve(backend, workers)` starts a server on a fresh database; all are stopped after."""
    servers: list[Server] = []
    with ExitStack() as stack:

        def start(backend: str, workers: int) -> Server:
            if backend == "postgresql":
                url = stack.enter_context(own_postgres_database())
            else:
                url = sqlite_url(tmp_path)
            server = Server(url, tmp_path, workers)
            servers.append(server)
            stack.callback(server.stop)
            server.start()
            return server

        yield start
