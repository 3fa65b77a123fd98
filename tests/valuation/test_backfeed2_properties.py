"""backfeed/2's properties (issue 14, item 3), each a test that fails when the property breaks.

A member's *worth* is what it holds and what it has earned: settled reputation plus the
reputation its open claims would pay now, and tokens. Attacks are measured against their
counterfactual: the same history without the attack, or with the honest alternative.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.valuation.community import Log, key_of
from valuation import UNIT, RuleViolation, State, apply, new_state, pending_reputation
from valuation.backfeed2 import ACCUMULATOR_SCALE, voting_reputation
from valuation.model import ContributionRecord2
from valuation.records import iter_records, record_value

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BACKFEED_2: dict[str, Any] = {"algorithm": "backfeed/2"}
FOUNDERS = [(f"f{n}", "20", "50") for n in range(5)]
Worth = tuple[int, int]


def run(log: Log) -> State:
    state = new_state()
    for event in log:
        apply(state, event)
    return state


def worth(state: State, name: str) -> Worth:
    key = key_of(name)
    reputation, tokens = state.figures(key)
    return reputation + pending_reputation(state, key), tokens


def honest_history(log: Log, founders: Sequence[str] = ("f0", "f1", "f2", "f3", "f4")) -> None:
    """Each founder posts an article that the other founders up-vote."""
    for author in founders:
        log.submit(author, f"article by {author}")
    for author in founders:
        for voter in founders:
            if voter != author:
                log.evaluate(voter, f"article by {author}", 1)


def founded(founders: Sequence[tuple[str, ...]] = FOUNDERS) -> Log:
    log = Log()
    log.genesis(BACKFEED_2, founders)
    return log


# -- each pair counts once ------------------------------------------------------------------


def test_a_recast_mints_nothing_and_pays_no_one() -> None:
    log = founded()
    honest_history(log)
    state = run(log)
    names = [name for name, *_ in FOUNDERS]
    before = {name: worth(state, name) for name in names}
    total = state.total_reputation + sum(pending_reputation(state, key_of(n)) for n in names)
    for value in (0, 1, 0, 1, 1, 0):
        changes = apply(state, log.evaluate("f1", "article by f0", value))
        assert all(
            p.cause == "alignment_reward" and p.member == key_of("f1") for p in changes.postings
        )
        assert {name: worth(state, name) for name in names} == before
        assert (
            state.total_reputation + sum(pending_reputation(state, key_of(n)) for n in names)
            == total
        )


def test_a_pair_counts_once_in_the_weights_however_often_it_is_cast() -> None:
    log = founded()
    honest_history(log)
    for round in range(20):
        log.evaluate("f1", "article by f0", round % 2)
        log.evaluate("f2", "article by f0", 1 - round % 2)
    state = run(log)
    record = state._contributions[log.contributions["article by f0"]]
    assert isinstance(record, ContributionRecord2)
    by_value: dict[int, int] = {}
    for evaluator, (value, _, _) in record.evaluations.items():
        by_value[value] = by_value.get(value, 0) + record.votes[evaluator].weight
    assert {v: w for v, w in record.weights.items() if w} == by_value
    assert sum(record.weights.values()) == 4 * 20 * UNIT


# -- self-evaluation ------------------------------------------------------------------------


def test_self_evaluation_is_recorded_with_no_weight_and_gains_nothing() -> None:
    plain, selfish = founded(), founded()
    for log in (plain, selfish):
        log.submit("f0", "mine")
    selfish.evaluate("f0", "mine", 1)
    for log in (plain, selfish):
        for voter in ("f1", "f2", "f3"):
            log.evaluate(voter, "mine", 1)
    selfish.evaluate("f0", "mine", 0)
    selfish.evaluate("f0", "mine", 1)
    a, b = run(plain), run(selfish)
    assert b.has_evaluated(selfish.contributions["mine"], key_of("f0"))
    for name, *_ in FOUNDERS:
        assert worth(b, name) == worth(a, name), name


@given(st.randoms(use_true_random=False))
@SETTINGS
def test_self_evaluations_anywhere_change_no_ones_worth(rng: random.Random) -> None:
    script = _random_script(rng, 60)
    selfish = list(script)
    for _ in range(rng.randrange(1, 8)):
        position = rng.randrange(len(selfish) + 1)
        selfish.insert(position, ("self", rng.randrange(10**6), rng.randrange(2), 0))
    a, names, _ = _play(script)
    b, _, _ = _play(selfish)
    for name in names:
        assert worth(b, name) == worth(a, name), name


# -- joining --------------------------------------------------------------------------------


def test_joining_without_a_referrer_creates_nothing() -> None:
    log = founded()
    state = run(log)
    total = state.total_reputation
    apply(state, log.join("newcomer"))
    assert worth(state, "newcomer") == (0, 0)
    assert state.total_reputation == total


def test_a_referral_moves_the_stake_from_the_referrer_and_creates_nothing() -> None:
    log = founded()
    state = run(log)
    total = state.total_reputation
    changes = apply(state, log.join("newcomer", referrer="f0"))
    assert [(p.member, p.amount, p.cause) for p in changes.postings] == [
        (key_of("f0"), -2 * UNIT, "referral_stake"),
        (key_of("newcomer"), 2 * UNIT, "referral_stake"),
    ]
    assert worth(state, "newcomer") == (2 * UNIT, 0)
    assert worth(state, "f0") == (18 * UNIT, 50 * UNIT)
    assert state.total_reputation == total


def test_a_newcomer_without_reputation_can_contribute_and_evaluate_with_no_weight() -> None:
    log = founded()
    log.submit("f0", "work")
    state = run(log)
    apply(state, log.join("newcomer"))
    apply(state, log.submit("newcomer", "first post"))
    changes = apply(state, log.evaluate("newcomer", "work", 1))
    assert changes.postings == ()
    record = state._contributions[log.contributions["work"]]
    assert isinstance(record, ContributionRecord2)
    assert record.votes[key_of("newcomer")].weight == 0


# -- rings ----------------------------------------------------------------------------------


def _ring(log: Log, size: int, referred_first: bool) -> list[str]:
    """f0 refers `size` keys that post and up-vote each other's work, f0 up-voting theirs."""
    sybils = [f"sybil {n}" for n in range(size)]
    if not referred_first:  # else the caller referred them before the honest history
        for sybil in sybils:
            log.join(sybil, referrer="f0")
    for sybil in sybils:
        log.submit(sybil, f"work of {sybil}")
    for author in sybils:
        for voter in [*sybils, "f0"]:
            if voter != author:
                log.evaluate(voter, f"work of {author}", 1)
    # Re-casts, to farm what backfeed/1 would pay again.
    for author in sybils:
        for voter in sybils:
            if voter != author:
                log.evaluate(voter, f"work of {author}", 0)
                log.evaluate(voter, f"work of {author}", 1)
    return sybils


