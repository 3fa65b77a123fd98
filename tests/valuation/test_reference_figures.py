"""VALUATION.md's reference figures from the 2016 implementation, step by step, to 10^-6 point."""

from __future__ import annotations

import pytest

from tests.valuation.community import Log, applied, key_of
from valuation import UNIT, State, apply, new_state

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


def assert_close(units: int | None, expected: float | int) -> None:
    # The expected figures are the 2016 implementation's floats, kept as written in VALUATION.md;
    # they are turned into units here only to compare, never used in valuation arithmetic.
    assert units is not None
    assert abs(units - round(expected * UNIT)) <= TOLERANCE, (units / UNIT, expected)


def test_figure_1_one_upvote_pays_the_stake_fee_and_rewards_the_author() -> None:
    log = Log()
    log.genesis("example", [("ann", "10", "10"), ("bonnie", "100", "99")])
    log.submit("ann", "article", "article")
    state = new_state()
    for event in log:
        apply(state, event)
    assert tokens(state, "ann") == 9 * UNIT
    apply(state, log.evaluate("bonnie", "article", 1))
    assert_close(reputation(state, "bonnie"), 99.90692517849118)
    assert_close(tokens(state, "ann"), 54.45454545454545)
    assert_close(reputation(state, "ann"), 14.545454545454545)
    assert_close(max_score(state, log, "article"), 0.9090909090909091)


FIGURE_2_STEPS = [
    ("u1", "c1", 1),
    ("u2", "c1", 0),
    ("u3", "c1", 1),
    ("u4", "c2", 1),
    ("u5", "c2", 0),
    ("u1", "c2", 1),
    ("u2", "c1", 1),
    ("u3", "c1", 0),
    ("u4", "c1", 1),
    ("u5", "c2", 1),
]


def figure_2() -> tuple[Log, State]:
    log = Log()
    log.genesis("example")
    for number in range(1, 6):
        log.join(f"u{number}")
    log.submit("u2", "c1", "article")
    log.submit("u3", "c2", "article")
    return log, applied(log)


def test_figure_2_five_members_two_articles_ten_evaluations_step_by_step() -> None:
    log, state = figure_2()
    members = [f"u{number}" for number in range(1, 6)]
    assert [reputation(state, name) for name in members] == [20 * UNIT] * 5
    assert [tokens(state, name) for name in members] == [x * UNIT for x in (50, 49, 49, 50, 50)]
    scores = {}
    for step, (member, contribution, value) in enumerate(FIGURE_2_STEPS, start=1):
        apply(state, log.evaluate(member, contribution, value))
        scores[step] = max_score(state, log, "c1")
        if step == 1:
            assert_close(reputation(state, "u1"), 19.778885438199982)
        elif step == 3:
            assert_close(reputation(state, "u1"), 20.574438565254916)
            assert_close(reputation(state, "u3"), 19.909456383740984)
        elif step == 7:
            assert_close(reputation(state, "u1"), 21.022253659264337)
            assert_close(reputation(state, "u2"), 22.7544628224)
            assert_close(tokens(state, "u2"), 78.91817792824702)
            assert_close(reputation(state, "u3"), 20.4343242172015)
    final_reputation = [
        22.1128137528202,
        23.42261970708561,
        23.27585003117742,
        21.070815050963578,
        19.759036270722238,
    ]
    final_tokens = [50, 79.77758070206896, 78.30080651930581, 50, 50]
    for name, expected in zip(members, final_reputation, strict=True):
        assert_close(reputation(state, name), expected)
    for name, expected in zip(members, final_tokens, strict=True):
        assert_close(tokens(state, name), expected)
    assert_close(scores[1], 0.2)
    assert_close(scores[3], 0.3992603410016588)
    assert_close(scores[7], 0.5983635585649403)
    assert_close(scores[9], 0.6155516140413791)


def test_figure_2_total_reputation_is_the_sum_of_the_members() -> None:
    log, state = figure_2()
    for member, contribution, value in FIGURE_2_STEPS:
        apply(state, log.evaluate(member, contribution, value))
        assert state.total_reputation == sum(m.reputation for m in state.iter_members())


@pytest.mark.parametrize(
    ("r_k", "rest", "fee"),
    [
        ("0", "1", 0),
        ("0.25", "0.75", 0.0025),
        ("0.33", "0.67", 0.002808588653284927),
        ("0.5", "0.5", 0.002928932188134503),
        ("1", "0", 0),
    ],
)
def test_figure_3_stake_fee_alone(r_k: str, rest: str, fee: float) -> None:
    # R = 1: the evaluator holds r_k, the author the rest. A first evaluation of 0 makes V = r_k
    # and pays no contributor reward, so the evaluator's loss is the stake fee alone.
    log = Log()
    log.genesis("example", [("evaluator", r_k, "0"), ("author", rest, "10")])
    log.submit("author", "work", "article")
    state = applied(log)
    before = reputation(state, "evaluator")
    assert state.total_reputation == UNIT
    apply(state, log.evaluate("evaluator", "work", 0))
    assert_close(before - reputation(state, "evaluator"), fee)


@pytest.mark.parametrize(
    ("evaluator", "author", "paid_tokens", "paid_reputation"),
    [("8", "2", 40, 4), ("10", "0", 50, 5), ("6", "4", 30, 3), ("5", "5", 0, 0), ("4", "6", 0, 0)],
)
def test_figure_4_contributor_reward_of_a_first_upvote(
    evaluator: str, author: str, paid_tokens: int, paid_reputation: int
) -> None:
    # R = 10: the evaluator holds score * 10, the author the rest, so U / R = score.
    log = Log()
    log.genesis("example", [("evaluator", evaluator, "0"), ("author", author, "10")])
    log.submit("author", "work", "article")
    state = applied(log)
    tokens_before, reputation_before = tokens(state, "author"), reputation(state, "author")
    apply(state, log.evaluate("evaluator", "work", 1))
    assert tokens(state, "author") - tokens_before == paid_tokens * UNIT
    assert reputation(state, "author") - reputation_before == paid_reputation * UNIT
    assert max_score(state, log, "work") == int(evaluator) * UNIT // 10
