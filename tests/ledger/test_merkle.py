"""ledger.merkle against the transparency-dev vectors, the RFC 6962 reference leaves, and the
recursive RFC 9162 definitions (stored-node proofs must equal them)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.errors import MissingNodeError, ProofError, ProofRequestError
from ledger.merkle import NodeId

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "transparency-dev-merkle.json").read_text("utf-8")
)


def b64(s: str) -> bytes:
    return base64.b64decode(s)


def proof_of(case: dict[str, Any]) -> list[bytes]:
    return [b64(p) for p in case["proof"] or []]


# --- transparency-dev vectors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", VECTORS["inclusion"], ids=[c["file"] for c in VECTORS["inclusion"]]
)
def test_inclusion_vector(case: dict[str, Any]) -> None:
    def verify() -> None:
        merkle.verify_inclusion(
            b64(case["leafHash"]),
            case["leafIdx"],
            case["treeSize"],
            proof_of(case),
            b64(case["root"]),
        )

    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify()
    else:
        verify()


@pytest.mark.parametrize(
    "case", VECTORS["consistency"], ids=[c["file"] for c in VECTORS["consistency"]]
)
def test_consistency_vector(case: dict[str, Any]) -> None:
    def verify() -> None:
        merkle.verify_consistency(
            case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]), proof_of(case)
        )

    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify()
    else:
        verify()


def test_vector_file_has_all_196_cases() -> None:
    assert len(VECTORS["inclusion"]) + len(VECTORS["consistency"]) == 196


# --- the RFC 6962 reference leaves -------------------------------------------------------------

REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
REFERENCE_LEAF_HASHES = [merkle.leaf_hash(leaf) for leaf in REFERENCE_LEAVES]
# Roots of the first n reference leaves (RFC 6962 test data, as in transparency-dev/merkle).
REFERENCE_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
# Known proofs over the reference leaves (RFC 6962 test data; the happy paths of the vectors).
REFERENCE_INCLUSION_PROOFS = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (0, 1): [],
}
REFERENCE_CONSISTENCY_PROOFS = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (6, 7): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}


def build_store(
    leaf_hashes: list[bytes], batches: list[int] | None = None
) -> tuple[dict[NodeId, bytes], merkle.Frontier]:
    """Append `leaf_hashes` in the given batch sizes into a dict store, as a database would."""
    store: dict[NodeId, bytes] = {}
    frontier: merkle.Frontier = []
    size = 0
    for n in batches if batches is not None else [len(leaf_hashes)]:
        frontier, completed = merkle.append(frontier, size, leaf_hashes[size : size + n])
        for level, index, h in completed:
            assert (level, index) not in store, "a node was completed twice"
            store[(level, index)] = h
        size += n
        assert merkle.root_from_frontier(frontier) == merkle.root(leaf_hashes[:size])
    assert size == len(leaf_hashes)
    return store, frontier


def fetch(store: dict[NodeId, bytes], ids: set[NodeId]) -> dict[NodeId, bytes]:
    """Only the planned rows, so a proof that needs an unplanned node fails loudly."""
    return {node: store[node] for node in ids}


def test_empty_root_is_the_hash_of_the_empty_string() -> None:
    assert merkle.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.root([]) == merkle.EMPTY_ROOT
    assert merkle.root_from_frontier([]) == merkle.EMPTY_ROOT
    assert merkle.root_at(0, {}) == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_leaves_have_known_roots(size: int) -> None:
    want = bytes.fromhex(REFERENCE_ROOTS[size])
    assert merkle.root(REFERENCE_LEAF_HASHES[:size]) == want
    store, frontier = build_store(REFERENCE_LEAF_HASHES[:size], [1] * size)
    assert merkle.root_from_frontier(frontier) == want
    assert merkle.root_at(size, fetch(store, merkle.root_plan(size))) == want


@pytest.mark.parametrize(("index", "size"), sorted(REFERENCE_INCLUSION_PROOFS))
def test_reference_leaves_have_known_inclusion_proofs(index: int, size: int) -> None:
    want = [bytes.fromhex(h) for h in REFERENCE_INCLUSION_PROOFS[(index, size)]]
    hashes = REFERENCE_LEAF_HASHES[:size]
    assert merkle.inclusion_proof_ref(index, hashes) == want
    store, _ = build_store(REFERENCE_LEAF_HASHES)
    assert merkle.inclusion_proof(
        index, size, fetch(store, merkle.inclusion_plan(index, size))
    ) == (want)
    merkle.verify_inclusion(hashes[index], index, size, want, merkle.root(hashes))


@pytest.mark.parametrize(("first", "second"), sorted(REFERENCE_CONSISTENCY_PROOFS))
def test_reference_leaves_have_known_consistency_proofs(first: int, second: int) -> None:
    want = [bytes.fromhex(h) for h in REFERENCE_CONSISTENCY_PROOFS[(first, second)]]
    hashes = REFERENCE_LEAF_HASHES[:second]
    assert merkle.consistency_proof_ref(first, hashes) == want
    store, _ = build_store(REFERENCE_LEAF_HASHES)
    plan = merkle.consistency_plan(first, second)
    assert merkle.consistency_proof(first, second, fetch(store, plan)) == want
    merkle.verify_consistency(first, second, merkle.root(hashes[:first]), merkle.root(hashes), want)


def test_known_proofs_are_the_happy_paths_of_the_vectors() -> None:
    # Ties the hex above to the vector file, so neither can drift alone.
    happy_inclusion = {
        (c["leafIdx"], c["treeSize"]): [b64(p).hex() for p in c["proof"] or []]
        for c in VECTORS["inclusion"]
        if c["desc"] == "happy path"
    }
    happy_consistency = {
        (c["size1"], c["size2"]): [b64(p).hex() for p in c["proof"] or []]
        for c in VECTORS["consistency"]
        if c["desc"] == "happy path"
    }
    assert happy_inclusion == REFERENCE_INCLUSION_PROOFS
    assert happy_consistency == REFERENCE_CONSISTENCY_PROOFS


# --- stored nodes against the recursive definitions --------------------------------------------


def leaf_hashes_of(n: int, salt: int = 0) -> list[bytes]:
    return [merkle.leaf_hash(salt.to_bytes(4, "big") + i.to_bytes(8, "big")) for i in range(n)]


def test_append_stores_every_complete_subtree_exactly_once() -> None:
    n = 77
    store, frontier = build_store(leaf_hashes_of(n), [1, 2, 3, 5, 8, 13, 21, 24])
    want = {(lv, i) for lv in range(8) for i in range(n >> lv)}
    assert set(store) == want
    assert set(merkle.frontier_nodes(n)) == {(6, 0), (3, 8), (2, 18), (0, 76)}
    assert frontier == [store[node] for node in merkle.frontier_nodes(n)]


def test_stored_proofs_equal_reference_proofs_for_every_small_tree() -> None:
    hashes = leaf_hashes_of(64)
    store, _ = build_store(hashes, [1] * 64)
    for size in range(1, 65):
        tree = hashes[:size]
        tree_root = merkle.root(tree)
        assert merkle.root_at(size, fetch(store, merkle.root_plan(size))) == tree_root
        for index in range(size):
            proof = merkle.inclusion_proof(
                index, size, fetch(store, merkle.inclusion_plan(index, size))
            )
            assert proof == merkle.inclusion_proof_ref(index, tree)
            merkle.verify_inclusion(tree[index], index, size, proof, tree_root)
        for first in range(1, size + 1):
            plan = merkle.consistency_plan(first, size)
            proof = merkle.consistency_proof(first, size, fetch(store, plan))
            assert proof == merkle.consistency_proof_ref(first, tree)
            merkle.verify_consistency(first, size, merkle.root(tree[:first]), tree_root, proof)


@st.composite
def trees(draw: st.DrawFn) -> tuple[list[bytes], list[int]]:
    """Leaf hashes of a tree of up to a few thousand leaves, and batch sizes that build it."""
    n = draw(st.integers(min_value=1, max_value=3000))
    batches: list[int] = []
    left = n
    while left:
        b = draw(st.integers(min_value=1, max_value=min(left, 700)))
        batches.append(b)
        left -= b
    return leaf_hashes_of(n, salt=draw(st.integers(0, 2**32 - 1))), batches


@settings(max_examples=40, deadline=None)
@given(tree=trees(), data=st.data())
def test_stored_node_proofs_equal_the_recursive_definitions(
    tree: tuple[list[bytes], list[int]], data: st.DataObject
) -> None:
    hashes, batches = tree
    store, _ = build_store(hashes, batches)
    n = len(hashes)
    size = data.draw(st.integers(1, n), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    first = data.draw(st.integers(1, size), label="first")
    tree_root = merkle.root(hashes[:size])

    assert merkle.root_at(size, fetch(store, merkle.root_plan(size))) == tree_root

    plan = merkle.inclusion_plan(index, size)
    assert len(plan) <= size.bit_length() ** 2
    proof = merkle.inclusion_proof(index, size, fetch(store, plan))
    assert proof == merkle.inclusion_proof_ref(index, hashes[:size])
    assert len(proof) <= size.bit_length()
    merkle.verify_inclusion(hashes[index], index, size, proof, tree_root)

    plan = merkle.consistency_plan(first, size)
    assert len(plan) <= size.bit_length() ** 2
    cproof = merkle.consistency_proof(first, size, fetch(store, plan))
    assert cproof == merkle.consistency_proof_ref(first, hashes[:size])
    assert len(cproof) <= size.bit_length() + 1
    merkle.verify_consistency(first, size, merkle.root(hashes[:first]), tree_root, cproof)


def flip_bit(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8 % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(2, 2000),
    data=st.data(),
)
def test_tampered_inclusion_proofs_are_refused(n: int, data: st.DataObject) -> None:
    hashes = leaf_hashes_of(n)
    index = data.draw(st.integers(0, n - 1), label="index")
    proof = merkle.inclusion_proof_ref(index, hashes)
    tree_root = merkle.root(hashes)
    merkle.verify_inclusion(hashes[index], index, n, proof, tree_root)

    i = data.draw(st.integers(0, len(proof) - 1), label="position")
    bit = data.draw(st.integers(0, 255), label="bit")
    bad = [*proof[:i], flip_bit(proof[i], bit), *proof[i + 1 :]]
    with pytest.raises(ProofError):
        merkle.verify_inclusion(hashes[index], index, n, bad, tree_root)

    other = data.draw(st.integers(0, n - 1).filter(lambda j: j != index), label="other index")
    with pytest.raises(ProofError):
        merkle.verify_inclusion(hashes[index], other, n, proof, tree_root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(hashes[index], index, n, proof[:-1], tree_root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(hashes[index], index, n, [*proof, proof[-1]], tree_root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(flip_bit(hashes[index], bit), index, n, proof, tree_root)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(2, 2000), data=st.data())
def test_tampered_consistency_proofs_are_refused(n: int, data: st.DataObject) -> None:
    hashes = leaf_hashes_of(n)
    first = data.draw(st.integers(1, n - 1), label="first")
    proof = merkle.consistency_proof_ref(first, hashes)
    first_root, second_root = merkle.root(hashes[:first]), merkle.root(hashes)
    merkle.verify_consistency(first, n, first_root, second_root, proof)

    i = data.draw(st.integers(0, len(proof) - 1), label="position")
    bit = data.draw(st.integers(0, 255), label="bit")
    bad = [*proof[:i], flip_bit(proof[i], bit), *proof[i + 1 :]]
    with pytest.raises(ProofError):
        merkle.verify_consistency(first, n, first_root, second_root, bad)
    with pytest.raises(ProofError):
        merkle.verify_consistency(first, n, flip_bit(first_root, bit), second_root, proof)
    with pytest.raises(ProofError):
        merkle.verify_consistency(first, n, first_root, flip_bit(second_root, bit), proof)
    with pytest.raises(ProofError):
        merkle.verify_consistency(first, n, first_root, second_root, proof[:-1])
    with pytest.raises(ProofError):
        merkle.verify_consistency(first, n, first_root, second_root, [*proof, proof[-1]])
    with pytest.raises(ProofError):
        merkle.verify_consistency(first, n, second_root, first_root, proof)


# --- argument errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (6, 5), (-1, 5)])
def test_inclusion_request_outside_the_tree_is_refused(index: int, size: int) -> None:
    with pytest.raises(ProofRequestError, match="not in a tree of size"):
        merkle.inclusion_plan(index, size)
    with pytest.raises(ProofRequestError):
        merkle.inclusion_proof(index, size, {})


@pytest.mark.parametrize(("first", "second"), [(0, 5), (0, 0), (6, 5), (-1, 3)])
def test_impossible_consistency_request_is_refused(first: int, second: int) -> None:
    with pytest.raises(ProofRequestError):
        merkle.consistency_plan(first, second)
    with pytest.raises(ProofRequestError):
        merkle.consistency_proof(first, second, {})


def test_consistency_between_equal_sizes_is_the_empty_proof() -> None:
    assert merkle.consistency_plan(5, 5) == set()
    assert merkle.consistency_proof(5, 5, {}) == []


def test_missing_stored_node_is_named() -> None:
    store, _ = build_store(leaf_hashes_of(10))
    plan = merkle.inclusion_plan(3, 10)
    assert plan == {(0, 2), (1, 0), (2, 1), (1, 4)}
    partial = fetch(store, plan)
    del partial[(2, 1)]
    with pytest.raises(MissingNodeError, match="level 2, index 1 was not supplied"):
        merkle.inclusion_proof(3, 10, partial)


def test_append_refuses_a_frontier_of_the_wrong_size() -> None:
    with pytest.raises(ProofRequestError, match="frontier of 2 hashes"):
        merkle.append([merkle.EMPTY_ROOT], 3, [merkle.EMPTY_ROOT])
    with pytest.raises(ProofRequestError, match="31 bytes"):
        merkle.append([], 0, [b"\x00" * 31])


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
