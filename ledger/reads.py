"""Reads: the log (its network, checkpoints, proofs, leaf bytes) and the read models of the
dashboards, members and contributions as the figure tables hold them.

Influence (`r / R`), W(c, v), quality and the feed score are read off stored figures with
`valuation`'s own functions (`weights_of`, `contribution_quality`, `next_max_score`,
`feed_score`), under the algorithm the network's genesis names: the rules live there, never
here. What a read cannot recompute from the tables (backfeed/2's maximum score after each cast)
the append path stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

import valuation
from ledger import merkle
from ledger import repository as repo
from ledger.db import read_session
from ledger.entries import parse_leaf, parse_timestamp, stored_leaf
from ledger.errors import NotAMemberError, NotFoundError
from ledger.models import ContributionRow, MemberRow, PostingRow
from ledger.rules import Network
from valuation.backfeed import next_max_score
from valuation.figures import contribution_quality, ratio, weights_of
from valuation.reading import feed_score

# --- the log ----------------------------------------------------------------------------


def network(session: Session) -> Network | None:
    """The network the genesis entry created, or None while the log is empty."""
    row = repo.leaf_at(session, 0)
    if row is None:
        return None
    return Network.of_genesis(parse_leaf(bytes(row.leaf), verify=False).entry)


def algorithm(session: Session) -> str:
    """The valuation algorithm the network's genesis names (backfeed/1 while the log is empty,
    where there is nothing to value)."""
    found = network(session)
    return valuation.ALGORITHM if found is None else found.algorithm


def latest_checkpoint(session: Session) -> tuple[int, str]:
    """(tree size, signed note) of the latest checkpoint."""
    row = repo.latest_checkpoint(session)
    if row is None:
        raise NotFoundError("the log is empty: no checkpoint has been signed yet")
    return int(row.tree_size), row.note


def state_root_at(session: Session, size: int | None) -> tuple[int, bytes]:
    """(tree size, state root) of the checkpoint at `size`, or of the latest if None.

    The state map answers checkpointed sizes only (SPEC section 6)."""
    found = repo.state_root(session, size)
    if found is None:
        if size is None:
            raise NotFoundError("the log is empty: no checkpoint has been signed yet")
        raise NotFoundError(
            f"the log signed no checkpoint at tree size {size}: the state map answers "
            "checkpointed sizes only (appends of one batch share a checkpoint)"
        )
    tree_size, root = found
    if root is None:
        raise NotFoundError(
            f"the checkpoint of tree size {tree_size} was signed before the state map "
            "and carries no state root"
        )
    return tree_size, root


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    """RFC 9162 2.1.3: from the stored nodes, a few lookups."""
    _check_size(session, size)
    ids = merkle.inclusion_plan(index, size)
    return merkle.inclusion_proof(index, size, repo.nodes(session, ids))


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    """RFC 9162 2.1.4: from the stored nodes, a few lookups."""
    _check_size(session, second)
    ids = merkle.consistency_plan(first, second)
    return merkle.consistency_proof(first, second, repo.nodes(session, ids))


def root_at(session: Session, size: int) -> bytes:
    _check_size(session, size)
    return merkle.root_at(size, repo.nodes(session, merkle.root_plan(size)))


def _check_size(session: Session, size: int) -> None:
    current = repo.tree_size(session)
    if size > current:
        raise NotFoundError(f"tree size {size} is beyond the log's size {current}")


def leaf_bytes(engine: Engine, start: int, limit: int, chunk: int = 2000) -> Iterator[bytes]:
    """The exact leaf bytes of [start, start + limit), streamed a chunk per transaction.

    Logged rows never change, so reading them in several transactions is consistent."""
    with read_session(engine) as session:
        end = min(repo.tree_size(session), start + limit)
    for position in range(start, end, chunk):
        with read_session(engine) as session:
            yield from repo.leaf_bytes_between(session, position, min(end, position + chunk))


# --- members and contributions ------------------------------------------------------------


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
    # The evaluation's weight: its evaluator's reputation now under backfeed/1; under
    # backfeed/2, what its evaluator held when the contribution was submitted (frozen at its
    # first cast).
    reputation: int


@dataclass(frozen=True, slots=True)
class ContributionSummary:
    """A contribution as a dashboard lists it: its row, its figures and its evaluations."""

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
        raise NotAMemberError(key, repo.last_seq(session, key) + 1)
    return member_figures(session, row, repo.total_reputation(session))


@dataclass(frozen=True, slots=True)
class HistoryStep:
    """A member's figures just after an entry that changed them, and the postings that did."""

    index: int
    reputation: int
    tokens: int
    postings: tuple[PostingRow, ...]


