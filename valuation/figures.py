"""Figures that follow from the state: a contribution's weights and quality, the state as JSON,
and the state digest.

`state_json` is the whole derived state, with amounts as decimal strings, in the shape the audit
bundle's state.json publishes; `digest` is the hex SHA-256 of its RFC 8785 (JCS) form.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import rfc8785

from valuation.amounts import UNIT, format_amount
from valuation.arithmetic import CONTEXT, div, round_units
from valuation.model import ContributionRecord, MemberRecord, State

__all__ = [
    "ContributionFigures",
    "canonical_json",
    "contribution_figures",
    "digest",
    "quality",
    "ratio",
    "state_json",
    "state_json_bytes",
]

_divide = CONTEXT.divide
_multiply = CONTEXT.multiply
_subtract = CONTEXT.subtract
_ONE = Decimal(1)
_UNIT = Decimal(UNIT)


@dataclass(frozen=True, slots=True)
class ContributionFigures:
    """A contribution's figures as dashboards read them (VALUATION.md). All ints in units of
    10^-9; the shares and quality are ratios (0.5 is 500_000_000)."""

    weights: dict[int, int]  # W(c, v) for each value v of the contribution's type
    weight_shares: dict[int, int]  # W(c, v) / R
    engaged_reputation: int  # V(c)
    engaged_share: int  # V(c) / R
    quality: int  # (1 - W(c, 0) / R) * W(c, 1) / R; 0 when R is 0


def contribution_figures(state: State, id: str) -> ContributionFigures | None:
    """The figures of contribution `id`, or None when there is no such contribution."""
    record = state._contributions.get(id)
    if record is None:
        return None
    weights, engaged = _weights(record, _values(state, record))
    total = state.total_reputation
    return ContributionFigures(
        weights=weights,
        weight_shares={value: ratio(weight, total) for value, weight in weights.items()},
        engaged_reputation=engaged,
        engaged_share=ratio(engaged, total),
        quality=quality(weights.get(0, 0), weights.get(1, 0), total),
    )


def state_json(state: State) -> dict[str, Any]:
    """The whole derived state as JSON, deterministic, amounts as decimal strings.

    `state_json_bytes` writes the same document directly as JCS bytes, much faster;
    `state_json_lazy` gives the same document with members and contributions built on access.
    """
    total = state.total_reputation
    return _state_document(
        state,
        {record.key: _member_json(record) for record in state._members.values()},
        {
            record.id: _contribution_json(state, record, total)
            for record in state._contributions.values()
        },
    )


class _LazyObject(Mapping[str, Any]):
    """A JSON object whose members are built when read, one at a time."""

    def __init__(self, keys: list[str], build: Callable[[str], Any]) -> None:
        self._keys = keys
        self._build = build

    def __getitem__(self, key: str) -> Any:
        return self._build(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def state_json_lazy(state: State) -> dict[str, Any]:
    """`state_json(state)` with `members` and `contributions` as read-only mappings that build
    each member's and contribution's JSON on access, so that a large state can be hashed or
    compared a piece at a time without the whole document in memory. Valid only while the
    state does not change."""
    total = state.total_reputation
    members, contributions = state._members, state._contributions
    return _state_document(
        state,
        _LazyObject(list(members), lambda key: _member_json(members[key])),
        _LazyObject(
            list(contributions),
            lambda cid: _contribution_json(state, contributions[cid], total),
        ),
    )


def _state_document(state: State, members: Any, contributions: Any) -> dict[str, Any]:
    return {
        "algorithm": state.params.algorithm if state.has_genesis else None,
        "params": state.params.to_json()["params"] if state.has_genesis else None,
        "tree_size": state.tree_size,
        "total_reputation": format_amount(state.total_reputation),
        "members": members,
        "contributions": contributions,
    }


def _member_json(record: MemberRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "referrer": record.referrer,
        "reputation": format_amount(record.reputation),
        "tokens": format_amount(record.tokens),
    }


def _contribution_json(state: State, record: ContributionRecord, total: int) -> dict[str, Any]:
    weights, engaged = _weights(record, _values(state, record))
    return {
        "author": record.author.key,
        "type": record.type,
        "fund": format_amount(record.fund),
        "max_score": None if record.max_score is None else format_amount(record.max_score),
        "engaged_reputation": format_amount(engaged),
        "weights": {str(value): format_amount(weight) for value, weight in weights.items()},
        "quality": format_amount(quality(weights.get(0, 0), weights.get(1, 0), total)),
        "evaluations": [
            {"evaluator": evaluator, "value": value, "index": index}
            for evaluator, (value, index, _) in record.evaluations.items()
        ],
    }


def state_json_bytes(state: State) -> bytes:
    """`canonical_json(state_json(state))`, written directly and several times faster.

    Keys are ASCII (field names, hex keys and ids, decimal integers), so sorting them as Python
    strings is JCS's order; strings are escaped by `json.dumps` exactly as JCS escapes them. Each
    contribution's evaluations are cached as JSON until it is evaluated again.
    """
    if not state.has_genesis:
        return canonical_json(state_json(state))
    params = state.params
    total = state.total_reputation
    # Per contribution type: its name as JSON, and its values in the order JCS sorts their keys.
    kinds = {
        name: (json.dumps(name, ensure_ascii=False), sorted(kind.evaluation_values, key=str))
        for name, kind in params.contribution_types.items()
    }
    records = state._contributions
    contributions = []
    for cid in sorted(records):
        record = records[cid]
        type_json, values = kinds[record.type]
        weights, engaged = _weights(record, values)
        evaluations = record.evaluations_json
        if evaluations is None:
            evaluations = record.evaluations_json = ",".join(
                [
                    f'{{"evaluator":"{evaluator}","index":{index},"value":{value}}}'
                    for evaluator, (value, index, _) in record.evaluations.items()
                ]
            )
        best = "null" if record.max_score is None else f'"{format_amount(record.max_score)}"'
        weights_json = ",".join([f'"{v}":"{format_amount(weights[v])}"' for v in values])
        figure = quality(weights.get(0, 0), weights.get(1, 0), total)
        contributions.append(
            f'"{cid}":{{"author":"{record.author.key}",'
            f'"engaged_reputation":"{format_amount(engaged)}","evaluations":[{evaluations}],'
            f'"fund":"{format_amount(record.fund)}","max_score":{best},'
            f'"quality":"{format_amount(figure)}","type":{type_json},"weights":{{{weights_json}}}}}'
        )
    members = state._members
    people = []
    for key in sorted(members):
        member = members[key]
        referrer = "null" if member.referrer is None else f'"{member.referrer}"'
        people.append(
            f'"{key}":{{"name":{json.dumps(member.name, ensure_ascii=False)},'
            f'"referrer":{referrer},"reputation":"{format_amount(member.reputation)}",'
            f'"tokens":"{format_amount(member.tokens)}"}}'
        )
    document = (
        f'{{"algorithm":{json.dumps(params.algorithm)},"contributions":{{{",".join(contributions)}}},'
        f'"members":{{{",".join(people)}}},'
        f'"params":{canonical_json(params.to_json()["params"]).decode("utf-8")},'
        f'"total_reputation":"{format_amount(total)}","tree_size":{state.tree_size}}}'
    )
    return document.encode("utf-8")


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 (JCS) bytes of `obj`.

    For the JSON valuation builds (ASCII keys, no floats, integers well inside 2^53, strings
    that are valid Unicode), the standard library's sorted, compact, non-ASCII-escaping encoder
    writes exactly the JCS bytes, several times faster than the `rfc8785` package; anything
    else goes to `rfc8785` itself.
    """
    try:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")
    except (TypeError, ValueError):
        result: bytes = rfc8785.dumps(obj)
        return result


