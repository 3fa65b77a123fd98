"""The database schema, as SQLAlchemy 2 models. Alembic (`migrations/`) is the only way it changes.

Two kinds of table. Logged rows (`leaves`, `tree_nodes`, `checkpoints`, `postings`,
`member_history`) are append-only: triggers refuse UPDATE and DELETE on them. Figure rows
(`members`, `contributions`, `evaluations`, `contribution_history`) hold figures that valuation
derives from the log, so that reads are index lookups; they are written inside the append
transaction (`contribution_history` is only ever added to), and `multitude check` compares them
with a replay. Amounts are BIGINT units of 10^-9 point.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

APPEND_ONLY_TABLES = ("leaves", "tree_nodes", "checkpoints", "postings", "member_history")


class Base(DeclarativeBase):
    pass


class LeafRow(Base):
    __tablename__ = "leaves"
    __table_args__ = (UniqueConstraint("author", "seq", name="uq_leaves_author_seq"),)

    # On SQLite, INTEGER PRIMARY KEY: the table's rowid, so the log's order is the table's own
    # and no second index holds it (migration 0008).
    idx: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    # Unique as `(author, seq)` is, which the id hashes; looked up by `leaf_prefix`.
    entry_id: Mapped[str] = mapped_column(String(64))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    author: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    logged_at: Mapped[str] = mapped_column(String(32))


# An entry id's first 16 hex digits, the key of its index (migration 0008): a third the size of
# an index on the whole id, which every leaf writes at a random place. The constants are
# literal so that SQLite matches a query's expression with the index's.
leaf_prefix = func.substr(LeafRow.entry_id, literal_column("1"), literal_column("16"))
Index("ix_leaves_entry_prefix", leaf_prefix)


def entry_prefix(entry_id: str) -> str:
    """The value of `leaf_prefix` for this id."""
    return entry_id[:16]


class TreeNodeRow(Base):
    """A completed subtree: covers leaves [idx * 2^level, (idx + 1) * 2^level). Level 1 and up:
    a leaf's own hash (level 0) is its `leaves.leaf_hash`."""

    __tablename__ = "tree_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CheckpointRow(Base):
    __tablename__ = "checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    # The state digest of checkpoints signed before migration 0005; None on later ones.
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # R at this size (None on checkpoints written before migration 0002).
    total_reputation: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The state map's root at this size, as the note's `state` line says (migration 0005).
    state_root: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)


class MemberRow(Base):
    __tablename__ = "members"

    member: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    referrer: Mapped[str | None] = mapped_column(String(64))
    reputation: Mapped[int] = mapped_column(BigInteger)
    tokens: Mapped[int] = mapped_column(BigInteger)
    joined_idx: Mapped[int] = mapped_column(BigInteger)


# In ranking order (figure descending, then key), so that a leaderboard page is read off the index
# and a rank is two counts over it.
Index("ix_members_reputation_member", MemberRow.reputation.desc(), MemberRow.member)
Index("ix_members_tokens_member", MemberRow.tokens.desc(), MemberRow.member)


class ContributionRow(Base):
    __tablename__ = "contributions"
    __table_args__ = (Index("ix_contributions_idx", "idx"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger)
    author: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    logged_at: Mapped[str] = mapped_column(String(32))
    max_score: Mapped[int | None] = mapped_column(BigInteger)
    fund: Mapped[int] = mapped_column(BigInteger)


class EvaluationRow(Base):
    """A member's current evaluation of a contribution (a changed vote replaces the row)."""

    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_evaluator", "evaluator"),)

    contribution: Mapped[str] = mapped_column(String(64), primary_key=True)
    evaluator: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
    idx: Mapped[int] = mapped_column(BigInteger)
    # backfeed/2: the weight frozen at the evaluator's first cast (migration 0006). None under
    # backfeed/1, where an evaluation weighs its evaluator's current reputation.
    weight: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ContributionHistoryRow(Base):
    """A contribution's maximum score just after an evaluation cast on it, under an algorithm
    whose score reads figures no other table holds (`valuation.Algorithm.stores_score_history`:
    backfeed/2, migration 0007). None of it under backfeed/1, whose history recomputes it."""

    __tablename__ = "contribution_history"

    contribution: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    max_score: Mapped[int | None] = mapped_column(BigInteger)


class PostingRow(Base):
    """One change to one member's figure at one log index, with its cause."""

    __tablename__ = "postings"
    __table_args__ = (Index("ix_postings_member_idx", "member", "idx"),)

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    member: Mapped[str] = mapped_column(String(64))
    asset: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    cause: Mapped[str] = mapped_column(String(32))
    contribution: Mapped[str | None] = mapped_column(String(64))
    evaluator: Mapped[str | None] = mapped_column(String(64))


class MemberHistoryRow(Base):
    """A member's figures after a log index that changed them."""

    __tablename__ = "member_history"
    __table_args__ = (Index("ix_member_history_idx", "idx"),)

    member: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    reputation: Mapped[int] = mapped_column(BigInteger)
    tokens: Mapped[int] = mapped_column(BigInteger)
