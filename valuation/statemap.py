"""The state map (SPEC section 5): a compact sparse Merkle tree over the state's records.

Definitions, as SPEC section 5 gives them, with `path(k)` = SHA-256(k) read as 256 bits, most
significant first:

    leaf(k, v) = SHA-256(0x02 || path(k) || SHA-256(JCS(v)))
    node(l, r) = SHA-256(0x03 || l || r)
    EMPTY      = 32 zero bytes

and the root of a set S of records whose paths share their first d bits is EMPTY when S is
empty, `leaf(k, v)` when S holds one record, else `node(root of those with bit d = 0, root of
those with bit d = 1)`. A record therefore sits at the first depth where no other record shares
its path; a subtree with one side empty still hashes that side as EMPTY.

This module holds, each testable against the others:
- `reference_root`: the definition, recursively, over a plain dict (slow, obviously right);
- `StateMap`: the tree kept in memory as immutable nodes. `update` rebuilds only the paths of
  the records that changed, O(changed · depth), and shares every other node with the tree before
  it, so keeping an older root (`snapshot`) keeps that version whole at the cost of the nodes
  that changed since;
- `prove` / `verify_proof`: the proof of one key (present or absent) and its check.

Pure: bytes and JSON in, bytes, proofs or `StateProofError` out.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from valuation.errors import StateProofError
from valuation.jcs import canonical

__all__ = [
    "EMPTY",
    "Leaf",
    "Node",
    "StateMap",
    "StateProof",
    "leaf_hash",
    "node_hash",
    "path_of",
    "proof_from_json",
    "prove",
    "reference_root",
    "value_hash",
    "verify_proof",
]

EMPTY: Final = bytes(32)
LEAF_PREFIX: Final = b"\x02"
NODE_PREFIX: Final = b"\x03"
DEPTH: Final = 256  # bits in a path

_sha256 = hashlib.sha256


def path_of(key: str) -> bytes:
    """path(k): SHA-256 of the key's UTF-8 bytes."""
    return _sha256(key.encode("utf-8")).digest()


def value_hash(value: Any) -> bytes:
    """SHA-256 of the value's JCS bytes."""
    return _sha256(canonical(value)).digest()


def leaf_hash(path: bytes, hashed_value: bytes) -> bytes:
    """leaf(k, v), from path(k) and SHA-256(JCS(v))."""
    return _sha256(LEAF_PREFIX + path + hashed_value).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """node(l, r)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def _bit(path: bytes, depth: int) -> int:
    return (path[depth >> 3] >> (7 - (depth & 7))) & 1


# -- the definition --------------------------------------------------------------------------


def reference_root(records: Mapping[str, Any]) -> bytes:
    """The state root of `records` (key -> value) straight from SPEC's recursive definition."""

    def root(items: list[tuple[bytes, bytes]], depth: int) -> bytes:
        if not items:
            return EMPTY
        if len(items) == 1:
            return leaf_hash(*items[0])
        zero = [item for item in items if _bit(item[0], depth) == 0]
        one = [item for item in items if _bit(item[0], depth) == 1]
        return node_hash(root(zero, depth + 1), root(one, depth + 1))

    return root([(path_of(key), value_hash(value)) for key, value in records.items()], 0)


# -- the tree in memory ----------------------------------------------------------------------


class Leaf:
    """One record: its key, path, value (its JCS bytes), the value's hash and the leaf hash."""

    __slots__ = ("hash", "key", "path", "value", "value_hash")

    def __init__(self, key: str, path: bytes, value: bytes) -> None:
        self.key = key
        self.path = path
        self.value = value
        self.value_hash = _sha256(value).digest()
        self.hash: bytes = leaf_hash(path, self.value_hash)


class Node:
    """An inner node: two subtrees, at least two records below it. Never changed once made."""

    __slots__ = ("hash", "left", "right")

    def __init__(self, left: Tree, right: Tree) -> None:
        self.left = left
        self.right = right
        self.hash: bytes = node_hash(
            EMPTY if left is None else left.hash, EMPTY if right is None else right.hash
        )


Tree = Node | Leaf | None


def _join(left: Tree, right: Tree) -> Tree:
    """The subtree over `left` and `right`: a lone record rises to where it is alone."""
    if left is None and (right is None or type(right) is Leaf):
        return right
    if right is None and type(left) is Leaf:
        return left
    return Node(left, right)


