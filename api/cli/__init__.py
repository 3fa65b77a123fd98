"""The `multitude` command (SPEC section 8). Every failure is one sentence and a non-zero exit.

Each group of commands is a module of this package with a `register(app)` function; the one
list below, COMMAND_MODULES, is where they meet. A new group of commands is a new module here
and its name added to that list. Shared options, `CommandError` and `open_ledger` live in
`api.cli.common`, which imports none of the command modules.
"""

from __future__ import annotations

import importlib
import sys

import typer

from api.cli.common import CommandError, err
from ledger.errors import LedgerError

app = typer.Typer(
    name="multitude",
    help="A signed, append-only ledger of contributions and peer evaluations, valued live.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

# In the order `multitude --help` lists them.
COMMAND_MODULES = ("network", "member", "audit", "check", "explain", "demo")

for _name in COMMAND_MODULES:
    importlib.import_module(f"api.cli.{_name}").register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        err.print(f"[red]error:[/] {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}")
        sys.exit(1)
    except Exception as exc:
        if not _one_sentence(exc):
            raise
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(1)


def _one_sentence(exc: Exception) -> bool:
    """Whether `exc` is a refusal to print as one sentence rather than a bug to show in full.

    `valuation` is imported only by the commands that value; when it was never imported, none
    of its errors can have been raised."""
    if isinstance(exc, CommandError | LedgerError):
        return True
    errors = sys.modules.get("valuation.errors")
    return errors is not None and isinstance(exc, errors.ValuationError)
