"""A backfeed/2 network through the real append path: its figures, `check`, export and the
offline verifier, with no change to the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey
from sqlalchemy import Engine, text

import valuation
from ledger.audit import verify_bundle
from ledger.check import check
from ledger.errors import IntegrityError, LedgerError
from ledger.export import export_bundle
from ledger.service import Appended, Ledger, NetworkConfig
from tests.helpers import Signer


def appended(result: Appended | LedgerError) -> Appended:
    assert isinstance(result, Appended), result
    return result


def test_a_backfeed2_network_appends_checks_exports_and_verifies(
    engine: Engine, log_key: SigningKey, tmp_path: Path
) -> None:
    founders = [Signer() for _ in range(4)]
    ledger = Ledger(engine, log_key)
    valuation_params = valuation.resolve_params({"algorithm": "backfeed/2"}).to_json()
    listed: list[dict[str, Any]] = [
        {"member": f.public, "name": f"founder {n}", "reputation": "20", "tokens": "50"}
        for n, f in enumerate(founders)
    ]
    ledger.create_network(NetworkConfig("demo", "example.org/demo", valuation_params, listed))
    newcomer, referred = Signer(), Signer()
    appended(ledger.append([newcomer.join("Newcomer")])[0])
    appended(ledger.append([referred.join("Referred", referrer=founders[0].public)])[0])
    work = appended(ledger.append([newcomer.submit("First post")])[0])
    for founder in founders[:3]:
        appended(ledger.append([founder.evaluate(work.id, 1)])[0])
    appended(ledger.append([founders[3].evaluate(work.id, 0)])[0])
    appended(ledger.append([founders[3].evaluate(work.id, 1)])[0])  # a re-cast
    appended(ledger.append([founders[0].submit("Settles its claim")])[0])

    state = ledger.replayed_state()
    assert state.params.algorithm == "backfeed/2"
    newcomer_figures = state.member(newcomer.public)
    assert newcomer_figures is not None
    assert newcomer_figures.reputation > 0 and newcomer_figures.tokens > 0
    referred_figures = state.member(referred.public)
    assert referred_figures is not None and referred_figures.reputation == 2 * valuation.UNIT
    contribution = state.contribution(work.id)
    assert contribution is not None and contribution.fund == 0
    total = state.total_reputation
    assert total == sum(m.reputation for m in state.iter_members())

    report = check(engine)
    assert report.tree_size == 10
    bundle = tmp_path / "bundle"
    export_bundle(ledger, bundle)
    audit = verify_bundle(bundle)
    assert audit.ok, audit.failure
    assert audit.entries == 10


def test_check_compares_the_stored_score_history_with_the_replay(
    engine: Engine, log_key: SigningKey
) -> None:
    """Under backfeed/2 the append stores each cast's maximum score (reads cannot recompute
    it); `multitude check` names a row that is wrong, missing or extra."""
    founders = [Signer() for _ in range(3)]
    ledger = Ledger(engine, log_key)
    listed: list[dict[str, Any]] = [
        {"member": f.public, "name": f"founder {n}", "reputation": "20", "tokens": "50"}
        for n, f in enumerate(founders)
    ]
    ledger.create_network(
        NetworkConfig("demo", "example.org/demo", valuation.DEFAULT_VALUATION, listed)
    )
    work = appended(ledger.append([founders[0].submit("work")])[0])
    for voter in founders[1:]:
        appended(ledger.append([voter.evaluate(work.id, 1)])[0])
    check(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT idx, max_score FROM contribution_history")).all()
    assert [(idx, best) for idx, best in rows] == [(2, 500_000_000), (3, 1_000_000_000)]
    row = f"('{work.id}', 2, 500000000)"
    for tampered, undone in (
        (
            "UPDATE contribution_history SET max_score = 1 WHERE idx = 3",
            "UPDATE contribution_history SET max_score = 1000000000 WHERE idx = 3",
        ),
        (
            "DELETE FROM contribution_history WHERE idx = 2",
            f"INSERT INTO contribution_history VALUES {row}",
        ),
        (
            f"INSERT INTO contribution_history VALUES ('{work.id}', 1, NULL)",
            "DELETE FROM contribution_history WHERE idx = 1",
        ),
    ):
        with engine.begin() as conn:
            conn.execute(text(tampered))
        with pytest.raises(IntegrityError, match="contribution_history: the rows of index"):
            check(engine)
        with engine.begin() as conn:
            conn.execute(text(undone))
        check(engine)
