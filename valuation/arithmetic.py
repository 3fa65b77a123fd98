"""The arithmetic every formula shares: one decimal context, rounding to units, fast powers.

VALUATION.md fixes it: each formula is evaluated with `decimal` at 34 significant digits,
ROUND_HALF_EVEN, from the stored integers; each amount written back is rounded half-even to a
whole unit; powers use `Decimal.__pow__`. The context here is our own object, never the
thread's current one, so no caller's `decimal` settings can change a figure.

`Power(beta)(x)` returns exactly what `CONTEXT.power(x, beta)` returns, faster.
For a non-integral exponent libmpdec (`_mpd_qpow_real` in mpdecimal.c) computes
y = ln(x) * beta and exp(y) each correctly rounded to 34 + 23 = 57 digits, then rounds that
half-even to 34 digits. Its relative error before the last rounding is therefore below
(2|y| + 1) * 5e-57, and |y| < 10^4 for every x our formulas pass (x >= 10^-40, beta < 1): below
10^-52. So whenever the exact x ** beta lies more than 10^-44 (relative) from a 34-digit rounding
boundary, libmpdec's answer is the exact value correctly rounded. For beta = a / b with small a
and b we bracket the exact value with integer roots to 48 digits; if both ends of the bracket,
widened by 10^-44, round to the same 34-digit number, that number is the answer. Otherwise
(about one case in 10^9, or for an awkward beta or x) we call `CONTEXT.power` itself.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from fractions import Fraction
from math import isqrt

__all__ = ["CONTEXT", "Factor", "Power", "div", "mul_div", "round_units"]

CONTEXT = Context(
    prec=34, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)

_PREC = CONTEXT.prec
_GUARD = 14  # digits computed beyond the 34 kept: the bracket is then 10^-48 relative wide
_SLACK_DIGITS = 44
_MAX_ROOT = 24  # beta = a / b is computed by integer roots only for a, b up to this


_SMALLEST = Decimal("1E-40")


def round_units(value: Decimal) -> int:
    """Round a formula's result half-even to a whole unit."""
    return int(CONTEXT.to_integral_value(value))


class Power:
    """x ** beta for one fixed beta, as CONTEXT.power computes it (see the module docstring)."""

    __slots__ = ("_a", "_b", "_beta", "_fast")

    def __init__(self, beta: Decimal) -> None:
        self._beta = beta
        ratio = Fraction(beta)
        self._a = ratio.numerator
        self._b = ratio.denominator
        # Integral exponents and exponents above 1 are rare enough to leave to libmpdec.
        self._fast = 0 < self._a < self._b <= _MAX_ROOT

    def __call__(self, x: Decimal) -> Decimal:
        if self._fast and _SMALLEST <= x <= 1:
            found = self._bracketed(x)
            if found is not None:
                return found
        return CONTEXT.power(x, self._beta)

    def _bracketed(self, x: Decimal) -> Decimal | None:
        a, b = self._a, self._b
        # x = coefficient * 10^(adjusted - 33), the coefficient an integer of at most 34 digits.
        adjusted = x.adjusted()
        coefficient = int(CONTEXT.scaleb(x, _PREC - 1 - adjusted))
        # With 48 - adjusted places, x ** (a / b) * 10^places >= 10^48 (x <= 1, a < b).
        places = _PREC + _GUARD - adjusted
        shift = b * places - a * (_PREC - 1 - adjusted)
        scaled = coefficient**a * 10**shift  # = x ** a * 10^(b * places)
        root = isqrt(scaled) if b == 2 else _iroot(scaled, b)
        # The exact power lies in [root, root + 1) * 10^-places.
        if root < 10 ** (_PREC + _GUARD - 1):
            return None
        slack = root // 10**_SLACK_DIGITS + 2  # 10^-44 relative: see the module docstring
        low = CONTEXT.scaleb(Decimal(root - slack), -places)
        high = CONTEXT.scaleb(Decimal(root + 1 + slack), -places)
        return low if low == high else None


