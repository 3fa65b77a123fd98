"""The log service on a real database: appends, refusals, the tree, checkpoints, triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nacl.signing import SigningKey
from sqlalchemy import Engine, text

from ledger import checkpoint as cp
from ledger import merkle
from ledger.db import read_session
from ledger.entries import parse_leaf, parse_timestamp
from ledger.errors import ConflictError, LedgerError, RefusedError, SignatureError
from ledger.service import Ledger
from tests.helpers import Signer, appended


def refused(ledger: Ledger, entry: dict[str, Any]) -> LedgerError:
    before = ledger.latest_checkpoint()
    result = ledger.append([entry])[0]
    assert isinstance(result, LedgerError), "the entry should have been refused"
    assert ledger.latest_checkpoint() == before, "a refused entry must leave no trace"
    return result


def all_leaves(ledger: Ledger) -> list[bytes]:
    return list(ledger.leaf_bytes(0, 10**6))


def verifier(ledger: Ledger) -> cp.Verifier:
    return cp.parse_verifier_key(ledger.network().verifier_key)


def test_appends_get_dense_indexes_and_a_signed_checkpoint_of_the_true_root(ledger: Ledger) -> None:
    ann, bob = Signer(), Signer()
    results = ledger.append([ann.join("Ann"), bob.join("Bob")])
    assert [appended(r).index for r in results] == [1, 2]
    contribution = appended(ledger.append([ann.submit("Translate the guide")])[0])
    appended(ledger.append([bob.evaluate(contribution.id, 1)])[0])

    leaves = all_leaves(ledger)
    assert len(leaves) == 5
    size, note = ledger.latest_checkpoint()
    checkpoint = cp.open_checkpoint(note, verifier(ledger))
    assert checkpoint.size == size == 5
    assert checkpoint.origin == "example.org/demo"
    assert checkpoint.root_hash == merkle.root([merkle.leaf_hash(leaf) for leaf in leaves])
    times = [parse_timestamp(parse_leaf(leaf).logged_at) for leaf in leaves]
    assert times == sorted(times)


def test_proofs_from_stored_nodes_verify_against_every_checkpoint(ledger: Ledger) -> None:
    members = [Signer() for _ in range(12)]
    sizes = []
    for member in members:
        ledger.append([member.join(f"m{len(sizes)}")])
        sizes.append(ledger.latest_checkpoint()[0])
    hashes = [merkle.leaf_hash(leaf) for leaf in all_leaves(ledger)]
    for size in sizes:
        root = ledger.root_at(size)
        assert root == merkle.root(hashes[:size])
        for index in range(size):
            proof = ledger.inclusion_proof(index, size)
            merkle.verify_inclusion(hashes[index], index, size, proof, root)
        for first in range(1, size + 1):
            proof = ledger.consistency_proof(first, size)
            merkle.verify_consistency(first, size, merkle.root(hashes[:first]), root, proof)


def test_replayed_seq_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    ann = Signer()
    join = ann.join("Ann")
    appended(ledger.append([join])[0])
    again = ann.sign("contribution.submit", {"title": "again"}, seq=1)
    error = refused(ledger, again)
    assert isinstance(error, ConflictError)
    assert "seq 1 repeats" in str(error)


def test_seq_gap_is_refused(ledger: Ledger) -> None:
    ann = Signer()
    appended(ledger.append([ann.join("Ann")])[0])
    error = refused(ledger, ann.sign("contribution.submit", {"title": "x"}, seq=3))
    assert isinstance(error, ConflictError) and "skips ahead" in str(error)


def test_duplicate_entry_is_refused(ledger: Ledger) -> None:
    ann = Signer()
    join = ann.join("Ann")
    appended(ledger.append([join])[0])
    error = refused(ledger, join)
    assert isinstance(error, ConflictError) and "duplicate entry" in str(error)


def test_entry_for_another_network_is_refused(ledger: Ledger) -> None:
    error = refused(ledger, Signer(network="elsewhere").join("Eve"))
    assert isinstance(error, RefusedError) and "network" in str(error)


@pytest.mark.parametrize("skew", [timedelta(seconds=301), timedelta(seconds=-301)])
def test_entry_with_a_far_clock_is_refused(ledger: Ledger, skew: timedelta) -> None:
    ts = (datetime.now(UTC) + skew).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    error = refused(ledger, Signer().sign("member.join", {"name": "Late"}, ts=ts))
    assert "clock" in str(error)


def test_bad_signature_is_refused(ledger: Ledger) -> None:
    entry = Signer().join("Ann")
    entry["body"]["name"] = "Anne"
    assert isinstance(refused(ledger, entry), SignatureError)


def test_unknown_author_may_only_join(ledger: Ledger) -> None:
    stranger = Signer()
    stranger.seq = 0
    error = refused(ledger, stranger.submit("I never joined"))
    assert "not a member" in str(error)


def test_only_the_log_key_signs_network_entries(ledger: Ledger) -> None:
    ann = Signer()
    appended(ledger.append([ann.join("Ann")])[0])
    error = refused(
        ledger, ann.sign("network.params", {"valuation": {"algorithm": "backfeed/1", "params": {}}})
    )
    assert "log's key" in str(error)


def test_a_batch_appends_the_good_and_refuses_the_bad_in_place(ledger: Ledger) -> None:
    ann, bob, eve = Signer(), Signer(), Signer(network="elsewhere")
    results = ledger.append([ann.join("Ann"), eve.join("Eve"), bob.join("Bob")])
    assert isinstance(results[1], RefusedError)
    assert [appended(results[0]).index, appended(results[2]).index] == [1, 2]
    assert ledger.latest_checkpoint()[0] == 3


def test_a_large_batch_checks_every_signature_on_the_pool_and_refuses_each_forgery(
    ledger: Ledger,
) -> None:
    # 300 entries: chunks of 64 are checked by the signature pool while the first are ordered.
    members = [Signer() for _ in range(300)]
    batch = [m.join(f"m{i}") for i, m in enumerate(members)]
    forged = {5, 64, 127, 200, 299}  # first chunk, chunk edges, the last, partial chunk
    for i in forged:
        batch[i]["body"]["name"] += "!"  # signed bytes no longer match
    batch[150]["seq"] = "one"  # a shape error among them
    results = ledger.append(batch)
    for i, result in enumerate(results):
        if i in forged:
            assert isinstance(result, SignatureError), (i, result)
            assert members[i].public[:8] in str(result)
        elif i == 150:
            assert isinstance(result, LedgerError) and "entry.seq" in str(result)
        else:
            appended(result)
    assert ledger.latest_checkpoint()[0] == 1 + 300 - len(forged) - 1
    assert len(all_leaves(ledger)) == 1 + 300 - len(forged) - 1


def test_a_bad_signature_is_the_first_reason_even_for_another_network(ledger: Ledger) -> None:
    eve = Signer(network="elsewhere")
    entry = eve.join("Eve")
    entry["body"]["name"] = "Mallory"
    assert isinstance(refused(ledger, entry), SignatureError)
    many = [Signer(network="elsewhere").join(f"e{i}") for i in range(200)]
    many[3]["sig"] = "0" * 128
    results = ledger.append(many)
    assert isinstance(results[3], SignatureError)
    assert all(isinstance(r, RefusedError) and "network" in str(r) for r in results[4:])


def test_logged_rows_refuse_update_and_delete(ledger: Ledger, engine: Engine) -> None:
    appended(ledger.append([Signer().join("Ann")])[0])  # two leaves: a node above them
    for statement in (
        "UPDATE leaves SET kind = 'x' WHERE idx = 0",
        "DELETE FROM leaves WHERE idx = 0",
        "UPDATE tree_nodes SET hash = hash",
        "DELETE FROM checkpoints",
    ):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with read_session(engine) as session:
        assert session.execute(text("SELECT count(*) FROM leaves")).scalar_one() == 2
        assert session.execute(text("SELECT count(*) FROM tree_nodes")).scalar_one() == 1


def test_a_second_process_continues_the_same_log(
    ledger: Ledger, engine: Engine, log_key: SigningKey
) -> None:
    other = Ledger(engine, log_key)
    ann, bob = Signer(), Signer()
    appended(ledger.append([ann.join("Ann")])[0])
    appended(other.append([bob.join("Bob")])[0])
    result = appended(ledger.append([ann.submit("from the first")])[0])
    assert result.index == 3
    assert ledger.replayed_state().tree_size == other.replayed_state().tree_size == 4


def test_processes_taking_turns_extend_one_tree_and_sign_its_true_roots(
    ledger: Ledger, engine: Engine, log_key: SigningKey
) -> None:
    """Each process keeps the tree's frontier and the last logged_at in memory, and extends
    them with the leaves the other appended: every checkpoint signs the true root, every
    stored node is the true one, and logged_at never goes back."""
    other = Ledger(engine, log_key)
    signers = [Signer() for _ in range(9)]
    turns = [ledger, other, other, ledger, other, ledger, ledger, other, ledger]
    for n, (signer, turn) in enumerate(zip(signers, turns, strict=True)):
        entries = [signer.join(f"m{n}")] + [signer.submit(f"work {k}") for k in range(n % 3)]
        for result in turn.append(entries):
            appended(result)
    leaves = all_leaves(ledger)
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    with read_session(engine) as session:
        notes = list(session.execute(text("SELECT tree_size, note FROM checkpoints")))
    assert len(notes) == len(turns) + 1  # and the genesis's
    for size, note in notes:
        root = merkle.root(hashes[:size])
        assert cp.open_checkpoint(note, verifier(ledger)).root_hash == root
        assert ledger.root_at(size) == other.root_at(size) == root  # from the stored nodes
    times = [parse_timestamp(parse_leaf(leaf).logged_at) for leaf in leaves]
    assert times == sorted(times)


def test_concurrent_appends_share_commits_and_keep_every_acknowledged_entry(ledger: Ledger) -> None:
    from concurrent.futures import ThreadPoolExecutor

    members = [Signer() for _ in range(16)]
    ledger.append([m.join(f"m{i}") for i, m in enumerate(members)])

    def work(member: Signer) -> list[tuple[str, int]]:
        told = []
        for n in range(5):
            result = appended(ledger.append([member.submit(f"work {n}")])[0])
            told.append((result.id, result.index))
        return told

    with ThreadPoolExecutor(8) as pool:
        told = [pair for pairs in pool.map(work, members) for pair in pairs]
    leaves = all_leaves(ledger)
    assert len(leaves) == 1 + 16 + 80
    for entry_id, index in told:
        assert parse_leaf(leaves[index]).entry.id == entry_id
    assert sorted(index for _, index in told) == list(range(17, 97))
    _, note = ledger.latest_checkpoint()
    assert cp.open_checkpoint(note, verifier(ledger)).root_hash == merkle.root(
        [merkle.leaf_hash(leaf) for leaf in leaves]
    )


def test_two_appenders_racing_on_one_database_read_the_size_under_the_lock(
    ledger: Ledger, engine: Engine, log_key: SigningKey
) -> None:
    """Two appenders (as two processes would be) append at once: each reads the log's size
    only once it holds the ordering lock (on PostgreSQL, in the same pipeline as the lock), so
    none writes at an index the other took, and every entry is appended, once."""
    from concurrent.futures import ThreadPoolExecutor

    other = Ledger(engine, log_key)
    members = [Signer() for _ in range(12)]
    ledger.append([m.join(f"m{i}") for i, m in enumerate(members)])

    def work(turn: tuple[Ledger, Signer]) -> list[tuple[str, int]]:
        appender, member = turn
        return [
            (result.id, result.index)
            for result in (
                appended(appender.append([member.submit(f"work {n}")])[0]) for n in range(6)
            )
        ]

    turns = [(ledger if i % 2 else other, member) for i, member in enumerate(members)]
    with ThreadPoolExecutor(6) as pool:
        told = [pair for pairs in pool.map(work, turns) for pair in pairs]
    leaves = all_leaves(ledger)
    assert len(leaves) == 1 + 12 + 72
    assert sorted(index for _, index in told) == list(range(13, 85))
    for entry_id, index in told:
        assert parse_leaf(leaves[index]).entry.id == entry_id
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    with read_session(engine) as session:
        notes = list(session.execute(text("SELECT tree_size, note FROM checkpoints")))
    for size, note in notes:
        assert cp.open_checkpoint(note, verifier(ledger)).root_hash == merkle.root(hashes[:size])


def test_duplicates_are_found_while_a_large_batch_is_being_written(ledger: Ledger) -> None:
    # 600 entries: their rows are handed to the writing thread as they are made, so the
    # look-ups of a duplicate happen with rows of the same batch already stored or on their way.
    members = [Signer() for _ in range(300)]
    joined = members[0].join("m0")
    first = appended(ledger.append([joined])[0])
    batch = [m.join(f"m{i}") for i, m in enumerate(members[1:], 1)]
    batch += [m.submit(f"work of {i}") for i, m in enumerate(members)]
    batch.insert(450, batch[10])  # a duplicate of an entry of this batch
    batch.insert(500, joined)  # a duplicate of an entry committed earlier
    results = ledger.append(batch)
    assert isinstance(results[450], ConflictError) and "already at index 12" in str(results[450])
    assert isinstance(results[500], ConflictError)
    assert f"already at index {first.index}" in str(results[500])
    good = [appended(r) for i, r in enumerate(results) if i not in (450, 500)]
    assert [r.index for r in good] == list(range(2, 2 + 599))
    leaves = all_leaves(ledger)
    assert len(leaves) == 601
    _, note = ledger.latest_checkpoint()
    assert cp.open_checkpoint(note, verifier(ledger)).root_hash == merkle.root(
        [merkle.leaf_hash(leaf) for leaf in leaves]
    )


def test_a_failed_write_in_the_middle_of_a_batch_leaves_no_trace(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger import rowstream
    from ledger.models import PostingRow

    members = [Signer() for _ in range(400)]
    before = ledger.latest_checkpoint()
    real = rowstream.write_rows
    calls = []

    def failing(session: Any, model: Any, rows: Any, **options: Any) -> None:
        if model is PostingRow:
            calls.append(len(rows))
            if len(calls) == 2:  # the second hand-off, while later entries are being valued
                raise RuntimeError("the disk is gone")
        real(session, model, rows, **options)

    monkeypatch.setattr(rowstream, "write_rows", failing)
    joins = [m.join(f"m{i}") for i, m in enumerate(members)]
    with pytest.raises(RuntimeError, match="disk is gone"):
        ledger.append(joins)
    assert len(calls) == 2
    assert ledger.latest_checkpoint() == before
    assert len(all_leaves(ledger)) == 1
    monkeypatch.setattr(rowstream, "write_rows", real)
    # The same entries append cleanly afterwards, at the indexes the failed batch would have had.
    results = ledger.append(joins)
    assert [appended(r).index for r in results] == list(range(1, 401))
    assert ledger.replayed_state().tree_size == 401


def test_evaluations_changed_within_and_across_streamed_chunks_are_stored_as_they_end(
    ledger: Ledger,
) -> None:
    # New evaluations go in as new rows and changed ones replace theirs; a batch of 700 is
    # handed to the writing thread a few hundred entries at a time, so a change can meet its
    # first evaluation in the same hand-off, in an earlier one, or in an earlier commit.
    from ledger.check import check
    from ledger.models import EvaluationRow

    members = [Signer() for _ in range(100)]
    ledger.append([m.join(f"m{i}") for i, m in enumerate(members)])
    work = appended(ledger.append([members[0].submit("the guide")])[0]).id
    appended(ledger.append([members[1].evaluate(work, 0)])[0])  # committed, changed below
    batch = [m.evaluate(work, 1) for m in members[1:]]  # members[1] changes its vote
    batch += [m.evaluate(work, 0) for m in members[1:100]]  # every vote changed, later chunks
    batch += [m.evaluate(work, 1) for m in members[1:50]]  # and changed again
    batch += [members[2].evaluate(work, 0), members[2].evaluate(work, 1)]  # twice in one chunk
    assert len(batch) == 99 + 99 + 49 + 2
    for result in ledger.append(batch):
        appended(result)
    with read_session(ledger.engine) as session:
        rows = {
            row.evaluator: (row.value, row.idx)
            for row in session.query(EvaluationRow).filter_by(contribution=work)
        }
    contribution = ledger.replayed_state().contribution(work)
    assert contribution is not None
    assert rows == {
        evaluator: (value, index) for evaluator, value, index in contribution.evaluations
    }
    assert rows[members[2].public][0] == 1 and rows[members[60].public][0] == 0
    assert check(ledger.engine).evaluations == 99


def _poison_contributions(engine: Engine) -> None:
    """A database that refuses to store one title: an error that no check of ours foresees."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF NEW.title = 'poison' THEN RAISE EXCEPTION 'poisoned title' "
                    "USING ERRCODE = '22000'; END IF; RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON contributions "
                    "FOR EACH ROW EXECUTE FUNCTION poison()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON contributions "
                    "WHEN NEW.title = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned title'); END"
                )
            )


def test_an_entry_the_database_cannot_store_is_refused_alone(
    ledger: Ledger, engine: Engine
) -> None:
    ann, bob, cat = Signer(), Signer(), Signer()
    for result in ledger.append([ann.join("Ann"), bob.join("Bob"), cat.join("Cat")]):
        appended(result)
    _poison_contributions(engine)
    batch = [ann.submit("first"), bob.submit("poison"), cat.submit("third"), ann.submit("fourth")]
    results = ledger.append(batch)
    first, poisoned, third, fourth = results
    assert isinstance(poisoned, RefusedError), poisoned
    assert "the database cannot store this entry" in str(poisoned)
    assert "poisoned title" in str(poisoned)
    assert [appended(r).index for r in (first, third, fourth)] == [4, 5, 6]
    # Nothing of the refused entry is left: the log, its checkpoint and the state agree, and
    # its author's seq is free for the next entry.
    assert ledger.latest_checkpoint()[0] == 7
    assert len(all_leaves(ledger)) == 7
    bob.seq -= 1
    assert appended(ledger.append([bob.submit("fine")])[0]).index == 7
    assert ledger.replayed_state().tree_size == 8
