"""The errors of the valuation package: one small hierarchy, each message a sentence for a human."""

from __future__ import annotations

__all__ = ["AmountError", "ParamsError", "RuleViolation", "StateProofError", "ValuationError"]


class ValuationError(Exception):
    """Anything the valuation package refuses."""


class AmountError(ValuationError):
    """A text that is not a valid amount (a decimal string with at most 9 decimals)."""


class ParamsError(ValuationError):
    """Valuation parameters that do not describe a valid `backfeed/1` network."""


class RuleViolation(ValuationError):
    """An entry that breaks a rule of the algorithm; applying it was refused and changed nothing."""


class StateProofError(ValuationError):
    """A state-map proof that does not hold against the root it is checked against."""
