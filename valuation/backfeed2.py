"""`backfeed/2`: applying one logged entry to the state, as docs/valuation/backfeed2.md says.

The same entry kinds as backfeed/1, other rules: an evaluation's weight is what the evaluator
held (settled or pending) when the contribution was submitted, frozen at its first cast; a
re-cast moves that weight and pays no one; a contributor reward needs the up-votes of a share of
all the reputation that could weigh on the contribution (all reputation issued at its
submission but its author's); the evaluator share of a reward goes to the earlier up-voters
through a per-contribution accumulator, which each member's claims settle lazily at the start
of the next entry it signs. So an evaluation costs O(1) whoever evaluated before, plus O(the
claims of its signer) (settled, and read back to its holding at the submission).

As in backfeed/1, `apply` first checks every rule and raises RuleViolation with the state
untouched; only then does it change the state, following the document's numbered steps. All
amounts are int units of 10^-9; formulas run in `arithmetic.CONTEXT` and round half-even to a
unit; the accumulator is an integer scaled by ACCUMULATOR_SCALE, divided with floor.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from decimal import Decimal

from valuation import checks
from valuation.amounts import UNIT
from valuation.arithmetic import CONTEXT, Factor, div
from valuation.errors import ParamsError, RuleViolation
from valuation.model import (
    Cause,
    Changes,
    ContributionRecord2,
    Event,
    MemberRecord,
    MemberRecord2,
    Posting,
    State,
    Vote,
)
from valuation.params2 import Params2, resolve_params_2
from valuation.records import NETWORK, contribution_key, evaluation_key, member_key

__all__ = [
    "ACCUMULATOR_SCALE",
    "apply",
    "evaluation_weight",
    "pending_reputation",
    "replay",
    "reward_base",
    "voting_reputation",
]

ACCUMULATOR_SCALE = 10**27
"""S: the accumulator counts reputation units per unit of up-vote weight, times S."""

_UNIT = Decimal(UNIT)
_ONE = Decimal(1)


class _Out:
    """What `apply` reports while it changes the state: the postings, and the records of
    evaluations whose claim moved (the other changed records follow from the postings)."""

    __slots__ = ("postings", "records")

    def __init__(self) -> None:
        self.postings: list[Posting] = []
        self.records: set[str] = set()


Out = _Out | None
# A handler checks its event, changes the state and returns (members created, contributions
# created or evaluated); it reports into `out` when one is given (never during a replay).
_Handler = Callable[[State, Event, Out], tuple[tuple[str, ...], tuple[str, ...]]]


def apply(state: State, event: Event) -> Changes:
    """Apply one event; on a RuleViolation the state is left exactly as it was."""
    out = _Out()
    created, contributions = _apply(state, event, out)
    postings = out.postings
    members = {posting.member for posting in postings}
    members.update(created)
    member_keys = tuple(sorted(members))
    records = out.records
    records.add(NETWORK)
    records.update(member_key(key) for key in member_keys)
    records.update(contribution_key(cid) for cid in contributions)
    return Changes(
        index=event.index,
        postings=tuple(postings),
        members=member_keys,
        contributions=tuple(sorted(contributions)),
        records=tuple(sorted(records)),
    )


def replay(events: Iterable[Event], state: State | None = None) -> State:
    """The state after applying `events` in order to `state` (an empty one by default)."""
    if state is None:
        state = State()
    for event in events:
        _apply(state, event, None)
    return state


def _apply(state: State, event: Event, out: Out) -> tuple[tuple[str, ...], tuple[str, ...]]:
    result = checks.handler(state, event, _HANDLERS, "backfeed/2")(state, event, out)
    state._tree_size += 1
    return result


def _in_force(state: State) -> Params2:
    params = state.params
    assert isinstance(params, Params2)
    return params


def _params_of(obj: object) -> Params2:
    try:
        return resolve_params_2(obj)
    except ParamsError as error:
        raise RuleViolation(f"the valuation params are invalid: {error}") from None


# -- network.genesis ---------------------------------------------------------------------------


def _genesis(state: State, event: Event, out: Out) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if state._tree_size != 0 or state._params is not None:
        raise RuleViolation("a network.genesis may only be the first entry of a log")
    params = _params_of(event.body.get("valuation"))
    founders = checks.founders(event.body)
    # Every rule holds: the founders hold what the genesis gives them, the only initial weight.
    state._params = params
    state._formulas.clear()
    state._log_author = event.author
    members = state._members
    for founder in founders:
        ref = None if founder.referrer is None else members[founder.referrer]
        members[founder.key] = member = MemberRecord2(founder.key, founder.name, ref, 0)
        _credit(state, member, founder.tokens, founder.reputation, "genesis", None, None, out)
    return tuple(founder.key for founder in founders), ()


# -- network.params ----------------------------------------------------------------------------


def _new_params(state: State, event: Event, out: Out) -> tuple[tuple[str, ...], tuple[str, ...]]:
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
    # 0. The log key may be a member too: any entry a member signs settles its claims.
    signer = state._members.get(event.author)
    if signer is not None:
        _settle(state, signer, out)
    state._params = params
    state._formulas.clear()
    return (), ()


# -- member.join -------------------------------------------------------------------------------


def _join(state: State, event: Event, out: Out) -> tuple[tuple[str, ...], tuple[str, ...]]:
    key = checks.key(event.author, "the joining key")
    members = state._members
    if key in members:
        raise RuleViolation(f"{checks.short(key)} is already a member and cannot join again")
    name = checks.name(event.body.get("name"), "the new member")
    referrer = event.body.get("referrer")
    ref = None
    if referrer is not None:
        ref = members.get(referrer) if isinstance(referrer, str) else None
        if ref is None:
            raise RuleViolation(f"the referrer {checks.show(referrer)} is not a member")
    # Every rule holds. The newcomer starts with nothing; a referrer moves a stake of its own
    # reputation to it: a transfer, so R is unchanged and nothing is created. The referrer's
    # claims are settled first, so that the stake does not depend on when it last signed.
    members[key] = member = MemberRecord2(key, name, ref, event.index)
    if isinstance(ref, MemberRecord2):
        ref.referees.append(member)
    if ref is not None:
        _settle(state, ref, out)
        stake = _referral(state).times(ref.reputation)
        if stake:
            ref.reputation -= stake
            member.reputation += stake
            member.received = stake
            _direct(ref, event.index, -stake)
            _direct(member, event.index, stake)
            if out is not None:
                out.postings.append(Posting(ref.key, "reputation", -stake, "referral_stake"))
                out.postings.append(Posting(key, "reputation", stake, "referral_stake"))
    return (key,), ()


# -- contribution.submit -----------------------------------------------------------------------


def _submit(state: State, event: Event, out: Out) -> tuple[tuple[str, ...], tuple[str, ...]]:
    checked = checks.submission(state, event, _in_force(state))
    # Every rule holds. 1. Settle the author's claims; 2. burn the fee; 3. the contribution.
    author, cid, fee = checked.author, checked.id, checked.fee
    _settle(state, author, out)
    author.tokens -= fee
    if out is not None and fee:
        out.postings.append(Posting(author.key, "tokens", -fee, "fee", cid))
    contribution = ContributionRecord2(cid, event.index, author, checked.type)
    # D(c) is fixed now: all reputation issued, less what the author holds (settled just now).
    contribution.reach = state._issued - author.reputation
    state._contributions[cid] = contribution
    return (), (cid,)


# -- evaluation.cast ---------------------------------------------------------------------------


class _TypeRules:
    """A contribution type's parameters as the reward formulas use them, made once per
    parameters in force."""

    __slots__ = ("author_part", "reputation_factor", "threshold", "token_factor", "values")

    def __init__(self, params: Params2, name: str) -> None:
        ctype = params.contribution_types[name]
        self.values = frozenset(ctype.evaluation_values)
        # A ratio in units, like the score it is compared with.
        self.threshold = CONTEXT.multiply(ctype.reward_threshold, _UNIT)
        self.token_factor = Factor(ctype.token_reward_factor)
        self.reputation_factor = Factor(ctype.reputation_reward_factor)
        self.author_part = Factor(CONTEXT.subtract(_ONE, ctype.evaluator_share))


def _rules(state: State, name: str) -> _TypeRules:
    made = state._formulas.get(name)
    if made is None:
        made = state._formulas[name] = _TypeRules(_in_force(state), name)
    assert isinstance(made, _TypeRules)
    return made


def _referral(state: State) -> Factor:
    made = state._formulas.get("")  # no type is named "": the key is free for the stake
    if made is None:
        made = state._formulas[""] = Factor(_in_force(state).referral_stake)
    assert isinstance(made, Factor)
    return made


def evaluation_weight(evaluator: MemberRecord, contribution: ContributionRecord2) -> int:
    """The weight a first cast by `evaluator` on `contribution` freezes.

    What it held (settled or pending) when the contribution was submitted: nothing if it was not
    a member yet; nothing for the contribution's author; and less the referral stake it
    received when the author referred it (what an author stakes on a key stays the author's,
    and never weighs on the author's work).
    """
    author = contribution.author
    if evaluator is author or not isinstance(evaluator, MemberRecord2):
        return 0
    weight = holding_at(evaluator, contribution.index)
    if evaluator.ref is author:
        weight -= evaluator.received
    return max(weight, 0)


def holding_at(member: MemberRecord2, index: int) -> int:
    """What `member` held, settled or pending, before the entry at `index`: its direct credits
    until then, and what each claim it had opened by then had accrued (the floor of weight
    times accumulator increase, as settling pays it whenever it settles). O(log) for the
    credits, and O(log) for each claim it opened before `index`."""
    at = bisect_left(member.credited, index)
    held = member.held[at - 1] if at else 0
    for contribution, vote in member.opened:
        opened = vote.opened
        assert opened is not None
        if opened >= index:
            break
        closed = vote.closed
        end = index if closed is None or closed > index else closed
        marks = contribution.marks
        if not marks:
            continue  # its accumulator never grew
        if marks[-1] < end:
            level = contribution.levels[-1]
        else:
            at = bisect_left(marks, end)
            level = contribution.levels[at - 1] if at else 0
        skipped = 0
        if vote.skips is not None:
            for when, total in reversed(vote.skips):
                if when < end:
                    skipped = total
                    break
        held += vote.weight * (level - vote.start - skipped) // ACCUMULATOR_SCALE
    return held


def _direct(member: MemberRecord, index: int, amount: int) -> None:
    """Record a direct credit (or debit) of `member`'s reputation at `index`."""
    if not isinstance(member, MemberRecord2):
        return
    before = member.held[-1] if member.held else 0
    if member.credited and member.credited[-1] == index:
        member.held[-1] = before + amount
    else:
        member.credited.append(index)
        member.held.append(before + amount)


def _cast(state: State, event: Event, out: Out) -> tuple[tuple[str, ...], tuple[str, ...]]:
    evaluator = checks.author(state, event)
    body = event.body
    cid = body.get("contribution")
    contribution = state._contributions.get(cid) if isinstance(cid, str) else None
    if not isinstance(contribution, ContributionRecord2):
        raise RuleViolation(f"{checks.show(cid)} is not a contribution of this log")
    rules = _rules(state, contribution.type)
    value = body.get("value")
    if type(value) is not int or value not in rules.values:
        raise RuleViolation(
            f"{checks.show(value)} is not an evaluation value of type {contribution.type!r}; "
            "the values are "
            f"{', '.join(map(str, sorted(rules.values)))}"
        )
    # Every rule holds. The numbered steps are those of docs/valuation/backfeed2.md.
    k = evaluator.key
    cid = contribution.id

    # 0. Settle k's open claims, so that k's reputation is up to date.
    _settle(state, evaluator, out)

    evaluations = contribution.evaluations
    weights = contribution.weights
    earlier = evaluations.pop(k, None)
    evaluations[k] = (value, event.index, evaluator)
    contribution.json = None
    if out is not None:
        out.records.add(evaluation_key(cid, k))

    if earlier is not None:
        # 3. A re-cast: the frozen weight moves from the old value to the new one.
        old = earlier[0]
        if old == value:
            return (), (cid,)
        vote = contribution.votes[k]
        w = vote.weight
        weights[old] -= w
        weights[value] = weights.get(value, 0) + w
        # 5. A re-cast closes k's claim on c for good (step 0 has just settled it).
        if vote.marker is not None:
            vote.marker = None
            vote.closed = event.index
            if isinstance(evaluator, MemberRecord2):
                evaluator.claims.pop(cid, None)
        # 3. ... and pays no one: a score it raises becomes the maximum, unpaid.
        if value == 1:
            score = _score(state, contribution, weights[1])
            if contribution.max_score is None or score > contribution.max_score:
                contribution.max_score = score
        return (), (cid,)

    # 2. A first cast: the weight is frozen for good and joins the running sums.
    w = evaluation_weight(evaluator, contribution)
    vote = contribution.votes[k] = Vote(w, None)
    weights[value] = weights.get(value, 0) + w
    if value != 1 or w == 0:
        return (), (cid,)

    # 4. Contributor reward: the score U / D(c) against its maximum and the threshold, D(c)
    #    the reputation that can weigh on c (`voting_reputation`).
    U = weights[1]
    score = _score(state, contribution, U)
    best = contribution.max_score
    if best is None or score > best:
        base = reward_base(best, score, rules.threshold)
        contribution.max_score = score
        if base > 0:
            author = contribution.author
            tokens = rules.token_factor.times(base)
            reputation = rules.reputation_factor.times(base)
            to_author = rules.author_part.times(reputation)
            _credit(state, author, tokens, to_author, "contributor_reward", cid, k, out)
            # The evaluator share, to the earlier up-voters pro rata to their weight.
            share = reputation - to_author
            earlier_weight = U - w
            if share > 0 and earlier_weight > 0:
                increment = share * ACCUMULATOR_SCALE // earlier_weight
                contribution.accumulator += increment
                contribution.marks.append(event.index)
                contribution.levels.append(contribution.accumulator)
                contribution.shared += share
                state._issued += share
                # k's referrer and referees share no more than k in the increment k caused.
                _pass_over(contribution, evaluator, increment, event.index, out)

    # 5. k's own claim starts after the increment its vote caused.
    vote.marker = vote.start = contribution.accumulator
    vote.opened = event.index
    if isinstance(evaluator, MemberRecord2):
        evaluator.claims[cid] = contribution
        evaluator.opened.append((contribution, vote))
    return (), (cid,)


def voting_reputation(state: State, contribution: ContributionRecord2) -> int:
    """D(c): the reputation that can weigh on `contribution`. All reputation issued (R*, settled
    or not) when it was submitted, less what its author held then (an author weighs nothing on
    its own work): the same moment every weight on it is read at, so nothing issued later moves
    either. Fixed at the submission."""
    return contribution.reach


def _score(state: State, contribution: ContributionRecord2, upvotes: int) -> int:
    """`U * 10^9 / D(c)` rounded half-even to a unit; 0 when D(c) is not above 0."""
    reachable = voting_reputation(state, contribution)
    return div(upvotes * UNIT, reachable) if reachable > 0 else 0


def reward_base(best: int | None, score: int, threshold: Decimal) -> int:
    """Step 4.2's base for a score that passes the maximum so far `best`: the increase once the
    maximum is above the threshold (paid up to it), the whole score when it first passes it,
    else 0. Unlike backfeed/1, a maximum exactly at the threshold has been paid nothing, so the
    up-vote that takes the score above it pays the whole score."""
    if best is not None and best > threshold:
        return score - best
    if score > threshold:
        return score
    return 0


# -- claims ------------------------------------------------------------------------------------


def _pass_over(
    contribution: ContributionRecord2,
    evaluator: MemberRecord,
    increment: int,
    index: int,
    out: Out,
) -> None:
    """Move the markers of the open claims on `contribution` held by `evaluator`'s referrer and
    by the members it referred up by `increment`, so that they take no share of it: splitting
    one's reputation over keys one refers never earns a share of one's own up-vote."""
    if not isinstance(evaluator, MemberRecord2):
        return
    family: list[MemberRecord] = list(evaluator.referees)
    if evaluator.ref is not None:
        family.append(evaluator.ref)
    votes = contribution.votes
    for member in family:
        vote = votes.get(member.key)
        if vote is not None and vote.marker is not None:
            vote.marker += increment
            skips = vote.skips
            if skips is None:
                vote.skips = [(index, increment)]
            else:
                skips.append((index, increment + skips[-1][1]))
            if out is not None:
                out.records.add(evaluation_key(contribution.id, member.key))


def _settle(state: State, member: MemberRecord, out: Out) -> None:
    """Pay `member` what its open claims have accrued since they were last settled."""
    if not isinstance(member, MemberRecord2) or not member.claims:
        return
    key = member.key
    settled = 0
    for cid, contribution in member.claims.items():
        accumulator = contribution.accumulator
        vote = contribution.votes[key]
        marker = vote.marker
        if marker is None or marker == accumulator:
            continue
        amount, vote.carry = divmod(
            vote.weight * (accumulator - marker) + vote.carry, ACCUMULATOR_SCALE
        )
        vote.marker = accumulator
        if out is not None:
            out.records.add(evaluation_key(cid, key))
        if amount:
            vote.paid += amount
            settled += amount
            if out is not None:
                out.postings.append(Posting(key, "reputation", amount, "alignment_reward", cid))
    member.reputation += settled
    state._total += settled


def pending_reputation(state: State, key: str) -> int:
    """What member `key`'s open claims would pay if it settled now (0 for no such member)."""
    member = state._members.get(key)
    return 0 if member is None else _pending(member)


def _pending(member: MemberRecord) -> int:
    """`pending_reputation` of a member's record: O(its open claims)."""
    if not isinstance(member, MemberRecord2):
        return 0
    key = member.key
    pending = 0
    for contribution in member.claims.values():
        vote = contribution.votes[key]
        if vote.marker is not None:
            owed = vote.weight * (contribution.accumulator - vote.marker) + vote.carry
            pending += owed // ACCUMULATOR_SCALE
    return pending


def _credit(
    state: State,
    member: MemberRecord,
    tokens: int,
    reputation: int,
    cause: Cause,
    contribution: str | None,
    evaluator: str | None,
    out: Out,
) -> None:
    """Give `member` tokens and reputation, minted, and post them (tokens first)."""
    member.tokens += tokens
    member.reputation += reputation
    state._total += reputation
    state._issued += reputation
    if reputation:
        _direct(member, state._tree_size, reputation)
    if out is not None:
        if tokens:
            out.postings.append(
                Posting(member.key, "tokens", tokens, cause, contribution, evaluator)
            )
        if reputation:
            out.postings.append(
                Posting(member.key, "reputation", reputation, cause, contribution, evaluator)
            )


_HANDLERS: dict[str, _Handler] = {
    "network.genesis": _genesis,
    "network.params": _new_params,
    "member.join": _join,
    "contribution.submit": _submit,
    "evaluation.cast": _cast,
}
