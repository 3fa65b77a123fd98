"""`multitude check`: a healthy database passes; a row changed behind the triggers' back is named.

The triggers make logged rows append-only for the application's role; to change one anyway the
tests do what an intruder with the owner's rights would: drop the triggers (SQLite) or switch
them off for one session (PostgreSQL, `session_replication_role = replica`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import typer
from nacl.signing import SigningKey
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from api.cli.check import register
from ledger import checkpoint as cp
from ledger import repository as repo
from ledger.check import CheckReport, check
from ledger.db import read_session
from ledger.errors import IntegrityError
from ledger.models import APPEND_ONLY_TABLES
from ledger.service import Ledger
from tests.helpers import Signer, appended


@pytest.fixture
def community(ledger: Ledger) -> Ledger:
    """A small log with joins, a referral, contributions and evaluations, some in batches."""
    ann, bob, cat = Signer(), Signer(), Signer()
    appended(ledger.append([ann.join("Ann")])[0])
    for result in ledger.append([bob.join("Bob", referrer=ann.public), cat.join("Cat")]):
        appended(result)
    first = appended(ledger.append([ann.submit("Translate the guide")])[0])
    second = appended(ledger.append([bob.submit("Fix the build", refs=[first.id])])[0])
    for result in ledger.append(
        [bob.evaluate(first.id, 1), cat.evaluate(first.id, 1), cat.evaluate(second.id, 0)]
    ):
        appended(result)
    appended(ledger.append([ann.evaluate(second.id, 1)])[0])
    return ledger


@contextmanager
def behind_the_triggers(engine: Engine) -> Iterator[Connection]:
    """A transaction in which the append-only triggers do not fire."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for table in APPEND_ONLY_TABLES:
                for action in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{action}"))
        yield conn


def tamper(engine: Engine, sql: str, **params: Any) -> None:
    with behind_the_triggers(engine) as conn:
        changed = conn.execute(text(sql), params).rowcount
    assert changed >= 1, f"the tampering statement changed nothing: {sql}"


def refused(ledger: Ledger, *words: str) -> str:
    with pytest.raises(IntegrityError) as caught:
        check(ledger.engine)
    message = str(caught.value)
    for word in words:
        assert word in message, message
    return message


def test_a_healthy_database_passes_and_the_report_counts_it(community: Ledger) -> None:
    report = check(community.engine)
    assert isinstance(report, CheckReport)
    size, note = community.latest_checkpoint()
    assert report.tree_size == size == 10
    signed = cp.open_checkpoint(note, cp.parse_verifier_key(community.network().verifier_key))
    assert report.root == signed.root_hash.hex()
    assert signed.state_root is not None
    assert report.state_root == signed.state_root.hex() == community.state_root_at(10)[1].hex()
    assert report.checkpoints == 7  # one per append: the genesis and six more
    assert report.nodes == 10 - (10).bit_count()  # above the leaves
    assert (report.members, report.contributions, report.evaluations) == (3, 2, 4)
    assert report.authors == 4  # the log key and three members


def test_an_empty_database_passes(engine: Engine) -> None:
    report = check(engine)
    assert report.tree_size == 0 and report.checkpoints == 0


def test_progress_is_reported_up_to_the_tree_size(community: Ledger) -> None:
    seen: list[tuple[int, int]] = []
    check(community.engine, lambda done, total: seen.append((done, total)))
    assert seen[-1] == (10, 10)


def test_a_changed_leaf_byte_is_named(community: Ledger) -> None:
    with community.engine.connect() as conn:
        raw = bytes(conn.execute(text("SELECT leaf FROM leaves WHERE idx = 4")).scalar_one())
    assert b"Translate the guide" in raw
    forged = raw.replace(b"Translate the guide", b"Translate the guidE")
    tamper(community.engine, "UPDATE leaves SET leaf = :leaf WHERE idx = 4", leaf=forged)
    refused(community, "leaf 4", "not a valid leaf", "signature")


def test_a_changed_leaf_hash_is_named(community: Ledger) -> None:
    tamper(community.engine, "UPDATE leaves SET leaf_hash = :h WHERE idx = 2", h=b"\x00" * 32)
    refused(community, "leaf 2", "leaf_hash")


def test_a_changed_column_of_a_leaf_is_named(community: Ledger) -> None:
    tamper(community.engine, "UPDATE leaves SET logged_at = '2020-01-01T00:00:00.000000Z'")
    refused(community, "leaf 0", "logged_at column")


def test_a_deleted_leaf_is_a_gap(community: Ledger) -> None:
    tamper(community.engine, "DELETE FROM leaves WHERE idx = 6")
    refused(community, "index 6 is missing", "dense")


def test_a_changed_reputation_is_named(community: Ledger) -> None:
    ann = community.replayed_state().iter_members().__next__().key
    tamper(
        community.engine, "UPDATE members SET reputation = reputation + 1 WHERE member = :m", m=ann
    )
    refused(community, "members", ann[:12], "reputation")


def test_a_changed_evaluation_is_named(community: Ledger) -> None:
    tamper(community.engine, "UPDATE evaluations SET value = 1 - value WHERE idx = 8")
    refused(community, "evaluations", "value")


def test_a_deleted_contribution_is_named(community: Ledger) -> None:
    tamper(community.engine, "DELETE FROM contributions WHERE idx = 5")
    refused(community, "contributions", "missing")


def test_a_changed_posting_is_named(community: Ledger) -> None:
    tamper(community.engine, "UPDATE postings SET amount = amount + 1 WHERE idx = 7 AND n = 0")
    refused(community, "postings", "index 7")


def test_a_changed_member_history_row_is_named(community: Ledger) -> None:
    tamper(community.engine, "UPDATE member_history SET tokens = tokens + 1 WHERE idx = 9")
    refused(community, "member_history", "index 9")


