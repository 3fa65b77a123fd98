"""Canonical JSON, written once (`valuation.jcs`): the fast path is exactly RFC 8785."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from valuation import jcs

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_canonical_is_rfc8785_for_any_json(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(jcs.CanonicalError):  # lone surrogates, huge integers: neither writes
            jcs.canonical(value)
        return
    assert jcs.canonical(value) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
        lambda children: (
            st.lists(children)
            | st.dictionaries(st.text(alphabet=st.characters(max_codepoint=127)), children)
        ),
        max_leaves=20,
    )
)
def test_canonical_chunks_join_into_the_canonical_bytes(value: Any) -> None:
    try:
        expected = jcs.canonical(value)
    except jcs.CanonicalError:
        return  # lone surrogates
    assert b"".join(jcs.canonical_chunks(value)) == expected


def test_floats_are_written_as_jcs_writes_them() -> None:
    assert jcs.canonical({"a": 1.0}) == b'{"a":1}'
    assert jcs.canonical([1e21, 0.5, -0.0]) == b"[1e+21,0.5,0]"
    assert jcs.canonical({"b": 2**53 - 1}) == b'{"b":9007199254740991}'
    with pytest.raises(jcs.CanonicalError):  # not exact as a JSON number (I-JSON)
        jcs.canonical({"b": 2**53})


def test_keys_sort_by_utf16_units_not_code_points() -> None:
    value = {"\ue000": 1, "\U0001f600": 2}
    assert jcs.canonical(value) == rfc8785.dumps(value)
    assert jcs.canonical(value).index("\U0001f600".encode()) < jcs.canonical(value).index(
        "\ue000".encode()
    )


def test_a_value_that_is_not_json_has_no_canonical_form() -> None:
    with pytest.raises(jcs.CanonicalError):
        jcs.canonical({1: "a key that is not a string"})
    with pytest.raises(jcs.CanonicalError):
        jcs.canonical(float("nan"))
