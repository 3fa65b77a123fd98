"""VALUATION.md's reference figures from the 2016 implementation, step by step, to 10^-6 point.

The figures are tests/vectors/backfeed1-reference-figures.json; the API's tests read them too."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import vector
from tests.valuation.community import Log, applied, key_of
from valuation import UNIT, State, apply, new_state

FIGURES = vector("backfeed1-reference-figures.json")

TOLERANCE = UNIT // 10**6  # 10^-6 point, in units


def reputation(state: State, name: str) -> int:
    member = state.member(key_of(name))
    assert member is not None
    return member.reputation


def tokens(state: State, name: str) -> int:
    member = state.member(key_of(name))
    assert member is not None
    return member.tokens


def max_score(state: State, log: Log, name: str) -> int | None:
    contribution = state.contribution(log.contributions[name])
    assert contribution is not None
    return contribution.max_score


def figure(state: State, name: str, asset: str) -> int:
    return reputation(state, name) if asset == "reputation" else tokens(state, name)


def assert_close(units: int | None, expected: float | int) -> None:
    # The expected figures are the 2016 implementation's floats, kept as written in VALUATION.md;
    # they are turned into units here only to compare, never used in valuation arithmetic.
    assert units is not None
    assert abs(units - round(expected * UNIT)) <= TOLERANCE, (units / UNIT, expected)


def assert_figures_close(state: State, expected: dict[str, dict[str, Any]]) -> None:
    """Each member's named figures, to 10^-6 point."""
    for name, figures in expected.items():
        for asset, value in figures.items():
            assert_close(figure(state, name, asset), value)


def test_figure_1_one_upvote_pays_the_stake_fee_and_rewards_the_author() -> None:
    case = FIGURES["figure_1"]
    log = Log()
    log.genesis("example", [(f["name"], f["reputation"], f["tokens"]) for f in case["founders"]])
    submission, evaluation = case["submission"], case["evaluation"]
    log.submit(submission["author"], submission["contribution"], submission["type"])
    state = new_state()
    for event in log:
        apply(state, event)
    for name, figures in case["before_evaluation"].items():
        for asset, value in figures.items():
            assert figure(state, name, asset) == value * UNIT
    apply(
        state, log.evaluate(evaluation["member"], evaluation["contribution"], evaluation["value"])
    )
    assert_figures_close(state, case["after_evaluation"])
    assert_close(max_score(state, log, evaluation["contribution"]), case["max_score"])


FIGURE_2 = FIGURES["figure_2"]


def figure_2() -> tuple[Log, State]:
    log = Log()
    log.genesis("example")
    for name in FIGURE_2["members"]:
        log.join(name)
    for submission in FIGURE_2["submissions"]:
        log.submit(submission["author"], submission["contribution"], submission["type"])
    return log, applied(log)


def test_figure_2_five_members_two_articles_ten_evaluations_step_by_step() -> None:
    log, state = figure_2()
    for name, figures in FIGURE_2["before_evaluations"].items():
        for asset, value in figures.items():
            assert figure(state, name, asset) == value * UNIT
    scores = {}
    for step, evaluation in enumerate(FIGURE_2["evaluations"], start=1):
        apply(
            state,
            log.evaluate(evaluation["member"], evaluation["contribution"], evaluation["value"]),
        )
        scores[str(step)] = max_score(state, log, FIGURE_2["max_score_of"])
        assert_figures_close(state, FIGURE_2["after_step"].get(str(step), {}))
    assert_figures_close(state, FIGURE_2["final"])
    for step, expected in FIGURE_2["max_score_after_step"].items():
        assert_close(scores[step], expected)


def test_figure_2_total_reputation_is_the_sum_of_the_members() -> None:
    log, state = figure_2()
    for evaluation in FIGURE_2["evaluations"]:
        apply(
            state,
            log.evaluate(evaluation["member"], evaluation["contribution"], evaluation["value"]),
        )
        assert state.total_reputation == sum(m.reputation for m in state.iter_members())


@pytest.mark.parametrize(
    "case", FIGURES["figure_3"]["cases"], ids=lambda case: f"r_k={case['r_k']}"
)
def test_figure_3_stake_fee_alone(case: dict[str, Any]) -> None:
    # R = 1: the evaluator holds r_k, the author the rest. A first evaluation of 0 makes V = r_k
    # and pays no contributor reward, so the evaluator's loss is the stake fee alone.
    log = Log()
    log.genesis("example", [("evaluator", case["r_k"], "0"), ("author", case["rest"], "10")])
    log.submit("author", "work", "article")
    state = applied(log)
    before = reputation(state, "evaluator")
    assert state.total_reputation == UNIT
    apply(state, log.evaluate("evaluator", "work", 0))
    assert_close(before - reputation(state, "evaluator"), case["fee"])


@pytest.mark.parametrize(
    "case", FIGURES["figure_4"]["cases"], ids=lambda case: f"evaluator={case['evaluator']}"
)
def test_figure_4_contributor_reward_of_a_first_upvote(case: dict[str, Any]) -> None:
    # R = 10: the evaluator holds score * 10, the author the rest, so U / R = score.
    log = Log()
    log.genesis(
        "example", [("evaluator", case["evaluator"], "0"), ("author", case["author"], "10")]
    )
    log.submit("author", "work", "article")
    state = applied(log)
    tokens_before, reputation_before = tokens(state, "author"), reputation(state, "author")
    apply(state, log.evaluate("evaluator", "work", 1))
    assert tokens(state, "author") - tokens_before == case["tokens"] * UNIT
    assert reputation(state, "author") - reputation_before == case["reputation"] * UNIT
    assert max_score(state, log, "work") == int(case["evaluator"]) * UNIT // 10