def test_a_deleted_tree_node_is_named(community: Ledger) -> None:
    tamper(community.engine, "DELETE FROM tree_nodes WHERE level = 1 AND idx = 2")
    refused(community, "tree_nodes", "level 1, index 2", "missing")


def test_a_changed_tree_node_is_named(community: Ledger) -> None:
    tamper(
        community.engine, "UPDATE tree_nodes SET hash = :h WHERE level = 3 AND idx = 0", h=b"1" * 32
    )
    refused(community, "tree_nodes", "level 3, index 0")


def test_a_stored_node_beyond_the_tree_is_named(community: Ledger) -> None:
    with behind_the_triggers(community.engine) as conn:
        conn.execute(
            text("INSERT INTO tree_nodes (level, idx, hash) VALUES (2, 7, :h)"), {"h": b"2" * 32}
        )
    refused(community, "tree_nodes", "level 2, index 7", "beyond")


def test_a_checkpoint_signed_by_another_key_is_named(community: Ledger) -> None:
    size, note = community.latest_checkpoint()
    signed = cp.open_checkpoint(note, cp.parse_verifier_key(community.network().verifier_key))
    forged = cp.sign_checkpoint(signed, SigningKey.generate())
    tamper(
        community.engine, "UPDATE checkpoints SET note = :n WHERE tree_size = :s", n=forged, s=size
    )
    refused(community, f"checkpoint at tree size {size}", "does not verify")


def test_a_checkpoint_whose_root_is_not_the_leaves_is_named(
    community: Ledger, log_key: SigningKey
) -> None:
    network = community.network()
    forged = cp.sign_checkpoint(cp.Checkpoint(network.origin, 5, b"\x07" * 32), log_key)
    tamper(
        community.engine,
        "UPDATE checkpoints SET note = :n, root_hash = :r WHERE tree_size = 5",
        n=forged,
        r=b"\x07" * 32,
    )
    refused(community, "checkpoint at tree size 5", "signed root")


def test_a_checkpoint_with_a_wrong_state_root_is_named(community: Ledger) -> None:
    tamper(
        community.engine, "UPDATE checkpoints SET state_root = :d WHERE tree_size = 4", d=bytes(32)
    )
    refused(community, "checkpoint at tree size 4", "state_root column 0000")


def test_a_checkpoint_whose_signed_state_line_lies_is_named(
    community: Ledger, log_key: SigningKey
) -> None:
    with read_session(community.engine) as session:
        row = repo.checkpoint_at(session, 6)
        assert row is not None
        honest = cp.parse_checkpoint_body(
            cp.open_note(row.note, cp.parse_verifier_key(community.network().verifier_key))
        )
    lying = cp.Checkpoint(honest.origin, honest.size, honest.root_hash, b"\x09" * 32)
    forged = cp.sign_checkpoint(lying, log_key)
    tamper(community.engine, "UPDATE checkpoints SET note = :n WHERE tree_size = 6", n=forged)
    refused(community, "checkpoint at tree size 6", "state line 0909")


def test_a_checkpoint_without_a_state_root_nor_a_digest_is_named(community: Ledger) -> None:
    tamper(community.engine, "UPDATE checkpoints SET state_root = NULL WHERE tree_size = 4")
    refused(community, "checkpoint at tree size 4", "disagree")


def test_a_checkpoint_with_a_wrong_total_reputation_is_named(community: Ledger) -> None:
    tamper(community.engine, "UPDATE checkpoints SET total_reputation = 7 WHERE tree_size = 6")
    refused(community, "checkpoint at tree size 6", "total reputation 7")


def test_reads_take_r_from_the_latest_checkpoint(community: Ledger) -> None:
    from ledger import repository as repo
    from ledger.db import read_session

    state = community.replayed_state()
    with read_session(community.engine) as session:
        assert repo.total_reputation(session) == state.total_reputation > 0
    tamper(community.engine, "UPDATE checkpoints SET total_reputation = NULL")
    with read_session(community.engine) as session:  # checkpoints older than migration 0002
        assert repo.total_reputation(session) == state.total_reputation


def test_leaves_without_a_checkpoint_are_a_half_written_append(community: Ledger) -> None:
    tamper(community.engine, "DELETE FROM checkpoints WHERE tree_size = 10")
    refused(community, "leaves 9..9", "no signed checkpoint")


def test_a_checkpoint_beyond_the_log_is_named(community: Ledger) -> None:
    with behind_the_triggers(community.engine) as conn:
        conn.execute(
            text(
                "INSERT INTO checkpoints (tree_size, root_hash, note, state_root) "
                "VALUES (99, :r, 'x', :r)"
            ),
            {"r": b"\x00" * 32},
        )
    refused(community, "tree size 99", "beyond")


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_triggers_refuse_update_and_delete_for_the_application(
    community: Ledger, table: str
) -> None:
    engine = community.engine
    column = {"tree_nodes": "hash", "checkpoints": "state_root"}.get(table, "idx")
    for statement in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    check(engine)


def run_cli(url: str) -> Any:
    app = typer.Typer()

    @app.callback()
    def _group() -> None:
        pass

    register(app)
    return CliRunner().invoke(app, ["check", "--db", url])


def test_the_command_exits_0_with_a_summary_and_1_naming_the_problem(
    community: Ledger, database_url: str
) -> None:
    result = run_cli(database_url)
    assert result.exit_code == 0, result.output
    assert "ok: 10 leaves" in result.output
    tamper(community.engine, "UPDATE members SET tokens = 0")
    result = run_cli(database_url)
    assert result.exit_code == 1
    assert "check failed" in result.output and "members" in result.output
    assert "Traceback" not in result.output
