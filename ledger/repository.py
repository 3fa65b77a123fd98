"""The queries of the log, its figures and the dashboards' reads: services ask, this module
speaks SQL, and does nothing else.

Two kinds of SQL live elsewhere, on purpose: the bulk writes of an append, which take the
dialect's fastest path (`ledger.rowstream`), and `multitude check`, which streams every table
against a replay in its own order (`ledger.check`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, and_, bindparam, func, select, text
from sqlalchemy.orm import Session

from ledger.merkle import NodeId, StoredNode
from ledger.models import (
    CheckpointRow,
    ContributionHistoryRow,
    ContributionRow,
    EvaluationRow,
    LeafRow,
    MemberHistoryRow,
    MemberRow,
    PostingRow,
    entry_prefix,
    leaf_prefix,
)

T = TypeVar("T", str, int)

_IN_CHUNK = 500  # values in one `IN (...)` list, well below SQLite's limit of host parameters


def _in_chunks(values: Iterable[T]) -> Iterator[list[T]]:
    """The distinct values in sorted order, a chunk at a time: one `IN (...)` list each."""
    wanted = sorted(set(values))
    for start in range(0, len(wanted), _IN_CHUNK):
        yield wanted[start : start + _IN_CHUNK]


# --- the log ------------------------------------------------------------------------------


# The log's last index (its size, less one), as text: an append asks it under the ordering lock,
# in the same round trip (`ledger.db.write_transaction`).
LAST_INDEX = "SELECT max(idx) FROM leaves"


def size_after(last_index: int | None) -> int:
    """The log's size, from its last index (None: the log is empty)."""
    return 0 if last_index is None else int(last_index) + 1


def tree_size(session: Session) -> int:
    # On the connection, past the ORM: asked at the start of every append.
    return size_after(session.connection().exec_driver_sql(LAST_INDEX).scalar())


def last_leaf(session: Session) -> LeafRow | None:
    return session.scalars(select(LeafRow).order_by(LeafRow.idx.desc()).limit(1)).first()


def leaf_at(session: Session, index: int) -> LeafRow | None:
    return session.get(LeafRow, index)


def leaf_by_entry_id(session: Session, entry_id: str) -> LeafRow | None:
    # Read off the index on the id's prefix; the whole id is compared here, not in SQL, where
    # SQLite would put the id for the column in the prefix's expression and scan the table.
    rows = session.scalars(select(LeafRow).where(leaf_prefix == entry_prefix(entry_id)))
    return next((row for row in rows if row.entry_id == entry_id), None)


def leaves(session: Session, start: int, limit: int) -> Sequence[LeafRow]:
    query = select(LeafRow).where(LeafRow.idx >= start).order_by(LeafRow.idx).limit(limit)
    return session.scalars(query).all()


def leaf_bytes_between(
    session: Session, start: int, end: int, chunk: int = 2000
) -> Iterator[bytes]:
    """The exact leaf bytes of [start, end), in log order, fetched a chunk at a time."""
    position = start
    while position < end:
        upper = min(end, position + chunk)
        query = (
            select(LeafRow.leaf)
            .where(LeafRow.idx >= position, LeafRow.idx < upper)
            .order_by(LeafRow.idx)
        )
        rows = session.scalars(query).all()
        yield from rows
        position = upper


def leaf_rows_between(
    session: Session, start: int, end: int, chunk: int = 2000
) -> Iterator[tuple[int, str, bytes]]:
    """(index, entry id, leaf bytes) of [start, end), in log order, a chunk at a time."""
    position = start
    while position < end:
        upper = min(end, position + chunk)
        query = (
            select(LeafRow.idx, LeafRow.entry_id, LeafRow.leaf)
            .where(LeafRow.idx >= position, LeafRow.idx < upper)
            .order_by(LeafRow.idx)
        )
        for idx, entry_id, leaf in session.execute(query):
            yield int(idx), str(entry_id), bytes(leaf)
        position = upper


def last_seq(session: Session, author: str) -> int:
    value = session.scalar(select(func.max(LeafRow.seq)).where(LeafRow.author == author))
    return 0 if value is None else int(value)


