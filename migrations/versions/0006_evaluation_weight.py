"""Each evaluation row keeps the weight its algorithm gave it, when that weight is frozen.

Under backfeed/2 an evaluation weighs what its evaluator's reputation was at its first cast
(docs/valuation/backfeed2.md), which no other table holds: the append path writes it here, so
that reads of W(c, v) and quality need not replay the log. Under backfeed/1 an evaluation weighs
its evaluator's current reputation, and the column stays NULL. `evaluations` is a figure table,
not an append-only one: no trigger is involved.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: NULL under backfeed/1, where the weight is the evaluator's reputation now.
    op.add_column("evaluations", sa.Column("weight", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), as 0002 does.
    op.drop_column("evaluations", "weight")
