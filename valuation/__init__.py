"""Valuation: pure functions from log entries to figures, under the algorithm a network's genesis
names: `backfeed/1` (VALUATION.md, `valuation.backfeed`) or `backfeed/2`
(docs/valuation/backfeed2.md, `valuation.backfeed2`); `valuation.algorithms` chooses.

Knows no database, no web and no ledger; imports only the standard library and `rfc8785`.

The names below are imported when first used (PEP 562), so that importing one module of the
package (`valuation.jcs`, `valuation.statemap`, `valuation.errors`) does not import both
algorithms: a command that signs an entry or checks a proof starts sooner (issue 17).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES: dict[str, str] = {
    "ALGORITHM": "valuation.params",
    "ALGORITHMS": "valuation.algorithms",
    "ALGORITHM_2": "valuation.params2",
    "Algorithm": "valuation.algorithms",
    "AmountError": "valuation.errors",
    "Changes": "valuation.model",
    "ContributionFigures": "valuation.figures",
    "ContributionType": "valuation.params",
    "ContributionType2": "valuation.params2",
    "ContributionView": "valuation.model",
    "DEFAULT_VALUATION": "valuation.algorithms",
    "Event": "valuation.model",
    "MemberView": "valuation.model",
    "PRESETS": "valuation.params",
    "Params": "valuation.params",
    "Params2": "valuation.params2",
    "ParamsError": "valuation.errors",
    "Posting": "valuation.model",
    "RuleViolation": "valuation.errors",
    "State": "valuation.model",
    "UNIT": "valuation.amounts",
    "ValuationError": "valuation.errors",
    "algorithm_named": "valuation.algorithms",
    "algorithm_of": "valuation.algorithms",
    "apply": "valuation.algorithms",
    "contribution_figures": "valuation.figures",
    "contribution_quality": "valuation.figures",
    "digest": "valuation.figures",
    "format_amount": "valuation.amounts",
    "iter_records": "valuation.records",
    "new_state": "valuation.algorithms",
    "parse_amount": "valuation.amounts",
    "pending_reputation": "valuation.algorithms",
    "record_value": "valuation.records",
    "replay": "valuation.algorithms",
    "resolve_params": "valuation.algorithms",
    "state_json": "valuation.figures",
    "state_json_bytes": "valuation.figures",
    "state_json_lazy": "valuation.figures",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'valuation' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


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