def last_seqs(session: Session, authors: Iterable[str]) -> dict[str, int]:
    """Each author's last seq (0 for an author that never signed), in one query."""
    found = dict.fromkeys(sorted(set(authors)), 0)
    for chunk in _in_chunks(found):
        query = (
            select(LeafRow.author, func.max(LeafRow.seq))
            .where(LeafRow.author.in_(chunk))
            .group_by(LeafRow.author)
        )
        for author, seq in session.execute(query):
            found[str(author)] = int(seq)
    return found


def entry_index(session: Session, entry_id: str) -> int | None:
    """The index of this entry if it is in the log."""
    query = select(LeafRow.idx, LeafRow.entry_id).where(leaf_prefix == entry_prefix(entry_id))
    return next((int(idx) for idx, found in session.execute(query) if found == entry_id), None)


def nodes(session: Session, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
    """The stored hashes of these tree nodes, in one query: level 0 is each leaf's own
    `leaf_hash`, the levels above are `tree_nodes`.

    Written as `(level = l AND idx IN (...)) OR ...` rather than a row-value IN, which SQLite
    answers with a scan of the whole table; this form is an index search per level on both.
    The SQL is written here, with bound parameters, rather than built as expressions: a proof
    asks for a different set of levels each time, so the expression would be compiled anew
    for every request, which cost more than the query itself."""
    by_level: dict[int, list[int]] = {}
    for level, idx in set(ids):
        by_level.setdefault(level, []).append(idx)
    params: dict[str, int] = {}

    def bind(values: Iterable[int]) -> str:
        names = []
        for value in values:
            name = f"p{len(params)}"
            params[name] = value
            names.append(f":{name}")
        return ", ".join(names)

    parts = []
    leaves = sorted(by_level.pop(0, ()))
    if leaves:
        parts.append(f"SELECT 0, idx, leaf_hash FROM leaves WHERE idx IN ({bind(leaves)})")
    if by_level:
        levels = " OR ".join(
            f"(level = {int(level)} AND idx IN ({bind(sorted(idxs))}))"
            for level, idxs in sorted(by_level.items())
        )
        parts.append(f"SELECT level, idx, hash FROM tree_nodes WHERE {levels}")
    if not parts:
        return {}
    rows = session.connection().execute(text(" UNION ALL ".join(parts)), params)
    return {(int(level), int(idx)): bytes(digest) for level, idx, digest in rows}


def stored_nodes(completed: Iterable[StoredNode]) -> list[StoredNode]:
    """Of the nodes an append completes, those `tree_nodes` keeps: the ones above the leaves
    (a leaf's own hash, level 0, is its `leaf_hash`; see `nodes`)."""
    return [node for node in completed if node[0]]


def latest_checkpoint(session: Session) -> CheckpointRow | None:
    query = select(CheckpointRow).order_by(CheckpointRow.tree_size.desc()).limit(1)
    return session.scalars(query).first()


def checkpoint_at(session: Session, size: int) -> CheckpointRow | None:
    return session.get(CheckpointRow, size)


_STATE_ROOTS = select(CheckpointRow.tree_size, CheckpointRow.state_root)
_LATEST_STATE_ROOT = _STATE_ROOTS.order_by(CheckpointRow.tree_size.desc()).limit(1)
_STATE_ROOT_AT = _STATE_ROOTS.where(CheckpointRow.tree_size == bindparam("size"))


def state_root(session: Session, size: int | None) -> tuple[int, bytes | None] | None:
    """(tree size, state root or None) of the checkpoint at `size`, or of the latest if None;
    None when there is no such checkpoint. On the connection, past the ORM: asked by every
    state proof."""
    query = _LATEST_STATE_ROOT if size is None else _STATE_ROOT_AT.params(size=size)
    row = session.connection().execute(query).first()
    if row is None:
        return None
    return int(row[0]), None if row[1] is None else bytes(row[1])


def checkpoint_row(
    size: int, root: bytes, note: str, state_root: bytes, total_reputation: int
) -> dict[str, Any]:
    """A new checkpoint's row, to be written with the append's other rows."""
    return {
        "tree_size": size,
        "root_hash": root,
        "note": note,
        "state_root": state_root,
        "total_reputation": total_reputation,
    }


def checkpoint_sizes(session: Session, low: int, high: int, last: int) -> list[int]:
    """The last `last` tree sizes in [low, high] that have a checkpoint, ascending."""
    query = (
        select(CheckpointRow.tree_size)
        .where(CheckpointRow.tree_size >= low, CheckpointRow.tree_size <= high)
        .order_by(CheckpointRow.tree_size.desc())
        .limit(last)
    )
    return sorted(int(size) for size in session.scalars(query))


# --- figures ------------------------------------------------------------------------------


def member(session: Session, key: str) -> MemberRow | None:
    return session.get(MemberRow, key)


def member_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(MemberRow)) or 0)


