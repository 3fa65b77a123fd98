"""Fewer and smaller indexes written per leaf, so that appends stay fast as the log grows.

An entry id is a SHA-256: each new leaf lands at a random place of an index on it. Once that
index is far larger than one batch, every leaf of a batch dirties a page of its own (with its
splits, 1,400 pages of the 4,000 a batch of 1,000 wrote at 10^6 leaves), and the WAL, its
fsync and its checkpoints grow with the log. Two changes:

- `UNIQUE (entry_id)` becomes a plain index on the id's first 16 hex digits
  (`ix_leaves_entry_prefix`): a lookup by id reads the index on the prefix and compares the
  whole id, and the index is a third of the size. Uniqueness is kept where it was already
  enforced: the id hashes the signed entry, which holds its author and seq, and
  `uq_leaves_author_seq` refuses a second leaf of one author and seq.
- On SQLite, `leaves.idx` becomes the table's rowid (`INTEGER PRIMARY KEY`): the log's order
  is the table's own, and the separate index SQLite kept for a BIGINT key is gone. That takes
  a copy of the table (about a minute at 10^6 leaves: run it with the servers stopped), with
  its append-only triggers made again. PostgreSQL keeps its BIGINT key (its heap has no such
  second index).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# As `ledger.models.leaf_prefix`: literal constants, so that SQLite matches a query's
# expression with the index's.
_PREFIX = sa.text("substr(entry_id, 1, 16)")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for unique in sa.inspect(bind).get_unique_constraints("leaves"):
            if unique["column_names"] == ["entry_id"]:
                op.drop_constraint(unique["name"], "leaves", type_="unique")
    else:
        _rebuild_sqlite_leaves(rowid=True)
    op.create_index("ix_leaves_entry_prefix", "leaves", [_PREFIX])


def downgrade() -> None:
    op.drop_index("ix_leaves_entry_prefix", table_name="leaves")
    if op.get_bind().dialect.name == "postgresql":
        op.create_unique_constraint("leaves_entry_id_key", "leaves", ["entry_id"])
    else:
        _rebuild_sqlite_leaves(rowid=False)


def _rebuild_sqlite_leaves(*, rowid: bool) -> None:
    """Copy `leaves` into a table with `idx` as its rowid (or, going back, as 0001 made it),
    in log order, and make its triggers again."""
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER leaves_no_{action}")
    constraints: list[sa.Constraint] = [
        sa.PrimaryKeyConstraint("idx"),
        sa.UniqueConstraint("author", "seq", name="uq_leaves_author_seq"),
    ]
    if not rowid:
        constraints.append(sa.UniqueConstraint("entry_id"))
    op.create_table(
        "leaves_new",
        sa.Column(
            "idx", sa.Integer() if rowid else sa.BigInteger(), autoincrement=False, nullable=False
        ),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("logged_at", sa.String(32), nullable=False),
        *constraints,
    )
    columns = "idx, entry_id, leaf_hash, leaf, author, seq, kind, logged_at"
    op.execute(f"INSERT INTO leaves_new ({columns}) SELECT {columns} FROM leaves ORDER BY idx")
    op.drop_table("leaves")
    op.rename_table("leaves_new", "leaves")
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER leaves_no_{action.lower()} BEFORE {action} ON leaves "
            f"BEGIN SELECT RAISE(ABORT, 'leaves is append-only: {action} refused'); END"
        )
