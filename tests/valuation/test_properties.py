"""Property tests: random communities, checked against a replay, a literal model and the books.

Each example draws a network (preset `example` or `dmag`, or a variant of them), founders with
random figures and referrers, then a random run of joins, submissions, evaluations (changed votes
included) and parameter changes. Events the rules refuse are dropped from the log after checking
that they changed nothing.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.valuation.community import Log
from tests.valuation.literal_model import LiteralModel
from valuation import (
    PRESETS,
    UNIT,
    Changes,
    Event,
    RuleViolation,
    State,
    apply,
    digest,
    format_amount,
    new_state,
    replay,
    state_json,
    state_json_bytes,
)

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Action = tuple[str, int, int, int]
actions = st.lists(
    st.tuples(
        st.sampled_from(
            ["join", "submit", "evaluate", "evaluate", "evaluate", "evaluate", "params"]
        ),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
    ),
    min_size=10,
    max_size=120,
)


@st.composite
def valuations(draw: st.DrawFn) -> dict[str, Any]:
    valuation = copy.deepcopy(PRESETS[draw(st.sampled_from(sorted(PRESETS)))])
    params = valuation["params"]
    if draw(st.booleans()):
        params["reward_tokens_to_evaluators"] = draw(st.booleans())
        params["allow_self_evaluation"] = draw(st.booleans())
        params["beta"] = draw(st.sampled_from(["0.5", "0.6", "0.25", "1", "0.35"]))
    return valuation


@st.composite
def founders(draw: st.DrawFn) -> list[tuple[str, ...]]:
    count = draw(st.integers(0, 5))
    figures = st.integers(0, 200 * UNIT).map(format_amount)
    listed: list[tuple[str, ...]] = []
    for number in range(count):
        name, reputation, tokens = f"f{number}", draw(figures), draw(figures)
        if number and draw(st.booleans()):
            listed.append((name, reputation, tokens, f"f{draw(st.integers(0, number - 1))}"))
        else:
            listed.append((name, reputation, tokens))
    return listed


class Books:
    """Applies events through `apply`, checks every invariant, and keeps the log of the accepted."""

    def __init__(
        self, valuation: dict[str, Any], founders: list[tuple[str, ...]], joiners: int
    ) -> None:
        self.log = Log()
        self.state = new_state()
        self.model = LiteralModel()
        self.members: list[str] = []
        self.refusals = 0
        self.offer(lambda: self.log.genesis(valuation, founders))
        self.members = [founder[0] for founder in founders]
        for number in range(joiners):
            referrer = self.members[number % len(self.members)] if self.members else None
            self.offer(lambda n=f"j{number}", r=referrer: self.log.join(n, r))
            self.members.append(f"j{number}")
        for number, author in enumerate(self.members[:3]):
            self.offer(lambda n=number, a=author: self.log.submit(a, f"first{n}"))

    def offer(self, make: Any) -> Changes | None:
        before = digest(self.state)
        event: Event = make()
        try:
            changes = self._checked_apply(event)
        except RuleViolation:
            self.log.events.pop()
            for name, cid in list(self.log.contributions.items()):
                if cid == event.id:
                    del self.log.contributions[name]
            self.refusals += 1
            assert digest(self.state) == before, "a refused event changed the state"
            return None
        self.model.apply(event)
        self._compare_with_model()
        return changes

    def _checked_apply(self, event: Event) -> Changes:
        state = self.state
        figures = _figures(state)
        funds = {c.id: c.fund for c in state.iter_contributions()}
        changes = apply(state, event)
        after = _figures(state)
        # Each member's figures moved by exactly the sum of their postings.
        moved: dict[tuple[str, str], int] = {}
        for posting in changes.postings:
            assert posting.amount != 0
            moved[posting.member, posting.asset] = (
                moved.get((posting.member, posting.asset), 0) + posting.amount
            )
        for key, (reputation, tokens) in after.items():
            old_reputation, old_tokens = figures.get(key, (0, 0))
            assert reputation - old_reputation == moved.get((key, "reputation"), 0)
            assert tokens - old_tokens == moved.get((key, "tokens"), 0)
            assert reputation >= 0 and tokens >= 0, "an amount went negative"
        assert set(changes.members) >= {key for key, _ in moved}
        assert state.total_reputation == sum(r for r, _ in after.values())
        # Tokens held plus tokens left in funds change only by what is burned or minted:
        # the fee is burned, a new fund and the rewards are minted, a fund share only moves.
        new_funds = {c.id: c.fund for c in state.iter_contributions()}
        assert all(fund >= 0 for fund in new_funds.values())
        held = sum(t for _, t in after.values()) - sum(t for _, t in figures.values())
        in_funds = sum(new_funds.values()) - sum(funds.values())
        minted = sum(
            p.amount
            for p in changes.postings
            if p.asset == "tokens" and p.cause != "evaluator_fund"
        )
        opened = sum(fund for cid, fund in new_funds.items() if cid not in funds)
        assert held + in_funds == minted + opened
        return changes

    def _compare_with_model(self) -> None:
        model = self.model
        for member in self.state.iter_members():
            assert member.reputation == model.reputation[member.key], member
            assert member.tokens == model.tokens[member.key], member
        for contribution in self.state.iter_contributions():
            literal = model.contributions[contribution.id]
            assert contribution.fund == literal["fund"]
            assert contribution.max_score == literal["max"]
            assert [list(e) for e in contribution.evaluations] == literal["evaluations"]

    def run(self, steps: list[Action], valuation: dict[str, Any]) -> None:
        log = self.log
        for kind, a, b, c in steps:
            names = sorted(log.contributions)
            if kind == "join":
                name = f"u{a % 40}"  # repeats on purpose: joining twice is refused
                referrer = self.members[b % len(self.members)] if self.members and c % 2 else None
                if self.offer(lambda n=name, r=referrer: log.join(n, r)) is not None:
                    self.members.append(name)
            elif kind == "submit" and self.members:
                author = self.members[a % len(self.members)]
                types = [None, "article", "comment", "review"]
                self.offer(
                    lambda: log.submit(author, f"c{len(log.events)}", types[b % 4])  # noqa: B023
                )
            elif kind == "evaluate" and self.members and names:
                member = self.members[a % len(self.members)]
                value = c % 2 if c % 3 else c % 4 - 1  # now and then -1 or 2
                self.offer(lambda: log.evaluate(member, names[b % len(names)], value))  # noqa: B023
            elif kind == "params" and a % 5 == 0:
                other = copy.deepcopy(PRESETS[sorted(PRESETS)[b % 2]])
                self.offer(lambda: log.params(other))  # noqa: B023


def _figures(state: State) -> dict[str, tuple[int, int]]:
    return {m.key: (m.reputation, m.tokens) for m in state.iter_members()}


@SETTINGS
@given(valuation=valuations(), founders=founders(), joiners=st.integers(2, 8), steps=actions)
def test_random_community_keeps_its_books_matches_the_literal_model_and_replays_alike(
    valuation: dict[str, Any],
    founders: list[tuple[str, ...]],
    joiners: int,
    steps: list[Action],
) -> None:
    books = Books(valuation, founders, joiners)
    books.run(steps, valuation)
    incremental = digest(books.state)
    assert digest(replay(books.log.events)) == incremental
    assert digest(replay(list(books.log.events))) == incremental
    assert books.state.tree_size == len(books.log.events)
    assert state_json_bytes(books.state) == rfc8785.dumps(state_json(books.state))


def with_review_type(preset: str) -> dict[str, Any]:
    valuation = copy.deepcopy(PRESETS[preset])
    types = valuation["params"]["contribution_types"]
    types["review"] = {**types["article"], "evaluation_values": [-1, 0, 1, 2]}
    return valuation


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_long_seeded_community_keeps_its_books_and_matches_the_literal_model(
    preset: str,
) -> None:
    rng = random.Random(preset)
    founders = [("f0", "100", "20"), ("f1", "50", "5", "f0"), ("f2", "0.5", "0")]
    books = Books(with_review_type(preset), founders, 30)
    kinds = ["join", "submit", *["evaluate"] * 12, "params"]
    steps = [
        (rng.choice(kinds), rng.randrange(10**6), rng.randrange(10**6), rng.randrange(10**6))
        for _ in range(1500)
    ]
    books.run(steps, with_review_type(preset))
    assert digest(replay(books.log.events)) == digest(books.state)
    assert books.state.tree_size > 1000
    assert state_json_bytes(books.state) == rfc8785.dumps(state_json(books.state))


def test_a_community_of_huge_and_tiny_figures_matches_the_literal_model() -> None:
    # Reputations near 10^18 points push products past 34 digits and quotients past 10^18,
    # where the integer shortcuts must give way to the Decimal formulas themselves.
    rng = random.Random(3)
    founders = [
        ("whale", "999999999999999999", "999999999999999999"),
        ("shark", "123456789012345678.123456789", "5", "whale"),
        ("minnow", "0.000000001", "1"),
    ]
    books = Books(with_review_type("dmag"), founders, 5)
    kinds = ["submit", *["evaluate"] * 10]
    steps = [
        (rng.choice(kinds), rng.randrange(10**6), rng.randrange(10**6), rng.randrange(10**6))
        for _ in range(300)
    ]
    books.run(steps, with_review_type("dmag"))
    assert digest(replay(books.log.events)) == digest(books.state)
    assert state_json_bytes(books.state) == rfc8785.dumps(state_json(books.state))
