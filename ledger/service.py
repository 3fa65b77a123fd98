"""The log as a service: the `Ledger` of one network in one database.

Split as Tessera splits a log: the sequencer (`ledger.sequencer`) groups the appends that
arrive together into one commit; the append step (`ledger.appender`) checks, values, writes
and seals them under the log's ordering lock, in one transaction, and the caller hears back
only after the commit; reads (`ledger.reads`) answer checkpoints, proofs and leaf bytes from
stored rows. The signatures of a large batch are checked by the `SignaturePool` the ledger
holds, on other cores, while its first entries are being ordered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy import Engine

import valuation
from ledger import checkpoint as cp
from ledger import reads
from ledger import repository as repo
from ledger.append_process import RemoteAppends
from ledger.appender import Appended, Appender, public_key, signing_key
from ledger.db import read_session
from ledger.entries import sign_entry
from ledger.errors import EntryError, LedgerError, NotFoundError, RefusedError
from ledger.rules import Network
from ledger.sequencer import Sequencer
from ledger.signatures import SignaturePool, Unverified, shared_pool
from valuation.statemap import StateProof

__all__ = [
    "MAX_BATCH",
    "Appended",
    "Ledger",
    "NetworkConfig",
]

MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """What `multitude init` reads: the genesis of a new network."""

    network: str
    origin: str
    valuation: Mapping[str, Any]
    founders: Sequence[Mapping[str, Any]] = ()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """The log of one network in one database."""

    def __init__(
        self,
        engine: Engine,
        log_key: SigningKey | None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        signatures: SignaturePool | None = None,
        appends: RemoteAppends | None = None,
    ) -> None:
        self.engine = engine
        self._log_key = log_key
        self._clock = clock
        # One set of checker processes serves every ledger of a process unless given its own.
        self.signatures = signatures if signatures is not None else shared_pool()
        self._appender = Appender(engine, log_key, clock)
        # Given, every append goes to the append process (`ledger.append_process`), whose
        # sequencer serves all the server's workers; this ledger keeps its state for reads.
        self._appends = appends
        self._sequencer: Sequencer[Unverified | LedgerError, Appended | LedgerError] = Sequencer(
            self._appender.run, MAX_BATCH
        )

    @property
    def appends_elsewhere(self) -> bool:
        """Whether appends go to an append process rather than through this ledger's own
        sequencer."""
        return self._appends is not None

    # --- the network ----------------------------------------------------------------------

    def network(self) -> Network:
        if self._appender.network is None:
            with read_session(self.engine) as session:
                network = reads.network(session)
            if network is None:
                raise NotFoundError("the log is empty: no network has been created yet")
            if self._log_key is not None and public_key(self._log_key) != network.log_public_key:
                raise RefusedError(
                    "the log key given does not match the key of this network's genesis entry"
                )
            self._appender.network = network
        return self._appender.network

    def is_empty(self) -> bool:
        with read_session(self.engine) as session:
            return repo.tree_size(session) == 0

    def create_network(self, config: NetworkConfig) -> Appended:
        """Sign and append the genesis entry of a new network (the log must be empty)."""
        key = signing_key(self._log_key)
        valuation.resolve_params(config.valuation)
        body = {
            "origin": config.origin,
            "log_key": cp.verifier_key(config.origin, bytes(key.verify_key)),
            "valuation": dict(config.valuation),
            "founders": [dict(f) for f in config.founders],
        }
        genesis = sign_entry(key, network=config.network, kind="network.genesis", seq=1, body=body)
        return self.append_one(genesis)

    def change_params(self, params: Mapping[str, Any]) -> Appended:
        """Sign and append a `network.params` entry with the log key."""
        key = signing_key(self._log_key)
        valuation.resolve_params(params)
        with read_session(self.engine) as session:
            seq = repo.last_seq(session, public_key(key)) + 1
        entry = sign_entry(
            key,
            network=self.network().name,
            kind="network.params",
            seq=seq,
            body={"valuation": dict(params)},
        )
        return self.append_one(entry)

    # --- appends ----------------------------------------------------------------------------

    def append(self, raw_entries: Sequence[Any]) -> list[Appended | LedgerError]:
        """Append entries in order; each gets its `Appended` or the error that refused it.

        The checks that need no log state (shape, signature, network, clock) run before the
        lock is taken; the rest run under it.
        """
        if len(raw_entries) > MAX_BATCH:
            raise EntryError(f"a batch holds at most {MAX_BATCH} entries, not {len(raw_entries)}")
        if self._appends is not None:
            return self._appends.append(raw_entries)
        now = self._clock()
        # Signatures are still being checked on other cores as the entries go on to be ordered.
        checked = self.signatures.check(raw_entries)
        prepared = [self._appender.precheck(entry, now) for entry in checked]
        if all(isinstance(p, LedgerError) for p in prepared):
            return [p for p in prepared if isinstance(p, LedgerError)]
        return self._sequencer.commit(prepared)

    def append_one(self, raw_entry: Any) -> Appended:
        """Append one entry; raise the error that refused it."""
        result = self.append([raw_entry])[0]
        if isinstance(result, LedgerError):
            raise result
        return result

    def replayed_state(self) -> valuation.State:
        """The valuation state at the current tree size (for reads that need the whole of it)."""
        return self._appender.replayed_state()

    # --- reads ------------------------------------------------------------------------------

    def latest_checkpoint(self) -> tuple[int, str]:
        """(tree size, signed note) of the latest checkpoint."""
        with read_session(self.engine) as session:
            return reads.latest_checkpoint(session)

    def state_root_at(self, size: int | None) -> tuple[int, bytes]:
        """(tree size, state root) of the checkpoint at `size` (default: the latest)."""
        with read_session(self.engine) as session:
            return reads.state_root_at(session, size)

    def state_proof(self, key: str, size: int | None = None) -> StateProof:
        """The proof of record `key` against the state root of the checkpoint at `size`
        (default: the latest), SPEC section 5; NotFoundError for a size with no state root."""
        tree_size, _ = self.state_root_at(size)
        return self._appender.state_proof(key, tree_size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with read_session(self.engine) as session:
            return reads.inclusion_proof(session, index, size)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        with read_session(self.engine) as session:
            return reads.consistency_proof(session, first, second)

    def root_at(self, size: int) -> bytes:
        with read_session(self.engine) as session:
            return reads.root_at(session, size)

    def leaf_bytes(self, start: int, limit: int, chunk: int = 2000) -> Iterator[bytes]:
        """The exact leaf bytes of [start, start + limit), streamed a chunk per transaction."""
        return reads.leaf_bytes(self.engine, start, limit, chunk)
