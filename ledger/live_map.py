"""The state map of the live state (SPEC section 5), kept beside the valuation state in memory.

The appender applies entries to its valuation state and notes the records each one changed
(`Changes.records`); when it seals a checkpoint, `seal` writes only those records into the map,
O(changed records · depth), and keeps that version. The map's nodes never change once made, so
a kept version costs only the nodes that changed after it: the versions of the last `KEEP`
checkpoints stay in memory and prove in O(depth). Older checkpointed sizes are answered by
`rebuild`, a replay of the log up to that size (O(size), cached), never by the commit path.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

import valuation
from valuation.statemap import StateMap, StateProof

KEEP = 32  # checkpoints whose map version stays in memory
REBUILT = 2  # older versions rebuilt by replay and kept, most recently used


class LiveMap:
    """The map at the valuation state's size, and the versions of its last checkpoints."""

    def __init__(self, state: valuation.State, keep: int = KEEP) -> None:
        self.map = StateMap.of(valuation.iter_records(state))
        self.size = state.tree_size  # the size the map stands at, once `seal`ed
        self._keep = keep
        self._pending: set[str] = set()

    def note(self, changes: valuation.Changes) -> None:
        """Remember the records one applied entry changed."""
        self._pending.update(changes.records)

    def seal(self, state: valuation.State) -> bytes:
        """Write the noted records as `state` holds them, keep this version as the one of
        `state.tree_size`, and return its root."""
        if self._pending:
            keys = self._pending
            self._pending = set()
            self.map.update((key, valuation.record_value(state, key)) for key in keys)
        self.size = state.tree_size
        self.map.snapshot(self.size)
        versions = self.map.versions()
        if len(versions) > self._keep:
            self.map.forget_before(versions[-self._keep])
        return self.map.root

    def proof(self, key: str, tree_size: int) -> StateProof | None:
        """The proof of `key` at a kept size, or None when that version is not kept."""
        try:
            return self.map.prove(key, tree_size)
        except KeyError:
            return None


class RebuiltMaps:
    """Maps of older checkpointed sizes, each rebuilt by a replay of the log up to its size."""

    def __init__(self, size: int = REBUILT) -> None:
        self._maps: OrderedDict[int, StateMap] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def proof(self, key: str, tree_size: int, events: Iterable[valuation.Event]) -> StateProof:
        """The proof of `key` at `tree_size`, replaying `events` (the log's first `tree_size`
        entries) when that map is not cached."""
        with self._lock:
            made = self._maps.get(tree_size)
            if made is None:
                made = StateMap.of(valuation.iter_records(valuation.replay(events)))
                self._maps[tree_size] = made
                while len(self._maps) > self._size:
                    self._maps.popitem(last=False)
            self._maps.move_to_end(tree_size)
            proof = made.prove(key)
        return StateProof(tree_size, proof.key, proof.value, proof.siblings, proof.other)
