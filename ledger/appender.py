"""The append step: entries checked against the log, valued, written and sealed.

The sequencer (`ledger.sequencer`) hands this step the entries of one group commit. Under the
log's ordering lock, in one database transaction, each entry is checked against the log,
valued by `valuation` (an entry that valuation refuses is refused like any other), given the
next index and a non-decreasing `logged_at`, and written with the tree nodes it completes and
the figures it changes; then a newly signed checkpoint seals the new tree (`_checkpoint`).

Each process keeps the valuation state in memory and brings it up to the database's tree
size under the lock, so several worker processes on one PostgreSQL never apply an entry
twice and always extend the same state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

import valuation
from ledger import checkpoint as cp
from ledger import merkle, reads, rules
from ledger import repository as repo
from ledger.db import first_line, read_session, write_transaction
from ledger.entries import (
    Entry,
    event,
    event_of,
    format_timestamp,
    parse_timestamp,
    stored_leaf,
)
from ledger.errors import ConflictError, LedgerError, RefusedError, SeqError, UnavailableError
from ledger.live_map import KEEP, LiveMap, RebuiltMaps
from ledger.models import (
    CheckpointRow,
    ContributionHistoryRow,
    ContributionRow,
    EvaluationRow,
    LeafRow,
    MemberHistoryRow,
    MemberRow,
    PostingRow,
    TreeNodeRow,
)
from ledger.rowstream import RowStream
from ledger.rules import Network
from ledger.signatures import Unverified
from valuation.statemap import StateProof

MAX_CLOCK_SKEW = timedelta(seconds=300)
_STREAM_EVERY = 200  # entries whose log rows are handed to the writing thread at once
_REPLAY_CHUNK = 20_000  # leaves read in one transaction when an old state map is rebuilt


@dataclass(frozen=True, slots=True)
class Appended:
    id: str
    index: int
    logged_at: str
    leaf_hash: str


def public_key(key: SigningKey) -> str:
    return bytes(key.verify_key).hex()


def signing_key(key: SigningKey | None) -> SigningKey:
    """The log's key, or the refusal of an operation that needs it."""
    if key is None:
        raise RefusedError("this operation needs the log's signing key (--log-key)")
    return key


