"""The log's Merkle tree: RFC 9162 hashing, proofs, and proofs from stored subtree nodes.

Pure: hashes in, hashes or typed errors out. Three layers, each checkable against the one before:

1. The reference definitions, written as RFC 9162 §2.1 writes them (`root`, `inclusion_proof_ref`,
   `consistency_proof_ref`): recursive, slow, obviously correct. Tests and the offline auditor use
   them.
2. The verifiers (`verify_inclusion`, `verify_consistency`), step by step as RFC 9162 §2.1.3.2 and
   §2.1.4.2. A proof that does not verify raises `ProofError`; they never return False.
3. The production path, as Trillian and Tessera do it: a complete subtree node `(level, index)`
   covers leaves [index·2^level, (index+1)·2^level) and is stored once, when it is completed
   (`append`). A proof is planned as a set of node ids (`inclusion_plan`, `consistency_plan`,
   `root_plan`), fetched in one query, and assembled (`inclusion_proof`, `consistency_proof`,
   `root_at`): O(log n) proof hashes from O(log² n) stored nodes at most, never a rebuild.

Every MTH(D[a:b]) that a proof of a tree of size n needs is a node of the RFC's recursive split of
D[0:n]: either a complete subtree, or a range ending at n whose start is aligned to a power of two
at least its length. Such a range is the complete subtrees of its length's set bits, largest first,
hashed right to left (`_range_nodes`, `_range_hash`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TypeAlias

from ledger.errors import MissingNodeError, ProofError, ProofRequestError

# RFC 9162 §2.1.1: the hash algorithm is SHA-256, whose output is 32 bytes.
HASH_SIZE = 32
# RFC 9162 §2.1.1: domain separation between leaves (0x00) and interior nodes (0x01).
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
# RFC 9162 §2.1.1: "The hash of an empty list is the hash of an empty string: MTH({}) = HASH()."
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId: TypeAlias = tuple[int, int]
"""A complete subtree node `(level, index)`, covering leaves [index·2^level, (index+1)·2^level)."""

Frontier: TypeAlias = list[bytes]
"""The compact range of a tree of size n: the hashes of its complete subtrees along the right
edge, one per set bit of n, largest first."""

StoredNode: TypeAlias = tuple[int, int, bytes]
"""`(level, index, hash)` of a node completed by an append, for the caller to store."""


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0))."""
    return hashlib.sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """RFC 9162 §2.1.1: "k is the largest power of two smaller than n (i.e., k < n <= 2k)"."""
    return 1 << ((n - 1).bit_length() - 1)


# --- 1. Reference definitions (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1) ----------------------------
#
# They take leaf hashes rather than leaf bytes, so they serve stored trees as well; MTH of a single
# entry is its leaf hash, and every other step is as the RFC writes it. Ranges are passed as
# (start, end) into one sequence rather than copied slices, which keeps sizes of thousands cheap.


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) per RFC 9162 §2.1.1, recursively, from the leaf hashes."""
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def _mth(d: Sequence[bytes], start: int, end: int) -> bytes:
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return d[start]
    k = _split(n)
    return node_hash(_mth(d, start, start + k), _mth(d, start + k, end))


def inclusion_proof_ref(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) per RFC 9162 §2.1.3.1, recursively."""
    _check_inclusion_request(index, len(leaf_hashes))
    return _path(index, leaf_hashes, 0, len(leaf_hashes))


def _path(m: int, d: Sequence[bytes], start: int, end: int) -> list[bytes]:
    n = end - start
    # "The path for the single leaf in a tree with a one-element input list D[1] = {d(0)} is
    # empty: PATH(0, {d(0)}) = {}"
    if n == 1:
        return []
    k = _split(n)
    # "for m < k: PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])"
    if m < k:
        return [*_path(m, d, start, start + k), _mth(d, start + k, end)]
    # "for m >= k: PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])"
    return [*_path(m - k, d, start + k, end), _mth(d, start, start + k)]


