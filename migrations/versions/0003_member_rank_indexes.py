"""Members are ranked by figure (descending), then key: index both in that order, so that a
leaderboard page is read off the index and a rank is two counts over it (ties included, which
are common: newcomers share their starting figures).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_members_reputation", table_name="members")
    op.drop_index("ix_members_tokens", table_name="members")
    op.create_index(
        "ix_members_reputation_member", "members", [sa.text("reputation DESC"), "member"]
    )
    op.create_index("ix_members_tokens_member", "members", [sa.text("tokens DESC"), "member"])


def downgrade() -> None:
    op.drop_index("ix_members_reputation_member", table_name="members")
    op.drop_index("ix_members_tokens_member", table_name="members")
    op.create_index("ix_members_reputation", "members", ["reputation"])
    op.create_index("ix_members_tokens", "members", ["tokens"])
