"""`backfeed/1`: applying one logged entry to the state, exactly as VALUATION.md says.

`apply` first checks every rule and raises RuleViolation with the state untouched; only then
does it change the state, following VALUATION.md's numbered steps in order. `replay` applies a
whole log the same way without recording postings. All amounts are int units of 10^-9; every
formula runs in `arithmetic.CONTEXT` and each amount it yields is rounded half-even to a unit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from valuation import checks
from valuation.amounts import UNIT
from valuation.arithmetic import CONTEXT, Factor, Power, div, mul_div, round_units
from valuation.errors import ParamsError, RuleViolation
from valuation.model import (
    Cause,
    Changes,
    ContributionRecord,
    Event,
    MemberRecord,
    Posting,
    State,
)
from valuation.params import Params, resolve_params
from valuation.records import changed_records

__all__ = ["apply", "new_state", "next_max_score", "replay", "reward_base"]

Postings = list[Posting] | None
# A handler checks its event, changes the state and returns (members created, contributions
# touched); it appends postings to the list when one is given.
_Handler = Callable[[State, Event, Postings], tuple[tuple[str, ...], tuple[str, ...]]]

_divide = CONTEXT.divide
_multiply = CONTEXT.multiply
_subtract = CONTEXT.subtract
_ONE = Decimal(1)
_UNIT = Decimal(UNIT)


def new_state() -> State:
    """An empty state, waiting for its network.genesis."""
    return State()


def apply(state: State, event: Event) -> Changes:
    """Apply one event; on a RuleViolation the state is left exactly as it was."""
    postings: list[Posting] = []
    created, contributions = _apply(state, event, postings)
    members = {posting.member for posting in postings}
    members.update(created)
    member_keys = tuple(sorted(members))
    return Changes(
        index=event.index,
        postings=tuple(postings),
        members=member_keys,
        contributions=tuple(sorted(contributions)),
        records=changed_records(event.kind, event.author, event.body, member_keys, contributions),
    )


def replay(events: Iterable[Event]) -> State:
    """The state after applying `events` in order to an empty state."""
    state = State()
    for event in events:
        _apply(state, event, None)
    return state


def _apply(state: State, event: Event, out: Postings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    result = checks.handler(state, event, _HANDLERS, "backfeed/1")(state, event, out)
    state._tree_size += 1
    return result


# -- network.genesis ---------------------------------------------------------------------------


def _genesis(state: State, event: Event, out: Postings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if state._tree_size != 0 or state._params is not None:
        raise RuleViolation("a network.genesis may only be the first entry of a log")
    body = event.body
    params = _params_of(body.get("valuation"))
    checked = checks.founders(body)
    # Every rule holds: now change the state.
    state._params = params
    state._formulas.clear()
    state._log_author = event.author
    members = state._members
    for founder in checked:
        ref = None if founder.referrer is None else members[founder.referrer]
        members[founder.key] = member = MemberRecord(founder.key, founder.name, ref, 0, 0)
        _credit(state, member, founder.tokens, founder.reputation, "genesis", None, None, out)
    return tuple(founder.key for founder in checked), ()


# -- network.params ----------------------------------------------------------------------------


def _new_params(
    state: State, event: Event, out: Postings
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if event.author != state._log_author:
        raise RuleViolation(
            f"network.params must be signed by the log key that signed the genesis, "
            f"not by {checks.short(event.author)}"
        )
    params = _params_of(event.body.get("valuation"))
    in_use = {record.type for record in state._contributions.values()}
    dropped = sorted(in_use - params.contribution_types.keys())
    if dropped:
        raise RuleViolation(
            f"the new params drop the contribution type {dropped[0]!r}, which contributions "
            f"already have"
        )
    state._params = params
    state._formulas.clear()
    return (), ()


def _in_force(state: State) -> Params:
    """The backfeed/1 parameters in force (a state of another algorithm never reaches here)."""
    params = state.params
    assert isinstance(params, Params)
    return params


def _params_of(obj: object) -> Params:
    try:
        return resolve_params(obj)
    except ParamsError as error:
        raise RuleViolation(f"the valuation params are invalid: {error}") from None


# -- member.join -------------------------------------------------------------------------------


def _join(state: State, event: Event, out: Postings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    key = checks.key(event.author, "the joining key")
    members = state._members
    if key in members:
        raise RuleViolation(f"{checks.short(key)} is already a member and cannot join again")
    body = event.body
    name = checks.name(body.get("name"), "the new member")
    referrer = body.get("referrer")
    ref = None
    if referrer is not None:
        ref = members.get(referrer) if isinstance(referrer, str) else None
        if ref is None:
            raise RuleViolation(f"the referrer {checks.show(referrer)} is not a member")
    params = _in_force(state)
    members[key] = member = MemberRecord(key, name, ref, 0, 0)
    _credit(
        state, member, params.initial_tokens, params.initial_reputation, "join", None, None, out
    )
    return (key,), ()


# -- contribution.submit -----------------------------------------------------------------------


def _submit(state: State, event: Event, out: Postings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    params = _in_force(state)
    checked = checks.submission(state, event, params)
    # Every rule holds: burn the fee, open the evaluators' fund.
    author, cid, fee = checked.author, checked.id, checked.fee
    author.tokens -= fee
    fund = params.contribution_types[checked.type].evaluator_token_fund
    state._contributions[cid] = ContributionRecord(cid, event.index, author, checked.type, fund)
    if out is not None and fee:
        out.append(Posting(author.key, "tokens", -fee, "fee", cid))
    return (), (cid,)


# -- evaluation.cast ---------------------------------------------------------------------------


class _TypeArithmetic:
    """A contribution type's parameters as the evaluation formulas use them, made once per
    parameters in force."""

    __slots__ = (
        "beta_power",
        "distribution_stake",
        "referral",
        "reputation_factor",
        "stake",
        "threshold",
        "token_factor",
        "values",
    )

    def __init__(self, params: Params, name: str) -> None:
        ctype = params.contribution_types[name]
        self.values = frozenset(ctype.evaluation_values)
        self.stake = ctype.stake
        self.distribution_stake = Factor(ctype.distribution_stake)
        # A ratio in units, like the score it is compared with.
        self.threshold = CONTEXT.multiply(ctype.reward_threshold, _UNIT)
        self.token_factor = Factor(ctype.token_reward_factor)
        self.reputation_factor = Factor(ctype.reputation_reward_factor)
        self.referral = Factor(params.referral_reward_fraction)
        self.beta_power = Power(params.beta)


def _arithmetic(state: State, name: str) -> _TypeArithmetic:
    made = state._formulas.get(name)
    if made is None:
        made = state._formulas[name] = _TypeArithmetic(_in_force(state), name)
    assert isinstance(made, _TypeArithmetic)
    return made


def _cast(state: State, event: Event, out: Postings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    evaluator = checks.author(state, event)
    params = _in_force(state)
    body = event.body
    cid = body.get("contribution")
    contribution = state._contributions.get(cid) if isinstance(cid, str) else None
    if contribution is None:
        raise RuleViolation(f"{checks.show(cid)} is not a contribution of this log")
    arithmetic = _arithmetic(state, contribution.type)
    value = body.get("value")
    if type(value) is not int or value not in arithmetic.values:
        raise RuleViolation(
            f"{checks.show(value)} is not an evaluation value of type {contribution.type!r}; "
            "the values are "
            f"{', '.join(map(str, sorted(arithmetic.values)))}"
        )
    k = evaluator.key
    if not params.allow_self_evaluation and contribution.author is evaluator:
        raise RuleViolation("this network does not allow members to evaluate their own work")
    # Every rule holds. The numbered steps are those of VALUATION.md, "Events".

    # 1. The previous evaluation by k, if any, is removed; the new one is the latest.
    evaluations = contribution.evaluations
    first_time = evaluations.pop(k, None) is None
    evaluations[k] = (value, event.index, evaluator)
    contribution.json = None

    R = state._total
    r_k = evaluator.reputation
    V = W = U = 0
    for v, _, member in evaluations.values():
        r = member.reputation
        V += r
        if v == value:
            W += r
        if v == 1:
            U += r

    # 2. Evaluator fund: a first evaluation draws fund * r_k / N, taken out of the fund.
    if params.reward_tokens_to_evaluators and first_time:
        N = R - (V - r_k)
        if N > 0 and contribution.fund:
            share = mul_div(contribution.fund, r_k, N)
            if share:
                evaluator.tokens += share
                contribution.fund -= share
                if out is not None:
                    out.append(Posting(k, "tokens", share, "evaluator_fund", cid, k))

    # 3. The snapshot (k's new evaluation counted) is r_k, V, W, U and R as read above:
    #    step 2 moved tokens only.

    # 4. Stake fee, burned: stake * r_k * (1 - (V / R) ** beta).
    if r_k > 0:
        power = arithmetic.beta_power(_divide(Decimal(V), Decimal(R)))
        fee = round_units(
            _multiply(_multiply(arithmetic.stake, Decimal(r_k)), _subtract(_ONE, power))
        )
        if fee:
            evaluator.reputation -= fee
            state._total -= fee
            if out is not None:
                out.append(Posting(k, "reputation", -fee, "stake_fee", cid, k))

    # 5. Alignment reward, minted, to the others who gave the same value, in log order:
    #    r_i * distribution_stake * r_k / W, with r_i as it stands at i's turn and r_k the
    #    snapshot's, before the stake fee (with the fee taken off, figure 2 misses by 0.01 point).
    if W > 0:
        minted = 0
        gain_of = arithmetic.distribution_stake.times_over
        referral = arithmetic.referral.times
        for v, _, member in evaluations.values():
            if v != value or member is evaluator:
                continue
            gain = gain_of(member.reputation, r_k, W)
            if not gain:
                continue
            member.reputation += gain
            minted += gain
            if out is not None:
                out.append(Posting(member.key, "reputation", gain, "alignment_reward", cid, k))
            ref = member.ref
            if ref is not None:
                share = referral(gain)
                if share:
                    ref.reputation += share
                    minted += share
                    if out is not None:
                        out.append(Posting(ref.key, "reputation", share, "referral_share", cid, k))
        state._total += minted

    # 6. Contributor reward, when the score U / R passes its maximum (and the threshold).
    best = contribution.max_score
    score = next_max_score(best, value, U, R)
    if score != best:
        assert score is not None
        base = reward_base(best, score, arithmetic.threshold)
        contribution.max_score = score
        if base > 0:
            _reward_contributor(state, contribution, arithmetic, base, k, out)
    return (), (contribution.id,)


def reward_base(best: int | None, score: int, threshold: Decimal) -> int:
    """Step 6's base for a score that passes the maximum so far `best`: the increase once the
    maximum has reached the threshold, the whole score when it first passes it, else 0."""
    if best is not None and best >= threshold:
        return score - best
    if score > threshold:
        return score
    return 0


def next_max_score(best: int | None, value: int, upon_one: int, total: int) -> int | None:
    """Step 6's maximum score after an evaluation of `value`, with U(c) = `upon_one` and R =
    `total` read after it: the score U / R when that passes the maximum so far `best` (only an
    evaluation other than 0 can set it), else `best`."""
    if value == 0:
        return best
    score = div(upon_one * UNIT, total) if total > 0 else 0
    return score if best is None or score > best else best


def _reward_contributor(
    state: State,
    contribution: ContributionRecord,
    arithmetic: _TypeArithmetic,
    base: int,
    k: str,
    out: Postings,
) -> None:
    author = contribution.author
    tokens = arithmetic.token_factor.times(base)
    reputation = arithmetic.reputation_factor.times(base)
    _credit(state, author, tokens, reputation, "contributor_reward", contribution.id, k, out)
    if author.ref is not None:
        referral = arithmetic.referral.times
        share_tokens, share_reputation = referral(tokens), referral(reputation)
        _credit(
            state,
            author.ref,
            share_tokens,
            share_reputation,
            "referral_share",
            contribution.id,
            k,
            out,
        )


def _credit(
    state: State,
    member: MemberRecord,
    tokens: int,
    reputation: int,
    cause: Cause,
    contribution: str | None,
    evaluator: str | None,
    out: Postings,
) -> None:
    """Give `member` tokens and reputation, minted, and post them (tokens first)."""
    member.tokens += tokens
    member.reputation += reputation
    state._total += reputation
    if out is not None:
        if tokens:
            out.append(Posting(member.key, "tokens", tokens, cause, contribution, evaluator))
        if reputation:
            out.append(
                Posting(member.key, "reputation", reputation, cause, contribution, evaluator)
            )


_HANDLERS: dict[str, _Handler] = {
    "network.genesis": _genesis,
    "network.params": _new_params,
    "member.join": _join,
    "contribution.submit": _submit,
    "evaluation.cast": _cast,
}
