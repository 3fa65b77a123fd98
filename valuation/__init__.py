"""Valuation: pure functions from log entries to figures, under the algorithm a network's genesis
names: `backfeed/1` (VALUATION.md, `valuation.backfeed`) or `backfeed/2`
(docs/valuation/backfeed2.md, `valuation.backfeed2`); `valuation.algorithms` chooses.

Knows no database, no web and no ledger; imports only the standard library and `rfc8785`.
"""

from valuation.algorithms import (
    ALGORITHMS,
    DEFAULT_VALUATION,
    Algorithm,
    algorithm_named,
    algorithm_of,
    apply,
    new_state,
    pending_reputation,
    replay,
    resolve_params,
)
from valuation.amounts import UNIT, format_amount, parse_amount
from valuation.errors import AmountError, ParamsError, RuleViolation, ValuationError
from valuation.figures import (
    ContributionFigures,
    contribution_figures,
    contribution_quality,
    digest,
    state_json,
    state_json_bytes,
    state_json_lazy,
)
from valuation.model import (
    Changes,
    ContributionView,
    Event,
    MemberView,
    Posting,
    State,
)
from valuation.params import ALGORITHM, PRESETS, ContributionType, Params
from valuation.params2 import ALGORITHM_2, ContributionType2, Params2
from valuation.records import iter_records, record_value

__all__ = [
    "ALGORITHM",
    "ALGORITHMS",
    "ALGORITHM_2",
    "DEFAULT_VALUATION",
    "PRESETS",
    "UNIT",
    "Algorithm",
    "AmountError",
    "Changes",
    "ContributionFigures",
    "ContributionType",
    "ContributionType2",
    "ContributionView",
    "Event",
    "MemberView",
    "Params",
    "Params2",
    "ParamsError",
    "Posting",
    "RuleViolation",
    "State",
    "ValuationError",
    "algorithm_named",
    "algorithm_of",
    "apply",
    "contribution_figures",
    "contribution_quality",
    "digest",
    "format_amount",
    "iter_records",
    "new_state",
    "parse_amount",
    "pending_reputation",
    "record_value",
    "replay",
    "resolve_params",
    "state_json",
    "state_json_bytes",
    "state_json_lazy",
]