def consistency_proof_ref(first: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) per RFC 9162 §2.1.4.1, recursively.

    The RFC defines it for 0 < m < n; for m = n the proof is empty (as transparency-dev).
    """
    _check_consistency_request(first, len(leaf_hashes))
    if first == len(leaf_hashes):
        return []
    return _subproof(first, leaf_hashes, 0, len(leaf_hashes), True)


def _subproof(m: int, d: Sequence[bytes], start: int, end: int, b: bool) -> list[bytes]:
    n = end - start
    if m == n:
        # "If m = n, SUBPROOF(m, D[m], true) = {}" ... "SUBPROOF(m, D[m], false) = {MTH(D[m])}"
        return [] if b else [_mth(d, start, end)]
    k = _split(n)
    if m <= k:
        # "If m <= k, ... SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])"
        return [*_subproof(m, d, start, start + k, b), _mth(d, start + k, end)]
    # "If m > k, ... SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])"
    return [*_subproof(m - k, d, start + k, end, False), _mth(d, start, start + k)]


# --- 2. Verification (RFC 9162 §2.1.3.2, §2.1.4.2) ---------------------------------------------


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(
            f"the {what} is {len(value)} bytes long; a SHA-256 hash is {HASH_SIZE} bytes"
        )


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, p in enumerate(proof):
        _check_hash(f"proof hash at position {i}", p)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is leaf `index` of the tree of `tree_size` with `root`.

    RFC 9162 §2.1.3.2. Returns None if it is; raises `ProofError` saying why otherwise.
    """
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root hash", root)
    _check_proof_hashes(proof)
    if index < 0 or tree_size < 0:
        raise ProofError(f"index {index} and tree size {tree_size} must not be negative")
    # Step 1: "If leaf_index is greater than or equal to tree_size, then fail the proof
    # verification."
    if index >= tree_size:
        raise ProofError(
            f"leaf index {index} is not in a tree of size {tree_size}; "
            f"the last index is {tree_size - 1}"
            if tree_size > 0
            else f"leaf index {index} is not in an empty tree"
        )
    # Step 2: "Set fn to leaf_index and sn to tree_size - 1."
    fn, sn = index, tree_size - 1
    # Step 3: "Set r to hash."
    r = leaf_hash
    # Step 4: "For each value p in the inclusion_path array:"
    for p in proof:
        # 4a: "If sn is 0, then stop the iteration and fail the proof verification."
        if sn == 0:
            raise ProofError(
                f"the inclusion proof has {len(proof)} hashes, more than index {index} "
                f"in a tree of size {tree_size} needs"
            )
        # 4b: "If LSB(fn) is set, or if fn is equal to sn, then:"
        if fn & 1 or fn == sn:
            # 4b.i: "Set r to HASH(0x01 || p || r)."
            r = node_hash(p, r)
            # 4b.ii: "If LSB(fn) is not set, then right-shift both fn and sn equally until
            # either LSB(fn) is set or fn is 0."
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            # 4b, otherwise: "Set r to HASH(0x01 || r || p)."
            r = node_hash(r, p)
        # 4c: "Finally, right-shift both fn and sn one time."
        fn >>= 1
        sn >>= 1
    # Step 5: "If sn is equal to 0 and r and the root_hash are equal, then the log has proven the
    # inclusion of hash. Otherwise, fail the proof verification."
    if sn != 0:
        raise ProofError(
            f"the inclusion proof has {len(proof)} hashes, fewer than index {index} "
            f"in a tree of size {tree_size} needs"
        )
    if r != root:
        raise ProofError(
            f"the inclusion proof for index {index} leads to root {r.hex()}, "
            f"not to the expected root {root.hex()} of the tree of size {tree_size}"
        )


