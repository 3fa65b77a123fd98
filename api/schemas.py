"""Response models: the JSON shapes of SPEC section 6. Amounts are decimal strings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ledger.reads import (
    ContributionPoint,
    ContributionSummary,
    HistoryStep,
    MemberFigures,
    NetworkStats,
)
from valuation import format_amount
from valuation.figures import ratio


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str


class AppendedOut(BaseModel):
    id: str = Field(description="entry id: hex SHA-256 of JCS of the signed entry")
    index: int = Field(description="the leaf index in the log")
    logged_at: str
    leaf_hash: str


class BatchResult(BaseModel):
    """The 201 body of a single append plus `"status": 201`, or a problem document (which has
    its own `status`): `status` tells them apart, and so does the presence of `id` or `type`."""

    status: int = Field(description="201 when appended, else the problem's status")
    id: str | None = None
    index: int | None = None
    logged_at: str | None = None
    leaf_hash: str | None = None
    type: str | None = None
    title: str | None = None
    detail: str | None = None


class BatchOut(BaseModel):
    results: list[BatchResult]
    appended: int
    refused: int


class EntryItem(BaseModel):
    index: int
    id: str
    logged_at: str
    leaf_hash: str
    entry: dict[str, Any]


class EntryPage(BaseModel):
    items: list[EntryItem]
    next: int | None


class InclusionProof(BaseModel):
    leaf_index: int
    tree_size: int
    hashes: list[str]


class ConsistencyProof(BaseModel):
    first: int
    second: int
    hashes: list[str]


class StateRoot(BaseModel):
    tree_size: int = Field(description="the checkpointed tree size the root is of")
    root: str = Field(
        description="the state map's root at that size (hex), as the "
        "checkpoint's `state` line signs it in base64"
    )


class OtherRecord(BaseModel):
    key: str = Field(description="the record that sits where the absent key would")
    value_hash: str = Field(description="SHA-256 of that record's value (JCS), hex")


class StateProofOut(BaseModel):
    """SPEC section 5: fold the siblings from the terminal up and compare with the root."""

    tree_size: int
    key: str
    value: dict[str, Any] | None = Field(description="the record's value, or null when absent")
    siblings: list[str] = Field(description="hex hashes, from depth 0 down")
    other: OtherRecord | None = Field(
        description="for an absence proof: the one record whose path shares the first "
        "len(siblings) bits with the key's"
    )


class MemberOut(BaseModel):
    member: str
    name: str
    reputation: str
    tokens: str
    influence: str = Field(description="reputation / total reputation of the network")
    rank: int = Field(
        description="position in the ranking: by reputation, or by tokens on "
        "/v1/leaderboard?by=tokens (ties are broken by key)"
    )
    next_seq: int = Field(description="the seq this member signs next")
    referrer: str | None

    @classmethod
    def of(cls, m: MemberFigures) -> MemberOut:
        return cls(
            member=m.member,
            name=m.name,
            reputation=format_amount(m.reputation),
            tokens=format_amount(m.tokens),
            influence=format_amount(m.influence),
            rank=m.rank,
            next_seq=m.next_seq,
            referrer=m.referrer,
        )


class MemberPage(BaseModel):
    items: list[MemberOut]
    next: int | None


class Posting(BaseModel):
    asset: str
    amount: str
    cause: str
    contribution: str | None
    evaluator: str | None


class HistoryItem(BaseModel):
    index: int
    reputation: str
    tokens: str
    postings: list[Posting] = Field(description="why the figures changed at this index")

    @classmethod
    def of(cls, step: HistoryStep) -> HistoryItem:
        return cls(
            index=step.index,
            reputation=format_amount(step.reputation),
            tokens=format_amount(step.tokens),
            postings=[
                Posting(
                    asset=p.asset,
                    amount=format_amount(p.amount),
                    cause=p.cause,
                    contribution=p.contribution,
                    evaluator=p.evaluator,
                )
                for p in step.postings
            ],
        )


class HistoryPage(BaseModel):
    member: str
    items: list[HistoryItem]
    next: int | None


class EvaluationOut(BaseModel):
    evaluator: str
    value: int
    index: int
    reputation: str


class Weight(BaseModel):
    value: int
    reputation: str = Field(description="W(c, v): reputation of evaluators now at this value")
    fraction: str = Field(description="W(c, v) / R")


class ContributionOut(BaseModel):
    id: str
    index: int
    author: str
    title: str
    type: str
    logged_at: str
    max_score: str | None
    quality: str
    score: str = Field(description="feed score: quality faded by age, at the moment of reading")
    engaged_reputation: str = Field(description="V(c): reputation of all current evaluators")
    engaged_fraction: str = Field(description="V(c) / R")
    weights: list[Weight]
    fund: str = Field(description="tokens left in the evaluator fund")
    evaluations: list[EvaluationOut]

    @classmethod
    def of(cls, c: ContributionSummary) -> ContributionOut:
        return cls(
            id=c.id,
            index=c.index,
            author=c.author,
            title=c.title,
            type=c.type,
            logged_at=c.logged_at,
            max_score=None if c.max_score is None else format_amount(c.max_score),
            quality=format_amount(c.quality),
            score=format_amount(c.score),
            engaged_reputation=format_amount(c.engaged_reputation),
            engaged_fraction=format_amount(ratio(c.engaged_reputation, c.total_reputation)),
            weights=weights_out(c.weights, c.total_reputation),
            fund=format_amount(c.fund),
            evaluations=[
                EvaluationOut(
                    evaluator=e.evaluator,
                    value=e.value,
                    index=e.index,
                    reputation=format_amount(e.reputation),
                )
                for e in c.evaluations
            ],
        )


class ContributionPage(BaseModel):
    items: list[ContributionOut]
    next: int | None


class StatsOut(BaseModel):
    tree_size: int
    members: int
    contributions: int
    total_reputation: str = Field(description="R: the reputation of all members")
    state_root: str | None = Field(
        description="the state map's root at tree_size (hex); null on a checkpoint signed "
        "before the state map"
    )

    @classmethod
    def of(cls, s: NetworkStats) -> StatsOut:
        return cls(
            tree_size=s.tree_size,
            members=s.members,
            contributions=s.contributions,
            total_reputation=format_amount(s.total_reputation),
            state_root=s.state_root,
        )


class MemberEvaluationOut(BaseModel):
    contribution: str = Field(description="the contribution's id")
    title: str
    value: int
    index: int = Field(description="the log index of this evaluation")


class MemberEvaluationPage(BaseModel):
    member: str
    items: list[MemberEvaluationOut]
    next: int | None


class MemberContributionPage(BaseModel):
    member: str
    items: list[ContributionOut]
    next: int | None


def weights_out(weights: dict[int, int], total: int) -> list[Weight]:
    """W(c, v) for each value, and its share of R, in the order of the values."""
    return [
        Weight(value=v, reputation=format_amount(w), fraction=format_amount(ratio(w, total)))
        for v, w in sorted(weights.items())
    ]


class ContributionPosting(BaseModel):
    member: str = Field(description="whose figure changed")
    asset: str
    amount: str
    cause: str
    evaluator: str | None


class ContributionPointOut(BaseModel):
    index: int
    kind: str = Field(description="contribution.submit or evaluation.cast")
    logged_at: str
    evaluator: str | None = Field(description="who evaluated (null at the submission)")
    value: int | None
    current: bool = Field(description="false when the evaluator changed this vote later")
    total_reputation: str = Field(description="R just after this entry")
    weights: list[Weight] = Field(description="W(c, v) and W(c, v) / R just after this entry")
    quality: str = Field(
        description="the contribution's quality just after this entry: (1 - W(c, 0) / R) * "
        "W(c, 1) / R under backfeed/1, W(c, 1) / V(c) under backfeed/2"
    )
    max_score: str | None = Field(description="the maximum score just after this entry")
    postings: list[ContributionPosting] = Field(
        description="what this entry paid or cost, and to whom"
    )

    @classmethod
    def of(cls, p: ContributionPoint) -> ContributionPointOut:
        return cls(
            index=p.index,
            kind=p.kind,
            logged_at=p.logged_at,
            evaluator=p.evaluator,
            value=p.value,
            current=p.current,
            total_reputation=format_amount(p.total_reputation),
            weights=weights_out(p.weights, p.total_reputation),
            quality=format_amount(p.quality),
            max_score=None if p.max_score is None else format_amount(p.max_score),
            postings=[
                ContributionPosting(
                    member=row.member,
                    asset=row.asset,
                    amount=format_amount(row.amount),
                    cause=row.cause,
                    evaluator=row.evaluator,
                )
                for row in p.postings
            ],
        )


class ContributionHistoryPage(BaseModel):
    contribution: str
    items: list[ContributionPointOut]
    next: int | None = Field(description="the index to ask for as `start` next, or null")
