"""Test helpers shared by the test modules: members that sign on their own machine, a ledger
with a fresh network and a small history, the command line in-process, a live server, the
checks of an append's result and of a problem document, and the reference vectors of
tests/vectors/."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from nacl.signing import SigningKey
from sqlalchemy import Engine

import valuation
from api.app import create_app
from api.settings import Settings
from ledger.entries import sign_entry
from ledger.errors import LedgerError
from ledger.service import Appended, Ledger, NetworkConfig

VECTORS = Path(__file__).resolve().parent / "vectors"
PG_URL = os.environ.get("MULTITUDE_TEST_DATABASE_URL")  # PostgreSQL too, when it is set
MULTITUDE = str(Path(sys.executable).with_name("multitude"))  # the console script, to run apart


def vector(name: str) -> Any:
    """The reference vector `tests/vectors/<name>`, parsed."""
    return json.loads((VECTORS / name).read_text("utf-8"))


class Signer:
    """A member (or the log) signing entries on its own machine, counting its seq."""

    def __init__(self, network: str = "demo", key: SigningKey | None = None) -> None:
        self.key = key or SigningKey.generate()
        self.network = network
        self.seq = 0

    @property
    def public(self) -> str:
        return bytes(self.key.verify_key).hex()

    def sign(self, kind: str, body: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        self.seq += 1
        return sign_entry(
            self.key,
            network=overrides.pop("network", self.network),
            kind=kind,
            seq=overrides.pop("seq", self.seq),
            body=body,
            **overrides,
        )

    def join(self, name: str, referrer: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if referrer:
            body["referrer"] = referrer
        return self.sign("member.join", body)

    def submit(self, title: str, **body: Any) -> dict[str, Any]:
        return self.sign("contribution.submit", {"title": title, **body})

    def evaluate(self, contribution: str, value: int) -> dict[str, Any]:
        return self.sign("evaluation.cast", {"contribution": contribution, "value": value})


def new_ledger(
    engine: Engine,
    log_key: SigningKey,
    preset: str | dict[str, Any] = "example",
    founders: list[dict[str, Any]] | None = None,
) -> Ledger:
    """A ledger with a network: a backfeed/1 preset by name, or any genesis valuation."""
    chosen = valuation.PRESETS[preset] if isinstance(preset, str) else preset
    ledger = Ledger(engine, log_key)
    ledger.create_network(NetworkConfig("demo", "example.org/demo", chosen, founders or []))
    return ledger


def appended(result: Appended | LedgerError) -> Appended:
    """An append's result that must be an acceptance."""
    assert isinstance(result, Appended), result
    return result


def build_history(ledger: Ledger) -> dict[str, Any]:
    """Joins (one referred), contributions, evaluations and a changed vote, in separate appends
    so that every leaf has its own logged_at and the log has checkpoints at several sizes."""
    ann, bob, cy = Signer(), Signer(), Signer()
    ledger.append_one(ann.join("Ann"))  # line 2
    ledger.append_one(bob.join("Bob", referrer=ann.public))  # line 3
    ledger.append_one(cy.join("Cy"))  # line 4
    guide = ledger.append_one(ann.submit("Translate the onboarding guide"))  # line 5
    note = ledger.append_one(bob.submit("Übersetzung — notes «FR»", type="comment"))  # line 6
    ledger.append_one(bob.evaluate(guide.id, 1))  # line 7
    ledger.append_one(cy.evaluate(guide.id, 0))  # line 8
    ledger.append_one(ann.evaluate(note.id, 1))  # line 9
    ledger.append_one(cy.evaluate(guide.id, 1))  # line 10: a changed vote
    appended(ledger.append([ann.evaluate(guide.id, 1), bob.evaluate(note.id, 1)])[0])  # 11, 12
    return {"ann": ann, "bob": bob, "cy": cy, "guide": guide.id}


def assert_problem(response: Any, status: int, *words: str) -> dict[str, Any]:
    """An RFC 9457 problem with this status whose detail holds each of `words` (in any case)."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status and problem["detail"]
    for word in words:
        assert word.lower() in problem["detail"].lower(), problem
    return problem


class LiveServer:
    """uvicorn in a thread on a free loopback port, serving `app`: the API over a ledger (with
    `Settings` for tests) or an app of the caller's; `with LiveServer(...) as url`. `config` goes
    to `uvicorn.Config` (by default it logs warnings only)."""

    def __init__(self, app: Ledger | Any, **config: Any) -> None:
        if isinstance(app, Ledger):
            app = create_app(Settings(db="sqlite://", events_poll_seconds=0.05), ledger=app)
        config.setdefault("log_level", "warning")
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, **config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """`multitude ARGS` in this process, through `cli.main` as the console script does."""
    from api import cli

    old = sys.argv
    sys.argv = ["multitude", *args]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)
