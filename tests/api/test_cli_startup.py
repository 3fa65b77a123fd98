"""`multitude --help` and the member's commands start quickly: they import no database, no
migrations and no server stack (issue 17). Measured by what is imported, not by the clock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from api.cli import member
from api.client import DEFAULT_API

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "alembic", "fastapi", "uvicorn", "starlette", "pydantic_settings", "psycopg")


def imported_after(*argv: str) -> list[str]:
    script = (
        "import json, sys\n"
        f"sys.argv = ['multitude', *{list(argv)!r}]\n"
        "from api import cli\n"
        "try:\n"
        "    cli.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    last = done.stdout.strip().splitlines()[-1]
    found: list[str] = json.loads(last)
    return found


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["join", "--help"],
        ["leaderboard", "--api", "http://127.0.0.1:9"],  # nothing listens: one sentence, exit 1
        ["checkpoint", "--api", "http://127.0.0.1:9"],
    ],
)
def test_help_and_member_commands_import_no_database_and_no_server(argv: list[str]) -> None:
    assert imported_after(*argv) == []


def test_a_database_command_imports_the_database_when_it_runs(tmp_path: Path) -> None:
    assert "sqlalchemy" in imported_after("check", "--db", f"sqlite:///{tmp_path / 'none.db'}")


def test_the_default_api_shown_by_the_command_line_is_the_clients() -> None:
    assert member.DEFAULT_API == DEFAULT_API
