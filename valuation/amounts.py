"""Amounts: integers of 10^-9 point inside, decimal strings at the edge.

Reputation, tokens, and every ratio the state reports (scores, shares, quality) are held as `int`
units of 10^-9. Strings such as "12.5" are the only outside form; floats are refused outright.
"""

from __future__ import annotations

import re

from valuation.errors import AmountError

__all__ = ["UNIT", "format_amount", "parse_amount"]

UNIT = 10**9
"""Units in one point: amounts are stored as integers of 10^-9."""

_DECIMALS = 9
# At most 18 integer digits: far beyond any real figure, and every product of two amounts still
# fits the 34 significant digits the formulas are evaluated with.
_AMOUNT = re.compile(r"(-?)(0|[1-9][0-9]{0,17})(?:\.([0-9]{1,9}))?")


def parse_amount(text: object) -> int:
    """Read a decimal string ("12.5", "-0.000000001") as units of 10^-9; refuse anything else."""
    if not isinstance(text, str):
        raise AmountError(
            f'an amount must be a decimal string such as "12.5", not a {type(text).__name__}'
        )
    match = _AMOUNT.fullmatch(text)
    if match is None:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise AmountError(
            f'{shown!r} is not an amount: write a decimal such as "12.5" with at most '
            f"{_DECIMALS} decimals, no exponent and no leading zeros"
        )
    sign, whole, fraction = match.groups()
    units = int(whole) * UNIT + (int(fraction.ljust(_DECIMALS, "0")) if fraction else 0)
    return -units if sign else units


def format_amount(units: int) -> str:
    """Write units of 10^-9 as the shortest decimal string: 0 -> "0", 12_500_000_000 -> "12.5"."""
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), UNIT)
    if fraction == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:09d}".rstrip("0")
