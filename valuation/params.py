"""The parameters of `backfeed/1`: reading them from JSON, checking them, and the named presets.

The parameters travel in the genesis entry (and in `network.params` entries) as
`{"algorithm": "backfeed/1", "params": {...}}` with every decimal written as a string.
`resolve_params` is the only way in: it checks every field and names the one that is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from valuation.amounts import format_amount, parse_amount
from valuation.errors import AmountError, ParamsError

T = TypeVar("T")

__all__ = [
    "ALGORITHM",
    "PRESETS",
    "ContributionType",
    "Params",
    "check_evaluation_values",
    "closed_object",
    "format_decimal",
    "read_amount",
    "read_decimal",
    "resolve_params",
    "show",
]

ALGORITHM = "backfeed/1"

_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,18})?")
_MAX_EVALUATION_VALUE = 2**31 - 1
_TOP_FIELDS = frozenset({"algorithm", "params"})
_PARAM_FIELDS = frozenset(
    {
        "initial_reputation",
        "initial_tokens",
        "beta",
        "referral_reward_fraction",
        "reward_tokens_to_evaluators",
        "allow_self_evaluation",
        "contribution_types",
    }
)
_TYPE_DECIMALS = (
    "fee",
    "stake",
    "distribution_stake",
    "reward_threshold",
    "token_reward_factor",
    "reputation_reward_factor",
    "evaluator_token_fund",
)
_TYPE_FIELDS = frozenset({*_TYPE_DECIMALS, "evaluation_values"})


@dataclass(frozen=True, slots=True)
class ContributionType:
    """One contribution type: what submitting costs and how evaluations of it pay."""

    name: str
    fee: int  # units of 10^-9 token
    stake: Decimal
    distribution_stake: Decimal
    reward_threshold: Decimal
    token_reward_factor: Decimal
    reputation_reward_factor: Decimal
    evaluator_token_fund: int  # units of 10^-9 token
    evaluation_values: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "fee": format_amount(self.fee),
            "stake": format_decimal(self.stake),
            "distribution_stake": format_decimal(self.distribution_stake),
            "reward_threshold": format_decimal(self.reward_threshold),
            "token_reward_factor": format_decimal(self.token_reward_factor),
            "reputation_reward_factor": format_decimal(self.reputation_reward_factor),
            "evaluator_token_fund": format_amount(self.evaluator_token_fund),
            "evaluation_values": list(self.evaluation_values),
        }


@dataclass(frozen=True, slots=True)
class Params:
    """The parameters in force. `contribution_types` is ordered by name."""

    initial_reputation: int  # units
    initial_tokens: int  # units
    beta: Decimal
    referral_reward_fraction: Decimal
    reward_tokens_to_evaluators: bool
    allow_self_evaluation: bool
    contribution_types: Mapping[str, ContributionType]
    algorithm: str = ALGORITHM

    @property
    def default_type(self) -> str:
        """The type a contribution without `type` takes: the alphabetically first."""
        return next(iter(self.contribution_types))

    def to_json(self) -> dict[str, Any]:
        """The `{"algorithm", "params"}` object, decimals written in their shortest form."""
        return {
            "algorithm": self.algorithm,
            "params": {
                "initial_reputation": format_amount(self.initial_reputation),
                "initial_tokens": format_amount(self.initial_tokens),
                "beta": format_decimal(self.beta),
                "referral_reward_fraction": format_decimal(self.referral_reward_fraction),
                "reward_tokens_to_evaluators": self.reward_tokens_to_evaluators,
                "allow_self_evaluation": self.allow_self_evaluation,
                "contribution_types": {
                    name: kind.to_json() for name, kind in self.contribution_types.items()
                },
            },
        }


def format_decimal(value: Decimal) -> str:
    """The shortest plain decimal string of `value` ("0.50" -> "0.5", "5E+1" -> "50")."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def resolve_params(obj: object) -> Params:
    """Check a `{"algorithm": "backfeed/1", "params": {...}}` object and return its Params.

    Raises ParamsError naming the field and why it is refused.
    """
    top = closed_object(obj, _TOP_FIELDS, "valuation")
    if top["algorithm"] != ALGORITHM:
        raise ParamsError(
            f"valuation.algorithm must be {ALGORITHM!r}, not {show(top['algorithm'])}"
        )
    raw = closed_object(top["params"], _PARAM_FIELDS, "params")
    types = read_contribution_types(raw, _contribution_type)
    return Params(
        initial_reputation=read_amount(raw, "initial_reputation", "params"),
        initial_tokens=read_amount(raw, "initial_tokens", "params"),
        beta=read_decimal(raw, "beta", "params"),
        referral_reward_fraction=read_decimal(raw, "referral_reward_fraction", "params", high=1),
        reward_tokens_to_evaluators=_flag(raw, "reward_tokens_to_evaluators"),
        allow_self_evaluation=_flag(raw, "allow_self_evaluation"),
        contribution_types=types,
    )