class Appender:
    """The append step of one log, with the valuation state it keeps in memory."""

    def __init__(
        self, engine: Engine, log_key: SigningKey | None, clock: Callable[[], datetime]
    ) -> None:
        self.engine = engine
        self._log_key = log_key
        self._clock = clock
        self._lock = threading.Lock()
        self._state: valuation.State | None = None
        # Each author's last seq in the log, kept with `_state` at the same tree size.
        self._seqs: dict[str, int] = {}
        # The state map of `_state`, with the versions of the last checkpoints.
        self._map: LiveMap | None = None
        # The tree's frontier and the last `logged_at`, at `_state`'s tree size once an append
        # of this process has committed them (None: read them from the database).
        self._tail: tuple[list[bytes], datetime | None] | None = None
        self._rebuilt = RebuiltMaps()
        self.network: Network | None = None  # the log's network, once known

    def precheck(
        self, checked: Unverified | LedgerError, now: datetime
    ) -> Unverified | LedgerError:
        """The network and clock checks, which need no lock (and no verdict on the signature
        yet: a bad signature is still the first reason given)."""
        if isinstance(checked, LedgerError):
            return checked
        entry = checked.entry
        try:
            if self.network is not None:
                rules.check_network(entry, self.network)
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

    def run(self, prepared: list[Unverified | LedgerError]) -> list[Appended | LedgerError]:
        """Append the entries of one group commit in one transaction, under the log's lock.

        If the database refuses something no check foresaw (a value it cannot store, a
        constraint), one entry must not sink the others, of its batch or of its group: each is
        tried again alone, in order, and only the culprit is refused (`_alone`)."""
        try:
            return self._transaction(prepared)
        except DBAPIError:
            return [self._alone(entry) for entry in prepared]

    def _alone(self, entry: Unverified | LedgerError) -> Appended | LedgerError:
        """One entry in a transaction of its own; what the database refuses, refused."""
        if isinstance(entry, LedgerError):
            return entry
        try:
            return self._transaction([entry])[0]
        except (DataError, IntegrityError) as exc:  # about the entry's data: its own fault
            return RefusedError(f"the database cannot store this entry: {first_line(exc)}")
        except DBAPIError as exc:
            return UnavailableError(f"the database failed to store this entry: {first_line(exc)}")
        except LedgerError as exc:  # the database went away meanwhile (UnavailableError)
            return exc

    def _transaction(
        self, prepared: Sequence[Unverified | LedgerError]
    ) -> list[Appended | LedgerError]:
        with self._lock:
            try:
                with write_transaction(self.engine) as (session, size):
                    return self._append_locked(session, size, prepared)
            except BaseException:
                # The in-memory state may be ahead of what was committed: rebuild it.
                self._state = None
                self._map = None
                self._tail = None
                raise

    def _append_locked(
        self, session: Session, size: int, prepared: Sequence[Unverified | LedgerError]
    ) -> list[Appended | LedgerError]:
        state = self.sync(session, size)
        live = self._map
        assert live is not None
        size = state.tree_size
        frontier, floor = self._tail if self._tail is not None else self._read_tail(session, size)
        self._tail = None  # until this transaction commits
        network = self.network_or_none(session)
        batch = _BatchWriter(state, size, frontier)
        seqs = self._seqs
        logged: dict[str, int] = {}  # the entries appended in this transaction
        results: list[Appended | LedgerError] = []
        # A large group's rows are stored by another thread as they are made (`RowStream`);
        # a small one's are written in turn, which spares the hand-off.
        with RowStream(session, threaded=len(prepared) >= _STREAM_EVERY) as stream:

            def logged_index(entry_id: str) -> int | None:
                if entry_id in logged:
                    return logged[entry_id]
                with stream.session() as ours:
                    return repo.entry_index(ours, entry_id)

            for checked in prepared:
                # The signatures of later entries are still being checked on other cores.
                item = checked if isinstance(checked, LedgerError) else checked.verified()
                if isinstance(item, LedgerError):
                    results.append(item)
                    continue
                try:
                    entry_network = self._check_against_log(item, network, seqs, logged_index)
                    moment = rules.next_logged_at(self._clock(), floor)
                    logged_at = format_timestamp(moment)
                    # Whether the evaluation replaces one in the log (known only before it does).
                    again = item.kind == "evaluation.cast" and state.has_evaluated(
                        str(item.body.get("contribution")), item.author
                    )
                    try:
                        changes = valuation.apply(state, event_of(item, size, logged_at))
                    except valuation.ValuationError as exc:
                        raise RefusedError(str(exc)) from None
                    live.note(changes)
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
                network = entry_network
                size += 1
                if len(batch.leaves) == _STREAM_EVERY:
                    batch.stream(stream)
            if not logged:
                self._tail = (frontier, floor)
                return results
            batch.stream(stream)
            batch.write(stream)
            assert network is not None
            self._checkpoint(stream, state, live, batch.frontier, network)
        # Kept only once committed: `_transaction` forgets it if the commit fails.
        self._tail = (batch.frontier, floor)
        return results

    def _checkpoint(
        self,
        stream: RowStream,
        state: valuation.State,
        live: LiveMap,
        frontier: list[bytes],
        network: Network,
    ) -> None:
        """Seal the new tree and the state map (while the last rows are being stored): sign
        the checkpoint with its `state` line and store it."""
        root = merkle.root_from_frontier(frontier)
        state_root = live.seal(state)
        checkpoint = cp.Checkpoint(network.origin, state.tree_size, root, state_root)
        note = cp.sign_checkpoint(checkpoint, signing_key(self._log_key))
        row = repo.checkpoint_row(state.tree_size, root, note, state_root, state.total_reputation)
        stream.write(CheckpointRow, [row])

    def _read_tail(self, session: Session, size: int) -> tuple[list[bytes], datetime | None]:
        """The hashes of the tree of `size` that later leaves hash with, and the last leaf's
        `logged_at` (None in an empty log)."""
        ids = merkle.frontier_nodes(size)
        stored = repo.nodes(session, ids)
        last = repo.last_leaf(session)
        floor = parse_timestamp(last.logged_at) if last is not None else None
        return [stored[node] for node in ids], floor

    def _check_against_log(
        self,
        entry: Entry,
        network: Network | None,
        seqs: Mapping[str, int],
        logged_index: Callable[[str], int | None],
    ) -> Network:
        """The log's rules (`ledger.rules`), an entry already in the log named as such, and a
        genesis signed by this log's key; the log's network with the entry.

        `seqs` holds each author's last seq in the log (this transaction's entries included),
        and `logged_index` finds where an entry id is in it."""
        try:
            network = rules.check_entry(entry, network, seqs.get(entry.author, 0))
        except SeqError:
            # The id covers author and seq, so an entry already in the log has a seq at most
            # its author's last: only an entry out of sequence needs looking up.
            at = logged_index(entry.id)
            if at is not None:
                raise ConflictError(
                    f"duplicate entry: {entry.id[:12]}… is already at index {at}"
                ) from None
            raise
        if (
            entry.kind == rules.GENESIS
            and self._log_key is not None
            and public_key(self._log_key) != entry.author
        ):
            raise RefusedError("genesis is not signed by this log's key")
        return network

    def network_or_none(self, session: Session) -> Network | None:
        """The log's network, read from its genesis entry the first time (None if empty)."""
        if self.network is None:
            self.network = reads.network(session)
        return self.network

    def sync(self, session: Session, size: int | None = None) -> valuation.State:
        """Bring the in-memory valuation state, and its state map, to the database's tree size.

        The map keeps the versions of the last `live_map.KEEP` checkpoints: a state rebuilt
        from nothing is replayed without the map up to the first of those, where the map is
        built from its records; from there each entry's changed records are noted and written
        at each checkpoint's size. `size` is the log's, if the caller has read it."""
        size = repo.tree_size(session) if size is None else size
        state = self._state
        if state is not None and state.tree_size == size and self._map is not None:
            return state  # the usual case: nothing was appended by another process
        tail, self._tail = self._tail, None
        if state is None or state.tree_size > size:
            state = valuation.new_state()
            self._seqs = {}
            self._map = None
            tail = None
        seqs = self._seqs
        live = self._map
        sealed = repo.checkpoint_sizes(session, state.tree_size + 1, size, last=KEEP)
        build_at = sealed[0] if sealed else size
        start = state.tree_size
        # The leaves another process appended also extend the tree's frontier: kept here, it
        # spares reading it back (several workers take turns appending).
        caught: list[bytes] | None = [] if tail is not None else None
        last_logged_at = None
        # These leaves were checked when they were appended (and `multitude check` re-checks
        # them): catching up only needs their JSON, not their signatures or canonical form.
        for leaf_event in _leaf_events(
            repo.leaf_rows_between(session, state.tree_size, size), seqs, caught
        ):
            last_logged_at = leaf_event.logged_at
            changes = valuation.apply(state, leaf_event)
            if live is not None:
                live.note(changes)
                if state.tree_size in sealed:
                    live.seal(state)
            elif state.tree_size == build_at:
                live = LiveMap(state)
                live.seal(state)
        if live is None:  # nothing to replay, or no checkpoint in reach
            live = LiveMap(state)
            live.seal(state)
        self._state = state
        self._map = live
        if tail is not None and caught is not None and state.tree_size == size:
            frontier, _ = merkle.append(tail[0], start, caught)
            floor = tail[1] if last_logged_at is None else parse_timestamp(last_logged_at)
            self._tail = (frontier, floor)
        return state

    def state_proof(self, key: str, tree_size: int) -> StateProof:
        """The proof of record `key` at the checkpointed `tree_size` (SPEC section 5): from
        the map in memory when that version is kept, else by a replay up to that size."""
        live = self._map
        proof = None if live is None else live.proof(key, tree_size)
        if proof is None and (live is None or tree_size > live.size):
            # Entries appended by another worker: catch up, which keeps their versions.
            with self._lock, read_session(self.engine) as session:
                self.sync(session)
                live = self._map
            proof = None if live is None else live.proof(key, tree_size)
        if proof is not None:
            return proof

        def events() -> Iterator[valuation.Event]:
            for start in range(0, tree_size, _REPLAY_CHUNK):
                with read_session(self.engine) as session:
                    rows = repo.leaf_rows_between(
                        session, start, min(tree_size, start + _REPLAY_CHUNK)
                    )
                yield from _leaf_events(rows, {})

        return self._rebuilt.proof(key, tree_size, events())

    def replayed_state(self) -> valuation.State:
        """The valuation state at the current tree size (for reads that need the whole of it)."""
        with self._lock, read_session(self.engine) as session:
            return self.sync(session)