def verify_consistency(
    first: int,
    second: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree of size `first` with `first_root` is a prefix of the tree of size
    `second` with `second_root`.

    RFC 9162 §2.1.4.2, which assumes 0 < first < second; the two edge cases are settled as
    transparency-dev's verifier (and its test vectors) settle them. Returns None if the proof
    holds; raises `ProofError` saying why otherwise.
    """
    if first < 0 or second < 0:
        raise ProofError(f"tree sizes {first} and {second} must not be negative")
    if first > second:
        raise ProofError(
            f"the first tree size {first} is larger than the second {second}; "
            "a log only grows, so the older checkpoint must come first"
        )
    # A consistency proof from the empty tree proves nothing: every tree extends it.
    # transparency-dev refuses it, for equal sizes too; so do we.
    if first == 0:
        raise ProofError(
            "a consistency proof from tree size 0 is meaningless: every tree extends the empty "
            "tree; compare with a checkpoint of size 1 or more"
        )
    if first == second:
        # Same size: nothing to prove beyond equal roots, so the proof must be empty. No hash is
        # computed, so the roots are compared as given, whatever their length (as transparency-dev
        # does; vector "sizes are equal (one) and proof is empty").
        if proof:
            raise ProofError(
                f"both trees have size {first}, so the consistency proof must be empty, "
                f"but it has {len(proof)} hashes"
            )
        if first_root != second_root:
            raise ProofError(
                f"both trees have size {first} but their roots differ "
                f"({first_root.hex()} and {second_root.hex()}): the log has forked"
            )
        return
    _check_hash("first root hash", first_root)
    _check_hash("second root hash", second_root)
    _check_proof_hashes(proof)
    # Step 1: "If consistency_path is an empty array, stop and fail the proof verification."
    if not proof:
        raise ProofError(
            f"the consistency proof from size {first} to size {second} is empty; it needs hashes"
        )
    path = list(proof)
    # Step 2: "If first is an exact power of 2, then prepend first_hash to the consistency_path
    # array."
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    # Step 3: "Set fn to first - 1 and sn to second - 1."
    fn, sn = first - 1, second - 1
    # Step 4: "If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not
    # set."
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5: "Set both fr and sr to the first value in the consistency_path array."
    fr = sr = path[0]
    # Step 6: "For each subsequent value c in the consistency_path array:"
    for c in path[1:]:
        # 6a: "If sn is 0, then stop the iteration and fail the proof verification."
        if sn == 0:
            raise ProofError(
                f"the consistency proof has {len(proof)} hashes, more than "
                f"sizes {first} to {second} need"
            )
        # 6b: "If LSB(fn) is set, or if fn is equal to sn, then:"
        if fn & 1 or fn == sn:
            # 6b.i: "Set fr to HASH(0x01 || c || fr)."
            fr = node_hash(c, fr)
            # 6b.ii: "Set sr to HASH(0x01 || c || sr)."
            sr = node_hash(c, sr)
            # 6b.iii: "If LSB(fn) is not set, then right-shift both fn and sn equally until
            # either LSB(fn) is set or fn is 0."
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            # 6b, otherwise: "Set sr to HASH(0x01 || sr || c)."
            sr = node_hash(sr, c)
        # 6c: "Finally, right-shift both fn and sn one time."
        fn >>= 1
        sn >>= 1
    # Step 7: "verify that the fr calculated is equal to the first_hash supplied, that the sr
    # calculated is equal to the second_hash supplied, and that sn is 0."
    if sn != 0:
        raise ProofError(
            f"the consistency proof has {len(proof)} hashes, fewer than "
            f"sizes {first} to {second} need"
        )
    if fr != first_root:
        raise ProofError(
            f"the consistency proof leads to root {fr.hex()} for size {first}, "
            f"not to the expected {first_root.hex()}"
        )
    if sr != second_root:
        raise ProofError(
            f"the consistency proof leads to root {sr.hex()} for size {second}, "
            f"not to the expected {second_root.hex()}"
        )


# --- 3. Stored subtree nodes: appends and the frontier ------------------------------------------


def frontier_nodes(size: int) -> list[NodeId]:
    """The stored nodes that make up the frontier of a tree of `size`, largest first."""
    if size < 0:
        raise ProofRequestError(f"tree size {size} must not be negative")
    return _range_nodes(0, size)


def append(
    frontier: Sequence[bytes], size: int, new_leaf_hashes: Sequence[bytes]
) -> tuple[Frontier, list[StoredNode]]:
    """Append leaves to the tree of `size` whose frontier is `frontier`.

    Returns the new frontier and every node the new leaves complete, as `(level, index, hash)`,
    leaves (level 0) included, in the order they are completed. Storing each returned node is
    all a database needs to serve any later root or proof: each node is returned exactly once,
    by the append that completes it.
    """
    if size < 0:
        raise ProofRequestError(f"tree size {size} must not be negative")
    if len(frontier) != size.bit_count():
        raise ProofRequestError(
            f"a tree of size {size} has a frontier of {size.bit_count()} hashes, "
            f"not {len(frontier)}"
        )
    for i, h in enumerate(new_leaf_hashes):
        if len(h) != HASH_SIZE:
            raise ProofRequestError(
                f"new leaf hash {i} is {len(h)} bytes long; a SHA-256 hash is {HASH_SIZE} bytes"
            )
    # The frontier is a binary counter: adding a leaf at index s carries through every set low
    # bit of s, each carry completing one node one level up.
    stack = list(frontier)
    completed: list[StoredNode] = []
    s = size
    for h in new_leaf_hashes:
        node, level = h, 0
        completed.append((0, s, node))
        while s >> level & 1:
            node = node_hash(stack.pop(), node)
            level += 1
            completed.append((level, s >> level, node))
        stack.append(node)
        s += 1
    return stack, completed


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    """MTH of the tree whose frontier this is: the subtrees hashed right to left."""
    if not frontier:
        return EMPTY_ROOT
    r = frontier[-1]
    for h in reversed(frontier[:-1]):
        r = node_hash(h, r)
    return r


# --- 3. Stored subtree nodes: planning and assembling proofs -----------------------------------
#
# Each proof is first described as the list of ranges [a, b) whose MTH it holds, by the same
# recursion as the reference definitions; the plan is the nodes of those ranges, the proof their
# hashes. So the plan and the proof cannot disagree on what is fetched.

Range: TypeAlias = tuple[int, int]


def _range_nodes(start: int, end: int) -> list[NodeId]:
    """The complete subtrees of D[start:end], largest first.

    Only for ranges the RFC recursion produces: `start` is a multiple of a power of two at least
    `end - start`, so the pieces of each set bit of the length, largest first, are each aligned.
    """
    ids: list[NodeId] = []
    n = end - start
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            ids.append((level, start >> level))
            start += 1 << level
    return ids


def _fetch(nodes: Mapping[NodeId, bytes], node: NodeId) -> bytes:
    try:
        h = nodes[node]
    except KeyError:
        level, index = node
        raise MissingNodeError(
            level,
            index,
            f"tree node at level {level}, index {index} was not supplied; "
            "fetch every node the plan names",
        ) from None
    if len(h) != HASH_SIZE:
        level, index = node
        raise MissingNodeError(
            level,
            index,
            f"stored tree node at level {level}, index {index} is {len(h)} bytes long, "
            f"not {HASH_SIZE}; the node store is corrupt",
        )
    return h


def _range_hash(start: int, end: int, nodes: Mapping[NodeId, bytes]) -> bytes:
    """MTH(D[start:end]) from stored nodes: the complete subtrees hashed right to left."""
    hashes = [_fetch(nodes, node) for node in _range_nodes(start, end)]
    return root_from_frontier(hashes)


def _inclusion_ranges(m: int, start: int, end: int) -> list[Range]:
    """The ranges whose MTH make up PATH(m, D[start:end]), in proof order (§2.1.3.1)."""
    ranges: list[Range] = []
    # Walk down iteratively: each step appends the sibling of the side holding m; the RFC's
    # recursion lists them bottom-up, so reverse at the end.
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
    ranges.reverse()
    return ranges


def _consistency_ranges(m: int, start: int, end: int) -> list[Range]:
    """The ranges whose MTH make up SUBPROOF(m, D[start:end], true), in proof order (§2.1.4.1)."""
    ranges: list[Range] = []
    b = True
    while True:
        n = end - start
        if m == n:
            if not b:
                ranges.append((start, end))
            break
        k = _split(n)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            b = False
    ranges.reverse()
    return ranges


def _check_inclusion_request(index: int, size: int) -> None:
    if index < 0 or index >= size:
        raise ProofRequestError(
            f"leaf index {index} is not in a tree of size {size}; "
            + (f"indexes run from 0 to {size - 1}" if size > 0 else "the tree is empty")
        )


def _check_consistency_request(first: int, second: int) -> None:
    if first <= 0:
        raise ProofRequestError(
            f"a consistency proof from tree size {first} is meaningless; "
            "ask from a size of 1 or more"
        )
    if first > second:
        raise ProofRequestError(
            f"the first tree size {first} is larger than the second {second}; "
            "ask for the smaller size first"
        )


def _plan(ranges: Sequence[Range]) -> set[NodeId]:
    return {node for a, b in ranges for node in _range_nodes(a, b)}


def inclusion_plan(index: int, size: int) -> set[NodeId]:
    """The stored nodes `inclusion_proof(index, size, ...)` needs."""
    _check_inclusion_request(index, size)
    return _plan(_inclusion_ranges(index, 0, size))


def inclusion_proof(index: int, size: int, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """PATH(index, D[size]) (RFC 9162 §2.1.3.1) from the nodes `inclusion_plan` named."""
    _check_inclusion_request(index, size)
    return [_range_hash(a, b, nodes) for a, b in _inclusion_ranges(index, 0, size)]


def consistency_plan(first: int, second: int) -> set[NodeId]:
    """The stored nodes `consistency_proof(first, second, ...)` needs."""
    _check_consistency_request(first, second)
    if first == second:
        return set()
    return _plan(_consistency_ranges(first, 0, second))


def consistency_proof(first: int, second: int, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """PROOF(first, D[second]) (RFC 9162 §2.1.4.1) from the nodes `consistency_plan` named.

    Equal sizes give the empty proof; a first size of 0, or above the second, is refused.
    """
    _check_consistency_request(first, second)
    if first == second:
        return []
    return [_range_hash(a, b, nodes) for a, b in _consistency_ranges(first, 0, second)]


def root_plan(size: int) -> set[NodeId]:
    """The stored nodes `root_at(size, ...)` needs: the frontier of that size."""
    return set(frontier_nodes(size))


def root_at(size: int, nodes: Mapping[NodeId, bytes]) -> bytes:
    """MTH(D[size]) from the nodes `root_plan` named."""
    return root_from_frontier([_fetch(nodes, node) for node in frontier_nodes(size)])
