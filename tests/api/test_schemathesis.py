"""schemathesis over the whole API (tests/fuzz.py), event stream included, on SQLite and
PostgreSQL: no server error, no broken stream, no schema violation, and a clean server log."""

from __future__ import annotations

import logging

import pytest

from api.app import create_app
from api.settings import Settings
from ledger.service import Ledger
from tests.fuzz import run_schemathesis
from tests.helpers import LiveServer

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25  # per operation and generation mode


def test_schemathesis_finds_no_server_error_and_no_broken_stream(
    ledger: Ledger, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.WARNING)
    settings = Settings(
        db="sqlite://",
        events_poll_seconds=0.05,
        events_keepalive_seconds=0.2,
        write_limit_per_minute=0,  # fuzz the routes, not the limit (tests/api/test_limits.py)
    )
    before = ledger.latest_checkpoint()
    # log_config=None: uvicorn's records reach the root logger, where caplog sees them.
    with LiveServer(create_app(settings, ledger=ledger), log_config=None) as base:
        summary = run_schemathesis(base, MAX_EXAMPLES)
    print(f"\nschemathesis: {summary.cases} cases, {summary.streams} streams")
    assert summary.server_errors == 0
    assert not summary.failures, "\n\n".join(summary.failures)
    assert summary.streams > 10
    # Fuzzed entries are signed by nobody: none can have been logged.
    assert ledger.latest_checkpoint() == before
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not noisy, [r.getMessage() for r in noisy]
    err = capfd.readouterr().err
    assert "Traceback" not in err, err[-3000:]