@pytest.mark.parametrize("size", [1, 3, 10])
@pytest.mark.parametrize("referred_first", [False, True])
def test_a_sybil_ring_holds_no_more_than_its_referrer_alone(
    size: int, referred_first: bool
) -> None:
    alone, ring = founded(), founded()
    if referred_first:
        for n in range(size):
            ring.join(f"sybil {n}", referrer="f0")
    for log in (alone, ring):
        honest_history(log)
    sybils = _ring(ring, size, referred_first)
    a, b = run(alone), run(ring)
    members = ["f0", *sybils]
    ring_worth = [worth(b, name) for name in members]
    assert sum(r for r, _ in ring_worth) <= worth(a, "f0")[0]
    assert sum(t for _, t in ring_worth) <= worth(a, "f0")[1]
    # And the honest founders lose nothing to it (when f0 referred its keys before the honest
    # history, its own up-votes weighed less: that is what its referrals cost, not the ring's gain).
    for name in ("f1", "f2", "f3", "f4") if not referred_first else ():
        assert worth(b, name) >= worth(a, name), name


def test_a_referrer_cannot_count_its_stake_twice_on_one_contribution() -> None:
    """f0 up-votes, then refers keys that up-vote the same work: their stake weighs nothing
    there, so the work never passes the threshold on f0's reputation alone."""
    big = [("f0", "45", "0"), ("f1", "55", "0")]
    log = founded(big)
    log.join("author")
    log.submit("author", "work")
    log.evaluate("f0", "work", 1)
    for n in range(10):
        log.join(f"sybil {n}", referrer="f0")
        log.evaluate(f"sybil {n}", "work", 1)
    state = run(log)
    assert worth(state, "author") == (0, 0)
    record = state._contributions[log.contributions["work"]]
    assert isinstance(record, ContributionRecord2)
    assert record.weights[1] == 45 * UNIT