def _leaf_events(
    rows: Iterable[tuple[int, str, bytes]],
    seqs: dict[str, int],
    hashes: list[bytes] | None = None,
) -> Iterator[valuation.Event]:
    """The events of logged leaves (index, entry id, leaf bytes), noting each author's seq
    and, given `hashes`, adding each leaf's hash to it."""
    for index, entry_id, raw in rows:
        data, logged_at = stored_leaf(raw)
        seqs[data["author"]] = data["seq"]
        if hashes is not None:
            hashes.append(merkle.leaf_hash(raw))
        yield event(index, entry_id, data, logged_at)


_LEAF_COLUMNS = ("idx", "entry_id", "leaf_hash", "leaf", "author", "seq", "kind", "logged_at")
_POSTING_COLUMNS = ("idx", "n", "member", "asset", "amount", "cause", "contribution", "evaluator")
_HISTORY_COLUMNS = ("member", "idx", "reputation", "tokens")
_EVALUATION_COLUMNS = ("contribution", "evaluator", "value", "idx", "weight")
_SCORE_COLUMNS = ("contribution", "idx", "max_score")


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
        self.scores: list[tuple[Any, ...]] = []  # contribution_history
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
            if valuation.algorithm_of(self.state).stores_score_history:
                evaluated = self.state.contribution(cid)
                assert evaluated is not None
                self.scores.append((cid, index, evaluated.max_score))
            if not again:
                # backfeed/2's frozen weight (None under backfeed/1): a re-cast keeps it.
                weight = self.state.frozen_weight(cid, entry.author)
                self.new_evaluations.append((cid, entry.author, value, index, weight))
            else:  # written after the new rows, so it may replace one of the same hand-off
                self.evaluations[(cid, entry.author)] = {
                    "contribution": cid,
                    "evaluator": entry.author,
                    "value": value,
                    "idx": index,
                }
        self.changed_contributions.update(changes.contributions)

    def stream(self, stream: RowStream) -> None:
        """Hand the rows made since the last call to `stream`: the log's, and evaluations (new
        ones inserted, then changed ones replacing theirs)."""
        self.frontier, completed = merkle.append(self.frontier, self.size, self.leaf_hashes)
        self.size += len(self.leaf_hashes)
        stream.write(LeafRow, self.leaves, columns=_LEAF_COLUMNS)
        stream.write(TreeNodeRow, repo.stored_nodes(completed), columns=("level", "idx", "hash"))
        stream.write(PostingRow, self.postings, columns=_POSTING_COLUMNS)
        stream.write(MemberHistoryRow, self.history, columns=_HISTORY_COLUMNS)
        stream.write(ContributionHistoryRow, self.scores, columns=_SCORE_COLUMNS)
        stream.write(EvaluationRow, self.new_evaluations, columns=_EVALUATION_COLUMNS)
        stream.write(
            EvaluationRow,
            list(self.evaluations.values()),
            conflict=("contribution", "evaluator"),
            update=("value", "idx"),
        )
        self.leaves, self.leaf_hashes, self.postings, self.history = [], [], [], []
        self.scores = []
        self.new_evaluations, self.evaluations = [], {}

    def write(self, stream: RowStream) -> None:
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