def total_reputation(session: Session) -> int:
    """R: as the latest checkpoint recorded it, else the sum over the members."""
    query = select(CheckpointRow.total_reputation).order_by(CheckpointRow.tree_size.desc())
    recorded = session.scalar(query.limit(1))
    if recorded is not None:
        return int(recorded)
    return int(session.scalar(select(func.coalesce(func.sum(MemberRow.reputation), 0))) or 0)


def rank(session: Session, row: MemberRow, by: str = "reputation") -> int:
    """1 + the members strictly ahead: higher figure, or equal figure and smaller key.

    Two counts over the (figure, member) index: the members above, and the tied ones before."""
    column = MemberRow.reputation if by == "reputation" else MemberRow.tokens
    value = row.reputation if by == "reputation" else row.tokens
    above = select(func.count()).select_from(MemberRow).where(column > value)
    tied_before = (
        select(func.count())
        .select_from(MemberRow)
        .where(column == value, MemberRow.member < row.member)
    )
    ahead = session.scalar(select(above.scalar_subquery() + tied_before.scalar_subquery()))
    return int(ahead or 0) + 1


def ranked_members(session: Session, by: str, offset: int, limit: int) -> Sequence[MemberRow]:
    column = MemberRow.reputation if by == "reputation" else MemberRow.tokens
    query: Select[tuple[MemberRow]] = (
        select(MemberRow).order_by(column.desc(), MemberRow.member).offset(offset).limit(limit)
    )
    return session.scalars(query).all()


def history(session: Session, key: str, start: int, limit: int) -> Sequence[MemberHistoryRow]:
    query = (
        select(MemberHistoryRow)
        .where(MemberHistoryRow.member == key, MemberHistoryRow.idx >= start)
        .order_by(MemberHistoryRow.idx)
        .limit(limit)
    )
    return session.scalars(query).all()


def history_of_leaves(session: Session, start: int, end: int) -> Sequence[MemberHistoryRow]:
    """Every history row of the entries at indexes [start, end), by index, then member."""
    query = select(MemberHistoryRow).where(
        MemberHistoryRow.idx >= start, MemberHistoryRow.idx < end
    )
    return session.scalars(query.order_by(MemberHistoryRow.idx, MemberHistoryRow.member)).all()


def postings(session: Session, key: str, start: int, end: int) -> Sequence[PostingRow]:
    query = (
        select(PostingRow)
        .where(PostingRow.member == key, PostingRow.idx >= start, PostingRow.idx < end)
        .order_by(PostingRow.idx, PostingRow.n)
    )
    return session.scalars(query).all()


def contribution(session: Session, cid: str) -> ContributionRow | None:
    return session.get(ContributionRow, cid)


def contributions(
    session: Session, offset: int, limit: int, newest_first: bool
) -> Sequence[ContributionRow]:
    order = ContributionRow.idx.desc() if newest_first else ContributionRow.idx
    query = select(ContributionRow).order_by(order).offset(offset).limit(limit)
    return session.scalars(query).all()


def all_contributions(session: Session) -> Sequence[ContributionRow]:
    return session.scalars(select(ContributionRow).order_by(ContributionRow.idx)).all()