def test_every_weight_on_a_contribution_is_what_its_evaluator_held_at_its_submission() -> None:
    """f1 earns after f0's old post was submitted (its own work is paid, its up-votes share
    rewards); it weighs on the old post what it held then, and on a later post what it holds
    since. A member that joined after the old post weighs nothing on it."""
    log = founded()
    log.submit("f0", "old")
    log.submit("f1", "good")
    for voter in ("f2", "f3", "f4", "f0"):
        log.evaluate(voter, "good", 1)
    log.submit("f2", "other")
    for voter in ("f1", "f3", "f4", "f0"):
        log.evaluate(voter, "other", 1)
    log.join("newcomer", referrer="f3")
    log.submit("f4", "new")
    for voter in ("f1", "newcomer"):
        log.evaluate(voter, "old", 1)
        log.evaluate(voter, "new", 1)
    state = run(log)
    held, _ = worth(state, "f1")
    assert held > 20 * UNIT
    old = state._contributions[log.contributions["old"]]
    new = state._contributions[log.contributions["new"]]
    assert isinstance(old, ContributionRecord2) and isinstance(new, ContributionRecord2)
    assert old.votes[key_of("f1")].weight == 20 * UNIT
    assert new.votes[key_of("f1")].weight == held
    assert old.votes[key_of("newcomer")].weight == 0
    assert new.votes[key_of("newcomer")].weight == worth(state, "newcomer")[0] > 0
    assert voting_reputation(state, old) == 80 * UNIT  # R* then, less what f0 held


def test_a_ring_that_grows_after_posting_cannot_pay_that_post() -> None:
    """f2, f3 and f4 hold 40 of 100 when f4 posts junk. They then earn (everyone up-votes their
    good work) until f2 and f3 hold more than half of what all but f4 hold; their up-votes of
    the junk still weigh what they held when it was posted, below half of what could weigh on
    it then, and pay nothing."""
    ring = ("f2", "f3", "f4")
    log = founded(
        [
            ("f0", "30", "0"),
            ("f1", "30", "0"),
            ("f2", "14", "0"),
            ("f3", "13", "0"),
            ("f4", "13", "0"),
        ]
    )
    log.submit("f4", "junk")
    for round_ in range(8):
        for author in ring:
            log.submit(author, f"good {round_} by {author}")
            for voter in ("f0", "f1", "f2", "f3", "f4"):
                if voter != author:
                    log.evaluate(voter, f"good {round_} by {author}", 1)
    for voter in ("f2", "f3"):
        log.evaluate(voter, "junk", 1)
    state = run(log)
    voters = worth(state, "f2")[0] + worth(state, "f3")[0]
    assert voters > worth(state, "f0")[0] + worth(state, "f1")[0]  # a majority now, but f4
    junk = state._contributions[log.contributions["junk"]]
    assert junk.max_score is not None and junk.max_score < UNIT // 2
    assert worth(state, "f4")[1] == sum(  # f4's tokens: its good work's, none of the junk's
        50 * state._contributions[log.contributions[f"good {r} by f4"]].max_score for r in range(8)
    )


