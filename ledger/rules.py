"""The log's rules, as pure checks: whether an entry may come next, given the log before it.

SPEC's rules of the log: the first entry is the `network.genesis`, whose `log_key` is named
after its `origin` and is the key that signs it; every later entry is of the genesis network;
each author's `seq` is 1, then +1; only the log's key signs network entries; `logged_at` never
decreases along the log. The append (`ledger.appender`), `multitude check` (`ledger.check`) and
`multitude verify` (`ledger.audit`) all check them here, so that a broken rule reads the same
wherever it is found; each caller says where (`leaf 12: ...`, `leaves.jsonl line 13: ...`).

Every failure raises `LogRuleError` (`SeqError` for a seq) whose `rule` names the check as the
auditor reports it: `genesis`, `network`, `seq`, `params` or `logged_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import valuation
from ledger import checkpoint as cp
from ledger.entries import LOG_KINDS, Entry
from ledger.errors import LedgerError, LogRuleError, SeqError

GENESIS = "network.genesis"


@dataclass(frozen=True, slots=True)
class Network:
    """What the genesis entry says of its network."""

    name: str
    origin: str
    log_public_key: str
    verifier_key: str
    algorithm: str = valuation.ALGORITHM  # the valuation algorithm the genesis names

    @classmethod
    def of_genesis(cls, entry: Entry) -> Network:
        return cls(
            name=entry.network,
            origin=str(entry.body["origin"]),
            log_public_key=entry.author,
            verifier_key=str(entry.body["log_key"]),
            algorithm=valuation.algorithm_named(entry.body.get("valuation")).name,
        )


def check_entry(entry: Entry, network: Network | None, last_seq: int) -> Network:
    """Raise `LogRuleError` unless `entry` may be appended to the log of `network` (None: an
    empty log) in which its author's last seq is `last_seq` (0 for none); return the log's
    network with the entry (the genesis makes it)."""
    if network is None:
        network = check_genesis(entry)
        check_seq(entry, last_seq)
        return network
    check_network(entry, network)
    check_seq(entry, last_seq)
    check_signer(entry, network)
    return network


def check_genesis(entry: Entry) -> Network:
    """The first entry: a `network.genesis` whose `log_key` is named after its origin and
    is the key that signed it."""
    if entry.kind != GENESIS:
        raise LogRuleError(f"the first entry is a {entry.kind}, not the {GENESIS}", "genesis")
    try:
        verifier = cp.parse_verifier_key(str(entry.body["log_key"]))
    except LedgerError as exc:
        raise LogRuleError(f"the genesis log_key is not a verifier key: {exc}", "genesis") from None
    if verifier.name != entry.body["origin"]:
        raise LogRuleError("the genesis log_key is not named after its origin", "genesis")
    if verifier.public_key.hex() != entry.author:
        raise LogRuleError("the genesis is not signed by the key of its log_key", "genesis")
    return Network.of_genesis(entry)


def check_network(entry: Entry, network: Network) -> None:
    if entry.network != network.name:
        raise LogRuleError(
            f"the entry is for network {entry.network!r}, this log is {network.name!r}: "
            "entries cannot be replayed across networks",
            "network",
        )


def check_seq(entry: Entry, last_seq: int) -> None:
    expected = last_seq + 1
    if entry.seq != expected:
        what = "repeats an earlier seq" if entry.seq < expected else "skips ahead"
        raise SeqError(
            f"seq {entry.seq} {what}: the next seq of {entry.author[:8]}… is {expected}", "seq"
        )


def check_signer(entry: Entry, network: Network) -> None:
    """Network entries after the genesis: no second genesis, and `network.params` signed
    by the log's key only."""
    if entry.kind == GENESIS:
        raise LogRuleError(f"a second {GENESIS}: the log already has its genesis entry", "genesis")
    if entry.kind in LOG_KINDS and entry.author != network.log_public_key:
        raise LogRuleError(
            f"{entry.kind} may only be signed by the log's key, not by {entry.author[:8]}…",
            "params",
        )


def check_logged_at(logged_at: str, moment: datetime, floor: datetime | None) -> None:
    """`moment` (`logged_at`, parsed) is not earlier than `floor`, the entry before's."""
    if floor is not None and moment < floor:
        raise LogRuleError(
            f"logged_at {logged_at} is earlier than the entry before it: the log's clock "
            "never goes back",
            "logged_at",
        )


def next_logged_at(now: datetime, floor: datetime | None) -> datetime:
    """The log's time for its next entry: its clock, but never earlier than `floor`."""
    return floor if floor is not None and now < floor else now
