"""`multitude check [--db URL]`: the database's own consistency check (`ledger.check`).

Exit 0 with a summary when every check holds, 1 naming the first problem. A progress bar is
drawn on a terminal only. `register(app)` adds the command to the `multitude` Typer app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from api.cli.common import CommandError, DbOption, db_url, no_database
from ledger.errors import LedgerError

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Engine

    from ledger.check import CheckReport


def check_command(db: DbOption = None) -> None:
    """Check the database against itself.

    Leaves, tree nodes, checkpoints, seq chains, and the figures against a replay."""
    from rich.console import Console

    from ledger.db import make_engine

    out = Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True)
    url = db_url(db)
    try:
        engine = make_engine(url)  # refuses a URL that is not one, in a sentence
        try:
            _must_exist(engine)
            report = _run(engine, err)
        finally:
            engine.dispose()
    except LedgerError as exc:
        err.print(f"[red]error:[/] check failed: {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(summary(report), highlight=False)


def _must_exist(engine: Engine) -> None:
    """A check never creates a database: SQLite would make an empty file of a mistyped path."""
    from ledger.db import sqlite_file

    path = sqlite_file(engine.url.render_as_string(hide_password=False))
    if path is not None and not path.exists():
        raise CommandError(no_database(engine.url.render_as_string(hide_password=False), path))


def _run(engine: Engine, err: Console) -> CheckReport:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from ledger.check import check

    if not err.is_terminal:
        return check(engine)
    columns = (
        TextColumn("checking leaves"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("leaves", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return check(engine, progress)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def summary(report: CheckReport) -> str:
    if report.tree_size == 0:
        return f"ok: the log is empty and nothing else is stored ({report.seconds:.1f} s)"
    return (
        f"ok: {_leaves(report.tree_size)} "
        f"of network {report.network!r} ({report.origin}), "
        f"the seq chains of {_count(report.authors, 'author')}, "
        f"{_count(report.nodes, 'tree node')}, "
        f"{_count(report.checkpoints, 'signed checkpoint')}; {_count(report.members, 'member')}, "
        f"{_count(report.contributions, 'contribution')} and "
        f"{_count(report.evaluations, 'evaluation')} equal a replay; root {report.root}, "
        f"state root {report.state_root} ({report.seconds:.1f} s)"
    )


def _leaves(n: int) -> str:
    return "1 leaf" if n == 1 else f"{n} leaves"


def register(app: typer.Typer) -> None:
    """Add `check` to the `multitude` command."""
    app.command("check")(check_command)
