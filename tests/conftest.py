"""Shared fixtures: every database test runs on SQLite, and on PostgreSQL too when
`MULTITUDE_TEST_DATABASE_URL` is set. Schemas are built with `alembic upgrade head`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from sqlalchemy import Engine, create_engine, text

from ledger.db import make_engine, upgrade
from ledger.service import Ledger
from tests.helpers import PG_URL, new_ledger

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        assert PG_URL is not None
        reset_postgres(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'multitude.db'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def log_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def ledger(engine: Engine, log_key: SigningKey) -> Ledger:
    return new_ledger(engine, log_key)
