"""Amounts at the edge (decimal strings) and the parameters (resolve_params, PRESETS)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from valuation import (
    PRESETS,
    UNIT,
    AmountError,
    ParamsError,
    ValuationError,
    format_amount,
    parse_amount,
    resolve_params,
)


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("0", 0),
        ("12.5", 12_500_000_000),
        ("-0.000000001", -1),
        ("1", UNIT),
        ("0.1", 100_000_000),
        ("999999999999999999.999999999", 10**27 - 1),
    ],
)
def test_amounts_are_read_and_written_as_shortest_decimals(text: str, units: int) -> None:
    assert parse_amount(text) == units
    assert format_amount(units) == text


@pytest.mark.parametrize(
    "bad",
    [12.5, 12, True, None, "1e3", "01", "1.", ".5", " 1", "1.0000000001", "+1", "", "1,5", "--1"],
)
def test_floats_and_garbage_are_not_amounts(bad: object) -> None:
    with pytest.raises(AmountError):
        parse_amount(bad)


def test_an_amount_error_is_a_valuation_error() -> None:
    assert issubclass(AmountError, ValuationError)
    assert issubclass(ParamsError, ValuationError)


@given(st.integers(-(10**27) + 1, 10**27 - 1))
def test_format_then_parse_gives_the_units_back(units: int) -> None:
    assert parse_amount(format_amount(units)) == units


def test_format_amount_strips_trailing_zeros() -> None:
    assert format_amount(1_500_000_000) == "1.5"
    assert format_amount(-20 * UNIT) == "-20"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_resolve_and_write_back_unchanged(name: str) -> None:
    params = resolve_params(PRESETS[name])
    assert params.to_json() == PRESETS[name]


def test_the_dmag_preset_has_dmag_figures() -> None:
    params = resolve_params(PRESETS["dmag"])
    assert params.initial_reputation == 0
    assert params.beta == Decimal("0.6")
    assert params.reward_tokens_to_evaluators
    article = params.contribution_types["article"]
    assert (article.fee, article.distribution_stake, article.reward_threshold) == (
        UNIT,
        Decimal("0.06"),
        Decimal("0.3"),
    )
    assert params.contribution_types["comment"].fee == UNIT // 5
    assert params.default_type == "article"


def test_the_example_preset_is_valuation_md_example_plus_a_comment_type() -> None:
    params = resolve_params(PRESETS["example"])
    assert (params.initial_reputation, params.initial_tokens) == (20 * UNIT, 50 * UNIT)
    assert not params.reward_tokens_to_evaluators and params.allow_self_evaluation
    assert list(params.contribution_types) == ["article", "comment"]
    assert params.contribution_types["article"].evaluation_values == (0, 1)


def broken(change: Any) -> dict[str, Any]:
    valuation = copy.deepcopy(PRESETS["example"])
    change(valuation)
    return valuation


@pytest.mark.parametrize(
    ("valuation", "message"),
    [
        (
            broken(lambda v: v.update(algorithm="backfeed/9")),
            "algorithm must be 'backfeed/1' or 'backfeed/2', not 'backfeed/9'",
        ),
        (broken(lambda v: v.update(extra=1)), "unknown field 'extra'"),
        (broken(lambda v: v["params"].pop("beta")), "lacks the field 'beta'"),
        (broken(lambda v: v["params"].update(beta=0.5)), "params.beta must be a decimal string"),
        (broken(lambda v: v["params"].update(beta="-1")), "params.beta must not be negative"),
        (broken(lambda v: v["params"].update(beta="1e1")), "params.beta must be a decimal"),
        (
            broken(lambda v: v["params"].update(referral_reward_fraction="1.5")),
            "referral_reward_fraction must be at most 1",
        ),
        (
            broken(lambda v: v["params"].update(allow_self_evaluation="yes")),
            "allow_self_evaluation must be true or false",
        ),
        (broken(lambda v: v["params"].update(initial_tokens="-1")), "must not be negative"),
        (broken(lambda v: v["params"].update(contribution_types={})), "at least one type"),
        (
            broken(lambda v: v["params"]["contribution_types"]["article"].update(stake="2")),
            "article.stake must be at most 1",
        ),
        (
            broken(lambda v: v["params"]["contribution_types"]["article"].update(fee="1.5e0")),
            "article.fee",
        ),
        (
            broken(lambda v: v["params"]["contribution_types"]["article"].pop("fee")),
            "article lacks the field 'fee'",
        ),
        (
            broken(
                lambda v: v["params"]["contribution_types"]["article"].update(evaluation_values=[])
            ),
            "non-empty list",
        ),
        (
            broken(
                lambda v: v["params"]["contribution_types"]["article"].update(
                    evaluation_values=[0, 1, 1]
                )
            ),
            "must not repeat",
        ),
        (
            broken(
                lambda v: v["params"]["contribution_types"]["article"].update(
                    evaluation_values=[False, True]
                )
            ),
            "not an integer",
        ),
        ("backfeed/1", "valuation must be a JSON object"),
    ],
)
def test_invalid_params_name_the_field_and_why(valuation: Any, message: str) -> None:
    with pytest.raises(ParamsError, match=message.replace(".", r"\.")):
        resolve_params(valuation)


def test_params_may_define_other_types_and_values() -> None:
    valuation = copy.deepcopy(PRESETS["example"])
    types = valuation["params"]["contribution_types"]
    types["review"] = {**types["article"], "evaluation_values": [-1, 0, 1, 2]}
    params = resolve_params(valuation)
    assert params.contribution_types["review"].evaluation_values == (-1, 0, 1, 2)
    assert params.to_json() == valuation
