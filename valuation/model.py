"""What valuation reads (Event), what it reports (Posting, Changes) and what it holds (State).

`State` is mutable and private in structure: only the algorithm its genesis names
(`valuation.backfeed` for backfeed/1, `valuation.backfeed2` for backfeed/2) changes it. Outside
`valuation` it is read through the helpers here (`member`, `contribution`, `iter_members`, ...),
which return frozen views; inside, `valuation.figures` and `valuation.records` read its records
directly, to write the state digest and the state map's records a record at a time (the JCS
bytes cached on a record are theirs). backfeed/2 keeps its own records (`MemberRecord2`,
`ContributionRecord2`), subclasses of backfeed/1's, so that every reader works on either.
Amounts are int units of 10^-9 throughout.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from valuation.errors import ValuationError
from valuation.params import Params
from valuation.params2 import Params2

__all__ = [
    "AnyParams",
    "Asset",
    "Cause",
    "Changes",
    "ContributionRecord2",
    "ContributionView",
    "Event",
    "MemberRecord2",
    "MemberView",
    "Posting",
    "State",
    "Vote",
]

Asset = Literal["reputation", "tokens"]
Cause = Literal[
    "genesis",
    "join",
    "fee",
    "stake_fee",
    "evaluator_fund",
    "alignment_reward",
    "contributor_reward",
    "referral_share",
    "referral_stake",
]
AnyParams = Params | Params2


@dataclass(frozen=True, slots=True)
class Event:
    """What valuation needs of one logged entry."""

    index: int  # log index
    id: str  # entry id (64 hex); a contribution is named by its entry id
    kind: str
    author: str  # 64-hex public key
    logged_at: str  # RFC 3339
    body: Mapping[str, Any]  # the entry's body as parsed JSON


@dataclass(frozen=True, slots=True)
class Posting:
    """One change to one member's figure, with its cause."""

    member: str
    asset: Asset
    amount: int  # signed delta in units
    cause: Cause
    contribution: str | None = None
    evaluator: str | None = None


@dataclass(frozen=True, slots=True)
class Changes:
    """What applying one event changed."""

    index: int
    postings: tuple[Posting, ...]  # in the order they happened; zero amounts omitted
    members: tuple[str, ...]  # members with a posting, or created, sorted
    contributions: tuple[str, ...]  # contributions created or evaluated, sorted
    # The keys of the state map's records (SPEC section 5) whose value the event set or
    # changed, sorted; `valuation.records.record_value` gives each one's new value.
    records: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberView:
    key: str
    name: str
    referrer: str | None
    reputation: int
    tokens: int


@dataclass(frozen=True, slots=True)
class ContributionView:
    id: str
    index: int  # the log index of its contribution.submit
    author: str
    type: str
    fund: int  # tokens left for evaluators
    max_score: int | None  # units of 10^-9
    evaluations: tuple[tuple[str, int, int], ...]  # (evaluator, value, index), in log order


class MemberRecord:
    """A member as the state holds it; `ref` is the referrer's record, to spare a lookup."""

    __slots__ = ("json", "json_of", "key", "name", "ref", "referrer", "reputation", "tokens")

    def __init__(
        self, key: str, name: str, ref: MemberRecord | None, reputation: int, tokens: int
    ) -> None:
        self.key = key
        self.name = name
        self.ref = ref
        self.referrer = None if ref is None else ref.key
        self.reputation = reputation
        self.tokens = tokens
        # The member's JCS bytes in the state digest, and the (reputation, tokens) they show.
        self.json = b""
        self.json_of: tuple[int, int] | None = None


class ContributionRecord:
    """A contribution as the state holds it.

    `evaluations` maps each current evaluator to (value, index, evaluator's record); a dict keeps
    insertion order, and a changed vote is removed and inserted again, so iteration is the order
    of the current evaluations in the log. `json` caches the contribution's JCS bytes for the
    state digest; whoever changes the contribution (only an evaluation does) sets it to None.
    """

    __slots__ = (
        "author",
        "evaluations",
        "fund",
        "id",
        "index",
        "json",
        "max_score",
        "type",
    )

    def __init__(self, id: str, index: int, author: MemberRecord, type: str, fund: int) -> None:
        self.id = id
        self.index = index
        self.author = author
        self.type = type
        self.fund = fund
        self.max_score: int | None = None
        self.evaluations: dict[str, tuple[int, int, MemberRecord]] = {}
        self.json: bytes | None = None


class MemberRecord2(MemberRecord):
    """A backfeed/2 member: when it joined, what its referrer staked on it, the members it
    referred, and its open claims (the contributions on which it holds an up-vote that shares
    evaluator rewards)."""

    __slots__ = ("claims", "credited", "held", "joined", "opened", "received", "referees")

    def __init__(
        self,
        key: str,
        name: str,
        ref: MemberRecord | None,
        joined: int,
    ) -> None:
        super().__init__(key, name, ref, 0, 0)
        self.joined = joined  # the log index of its join (0 for a founder)
        self.received = 0  # the referral stake it received when it joined
        self.claims: dict[str, ContributionRecord2] = {}
        self.referees: list[MemberRecord2] = []  # the members it referred, in join order
        # Its holding at any past index, for the weight a contribution's snapshot gives it: the
        # indices at which reputation was credited to it directly (genesis, referral stakes,
        # contributor rewards; never a settlement) and its direct holding after each, and the
        # contributions on which it ever opened a claim, in the order it opened them.
        self.credited: list[int] = []
        self.held: list[int] = []
        self.opened: list[tuple[ContributionRecord2, Vote]] = []


