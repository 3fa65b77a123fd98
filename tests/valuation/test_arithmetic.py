"""`arithmetic.Power` must return exactly what `Decimal.__pow__` returns in our context."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuation.arithmetic import CONTEXT, Power, round_units

BETAS = ["0.5", "0.6", "0.25", "0.35", "0.75", "0.123", "1", "2", "0", "1.5", "0.04"]


def literal(x: Decimal, beta: str) -> Decimal:
    return CONTEXT.power(x, Decimal(beta))


@settings(max_examples=2000, deadline=None)
@given(
    beta=st.sampled_from(BETAS),
    numerator=st.integers(1, 10**30),
    denominator=st.integers(1, 10**30),
)
def test_power_of_a_ratio_equals_decimal_pow(beta: str, numerator: int, denominator: int) -> None:
    numerator, denominator = sorted((numerator, denominator))
    x = CONTEXT.divide(Decimal(numerator), Decimal(denominator))
    assert Power(Decimal(beta))(x) == literal(x, beta)


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize(
    "x", ["1", "0.25", "0.5", "0.0001", "1E-30", "1E-39", "1E-45", "0.9999999999999999999999999"]
)
def test_power_of_exact_and_extreme_ratios_equals_decimal_pow(beta: str, x: str) -> None:
    assert Power(Decimal(beta))(Decimal(x)) == literal(Decimal(x), beta)


def test_round_units_rounds_half_to_even() -> None:
    assert [round_units(Decimal(t)) for t in ("0.5", "1.5", "2.5", "-0.5", "2.4999")] == [
        0,
        2,
        2,
        0,
        2,
    ]