# -- flipping -------------------------------------------------------------------------------


def test_a_vote_flipped_twenty_times_ending_on_one_pays_no_one_more_than_casting_it_once() -> None:
    once, flipped = founded(), founded()
    for log in (once, flipped):
        for author in ("f0", "f1", "f2", "f3", "f4"):
            log.submit(author, f"article by {author}")
        for author in ("f0", "f1", "f2", "f3", "f4"):
            for voter in ("f0", "f1", "f2", "f3", "f4"):
                if voter == author:
                    continue
                if (voter, author) != ("f4", "f0") or log is once:
                    log.evaluate(voter, f"article by {author}", 1)
                else:
                    for n in range(20):
                        log.evaluate(voter, f"article by {author}", n % 2)
                    log.evaluate(voter, f"article by {author}", 1)
    a, b = run(once), run(flipped)
    for name, *_ in FOUNDERS:
        assert worth(b, name) <= worth(a, name), name


@given(st.randoms(use_true_random=False), st.lists(st.integers(0, 1), min_size=2, max_size=8))
@SETTINGS
def test_flipping_never_pays_the_flipper_more_than_casting_once(
    rng: random.Random, values: list[int]
) -> None:
    """k casts `values` on one contribution while others evaluate it: k ends with no more
    than had it cast its first value once, nor, when the last value is 1, the last value once
    (at the time of its first cast)."""
    voters = [f"f{n}" for n in range(1, 5)] + [f"m{n}" for n in range(4)]
    figures = {voter: str(rng.randrange(1, 40)) for voter in voters}
    others = [(rng.choice(voters), int(rng.random() < 0.8)) for _ in range(rng.randrange(3, 12))]
    first_at = rng.randrange(len(others) + 1)
    # k's casts by position among the others' casts: the first value, then the flips after it.
    flipped: dict[int, list[int]] = {first_at: [values[0]]}
    for value in values[1:]:
        flipped.setdefault(rng.randrange(first_at, len(others) + 1), []).append(value)
    final = [value for position in sorted(flipped) for value in flipped[position]][-1]

    def play(casts: dict[int, list[int]]) -> Worth:
        log = founded([("f0", "10", "0"), *[(voter, figures[voter], "0") for voter in voters]])
        log.join("k", referrer="f1")
        log.submit("f0", "work")
        for position in range(len(others) + 1):
            for value in casts.get(position, []):
                log.evaluate("k", "work", value)
            if position < len(others):
                voter, value = others[position]
                log.evaluate(voter, "work", value)
        return worth(run(log), "k")

    got = play(flipped)
    assert got <= play({first_at: [values[0]]})
    if final == 1 or values[0] != 1:
        assert got <= play({first_at: [final]})


# -- honest work is paid --------------------------------------------------------------------


def test_up_voted_work_pays_its_author_and_the_earlier_up_voters() -> None:
    log = founded()
    log.submit("f0", "good work")
    for voter in ("f1", "f2", "f3", "f4"):
        log.evaluate(voter, "good work", 1)
    state = run(log)
    reputation, tokens = worth(state, "f0")
    assert reputation > 20 * UNIT and tokens > 50 * UNIT
    for voter in ("f1", "f2", "f3"):
        assert worth(state, voter)[0] > 20 * UNIT, voter
    # The last up-voter has no later up-vote to share in yet, and gained nothing from its own.
    assert worth(state, "f4") == (20 * UNIT, 50 * UNIT)


def test_a_newcomer_whose_work_is_up_voted_gains_and_then_weighs() -> None:
    log = founded()
    log.join("newcomer")
    log.submit("newcomer", "first post")
    for voter in ("f0", "f1", "f2", "f3"):
        log.evaluate(voter, "first post", 1)
    log.submit("f4", "later work")
    log.evaluate("newcomer", "later work", 1)
    state = run(log)
    reputation, tokens = worth(state, "newcomer")
    assert reputation > 0 and tokens > 0
    record = state._contributions[log.contributions["later work"]]
    assert isinstance(record, ContributionRecord2)
    assert record.votes[key_of("newcomer")].weight == reputation