def _build(leaves: list[Leaf], lo: int, hi: int, depth: int) -> Tree:
    """The subtree over leaves[lo:hi], sorted by path, which share their first `depth` bits."""
    return _build_sorted(leaves, [int.from_bytes(leaf.path) for leaf in leaves], lo, hi, depth)


def _build_sorted(leaves: list[Leaf], paths: list[int], lo: int, hi: int, depth: int) -> Tree:
    if hi - lo <= 1:
        return leaves[lo] if hi > lo else None
    # The first leaf whose bit `depth` is 1: paths are sorted and share their first bits.
    shift = DEPTH - 1 - depth
    mid = bisect_left(paths, ((paths[lo] >> (shift + 1)) << (shift + 1)) | (1 << shift), lo, hi)
    if mid in (lo, hi):  # all on one side: the subtree hangs one level lower
        child = _build_sorted(leaves, paths, lo, hi, depth + 1)
        return Node(None, child) if mid == lo else Node(child, None)
    return _join(
        _build_sorted(leaves, paths, lo, mid, depth + 1),
        _build_sorted(leaves, paths, mid, hi, depth + 1),
    )


Change = tuple[bytes, str, bytes | None]  # (path, key, value's JCS bytes, or None to remove)


def _split(changes: list[Change], lo: int, hi: int, depth: int) -> int:
    """The first of changes[lo:hi] (sorted by path) whose bit `depth` is 1."""
    mid = lo
    while mid < hi and _bit(changes[mid][0], depth) == 0:
        mid += 1
    return mid


def _update(tree: Tree, changes: list[Change], lo: int, hi: int, depth: int) -> Tree:
    """`tree` with changes[lo:hi] applied; nodes off their paths are shared, not copied."""
    if lo == hi:
        return tree
    if tree is None or type(tree) is Leaf:
        records: dict[bytes, Leaf] = {}
        if tree is not None:
            records[tree.path] = tree
        for path, key, value in changes[lo:hi]:
            if value is None:
                records.pop(path, None)
            else:
                records[path] = Leaf(key, path, value)
        leaves = [records[path] for path in sorted(records)]
        return _build(leaves, 0, len(leaves), depth)
    assert type(tree) is Node
    mid = _split(changes, lo, hi, depth)
    return _join(
        _update(tree.left, changes, lo, mid, depth + 1),
        _update(tree.right, changes, mid, hi, depth + 1),
    )


def _path(change: Change) -> bytes:
    return change[0]


class StateMap:
    """The state map kept in memory, and the roots of the sizes it was asked to keep."""

    __slots__ = ("_tree", "_versions")

    def __init__(self) -> None:
        self._tree: Tree = None
        self._versions: dict[int, Tree] = {}

    @classmethod
    def of(cls, records: Iterable[tuple[str, Any]]) -> StateMap:
        """The map of `records` (key, value), built from nothing."""
        made = cls()
        leaves = sorted(
            (Leaf(key, path_of(key), canonical(value)) for key, value in records),
            key=lambda leaf: leaf.path,
        )
        made._tree = _build(leaves, 0, len(leaves), 0)
        return made

    @property
    def root(self) -> bytes:
        return EMPTY if self._tree is None else self._tree.hash

    def update(self, changes: Iterable[tuple[str, Any]]) -> None:
        """Set each (key, value) given; a value of None removes the key."""
        batch = sorted(
            [
                (path_of(key), key, None if value is None else canonical(value))
                for key, value in changes
            ],
            key=_path,
        )
        # A key given twice keeps its last value: sorted() is stable on equal paths.
        unique: list[Change] = []
        for change in batch:
            if unique and unique[-1][0] == change[0]:
                unique[-1] = change
            else:
                unique.append(change)
        self._tree = _update(self._tree, unique, 0, len(unique), 0)

    def snapshot(self, tree_size: int) -> None:
        """Keep the map as it is now as the version of `tree_size`."""
        self._versions[tree_size] = self._tree

    def forget_before(self, tree_size: int) -> None:
        """Drop the kept versions of sizes below `tree_size` (their nodes go when unshared)."""
        for size in [size for size in self._versions if size < tree_size]:
            del self._versions[size]

    def versions(self) -> list[int]:
        return sorted(self._versions)

    def root_at(self, tree_size: int) -> bytes | None:
        """The root kept for `tree_size`, or None when that version is not kept."""
        if tree_size not in self._versions:
            return None
        tree = self._versions[tree_size]
        return EMPTY if tree is None else tree.hash

    def prove(self, key: str, tree_size: int | None = None) -> StateProof:
        """The proof of `key` in the latest map, or in the version kept for `tree_size` (a
        KeyError when it is not kept). The proof's `tree_size` is -1 for the latest map."""
        tree = self._tree if tree_size is None else self._versions[tree_size]
        return prove(tree, key, -1 if tree_size is None else tree_size)


