"""A contribution's maximum score after each cast on it, for algorithms whose score reads cannot
recompute; and the backfeed/2 figures an older schema lacks, computed by replaying the log.

Under backfeed/2 a score divides by D(c), the reputation that can weigh on the contribution,
which holds its author's pending claims: no table holds those, so the history of a contribution
(`GET /v1/contributions/{id}/history`) cannot recompute its maximum score from stored rows as it
does under backfeed/1. The append path now writes it, one `contribution_history` row per
`evaluation.cast` (`valuation.Algorithm.stores_score_history`).

A backfeed/2 log written before this revision has no such rows, and one written before 0006 has
NULL `evaluations.weight`, which reads would take for the evaluator's reputation now. For such a
log the upgrade replays the leaves with `valuation`, as the server does when it starts, and
writes both: the rows of every cast and every missing frozen weight. A backfeed/1 log is left as
it is (its history recomputes the score; its evaluations weigh their evaluator's reputation now).
On a large backfeed/2 log this takes the time of a replay: run it with the servers stopped.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

import valuation
from ledger.entries import event, stored_leaf

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_CHUNK = 20_000  # leaves read at once, and rows written at once


def upgrade() -> None:
    op.create_table(
        "contribution_history",
        sa.Column("contribution", sa.String(64), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("max_score", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("contribution", "idx"),
    )
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table("contribution_history")


def backfill(conn: sa.Connection) -> None:
    """Write what a log of an algorithm that stores its score history lacks: the rows of
    `contribution_history` and the frozen weights left NULL (both computed by a replay)."""
    genesis = conn.execute(sa.text("SELECT leaf FROM leaves WHERE idx = 0")).scalar()
    if genesis is None:
        return
    data, _ = stored_leaf(bytes(genesis))
    algorithm = valuation.algorithm_named(data["body"].get("valuation"))
    if not algorithm.stores_score_history:
        return
    state = valuation.new_state()
    rows: list[dict[str, Any]] = []
    insert = sa.text(
        "INSERT INTO contribution_history (contribution, idx, max_score) VALUES (:c, :i, :m)"
    )
    for index, entry_id, data, logged_at in _leaves(conn):
        valuation.apply(state, event(index, entry_id, data, logged_at))
        if data["kind"] != "evaluation.cast":
            continue
        cid = str(data["body"]["contribution"])
        view = state.contribution(cid)
        assert view is not None
        rows.append({"c": cid, "i": index, "m": view.max_score})
        if len(rows) == _CHUNK:
            conn.execute(insert, rows)
            rows = []
    if rows:
        conn.execute(insert, rows)
    missing = conn.execute(
        sa.text("SELECT contribution, evaluator FROM evaluations WHERE weight IS NULL")
    ).all()
    weights = [
        {"c": cid, "e": evaluator, "w": state.frozen_weight(cid, evaluator)}
        for cid, evaluator in missing
    ]
    update = sa.text(
        "UPDATE evaluations SET weight = :w WHERE contribution = :c AND evaluator = :e"
    )
    for start in range(0, len(weights), _CHUNK):
        conn.execute(update, weights[start : start + _CHUNK])


def _leaves(conn: sa.Connection) -> Iterator[tuple[int, str, dict[str, Any], str]]:
    """Every leaf in log order as (index, entry id, signed entry, logged_at), a chunk at a time."""
    start = 0
    query = sa.text(
        "SELECT idx, entry_id, leaf FROM leaves WHERE idx >= :a AND idx < :b ORDER BY idx"
    )
    while True:
        chunk = conn.execute(query, {"a": start, "b": start + _CHUNK}).all()
        if not chunk:
            return
        for idx, entry_id, raw in chunk:
            data, logged_at = stored_leaf(bytes(raw))
            yield int(idx), str(entry_id), data, logged_at
        start += _CHUNK