def _iroot(value: int, degree: int) -> int:
    """floor(value ** (1 / degree)) for value >= 0, in integers (Newton's method from above)."""
    if value < 2:
        return value
    bits = value.bit_length()
    # Start from the root of the leading 64 bits, scaled: close, and never below the root.
    shift = max(0, (bits - 64) // degree * degree)
    top = value >> shift
    guess = 1 << (-(-top.bit_length() // degree))
    while True:
        better = ((degree - 1) * guess + top // guess ** (degree - 1)) // degree
        if better >= guess:
            break
        guess = better
    guess = (guess + 1) << (shift // degree)
    while True:
        better = ((degree - 1) * guess + value // guess ** (degree - 1)) // degree
        if better >= guess:
            return guess
        guess = better


# -- Products and quotients in integers ----------------------------------------------------------
#
# The formulas (a * factor) * b / c and a * b / c are evaluated in CONTEXT and rounded half-even
# to a unit. When the products have fewer than 34 digits, CONTEXT computes them exactly, and its
# division rounds the exact quotient q to 34 digits. If q < 10^18, that rounding moves q by less
# than 10^-16, which cannot change q's half-even rounding to an integer unless q's fraction lies
# within 10^-16 of one half (an exact half is representable, so it stays a tie). Outside those
# cases integers give the same unit, several times faster; inside them we run the Decimal
# formula itself.

_EXACT = 10**_PREC  # a product below this is exact in CONTEXT
_QUOTIENT = 10**18  # quotients below this are decided in integers
_MARGIN = 10**16


def _half_even(numerator: int, denominator: int) -> int | None:
    """numerator / denominator rounded half-even, when CONTEXT's division would round the same;
    else None. Both are non-negative, the denominator positive."""
    whole, rest = divmod(numerator, denominator)
    if whole >= _QUOTIENT:
        return None
    twice = 2 * rest
    if twice == denominator:
        return whole + (whole & 1)
    if abs(twice - denominator) * _MARGIN <= 2 * denominator:
        return None
    return whole + 1 if twice > denominator else whole


def mul_div(a: int, b: int, c: int) -> int:
    """round_units(a * b / c) as CONTEXT computes it; a, b >= 0, c > 0."""
    product = a * b
    if product < _EXACT:
        found = _half_even(product, c)
        if found is not None:
            return found
    return round_units(CONTEXT.divide(CONTEXT.multiply(Decimal(a), Decimal(b)), Decimal(c)))


def div(a: int, c: int) -> int:
    """round_units(a / c) as CONTEXT computes it; a >= 0, c > 0."""
    found = _half_even(a, c)
    if found is not None:
        return found
    return round_units(CONTEXT.divide(Decimal(a), Decimal(c)))


class Factor:
    """A non-negative decimal parameter, applied to amounts as CONTEXT would apply it."""

    __slots__ = ("_coefficient", "_denominator", "_multiplier", "value")

    def __init__(self, value: Decimal) -> None:
        if value < 0 or not value.is_finite():
            raise ValueError("a factor is a finite non-negative decimal")
        self.value = value
        _, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        self._coefficient = int("".join(map(str, digits)))
        # value = coefficient * multiplier / denominator, one of them 1.
        self._multiplier = 10 ** max(exponent, 0)
        self._denominator = 10 ** max(-exponent, 0)

    def times(self, a: int) -> int:
        """round_units(factor * a) as CONTEXT computes it; a >= 0."""
        product = a * self._coefficient
        if product < _EXACT:
            found = _half_even(product * self._multiplier, self._denominator)
            if found is not None:
                return found
        return round_units(CONTEXT.multiply(self.value, Decimal(a)))

    def times_over(self, a: int, b: int, c: int) -> int:
        """round_units(a * factor * b / c) as CONTEXT computes it, left to right; a, b >= 0,
        c > 0."""
        product = a * self._coefficient * b
        if product < _EXACT:
            found = _half_even(product * self._multiplier, c * self._denominator)
            if found is not None:
                return found
        return round_units(
            CONTEXT.divide(
                CONTEXT.multiply(CONTEXT.multiply(Decimal(a), self.value), Decimal(b)),
                Decimal(c),
            )
        )
