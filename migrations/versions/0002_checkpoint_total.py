"""Each checkpoint also records R, the total reputation at its size, so that reads of influence
and quality need not sum every member's reputation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: checkpoints written before this revision keep no total (reads sum instead).
    op.add_column("checkpoints", sa.Column("total_reputation", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), not a batch table copy, which would lose the table's
    # append-only triggers.
    op.drop_column("checkpoints", "total_reputation")
