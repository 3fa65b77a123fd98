"""Figures that dashboards read off the state (VALUATION.md, "A contribution's figures").

Ratios are returned, like amounts, as integers of 10^-9. The feed score fades with age and so
is computed at read time only; it is never part of the state.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

_CTX = Context(prec=34, rounding=ROUND_HALF_EVEN)
_UNIT = Decimal(1_000_000_000)
_FEED_FLOOR = Decimal("0.1")
_FEED_SCALE = Decimal(27)
_FEED_DAYS = Decimal(30)


def _units(value: Decimal) -> int:
    return int(_CTX.multiply(value, _UNIT).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def ratio(part: int, whole: int) -> int:
    """`part / whole` in units of 10^-9 (0 when `whole` is 0)."""
    if whole == 0:
        return 0
    return _units(_CTX.divide(Decimal(part), Decimal(whole)))


def quality(downvoted: int, upvoted: int, total_reputation: int) -> int:
    """`(1 - W(c, 0) / R) * W(c, 1) / R`, 0 when R is 0."""
    if total_reputation == 0:
        return 0
    r = Decimal(total_reputation)
    kept = _CTX.subtract(Decimal(1), _CTX.divide(Decimal(downvoted), r))
    return _units(_CTX.multiply(kept, _CTX.divide(Decimal(upvoted), r)))


def feed_score(quality_units: int, days: int) -> int:
    """`quality * (0.1 + 27 / (30 + d))`, with `d` whole days since the contribution was logged."""
    fade = _CTX.add(_FEED_FLOOR, _CTX.divide(_FEED_SCALE, _CTX.add(_FEED_DAYS, Decimal(days))))
    q = _CTX.divide(Decimal(quality_units), _UNIT)
    return _units(_CTX.multiply(q, fade))
