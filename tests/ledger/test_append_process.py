"""The append process (`serve --workers N`): appends sent from other processes share its
sequencer, and each gets back its own result or its own error, as from a local ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from nacl.signing import SigningKey
from sqlalchemy import Engine

from ledger import keys
from ledger.append_process import AppendProcess, RemoteAppends
from ledger.appender import Appended
from ledger.errors import (
    ConflictError,
    EntryError,
    SeqError,
    SignatureError,
    UnavailableError,
)
from ledger.service import Ledger
from tests.helpers import Signer, appended


@pytest.fixture
def process(ledger: Ledger, database_url: str, log_key: SigningKey, tmp_path: Path) -> object:
    key_path = tmp_path / "log.key"
    keys.write_key(key_path, log_key)
    started = AppendProcess(database_url, key_path)
    yield started
    started.stop()


def test_appends_from_two_workers_share_one_log_and_errors_keep_their_kind(
    process: AppendProcess, engine: Engine, log_key: SigningKey
) -> None:
    first, second = (
        Ledger(engine, log_key, appends=RemoteAppends(process.address, process.authkey))
        for _ in range(2)
    )
    ann, bob = Signer(), Signer()
    ann_joins = ann.join("Ann")
    joined = first.append([ann_joins, bob.join("Bob")])
    assert [appended(r).index for r in joined] == [1, 2]
    work = second.append_one(ann.submit("Translate the guide"))
    assert work.index == 3
    vote = bob.evaluate(work.id, 1)
    forged = {**bob.evaluate(work.id, 0), "sig": "00" * 64}
    ann.submit("never sent")
    after_a_gap = ann.submit("sent")
    results = first.append([vote, after_a_gap, forged])
    assert isinstance(results[0], Appended) and results[0].index == 4
    assert isinstance(results[1], SeqError) and results[1].rule  # its attributes came too
    assert isinstance(results[2], SignatureError)
    with pytest.raises(ConflictError, match="duplicate entry"):
        second.append_one(ann_joins)  # sent again, by the other worker
    with pytest.raises(EntryError, match="at most"):
        first.append([ann.join("x")] * 1001)
    # Both workers read the same log, replayed from the database.
    assert first.replayed_state().tree_size == second.replayed_state().tree_size == 5


def test_a_worker_whose_append_process_is_gone_is_told_so(
    process: AppendProcess, engine: Engine, log_key: SigningKey
) -> None:
    from ledger.errors import UnavailableError

    worker = Ledger(engine, log_key, appends=RemoteAppends(process.address, process.authkey))
    process.stop()
    with pytest.raises(UnavailableError, match="append process"):
        worker.append_one(Signer().join("Cy"))


def test_a_connection_with_the_wrong_key_is_turned_away_and_appends_go_on(
    process: AppendProcess, engine: Engine, log_key: SigningKey
) -> None:
    intruder = RemoteAppends(process.address, b"not the key")
    with pytest.raises(UnavailableError, match="append process"):
        intruder.append([Signer().join("Mallory")])
    worker = Ledger(engine, log_key, appends=RemoteAppends(process.address, process.authkey))
    assert worker.append_one(Signer().join("Cy")).index == 1
