"""The state map: the in-memory tree and its updates against SPEC's recursive definition;
proofs of present and absent keys verify, and forged ones fail."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuation.errors import StateProofError
from valuation.statemap import (
    EMPTY,
    StateMap,
    StateProof,
    leaf_hash,
    node_hash,
    path_of,
    proof_from_json,
    reference_root,
    value_hash,
    verify_proof,
)

keys = st.text(alphabet="abcdefgh/0123", min_size=1, max_size=6)
values = st.one_of(st.none(), st.dictionaries(st.sampled_from("xyz"), st.integers(0, 3)))
record_sets = st.dictionaries(keys, st.dictionaries(st.sampled_from("xyz"), st.integers(0, 3)))


def test_the_empty_map_is_empty_and_one_record_is_its_leaf() -> None:
    assert StateMap().root == EMPTY == reference_root({})
    value = {"name": "Ann"}
    expected = hashlib.sha256(
        b"\x02" + path_of("member/a") + hashlib.sha256(b'{"name":"Ann"}').digest()
    ).digest()
    assert (
        StateMap.of([("member/a", value)]).root == expected == reference_root({"member/a": value})
    )


def test_two_records_hash_as_one_node_at_the_bit_where_their_paths_part() -> None:
    a, b = "network", "member/a"
    pa, pb = path_of(a), path_of(b)
    first = next(
        i for i in range(256) if (pa[i // 8] >> (7 - i % 8)) & 1 != (pb[i // 8] >> (7 - i % 8)) & 1
    )
    ha, hb = leaf_hash(pa, value_hash({})), leaf_hash(pb, value_hash({}))
    top = node_hash(ha, hb) if (pa[first // 8] >> (7 - first % 8)) & 1 == 0 else node_hash(hb, ha)
    for depth in range(first - 1, -1, -1):
        bit = (pa[depth // 8] >> (7 - depth % 8)) & 1
        top = node_hash(EMPTY, top) if bit else node_hash(top, EMPTY)
    assert StateMap.of([(a, {}), (b, {})]).root == top == reference_root({a: {}, b: {}})


@settings(max_examples=200, deadline=None)
@given(record_sets)
def test_a_map_built_from_nothing_has_the_reference_root(
    records: dict[str, dict[str, int]],
) -> None:
    assert StateMap.of(records.items()).root == reference_root(records)


@settings(max_examples=200, deadline=None)
@given(record_sets, st.lists(st.lists(st.tuples(keys, values), max_size=8), max_size=6))
def test_updates_give_the_root_of_the_records_they_leave(
    start: dict[str, dict[str, int]], rounds: list[list[tuple[str, dict[str, int] | None]]]
) -> None:
    state = StateMap.of(start.items())
    records = dict(start)
    roots = {0: state.root}
    state.snapshot(0)
    for number, changes in enumerate(rounds, start=1):
        state.update(changes)
        for key, value in changes:
            if value is None:
                records.pop(key, None)
            else:
                records[key] = value
        assert state.root == reference_root(records)
        state.snapshot(number)
        roots[number] = state.root
    # Every kept version is still whole: updates shared its nodes, never changed them.
    for number, root in roots.items():
        assert state.root_at(number) == root


@settings(max_examples=200, deadline=None)
@given(record_sets, keys)
def test_proofs_of_present_and_absent_keys_verify(
    records: dict[str, dict[str, int]], key: str
) -> None:
    state = StateMap.of(records.items())
    for k in [*records, key]:
        proof = state.prove(k)
        assert proof.value == records.get(k)
        verify_proof(proof, state.root)
        again = proof_from_json(proof.to_json())
        verify_proof(again, reference_root(records))
        assert again == proof


def test_forged_proofs_fail() -> None:
    records = {f"member/{i}": {"reputation": str(i)} for i in range(50)}
    state = StateMap.of(records.items())
    root = state.root
    proof = state.prove("member/7")
    forged_value = StateProof(
        proof.tree_size, proof.key, {"reputation": "70"}, proof.siblings, None
    )
    with pytest.raises(StateProofError, match="folds to"):
        verify_proof(forged_value, root)
    # Claiming a present key is absent, with an EMPTY terminal or with another record.
    with pytest.raises(StateProofError):
        verify_proof(StateProof(0, "member/7", None, proof.siblings, None), root)
    absent = state.prove("member/x")
    with pytest.raises(StateProofError):
        verify_proof(StateProof(0, "member/x", {"reputation": "1"}, absent.siblings, None), root)
    if absent.other is not None:
        bad_other = (absent.other[0], bytes(32))
        with pytest.raises(StateProofError):
            verify_proof(StateProof(0, "member/x", None, absent.siblings, bad_other), root)
    flipped = (bytes([proof.siblings[0][0] ^ 1]) + proof.siblings[0][1:], *proof.siblings[1:])
    with pytest.raises(StateProofError):
        verify_proof(StateProof(0, proof.key, proof.value, flipped, None), root)
    with pytest.raises(StateProofError, match="other record"):
        verify_proof(StateProof(0, "member/7", None, (), ("member/7", bytes(32))), root)
    with pytest.raises(StateProofError, match="not a state proof"):
        proof_from_json({"tree_size": 1, "key": "k"})


def test_a_kept_version_proves_the_values_it_had() -> None:
    state = StateMap.of([("network", {"a": 1})])
    state.snapshot(1)
    state.update([("network", {"a": 2}), ("member/b", {"b": 1})])
    assert state.prove("network", 1).value == {"a": 1}
    assert state.prove("member/b", 1).value is None
    verify_proof(state.prove("member/b", 1), state.root_at(1) or b"")
    assert state.prove("network").value == {"a": 2}
