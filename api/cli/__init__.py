"""The `multitude` command (SPEC section 8). Every failure is one sentence and a non-zero exit.

Each group of commands is a module of this package with a `register(app)` function; the one
list below, COMMAND_MODULES, is where they meet. A new group of commands is a new module here
and its name added to that list. Shared options, `CommandError` and `open_ledger` live in
`api.cli.common`, which imports none of the command modules.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, NoReturn

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
COMMAND_MODULES = ("network", "member", "audit", "check", "explain", "demo", "simulate")

for _name in COMMAND_MODULES:
    importlib.import_module(f"api.cli.{_name}").register(app)


def main() -> None:
    """The `multitude` console script: every refusal is one line `error: ...` and exit 1 (2 for
    a command line that does not parse), never a traceback."""
    _without_httpx_command_line()
    try:
        code = command()(standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(130)
    except OSError as exc:
        _fail(f"{exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}")
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `multitude` alone: the help
            print(exc)
            sys.exit(0)
        if _is_usage_error(exc):
            _fail(_usage_message(exc), code=2)
        if not _one_sentence(exc):
            raise
        _fail(str(exc))
    if isinstance(code, int) and code != 0:
        sys.exit(code)


def _without_httpx_command_line() -> None:
    """Keep httpx from importing its own command line, which it does whenever click, pygments
    and rich are installed (they are, for uvicorn, mkdocs and us): about 40 ms of a member
    command's start for nothing it uses (issue 17). A None in `sys.modules` makes that import
    fail, which httpx expects of an install without its `cli` extra. Only before httpx is
    imported, so that a process that already has it (a test run) keeps it as it is."""
    if "httpx" not in sys.modules and "httpx._main" not in sys.modules:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]


def command() -> Any:
    """The click command of `app`, each parameter given a coercion that needs no pydantic
    (see `api.cli.coercion`)."""
    built = typer.main.get_command(app)
    try:
        from api.cli.coercion import prime
    except ImportError:  # a typer that moved its internals: its own (slower) coercion
        return built
    prime(built)
    return built


def _fail(message: str, *, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/] {message}", highlight=False)
    sys.exit(code)


def _one_sentence(exc: Exception) -> bool:
    """Whether `exc` is a refusal to print as one sentence rather than a bug to show in full.

    `valuation` is imported only by the commands that value; when it was never imported, none
    of its errors can have been raised."""
    if isinstance(exc, CommandError | LedgerError):
        return True
    errors = sys.modules.get("valuation.errors")
    return errors is not None and isinstance(exc, errors.ValuationError)


def _is_usage_error(exc: Exception) -> bool:
    # Click's UsageError (typer vendors click, so it is matched by its shape, not its module).
    return callable(getattr(exc, "format_message", None)) and hasattr(exc, "ctx")


def _usage_message(exc: Any) -> str:
    message = str(exc.format_message()).rstrip(".")
    ctx = exc.ctx
    where = ctx.command_path if ctx is not None else "multitude"
    return f"{message} (see `{where} --help`)"
