"""Fixtures: the community of `community.py`, and a live server over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nacl.signing import SigningKey
from sqlalchemy import Engine

from tests.dashboard.community import Community, build
from tests.dashboard.server import DashboardServer, serve


@pytest.fixture
def community(engine: Engine, log_key: SigningKey) -> Community:
    return build(engine, log_key)


@pytest.fixture
def live_server(database_url: str, community: Community) -> Iterator[DashboardServer]:
    yield from serve(database_url, community)
