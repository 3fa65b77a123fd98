"""Checkpoints carry the state map's root (SPEC sections 4 and 5) instead of the state digest.

`state_root` is the root of the state map at the checkpoint's size, also written in the signed
body as its `state` extension line. `digest` becomes nullable: checkpoints signed before this
revision keep theirs, and stay valid as they are; new ones have none. SQLite cannot drop a NOT
NULL constraint in place, so there the table is rebuilt, with its append-only triggers set
aside for that one copy and made again, inside the migration's transaction.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = "tree_size, root_hash, note, digest, total_reputation"


def _sqlite_rebuild(digest_null: str, with_state_root: bool) -> None:
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER checkpoints_no_{action}")
    state_root = ", state_root BLOB" if with_state_root else ""
    op.execute(
        "CREATE TABLE checkpoints_rebuilt (tree_size BIGINT NOT NULL, root_hash BLOB NOT NULL, "
        f"note TEXT NOT NULL, digest VARCHAR(64) {digest_null}, total_reputation BIGINT"
        f"{state_root}, PRIMARY KEY (tree_size))"
    )
    op.execute(f"INSERT INTO checkpoints_rebuilt ({_COLUMNS}) SELECT {_COLUMNS} FROM checkpoints")
    op.execute("DROP TABLE checkpoints")
    op.execute("ALTER TABLE checkpoints_rebuilt RENAME TO checkpoints")
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER checkpoints_no_{action.lower()} BEFORE {action} ON checkpoints "
            f"BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only: {action} refused'); END"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("checkpoints", sa.Column("state_root", sa.LargeBinary(32), nullable=True))
        op.alter_column("checkpoints", "digest", existing_type=sa.String(64), nullable=True)
    else:
        _sqlite_rebuild("NULL", with_state_root=True)


def downgrade() -> None:
    bind = op.get_bind()
    newer = bind.execute(sa.text("SELECT count(*) FROM checkpoints WHERE digest IS NULL")).scalar()
    if newer:
        raise RuntimeError(
            f"{newer} checkpoints carry a state root and no digest: a log signed with state "
            "roots cannot go back to revision 0004"
        )
    if bind.dialect.name == "postgresql":
        op.alter_column("checkpoints", "digest", existing_type=sa.String(64), nullable=False)
        op.drop_column("checkpoints", "state_root")
    else:
        _sqlite_rebuild("NOT NULL", with_state_root=False)
