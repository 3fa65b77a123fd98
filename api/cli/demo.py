"""`multitude demo`: the command that fills a database with the simulated community of
`api.demo`, exports the audit bundle and verifies it."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from api.cli.common import CommandError, open_ledger


def _default_place(db: str | None) -> tuple[str, Path]:
    """The database URL and a directory for the bundle: beside a SQLite file, else a new
    temporary directory."""
    from ledger.db import sqlite_file

    if db is not None:
        file = sqlite_file(db)
        if file is not None:
            return db, file.resolve().parent / "demo-bundle"
        return db, Path(tempfile.mkdtemp(prefix="multitude-demo-")) / "bundle"
    place = Path(tempfile.mkdtemp(prefix="multitude-demo-"))
    return f"sqlite:///{place / 'multitude.db'}", place / "bundle"


def demo(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            help="an empty database to fill [default: a new temporary SQLite]",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", metavar="N", help="the same seed gives the same figures")
    ] = 1,
    members: Annotated[int, typer.Option("--members", metavar="N", min=6, max=1000)] = 30,
    entries: Annotated[int, typer.Option("--entries", metavar="N", min=10, max=20_000)] = 400,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIRECTORY", help="where to write the audit bundle"),
    ] = None,
) -> None:
    """Fill a database with a simulated community, live.

    Members sign, the log values, the audit verifies. On a database that already holds the
    demo's community it does nothing, so that `multitude demo --db URL && multitude serve` can
    be run again."""
    from api.demo import NETWORK, export_and_verify, run
    from ledger.db import unavailable_on_outage

    console = Console(highlight=False, soft_wrap=True)
    url, bundle = _default_place(db)
    bundle = out or bundle
    if members > entries:
        raise CommandError("give more entries than members: every member signs a join")
    with unavailable_on_outage():
        probe = open_ledger(url, None)
        held = None if probe.is_empty() else probe.network().name
        probe.engine.dispose()
    if held == NETWORK:
        console.print(f"{url} already holds the demo's community: skipped the demo")
        return
    if held is not None:
        raise CommandError(f"{url} already holds a network: the demo needs an empty database")
    if bundle.exists() and any(bundle.iterdir()):
        raise CommandError(f"{bundle} is not empty: give another --out")
    ledger = open_ledger(url, None, create_key=True)
    started = time.monotonic()
    outcome = run(ledger, seed=seed, members=members, entries=entries, console=console)
    elapsed = time.monotonic() - started
    console.print(
        f"\n{outcome.appended + 1} signed entries in the log, the genesis and {outcome.appended} "
        f"by members, appended in {elapsed:.1f} s ({outcome.refused} refused by the log), "
        f"seed {seed}, database {url}"
    )
    if bundle.exists() and not any(bundle.iterdir()):
        shutil.rmtree(bundle)
    ok, what = export_and_verify(ledger, bundle)
    ledger.engine.dispose()
    if not ok:
        raise CommandError(what)
    console.print(f"[green]✓[/] {what}")
    console.print("\n[bold]Next[/]")
    console.print(f"  multitude serve --db {url}")
    console.print("  then open http://127.0.0.1:8000/docs (the API), and in another terminal:")
    console.print("  multitude leaderboard")
    console.print("  multitude contributions")
    console.print("  multitude show ID")
    console.print(f"  multitude verify {bundle}")


def register(app: typer.Typer) -> None:
    """Add `demo` to `app`."""
    app.command("demo")(demo)
