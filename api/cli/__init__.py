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

import valuation
from api.cli.common import CommandError, err
from ledger.errors import LedgerError

app = typer.Typer(
    name="multitude",
    help="A signed, append-only ledger of contributions and peer evaluations, valued live.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# In the order `multitude --help` lists them.
COMMAND_MODULES = ("network", "member", "audit", "check", "explain", "demo", "simulate")

for _name in COMMAND_MODULES:
    importlib.import_module(f"api.cli.{_name}").register(app)


def main() -> None:
    try:
        app()
    except (CommandError, LedgerError, valuation.ValuationError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        err.print(f"[red]error:[/] {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}")
        sys.exit(1)
