"""Every rule refusal: a RuleViolation with a sentence for a human, and the state unchanged."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable

import pytest

from tests.valuation.community import LOG_KEY, Log, applied, key_of, member_of
from valuation import PRESETS, UNIT, Event, RuleViolation, State, apply, digest, new_state


def community() -> tuple[Log, State]:
    log = Log()
    log.genesis("example", [("ann", "10", "10"), ("bob", "100", "0.5")])
    log.join("carol", "ann")
    log.submit("ann", "essay", "article")
    return log, applied(log)


def refused(state: State, event: Event, message: str) -> None:
    before = digest(state)
    size = state.tree_size
    with pytest.raises(RuleViolation, match=message):
        apply(state, event)
    assert digest(state) == before
    assert state.tree_size == size


def test_an_entry_before_the_genesis_is_refused() -> None:
    log = Log()
    refused(new_state(), log.join("ann"), "first entry of a log must be its network.genesis")


def test_a_second_genesis_is_refused() -> None:
    log, state = community()
    refused(state, log.genesis("example"), "may only be the first entry")


def test_a_founder_listed_twice_is_refused() -> None:
    log = Log()
    event = log.genesis("example", [("ann", "1", "1"), ("ann", "2", "2")])
    refused(new_state(), event, "listed twice")


def test_a_founder_referred_by_a_later_founder_is_refused() -> None:
    log = Log()
    event = log.genesis("example", [("ann", "1", "1", "bob"), ("bob", "2", "2")])
    refused(new_state(), event, "not an earlier founder")


@pytest.mark.parametrize("amount", ["-1", "1e3", "1.0000000001", "", "one"])
def test_a_founder_with_an_invalid_amount_is_refused(amount: str) -> None:
    log = Log()
    event = log.genesis("example", [("ann", amount, "1")])
    refused(new_state(), event, "founder 1's reputation")


def test_a_genesis_with_invalid_params_is_refused() -> None:
    valuation = copy.deepcopy(PRESETS["example"])
    del valuation["params"]["beta"]
    refused(new_state(), Log().genesis(valuation), "lacks the field 'beta'")


def test_params_signed_by_another_key_are_refused() -> None:
    log, state = community()
    event = log.params(PRESETS["dmag"])
    forged = Event(event.index, event.id, event.kind, key_of("ann"), event.logged_at, event.body)
    refused(state, forged, "must be signed by the log key")


def test_params_that_drop_a_type_in_use_are_refused() -> None:
    log, state = community()
    valuation = copy.deepcopy(PRESETS["example"])
    del valuation["params"]["contribution_types"]["article"]
    refused(state, log.params(valuation), "drop the contribution type 'article'")


def test_new_params_apply_from_the_next_entry_on() -> None:
    log, state = community()
    valuation = copy.deepcopy(PRESETS["example"])
    valuation["params"]["contribution_types"]["article"]["fee"] = "3"
    apply(state, log.params(valuation))
    tokens = member_of(state, "carol").tokens
    apply(state, log.submit("carol", "second", "article"))
    assert member_of(state, "carol").tokens == tokens - 3 * UNIT


def test_joining_twice_is_refused() -> None:
    log, state = community()
    refused(state, log.join("carol"), "already a member")


def test_a_founder_cannot_join() -> None:
    log, state = community()
    refused(state, log.join("ann"), "already a member")


def test_a_referrer_who_is_not_a_member_is_refused() -> None:
    log, state = community()
    refused(state, log.join("dave", "nobody"), "referrer .* is not a member")


def test_a_join_without_a_name_is_refused() -> None:
    log, state = community()
    event = log.join("dave")
    nameless = Event(event.index, event.id, event.kind, event.author, event.logged_at, {})
    refused(state, nameless, "needs a name")


def test_a_submission_from_a_new_key_is_refused() -> None:
    log, state = community()
    author = key_of("stranger")
    refused(
        state,
        log.submit("stranger", "spam"),
        re.escape(
            f"author {author[:4]}… is not a member: only member.join may come from a new key"
        ),
    )


def test_an_evaluation_from_a_new_key_is_refused() -> None:
    log, state = community()
    refused(state, log.evaluate("stranger", "essay", 1), "is not a member")


def test_a_submission_of_an_unknown_type_is_refused() -> None:
    log, state = community()
    refused(state, log.submit("ann", "poem", "poem"), "not a contribution type")


def test_a_submission_without_the_fee_in_tokens_is_refused() -> None:
    log, state = community()
    refused(
        state,
        log.submit("bob", "essay 2", "article"),
        "costs a fee of 1 tokens and the author has only 0.5",
    )


def test_a_submission_referring_to_an_unknown_contribution_is_refused() -> None:
    log, state = community()
    event = log.submit("ann", "reply")
    body = {**event.body, "refs": ["0" * 64]}
    bad = Event(event.index, event.id, event.kind, event.author, event.logged_at, body)
    refused(state, bad, "not a contribution")


def test_a_submission_may_refer_to_earlier_contributions() -> None:
    log, state = community()
    changes = apply(state, log.submit("ann", "reply", "comment", refs=["essay"]))
    assert changes.contributions == (log.contributions["reply"],)


def test_an_evaluation_of_an_unknown_contribution_is_refused() -> None:
    log, state = community()
    event = log.evaluate("bob", "essay", 1)
    body = {"contribution": "f" * 64, "value": 1}
    bad = Event(event.index, event.id, event.kind, event.author, event.logged_at, body)
    refused(state, bad, "is not a contribution of this log")


@pytest.mark.parametrize("value", [2, -1, True, "1", None])
def test_an_evaluation_value_outside_the_evaluation_values_is_refused(value: object) -> None:
    log, state = community()
    event = log.evaluate("bob", "essay", 1)
    body = {**event.body, "value": value}
    bad = Event(event.index, event.id, event.kind, event.author, event.logged_at, body)
    refused(state, bad, "is not an evaluation value")


def test_self_evaluation_is_refused_when_the_network_does_not_allow_it() -> None:
    valuation = copy.deepcopy(PRESETS["example"])
    valuation["params"]["allow_self_evaluation"] = False
    log = Log()
    log.genesis(valuation, [("ann", "10", "10")])
    log.submit("ann", "essay")
    state = applied(log)
    refused(state, log.evaluate("ann", "essay", 1), "evaluate their own work")


def test_self_evaluation_is_accepted_when_the_network_allows_it() -> None:
    log, state = community()
    changes = apply(state, log.evaluate("ann", "essay", 1))
    assert changes.contributions == (log.contributions["essay"],)


def test_an_entry_out_of_log_order_is_refused() -> None:
    log, state = community()
    event = log.evaluate("bob", "essay", 1)
    late = Event(event.index + 1, event.id, event.kind, event.author, event.logged_at, event.body)
    refused(state, late, "next index of the log")


def test_an_unknown_kind_is_refused() -> None:
    log, state = community()
    event = log.join("dave")
    odd = Event(event.index, event.id, "member.leave", event.author, event.logged_at, {})
    refused(state, odd, "not an entry kind")


REFUSALS: list[Callable[[Log], Event]] = [
    lambda log: log.join("carol"),
    lambda log: log.submit("bob", "x", "article"),
    lambda log: log.evaluate("stranger", "essay", 1),
    lambda log: log.genesis("example"),
]


@pytest.mark.parametrize("make", REFUSALS)
def test_a_refused_entry_leaves_the_log_usable(make: Callable[[Log], Event]) -> None:
    log, state = community()
    event = make(log)
    log.events.pop()
    with pytest.raises(RuleViolation):
        apply(state, event)
    apply(state, log.evaluate("bob", "essay", 1))
    assert digest(state) == digest(applied(log))


def test_the_log_key_is_no_member() -> None:
    _, state = community()
    assert not state.is_member(LOG_KEY)
    assert state.log_author == LOG_KEY


def test_a_body_that_is_not_an_object_is_refused() -> None:
    log, state = community()
    event = log.join("dave")
    odd = Event(event.index, event.id, event.kind, event.author, event.logged_at, [])  # type: ignore[arg-type]
    refused(state, odd, "is not a JSON object")