@dataclass(frozen=True, slots=True)
class StateProof:
    """SPEC section 5's proof: `siblings` from depth 0 down; `other` proves absence by a record
    that sits where `key` would."""

    tree_size: int
    key: str
    value: Any  # the record's value, or None when the key is absent
    siblings: tuple[bytes, ...]
    other: tuple[str, bytes] | None  # (key, value hash)

    def to_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "key": self.key,
            "value": self.value,
            "siblings": [sibling.hex() for sibling in self.siblings],
            "other": None
            if self.other is None
            else {"key": self.other[0], "value_hash": self.other[1].hex()},
        }


def prove(tree: Tree, key: str, tree_size: int) -> StateProof:
    """The proof of `key` in `tree`: its value and siblings, or its absence."""
    path = path_of(key)
    siblings: list[bytes] = []
    depth = 0
    while type(tree) is Node:
        if _bit(path, depth):
            sibling, tree = tree.left, tree.right
        else:
            sibling, tree = tree.right, tree.left
        siblings.append(EMPTY if sibling is None else sibling.hash)
        depth += 1
    assert not isinstance(tree, Node)
    if tree is None:
        return StateProof(tree_size, key, None, tuple(siblings), None)
    if tree.key == key:
        return StateProof(tree_size, key, json.loads(tree.value), tuple(siblings), None)
    return StateProof(tree_size, key, None, tuple(siblings), (tree.key, tree.value_hash))


def verify_proof(proof: StateProof, root: bytes) -> None:
    """Check `proof` against a state root (SPEC section 5); raise StateProofError if it fails."""
    depth = len(proof.siblings)
    if depth > DEPTH:
        raise StateProofError(f"a proof has at most {DEPTH} siblings, not {depth}")
    path = path_of(proof.key)
    if proof.value is not None:
        if proof.other is not None:
            raise StateProofError("a proof of a present key carries no other record")
        hashed = leaf_hash(path, value_hash(proof.value))
    elif proof.other is not None:
        other_key, other_hash = proof.other
        other_path = path_of(other_key)
        if other_key == proof.key:
            raise StateProofError("an absence proof's other record must have another key")
        if len(other_hash) != 32:
            raise StateProofError("an absence proof's other value_hash is not 32 bytes")
        if any(_bit(other_path, i) != _bit(path, i) for i in range(depth)):
            raise StateProofError(
                f"the other record {other_key!r} does not share the first {depth} bits of the "
                f"path of {proof.key!r}"
            )
        hashed = leaf_hash(other_path, other_hash)
    else:
        hashed = EMPTY
    for i in range(depth - 1, -1, -1):
        sibling = proof.siblings[i]
        if len(sibling) != 32:
            raise StateProofError(f"sibling {i} is not 32 bytes")
        hashed = node_hash(sibling, hashed) if _bit(path, i) else node_hash(hashed, sibling)
    if hashed != root:
        raise StateProofError(
            f"the proof of {proof.key!r} folds to {hashed.hex()[:16]}…, not the state root "
            f"{root.hex()[:16]}…"
        )


def proof_from_json(obj: Any) -> StateProof:
    """A StateProof from SPEC's JSON shape; StateProofError names what is malformed."""
    try:
        other = obj["other"]
        return StateProof(
            tree_size=int(obj["tree_size"]),
            key=str(obj["key"]),
            value=obj["value"],
            siblings=tuple(bytes.fromhex(s) for s in obj["siblings"]),
            other=None
            if other is None
            else (str(other["key"]), bytes.fromhex(other["value_hash"])),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise StateProofError(f"not a state proof: {error}") from None