def history(
    session: Session, key: str, start: int, limit: int
) -> tuple[list[HistoryStep], int | None]:
    """The steps of a member's history at indexes >= start (at most `limit`), and the index of
    the next step, if any."""
    if repo.member(session, key) is None:
        raise NotFoundError(f"{key[:16]}… is not a member of this network")
    rows = repo.history(session, key, start, limit + 1)
    page = rows[:limit]
    end = page[-1].idx + 1 if page else start
    postings = by_index(repo.postings(session, key, start, end))
    steps = [
        HistoryStep(row.idx, row.reputation, row.tokens, tuple(postings.get(row.idx, ())))
        for row in page
    ]
    return steps, rows[limit].idx if len(rows) > limit else None


def by_index(postings: Iterable[PostingRow]) -> dict[int, list[PostingRow]]:
    """Postings grouped by the index of the entry that made them, in the order given."""
    grouped: dict[int, list[PostingRow]] = {}
    for posting in postings:
        grouped.setdefault(posting.idx, []).append(posting)
    return grouped


def leaderboard(session: Session, by: str, offset: int, limit: int) -> list[MemberFigures]:
    total = repo.total_reputation(session)
    rows = repo.ranked_members(session, by, offset, limit)
    seqs = repo.last_seqs(session, (row.member for row in rows))
    return [
        member_figures(
            session,
            row,
            total,
            rank=offset + i + 1,
            last_seq=seqs[row.member],
        )
        for i, row in enumerate(rows)
    ]


def _days_since(logged_at: str, now: datetime) -> int:
    return max(0, (now - parse_timestamp(logged_at)).days)


def contributions(
    session: Session, rows: Sequence[ContributionRow], now: datetime | None = None
) -> list[ContributionSummary]:
    now = now or datetime.now(UTC)
    total = repo.total_reputation(session)
    rules = algorithm(session)
    by_contribution: dict[str, list[EvaluationFigures]] = {row.id: [] for row in rows}
    for evaluation, reputation in repo.evaluations(session, [row.id for row in rows]):
        by_contribution[evaluation.contribution].append(
            EvaluationFigures(evaluation.evaluator, evaluation.value, evaluation.idx, reputation)
        )
    result = []
    for row in rows:
        evaluations = sorted(by_contribution[row.id], key=lambda e: e.index)
        weights, engaged = weights_of((e.value, e.reputation) for e in evaluations)
        q = contribution_quality(rules, weights, engaged, total)
        result.append(
            ContributionSummary(
                id=row.id,
                index=row.idx,
                author=row.author,
                title=row.title,
                type=row.type,
                logged_at=row.logged_at,
                max_score=row.max_score,
                fund=row.fund,
                total_reputation=total,
                engaged_reputation=engaged,
                weights=weights,
                quality=q,
                score=feed_score(q, _days_since(row.logged_at, now)),
                evaluations=tuple(evaluations),
            )
        )
    return result


def contribution(session: Session, cid: str) -> ContributionSummary:
    row = repo.contribution(session, cid)
    if row is None:
        raise NotFoundError(f"no contribution has id {cid[:16]}…")
    return contributions(session, [row])[0]


