"""Test helpers: members that sign on their own machine, and a ledger with a fresh network."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import pytest
from nacl.signing import SigningKey
from sqlalchemy import Engine

import valuation
from ledger.entries import sign_entry
from ledger.service import Ledger, NetworkConfig


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
    preset: str = "example",
    founders: list[dict[str, Any]] | None = None,
) -> Ledger:
    ledger = Ledger(engine, log_key)
    ledger.create_network(
        NetworkConfig("demo", "example.org/demo", valuation.PRESETS[preset], founders or [])
    )
    return ledger


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
