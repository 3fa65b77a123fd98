"""Every API scenario ends with an audit: the live ledger's bundle must verify offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.audit import verify_bundle
from ledger.export import export_bundle
from ledger.service import Ledger


@pytest.fixture(autouse=True)
def audit_after_scenario(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    if "ledger" not in request.fixturenames:
        yield
        return
    ledger: Ledger = request.getfixturevalue("ledger")
    yield
    if ledger.is_empty():
        return
    bundle = tmp_path / "audit-after-scenario"
    export_bundle(ledger, bundle)
    report = verify_bundle(bundle)
    assert report.ok, f"the scenario's ledger does not verify offline: {report.failure}"