def ranked_contributions(
    session: Session, order_by: str, offset: int, limit: int
) -> list[ContributionSummary]:
    if order_by == "time":
        return contributions(session, repo.contributions(session, offset, limit, newest_first=True))
    # The feed score fades with age, so it cannot be indexed: rank every contribution's
    # quality from one aggregate query, then load the page.
    now = datetime.now(UTC)
    total = repo.total_reputation(session)
    rules = algorithm(session)
    weights = repo.weights(session)
    scored = []
    for row in repo.all_contributions(session):
        w = weights.get(row.id, {})
        q = contribution_quality(rules, w, sum(w.values()), total)
        scored.append((-feed_score(q, _days_since(row.logged_at, now)), -row.idx, row))
    scored.sort(key=lambda item: (item[0], item[1]))
    page = [row for _, _, row in scored[offset : offset + limit]]
    return contributions(session, page, now)


# --- the dashboard's small reads ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetworkStats:
    tree_size: int
    members: int
    contributions: int
    total_reputation: int
    state_root: str | None  # hex; None on a checkpoint signed before the state map


def stats(session: Session) -> NetworkStats:
    """The network's counts, all read from one state of the database, with its state root."""
    repo.snapshot(session)
    checkpoint = repo.latest_checkpoint(session)
    if checkpoint is None:
        raise NotFoundError("the log is empty")
    return NetworkStats(
        tree_size=int(checkpoint.tree_size),
        members=repo.member_count(session),
        contributions=repo.contribution_count(session),
        total_reputation=repo.total_reputation(session),
        state_root=None if checkpoint.state_root is None else bytes(checkpoint.state_root).hex(),
    )


def member_contributions(
    session: Session, key: str, offset: int, limit: int
) -> list[ContributionSummary]:
    """A member's own contributions with their figures, newest first."""
    if repo.member(session, key) is None:
        raise NotFoundError(f"{key[:16]}… is not a member of this network")
    return contributions(session, repo.member_contribution_page(session, key, offset, limit))


@dataclass(frozen=True, slots=True)
class MemberEvaluation:
    contribution: str
    title: str
    value: int
    index: int


def member_evaluations(
    session: Session, key: str, offset: int, limit: int
) -> list[MemberEvaluation]:
    """A member's current evaluations (a changed vote counts once, as it stands), newest first."""
    if repo.member(session, key) is None:
        raise NotFoundError(f"{key[:16]}… is not a member of this network")
    return [
        MemberEvaluation(row.id, row.title, evaluation.value, evaluation.idx)
        for evaluation, row in repo.member_evaluation_page(session, key, offset, limit)
    ]


@dataclass(frozen=True, slots=True)
class ContributionPoint:
    """A contribution's figures just after one entry that changed them: its submission, or
    one of its evaluations. Exact at this index; other entries move R and the evaluators'
    reputation, and so its quality, between one point and the next."""

    index: int
    kind: str
    logged_at: str
    evaluator: str | None
    value: int | None
    current: bool
    total_reputation: int
    weights: dict[int, int]
    quality: int
    max_score: int | None
    postings: tuple[PostingRow, ...]


@dataclass(frozen=True, slots=True)
class _Cast:
    index: int
    evaluator: str
    value: int
    logged_at: str


def _casts(session: Session, row: ContributionRow) -> list[_Cast]:
    casts = []
    for index, author, raw in repo.evaluation_leaves(session, row.id, row.idx):
        data, logged_at = stored_leaf(raw)
        body = data["body"]
        if data["kind"] == "evaluation.cast" and body["contribution"] == row.id:
            casts.append(_Cast(index, author, int(body["value"]), logged_at))
    return casts


