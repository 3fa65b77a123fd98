"""The algorithms a network may name in its genesis, and the entry points that choose among them.

One table, `ALGORITHMS`, from the name in `{"algorithm": ..., "params": ...}` to the module that
owns its rules. `apply`, `replay` and `resolve_params` read the name (from the state once it has
its genesis, from the genesis entry before) and hand over to that module; what reads the state
afterwards reads it the same way for every algorithm (`valuation.model`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain

from valuation import backfeed, backfeed2
from valuation.errors import ParamsError, RuleViolation
from valuation.model import AnyParams, Changes, Event, State
from valuation.params import ALGORITHM
from valuation.params import resolve_params as resolve_params_1
from valuation.params2 import ALGORITHM_2, DEFAULT_VALUATION, resolve_params_2

__all__ = [
    "ALGORITHMS",
    "DEFAULT_VALUATION",
    "Algorithm",
    "algorithm_named",
    "algorithm_of",
    "apply",
    "new_state",
    "pending_reputation",
    "replay",
    "resolve_params",
]


@dataclass(frozen=True, slots=True)
class Algorithm:
    name: str
    resolve_params: Callable[[object], AnyParams]
    apply: Callable[[State, Event], Changes]
    replay: Callable[[Iterable[Event]], State]
    # Reputation a member has earned but not yet settled (backfeed/2's claims); 0 elsewhere.
    pending_reputation: Callable[[State, str], int]
    # Whether a contribution's score reads figures no stored row holds (backfeed/2: D(c) holds
    # its author's pending claims), so that the log must keep the maximum score after each
    # cast for reads of a contribution's history; backfeed/1's is recomputed from postings.
    stores_score_history: bool = False


ALGORITHMS: dict[str, Algorithm] = {
    ALGORITHM: Algorithm(
        ALGORITHM, resolve_params_1, backfeed.apply, backfeed.replay, lambda state, key: 0
    ),
    ALGORITHM_2: Algorithm(
        ALGORITHM_2,
        resolve_params_2,
        backfeed2.apply,
        backfeed2.replay,
        backfeed2.pending_reputation,
        stores_score_history=True,
    ),
}


def algorithm_named(valuation: object) -> Algorithm:
    """The algorithm a genesis's `valuation` object names; backfeed/1 for anything that names
    none we know, so that its checks word the refusal."""
    name = valuation.get("algorithm") if isinstance(valuation, Mapping) else None
    found = ALGORITHMS.get(name) if isinstance(name, str) else None
    return ALGORITHMS[ALGORITHM] if found is None else found


def algorithm_of(state: State) -> Algorithm:
    """The algorithm of a state that has its genesis (backfeed/1 before, which refuses all but
    a genesis)."""
    if not state.has_genesis:
        return ALGORITHMS[ALGORITHM]
    return ALGORITHMS[state.params.algorithm]


def resolve_params(obj: object) -> AnyParams:
    """Check a `{"algorithm", "params"}` object and return its parameters, for any algorithm.

    Raises ParamsError naming the field and why it is refused.
    """
    name = obj.get("algorithm") if isinstance(obj, Mapping) else None
    if isinstance(obj, Mapping) and "algorithm" in obj and name not in ALGORITHMS:
        known = " or ".join(repr(known) for known in ALGORITHMS)
        shown = repr(name) if len(repr(name)) <= 40 else repr(name)[:40] + "…"
        raise ParamsError(f"valuation.algorithm must be {known}, not {shown}")
    return algorithm_named(obj).resolve_params(obj)


def new_state() -> State:
    """An empty state, waiting for its network.genesis (which names its algorithm)."""
    return State()


def apply(state: State, event: Event) -> Changes:
    """Apply one event with the rules of the state's algorithm (for a genesis, of the algorithm
    it names); on a RuleViolation the state is left exactly as it was."""
    if state.has_genesis:
        return ALGORITHMS[state.params.algorithm].apply(state, event)
    valuation = event.body.get("valuation") if isinstance(event.body, Mapping) else None
    if (
        event.kind == "network.genesis"
        and isinstance(valuation, Mapping)
        and valuation.get("algorithm") not in ALGORITHMS
    ):
        try:
            resolve_params(valuation)
        except ParamsError as error:  # always: the algorithm is none we know
            raise RuleViolation(f"the valuation params are invalid: {error}") from None
    return algorithm_named(valuation).apply(state, event)


def replay(events: Iterable[Event]) -> State:
    """The state after applying `events` in order to an empty state, under the algorithm the
    first of them (the genesis) names."""
    iterator = iter(events)
    first = next(iterator, None)
    if first is None:
        return State()
    body = first.body
    valuation = body.get("valuation") if isinstance(body, Mapping) else None
    return algorithm_named(valuation).replay(chain((first,), iterator))


def pending_reputation(state: State, key: str) -> int:
    """Reputation member `key` has earned and not yet settled (always 0 under backfeed/1)."""
    return algorithm_of(state).pending_reputation(state, key)
