"""The log, its tree and checkpoints, and the figures valuation derives from it.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("leaves", "tree_nodes", "checkpoints", "postings", "member_history")


def upgrade() -> None:
    op.create_table(
        "leaves",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("logged_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("idx"),
        sa.UniqueConstraint("entry_id"),
        sa.UniqueConstraint("author", "seq", name="uq_leaves_author_seq"),
    )
    op.create_table(
        "tree_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("tree_size"),
    )
    op.create_table(
        "members",
        sa.Column("member", sa.String(64), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("referrer", sa.String(64), nullable=True),
        sa.Column("reputation", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("joined_idx", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("member"),
    )
    op.create_index("ix_members_reputation", "members", ["reputation"])
    op.create_index("ix_members_tokens", "members", ["tokens"])
    op.create_table(
        "contributions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("logged_at", sa.String(32), nullable=False),
        sa.Column("max_score", sa.BigInteger(), nullable=True),
        sa.Column("fund", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contributions_idx", "contributions", ["idx"])
    op.create_table(
        "evaluations",
        sa.Column("contribution", sa.String(64), nullable=False),
        sa.Column("evaluator", sa.String(64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("contribution", "evaluator"),
    )
    op.create_index("ix_evaluations_evaluator", "evaluations", ["evaluator"])
    op.create_table(
        "postings",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("member", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("cause", sa.String(32), nullable=False),
        sa.Column("contribution", sa.String(64), nullable=True),
        sa.Column("evaluator", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("idx", "n"),
    )
    op.create_index("ix_postings_member_idx", "postings", ["member", "idx"])
    op.create_table(
        "member_history",
        sa.Column("member", sa.String(64), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("reputation", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("member", "idx"),
    )
    op.create_index("ix_member_history_idx", "member_history", ["idx"])

    # Logged rows are append-only, whoever connects: the database itself refuses to change them.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION multitude_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION multitude_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION multitude_append_only()"
            )
    else:
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
                )


def downgrade() -> None:
    raise NotImplementedError("the log is append-only: there is no way back from its schema")
