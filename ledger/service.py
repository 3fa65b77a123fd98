"""The log as a service: the sequencer, the integrator and the checkpoint signer in one place.

An append (one entry or a batch) is one database transaction that holds the log's ordering
lock. Inside it the entries are checked against the log, valued by `valuation` (an entry that
valuation refuses is refused like any other), given dense indexes and a non-decreasing
`logged_at`, written with the tree nodes they complete and the figures they change, and
sealed by a newly signed checkpoint that also carries the state digest. The caller hears
back only after the commit.

Each process keeps the valuation state in memory and brings it up to the database's tree
size under the lock, so several worker processes on one PostgreSQL never apply an entry
twice and always extend the same state.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

import valuation
from ledger import checkpoint as cp
from ledger import merkle
from ledger import repository as repo
from ledger.db import first_line, read_session, write_transaction
from ledger.entries import (
    LOG_KINDS,
    Entry,
    Unverified,
    check_entries,
    format_timestamp,
    parse_leaf,
    parse_timestamp,
    sign_entry,
)
from ledger.errors import (
    ConflictError,
    EntryError,
    LedgerError,
    NotFoundError,
    RefusedError,
    UnavailableError,
)
from ledger.models import (
    ContributionRow,
    EvaluationRow,
    LeafRow,
    MemberHistoryRow,
    MemberRow,
    PostingRow,
    TreeNodeRow,
)

MAX_CLOCK_SKEW = timedelta(seconds=300)
MAX_BATCH = 1000
_STREAM_EVERY = 200  # entries whose log rows are handed to the writing thread at once
DEFAULT_NETWORK = "multitude"
DEFAULT_ORIGIN = "localhost/multitude"


@dataclass(frozen=True, slots=True)
class Appended:
    id: str
    index: int
    logged_at: str
    leaf_hash: str


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    origin: str
    log_public_key: str
    verifier_key: str


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """What `multitude init` reads: the genesis of a new network."""

    network: str
    origin: str
    valuation: Mapping[str, Any]
    founders: Sequence[Mapping[str, Any]] = ()


def event_of(entry: Entry, index: int, logged_at: str) -> valuation.Event:
    return valuation.Event(
        index=index,
        id=entry.id,
        kind=entry.kind,
        author=entry.author,
        logged_at=logged_at,
        body=entry.body,
    )


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
    ) -> None:
        self.engine = engine
        self._log_key = log_key
        self._clock = clock
        self._lock = threading.Lock()
        self._group = threading.Condition()
        self._waiting: deque[_Request] = deque()
        self._leading = False
        self._state: valuation.State | None = None
        # Each author's last seq in the log, kept with `_state` at the same tree size.
        self._seqs: dict[str, int] = {}
        self._network: Network | None = None

    # --- the network ----------------------------------------------------------------------

    def network(self) -> Network:
        if self._network is None:
            with read_session(self.engine) as session:
                row = repo.leaf_at(session, 0)
                if row is None:
                    raise NotFoundError("the log is empty: no network has been created yet")
                genesis = parse_leaf(bytes(row.leaf), verify=False).entry
            self._network = Network(
                name=genesis.network,
                origin=str(genesis.body["origin"]),
                log_public_key=genesis.author,
                verifier_key=str(genesis.body["log_key"]),
            )
            if self._log_key is not None and _public(self._log_key) != genesis.author:
                self._network = None
                raise RefusedError(
                    "the log key given does not match the key of this network's genesis entry"
                )
        return self._network

    def is_empty(self) -> bool:
        with read_session(self.engine) as session:
            return repo.tree_size(session) == 0

    def create_network(self, config: NetworkConfig) -> Appended:
        """Sign and append the genesis entry of a new network (the log must be empty)."""
        key = self._signing_key()
        valuation.resolve_params(config.valuation)
        body = {
            "origin": config.origin,
            "log_key": cp.verifier_key(config.origin, bytes(key.verify_key)),
            "valuation": dict(config.valuation),
            "founders": [dict(f) for f in config.founders],
        }
        genesis = sign_entry(key, network=config.network, kind="network.genesis", seq=1, body=body)
        result = self.append([genesis])[0]
        if isinstance(result, LedgerError):
            raise result
        return result

    def change_params(self, params: Mapping[str, Any]) -> Appended:
        """Sign and append a `network.params` entry with the log key."""
        key = self._signing_key()
        valuation.resolve_params(params)
        with read_session(self.engine) as session:
            seq = repo.last_seq(session, _public(key)) + 1
        entry = sign_entry(
            key,
            network=self.network().name,
            kind="network.params",
            seq=seq,
            body={"valuation": dict(params)},
        )
        result = self.append([entry])[0]
        if isinstance(result, LedgerError):
            raise result
        return result

    def _signing_key(self) -> SigningKey:
        if self._log_key is None:
            raise RefusedError("this operation needs the log's signing key (--log-key)")
        return self._log_key

    # --- appends ----------------------------------------------------------------------------

    def append(self, raw_entries: Sequence[Any]) -> list[Appended | LedgerError]:
        """Append entries in order; each gets its `Appended` or the error that refused it.

        The checks that need no log state (shape, signature, network, clock) run before the
        lock is taken; the rest run under it.
        """
        if len(raw_entries) > MAX_BATCH:
            raise EntryError(f"a batch holds at most {MAX_BATCH} entries, not {len(raw_entries)}")
        now = self._clock()
        # Signatures are still being checked on other cores as the entries go on to be ordered.
        prepared = [self._precheck(checked, now) for checked in check_entries(raw_entries)]
        if all(isinstance(p, LedgerError) for p in prepared):
            return [p for p in prepared if isinstance(p, LedgerError)]
        return self._commit_group(_Request(prepared))

    def _commit_group(self, request: _Request) -> list[Appended | LedgerError]:
        """Group commit: the requests that arrive while a transaction runs share the next one.

        One thread at a time leads: it takes every waiting request (up to a batch's worth of
        entries), appends them in order in one transaction with one checkpoint, and hands each
        request its results. Each entry is still accepted or refused on its own, exactly as if
        the requests had come one after another; they just share the commit, the checkpoint
        signature and the state digest.
        """
        with self._group:
            self._waiting.append(request)
            while request.results is None and request.error is None:
                if self._leading:
                    self._group.wait()
                    continue
                self._leading = True
                group: list[_Request] = []
                count = 0
                while self._waiting and (
                    not group or count + len(self._waiting[0].entries) <= MAX_BATCH
                ):
                    group.append(self._waiting.popleft())
                    count += len(group[-1].entries)
                self._group.release()
                try:
                    self._run_group(group)
                finally:
                    self._group.acquire()
                    self._leading = False
                    self._group.notify_all()
        if request.error is not None:
            raise request.error
        assert request.results is not None
        return request.results

    def _run_group(self, group: list[_Request]) -> None:
        prepared = [entry for request in group for entry in request.entries]
        try:
            try:
                results = self._append_transaction(prepared)
            except DBAPIError:
                # The database refused something no check foresaw (a value it cannot store, a
                # constraint): one entry must not sink the others, of its batch or of the
                # group. Each is tried again alone, in order, and only the culprit is refused.
                results = [self._append_alone(entry) for entry in prepared]
        except BaseException as exc:
            for request in group:
                request.error = (
                    exc if isinstance(exc, Exception) else UnavailableError("append interrupted")
                )
            if not isinstance(exc, Exception):
                raise
            return
        position = 0
        for request in group:
            request.results = results[position : position + len(request.entries)]
            position += len(request.entries)

    def _append_transaction(
        self, prepared: Sequence[Unverified | LedgerError]
    ) -> list[Appended | LedgerError]:
        with self._lock:
            try:
                with write_transaction(self.engine) as session:
                    return self._append_locked(session, prepared)
            except BaseException:
                # The in-memory state may be ahead of what was committed: rebuild it.
                self._state = None
                raise

    def _append_alone(self, entry: Unverified | LedgerError) -> Appended | LedgerError:
        """One entry in a transaction of its own; what the database refuses, refused."""
        if isinstance(entry, LedgerError):
            return entry
        try:
            return self._append_transaction([entry])[0]
        except (DataError, IntegrityError) as exc:  # about the entry's data: its own fault
            return RefusedError(f"the database cannot store this entry: {first_line(exc)}")
        except DBAPIError as exc:
            return UnavailableError(f"the database failed to store this entry: {first_line(exc)}")
        except LedgerError as exc:  # the database went away meanwhile (UnavailableError)
            return exc

    def _precheck(
        self, checked: Unverified | LedgerError, now: datetime
    ) -> Unverified | LedgerError:
        """The network and clock checks, which need no lock (and no verdict on the signature
        yet: a bad signature is still the first reason given)."""
        if isinstance(checked, LedgerError):
            return checked
        entry = checked.entry
        try:
            if self._network is not None:
                _check_network(entry, self._network)
            skew = parse_timestamp(entry.ts) - now
            if abs(skew) > MAX_CLOCK_SKEW:
                raise RefusedError(
                    f"entry ts {entry.ts} is {abs(skew.total_seconds()):.0f} s "
                    f"{'ahead of' if skew.total_seconds() > 0 else 'behind'} the log's clock "
                    f"(at most {MAX_CLOCK_SKEW.seconds} s allowed): check the author's clock"
                )
            return checked
        except LedgerError as exc:
            verdict = checked.verified()
            return verdict if isinstance(verdict, LedgerError) else exc

    def _append_locked(
        self, session: Session, prepared: Sequence[Unverified | LedgerError]
    ) -> list[Appended | LedgerError]:
        state = self._sync(session)
        size = state.tree_size
        last = repo.last_leaf(session)
        floor = parse_timestamp(last.logged_at) if last is not None else None
        network = self._network_or_none(session)
        batch = _BatchWriter(state, size, self._frontier(session, size))
        seqs = self._seqs
        logged: dict[str, int] = {}  # the entries appended in this transaction
        results: list[Appended | LedgerError] = []
        # The new rows are stored by another thread as they are made (see `RowStream`).
        with repo.RowStream(session) as stream:

            def logged_index(entry_id: str) -> int | None:
                if entry_id in logged:
                    return logged[entry_id]
                stream.wait()  # the session is ours again
                return repo.entry_index(session, entry_id)

            for checked in prepared:
                # The signatures of later entries are still being checked on other cores.
                item = checked if isinstance(checked, LedgerError) else checked.verified()
                if isinstance(item, LedgerError):
                    results.append(item)
                    continue
                try:
                    self._check_against_log(item, network, size, seqs, logged_index)
                    moment = self._clock()
                    if floor is not None and moment < floor:
                        moment = floor  # logged_at never decreases along the log
                    logged_at = format_timestamp(moment)
                    # Whether the evaluation replaces one in the log (known only before it does).
                    again = item.kind == "evaluation.cast" and state.has_evaluated(
                        str(item.body.get("contribution")), item.author
                    )
                    try:
                        changes = valuation.apply(state, event_of(item, size, logged_at))
                    except valuation.ValuationError as exc:
                        raise RefusedError(str(exc)) from None
                except LedgerError as exc:
                    results.append(exc)
                    continue
                floor = moment
                raw = item.leaf(logged_at)
                digest = merkle.leaf_hash(raw)
                batch.add(item, size, logged_at, raw, digest, changes, again=again)
                seqs[item.author] = item.seq
                logged[item.id] = size
                results.append(Appended(item.id, size, logged_at, digest.hex()))
                if item.kind == "network.genesis":
                    network = self._genesis_network(item)
                size += 1
                if len(batch.leaves) == _STREAM_EVERY:
                    batch.stream(stream)
            if not logged:
                return results
            batch.stream(stream)
            batch.write(stream)
            # The checkpoint is signed while the last rows are stored.
            root = merkle.root_from_frontier(batch.frontier)
            assert network is not None
            note = cp.sign_checkpoint(
                cp.Checkpoint(network.origin, state.tree_size, root), self._signing_key()
            )
            state_digest = valuation.digest(state)
        repo.add_checkpoint(
            session, state.tree_size, root, note, state_digest, state.total_reputation
        )
        return results

    def _frontier(self, session: Session, size: int) -> list[bytes]:
        """The hashes of the tree of `size` that later leaves hash with."""
        ids = merkle.frontier_nodes(size)
        stored = repo.nodes(session, ids)
        return [stored[node] for node in ids]

    def _check_against_log(
        self,
        entry: Entry,
        network: Network | None,
        size: int,
        seqs: Mapping[str, int],
        logged_index: Callable[[str], int | None],
    ) -> None:
        """The checks that need the log: network, duplicates, seq, who signs network entries.

        `seqs` holds each author's last seq in the log (this transaction's entries included),
        and `logged_index` finds where an entry id is in it."""
        if network is not None:
            _check_network(entry, network)
        expected = seqs.get(entry.author, 0) + 1
        if entry.seq != expected:
            # The id covers author and seq, so an entry already in the log has a seq at most
            # its author's last: only an entry out of sequence needs looking up.
            at = logged_index(entry.id)
            if at is not None:
                raise ConflictError(f"duplicate entry: {entry.id[:12]}… is already at index {at}")
            what = "repeats an earlier seq" if entry.seq < expected else "skips ahead"
            raise ConflictError(
                f"seq {entry.seq} {what}: the next seq of {entry.author[:8]}… is {expected}"
            )
        if entry.kind in LOG_KINDS:
            log_author = network.log_public_key if network is not None else None
            if entry.kind == "network.genesis":
                if size != 0:
                    raise RefusedError("the log already has its genesis entry")
                self._check_genesis(entry)
            elif entry.author != log_author:
                raise RefusedError(f"{entry.kind} may only be signed by the log's key")

    def _check_genesis(self, entry: Entry) -> None:
        verifier = cp.parse_verifier_key(str(entry.body["log_key"]))
        if verifier.name != entry.body["origin"]:
            raise RefusedError("genesis log_key must be named after the origin")
        if verifier.public_key.hex() != entry.author:
            raise RefusedError("genesis must be signed by the key in its log_key")
        if self._log_key is not None and _public(self._log_key) != entry.author:
            raise RefusedError("genesis is not signed by this log's key")

    def _genesis_network(self, entry: Entry) -> Network:
        return Network(
            name=entry.network,
            origin=str(entry.body["origin"]),
            log_public_key=entry.author,
            verifier_key=str(entry.body["log_key"]),
        )

    def _network_or_none(self, session: Session) -> Network | None:
        if self._network is None and repo.tree_size(session) > 0:
            row = repo.leaf_at(session, 0)
            assert row is not None
            self._network = self._genesis_network(parse_leaf(bytes(row.leaf), verify=False).entry)
        return self._network

    def _sync(self, session: Session) -> valuation.State:
        """Bring the in-memory valuation state to the database's tree size."""
        size = repo.tree_size(session)
        state = self._state
        if state is None or state.tree_size > size:
            state = valuation.new_state()
            self._seqs = {}
        seqs = self._seqs
        # These leaves were checked when they were appended (and `multitude check` re-checks
        # them): catching up only needs their JSON, not their signatures or canonical form.
        for index, entry_id, raw in repo.leaf_rows_between(session, state.tree_size, size):
            leaf = json.loads(raw)
            entry = leaf["entry"]
            seqs[entry["author"]] = entry["seq"]
            valuation.apply(
                state,
                valuation.Event(
                    index=index,
                    id=entry_id,
                    kind=entry["kind"],
                    author=entry["author"],
                    logged_at=leaf["logged_at"],
                    body=entry["body"],
                ),
            )
        self._state = state
        return state

    def replayed_state(self) -> valuation.State:
        """The valuation state at the current tree size (for reads that need the whole of it)."""
        with self._lock, read_session(self.engine) as session:
            return self._sync(session)

    # --- reads ------------------------------------------------------------------------------

    def latest_checkpoint(self) -> tuple[int, str, str]:
        with read_session(self.engine) as session:
            row = repo.latest_checkpoint(session)
            if row is None:
                raise NotFoundError("the log is empty: no checkpoint has been signed yet")
            return int(row.tree_size), row.note, row.digest

    def digest_at(self, size: int | None) -> tuple[int, str]:
        with read_session(self.engine) as session:
            row = (
                repo.latest_checkpoint(session)
                if size is None
                else repo.checkpoint_at(session, size)
            )
            if row is None:
                raise NotFoundError(
                    "no state digest is published at that tree size"
                    if size is not None
                    else "the log is empty"
                )
            return int(row.tree_size), row.digest

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with read_session(self.engine) as session:
            self._check_size(session, size)
            ids = merkle.inclusion_plan(index, size)
            return merkle.inclusion_proof(index, size, repo.nodes(session, ids))

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        with read_session(self.engine) as session:
            self._check_size(session, second)
            ids = merkle.consistency_plan(first, second)
            return merkle.consistency_proof(first, second, repo.nodes(session, ids))

    def root_at(self, size: int) -> bytes:
        with read_session(self.engine) as session:
            self._check_size(session, size)
            return merkle.root_at(size, repo.nodes(session, merkle.root_plan(size)))

    @staticmethod
    def _check_size(session: Session, size: int) -> None:
        current = repo.tree_size(session)
        if size > current:
            raise NotFoundError(f"tree size {size} is beyond the log's size {current}")

    def leaf_bytes(self, start: int, limit: int, chunk: int = 2000) -> Iterator[bytes]:
        """The exact leaf bytes of [start, start + limit), streamed a chunk per transaction.

        Logged rows never change, so reading them in several transactions is consistent."""
        with read_session(self.engine) as session:
            end = min(repo.tree_size(session), start + limit)
        for position in range(start, end, chunk):
            with read_session(self.engine) as session:
                yield from repo.leaf_bytes_between(session, position, min(end, position + chunk))


