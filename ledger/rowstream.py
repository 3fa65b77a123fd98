"""Writing many rows at once: the dialect's bulk paths, and the `RowStream` that runs them on
a helper thread while an append goes on valuing the next entries.

The append path writes several rows per entry, so this goes to the driver directly: on SQLite
one executemany; on PostgreSQL a binary COPY for new rows and, for an upsert or an update, one
statement over `json_to_recordset` of the rows as one JSON text (psycopg's executemany would
send a message per row). A small group's writes on PostgreSQL go instead in one pipeline
(`RowStream`), where new rows are an executemany, COPY being refused there.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache, partial
from types import TracebackType
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.orm import Session

from ledger.db import driver_connection, driver_errors
from ledger.models import Base


def _table(model: type[Base]) -> Table:
    # Core inserts: executemany in one round trip, without the ORM's per-row bookkeeping.
    table = model.__table__
    assert isinstance(table, Table)
    return table


def write_rows(
    session: Session | Connection,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]],
    *,
    columns: Sequence[str] = (),
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """Insert `rows` in one statement: dicts with the same keys or, given `columns`, tuples of
    values in that order. With `conflict` (dicts only), a row whose key exists updates its
    `update` columns instead (`ON CONFLICT ... DO UPDATE`, which reads the same on SQLite and
    PostgreSQL).

    The append path writes several rows per entry, so this goes to the driver directly: on
    SQLite one executemany; on PostgreSQL a binary COPY for new rows and, for an upsert, one
    statement over `json_to_recordset` of the rows as one JSON text (psycopg's executemany
    would send a message per row). Rows written with `conflict` hold no bytes.
    """
    if not rows:
        return
    if columns:
        assert not conflict, "an upsert takes its rows as dicts"
        writer = _Writer(_connection(session), model, list(columns), positional=True)
    else:
        writer = _Writer(_connection(session), model, list(cast(Mapping[str, Any], rows[0])))
    if writer.postgresql and not conflict:
        if writer.pipelined():
            writer.insert_many(rows)  # COPY cannot run in a pipeline
        else:
            writer.copy(rows)
        return
    sql = f"INSERT INTO {writer.table} ({writer.column_list}) {writer.source()}"
    if conflict:
        quote = writer.quote
        sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)
        sql += f" ON CONFLICT ({', '.join(map(quote, conflict))}) DO UPDATE SET {sets}"
    writer.run(sql, rows)


def update_rows(
    session: Session | Connection, model: type[Base], rows: Sequence[Mapping[str, Any]], key: str
) -> None:
    """Set the other columns of the rows named by `key`, in one statement."""
    if not rows:
        return
    writer = _Writer(_connection(session), model, list(rows[0]))
    quote = writer.quote
    if writer.postgresql:
        sets = ", ".join(f"{quote(c)} = u.{quote(c)}" for c in writer.columns if c != key)
        sql = (
            f"UPDATE {writer.table} AS t SET {sets} FROM ({writer.source()}) "
            f"AS u ({writer.column_list}) WHERE t.{quote(key)} = u.{quote(key)}"
        )
    else:
        sets = ", ".join(f"{quote(c)} = :{c}" for c in writer.columns if c != key)
        sql = f"UPDATE {writer.table} SET {sets} WHERE {quote(key)} = :{key}"
    writer.run(sql, rows)


def _connection(target: Session | Connection) -> Connection:
    return target.connection() if isinstance(target, Session) else target


class _Writer:
    """The dialect's way to hand many rows of one table to the driver in one go."""

    def __init__(
        self,
        connection: Connection,
        model: type[Base],
        columns: list[str],
        positional: bool = False,
    ) -> None:
        self.connection = connection
        self.positional = positional  # rows are tuples in the order of `columns`
        dialect = self.connection.dialect
        self.postgresql = dialect.name == "postgresql"
        self.quote = dialect.identifier_preparer.quote
        self.model_table = _table(model)
        self.table = self.quote(self.model_table.name)
        self.columns = columns
        self.column_list = ", ".join(map(self.quote, columns))

    def source(self) -> str:
        if not self.postgresql:
            if self.positional:
                return f"VALUES ({', '.join('?' for _ in self.columns)})"
            return f"VALUES ({', '.join(f':{c}' for c in self.columns)})"
        # The rows as one JSON parameter: json.dumps writes it at C speed, where psycopg would
        # write a text array per column in Python.
        columns = ", ".join(f"{self.quote(c)} {self.sql_type(c)}" for c in self.columns)
        return f"SELECT * FROM json_to_recordset(%s::json) AS x ({columns})"

    def sql_type(self, column: str) -> str:
        """The column's type as the dialect writes it, such as `VARCHAR(64)`."""
        return _sql_type(self.model_table, column, self.connection.dialect)

    def copy(self, rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]]) -> None:
        driver = driver_connection(self.connection)
        columns = self.columns
        # Binary: no text to write here, nor to parse there (a leaf's bytes would go as hex).
        sql = f"COPY {self.table} ({self.column_list}) FROM STDIN (FORMAT BINARY)"
        with (
            driver_errors(self.connection, sql),
            driver.cursor() as cursor,
            cursor.copy(sql) as copy,
        ):
            dialect = self.connection.dialect
            copy.set_types(_copy_types(self.model_table, tuple(columns), dialect))
            if self.positional:
                for values in rows:
                    copy.write_row(values)
            else:
                for row in cast(Sequence[Mapping[str, Any]], rows):
                    copy.write_row([row[c] for c in columns])

    def pipelined(self) -> bool:
        """Whether the driver's connection is in pipeline mode (`RowStream`, PostgreSQL)."""
        return bool(driver_connection(self.connection).pgconn.pipeline_status)

    def insert_many(self, rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]]) -> None:
        """The rows as one INSERT's executemany, on the driver: in a pipeline, sent with the
        other statements rather than waited for."""
        driver = driver_connection(self.connection)
        columns = self.columns
        sql = (
            f"INSERT INTO {self.table} ({self.column_list}) "
            f"VALUES ({', '.join('%s' for _ in columns)})"
        )
        if not self.positional:
            rows = [[row[c] for c in columns] for row in cast(Sequence[Mapping[str, Any]], rows)]
        with driver_errors(self.connection, sql), driver.cursor() as cursor:
            cursor.executemany(sql, cast(Sequence[Sequence[Any]], rows))

    def run(self, sql: str, rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]]) -> None:
        if self.postgresql:
            assert not self.positional
            dicts = cast(Sequence[Mapping[str, Any]], rows)
            document = json.dumps([{c: row[c] for c in self.columns} for row in dicts])
            if self.pipelined():
                driver = driver_connection(self.connection)
                with driver_errors(self.connection, sql), driver.cursor() as cursor:
                    cursor.execute(sql, (document,))
            else:
                self.connection.exec_driver_sql(sql, (document,))
        else:
            # sqlite3's executemany, in the transaction SQLAlchemy began on this connection
            # (ledger.db: the driver issues no BEGIN of its own): SQLAlchemy's execution
            # context around it cost more than storing the few rows of a single append.
            with driver_errors(self.connection, sql):
                driver_connection(self.connection).executemany(sql, rows)