def contribution_history(
    session: Session, cid: str, start: int, limit: int
) -> tuple[list[ContributionPoint], int | None]:
    """The points of a contribution's history at indexes >= start (at most `limit`), and the
    index of the next point, if any.

    Everything is derived from stored rows: the evaluation leaves give who voted what and
    when; `member_history` gives each evaluator's reputation before and after each vote (under
    backfeed/2 an evaluation weighs what its evaluator held at the contribution's submission,
    frozen at its first cast, which `evaluations` keeps);
    the reputation postings give R. W(c, v) and quality are `valuation`'s own functions of the
    figures after each vote. The maximum score, under backfeed/1, is carried by VALUATION.md's
    step 6 as `valuation.backfeed.next_max_score` states it (U / R with reputations as they
    stood before the vote), every earlier point walked over to reach `start`; under backfeed/2,
    whose score reads what no table holds, it is the one the append stored after each cast
    (`contribution_history`).
    """
    repo.snapshot(session)
    row = repo.contribution(session, cid)
    if row is None:
        raise NotFoundError(f"no contribution has id {cid[:16]}…")
    casts = _casts(session, row)
    indexes = [row.idx] + [cast.index for cast in casts]
    wanted = [i for i in indexes if i >= start]
    page, more = wanted[:limit], wanted[limit:]
    following = more[0] if more else None
    if not page:
        return [], following
    end = page[-1]
    latest = {cast.evaluator: cast.index for cast in casts}
    casts = [cast for cast in casts if cast.index <= end]
    keys = {cast.evaluator for cast in casts}

    submitted = row.idx
    size = repo.tree_size(session)
    # R after the submission, from the shorter side of the log.
    if submitted + 1 <= size // 2:
        total = repo.reputation_posted(session, 0, submitted + 1)
    else:
        total = repo.total_reputation(session) - repo.reputation_posted(session, submitted + 1)
    at_casts = repo.reputation_posted_at(session, [cast.index for cast in casts])
    reputation = repo.reputations_before(session, keys, submitted + 1)
    # backfeed/2: each evaluation weighs what its evaluator held at the submission, frozen at
    # its first cast (empty on backfeed/1, where it weighs its evaluator's reputation as it
    # stands at each point).
    frozen = repo.frozen_weights(session, cid)
    rules = valuation.ALGORITHMS[algorithm(session)]
    stored = repo.score_history(session, cid, end) if rules.stores_score_history else None

    def weight(key: str) -> int:
        return frozen[key] if key in frozen else reputation[key]

    history = list(repo.history_between(session, keys, submitted + 1, end))
    shown = set(page)
    postings = by_index(p for p in repo.postings_at(session, page) if p.contribution == cid)

    points = []
    if submitted in shown:
        points.append(
            ContributionPoint(
                index=submitted,
                kind="contribution.submit",
                logged_at=row.logged_at,
                evaluator=None,
                value=None,
                current=True,
                total_reputation=total,
                weights={},
                quality=0,
                max_score=None,
                postings=tuple(postings.get(submitted, ())),
            )
        )
    current: dict[str, int] = {}
    best: int | None = None
    position = 0
    previous = submitted
    for cast in casts:
        # Figures just before the vote: the evaluators' reputation and R.
        while position < len(history) and history[position].idx < cast.index:
            reputation[history[position].member] = history[position].reputation
            position += 1
        if cast.index > previous + 1:
            total += repo.reputation_posted(session, previous + 1, cast.index)
        current.pop(cast.evaluator, None)
        current[cast.evaluator] = cast.value
        if stored is not None:
            best = stored.get(cast.index, best)  # a missing row: `multitude check` names it
        elif cast.value != 0:
            upon_one = weights_of((v, weight(k)) for k, v in current.items())[0].get(1, 0)
            best = next_max_score(best, cast.value, upon_one, total)
        # Figures just after it.
        while position < len(history) and history[position].idx == cast.index:
            reputation[history[position].member] = history[position].reputation
            position += 1
        total += at_casts[cast.index]
        previous = cast.index
        if cast.index not in shown:
            continue
        weights, engaged = weights_of((v, weight(k)) for k, v in current.items())
        points.append(
            ContributionPoint(
                index=cast.index,
                kind="evaluation.cast",
                logged_at=cast.logged_at,
                evaluator=cast.evaluator,
                value=cast.value,
                current=latest[cast.evaluator] == cast.index,
                total_reputation=total,
                weights=dict(sorted(weights.items())),
                quality=contribution_quality(rules.name, weights, engaged, total),
                max_score=best,
                postings=tuple(postings.get(cast.index, ())),
            )
        )
    return points, following
