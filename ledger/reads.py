"""Read models for dashboards: members and contributions as the figure tables hold them.

Influence (`r / R`), quality and the feed score are computed here at read time from stored
figures, with `valuation`'s own formulas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from ledger import repository as repo
from ledger.entries import parse_timestamp
from ledger.errors import NotFoundError
from ledger.models import ContributionRow, MemberRow
from valuation.reading import feed_score, quality, ratio


@dataclass(frozen=True, slots=True)
class MemberFigures:
    member: str
    name: str
    referrer: str | None
    reputation: int
    tokens: int
    influence: int
    rank: int
    next_seq: int


@dataclass(frozen=True, slots=True)
class EvaluationFigures:
    evaluator: str
    value: int
    index: int
    reputation: int


@dataclass(frozen=True, slots=True)
class ContributionFigures:
    id: str
    index: int
    author: str
    title: str
    type: str
    logged_at: str
    max_score: int | None
    fund: int
    total_reputation: int
    engaged_reputation: int
    weights: dict[int, int]
    quality: int
    score: int
    evaluations: tuple[EvaluationFigures, ...]


def member_figures(
    session: Session,
    row: MemberRow,
    total: int,
    rank: int | None = None,
    last_seq: int | None = None,
) -> MemberFigures:
    if last_seq is None:
        last_seq = repo.last_seq(session, row.member)
    return MemberFigures(
        member=row.member,
        name=row.name,
        referrer=row.referrer,
        reputation=row.reputation,
        tokens=row.tokens,
        influence=ratio(row.reputation, total),
        rank=rank if rank is not None else repo.rank(session, row),
        next_seq=last_seq + 1,
    )


def member(session: Session, key: str) -> MemberFigures:
    row = repo.member(session, key)
    if row is None:
        raise NotFoundError(f"{key[:16]}… is not a member of this network")
    return member_figures(session, row, repo.total_reputation(session))


def leaderboard(session: Session, by: str, offset: int, limit: int) -> list[MemberFigures]:
    total = repo.total_reputation(session)
    rows = repo.ranked_members(session, by, offset, limit)
    seqs = repo.last_seqs(session, (row.member for row in rows))
    return [
        member_figures(
            session,
            row,
            total,
            rank=offset + i + 1 if by == "reputation" else None,
            last_seq=seqs[row.member],
        )
        for i, row in enumerate(rows)
    ]


def _days_since(logged_at: str, now: datetime) -> int:
    return max(0, (now - parse_timestamp(logged_at)).days)


def contributions(
    session: Session, rows: Sequence[ContributionRow], now: datetime | None = None
) -> list[ContributionFigures]:
    now = now or datetime.now(UTC)
    total = repo.total_reputation(session)
    by_contribution: dict[str, list[EvaluationFigures]] = {row.id: [] for row in rows}
    for evaluation, reputation in repo.evaluations(session, [row.id for row in rows]):
        by_contribution[evaluation.contribution].append(
            EvaluationFigures(evaluation.evaluator, evaluation.value, evaluation.idx, reputation)
        )
    result = []
    for row in rows:
        evaluations = sorted(by_contribution[row.id], key=lambda e: e.index)
        weights: dict[int, int] = {}
        for e in evaluations:
            weights[e.value] = weights.get(e.value, 0) + e.reputation
        q = quality(weights.get(0, 0), weights.get(1, 0), total)
        result.append(
            ContributionFigures(
                id=row.id,
                index=row.idx,
                author=row.author,
                title=row.title,
                type=row.type,
                logged_at=row.logged_at,
                max_score=row.max_score,
                fund=row.fund,
                total_reputation=total,
                engaged_reputation=sum(weights.values()),
                weights=weights,
                quality=q,
                score=feed_score(q, _days_since(row.logged_at, now)),
                evaluations=tuple(evaluations),
            )
        )
    return result


def contribution(session: Session, cid: str) -> ContributionFigures:
    row = repo.contribution(session, cid)
    if row is None:
        raise NotFoundError(f"no contribution has id {cid[:16]}…")
    return contributions(session, [row])[0]


def ranked_contributions(
    session: Session, order_by: str, offset: int, limit: int
) -> list[ContributionFigures]:
    if order_by == "time":
        return contributions(session, repo.contributions(session, offset, limit, newest_first=True))
    # The feed score fades with age, so it cannot be indexed: rank every contribution's
    # quality from one aggregate query, then load the page.
    now = datetime.now(UTC)
    total = repo.total_reputation(session)
    weights = repo.weights(session)
    scored = []
    for row in repo.all_contributions(session):
        w = weights.get(row.id, {})
        q = quality(w.get(0, 0), w.get(1, 0), total)
        scored.append((-feed_score(q, _days_since(row.logged_at, now)), -row.idx, row))
    scored.sort(key=lambda item: (item[0], item[1]))
    page = [row for _, _, row in scored[offset : offset + limit]]
    return contributions(session, page, now)
