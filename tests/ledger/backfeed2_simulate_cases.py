"""The backfeed/2 cases of tests/ledger/test_simulate.py, NOT collected yet (no test_ prefix):
backfeed/2 is not on main when this is written. Once `git merge main` brings it, append these
to tests/ledger/test_simulate.py (they use its imports and fixtures) and delete this file. They
pass against branch bf2 at f1921f5 (22 passed with the rest of test_simulate.py)."""

# ruff: noqa
# mypy: ignore-errors


# --- backfeed/2 beside backfeed/1 -------------------------------------------------------------

BF2 = "backfeed/2"


@pytest.fixture(scope="module")
def both() -> Report:
    return simulate.run(seed=1, algorithms=[BF1, BF2])


def test_under_backfeed2_no_attack_gains_share_of_r(both: Report) -> None:
    for result in both.outcomes:
        if result.algorithm == BF2:
            assert result.attacker_share_gain <= 1, result.scenario  # within 10^-9 of R


def test_under_backfeed2_no_attack_but_late_herding_gains_tokens(both: Report) -> None:
    for result in both.outcomes:
        if result.algorithm == BF2 and result.scenario != "late herding":
            assert result.attacker_tokens_gain <= 1, result.scenario  # within 10^-9 token
            assert result.honest_tokens_loss <= 1, result.scenario
            assert result.honest_share_loss <= 1, result.scenario


def test_under_backfeed2_late_herding_trades_share_for_tokens(both: Report) -> None:
    # Eve voting last lets the earlier voters take the evaluator shares her early vote would
    # have earned; they then weigh more on her own article, voted last, and she holds less of
    # R, so its score (U / R) ends higher: a few tenths of a token for a point of R. What the
    # simulation measures, kept in sight: see docs/valuation/simulations.md.
    herding = outcome(both, "late herding", BF2)
    assert herding.attacker_share_gain < -0.005 * UNIT
    assert 0 < herding.attacker_tokens_gain < 1 * UNIT


def test_under_backfeed2_sybils_and_rings_hold_what_their_referrer_gave(both: Report) -> None:
    ring = outcome(both, "sybil ring", BF2)
    assert ring.attack.total_reputation == ring.counterfactual.total_reputation
    assert ring.attacker_share_gain == 0
    assert ring.attacker_tokens_gain == 0


def test_under_backfeed2_honest_work_is_still_paid(both: Report) -> None:
    for result in both.outcomes:
        if result.algorithm == BF2:
            assert result.honest_paid, result.scenario
    honest = outcome(both, "self-evaluation", BF2).counterfactual
    for name in FOUNDERS:
        # every founder's article crossed the threshold: tokens minted, reputation above 20
        assert honest.members[name].tokens > 50 * UNIT


def test_backfeed2_measures_reputation_with_pending_claims(both: Report) -> None:
    assert both.pending_measured
    honest = outcome(both, "self-evaluation", BF2).counterfactual
    assert honest.total_reputation == sum(m.reputation for m in honest.members.values())
    assert any(m.pending > 0 for m in honest.members.values())


def test_honest_accuracy_under_both(both: Report) -> None:
    by_algorithm = {result.algorithm: result for result in both.accuracy}
    assert by_algorithm[BF2].reputation_vs_quality >= by_algorithm[BF1].reputation_vs_quality
    assert by_algorithm[BF2].score_vs_quality > 0.8
