"""The fast arithmetic must return exactly what the Decimal formulas return in CONTEXT."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuation.arithmetic import CONTEXT, Factor, Power, div, mul_div, round_units

BETAS = ["0.5", "0.6", "0.25", "0.35", "0.75", "0.123", "1", "2", "0", "1.5", "0.04"]


def literal(x: Decimal, beta: str) -> Decimal:
    return CONTEXT.power(x, Decimal(beta))


@settings(max_examples=1000, deadline=None)
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


FACTORS = ["0.08", "0.2", "50", "5", "0.02", "0", "1", "0.333333333333333333", "12.5", "0.5"]
amounts = st.one_of(
    st.integers(0, 10**12), st.integers(0, 10**20), st.integers(0, 10**40), st.just(0)
)
positive = st.one_of(st.integers(1, 10**12), st.integers(1, 10**22), st.integers(1, 10**36))


def decimal_times_over(factor: str, a: int, b: int, c: int) -> int:
    product = CONTEXT.multiply(CONTEXT.multiply(Decimal(a), Decimal(factor)), Decimal(b))
    return round_units(CONTEXT.divide(product, Decimal(c)))


@settings(max_examples=1000, deadline=None)
@given(factor=st.sampled_from(FACTORS), a=amounts, b=amounts, c=positive)
def test_factor_times_over_equals_the_decimal_formula(factor: str, a: int, b: int, c: int) -> None:
    assert Factor(Decimal(factor)).times_over(a, b, c) == decimal_times_over(factor, a, b, c)


@settings(max_examples=1000, deadline=None)
@given(factor=st.sampled_from(FACTORS), a=amounts)
def test_factor_times_equals_the_decimal_formula(factor: str, a: int) -> None:
    expected = round_units(CONTEXT.multiply(Decimal(factor), Decimal(a)))
    assert Factor(Decimal(factor)).times(a) == expected


@settings(max_examples=1000, deadline=None)
@given(a=amounts, b=amounts, c=positive)
def test_mul_div_and_div_equal_the_decimal_formulas(a: int, b: int, c: int) -> None:
    product = CONTEXT.multiply(Decimal(a), Decimal(b))
    assert mul_div(a, b, c) == round_units(CONTEXT.divide(product, Decimal(c)))
    assert div(a, c) == round_units(CONTEXT.divide(Decimal(a), Decimal(c)))


@pytest.mark.parametrize(
    ("a", "b", "c"),
    [(1, 1, 2), (3, 1, 2), (5, 1, 2), (10**17 + 1, 1, 2), (1, 10**18, 1), (10**33, 10, 3)],
)
def test_ties_and_large_quotients_equal_the_decimal_formula(a: int, b: int, c: int) -> None:
    product = CONTEXT.multiply(Decimal(a), Decimal(b))
    assert mul_div(a, b, c) == round_units(CONTEXT.divide(product, Decimal(c)))
    for factor in FACTORS:
        assert Factor(Decimal(factor)).times_over(a, b, c) == decimal_times_over(factor, a, b, c)


@pytest.mark.parametrize("beta", ["0.5", "0.6", "0.25"])
def test_power_decides_ordinary_ratios_without_libmpdec(beta: str) -> None:
    power = Power(Decimal(beta))
    for numerator in range(1, 200, 7):
        x = CONTEXT.divide(Decimal(numerator * 12345678901), Decimal(200 * 12345678901 + 1))
        assert power._bracketed(x) == literal(x, beta)
