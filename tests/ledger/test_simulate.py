"""Attack simulations: the measure itself (Spearman, the scenarios' histories, the gains) and,
under backfeed/1, that the attacks the issue measured do gain: the simulation sees them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import simulate
from ledger.simulate import (
    FOUNDERS,
    Community,
    Outcome,
    Report,
    article,
    baseline,
    cast,
    play,
    ranks,
    spearman,
    throwaway_ledger,
)
from valuation import UNIT

BF1 = "backfeed/1"


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    with simulate.database_template() as path:
        yield path


@pytest.fixture(scope="module")
def report() -> Report:
    return simulate.run(seed=1, algorithms=[BF1])


def outcome(report: Report, scenario: str, algorithm: str = BF1) -> Outcome:
    found = [o for o in report.outcomes if o.scenario == scenario and o.algorithm == algorithm]
    assert len(found) == 1
    return found[0]


# --- Spearman ------------------------------------------------------------------------------------


def test_ranks_average_ties() -> None:
    assert ranks([10.0, 30.0, 20.0, 20.0]) == [1.0, 4.0, 2.5, 2.5]


def test_spearman_of_monotone_and_reversed_sequences() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 25, 100]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_with_ties_matches_pearson_of_averaged_ranks() -> None:
    # ranks x: 1, 2, 3.5, 3.5, 5; y: 2, 1, 4, 3, 5 -> Pearson by hand: 8.5 / sqrt(9.5 * 10)
    xs = [1.0, 2.0, 3.0, 3.0, 4.0]
    ys = [2.0, 1.0, 4.0, 3.0, 5.0]
    assert spearman(xs, ys) == pytest.approx(8.5 / (9.5 * 10) ** 0.5)


def test_spearman_without_spread_is_zero() -> None:
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0


# --- the histories ---------------------------------------------------------------------------------


def test_every_scenario_extends_or_reorders_the_honest_baseline() -> None:
    honest = baseline()
    assert len(honest) == 5 + 5 * 4
    for scenario in simulate.scenarios():
        assert scenario.attacker, scenario.name
        if scenario.name == "late herding":
            # The same entries in another order: only Eve's timing differs.
            assert sorted(map(repr, scenario.attack)) == sorted(map(repr, scenario.counterfactual))
            assert scenario.attack != scenario.counterfactual
        else:
            assert list(scenario.counterfactual) == honest
            assert list(scenario.attack[: len(honest)]) == honest
            assert len(scenario.attack) > len(honest)


def test_a_refused_entry_is_counted_not_fatal(template: Path) -> None:
    steps = [*baseline(), cast("Eve", "no such article"), cast("Eve", article("Ann"), value=7)]
    with throwaway_ledger(template, 1) as ledger:
        history = play(ledger, Community(1), BF1, steps)
    assert history.refused == 2
    assert history.appended == 1 + len(baseline())


# --- backfeed/1: the simulation measures what the issue measured ----------------------------------


def test_the_table_has_every_scenario_under_every_algorithm(report: Report) -> None:
    names = [s.name for s in simulate.scenarios()]
    assert [o.scenario for o in report.outcomes] == names
    rows = report.to_json()["scenarios"]
    assert [row["scenario"] for row in rows] == names
    for row in rows:
        assert set(row) >= {
            "attacker",
            "attacker_share_gain",
            "attacker_tokens_gain",
            "honest_share_loss",
            "honest_tokens_loss",
        }


def test_the_counterfactual_is_the_issue_baseline(report: Report) -> None:
    # The issue: "R 134.6" without the attack; every founder's article crossed the threshold.
    honest = outcome(report, "re-cast farming").counterfactual
    assert honest.total_reputation == pytest.approx(134.6 * UNIT, abs=0.05 * UNIT)
    assert honest.refused == 0
    assert outcome(report, "re-cast farming").honest_paid
    assert set(honest.members) == set(FOUNDERS)


def test_recast_farming_gains_under_backfeed1(report: Report) -> None:
    # The issue: R 219.2 with 50 re-casts against 134.6 without, every member higher.
    farmed = outcome(report, "re-cast farming")
    assert farmed.attack.total_reputation > 1.4 * farmed.counterfactual.total_reputation
    assert farmed.attacker_tokens_gain > 0
    assert farmed.attack.total_reputation == pytest.approx(219.2 * UNIT, rel=0.01)
    for name in FOUNDERS:
        if name != "Bob":  # the re-caster pays a stake fee each time; every other member gains
            assert farmed.attack.members[name].reputation > (
                farmed.counterfactual.members[name].reputation
            )


def test_a_sybil_ring_gains_under_backfeed1(report: Report) -> None:
    # The issue: the ring holds 77.5 % of R and 934.6 tokens; the founder alone 22.9 %, 87.7.
    ring = outcome(report, "sybil ring")
    with_attack, without = ring.attacker_share
    assert 0.70 * UNIT < with_attack < 0.85 * UNIT
    assert 0.15 * UNIT < without < 0.25 * UNIT
    assert ring.attacker_share_gain > 0.5 * UNIT
    assert ring.attacker_tokens_gain > 800 * UNIT
    assert ring.honest_share_loss == ring.attacker_share_gain  # shares of one R sum to 1
    assert len(ring.attacker) == 11


def test_self_evaluation_gains_tokens_under_backfeed1(report: Report) -> None:
    # The issue: 99 tokens against 87.7.
    own = outcome(report, "self-evaluation")
    assert own.counterfactual.members["Ann"].tokens == pytest.approx(87.7 * UNIT, abs=0.5 * UNIT)
    assert own.attacker_tokens_gain > 5 * UNIT
    assert own.attacker_share_gain > 0


def test_vote_flipping_mints_under_backfeed1(report: Report) -> None:
    flipped = outcome(report, "vote flipping")
    assert flipped.attack.total_reputation > flipped.counterfactual.total_reputation
    assert flipped.attacker_tokens_gain > 0


def test_the_same_seed_gives_the_same_table() -> None:
    once = simulate.run(seed=3, algorithms=[BF1], only=["self-evaluation"], accuracy=False)
    again = simulate.run(seed=3, algorithms=[BF1], only=["self-evaluation"], accuracy=False)
    assert once.to_json() == again.to_json()


def test_honest_accuracy_under_backfeed1(report: Report) -> None:
    (result,) = report.accuracy
    assert result.contributions == 40
    assert result.evaluations > 200
    assert result.score_vs_quality > 0.5
    assert -1.0 <= result.reputation_vs_quality <= 1.0


def test_unknown_scenario_or_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="no scenario is named"):
        simulate.run(algorithms=[BF1], only=["bribery"])
    with pytest.raises(ValueError, match="cannot simulate"):
        simulate.run(algorithms=["backfeed/9"])


# --- backfeed/2 beside backfeed/1 -------------------------------------------------------------

BF2 = "backfeed/2"


@pytest.fixture(scope="module")
def both() -> Report:
    return simulate.run(seed=1, algorithms=[BF1, BF2])


def test_under_backfeed2_no_attack_gains_share_of_r(both: Report) -> None:
    for result in both.outcomes:
        if result.algorithm == BF2:
            assert result.attacker_share_gain <= 1, result.scenario  # within 10^-9 of R


def test_under_backfeed2_no_attack_gains_tokens_or_costs_honest_members(both: Report) -> None:
    for result in both.outcomes:
        if result.algorithm == BF2:
            assert result.attacker_tokens_gain <= 0, result.scenario
            assert result.honest_tokens_loss <= 0, result.scenario
            if result.scenario != "late herding":
                # exactly nothing moves: R is the same with and without the attack
                assert result.attacker_share_gain == 0, result.scenario
                assert result.honest_share_loss == 0, result.scenario
                assert result.attack.total_reputation == result.counterfactual.total_reputation


def test_under_backfeed2_late_herding_costs_share_and_gains_no_token(both: Report) -> None:
    # Eve voting last lets the earlier voters take the evaluator shares her early vote would
    # have earned. They then weigh more on her article, but what can weigh on it, D(c), holds
    # them too (it leaves out only what Eve holds): every other founder up-votes it, so its
    # score is 1 either way, and she is paid the same (docs/valuation/simulations.md).
    herding = outcome(both, "late herding", BF2)
    assert herding.attacker_share_gain < -0.01 * UNIT
    assert herding.attacker_tokens_gain == 0


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
    assert by_algorithm[BF2].score_vs_quality >= by_algorithm[BF1].score_vs_quality
