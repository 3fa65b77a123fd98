"""The parameters of `backfeed/2` (docs/valuation/backfeed2.md): reading, checking, defaults.

They travel in the genesis entry as `{"algorithm": "backfeed/2", "params": {...}}`, decimals
written as strings; `params` may be left out, and `DEFAULT_PARAMS` then apply. Clients written
for backfeed/1 read `contribution_types`, each with its `evaluation_values`: both are here in
the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from valuation.amounts import format_amount
from valuation.errors import ParamsError
from valuation.params import (
    check_evaluation_values,
    closed_object,
    format_decimal,
    read_amount,
    read_contribution_types,
    read_decimal,
    show,
)

__all__ = [
    "ALGORITHM_2",
    "DEFAULT_PARAMS",
    "DEFAULT_VALUATION",
    "ContributionType2",
    "Params2",
    "resolve_params_2",
]

ALGORITHM_2 = "backfeed/2"

_TOP_FIELDS = frozenset({"algorithm", "params"})
_PARAM_FIELDS = frozenset({"referral_stake", "contribution_types"})
_TYPE_FIELDS = frozenset(
    {
        "fee",
        "reward_threshold",
        "token_reward_factor",
        "reputation_reward_factor",
        "evaluator_share",
        "evaluation_values",
    }
)

DEFAULT_PARAMS: dict[str, Any] = {
    "referral_stake": "0.1",
    "contribution_types": {
        "article": {
            "fee": "0",
            "reward_threshold": "0.5",
            "token_reward_factor": "50",
            "reputation_reward_factor": "5",
            "evaluator_share": "0.2",
            "evaluation_values": [0, 1],
        }
    },
}
DEFAULT_VALUATION: dict[str, Any] = {"algorithm": ALGORITHM_2, "params": DEFAULT_PARAMS}
"""The `valuation` object of a new network when none is given."""


@dataclass(frozen=True, slots=True)
class ContributionType2:
    """One contribution type: what submitting costs and how an up-vote of it pays."""

    name: str
    fee: int  # units of 10^-9 token, burned
    reward_threshold: Decimal  # a share of R the score must pass
    token_reward_factor: Decimal
    reputation_reward_factor: Decimal
    evaluator_share: Decimal  # the part of the reputation reward that goes to earlier up-voters
    evaluation_values: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "fee": format_amount(self.fee),
            "reward_threshold": format_decimal(self.reward_threshold),
            "token_reward_factor": format_decimal(self.token_reward_factor),
            "reputation_reward_factor": format_decimal(self.reputation_reward_factor),
            "evaluator_share": format_decimal(self.evaluator_share),
            "evaluation_values": list(self.evaluation_values),
        }


@dataclass(frozen=True, slots=True)
class Params2:
    """The parameters of a backfeed/2 network. `contribution_types` is ordered by name."""

    referral_stake: Decimal  # the share of its reputation a referrer moves to a newcomer
    contribution_types: Mapping[str, ContributionType2]
    algorithm: str = ALGORITHM_2

    @property
    def default_type(self) -> str:
        """The type a contribution without `type` takes: the alphabetically first."""
        return next(iter(self.contribution_types))

    def to_json(self) -> dict[str, Any]:
        """The `{"algorithm", "params"}` object, decimals written in their shortest form."""
        return {
            "algorithm": self.algorithm,
            "params": {
                "referral_stake": format_decimal(self.referral_stake),
                "contribution_types": {
                    name: kind.to_json() for name, kind in self.contribution_types.items()
                },
            },
        }


def resolve_params_2(obj: object) -> Params2:
    """Check a `{"algorithm": "backfeed/2", "params"?: {...}}` object and return its Params2.

    Without `params`, DEFAULT_PARAMS apply. Raises ParamsError naming the field and why.
    """
    if isinstance(obj, Mapping) and "params" not in obj:
        obj = {**obj, "params": DEFAULT_PARAMS}
    top = closed_object(obj, _TOP_FIELDS, "valuation")
    if top["algorithm"] != ALGORITHM_2:
        raise ParamsError(
            f"valuation.algorithm must be {ALGORITHM_2!r}, not {show(top['algorithm'])}"
        )
    raw = closed_object(top["params"], _PARAM_FIELDS, "params")
    types = read_contribution_types(raw, _contribution_type)
    return Params2(
        referral_stake=read_decimal(raw, "referral_stake", "params", high=1),
        contribution_types=types,
    )


def _contribution_type(name: str, obj: object) -> ContributionType2:
    where = f"params.contribution_types.{name}"
    raw = closed_object(obj, _TYPE_FIELDS, where)
    return ContributionType2(
        name=name,
        fee=read_amount(raw, "fee", where),
        reward_threshold=read_decimal(raw, "reward_threshold", where),
        token_reward_factor=read_decimal(raw, "token_reward_factor", where),
        reputation_reward_factor=read_decimal(raw, "reputation_reward_factor", where),
        evaluator_share=read_decimal(raw, "evaluator_share", where, high=1),
        evaluation_values=check_evaluation_values(raw["evaluation_values"], where),
    )
