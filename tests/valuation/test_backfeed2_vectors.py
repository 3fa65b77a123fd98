"""backfeed/2 against its text: the vectors in tests/vectors/backfeed2-*.json, computed by the
literal model of docs/valuation/backfeed2.md (tests/valuation/literal_model2.py), and random
histories on which the fast code and the literal model must agree to the unit.

    python -m tests.valuation.test_backfeed2_vectors   # writes the vectors again

Each vector holds its events and, entry by entry, the postings and every record whose value
the entry changed, as the literal model computes them; then the final records.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.valuation.community import Log
from tests.valuation.literal_model2 import LiteralModel2
from valuation import Event, apply, new_state
from valuation.records import iter_records, record_value

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
FOUNDERS = [(f"f{n}", "20", "50") for n in range(5)]
TWO_TYPES: dict[str, Any] = {
    "algorithm": "backfeed/2",
    "params": {
        "referral_stake": "0.15",
        "contribution_types": {
            "article": {
                "fee": "1",
                "reward_threshold": "0.3",
                "token_reward_factor": "50",
                "reputation_reward_factor": "5",
                "evaluator_share": "0.25",
                "evaluation_values": [0, 1],
            },
            "comment": {
                "fee": "0",
                "reward_threshold": "0.2",
                "token_reward_factor": "7.5",
                "reputation_reward_factor": "1.5",
                "evaluator_share": "0.5",
                "evaluation_values": [-1, 0, 1, 2],
            },
        },
    },
}


def worked_example() -> Log:
    """The example of docs/valuation/backfeed2.md, entry by entry."""
    log = Log()
    log.genesis({"algorithm": "backfeed/2"}, FOUNDERS)
    log.join("N", referrer="f0")
    log.submit("N", "article by N")
    for voter in ("f0", "f1", "f2", "f3", "f4"):
        log.evaluate(voter, "article by N", 1)
    log.evaluate("f0", "article by N", 0)
    return log


def random_log(seed: int, length: int, valuation: dict[str, Any] | None = None) -> Log:
    """A random community: joins (some referred), submissions, first casts and re-casts,
    self-evaluations, a change of parameters, every event one the rules accept."""
    rng = random.Random(seed)
    valuation = valuation or {"algorithm": "backfeed/2"}
    types = sorted(valuation.get("params", {}).get("contribution_types", {"article": {}}))
    values = {
        name: kind.get("evaluation_values", [0, 1])
        for name, kind in valuation.get("params", {}).get("contribution_types", {}).items()
    }
    log = Log()
    founders = [(f"f{n}", str(rng.randrange(1, 60)), str(rng.randrange(0, 20))) for n in range(4)]
    log.genesis(valuation, founders)
    names = [name for name, *_ in founders]
    tokens = {name: int(t) for name, _, t in founders}
    works: list[tuple[str, str]] = []
    for _ in range(length):
        roll = rng.random()
        if roll < 0.12:
            name = f"m{len(names)}"
            log.join(name, rng.choice(names) if rng.random() < 0.6 else None)
            names.append(name)
            tokens[name] = 0
        elif roll < 0.3:
            author = rng.choice(names)
            kind = rng.choice(types)
            fee = int(
                valuation.get("params", {})
                .get("contribution_types", {})
                .get(kind, {})
                .get("fee", "0")
            )
            if tokens.get(author, 0) < fee:
                continue  # tokens are only a lower bound here: skip what might be refused
            tokens[author] -= fee
            work = f"w{len(works)}"
            log.submit(author, work, type=kind if len(types) > 1 else None)
            works.append((work, kind))
        elif roll < 0.32 and len(works) > 2:
            log.params(valuation)
        elif works:
            work, kind = rng.choice(works[-8:]) if rng.random() < 0.8 else rng.choice(works)
            choices = values.get(kind, [0, 1])
            value = 1 if rng.random() < 0.65 and 1 in choices else rng.choice(choices)
            log.evaluate(rng.choice(names), work, value)
    return log


def event_json(event: Event) -> dict[str, Any]:
    return {
        "index": event.index,
        "id": event.id,
        "kind": event.kind,
        "author": event.author,
        "logged_at": event.logged_at,
        "body": event.body,
    }


def posting_json(posting: tuple[str, str, int, str, str | None, str | None]) -> list[Any]:
    member, asset, amount, cause, contribution, evaluator = posting
    return [member, asset, amount, cause, contribution, evaluator]


def vector(description: str, log: Log) -> dict[str, Any]:
    """What the literal model says of `log`: entry by entry, then the final records."""
    model = LiteralModel2()
    before: dict[str, dict[str, Any]] = {}
    steps = []
    for event in log:
        postings = model.apply(event)
        after = model.records()
        changed = {key: value for key, value in after.items() if before.get(key) != value}
        steps.append(
            {
                "index": event.index,
                "postings": [posting_json(p) for p in postings],
                "changed": dict(sorted(changed.items())),
            }
        )
        before = after
    return {
        "description": description,
        "events": [event_json(event) for event in log],
        "steps": steps,
        "records": dict(sorted(before.items())),
    }


NAMES = ["backfeed2-community", "backfeed2-two-types", "backfeed2-worked-example"]


def all_vectors() -> dict[str, dict[str, Any]]:
    return {
        "backfeed2-worked-example": vector(
            "The worked example of docs/valuation/backfeed2.md, default parameters.",
            worked_example(),
        ),
        "backfeed2-community": vector(
            "A random community under the default parameters (seed 7, 160 actions).",
            random_log(7, 160),
        ),
        "backfeed2-two-types": vector(
            "A random community with two types, fees, other values and thresholds (seed 11).",
            random_log(11, 200, TWO_TYPES),
        ),
    }


def _events(data: dict[str, Any]) -> list[Event]:
    return [Event(**event) for event in data["events"]]


def _fast_steps(events: list[Event]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    state = new_state()
    steps = []
    for event in events:
        changes = apply(state, event)
        changed = {key: record_value(state, key) for key in changes.records}
        steps.append(
            {
                "postings": [
                    [p.member, p.asset, p.amount, p.cause, p.contribution, p.evaluator]
                    for p in changes.postings
                ],
                "changed": changed,
            }
        )
    return steps, dict(iter_records(state))


@pytest.mark.parametrize("name", NAMES)
def test_the_fast_code_computes_every_vector_and_the_literal_model_still_does(name: str) -> None:
    data = json.loads((VECTORS / f"{name}.json").read_text())
    events = _events(data)
    steps, records = _fast_steps(events)
    assert records == data["records"]
    for fast, expected in zip(steps, data["steps"], strict=True):
        assert fast["postings"] == expected["postings"], expected["index"]
        # Every record the text says changed is named, with its new value.
        for key, value in expected["changed"].items():
            assert fast["changed"].get(key) == value, (expected["index"], key)
    # The literal model, run again, still gives the stored vector (the text did not move).
    again = vector(data["description"], _log_of(events))
    assert again == data


def _log_of(events: list[Event]) -> Log:
    log = Log()
    log.events = list(events)
    return log


def test_the_worked_example_has_the_figures_the_doc_gives() -> None:
    data = json.loads((VECTORS / "backfeed2-worked-example.json").read_text())
    by_index = {step["index"]: step for step in data["steps"]}

    def contribution(index: int) -> dict[str, Any]:
        changed = by_index[index]["changed"]
        return next(v for k, v in changed.items() if k.startswith("contribution/"))

    # D(c) = 100 - 2 (N's stake) = 98 points: 18 / 98, then 38 / 98, then 58 / 98 pays.
    assert contribution(3)["max_score"] == "0.183673469"
    assert contribution(4)["max_score"] == "0.387755102"
    network = by_index[5]["changed"]["network"]
    assert network["total_reputation"] == "102.36734694"
    assert network["issued_reputation"] == "102.959183675"
    assert contribution(5)["max_score"] == "0.591836735"
    assert contribution(5)["accumulator"] == "15574650921052631578947368"
    assert contribution(5)["shared"] == "0.591836735"
    assert contribution(6)["max_score"] == "0.795918367"
    # Every member but its author up-voted it: the score is 1, and N holds 50 tokens, 6 points.
    assert contribution(7)["max_score"] == "1"
    assert by_index[7]["changed"][f"member/{data['events'][1]['author']}"] == {
        "name": "N",
        "referrer": data["events"][0]["body"]["founders"][0]["member"],
        "reputation": "6",
        "tokens": "50",
    }
    assert by_index[7]["changed"]["network"]["issued_reputation"] == "105"
    assert by_index[8]["postings"][0][2:4] == [390775156, "alignment_reward"]


@given(st.integers(0, 10**9), st.integers(10, 150), st.booleans())
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_fast_code_and_the_literal_model_agree_on_random_histories(
    seed: int, length: int, two_types: bool
) -> None:
    log = random_log(seed, length, TWO_TYPES if two_types else None)
    model = LiteralModel2()
    state = new_state()
    for event in log:
        literal = [posting_json(p) for p in model.apply(event)]
        changes = apply(state, event)
        fast = [
            [p.member, p.asset, p.amount, p.cause, p.contribution, p.evaluator]
            for p in changes.postings
        ]
        assert fast == literal, event.index
    assert dict(iter_records(state)) == model.records()


def main() -> None:
    for name, data in all_vectors().items():
        path = VECTORS / f"{name}.json"
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {path} ({len(data['events'])} events)")


if __name__ == "__main__":
    main()