def contribution_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ContributionRow)) or 0)


def _weight() -> Any:
    """An evaluation's weight: under backfeed/2 what its evaluator held when the contribution
    was submitted, frozen at its first cast; else its evaluator's reputation now (backfeed/1,
    whose rows hold no weight)."""
    return func.coalesce(EvaluationRow.weight, MemberRow.reputation)


def evaluations(session: Session, cids: Sequence[str]) -> Sequence[tuple[EvaluationRow, int]]:
    """Current evaluations of these contributions, each with its weight (`_weight`)."""
    query = (
        select(EvaluationRow, _weight())
        .join(MemberRow, MemberRow.member == EvaluationRow.evaluator)
        .where(EvaluationRow.contribution.in_(cids))
        .order_by(EvaluationRow.contribution, EvaluationRow.idx)
    )
    return [(row, int(rep)) for row, rep in session.execute(query).all()]


def frozen_weights(session: Session, cid: str) -> dict[str, int]:
    """The weight each evaluator of contribution `cid` froze at its first cast (backfeed/2:
    what it held at the submission of `cid`); empty under backfeed/1, whose rows hold none."""
    query = select(EvaluationRow.evaluator, EvaluationRow.weight).where(
        EvaluationRow.contribution == cid, EvaluationRow.weight.is_not(None)
    )
    return {str(key): int(weight) for key, weight in session.execute(query)}


def score_history(session: Session, cid: str, end: int) -> dict[int, int | None]:
    """The maximum score of contribution `cid` just after each cast on it at an index up to
    `end`, as stored for an algorithm whose score reads cannot recompute (backfeed/2)."""
    query = select(ContributionHistoryRow.idx, ContributionHistoryRow.max_score).where(
        ContributionHistoryRow.contribution == cid, ContributionHistoryRow.idx <= end
    )
    return {int(idx): None if best is None else int(best) for idx, best in session.execute(query)}


def weights(session: Session) -> dict[str, dict[int, int]]:
    """For every contribution: value -> W(c, value), the sum of the weights (`_weight`) of the
    evaluations now holding that value."""
    query = (
        select(EvaluationRow.contribution, EvaluationRow.value, func.sum(_weight()))
        .join(MemberRow, MemberRow.member == EvaluationRow.evaluator)
        .group_by(EvaluationRow.contribution, EvaluationRow.value)
    )
    result: dict[str, dict[int, int]] = {}
    for cid, value, total in session.execute(query):
        result.setdefault(str(cid), {})[int(value)] = int(total or 0)
    return result


# --- reads for the dashboard's pages -------------------------------------------------------


def snapshot(session: Session) -> None:
    """Make the rest of this read transaction see one state of the database.

    SQLite's read transaction is a snapshot already; PostgreSQL's default (READ COMMITTED) lets
    each statement see the appends committed meanwhile. Call before the session's first query.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))


def member_contribution_page(
    session: Session, key: str, offset: int, limit: int
) -> Sequence[ContributionRow]:
    """A member's own contributions, newest first."""
    query = (
        select(ContributionRow)
        .where(ContributionRow.author == key)
        .order_by(ContributionRow.idx.desc())
        .offset(offset)
        .limit(limit)
    )
    return session.scalars(query).all()


def member_evaluation_page(
    session: Session, key: str, offset: int, limit: int
) -> Sequence[tuple[EvaluationRow, ContributionRow]]:
    """A member's current evaluations, newest first, each with the contribution it is about."""
    query = (
        select(EvaluationRow, ContributionRow)
        .join(ContributionRow, ContributionRow.id == EvaluationRow.contribution)
        .where(EvaluationRow.evaluator == key)
        .order_by(EvaluationRow.idx.desc())
        .offset(offset)
        .limit(limit)
    )
    return [(evaluation, row) for evaluation, row in session.execute(query).all()]


