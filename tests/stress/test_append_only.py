"""Append-only for real: the database refuses to change a logged row, and whoever gets past it
(someone with the owner's rights turning the triggers off) is caught by `multitude check`.

On PostgreSQL the application runs as a role of its own with only SELECT/INSERT/UPDATE/DELETE
rights: the triggers refuse its UPDATE, DELETE and TRUNCATE on logged rows, and it cannot turn
them off (`ALTER TABLE ... DISABLE TRIGGER` needs the owner, `session_replication_role` a
superuser).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ledger.check import check
from ledger.db import make_engine, upgrade
from ledger.models import APPEND_ONLY_TABLES
from ledger.service import Appended, Ledger
from tests.helpers import Signer, new_ledger
from tests.stress.server import own_postgres_database, run_check, sqlite_url

pytestmark = pytest.mark.slow

CHANGES = {
    "leaves": "UPDATE leaves SET kind = 'member.join' WHERE idx = 3",
    "tree_nodes": "UPDATE tree_nodes SET hash = hash WHERE level = 1",
    "checkpoints": "UPDATE checkpoints SET digest = 'f' WHERE tree_size = 3",
    "postings": "UPDATE postings SET amount = amount * 2",
    "member_history": "DELETE FROM member_history",
}


def populate(engine: Engine) -> Ledger:
    ledger = new_ledger(engine, SigningKey.generate())
    ann, bob = Signer(), Signer()
    ledger.append([ann.join("Ann")])
    ledger.append([bob.join("Bob")])
    result = ledger.append([ann.submit("Write the FAQ", type="comment")])[0]
    assert isinstance(result, Appended), result
    ledger.append([bob.evaluate(result.id, 1)])
    return ledger


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    with own_postgres_database() as url:
        yield url


@pytest.fixture
def app_role(database: str) -> Iterator[str]:
    """On PostgreSQL, a login role with table rights only; elsewhere the database URL itself."""
    if not database.startswith("postgresql"):
        yield database
        return
    role = f"multitude_app_{secrets.token_hex(4)}"
    owner = create_engine(database, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(
            text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        )
        conn.execute(text(f"GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO {role}"))
    try:
        yield make_url(database).set(username=role).render_as_string(hide_password=False)
    finally:
        with owner.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        owner.dispose()


@pytest.fixture
def ledger(database: str) -> Iterator[Ledger]:
    engine = make_engine(database)
    upgrade(engine)
    yield populate(engine)
    engine.dispose()


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_the_application_cannot_change_a_logged_row(
    ledger: Ledger, app_role: str, table: str
) -> None:
    engine = make_engine(app_role)
    statements = [CHANGES[table]]
    if engine.dialect.name == "postgresql":
        statements += [
            f"TRUNCATE {table} CASCADE",
            f"ALTER TABLE {table} DISABLE TRIGGER ALL",
            "SET session_replication_role = replica",
        ]
    try:
        for statement in statements:
            with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
                conn.execute(text(statement))
            message = str(refused.value.orig)
            assert any(
                word in message for word in ("append-only", "must be owner", "permission denied")
            ), message
    finally:
        engine.dispose()
    check(ledger.engine)


def ledger_url(ledger: Ledger) -> str:
    return ledger.engine.url.render_as_string(hide_password=False)


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_multitude_check_catches_a_change_made_behind_the_triggers(
    ledger: Ledger, table: str
) -> None:
    engine = ledger.engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER ALL"))
        else:
            for action in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER {table}_no_{action}"))
        change = text(CHANGES[table].replace("hash = hash", "hash = :h"))
        changed = conn.execute(change, {"h": b"\x01" * 32} if table == "tree_nodes" else {})
        assert changed.rowcount >= 1
    checked = run_check(ledger_url(ledger))
    assert checked.returncode == 1, checked.stdout
    named = {"leaves": "leaf 3", "checkpoints": "checkpoint at tree size 3"}.get(table, table)
    assert "check failed" in checked.stderr and named in checked.stderr, checked.stderr
    assert "Traceback" not in checked.stderr
