"""Migrations: a log written under an older schema is upgraded in place and reads the same."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from nacl.signing import SigningKey
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

import valuation
from ledger import checkpoint as cp
from ledger import reads
from ledger import repository as repo
from ledger.appender import event_of
from ledger.db import alembic_config, read_session, upgrade
from ledger.entries import parse_leaf
from ledger.errors import ConflictError, NotFoundError
from ledger.models import CheckpointRow
from ledger.service import Ledger
from tests.helpers import Signer, new_ledger
from valuation import statemap


def _at(engine: Engine, revision: str, downgrade: bool = False) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if downgrade else command.upgrade)(config, revision)


def _as_signed_before_the_state_map(ledger: Ledger) -> None:
    """Make every checkpoint what a log signed before migration 0005 stored: a note without the
    `state` line and the state digest of its size, no state root (the triggers set aside for
    that one rewrite, and made again as 0001 made them)."""
    engine = ledger.engine
    verifier = cp.parse_verifier_key(ledger.network().verifier_key)
    with read_session(engine) as session:
        rows = [(r.tree_size, r.note) for r in session.scalars(select(CheckpointRow))]
        leaves = [
            bytes(raw) for _, _, raw in repo.leaf_rows_between(session, 0, repo.tree_size(session))
        ]
    assert ledger._log_key is not None
    with engine.begin() as conn:
        sqlite = engine.dialect.name != "postgresql"
        if sqlite:
            for action in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER checkpoints_no_{action}"))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        for size, note in rows:
            signed = cp.open_checkpoint(note, verifier)
            old = cp.Checkpoint(signed.origin, signed.size, signed.root_hash)
            state = valuation.replay(
                event_of(leaf.entry, index, leaf.logged_at)
                for index, leaf in enumerate(parse_leaf(raw, verify=False) for raw in leaves[:size])
            )
            conn.execute(
                text(
                    "UPDATE checkpoints SET note = :n, digest = :d, state_root = NULL "
                    "WHERE tree_size = :s"
                ),
                {
                    "n": cp.sign_checkpoint(old, ledger._log_key),
                    "d": valuation.digest(state),
                    "s": size,
                },
            )
        if sqlite:
            for action in ("UPDATE", "DELETE"):
                conn.execute(
                    text(
                        f"CREATE TRIGGER checkpoints_no_{action.lower()} BEFORE {action} ON "
                        f"checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only: "
                        f"{action} refused'); END"
                    )
                )


def test_a_log_from_the_first_schema_upgrades_and_reads_the_same(engine: Engine) -> None:
    ledger = new_ledger(engine, SigningKey.generate())
    ann, bob = Signer(), Signer()
    ledger.append([ann.join("Ann"), bob.join("Bob"), ann.submit("work")])
    _as_signed_before_the_state_map(ledger)
    with read_session(engine) as session:
        before = [reads.member(session, key) for key in (ann.public, bob.public)]
        board = reads.leaderboard(session, "reputation", 0, 10)
    _at(engine, "0001", downgrade=True)  # checkpoints without R, single-column indexes
    upgrade(engine)
    with read_session(engine) as session:
        assert repo.total_reputation(session) == ledger.replayed_state().total_reputation
        assert [reads.member(session, key) for key in (ann.public, bob.public)] == before
        assert reads.leaderboard(session, "reputation", 0, 10) == board
    # The logged rows are still append-only.
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE checkpoints SET total_reputation = 1"))
    # Appends go on, and their checkpoints record R again.
    again = Ledger(engine, ledger._log_key)
    again.append([bob.submit("more")])
    with read_session(engine) as session:
        assert repo.latest_checkpoint(session) is not None
        assert repo.latest_checkpoint(session).total_reputation == (  # type: ignore[union-attr]
            again.replayed_state().total_reputation
        )


def test_leaf_level_nodes_of_an_older_log_are_dropped_and_proofs_read_the_leaves(
    engine: Engine,
) -> None:
    from ledger import merkle
    from ledger.check import check

    ledger = new_ledger(engine, SigningKey.generate())
    members = [Signer() for _ in range(11)]
    ledger.append([m.join(f"m{i}") for i, m in enumerate(members)])
    _as_signed_before_the_state_map(ledger)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM tree_nodes WHERE level = 0")) == 0
    _at(engine, "0003", downgrade=True)  # the schema that stored each leaf's hash twice
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM tree_nodes WHERE level = 0")) == 12
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM tree_nodes WHERE level = 0")) == 0
        hashes = [bytes(h) for h in conn.scalars(text("SELECT leaf_hash FROM leaves ORDER BY idx"))]
    # Still append-only, and whole: proofs of every size hold, and the check passes.
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM tree_nodes"))
    again = Ledger(engine, ledger._log_key)
    again.append([members[0].submit("more")])
    hashes.append(merkle.leaf_hash(next(again.leaf_bytes(12, 1))))
    for size in range(1, 14):
        root = merkle.root(hashes[:size])
        assert again.root_at(size) == root
        for index in range(size):
            merkle.verify_inclusion(
                hashes[index], index, size, again.inclusion_proof(index, size), root
            )
    assert check(engine).nodes == 13 - (13).bit_count()


def test_checkpoints_signed_before_the_state_map_stay_valid_and_new_ones_carry_a_state_root(
    engine: Engine,
) -> None:
    from ledger.check import check

    ledger = new_ledger(engine, SigningKey.generate())
    ann, bob = Signer(), Signer()
    ledger.append([ann.join("Ann"), bob.join("Bob")])
    (work,) = ledger.append([ann.submit("work")])
    _as_signed_before_the_state_map(ledger)
    _at(engine, "0004", downgrade=True)
    upgrade(engine)
    again = Ledger(engine, ledger._log_key)
    assert check(engine).tree_size == 4  # the old checkpoints' digests still check
    with pytest.raises(NotFoundError, match="before the state map"):
        again.state_root_at(4)
    assert not isinstance(work, Exception)
    again.append([bob.evaluate(work.id, 1)])
    size, root = again.state_root_at(None)
    assert size == 5
    proof = again.state_proof(f"member/{ann.public}")
    statemap.verify_proof(proof, root)
    assert check(engine).state_root == root.hex()
    # A log that signed state roots cannot go back to a schema without them.
    with pytest.raises(RuntimeError, match="cannot go back"):
        _at(engine, "0004", downgrade=True)


def test_a_backfeed2_log_from_before_0006_gets_its_frozen_weights_and_score_history(
    engine: Engine,
) -> None:
    """A backfeed/2 log written before migration 0006 has NULL evaluations.weight (reads would
    weigh each evaluation with its evaluator's reputation now) and, before 0007, no
    contribution_history: the upgrade replays the log and writes both, so that its reads are
    those of a log written under the newest schema."""
    from ledger.check import check

    founders = [Signer() for _ in range(4)]
    listed = [
        {"member": f.public, "name": f"f{n}", "reputation": "20", "tokens": "50"}
        for n, f in enumerate(founders)
    ]
    ledger = new_ledger(engine, SigningKey.generate(), valuation.DEFAULT_VALUATION, listed)
    (work,) = ledger.append([founders[0].submit("work")])
    assert not isinstance(work, Exception)
    for voter in founders[1:]:
        ledger.append([voter.evaluate(work.id, 1)])
    ledger.append([founders[1].evaluate(work.id, 0)])  # a re-cast keeps the frozen weight
    with read_session(engine) as session:
        contribution = reads.contribution(session, work.id)
        history = _points(reads.contribution_history(session, work.id, 0, 100)[0])
    assert any(e.reputation for e in contribution.evaluations)
    assert history[-1]["max_score"] == contribution.max_score
    _at(engine, "0005", downgrade=True)  # no weight column, no contribution_history
    _at(engine, "0006")
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM evaluations WHERE weight IS NULL")) == 3
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM evaluations WHERE weight IS NULL")) == 0
        assert conn.scalar(text("SELECT count(*) FROM contribution_history")) == 4
    with read_session(engine) as session:
        assert reads.contribution(session, work.id) == contribution
        assert _points(reads.contribution_history(session, work.id, 0, 100)[0]) == history
    check(engine)


def _points(points: list[reads.ContributionPoint]) -> list[dict[str, Any]]:
    """A history's points as plain values (postings as the figures they post)."""
    return [
        {
            **{f: getattr(p, f) for f in ("index", "total_reputation", "weights", "quality")},
            "max_score": p.max_score,
            "postings": [(q.member, q.asset, q.amount, q.cause) for q in p.postings],
        }
        for p in points
    ]


def test_a_backfeed1_log_keeps_its_null_weights_and_no_score_history(engine: Engine) -> None:
    ledger = new_ledger(engine, SigningKey.generate())
    ann, bob = Signer(), Signer()
    ledger.append([ann.join("Ann"), bob.join("Bob")])
    (work,) = ledger.append([ann.submit("work")])
    assert not isinstance(work, Exception)
    ledger.append([bob.evaluate(work.id, 1)])
    _at(engine, "0006", downgrade=True)
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM evaluations WHERE weight IS NULL")) == 1
        assert conn.scalar(text("SELECT count(*) FROM contribution_history")) == 0


def test_leaves_found_by_id_off_the_prefix_index_after_0008_and_still_unique_and_append_only(
    engine: Engine,
) -> None:
    """0008 drops the unique index on the whole entry id for one on its prefix (and, on SQLite,
    makes `idx` the rowid): entries are found by id as before, without a scan, a second leaf of
    one author and seq is still refused, and the leaves stay append-only."""
    ledger = new_ledger(engine, SigningKey.generate())
    ann, bob = Signer(), Signer()
    entries = [ann.join("Ann"), bob.join("Bob"), ann.submit("work")]
    appended = ledger.append(entries)
    _at(engine, "0007", downgrade=True)
    upgrade(engine)
    with read_session(engine) as session:
        for result in appended:
            assert not isinstance(result, Exception)
            assert repo.entry_index(session, result.id) == result.index
            row = repo.leaf_by_entry_id(session, result.id)
            assert row is not None and row.idx == result.index
        # Same prefix, another id: not found.
        first = appended[0]
        assert not isinstance(first, Exception)
        other = first.id[:16] + "0" * 48
        assert repo.entry_index(session, other) is None
        assert repo.leaf_by_entry_id(session, other) is None
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT idx, entry_id FROM leaves "
                "WHERE substr(leaves.entry_id, 1, 16) = ?",
                ("0" * 16,),
            ).all()
            assert "ix_leaves_entry_prefix" in str(plan)
            table = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'leaves'"))
            assert "idx INTEGER NOT NULL" in table
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM leaves WHERE idx = 1"))
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE leaves SET kind = 'x' WHERE idx = 1"))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO leaves (idx, entry_id, leaf_hash, leaf, author, seq, kind, logged_at)"
                " SELECT 99, 'f' || substr(entry_id, 2), leaf_hash, leaf, author, seq, kind,"
                " logged_at FROM leaves WHERE idx = 1"
            )
        )
    # Appends go on, and a duplicate is still told apart from an entry out of sequence.
    again = Ledger(engine, ledger._log_key)
    again.append([bob.submit("more")])
    with pytest.raises(ConflictError, match="duplicate"):
        again.append_one(entries[0])