def evaluation_leaves(session: Session, cid: str, after: int) -> Sequence[tuple[int, str, bytes]]:
    """(index, author, leaf bytes) of every evaluation.cast of contribution `cid`, in log order.

    No column holds an evaluation's contribution, so this scans the evaluation leaves after
    `after` (the contribution's own index) for the JCS bytes `"contribution":"<cid>"`: JCS
    writes that key without spaces and escapes every quote inside a string, so in an
    evaluation.cast the pattern matches its body's `contribution` only. Callers still parse.
    """
    needle = b'"contribution":"' + cid.encode("ascii") + b'"'
    # PostgreSQL matches bytea with LIKE; SQLite's LIKE reads a BLOB as no text, its instr does.
    found = (
        func.instr(LeafRow.leaf, needle) > 0
        if session.get_bind().dialect.name == "sqlite"
        else LeafRow.leaf.like(b"%" + needle + b"%")
    )
    query = (
        select(LeafRow.idx, LeafRow.author, LeafRow.leaf)
        .where(LeafRow.idx > after, LeafRow.kind == "evaluation.cast", found)
        .order_by(LeafRow.idx)
    )
    return [(int(idx), str(author), bytes(leaf)) for idx, author, leaf in session.execute(query)]


def reputations_before(session: Session, keys: Iterable[str], index: int) -> dict[str, int]:
    """Each member's reputation just before entry `index` (0 for one not yet a member then)."""
    found = dict.fromkeys(sorted(set(keys)), 0)
    for chunk in _in_chunks(found):
        last = (
            select(MemberHistoryRow.member, func.max(MemberHistoryRow.idx).label("idx"))
            .where(
                MemberHistoryRow.member.in_(chunk),
                MemberHistoryRow.idx < index,
            )
            .group_by(MemberHistoryRow.member)
            .subquery()
        )
        query = select(MemberHistoryRow.member, MemberHistoryRow.reputation).join(
            last,
            and_(MemberHistoryRow.member == last.c.member, MemberHistoryRow.idx == last.c.idx),
        )
        for key, reputation in session.execute(query):
            found[str(key)] = int(reputation)
    return found


def history_between(
    session: Session, keys: Iterable[str], start: int, end: int
) -> Sequence[MemberHistoryRow]:
    """These members' history rows at indexes [start, end], in log order."""
    rows: list[MemberHistoryRow] = []
    for chunk in _in_chunks(keys):
        query = select(MemberHistoryRow).where(
            MemberHistoryRow.member.in_(chunk),
            MemberHistoryRow.idx >= start,
            MemberHistoryRow.idx <= end,
        )
        rows.extend(session.scalars(query).all())
    rows.sort(key=lambda row: (row.idx, row.member))
    return rows


def reputation_posted(session: Session, start: int, end: int | None = None) -> int:
    """The sum of reputation postings at indexes [start, end) (to the end of the log if None):
    the change of the network's total reputation R over those entries."""
    query = select(func.coalesce(func.sum(PostingRow.amount), 0)).where(
        PostingRow.asset == "reputation", PostingRow.idx >= start
    )
    if end is not None:
        query = query.where(PostingRow.idx < end)
    return int(session.scalar(query) or 0)


def postings_at(session: Session, indexes: Sequence[int]) -> Sequence[PostingRow]:
    """Every posting at these log indexes, in log order."""
    rows: list[PostingRow] = []
    for chunk in _in_chunks(indexes):
        query = select(PostingRow).where(PostingRow.idx.in_(chunk))
        rows.extend(session.scalars(query.order_by(PostingRow.idx, PostingRow.n)).all())
    return rows


def reputation_posted_at(session: Session, indexes: Sequence[int]) -> dict[int, int]:
    """For each of these log indexes, the sum of its reputation postings (0 when none)."""
    found = dict.fromkeys(sorted(set(indexes)), 0)
    for chunk in _in_chunks(found):
        query = (
            select(PostingRow.idx, func.sum(PostingRow.amount))
            .where(PostingRow.asset == "reputation", PostingRow.idx.in_(chunk))
            .group_by(PostingRow.idx)
        )
        for idx, total in session.execute(query):
            found[int(idx)] = int(total or 0)
    return found
