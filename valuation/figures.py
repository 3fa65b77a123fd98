"""Figures that follow from the state: a contribution's weights and quality, the state as JSON,
and the state digest.

`state_json` is the whole derived state as one JSON document, with amounts as decimal strings;
`digest` is the hex SHA-256 of its RFC 8785 (JCS) form, which checkpoints signed before the state
map carry (`multitude check` recomputes it for them). What the log signs now is the state map's
root over the records of `valuation.records`.
"""

from __future__ import annotations

import hashlib
import json
from bisect import insort
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Any

from valuation.amounts import UNIT, format_amount
from valuation.arithmetic import CONTEXT, div, round_units
from valuation.jcs import canonical
from valuation.model import ContributionRecord, ContributionRecord2, MemberRecord, State
from valuation.params2 import ALGORITHM_2
from valuation.records import member_value

__all__ = [
    "ContributionFigures",
    "approval",
    "contribution_figures",
    "contribution_quality",
    "digest",
    "quality",
    "ratio",
    "state_json",
    "state_json_bytes",
    "weights_of",
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
    quality: int  # `contribution_quality` of its algorithm


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
        quality=contribution_quality(state.params.algorithm, weights, engaged, total),
    )


def state_json(state: State) -> dict[str, Any]:
    """The whole derived state as JSON, deterministic, amounts as decimal strings.

    It holds what the log's entries leave behind: the params in force, R, each member's name,
    referrer, reputation and tokens, and each contribution's author, type, evaluator fund,
    maximum score and current evaluations. What follows from those at read time (influence,
    W(c, v), V(c), quality) is not in it, as influence is not: an auditor recomputes them from
    it, and the digest then changes only where an entry changed something, so that it can be
    kept up to date a member and a contribution at a time.

    `state_json_bytes` writes the same document directly as JCS bytes, much faster;
    `state_json_lazy` gives the same document with members and contributions built on access.
    """
    return _state_document(
        state,
        {record.key: member_value(record) for record in state._members.values()},
        {record.id: _contribution_json(record) for record in state._contributions.values()},
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
    members, contributions = state._members, state._contributions
    return _state_document(
        state,
        _LazyObject(list(members), lambda key: member_value(members[key])),
        _LazyObject(list(contributions), lambda cid: _contribution_json(contributions[cid])),
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


def _contribution_json(record: ContributionRecord) -> dict[str, Any]:
    return {
        "author": record.author.key,
        "type": record.type,
        "fund": format_amount(record.fund),
        "max_score": None if record.max_score is None else format_amount(record.max_score),
        "evaluations": [
            {"evaluator": evaluator, "value": value, "index": index}
            for evaluator, (value, index, _) in record.evaluations.items()
        ],
    }


def state_json_bytes(state: State) -> bytes:
    """`jcs.canonical(state_json(state))`, written directly and kept up to date cheaply."""
    return b"".join(_state_chunks(state))


def digest(state: State) -> str:
    """Hex SHA-256 of the JCS form of `state_json(state)`.

    Each member's and each contribution's JCS bytes are cached on its record and written again
    only when an entry changed it, and the keys' sorted order is kept as they arrive, so a digest
    costs one pass of SHA-256 over the state's bytes and the writing of what changed since the
    last one.
    """
    hasher = hashlib.sha256()
    for chunk in _state_chunks(state):
        hasher.update(chunk)
    return hasher.hexdigest()


class _Order:
    """The members' keys and the contributions' ids in sorted (JCS) order, kept up to date as
    they are added (neither is ever removed)."""

    __slots__ = ("contributions", "members")

    def __init__(self) -> None:
        self.members: list[str] = []
        self.contributions: list[str] = []

    def of(self, state: State) -> _Order:
        for keys, records in (
            (self.members, state._members),
            (self.contributions, state._contributions),
        ):
            if len(keys) < len(records):
                new = list(islice(records, len(keys), None))
                if len(new) > len(keys):
                    keys[:] = sorted(records)  # many at once: sort all
                else:
                    for key in new:
                        insort(keys, key)
        return self


def _state_chunks(state: State) -> Iterator[bytes]:
    """The JCS bytes of `state_json(state)`, in pieces.

    Keys are ASCII (field names, hex keys and ids), so sorting them as Python strings is JCS's
    order; strings are escaped by `json.dumps` exactly as JCS escapes them.
    """
    if not state.has_genesis:
        yield canonical(state_json(state))
        return
    order = state._order
    if not isinstance(order, _Order):
        order = state._order = _Order()
    order.of(state)
    params = state.params
    records = state._contributions
    yield f'{{"algorithm":{json.dumps(params.algorithm)},"contributions":{{'.encode()
    yield b",".join([_contribution_bytes(records[cid]) for cid in order.contributions])
    yield b'},"members":{'
    members = state._members
    yield b",".join([_member_bytes(members[key]) for key in order.members])
    yield (
        f'}},"params":{canonical(params.to_json()["params"]).decode("utf-8")},'
        f'"total_reputation":"{format_amount(state.total_reputation)}",'
        f'"tree_size":{state.tree_size}}}'
    ).encode()


def _contribution_bytes(record: ContributionRecord) -> bytes:
    cached = record.json
    if cached is None:
        evaluations = ",".join(
            [
                f'{{"evaluator":"{evaluator}","index":{index},"value":{value}}}'
                for evaluator, (value, index, _) in record.evaluations.items()
            ]
        )
        best = "null" if record.max_score is None else f'"{format_amount(record.max_score)}"'
        type_json = json.dumps(record.type, ensure_ascii=False)
        cached = record.json = (
            f'"{record.id}":{{"author":"{record.author.key}","evaluations":[{evaluations}],'
            f'"fund":"{format_amount(record.fund)}","max_score":{best},"type":{type_json}}}'
        ).encode()
    return cached


def _member_bytes(member: MemberRecord) -> bytes:
    figures = (member.reputation, member.tokens)
    if member.json_of != figures:
        referrer = "null" if member.referrer is None else f'"{member.referrer}"'
        member.json = (
            f'"{member.key}":{{"name":{json.dumps(member.name, ensure_ascii=False)},'
            f'"referrer":{referrer},"reputation":"{format_amount(member.reputation)}",'
            f'"tokens":"{format_amount(member.tokens)}"}}'
        ).encode()
        member.json_of = figures
    return member.json


def weights_of(
    evaluations: Iterable[tuple[int, int]], values: Iterable[int] = ()
) -> tuple[dict[int, int], int]:
    """W(c, v) for each value, and V(c), from the (value, weight) of each current evaluation.

    Every value in `values` is listed, with 0 when no evaluation holds it. An evaluation's
    weight is its algorithm's: the evaluator's current reputation under backfeed/1, the weight
    frozen at its first cast under backfeed/2.
    """
    weights = dict.fromkeys(values, 0)
    engaged = 0
    for value, weight in evaluations:
        engaged += weight
        weights[value] = weights.get(value, 0) + weight
    return weights, engaged


def _weights(record: ContributionRecord, values: Iterable[int]) -> tuple[dict[int, int], int]:
    """W(c, v) for each of `values` (only those), and V(c), of a contribution of the state."""
    if isinstance(record, ContributionRecord2):
        pairs = (
            (value, record.votes[key].weight) for key, (value, _, _) in record.evaluations.items()
        )
    else:
        pairs = ((value, member.reputation) for value, _, member in record.evaluations.values())
    weights, engaged = weights_of(pairs, values)
    listed = set(values)
    return {value: weight for value, weight in weights.items() if value in listed}, engaged


def _values(state: State, record: ContributionRecord) -> tuple[int, ...]:
    return state.params.contribution_types[record.type].evaluation_values


def ratio(part: int, whole: int) -> int:
    """`part / whole` in units of 10^-9 (0 when `whole` is 0): influence, W(c, v) / R, V(c) / R."""
    if whole <= 0:
        return 0
    return div(part * UNIT, whole)


def contribution_quality(
    algorithm: str, weights: Mapping[int, int], engaged: int, total: int
) -> int:
    """A contribution's quality under `algorithm`, from W(c, v) by value, V(c) and R, in units
    of 10^-9: `quality` under backfeed/1 (VALUATION.md), `approval` under backfeed/2, whose
    weights are frozen at each cast (docs/valuation/backfeed2.md, "A contribution's figures")."""
    if algorithm == ALGORITHM_2:
        return approval(weights.get(1, 0), engaged)
    return quality(weights.get(0, 0), weights.get(1, 0), total)


def approval(upon_one: int, engaged: int) -> int:
    """`W(c, 1) / V(c)` in units of 10^-9, rounded half-even: the share of the weight that
    evaluated a contribution that up-voted it; 0 when V(c) is 0."""
    return ratio(upon_one, engaged)


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