def digest(state: State) -> str:
    """Hex SHA-256 of the JCS form of `state_json(state)`."""
    return hashlib.sha256(state_json_bytes(state)).hexdigest()


def _weights(record: ContributionRecord, values: Iterable[int]) -> tuple[dict[int, int], int]:
    """W(c, v) for each of `values`, and V(c), from the current reputation of the evaluators."""
    weights = dict.fromkeys(values, 0)
    engaged = 0
    for value, _, member in record.evaluations.values():
        reputation = member.reputation
        engaged += reputation
        if value in weights:
            weights[value] += reputation
    return weights, engaged


def _values(state: State, record: ContributionRecord) -> tuple[int, ...]:
    return state.params.contribution_types[record.type].evaluation_values


def ratio(part: int, whole: int) -> int:
    """`part / whole` in units of 10^-9 (0 when `whole` is 0): influence, W(c, v) / R, V(c) / R."""
    if whole <= 0:
        return 0
    return div(part * UNIT, whole)


def quality(upon_zero: int, upon_one: int, total: int) -> int:
    """`(1 - W(c, 0) / R) * W(c, 1) / R` in units of 10^-9, evaluated left to right; 0 when R
    is 0."""
    if total <= 0:
        return 0
    decimal_total = Decimal(total)
    quality = _multiply(
        _divide(
            _multiply(_subtract(_ONE, _divide(Decimal(upon_zero), decimal_total)), upon_one),
            decimal_total,
        ),
        _UNIT,
    )
    return round_units(quality)
