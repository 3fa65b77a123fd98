"""Migrations: a log written under an older schema is upgraded in place and reads the same."""

from __future__ import annotations

import pytest
from alembic import command
from nacl.signing import SigningKey
from sqlalchemy import Engine, text

from ledger import reads
from ledger import repository as repo
from ledger.db import alembic_config, read_session, upgrade
from ledger.service import Ledger
from tests.helpers import Signer, new_ledger


def _at(engine: Engine, revision: str, downgrade: bool = False) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if downgrade else command.upgrade)(config, revision)


def test_a_log_from_the_first_schema_upgrades_and_reads_the_same(engine: Engine) -> None:
    ledger = new_ledger(engine, SigningKey.generate())
    ann, bob = Signer(), Signer()
    ledger.append([ann.join("Ann"), bob.join("Bob"), ann.submit("work")])
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
