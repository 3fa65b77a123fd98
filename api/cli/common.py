"""What every `multitude` command shares: the `--db`, `--log-key` and report `--json` options,
the consoles, the progress bar, `CommandError` and opening the ledger. It imports none of the
command modules, so each of them imports this and nothing of its siblings.

`multitude --help` and the member's commands must start quickly (issue 17): the database, the
migrations and the server stack are imported inside the functions that use them, never here."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from nacl.signing import VerifyKey

    from ledger.service import Appended, Ledger, NetworkConfig

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

HEX64 = re.compile(r"[0-9a-f]{64}")
PREFIX = re.compile(r"[0-9a-f]{4,63}")


class CommandError(Exception):
    """A failure to report to the person at the terminal in one sentence."""


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        help="SQLAlchemy database URL",
        show_default="$MULTITUDE_DB, else sqlite:///multitude.db in the working directory",
    ),
]
ReportJsonOption = Annotated[
    bool, typer.Option("--json", help="print the result as one JSON document")
]
LogKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--log-key",
        metavar="FILE",
        help="the log's signing key file",
        show_default="multitude-log.key beside the database",
    ),
]


def db_url(db: str | None) -> str:
    from ledger.db import DEFAULT_URL

    return db or os.environ.get("MULTITUDE_DB") or DEFAULT_URL


def log_key_path(db: str, log_key: Path | None) -> Path:
    from api.settings import default_log_key_path

    return log_key or default_log_key_path(db)


def no_database(url: str, file: Path) -> str:
    """Where a command looked for a SQLite database that is not there, in words."""
    given = "" if url.endswith(str(file)) and file.is_absolute() else f" (from {url})"
    return f"there is no database at {file.resolve()}{given}"


def open_ledger(
    db: str, log_key: Path | None, *, create_key: bool = False, existing: bool = False
) -> Ledger:
    """Open (and migrate) the database; load the log key, creating it when asked. With
    `existing`, a SQLite file that is not there is an error rather than a new database."""
    from ledger import keys
    from ledger.db import make_engine, sqlite_file, unavailable_on_outage, upgrade
    from ledger.service import Ledger

    file = sqlite_file(db)
    if existing and file is not None and not file.exists():
        raise CommandError(f"{no_database(db, file)}: give --db, or create one with init")
    engine = make_engine(db)
    with unavailable_on_outage():
        upgrade(engine)
    path = log_key_path(db, log_key)
    if path.exists():
        key = keys.read_key(path)
    elif create_key:
        key = keys.generate()
        keys.write_key(path, key)
        err.print(f"created the log key {path} (mode 0600): keep it safe")
    else:
        key = None
    return Ledger(engine, key)


def new_network(
    ledger: Ledger, key_path: Path, config: Callable[[VerifyKey], NetworkConfig]
) -> tuple[Ledger, Appended]:
    """Sign the genesis of an empty log, creating the log key file if there is none yet.

    `config` is given the log's public key, from which a default network name is made (SPEC
    section 2), and may refuse with a `CommandError` before anything is written. A new key file
    is written before the genesis (so a network never exists without its key) and removed again
    if the genesis is refused, so a failed `init` leaves nothing behind to trip over."""
    from ledger import keys
    from ledger.service import Ledger

    created = not key_path.exists()
    key = keys.generate() if created else keys.read_key(key_path)
    settings = config(key.verify_key)
    if created:
        keys.write_key(key_path, key)
    ledger = Ledger(ledger.engine, key)
    try:
        appended = ledger.create_network(settings)
    except BaseException:
        if created:
            key_path.unlink(missing_ok=True)
        raise
    if created:
        err.print(f"created the log key {key_path} (mode 0600): keep it safe")
    return ledger, appended


def complete_id(ident: str, candidates: Iterable[str], what: str, *, noun: str = "id") -> str:
    """The one `noun` ("id", or "key" for members) among `candidates` that starts with `ident`
    (at least 4 hex characters)."""
    ident = ident.strip().lower()
    if HEX64.fullmatch(ident):
        return ident
    article = "an" if noun[0] in "aeiou" else "a"
    if not PREFIX.fullmatch(ident):
        raise CommandError(
            f"{ident!r} is not {article} {noun}: give 64 hex characters, or at least the first 4"
        )
    found = sorted({c for c in candidates if c.startswith(ident)})
    if not found:
        raise CommandError(f"no {what} has {article} {noun} starting with {ident}")
    if len(found) > 1:
        raise CommandError(f"{ident} is ambiguous: {len(found)} {noun}s start with it")
    return found[0]


ProgressCallback = Callable[[int, int], None]


@contextmanager
def progress_bar(
    description: str, *, unit: str, enabled: bool = True
) -> Iterator[ProgressCallback | None]:
    """A rich progress bar (on stderr) while stdout is a terminal, counting `unit`s ("bytes":
    sizes and speed); no bar (None) when stdout is a pipe or a file, or not `enabled`."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    if not enabled or not sys.stdout.isatty():
        yield None
        return
    console = Console(stderr=True)
    if unit == "bytes":
        columns = (DownloadColumn(), TransferSpeedColumn())
    else:
        columns = (MofNCompleteColumn(),)  # type: ignore[assignment]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *columns,
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