@cache
def _sql_type(table: Table, column: str, dialect: Dialect) -> str:
    # Compiled once per column: a commit of a few entries COPYs into several tables, and
    # compiling their types again each time cost as much as sending the rows.
    return str(table.c[column].type.compile(dialect=dialect))


@cache
def _copy_types(table: Table, columns: tuple[str, ...], dialect: Dialect) -> list[str]:
    """The type names a binary COPY of these columns declares, such as `varchar`."""
    return [_sql_type(table, column, dialect).split("(")[0].lower() for column in columns]


class RowStream:
    """Rows written by a helper thread, on the transaction's connection, while the caller goes
    on working out the next ones.

    Most of an append's database time is the server storing rows. Handed over as they are
    made, they are stored on another core while the caller's Python values the next entries
    (the driver lets go of the GIL while it waits on the server). While rows are pending the
    session's connection is the helper's: the caller gets the session back, for a query of its
    own, only through `with stream.session() as session:`, which first waits for every pending
    write (and hands nothing over until the block ends). A failed write is raised there, or at
    the end of the stream's own `with` block, and nothing handed over after it is written: the
    caller's transaction must then be rolled back.
    """

    def __init__(self, session: Session, *, threaded: bool = True) -> None:
        self._session = session
        self._connection = session.connection()
        self._lent = False  # whether the caller holds the session (see `session`)
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._error: BaseException | None = None
        # Not threaded (a few rows, where starting a thread and waiting on it costs more than
        # it saves): each write runs at once, in the caller's thread.
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="multitude-rows", daemon=True)
            self._thread.start()
        # Not threaded, on PostgreSQL: the writes wait here, and go to the server together in
        # one pipeline (`_flush`), so that a small group's several tables cost one round trip,
        # not one or two each.
        self._deferred: list[Callable[[], None]] | None = None
        if not threaded and self._connection.dialect.name == "postgresql":
            self._deferred = []

    def write(
        self,
        model: type[Base],
        rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]],
        *,
        columns: Sequence[str] = (),
        conflict: Sequence[str] = (),
        update: Sequence[str] = (),
    ) -> None:
        """`write_rows`, soon, after what was handed over before."""
        if rows:
            self._put(
                partial(
                    write_rows,
                    self._connection,
                    model,
                    rows,
                    columns=columns,
                    conflict=conflict,
                    update=update,
                )
            )

    def update(self, model: type[Base], rows: Sequence[Mapping[str, Any]], key: str) -> None:
        """`update_rows`, soon, after what was handed over before."""
        if rows:
            self._put(partial(update_rows, self._connection, model, rows, key))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """The session, once everything handed over is written, for the caller's own queries;
        nothing may be handed over until the block ends."""
        self._flush()
        self._queue.join()
        if self._error is not None:
            raise self._error
        self._lent = True
        try:
            yield self._session
        finally:
            self._lent = False

    def _put(self, job: Callable[[], None]) -> None:
        assert not self._lent, "rows handed over while the caller holds the session"
        if self._deferred is not None:
            self._deferred.append(job)
        elif self._thread is None:
            job()
        else:
            self._queue.put(job)

    def _flush(self) -> None:
        """Send the deferred writes in one pipeline and wait for them (raising the first
        error)."""
        if not self._deferred:
            return
        jobs, self._deferred = self._deferred, []
        with driver_errors(self._connection), driver_connection(self._connection).pipeline():
            for job in jobs:
                job()

    def __enter__(self) -> RowStream:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        if kind is None:
            self._flush()
        if kind is None and self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    job()
            except BaseException as exc:  # the caller's to raise (and to roll back)
                self._error = exc
            finally:
                self._queue.task_done()
