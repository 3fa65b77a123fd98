"""`multitude --help` and the member's commands start quickly: they import no database, no
migrations and no server stack, and no pydantic (issue 17). Measured by what is imported, not by
the clock (`python -m bench.startup` gives the times)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer._click import Context
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param

from api.cli import app, coercion, member
from api.client import DEFAULT_API
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "uvicorn",
    "starlette",
    "pydantic",
    "pydantic_settings",
    "psycopg",
    "valuation.algorithms",  # both algorithms: only the commands that value need them
)
# What `import api.cli` and `--help` need none of either: the HTTP client, signatures, rich.
NOT_FOR_HELP = (*HEAVY, "httpx", "nacl", "rich", "ledger.entries", "valuation")


def imported_by_import() -> list[str]:
    script = (
        "import json, sys\n"
        "import api.cli\n"
        f"print(json.dumps([m for m in {list(NOT_FOR_HELP)!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    found: list[str] = json.loads(done.stdout)
    return found


def imported_after(*argv: str) -> list[str]:
    script = (
        "import json, sys\n"
        f"sys.argv = ['multitude', *{list(argv)!r}]\n"
        "from api import cli\n"
        "try:\n"
        "    cli.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {list(NOT_FOR_HELP)!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    last = done.stdout.strip().splitlines()[-1]
    found: list[str] = json.loads(last)
    return found


def test_importing_the_command_line_imports_nothing_heavy() -> None:
    assert imported_by_import() == []


@pytest.mark.parametrize("argv", [["--help"], ["join", "--help"], ["figures", "--help"]])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    assert imported_after(*argv) == []


@pytest.mark.parametrize(
    "argv",
    [
        # nothing listens on port 9: one sentence, exit 1
        ["leaderboard", "--by", "tokens", "--limit", "5", "--api", "http://127.0.0.1:9"],
        ["checkpoint", "--api", "http://127.0.0.1:9"],
        ["figures", "abcd", "--trust-server-key", "--api", "http://127.0.0.1:9"],
        ["contribute", "--key", "none.key", "t", "--tag", "a", "--api", "http://127.0.0.1:9"],
    ],
)
def test_member_commands_import_no_database_no_server_and_no_pydantic(argv: list[str]) -> None:
    assert [m for m in imported_after(*argv) if m in HEAVY] == []


def test_a_database_command_imports_the_database_when_it_runs(tmp_path: Path) -> None:
    assert "sqlalchemy" in imported_after("check", "--db", f"sqlite:///{tmp_path / 'none.db'}")


def test_the_default_api_shown_by_the_command_line_is_the_clients() -> None:
    assert member.DEFAULT_API == DEFAULT_API


# --- the quick coercion (api.cli.coercion) against typer's own ------------------------------


def _outcome(runtime: object, value: object, param: object, ctx: Context) -> tuple[object, ...]:
    try:
        got = runtime._coerce_value(value, param=param, ctx=ctx)
    except BadParameter as exc:
        return ("refused", exc.format_message())
    return ("accepted", got, type(got))


@pytest.mark.parametrize(
    ("command", "name", "values"),
    [
        ("leaderboard", "limit", ["1", "20", "1000", "0", "1001", "-5", "007", "-0", 20]),
        ("leaderboard", "limit", [" 12", "12 ", "1_000", "+3", "1e3", "12.0", "abc", "", "٣"]),
        ("leaderboard", "limit", ["9" * 30, "-" + "9" * 30]),
        ("evaluate", "value", ["-1", "1", "0", "-", "--1", "3.5", "x"]),
        ("demo", "members", ["5", "6", "1000", "1001"]),
        ("leaderboard", "by", ["reputation", "tokens", "Tokens", "x", ""]),
        ("contributions", "order_by", ["score", "time", "Score", "nope"]),
        ("join", "name", ["Ann", "", " x ", "é"]),
        ("contribute", "tag", [("a", "b"), (), ["x"]]),
        ("leaderboard", "key", ["a.key", "", ".", "/nonexistent/x", "README.md", Path("b")]),
        ("leaderboard", "json_out", [True, False]),
    ],
)
def test_the_quick_coercion_agrees_with_typers(
    command: str, name: str, values: list[object]
) -> None:
    """Every value is accepted as the same value of the same type, or refused with the same
    message, as typer's own (pydantic) coercion would."""
    group = typer.main.get_command(app)
    cmd = group.commands[command]
    param = next(p for p in cmd.params if p.name == name)
    quick = coercion.quick_param(param.type_descriptor)
    assert quick is not None, f"{command} {name} has no quick coercion"
    slow = build_runtime_param(param.type_descriptor)
    ctx = Context(cmd)
    for value in values:
        assert _outcome(quick, value, param, ctx) == _outcome(slow, value, param, ctx), value


def test_every_parameter_of_the_command_line_has_a_quick_coercion() -> None:
    """A new option of another type would bring pydantic back into every run of its command:
    give it a quick coercion in `api.cli.coercion`, or say here why not."""
    group = typer.main.get_command(app)
    missing = [
        f"{name} {param.name}: {param.type_descriptor.annotation!r}"
        for name, cmd in group.commands.items()
        for param in cmd.params
        if coercion.quick_param(param.type_descriptor) is None
    ]
    assert missing == []


def test_help_lists_every_command_with_a_whole_sentence(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli(capsys, "--help")
    assert result.code == 0, result.err
    listed = result.out.split("Commands:", 1)[1].strip().splitlines()
    assert len(listed) >= 20, listed  # one line each, none wrapped
    cut = [line for line in listed if line.rstrip().endswith("...")]
    assert cut == [], cut
