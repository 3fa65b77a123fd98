"""Valuation: pure functions from log entries to figures (`backfeed/1`, VALUATION.md).

Knows no database, no web and no ledger; imports only the standard library and `rfc8785`.
"""

from valuation.amounts import UNIT, format_amount, parse_amount
from valuation.backfeed import (
    PRESETS,
    apply,
    contribution_figures,
    digest,
    new_state,
    replay,
    resolve_params,
    state_json,
    state_json_bytes,
)
from valuation.errors import AmountError, ParamsError, RuleViolation, ValuationError
from valuation.figures import ContributionFigures, canonical_json, state_json_lazy
from valuation.model import (
    Changes,
    ContributionView,
    Event,
    MemberView,
    Posting,
    State,
)
from valuation.params import ALGORITHM, ContributionType, Params
from valuation.records import iter_records, record_value

__all__ = [
    "ALGORITHM",
    "PRESETS",
    "UNIT",
    "AmountError",
    "Changes",
    "ContributionFigures",
    "ContributionType",
    "ContributionView",
    "Event",
    "MemberView",
    "Params",
    "ParamsError",
    "Posting",
    "RuleViolation",
    "State",
    "ValuationError",
    "apply",
    "canonical_json",
    "contribution_figures",
    "digest",
    "format_amount",
    "iter_records",
    "new_state",
    "parse_amount",
    "record_value",
    "replay",
    "resolve_params",
    "state_json",
    "state_json_bytes",
    "state_json_lazy",
]