def test_the_up_vote_that_takes_the_score_above_the_threshold_pays_the_whole_score() -> None:
    """D(c) = 80 (f0 holds 20 of 100): two up-votes of 20 make exactly 0.5, which is not above
    the threshold and pays nothing; the third makes 0.75 and pays all of it, not 0.25."""
    log = founded()
    log.submit("f0", "work")
    state = run(log)
    for voter in ("f1", "f2"):
        assert apply(state, log.evaluate(voter, "work", 1)).postings == ()
    record = state._contributions[log.contributions["work"]]
    assert record.max_score == UNIT // 2
    changes = apply(state, log.evaluate("f3", "work", 1))
    tokens = [p.amount for p in changes.postings if p.asset == "tokens"]
    assert tokens == [50 * 3 * UNIT // 4]


def test_an_authors_own_reputation_does_not_lower_the_score_of_its_work() -> None:
    """The same up-votes score the same whether the author holds 20 points or 200: its own
    reputation can never weigh on its work, so it is not in the denominator."""
    scores = []
    for held in ("20", "200"):
        log = founded([("f0", held, "0"), *FOUNDERS[1:]])
        log.submit("f0", "work")
        for voter in ("f1", "f2", "f3"):
            log.evaluate(voter, "work", 1)
        record = run(log)._contributions[log.contributions["work"]]
        scores.append(record.max_score)
    assert scores[0] == scores[1] == 3 * UNIT // 4


@given(
    st.lists(st.integers(1, 60), min_size=2, max_size=6),
    st.booleans(),
    st.randoms(use_true_random=False),
)
@SETTINGS
def test_unanimous_up_votes_score_one_however_reputation_is_spread(
    reputations: list[int], history: bool, rng: random.Random
) -> None:
    """When every member but the author up-votes its work, the score is 1 (to the unit),
    whoever holds how much: moving reputation among the others (by the order of earlier
    votes, say) cannot raise it."""
    founders = [(f"f{n}", str(r), "0") for n, r in enumerate(reputations)]
    names = [name for name, *_ in founders]
    log = founded(founders)
    if history:
        honest_history(log, names)
    author = rng.choice(names)
    log.submit(author, "the work")
    state = run(log)
    voters = [name for name in names if name != author]
    rng.shuffle(voters)
    for voter in voters:
        apply(state, log.evaluate(voter, "the work", 1))
    record = state._contributions[log.contributions["the work"]]
    assert record.max_score is not None
    assert UNIT - 1 <= record.max_score <= UNIT


def test_neither_settling_nor_its_own_rewards_move_what_can_weigh_on_a_contribution() -> None:
    log = founded()
    log.submit("f0", "work")
    honest_history(log)  # f0's up-votes of the others' articles earn it claims, unsettled
    state = run(log)
    record = state._contributions[log.contributions["work"]]
    assert isinstance(record, ContributionRecord2)
    reachable = voting_reputation(state, record)
    assert pending_reputation(state, key_of("f0")) > 0
    apply(state, log.evaluate("f0", "work", 1))  # the author settles its claims
    assert voting_reputation(state, record) == reachable
    for voter in ("f1", "f2", "f3", "f4"):
        changes = apply(state, log.evaluate(voter, "work", 1))  # rewards c's author and voters
        assert voting_reputation(state, record) == reachable
    assert any(p.cause == "contributor_reward" for p in changes.postings)


def test_a_member_below_the_threshold_share_cannot_pay_work_by_keys_it_refers() -> None:
    """A member with 45 points of 100 refers keys; one posts, the member and the others
    up-vote it: what they hold outside the author is below half of what can weigh on it."""
    log = founded([("whale", "45", "0"), ("f1", "55", "0")])
    for n in range(5):
        log.join(f"key {n}", referrer="whale")
    log.submit("key 0", "work")
    for voter in ("whale", "key 1", "key 2", "key 3", "key 4"):
        log.evaluate(voter, "work", 1)
    state = run(log)
    record = state._contributions[log.contributions["work"]]
    assert record.max_score is not None and record.max_score < UNIT // 2
    for name in ("whale", "key 0", "key 1", "key 2", "key 3", "key 4"):
        assert worth(state, name)[1] == 0, name
    assert state._issued == 100 * UNIT


def test_work_below_the_threshold_share_of_all_reputation_pays_nothing() -> None:
    log = founded()
    log.submit("f0", "work")
    for voter in ("f1", "f2"):
        log.evaluate(voter, "work", 1)
    state = run(log)
    assert worth(state, "f0") == (20 * UNIT, 50 * UNIT)


def test_settling_pays_what_the_accumulator_owes_and_never_more_than_the_share() -> None:
    log = founded()
    log.submit("f0", "work")
    for voter in ("f1", "f2", "f3", "f4"):
        log.evaluate(voter, "work", 1)
    state = run(log)
    record = state._contributions[log.contributions["work"]]
    assert isinstance(record, ContributionRecord2)
    owed = sum(
        vote.weight * (record.accumulator - vote.marker) // ACCUMULATOR_SCALE
        for vote in record.votes.values()
        if vote.marker is not None
    )
    pending = sum(pending_reputation(state, key_of(v)) for v in ("f1", "f2", "f3", "f4"))
    assert owed == pending > 0
    # f1 signs an entry: its claim settles into R, one posting for the contribution.
    total = state.total_reputation
    f1_pending = pending_reputation(state, key_of("f1"))
    changes = apply(state, log.submit("f1", "anything"))
    assert [(p.cause, p.amount) for p in changes.postings] == [("alignment_reward", f1_pending)]
    assert state.total_reputation == total + f1_pending
    assert pending_reputation(state, key_of("f1")) == 0
    assert f"evaluation/{record.id}/{key_of('f1')}" in changes.records


# -- herding -------------------------------------------------------------------------------


@given(st.lists(st.integers(5, 40), min_size=5, max_size=5), st.randoms(use_true_random=False))
@SETTINGS
def test_voting_late_on_others_work_gains_no_tokens_from_ones_own(
    reputations: list[int], rng: random.Random
) -> None:
    """The simulation's late herding, with any reputations and voting orders: every founder
    posts; each other article is up-voted with f4 last (herding) or first; then the others
    up-vote f4's article. f4 forgoes evaluator shares and gains no token for it."""
    founders = [(f"f{n}", str(r), "0") for n, r in enumerate(reputations)]
    names = [name for name, *_ in founders]
    orders = {}
    for author in names[:4]:
        others = [name for name in names[:4] if name != author]
        rng.shuffle(others)
        orders[author] = others
    last_order = names[:4]
    rng.shuffle(last_order)
    results = []
    for late in (True, False):
        log = founded(founders)
        for author in names:
            log.submit(author, f"article by {author}")
        for author in names[:4]:
            order = [*orders[author], "f4"] if late else ["f4", *orders[author]]
            for voter in order:
                log.evaluate(voter, f"article by {author}", 1)
        for voter in last_order:
            log.evaluate(voter, "article by f4", 1)
        results.append(worth(run(log), "f4"))
    (late_reputation, late_tokens), (early_reputation, early_tokens) = results
    assert late_tokens <= early_tokens
    assert late_reputation <= early_reputation


def _interleaved_herding(seed: int, late: bool) -> Worth:
    """f4's worth at the end of `_interleaved_log(seed, late)`."""
    return worth(run(_interleaved_log(seed, late)), "f4")


def _interleaved_log(seed: int, late: bool) -> Log:
    """Five founders with random reputations, six articles (f4 writes one), each up-voted by
    every other founder in a random order with f4 last (`late`) or first, the votes on the
    articles interleaved at random."""
    rng = random.Random(seed)
    founders = [(f"f{n}", str(rng.randrange(5, 40)), "50") for n in range(5)]
    log = founded(founders)
    names = [name for name, *_ in founders]
    articles = {f"a{n}": names[n % 5] for n in range(6)}
    for article, author in articles.items():
        log.submit(author, article)
    queues = []
    for article, author in articles.items():
        voters = [name for name in names if name not in (author, "f4")]
        rng.shuffle(voters)
        if author != "f4":
            voters = [*voters, "f4"] if late else ["f4", *voters]
        queues.append([(voter, article) for voter in voters])
    order = random.Random(seed * 7 + 1)
    while any(queues):
        queue = order.choice([q for q in queues if q])
        voter, article = queue.pop(0)
        log.evaluate(voter, article, 1)
    return log


def test_voting_late_in_interleaved_histories_never_pays_and_always_costs_reputation() -> None:
    """Votes on a member's work interleaved at random with other work's: voting late on the
    others leaves them evaluator shares, but every weight on a contribution and D(c) are read at
    the same snapshot (its submission), so the work's score cannot rise for it. Voting late
    never pays tokens, and always costs the late voter reputation."""
    for seed in range(300):
        (late_reputation, late_tokens) = _interleaved_herding(seed, late=True)
        (early_reputation, early_tokens) = _interleaved_herding(seed, late=False)
        assert late_reputation < early_reputation, seed
        assert late_tokens <= early_tokens, seed


@pytest.mark.parametrize("late", [True, False])
def test_unanimous_work_scores_one_whatever_its_voters_earn_between_their_votes(
    late: bool,
) -> None:
    """In the interleaved histories every article is up-voted by every founder but its author,
    while the voters earn evaluator shares and rewards on the other articles between their
    votes: each article still scores exactly 1, since every weight on it and D(c) are what the
    members held when it was submitted."""
    for seed in range(60):
        log = _interleaved_log(seed, late)
        state = run(log)
        for name, cid in log.contributions.items():
            assert state._contributions[cid].max_score == UNIT, (seed, name)
        assert any(pending_reputation(state, key_of(f"f{n}")) > 0 for n in range(5)), seed


# -- bookkeeping over random histories ------------------------------------------------------


def _random_script(rng: random.Random, length: int) -> list[tuple[str, int, int, int]]:
    kinds = ["join", "submit", "evaluate", "evaluate", "evaluate", "evaluate"]
    return [
        (rng.choice(kinds), rng.randrange(10**6), rng.randrange(10**6), rng.randrange(10**6))
        for _ in range(length)
    ]


def _play(script: Sequence[tuple[str, int, int, int]]) -> tuple[State, list[str], Log]:
    """Run a script of actions (every one of which the rules accept)."""
    log = founded([("f0", "30", "10"), ("f1", "20", "10"), ("f2", "10", "0"), ("f3", "5", "0")])
    names = ["f0", "f1", "f2", "f3"]
    works: list[tuple[str, str]] = []
    state = run(log)
    for kind, a, b, c in script:
        if kind == "join":
            name = f"m{len(names)}"
            referrer = names[a % len(names)] if b % 2 else None
            event = log.join(name, referrer)
        elif kind == "submit":
            author = names[a % len(names)]
            work = f"w{len(works)}"
            event = log.submit(author, work)
            works.append((work, author))
        elif kind == "self" and works:
            work, author = works[a % len(works)]
            event = log.evaluate(author, work, b)
        elif kind == "evaluate" and works:
            work, _ = works[a % len(works)]
            event = log.evaluate(names[b % len(names)], work, c % 2)
        else:
            continue
        apply(state, event)
        if kind == "join":
            names.append(name)
    return state, names, log


def _books(state: State) -> None:
    """R is the members' settled reputation; R* (issued) holds it, the open claims and the
    dust their floors will never pay; W(c, v) is the sum of the frozen weights at v."""
    assert state.total_reputation == sum(m.reputation for m in state.iter_members())
    pending = sum(pending_reputation(state, m.key) for m in state.iter_members())
    assert state._issued >= state.total_reputation + pending
    for record in state._contributions.values():
        assert isinstance(record, ContributionRecord2)
        for value, weight in record.weights.items():
            assert weight == sum(
                record.votes[k].weight for k, (v, _, _) in record.evaluations.items() if v == value
            )


@given(st.randoms(use_true_random=False), st.integers(20, 120))
@SETTINGS
def test_the_records_each_event_names_rebuild_the_whole_state_map(
    rng: random.Random, length: int
) -> None:
    """Following only Changes.records (and record_value) after every event gives exactly the
    state's records; the books balance at every step."""
    _, _, log = _play(_random_script(rng, length))
    state = new_state()
    records: dict[str, dict[str, Any]] = {}
    for event in log:
        changes = apply(state, event)
        for key in changes.records:
            value = record_value(state, key)
            if value is None:
                records.pop(key, None)
            else:
                records[key] = value
        _books(state)
    assert records == dict(iter_records(state))


def test_keys_an_author_refers_cannot_share_in_the_rewards_of_its_own_work() -> None:
    """f0 refers keys before posting; they up-vote f0's article before the honest founders do.
    Without weight on it, they hold no claim, and the ring ends as f0 alone would."""
    alone, ring = founded(), founded()
    for n in range(3):
        ring.join(f"sybil {n}", referrer="f0")
    for log in (alone, ring):
        log.submit("f0", "article by f0")
    for n in range(3):
        ring.evaluate(f"sybil {n}", "article by f0", 1)
    for log in (alone, ring):
        for voter in ("f1", "f2", "f3", "f4"):
            log.evaluate(voter, "article by f0", 1)
    a, b = run(alone), run(ring)
    ring_worth = [worth(b, name) for name in ["f0", "sybil 0", "sybil 1", "sybil 2"]]
    assert sum(r for r, _ in ring_worth) <= worth(a, "f0")[0]
    assert sum(t for _, t in ring_worth) <= worth(a, "f0")[1]
    for name in ("sybil 0", "sybil 1", "sybil 2"):
        assert pending_reputation(b, key_of(name)) == 0, name


def test_a_genesis_naming_an_unknown_algorithm_is_refused_naming_the_known_ones() -> None:
    log = Log()
    log.genesis({"algorithm": "backfeed/9"}, FOUNDERS)
    state = new_state()
    with pytest.raises(RuleViolation, match="'backfeed/1' or 'backfeed/2', not 'backfeed/9'"):
        apply(state, log.events[0])
    assert not state.has_genesis


def test_network_params_cannot_change_the_algorithm() -> None:
    log = founded()
    state = run(log)
    with pytest.raises(RuleViolation, match="algorithm must be 'backfeed/2'"):
        apply(state, log.params({"algorithm": "backfeed/1", "params": {}}))
    assert state.params.algorithm == "backfeed/2"


def test_keys_a_member_refers_take_no_share_of_the_increase_its_own_up_vote_causes() -> None:
    """f0 splits off a key before f1's article exists; the key up-votes first, f0 later. The
    key shares in the honest up-votes' increases, never in f0's, nor f0 in the key's."""
    log = founded()
    log.join("split", referrer="f0")
    log.submit("f1", "article by f1")
    log.evaluate("f2", "article by f1", 1)
    log.evaluate("split", "article by f1", 1)
    log.evaluate("f3", "article by f1", 1)
    log.evaluate("f4", "article by f1", 1)  # crosses: f2, the key and f3 share
    state = run(log)
    before = pending_reputation(state, key_of("split"))
    assert before > 0
    changes = apply(state, log.evaluate("f0", "article by f1", 1))  # raises the score: pays
    assert any(p.cause == "contributor_reward" for p in changes.postings)
    assert pending_reputation(state, key_of("split")) == before
    assert pending_reputation(state, key_of("f2")) > 0
