"""The numbered steps of an evaluation (VALUATION.md, "Events"), one behaviour at a time."""

from __future__ import annotations

import copy

from tests.valuation.community import Log, applied, contribution_of, key_of, member_of
from valuation import PRESETS, UNIT, Posting, State, apply, contribution_figures
from valuation.figures import quality, ratio
from valuation.reading import feed_score


def reputation(state: State, name: str) -> int:
    return member_of(state, name).reputation


def tokens(state: State, name: str) -> int:
    return member_of(state, name).tokens


def test_figure_1_postings_explain_every_change_with_its_cause() -> None:
    log = Log()
    log.genesis("example", [("ann", "10", "10"), ("bonnie", "100", "99")])
    submit = log.submit("ann", "article", "article")
    state = applied(log)
    ann, bonnie, cid = key_of("ann"), key_of("bonnie"), submit.id
    changes = apply(state, log.evaluate("bonnie", "article", 1))
    assert [(p.member, p.asset, p.cause) for p in changes.postings] == [
        (bonnie, "reputation", "stake_fee"),
        (ann, "tokens", "contributor_reward"),
        (ann, "reputation", "contributor_reward"),
    ]
    assert all(p.contribution == cid and p.evaluator == bonnie for p in changes.postings)
    assert changes.members == tuple(sorted((ann, bonnie)))
    assert changes.contributions == (cid,)


