"""Engines and transactions on SQLite and PostgreSQL alike, and the schema's migrations.

SQLite runs in WAL mode with `synchronous=FULL`, so that a commit is durable before it is
acknowledged, and writers open their transaction with `BEGIN IMMEDIATE`: SQLite's write lock
is then the log's ordering lock. On PostgreSQL the ordering lock is `pg_advisory_xact_lock`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session

import migrations
from ledger import repository as repo
from ledger.errors import LedgerError, UnavailableError

DEFAULT_URL = "sqlite:///multitude.db"
ORDERING_LOCK = 0x6D756C74  # "mult": the one advisory lock that orders appends
_TAKE_ORDERING_LOCK = f"SELECT pg_advisory_xact_lock({ORDERING_LOCK})"


class DatabaseURLError(LedgerError):
    """The database URL cannot be used."""


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseURLError(
            f"{url!r} is not a database URL (try sqlite:///multitude.db)"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_setup(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_timeout=10,
            connect_args={"connect_timeout": 5},
        )
    raise DatabaseURLError(f"{url!r}: only SQLite and PostgreSQL are supported")


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL (None for another database, one in memory, or a URL
    that `make_engine` will refuse)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    path = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or path in ("", ":memory:"):
        return None
    return Path(path.removeprefix("file:")).expanduser()


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's events issue BEGIN, so that writers can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages: large logs, batch writes
        # Copy the WAL into the database every 80 MiB rather than every 4: fewer fsyncs of the
        # database file under batch appends (each commit still syncs the WAL).
        cursor.execute("PRAGMA wal_autocheckpoint=20000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[tuple[Session, int]]:
    """One transaction holding the log's ordering lock, and the log's size under it; committed
    when the block ends cleanly.

    On SQLite, `BEGIN IMMEDIATE` is the lock. On PostgreSQL, BEGIN, the lock and the size go
    to the server in one pipeline, one round trip where they took three: the size is still
    read under the lock, the server running a pipeline's statements in turn, each on a
    snapshot of its own (READ COMMITTED)."""
    with unavailable_on_outage():
        conn = engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        try:
            with Session(bind=conn) as session, session.begin():
                yield session, _lock_and_size(session.connection())
        finally:
            conn.close()


def _lock_and_size(conn: Connection) -> int:
    if conn.dialect.name != "postgresql":
        return repo.size_after(conn.exec_driver_sql(repo.LAST_INDEX).scalar())
    driver = driver_connection(conn)
    with driver_errors(conn, _TAKE_ORDERING_LOCK):
        lock, size = driver.cursor(), driver.cursor()
        with driver.pipeline():
            lock.execute(_TAKE_ORDERING_LOCK)
            size.execute(repo.LAST_INDEX)
        row = size.fetchone()
    return repo.size_after(None if row is None else row[0])


def driver_connection(connection: Connection) -> Any:
    """The driver's own connection under `connection` (sqlite3's, or psycopg's)."""
    driver = connection.connection.driver_connection
    assert driver is not None
    return driver


@contextmanager
def driver_errors(connection: Connection, sql: str = "(a pipeline of writes)") -> Iterator[None]:
    """The driver's own errors, past SQLAlchemy, raised as SQLAlchemy would have raised them
    (`DataError`, `IntegrityError`, `OperationalError`, ...), as every other statement's
    error is."""
    dbapi = connection.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, None, exc, dbapi.Error) from exc


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A read-only transaction over one snapshot of the database (SQLite's read transaction;
    REPEATABLE READ on PostgreSQL, whose default gives each statement its own), so that a
    member's figures and R, say, come from the same commit."""
    with unavailable_on_outage(), Session(engine) as session, session.begin():
        if engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


@contextmanager
def unavailable_on_outage() -> Iterator[None]:
    """Turn a lost or unwritable database into `UnavailableError` (the API's 503)."""
    try:
        yield
    except OperationalError as exc:
        raise UnavailableError(f"the database is unavailable: {first_line(exc)}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise UnavailableError(f"the database connection was lost: {first_line(exc)}") from exc
        raise


def first_line(exc: DBAPIError) -> str:
    """The driver's message, its first line (no SQL, no parameters)."""
    return str(exc.orig).strip().splitlines()[0] if exc.orig else "unknown error"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (`alembic upgrade head`)."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
