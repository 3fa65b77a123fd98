"""The derived state as JSON, its canonical bytes and its digest."""

from __future__ import annotations

import hashlib

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.valuation.community import Log, applied, key_of
from valuation import (
    PRESETS,
    Event,
    apply,
    digest,
    new_state,
    replay,
    state_json,
    state_json_bytes,
    state_json_lazy,
)


def figure_1() -> Log:
    log = Log()
    log.genesis("example", [("ann", "10", "10"), ("bonnie", "100", "99", "ann")])
    log.submit("ann", "article", "article")
    log.evaluate("bonnie", "article", 1)
    return log


def test_state_json_has_the_published_shape() -> None:
    log = figure_1()
    document = state_json(applied(log))
    ann, bonnie, cid = key_of("ann"), key_of("bonnie"), log.contributions["article"]
    assert document["algorithm"] == "backfeed/1"
    assert document["params"] == PRESETS["example"]["params"]
    assert document["tree_size"] == 3
    assert document["members"][ann]["name"] == "ann"
    assert document["members"][ann]["referrer"] is None
    assert document["members"][bonnie]["referrer"] == ann
    assert set(document["members"][ann]) == {"name", "referrer", "reputation", "tokens"}
    contribution = document["contributions"][cid]
    # What follows from these at read time (weights, V(c), quality, influence) is not stored.
    assert set(contribution) == {"author", "type", "fund", "max_score", "evaluations"}
    assert contribution["author"] == ann
    assert contribution["type"] == "article"
    assert contribution["fund"] == "10"
    assert contribution["max_score"] == "0.909090909"
    assert contribution["evaluations"] == [{"evaluator": bonnie, "value": 1, "index": 2}]
    assert document["members"][ann]["tokens"] == "54.45454545"
    assert isinstance(document["total_reputation"], str)


def test_the_empty_state_has_a_json_and_a_digest() -> None:
    state = new_state()
    assert state_json(state)["tree_size"] == 0
    assert digest(state) == hashlib.sha256(rfc8785.dumps(state_json(state))).hexdigest()


def test_the_digest_is_sha256_of_the_jcs_of_the_state_json() -> None:
    state = applied(figure_1())
    expected = hashlib.sha256(rfc8785.dumps(state_json(state))).hexdigest()
    assert digest(state) == expected
    assert state_json_bytes(state) == rfc8785.dumps(state_json(state))


def test_the_lazy_state_json_is_the_same_document() -> None:
    from valuation.jcs import canonical_chunks

    log = figure_1()
    state = applied(log)
    apply(state, log.evaluate("bonnie", "article", 0))
    lazy = state_json_lazy(state)
    assert b"".join(canonical_chunks(lazy)) == rfc8785.dumps(state_json(state))
    assert {k: dict(v) if k in ("members", "contributions") else v for k, v in lazy.items()} == (
        state_json(state)
    )


def test_the_cached_evaluations_follow_a_changed_vote() -> None:
    log = figure_1()
    state = applied(log)
    digest(state)  # fills the cache
    apply(state, log.evaluate("bonnie", "article", 0))
    assert state_json_bytes(state) == rfc8785.dumps(state_json(state))
    assert digest(state) == digest(replay(log.events))


def test_the_same_events_give_the_same_digest() -> None:
    log = figure_1()
    assert digest(replay(log.events)) == digest(applied(log)) == digest(replay(log.events))


def test_every_event_changes_the_digest() -> None:
    log = figure_1()
    state = new_state()
    seen = {digest(state)}
    for event in log:
        apply(state, event)
        seen.add(digest(state))
    assert len(seen) == len(log.events) + 1


@settings(max_examples=200, deadline=None)
@given(name=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80))
def test_names_of_any_script_are_written_as_jcs_writes_them(name: str) -> None:
    log = Log()
    log.genesis("example", [("ann", "10", "10")])
    state = applied(log)
    event = log.join("x")
    apply(state, Event(event.index, event.id, event.kind, event.author, "", {"name": name}))
    assert state_json_bytes(state) == rfc8785.dumps(state_json(state))
