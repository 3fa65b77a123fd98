"""The feed score, which ranks contributions for a reader (VALUATION.md, "A contribution's
figures"): it fades with age, so it is computed at read time only, never part of the state.
The state's own ratios (`ratio`, `quality`, `weights_of`) live in `valuation.figures`.
"""

from __future__ import annotations

from decimal import Decimal

from valuation.arithmetic import CONTEXT, round_units

__all__ = ["feed_score"]

_FEED_FLOOR = Decimal("0.1")
_FEED_SCALE = Decimal(27)
_FEED_DAYS = Decimal(30)


def feed_score(quality_units: int, days: int) -> int:
    """`quality * (0.1 + 27 / (30 + d))` in units, `d` the whole days since the contribution was
    logged (a reading clock behind the log's counts as day 0)."""
    fade = CONTEXT.add(
        _FEED_FLOOR, CONTEXT.divide(_FEED_SCALE, CONTEXT.add(_FEED_DAYS, Decimal(max(days, 0))))
    )
    return round_units(CONTEXT.multiply(Decimal(quality_units), fade))