def test_the_fee_is_burned_and_the_submission_is_explained() -> None:
    log = Log()
    log.genesis("example", [("ann", "10", "10")])
    state = applied(log)
    changes = apply(state, log.submit("ann", "note", "comment"))
    assert changes.postings == (
        Posting(key_of("ann"), "tokens", -UNIT // 10, "fee", log.contributions["note"]),
    )
    assert tokens(state, "ann") == 10 * UNIT - UNIT // 10


def test_a_contribution_without_a_type_takes_the_alphabetically_first_type() -> None:
    log = Log()
    log.genesis("example", [("ann", "10", "10")])
    log.submit("ann", "untyped")
    state = applied(log)
    assert contribution_of(state, log.contributions["untyped"]).type == "article"
    assert tokens(state, "ann") == 9 * UNIT


def two_voters() -> tuple[Log, State]:
    log = Log()
    log.genesis("example", [("ann", "10", "10"), ("bob", "30", "0"), ("cy", "60", "0")])
    log.submit("ann", "essay", "article")
    return log, applied(log)


def test_changed_vote_pays_the_stake_fee_again() -> None:
    log, state = two_voters()
    first = apply(state, log.evaluate("bob", "essay", 0))
    second = apply(state, log.evaluate("bob", "essay", 1))
    fees = [[p for p in changes.postings if p.cause == "stake_fee"] for changes in (first, second)]
    assert len(fees[0]) == 1 and len(fees[1]) == 1
    assert fees[1][0].amount < 0


def test_a_changed_vote_replaces_the_earlier_one_and_becomes_the_latest() -> None:
    log, state = two_voters()
    apply(state, log.evaluate("bob", "essay", 1))
    apply(state, log.evaluate("cy", "essay", 1))
    last = apply(state, log.evaluate("bob", "essay", 0))
    evaluations = contribution_of(state, log.contributions["essay"]).evaluations
    assert evaluations == ((key_of("cy"), 1, last.index - 1), (key_of("bob"), 0, last.index))


def test_earlier_evaluators_who_agree_gain_an_alignment_reward() -> None:
    log, state = two_voters()
    apply(state, log.evaluate("bob", "essay", 1))
    bob = reputation(state, "bob")
    changes = apply(state, log.evaluate("cy", "essay", 1))
    rewards = [p for p in changes.postings if p.cause == "alignment_reward"]
    assert [(p.member, p.evaluator) for p in rewards] == [(key_of("bob"), key_of("cy"))]
    assert reputation(state, "bob") == bob + rewards[0].amount > bob


def test_earlier_evaluators_who_disagree_gain_nothing() -> None:
    log, state = two_voters()
    apply(state, log.evaluate("bob", "essay", 0))
    bob = reputation(state, "bob")
    changes = apply(state, log.evaluate("cy", "essay", 1))
    assert not [p for p in changes.postings if p.cause == "alignment_reward"]
    assert reputation(state, "bob") == bob


def test_a_referrer_receives_a_share_of_the_alignment_reward() -> None:
    log = Log()
    log.genesis("example", [("ann", "10", "10"), ("ref", "10", "0")])
    log.join("bob", "ref")
    log.join("cy")
    log.submit("ann", "essay", "article")
    log.evaluate("bob", "essay", 1)
    state = applied(log)
    changes = apply(state, log.evaluate("cy", "essay", 1))
    gain = next(p.amount for p in changes.postings if p.cause == "alignment_reward")
    share = next(p for p in changes.postings if p.cause == "referral_share")
    assert share.member == key_of("ref")
    assert share.asset == "reputation"
    assert share.amount == (gain * 2 + 5) // 10  # 0.2 of the gain, to the unit


def test_a_referrer_receives_a_share_of_the_contributor_reward() -> None:
    log = Log()
    log.genesis("example", [("ref", "1", "0"), ("ann", "1", "10", "ref"), ("bob", "98", "0")])
    log.submit("ann", "essay", "article")
    state = applied(log)
    changes = apply(state, log.evaluate("bob", "essay", 1))
    by_cause = {(p.member, p.asset, p.cause): p.amount for p in changes.postings}
    paid_tokens = by_cause[key_of("ann"), "tokens", "contributor_reward"]
    paid_reputation = by_cause[key_of("ann"), "reputation", "contributor_reward"]
    assert by_cause[key_of("ref"), "tokens", "referral_share"] == paid_tokens // 5
    assert by_cause[key_of("ref"), "reputation", "referral_share"] == paid_reputation // 5


def test_a_score_below_its_maximum_pays_nothing_and_keeps_the_maximum() -> None:
    log, state = two_voters()
    apply(state, log.evaluate("cy", "essay", 1))  # 0.6: paid in full
    best = contribution_of(state, log.contributions["essay"]).max_score
    apply(state, log.evaluate("cy", "essay", 0))
    ann = tokens(state, "ann")
    changes = apply(state, log.evaluate("bob", "essay", 1))  # about 0.3: below the maximum
    assert not [p for p in changes.postings if p.cause == "contributor_reward"]
    assert tokens(state, "ann") == ann
    assert contribution_of(state, log.contributions["essay"]).max_score == best


def test_past_the_threshold_only_the_rise_of_the_maximum_is_paid() -> None:
    log, state = two_voters()
    apply(state, log.evaluate("cy", "essay", 1))
    essay = log.contributions["essay"]
    best = contribution_of(state, essay).max_score
    assert best is not None and best > UNIT // 2
    ann = tokens(state, "ann")
    apply(state, log.evaluate("bob", "essay", 1))
    new_best = contribution_of(state, essay).max_score
    assert new_best is not None and new_best > best
    assert abs(tokens(state, "ann") - ann - 50 * (new_best - best)) <= 1


def test_a_downvote_pays_no_contributor_reward_and_sets_no_maximum() -> None:
    log, state = two_voters()
    changes = apply(state, log.evaluate("cy", "essay", 0))
    assert not [p for p in changes.postings if p.cause == "contributor_reward"]
    assert contribution_of(state, log.contributions["essay"]).max_score is None


def test_an_evaluator_without_reputation_pays_no_stake_fee() -> None:
    log = Log()
    log.genesis("dmag", [("ann", "10", "10")])
    log.join("newcomer")
    log.submit("ann", "essay", "article")
    state = applied(log)
    changes = apply(state, log.evaluate("newcomer", "essay", 1))
    assert not [p for p in changes.postings if p.cause == "stake_fee"]


def dmag() -> tuple[Log, State]:
    log = Log()
    log.genesis("dmag", [("ann", "10", "10"), ("bob", "30", "0"), ("cy", "60", "0")])
    log.submit("ann", "essay", "article")
    return log, applied(log)


def test_a_first_evaluation_draws_its_share_of_the_evaluator_fund() -> None:
    log, state = dmag()
    essay = log.contributions["essay"]
    changes = apply(state, log.evaluate("bob", "essay", 1))
    # N = R - (V - r_k) = 100 - 0; bob's share is 10 * 30 / 100 = 3 tokens.
    drawn = [p for p in changes.postings if p.cause == "evaluator_fund"]
    assert drawn == [
        Posting(key_of("bob"), "tokens", 3 * UNIT, "evaluator_fund", essay, key_of("bob"))
    ]
    assert contribution_of(state, essay).fund == 7 * UNIT


def test_a_changed_vote_draws_nothing_more_from_the_fund() -> None:
    log, state = dmag()
    apply(state, log.evaluate("bob", "essay", 1))
    changes = apply(state, log.evaluate("bob", "essay", 0))
    assert not [p for p in changes.postings if p.cause == "evaluator_fund"]


def test_the_fund_is_shared_over_the_reputation_that_has_not_yet_evaluated() -> None:
    log, state = dmag()
    apply(state, log.evaluate("bob", "essay", 1))
    fund = contribution_of(state, log.contributions["essay"]).fund
    total = state.total_reputation
    bob = reputation(state, "bob")
    cy = reputation(state, "cy")
    changes = apply(state, log.evaluate("cy", "essay", 1))
    share = next(p.amount for p in changes.postings if p.cause == "evaluator_fund")
    # N = R - (V - r_cy): everything but bob's current reputation.
    assert abs(share - fund * cy // (total - bob)) <= 1


def test_no_fund_without_reward_tokens_to_evaluators() -> None:
    valuation = copy.deepcopy(PRESETS["dmag"])
    valuation["params"]["reward_tokens_to_evaluators"] = False
    log = Log()
    log.genesis(valuation, [("ann", "10", "10"), ("bob", "30", "0")])
    log.submit("ann", "essay", "article")
    state = applied(log)
    changes = apply(state, log.evaluate("bob", "essay", 1))
    assert not [p for p in changes.postings if p.cause == "evaluator_fund"]


def test_contribution_figures_follow_the_current_evaluations() -> None:
    log, state = two_voters()
    apply(state, log.evaluate("bob", "essay", 0))
    apply(state, log.evaluate("cy", "essay", 1))
    figures = contribution_figures(state, log.contributions["essay"])
    assert figures is not None
    total = state.total_reputation
    w0, w1 = reputation(state, "bob"), reputation(state, "cy")
    assert figures.weights == {0: w0, 1: w1}
    assert figures.engaged_reputation == w0 + w1
    assert abs(figures.weight_shares[1] - w1 * UNIT // total) <= 1
    assert abs(figures.engaged_share - (w0 + w1) * UNIT // total) <= 1
    assert abs(figures.quality - (total - w0) * w1 * UNIT // total**2) <= 1
    assert contribution_figures(state, "0" * 64) is None


def test_quality_is_zero_when_there_is_no_reputation() -> None:
    log = Log()
    log.genesis("dmag", [("ann", "0", "10")])
    log.submit("ann", "essay", "article")
    log.evaluate("ann", "essay", 1)
    state = applied(log)
    figures = contribution_figures(state, log.contributions["essay"])
    assert figures is not None and figures.quality == 0
    assert contribution_of(state, log.contributions["essay"]).max_score == 0


def test_the_feed_score_fades_with_age_from_quality_times_one_to_a_tenth() -> None:
    assert feed_score(UNIT, 0) == UNIT  # 0.1 + 27 / 30 = 1
    assert feed_score(UNIT, 60) == 400_000_000  # 0.1 + 27 / 90
    assert feed_score(UNIT, 10**9) == 100_000_027
    assert feed_score(0, 3) == 0
    assert feed_score(UNIT, -2) == UNIT  # a reading clock behind the log counts as day 0


def test_reading_ratio_and_quality_are_the_figures_of_the_state() -> None:
    assert ratio(1, 3) == 333_333_333
    assert ratio(5, 0) == 0
    assert quality(0, 50, 100) == 500_000_000
    assert quality(25, 50, 100) == 375_000_000
    assert quality(1, 1, 0) == 0
