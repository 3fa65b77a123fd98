"""A leaf's own hash is stored once, in `leaves.leaf_hash`: `tree_nodes` keeps the nodes above
the leaves (level 1 and up), and proofs read level 0 from `leaves`. The level-0 rows an older
log holds are copies of `leaf_hash` and are removed (the append-only trigger is set aside for
that one statement, inside the migration's transaction).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tree_nodes DISABLE TRIGGER tree_nodes_append_only")
        op.execute("DELETE FROM tree_nodes WHERE level = 0")
        op.execute("ALTER TABLE tree_nodes ENABLE TRIGGER tree_nodes_append_only")
    else:
        op.execute("DROP TRIGGER tree_nodes_no_delete")
        op.execute("DELETE FROM tree_nodes WHERE level = 0")
        op.execute(
            "CREATE TRIGGER tree_nodes_no_delete BEFORE DELETE ON tree_nodes "
            "BEGIN SELECT RAISE(ABORT, 'tree_nodes is append-only: DELETE refused'); END"
        )


def downgrade() -> None:
    op.execute("INSERT INTO tree_nodes (level, idx, hash) SELECT 0, idx, leaf_hash FROM leaves")