class Vote:
    """A backfeed/2 evaluation's frozen weight and claim. `marker` is the contribution's
    accumulator when the claim was opened or last settled, None when the evaluation holds no
    open claim; `carry` the remainder (below the accumulator's scale) the last settlement left,
    so that what a claim pays never depends on when it is settled; `paid` what it has paid.
    `opened` is the index of the cast that opened the claim (None when it never held one) and
    `start` the marker it opened at; `closed` the index of the re-cast that closed it; `skips`
    the (index, total so far) of the increments passed over, so that what the claim had accrued
    before any index can be read back."""

    __slots__ = ("carry", "closed", "marker", "opened", "paid", "skips", "start", "weight")

    def __init__(self, weight: int, marker: int | None) -> None:
        self.weight = weight
        self.marker = marker
        self.carry = 0
        self.paid = 0
        self.opened: int | None = None
        self.start = 0
        self.closed: int | None = None
        self.skips: list[tuple[int, int]] | None = None


class ContributionRecord2(ContributionRecord):
    """A backfeed/2 contribution: the running sums W(c, v) of its evaluations' frozen weights,
    its accumulator, what its rewards have issued to its up-voters, and each evaluation's
    `Vote` (by evaluator, as `evaluations`)."""

    __slots__ = ("accumulator", "levels", "marks", "reach", "shared", "votes", "weights")

    def __init__(self, id: str, index: int, author: MemberRecord, type: str) -> None:
        super().__init__(id, index, author, type, 0)
        self.weights: dict[int, int] = {}  # each value ever cast on it -> W(c, value)
        self.accumulator = 0  # evaluator reward per unit of up-vote weight, times 10^27
        # E(c): the evaluator shares its contributor rewards have put into the accumulator.
        self.shared = 0
        self.votes: dict[str, Vote] = {}
        # D(c), fixed at its submission: all reputation issued then but its author's holding.
        self.reach = 0
        # The accumulator's history: after the entry at marks[i] it was levels[i].
        self.marks: list[int] = []
        self.levels: list[int] = []


class State:
    """The whole derived state after `tree_size` events. Change it only through `apply`."""

    __slots__ = (
        "_contributions",
        "_formulas",
        "_issued",
        "_log_author",
        "_members",
        "_order",
        "_params",
        "_total",
        "_tree_size",
    )

    def __init__(self) -> None:
        self._params: AnyParams | None = None
        # What valuation.backfeed derives from the params in force, per contribution type.
        self._formulas: dict[str, object] = {}
        self._log_author: str | None = None
        self._members: dict[str, MemberRecord] = {}
        self._contributions: dict[str, ContributionRecord] = {}
        self._total = 0
        # backfeed/2: all reputation issued, settled or still held by open claims.
        self._issued = 0
        self._tree_size = 0
        self._order: object = None  # valuation.figures keeps the sorted keys for the digest

    @property
    def params(self) -> AnyParams:
        """The parameters in force; a state without a genesis has none and raises."""
        if self._params is None:
            raise ValuationError("the state has no parameters before its network.genesis")
        return self._params

    @property
    def has_genesis(self) -> bool:
        return self._params is not None

    @property
    def log_author(self) -> str | None:
        """The key that signed the genesis, the only one allowed to sign network.params."""
        return self._log_author

    @property
    def tree_size(self) -> int:
        """How many events have been applied."""
        return self._tree_size

    @property
    def total_reputation(self) -> int:
        """R: the reputation of all members, in units."""
        return self._total

    @property
    def member_count(self) -> int:
        return len(self._members)

    @property
    def contribution_count(self) -> int:
        return len(self._contributions)

    def is_member(self, key: str) -> bool:
        return key in self._members

    def member(self, key: str) -> MemberView | None:
        record = self._members.get(key)
        return None if record is None else _member_view(record)

    def figures(self, key: str) -> tuple[int, int]:
        """A member's reputation and tokens (KeyError for one that is not a member): `member`
        without the view, for the append path that reads them after every entry."""
        record = self._members[key]
        return record.reputation, record.tokens

    def iter_members(self) -> Iterator[MemberView]:
        """Every member, in the order they joined."""
        return map(_member_view, self._members.values())

    def contribution(self, id: str) -> ContributionView | None:
        record = self._contributions.get(id)
        return None if record is None else _contribution_view(record)

    def has_evaluated(self, contribution: str, evaluator: str) -> bool:
        """Whether `evaluator` has a current evaluation of `contribution`."""
        record = self._contributions.get(contribution)
        return record is not None and evaluator in record.evaluations

    def frozen_weight(self, contribution: str, evaluator: str) -> int | None:
        """The weight `evaluator`'s evaluation of `contribution` froze at its first cast under
        backfeed/2; None under backfeed/1, where an evaluation weighs its evaluator's current
        reputation, and when there is no such evaluation."""
        record = self._contributions.get(contribution)
        if not isinstance(record, ContributionRecord2):
            return None
        vote = record.votes.get(evaluator)
        return None if vote is None else vote.weight

    def iter_contributions(self) -> Iterator[ContributionView]:
        """Every contribution, in log order."""
        return map(_contribution_view, self._contributions.values())


def _member_view(record: MemberRecord) -> MemberView:
    return MemberView(record.key, record.name, record.referrer, record.reputation, record.tokens)


def _contribution_view(record: ContributionRecord) -> ContributionView:
    return ContributionView(
        id=record.id,
        index=record.index,
        author=record.author.key,
        type=record.type,
        fund=record.fund,
        max_score=record.max_score,
        evaluations=tuple(
            (evaluator, value, index) for evaluator, (value, index, _) in record.evaluations.items()
        ),
    )