def read_contribution_types(
    raw: Mapping[str, Any], read_one: Callable[[str, object], T]
) -> dict[str, T]:
    """`params.contribution_types`: at least one, by name (sorted), each read by `read_one`."""
    types_raw = raw["contribution_types"]
    if not isinstance(types_raw, Mapping) or not types_raw:
        raise ParamsError("params.contribution_types must be an object with at least one type")
    types: dict[str, T] = {}
    for name in sorted(types_raw):
        if not isinstance(name, str) or not name or len(name) > 64:
            raise ParamsError(f"contribution type name {show(name)} must be 1 to 64 characters")
        types[name] = read_one(name, types_raw[name])
    return types


def _contribution_type(name: str, obj: object) -> ContributionType:
    where = f"params.contribution_types.{name}"
    raw = closed_object(obj, _TYPE_FIELDS, where)
    return ContributionType(
        name=name,
        fee=read_amount(raw, "fee", where),
        stake=read_decimal(raw, "stake", where, high=1),
        distribution_stake=read_decimal(raw, "distribution_stake", where),
        reward_threshold=read_decimal(raw, "reward_threshold", where),
        token_reward_factor=read_decimal(raw, "token_reward_factor", where),
        reputation_reward_factor=read_decimal(raw, "reputation_reward_factor", where),
        evaluator_token_fund=read_amount(raw, "evaluator_token_fund", where),
        evaluation_values=check_evaluation_values(raw["evaluation_values"], where),
    )


def check_evaluation_values(values: object, where: str) -> tuple[int, ...]:
    """A type's `evaluation_values`: distinct integers within 32 bits, at least one."""
    if not isinstance(values, list) or not values:
        raise ParamsError(f"{where}.evaluation_values must be a non-empty list of integers")
    for value in values:
        if type(value) is not int or abs(value) > _MAX_EVALUATION_VALUE:
            raise ParamsError(
                f"{where}.evaluation_values holds {show(value)}, which is not an integer "
                f"between -{_MAX_EVALUATION_VALUE} and {_MAX_EVALUATION_VALUE}"
            )
    if len(set(values)) != len(values):
        raise ParamsError(f"{where}.evaluation_values must not repeat a value")
    return tuple(values)


def closed_object(obj: object, fields: frozenset[str], where: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ParamsError(f"{where} must be a JSON object")
    missing = sorted(fields - obj.keys())
    if missing:
        raise ParamsError(f"{where} lacks the field {missing[0]!r}")
    unknown = sorted(str(key) for key in obj.keys() - fields)
    if unknown:
        raise ParamsError(f"{where} has the unknown field {unknown[0]!r}")
    return obj


def read_amount(raw: Mapping[str, Any], field: str, where: str) -> int:
    try:
        units = parse_amount(raw[field])
    except AmountError as error:
        raise ParamsError(f"{where}.{field}: {error}") from None
    if units < 0:
        raise ParamsError(f"{where}.{field} must not be negative")
    return units


def read_decimal(
    raw: Mapping[str, Any], field: str, where: str, high: int | None = None
) -> Decimal:
    text = raw[field]
    if not isinstance(text, str) or _DECIMAL.fullmatch(text) is None:
        raise ParamsError(
            f'{where}.{field} must be a decimal string such as "0.5", not {show(text)}'
        )
    value = Decimal(text)
    if value < 0:
        raise ParamsError(f"{where}.{field} must not be negative")
    if high is not None and value > high:
        raise ParamsError(f"{where}.{field} must be at most {high}")
    return value


def _flag(raw: Mapping[str, Any], field: str) -> bool:
    value = raw[field]
    if not isinstance(value, bool):
        raise ParamsError(f"params.{field} must be true or false, not {show(value)}")
    return value


def show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _preset(
    initial_reputation: str,
    beta: str,
    reward_tokens_to_evaluators: bool,
    types: dict[str, tuple[str, str, str, str, str, str, str]],
) -> dict[str, Any]:
    return {
        "algorithm": ALGORITHM,
        "params": {
            "initial_reputation": initial_reputation,
            "initial_tokens": "50",
            "beta": beta,
            "referral_reward_fraction": "0.2",
            "reward_tokens_to_evaluators": reward_tokens_to_evaluators,
            "allow_self_evaluation": True,
            "contribution_types": {
                name: {
                    **dict(zip(_TYPE_DECIMALS, values, strict=True)),
                    "evaluation_values": [0, 1],
                }
                for name, values in types.items()
            },
        },
    }


PRESETS: dict[str, dict[str, Any]] = {
    # VALUATION.md's example parameters, plus a `comment` type.
    "example": _preset(
        "20",
        "0.5",
        False,
        {
            "article": ("1", "0.02", "0.08", "0.5", "50", "5", "10"),
            "comment": ("0.1", "0.005", "0.02", "0.5", "10", "1", "2"),
        },
    ),
    # The DMag magazine's parameters; fields VALUATION.md does not name take the example's values.
    "dmag": _preset(
        "0",
        "0.6",
        True,
        {
            "article": ("1", "0.02", "0.06", "0.3", "20", "50", "10"),
            "comment": ("0.2", "0.003", "0.01", "0.2", "5", "5", "2"),
        },
    ),
}
"""Full `{"algorithm", "params"}` objects, ready to be written into a genesis entry."""
