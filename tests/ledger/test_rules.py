"""The log's rules, checked on their own: pure functions of an entry and the log before it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from nacl.signing import SigningKey

from ledger import checkpoint as cp
from ledger import rules
from ledger.entries import Entry, parse_entry
from ledger.errors import ConflictError, LogRuleError, SeqError
from tests.helpers import Signer

ORIGIN = "example.org/demo"


def genesis(log: Signer, origin: str = ORIGIN, log_key: str | None = None) -> Entry:
    body = {
        "origin": origin,
        "log_key": log_key or cp.verifier_key(origin, bytes(log.key.verify_key)),
        "valuation": {"algorithm": "backfeed/1", "params": {}},
        "founders": [],
    }
    return parse_entry(log.sign("network.genesis", body))


def broken(rule: str, check: Callable[[], object]) -> str:
    with pytest.raises(LogRuleError) as caught:
        check()
    assert caught.value.rule == rule, caught.value
    return str(caught.value)


def test_the_genesis_makes_the_network_and_later_entries_keep_to_it() -> None:
    log, ann = Signer(), Signer()
    network = rules.check_entry(genesis(log), None, 0)
    assert (network.name, network.origin, network.log_public_key) == ("demo", ORIGIN, log.public)
    assert rules.check_entry(parse_entry(ann.join("Ann")), network, 0) is network
    params = {"valuation": {"algorithm": "backfeed/1", "params": {}}}
    rules.check_entry(parse_entry(log.sign("network.params", params)), network, 1)


def test_the_first_entry_must_be_a_genesis_named_after_its_origin_and_signed_by_its_key() -> None:
    log = Signer()
    message = broken("genesis", lambda: rules.check_entry(parse_entry(log.join("x")), None, 0))
    assert message == "the first entry is a member.join, not the network.genesis"
    other = cp.verifier_key(ORIGIN, bytes(SigningKey.generate().verify_key))
    message = broken("genesis", lambda: rules.check_genesis(genesis(Signer(), log_key=other)))
    assert "not signed by the key of its log_key" in message
    renamed = cp.verifier_key("elsewhere", bytes(log.key.verify_key))
    message = broken("genesis", lambda: rules.check_genesis(genesis(log, log_key=renamed)))
    assert "not named after its origin" in message


def test_a_second_genesis_and_params_by_a_member_break_who_signs() -> None:
    log, ann = Signer(), Signer()
    network = rules.check_genesis(genesis(log))
    again = genesis(log)
    assert "a second network.genesis" in broken(
        "genesis", lambda: rules.check_signer(again, network)
    )
    params = parse_entry(
        ann.sign("network.params", {"valuation": {"algorithm": "x", "params": {}}})
    )
    message = broken("params", lambda: rules.check_entry(params, network, 0))
    assert (
        message == f"network.params may only be signed by the log's key, not by {ann.public[:8]}…"
    )


def test_seq_goes_up_by_one_and_a_broken_seq_is_a_conflict() -> None:
    log, ann = Signer(), Signer()
    network = rules.check_genesis(genesis(log))
    ann.seq = 4
    entry = parse_entry(ann.join("Ann"))  # seq 5
    rules.check_seq(entry, 4)
    with pytest.raises(SeqError) as caught:
        rules.check_entry(entry, network, 2)
    assert isinstance(caught.value, ConflictError) and caught.value.rule == "seq"
    assert str(caught.value) == f"seq 5 skips ahead: the next seq of {ann.public[:8]}… is 3"
    message = broken("seq", lambda: rules.check_seq(entry, 7))
    assert message.startswith("seq 5 repeats an earlier seq: ")


def test_an_entry_of_another_network_is_refused() -> None:
    network = rules.check_genesis(genesis(Signer()))
    stranger = parse_entry(Signer(network="other").join("Eve"))
    message = broken("network", lambda: rules.check_network(stranger, network))
    assert message.startswith("the entry is for network 'other', this log is 'demo'")


def test_logged_at_never_goes_back_and_the_log_clock_waits_for_it() -> None:
    floor = datetime(2026, 11, 24, 6, 32, 21, tzinfo=UTC)
    earlier = floor - timedelta(microseconds=1)
    rules.check_logged_at("t", floor, floor)
    rules.check_logged_at("t", earlier, None)
    assert "earlier than the entry before it" in broken(
        "logged_at", lambda: rules.check_logged_at("t", earlier, floor)
    )
    assert rules.next_logged_at(earlier, floor) == floor
    assert rules.next_logged_at(floor + timedelta(seconds=1), floor) > floor
    assert rules.next_logged_at(earlier, None) == earlier
