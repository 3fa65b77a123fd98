"""The log's rules, as pure checks: what an entry must be, given the log before it.

SPEC's rules of the log: each author's seq goes up by one; every entry is of this log's
network; only the log's key signs network entries; the genesis entry comes first, names its
key after the origin and is signed by it; `logged_at` never decreases along the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.entries import Entry


@dataclass(frozen=True, slots=True)
class Network:
    """What the genesis entry says of its network."""

    name: str
    origin: str
    log_public_key: str
    verifier_key: str

    @classmethod
    def of_genesis(cls, entry: Entry) -> Network:
        return cls(
            name=entry.network,
            origin=str(entry.body["origin"]),
            log_public_key=entry.author,
            verifier_key=str(entry.body["log_key"]),
        )
