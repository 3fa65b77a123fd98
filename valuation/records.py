"""The state as records: what the state map (SPEC section 5) commits to at every tree size.

A record is a key (text) and a value (a JSON object, hashed as its JCS bytes). Every algorithm
has at least `member/<64 hex key>` and `network`; `backfeed/1` adds one record a contribution
and one an evaluation, so that no record grows with the number of entries that touch it:

| key | value |
|---|---|
| `network` | `{"algorithm", "params", "total_reputation"}` |
| `member/<key>` | `{"name", "referrer", "reputation", "tokens"}` |
| `contribution/<id>` | `{"author", "type", "index", "fund", "max_score"}` |
| `evaluation/<contribution id>/<evaluator key>` | `{"value", "index"}` (the current one) |

`backfeed/2` (docs/valuation/backfeed2.md) has the same `network` and `member/<key>` records;
its `contribution/<id>` is `{"author", "type", "index", "max_score", "weights", "accumulator",
"shared"}` and its `evaluation/<cid>/<evaluator key>` is `{"value", "index", "weight", "marker",
"carry", "paid"}`.

Its `network` record adds `issued_reputation`, R* (all reputation issued, settled or not).
`weights` maps each value cast at least once on the contribution (as a string) to W(c, v), the
sum of the frozen weights that hold it; `accumulator` and `marker` are decimal integer strings
(`marker` null when the evaluation holds no open claim; `carry` the remainder below the
accumulator's scale its last settlement left); `shared` is E(c), what the contribution's rewards
have issued to its up-voters; `paid` is what an evaluation's claim has paid.

Amounts are decimal strings exactly as the API writes them; `max_score` is null until the first
evaluation that sets it. `record_value` reads one record off the state, `iter_records` all of
them, and `changed_records` names those one applied event set or changed (`Changes.records`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from valuation.amounts import format_amount
from valuation.model import ContributionRecord, ContributionRecord2, MemberRecord, State, Vote
from valuation.params2 import Params2

__all__ = [
    "NETWORK",
    "changed_records",
    "contribution_key",
    "evaluation_key",
    "iter_records",
    "member_key",
    "member_value",
    "record_value",
]

NETWORK = "network"
_MEMBER = "member/"
_CONTRIBUTION = "contribution/"
_EVALUATION = "evaluation/"


def member_key(key: str) -> str:
    return _MEMBER + key


def contribution_key(id: str) -> str:
    return _CONTRIBUTION + id


def evaluation_key(contribution: str, evaluator: str) -> str:
    return f"{_EVALUATION}{contribution}/{evaluator}"


def record_value(state: State, key: str) -> dict[str, Any] | None:
    """The value of record `key` in `state`, or None when the state has no such record."""
    if key == NETWORK:
        return _network(state) if state.has_genesis else None
    if key.startswith(_MEMBER):
        member = state._members.get(key[len(_MEMBER) :])
        return None if member is None else member_value(member)
    if key.startswith(_CONTRIBUTION):
        contribution = state._contributions.get(key[len(_CONTRIBUTION) :])
        return None if contribution is None else _contribution(contribution)
    if key.startswith(_EVALUATION):
        cid, _, evaluator = key[len(_EVALUATION) :].partition("/")
        record = state._contributions.get(cid)
        current = None if record is None else record.evaluations.get(evaluator)
        if current is None:
            return None
        assert record is not None
        return _evaluation(record, evaluator, current[0], current[1])
    return None


def iter_records(state: State) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every record of `state` (in no particular order)."""
    if not state.has_genesis:
        return
    yield NETWORK, _network(state)
    for member in state._members.values():
        yield _MEMBER + member.key, member_value(member)
    for contribution in state._contributions.values():
        yield _CONTRIBUTION + contribution.id, _contribution(contribution)
        prefix = f"{_EVALUATION}{contribution.id}/"
        for evaluator, (value, index, _) in contribution.evaluations.items():
            yield prefix + evaluator, _evaluation(contribution, evaluator, value, index)


def changed_records(
    kind: str,
    author: str,
    body: Any,
    members: tuple[str, ...],
    contributions: tuple[str, ...],
) -> tuple[str, ...]:
    """The records an applied `backfeed/1` event set or changed, sorted.

    `members` and `contributions` are those of its Changes; `network` is named for every event
    that changes R or the params (conservatively: every event but a join or a submission that
    leaves R as it was is still named, which costs one hash and keeps the rule simple).
    """
    keys = {NETWORK}
    keys.update(_MEMBER + key for key in members)
    keys.update(_CONTRIBUTION + cid for cid in contributions)
    if kind == "evaluation.cast":
        keys.add(evaluation_key(str(body.get("contribution")), author))
    return tuple(sorted(keys))


def _network(state: State) -> dict[str, Any]:
    params = state.params.to_json()
    network = {
        "algorithm": params["algorithm"],
        "params": params["params"],
        "total_reputation": format_amount(state.total_reputation),
    }
    if isinstance(state.params, Params2):
        network["issued_reputation"] = format_amount(state._issued)
    return network


def member_value(member: MemberRecord) -> dict[str, Any]:
    """The value of a member's record, which is also its entry in `state_json`."""
    return {
        "name": member.name,
        "referrer": member.referrer,
        "reputation": format_amount(member.reputation),
        "tokens": format_amount(member.tokens),
    }


def _contribution(record: ContributionRecord) -> dict[str, Any]:
    if isinstance(record, ContributionRecord2):
        return {
            "author": record.author.key,
            "type": record.type,
            "index": record.index,
            "max_score": None if record.max_score is None else format_amount(record.max_score),
            "weights": {
                str(value): format_amount(weight)
                for value, weight in sorted(record.weights.items())
            },
            "accumulator": str(record.accumulator),
            "shared": format_amount(record.shared),
        }
    return {
        "author": record.author.key,
        "type": record.type,
        "index": record.index,
        "fund": format_amount(record.fund),
        "max_score": None if record.max_score is None else format_amount(record.max_score),
    }


def _evaluation(
    record: ContributionRecord, evaluator: str, value: int, index: int
) -> dict[str, Any]:
    if isinstance(record, ContributionRecord2):
        vote: Vote = record.votes[evaluator]
        return {
            "value": value,
            "index": index,
            "weight": format_amount(vote.weight),
            "marker": None if vote.marker is None else str(vote.marker),
            "carry": str(vote.carry),
            "paid": format_amount(vote.paid),
        }
    return {"value": value, "index": index}
