"""`multitude check [--db URL]`: the database's own consistency check (`ledger.check`).

Exit 0 with a summary when every check holds, 1 naming the first problem. A progress bar is
drawn on a terminal only. `register(app)` adds the command to the `multitude` Typer app;
`python -m api.cli_check --db URL` runs it alone.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Engine

from ledger.check import CheckReport, check
from ledger.db import DEFAULT_URL, make_engine
from ledger.errors import LedgerError

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="SQLAlchemy database URL [default: $MULTITUDE_DB, else sqlite:///multitude.db]"
    ),
]


def check_command(db: DbOption = None) -> None:
    """Check the database: leaves, tree nodes, checkpoints, seq chains, figures against a replay."""
    out = Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True)
    url = db or os.environ.get("MULTITUDE_DB") or DEFAULT_URL
    try:
        engine = make_engine(url)
        try:
            report = _run(engine, err)
        finally:
            engine.dispose()
    except LedgerError as exc:
        err.print(f"[red]check failed:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(summary(report), highlight=False)


def _run(engine: Engine, err: Console) -> CheckReport:
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


def summary(report: CheckReport) -> str:
    if report.tree_size == 0:
        return f"ok: the log is empty and nothing else is stored ({report.seconds:.1f} s)"
    return (
        f"ok: {report.tree_size} leaves of network {report.network!r} ({report.origin}), "
        f"{report.authors} authors' seq chains, {report.nodes} tree nodes, "
        f"{report.checkpoints} signed checkpoints; {report.members} members, "
        f"{report.contributions} contributions and {report.evaluations} evaluations equal a "
        f"replay; root {report.root}, state digest {report.digest} ({report.seconds:.1f} s)"
    )


def register(app: typer.Typer) -> None:
    """Add `check` to the `multitude` command."""
    app.command("check")(check_command)


def main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _group() -> None:
        """Keep `check` a subcommand, as it is in `multitude`."""

    register(app)
    app(args=["check", *sys.argv[1:]], prog_name="multitude")


if __name__ == "__main__":
    main()