class _Request:
    """One caller's entries waiting for the next group commit."""

    __slots__ = ("entries", "error", "results")

    def __init__(self, entries: list[Unverified | LedgerError]) -> None:
        self.entries = entries
        self.results: list[Appended | LedgerError] | None = None
        self.error: Exception | None = None


def _check_network(entry: Entry, network: Network) -> None:
    if entry.network != network.name:
        raise RefusedError(
            f"entry is for network {entry.network!r}, this log is {network.name!r}: "
            "entries cannot be replayed across networks"
        )


def _public(key: SigningKey) -> str:
    return bytes(key.verify_key).hex()


_LEAF_COLUMNS = ("idx", "entry_id", "leaf_hash", "leaf", "author", "seq", "kind", "logged_at")
_POSTING_COLUMNS = ("idx", "n", "member", "asset", "amount", "cause", "contribution", "evaluator")
_HISTORY_COLUMNS = ("member", "idx", "reputation", "tokens")
_EVALUATION_COLUMNS = ("contribution", "evaluator", "value", "idx")


class _BatchWriter:
    """Collects the rows of one append transaction and hands them to a `RowStream`: the log's
    rows (leaves, tree nodes, postings, history) and the evaluations a chunk at a time, the
    figures of members and contributions, which change all along a batch, at its end."""

    def __init__(self, state: valuation.State, size: int, frontier: list[bytes]) -> None:
        self.state = state
        self.size = size  # of the tree whose frontier this is: leaves streamed so far
        self.frontier = frontier
        # The log's rows, as tuples in the order of their _COLUMNS.
        self.leaves: list[tuple[Any, ...]] = []
        self.leaf_hashes: list[bytes] = []
        self.postings: list[tuple[Any, ...]] = []
        self.history: list[tuple[Any, ...]] = []
        self.members: dict[str, int] = {}  # member -> index of its latest change
        self.new_contributions: dict[str, dict[str, Any]] = {}
        self.changed_contributions: set[str] = set()
        # Evaluations: new rows, and by (contribution, evaluator) rows that replace one.
        self.new_evaluations: list[tuple[Any, ...]] = []
        self.evaluations: dict[tuple[str, str], dict[str, Any]] = {}

    def add(
        self,
        entry: Entry,
        index: int,
        logged_at: str,
        raw: bytes,
        digest: bytes,
        changes: valuation.Changes,
        *,
        again: bool = False,
    ) -> None:
        self.leaves.append(
            (index, entry.id, digest, raw, entry.author, entry.seq, entry.kind, logged_at)
        )
        self.leaf_hashes.append(digest)
        self.add_figures(entry, index, logged_at, changes, again=again)

    def add_figures(
        self,
        entry: Entry,
        index: int,
        logged_at: str,
        changes: valuation.Changes,
        *,
        again: bool = False,
    ) -> None:
        """The figure rows an entry changes: postings, history, members, contributions,
        evaluations (`again`: one that replaces the evaluator's earlier one)."""
        for n, p in enumerate(changes.postings):
            self.postings.append(
                (index, n, p.member, p.asset, p.amount, p.cause, p.contribution, p.evaluator)
            )
        figures = self.state.figures
        for key in changes.members:
            self.history.append((key, index, *figures(key)))
            self.members.setdefault(key, index)
        if entry.kind == "contribution.submit":
            submitted = self.state.contribution(entry.id)
            assert submitted is not None
            self.new_contributions[entry.id] = {
                "id": entry.id,
                "idx": index,
                "author": entry.author,
                "title": entry.body["title"],
                "type": submitted.type,
                "logged_at": logged_at,
            }
        elif entry.kind == "evaluation.cast":
            cid = str(entry.body["contribution"])
            value = entry.body["value"]
            if not again:
                self.new_evaluations.append((cid, entry.author, value, index))
            else:  # written after the new rows, so it may replace one of the same hand-off
                self.evaluations[(cid, entry.author)] = {
                    "contribution": cid,
                    "evaluator": entry.author,
                    "value": value,
                    "idx": index,
                }
        self.changed_contributions.update(changes.contributions)

    def stream(self, stream: repo.RowStream) -> None:
        """Hand the rows made since the last call to `stream`: the log's, and evaluations (new
        ones inserted, then changed ones replacing theirs)."""
        self.frontier, completed = merkle.append(self.frontier, self.size, self.leaf_hashes)
        self.size += len(self.leaf_hashes)
        stream.write(LeafRow, self.leaves, columns=_LEAF_COLUMNS)
        stream.write(TreeNodeRow, repo.stored_nodes(completed), columns=("level", "idx", "hash"))
        stream.write(PostingRow, self.postings, columns=_POSTING_COLUMNS)
        stream.write(MemberHistoryRow, self.history, columns=_HISTORY_COLUMNS)
        stream.write(EvaluationRow, self.new_evaluations, columns=_EVALUATION_COLUMNS)
        stream.write(
            EvaluationRow,
            list(self.evaluations.values()),
            conflict=("contribution", "evaluator"),
            update=("value", "idx"),
        )
        self.leaves, self.leaf_hashes, self.postings, self.history = [], [], [], []
        self.new_evaluations, self.evaluations = [], {}

    def write(self, stream: repo.RowStream) -> None:
        """Hand the figure rows, as the batch leaves them, to `stream`."""
        members = []
        for key, first_index in self.members.items():
            view = self.state.member(key)
            assert view is not None
            members.append(
                {
                    "member": key,
                    "name": view.name,
                    "referrer": view.referrer,
                    "reputation": view.reputation,
                    "tokens": view.tokens,
                    "joined_idx": first_index,  # kept by a member that exists
                }
            )
        stream.write(MemberRow, members, conflict=("member",), update=("reputation", "tokens"))
        new, changed = [], []
        for cid in sorted(self.changed_contributions | set(self.new_contributions)):
            contribution = self.state.contribution(cid)
            assert contribution is not None
            figures = {"max_score": contribution.max_score, "fund": contribution.fund}
            if cid in self.new_contributions:
                new.append({**self.new_contributions[cid], **figures})
            else:
                changed.append({"id": cid, **figures})
        stream.write(ContributionRow, new)
        stream.update(ContributionRow, changed, "id")
