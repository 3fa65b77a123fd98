"""The database's own consistency check (`multitude check`): does what is stored hold together?

One read transaction (a snapshot: `REPEATABLE READ` on PostgreSQL, a WAL read transaction on
SQLite) and one streaming pass over the leaves in log order, a chunk at a time; memory holds the
valuation state, the Merkle frontier and each author's last `seq`, never the log. The checks, in
the order a problem is reported:

1. Leaves are dense from index 0; leaf 0 is the `network.genesis`, signed by the key its
   `log_key` names.
2. For each leaf: its bytes are a canonical leaf with a well-signed entry (`parse_leaf`); they
   hash to the stored `leaf_hash`, the entry to the stored `entry_id`; the stored `author`,
   `seq`, `kind` and `logged_at` columns say what the bytes say; the entry keeps the log's
   rules (`ledger.rules`: the genesis network, each author's `seq` 1 then +1, log kinds signed
   by the log key, `logged_at` never decreasing).
3. Valuation replays the entry without refusal; the stored `postings` and `member_history` rows
   of its index are exactly what that step changed, and so is its `contribution_history` row
   (one per cast, under an algorithm that stores its score history; none otherwise).
4. The tree: every node above the leaves that they complete (`merkle.append`, as the
   integrator computes them) is stored with the same hash, and no node is stored beyond them.
5. Every stored checkpoint, when the stream reaches its size: its note verifies with the
   genesis log key, its body names the origin, its size and root, and the root and the state
   root (its `state` line and the `state_root` column; the state digest on checkpoints signed
   before the state map) equal the ones recomputed at that size. No checkpoint lies beyond the
   log, and the latest one covers every leaf (a leaf without a checkpoint is a half-written append).
6. The figure tables (`members`, `contributions`, `evaluations`) equal the replayed state.

The first problem raises `IntegrityError` naming the table, the row and why; a database that
cannot be read raises `UnavailableError`. Success returns a `CheckReport`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

import valuation
from ledger import checkpoint as cp
from ledger import merkle, reads, rules
from ledger import repository as repo
from ledger.db import unavailable_on_outage
from ledger.entries import event_of, parse_leaf, parse_timestamp
from ledger.errors import IntegrityError, LedgerError
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
from ledger.rules import Network
from valuation.statemap import StateMap

Progress = Callable[[int, int], None]
"""Called as `progress(leaves_done, leaves_total)` while the leaves stream by."""

CHUNK = 1000  # leaves (and their postings, history, nodes, checkpoints) fetched at once


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What a passing check covered. `root` and `state_root` are hex, at `tree_size`."""

    tree_size: int
    network: str
    origin: str
    root: str
    state_root: str
    checkpoints: int
    nodes: int
    authors: int
    members: int
    contributions: int
    evaluations: int
    seconds: float


def _short(text: str) -> str:
    return text[:12] + "…" if len(text) > 12 else text


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Session]:
    """One read transaction that sees a single committed state of the whole database."""
    with unavailable_on_outage():
        conn = engine.connect()
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            with Session(bind=conn) as session, session.begin():
                yield session
        finally:
            conn.close()


def check(engine: Engine, progress: Progress | None = None) -> CheckReport:
    """Check the database behind `engine`; raise `IntegrityError` at the first problem."""
    started = time.monotonic()
    with unavailable_on_outage():
        tables = set(inspect(engine).get_table_names())
    missing = {"leaves", "tree_nodes", "checkpoints", "members"} - tables
    if missing:
        raise IntegrityError(
            f"the database has no Multitude schema (no table {sorted(missing)[0]!r}): "
            "is this the right database? `multitude serve` or `multitude init` creates it"
        )
    with _snapshot(engine) as session:
        report = _Checker(session, progress).run()
    return replace(report, seconds=round(time.monotonic() - started, 3))


class _Checker:
    def __init__(self, session: Session, progress: Progress | None) -> None:
        self.session = session
        self.progress = progress
        self.size = repo.tree_size(session)
        self.state = valuation.new_state()
        # The state map, brought up to date at each checkpoint with the records changed since.
        self.map = StateMap()
        self.changed: set[str] = set()
        self.frontier: merkle.Frontier = []
        self.done = 0  # leaves checked so far: the tree size reached
        self.nodes = 0  # nodes above the leaves that they complete
        self.checkpoints = 0
        self.last_seq: dict[str, int] = {}
        self.last_logged_at: datetime | None = None
        self.joined: dict[str, int] = {}  # member -> first index that changed it
        self.submitted: dict[str, tuple[str, str]] = {}  # contribution -> (title, logged_at)
        self.network: Network | None = None  # once leaf 0 is checked
        self.verifier: cp.Verifier | None = None

    def run(self) -> CheckReport:
        if self.size == 0:
            self._check_empty()
        while self.done < self.size:
            self._chunk(self.done, min(self.size, self.done + CHUNK))
            if self.progress is not None:
                self.progress(self.done, self.size)
        self._check_tail()
        members, contributions, evaluations = self._check_figures()
        return CheckReport(
            tree_size=self.size,
            network="" if self.network is None else self.network.name,
            origin="" if self.network is None else self.network.origin,
            root=merkle.root_from_frontier(self.frontier).hex(),
            state_root=self._state_root().hex(),
            checkpoints=self.checkpoints,
            nodes=self.nodes,
            authors=len(self.last_seq),
            members=members,
            contributions=contributions,
            evaluations=evaluations,
            seconds=0.0,
        )

    # --- the stream ---------------------------------------------------------------------------

    def _check_empty(self) -> None:
        for model, table in (
            (TreeNodeRow, "tree_nodes"),
            (CheckpointRow, "checkpoints"),
            (PostingRow, "postings"),
            (MemberHistoryRow, "member_history"),
            (ContributionHistoryRow, "contribution_history"),
            (MemberRow, "members"),
            (ContributionRow, "contributions"),
            (EvaluationRow, "evaluations"),
        ):
            count = self._count(model)
            if count:
                raise IntegrityError(f"{table}: {count} rows, but the log has no leaves")

    def _chunk(self, start: int, end: int) -> None:
        session = self.session
        rows = session.scalars(
            select(LeafRow).where(LeafRow.idx >= start, LeafRow.idx < end).order_by(LeafRow.idx)
        ).all()
        postings = reads.by_index(
            session.scalars(
                select(PostingRow)
                .where(PostingRow.idx >= start, PostingRow.idx < end)
                .order_by(PostingRow.idx, PostingRow.n)
            )
        )
        scores: dict[int, list[tuple[str, int | None]]] = {}
        for score in session.scalars(
            select(ContributionHistoryRow).where(
                ContributionHistoryRow.idx >= start, ContributionHistoryRow.idx < end
            )
        ):
            scores.setdefault(score.idx, []).append((score.contribution, score.max_score))
        history: dict[int, dict[str, MemberHistoryRow]] = {}
        for change in session.scalars(
            select(MemberHistoryRow).where(
                MemberHistoryRow.idx >= start, MemberHistoryRow.idx < end
            )
        ):
            history.setdefault(change.idx, {})[change.member] = change
        checkpoints = {
            signed.tree_size: signed
            for signed in session.scalars(
                select(CheckpointRow).where(
                    CheckpointRow.tree_size >= start, CheckpointRow.tree_size <= end
                )
            )
        }
        completed: list[merkle.StoredNode] = []
        for row in rows:
            index = self.done
            if row.idx != index:
                raise IntegrityError(
                    f"leaves: index {index} is missing (the next stored leaf is {row.idx}); "
                    "indexes must be dense from 0"
                )
            if index in checkpoints:
                self._check_checkpoint(checkpoints[index])
            raw = bytes(row.leaf)
            self._check_leaf(row, raw)
            self._replay(
                row, raw, postings.get(index, []), history.get(index, {}), scores.get(index, [])
            )
            self.frontier, nodes = merkle.append(self.frontier, index, [bytes(row.leaf_hash)])
            completed.extend(repo.stored_nodes(nodes))
            self.done += 1
        if self.done < end:
            raise IntegrityError(
                f"leaves: index {self.done} is missing; the log's highest index is {self.size - 1}"
            )
        if end in checkpoints:
            self._check_checkpoint(checkpoints[end])
        self._check_nodes(completed)

    def _check_leaf(self, row: LeafRow, raw: bytes) -> None:
        index = row.idx
        where = f"leaf {index}"
        try:
            leaf = parse_leaf(raw)
        except LedgerError as exc:
            raise IntegrityError(f"{where}: its bytes are not a valid leaf: {exc}") from None
        entry = leaf.entry
        if merkle.leaf_hash(raw) != bytes(row.leaf_hash):
            raise IntegrityError(f"{where}: its bytes do not hash to the stored leaf_hash")
        if entry.id != row.entry_id:
            raise IntegrityError(
                f"{where}: its entry's id is {_short(entry.id)}, "
                f"the row says {_short(row.entry_id)}"
            )
        for column, stored, actual in (
            ("author", row.author, entry.author),
            ("seq", row.seq, entry.seq),
            ("kind", row.kind, entry.kind),
            ("logged_at", row.logged_at, leaf.logged_at),
        ):
            if stored != actual:
                raise IntegrityError(
                    f"{where}: the {column} column says {stored!r}, the leaf's bytes {actual!r}"
                )
        try:
            network = rules.check_entry(entry, self.network, self.last_seq.get(entry.author, 0))
            logged_at = parse_timestamp(leaf.logged_at)
            rules.check_logged_at(leaf.logged_at, logged_at, self.last_logged_at)
        except LedgerError as exc:
            raise IntegrityError(f"{where}: {exc}") from None
        if self.network is None:
            self.network = network
            self.verifier = cp.parse_verifier_key(network.verifier_key)
        self.last_seq[entry.author] = entry.seq
        self.last_logged_at = logged_at

    def _replay(
        self,
        row: LeafRow,
        raw: bytes,
        postings: Sequence[PostingRow],
        history: dict[str, MemberHistoryRow],
        scores: Sequence[tuple[str, int | None]],
    ) -> None:
        index = row.idx
        leaf = parse_leaf(raw, verify=False)
        try:
            changes = valuation.apply(self.state, event_of(leaf.entry, index, leaf.logged_at))
        except valuation.ValuationError as exc:
            raise IntegrityError(f"leaf {index}: valuation refuses it: {exc}") from None
        self.changed.update(changes.records)
        expected = [
            (n, p.member, p.asset, p.amount, p.cause, p.contribution, p.evaluator)
            for n, p in enumerate(changes.postings)
        ]
        stored = [
            (p.n, p.member, p.asset, p.amount, p.cause, p.contribution, p.evaluator)
            for p in postings
        ]
        if stored != expected:
            n = _first_difference(stored, expected)
            raise IntegrityError(
                f"postings: the rows of index {index} differ from the replay at n={n}: stored "
                f"{_row(stored, n)}, replayed {_row(expected, n)}"
            )
        if set(history) != set(changes.members):
            extra = sorted(set(history) ^ set(changes.members))[0]
            raise IntegrityError(
                f"member_history: index {index}, member {extra[:8]}…: "
                + ("row without a change in the replay" if extra in history else "row missing")
            )
        for key in changes.members:
            view = self.state.member(key)
            assert view is not None
            row_h = history[key]
            if (row_h.reputation, row_h.tokens) != (view.reputation, view.tokens):
                raise IntegrityError(
                    f"member_history: index {index}, member {key[:8]}…: stored "
                    f"{_figures(row_h.reputation, row_h.tokens)}, replayed "
                    f"{_figures(view.reputation, view.tokens)}"
                )
            self.joined.setdefault(key, index)
        if leaf.entry.kind == "contribution.submit":
            self.submitted[leaf.entry.id] = (str(leaf.entry.body["title"]), leaf.logged_at)
        expected_scores: list[tuple[str, int | None]] = []
        if (
            leaf.entry.kind == "evaluation.cast"
            and valuation.algorithm_of(self.state).stores_score_history
        ):
            cid = str(leaf.entry.body["contribution"])
            evaluated = self.state.contribution(cid)
            assert evaluated is not None
            expected_scores.append((cid, evaluated.max_score))
        if list(scores) != expected_scores:
            raise IntegrityError(
                f"contribution_history: the rows of index {index} are {list(scores)!r}, the "
                f"replay says {expected_scores!r}"
            )

    def _check_checkpoint(self, row: CheckpointRow) -> None:
        size = row.tree_size
        where = f"checkpoint at tree size {size}"
        if self.verifier is None or self.network is None:
            raise IntegrityError(f"{where}: no leaf 0 (genesis) precedes it")
        try:
            signed = cp.open_checkpoint(row.note, self.verifier)
        except LedgerError as exc:
            raise IntegrityError(f"{where}: its note does not verify: {exc}") from None
        if signed.origin != self.network.origin:
            raise IntegrityError(
                f"{where}: the note's origin is {signed.origin!r}, not {self.network.origin!r}"
            )
        if signed.size != size:
            raise IntegrityError(f"{where}: the signed note is for tree size {signed.size}")
        root = merkle.root_from_frontier(self.frontier)
        if signed.root_hash != root:
            raise IntegrityError(
                f"{where}: the signed root {signed.root_hash.hex()[:16]}… is not the root of "
                f"the leaves {root.hex()[:16]}…"
            )
        if bytes(row.root_hash) != root:
            raise IntegrityError(f"{where}: the root_hash column is not the root of the leaves")
        state_root = self._state_root()
        for what, found in (
            ("state line", signed.state_root),
            ("state_root column", row.state_root),
        ):
            if found is not None and bytes(found) != state_root:
                raise IntegrityError(
                    f"{where}: the {what} {bytes(found).hex()[:16]}… is not the replayed "
                    f"state root {state_root.hex()[:16]}…"
                )
        if (signed.state_root is None) != (row.state_root is None):
            raise IntegrityError(f"{where}: the state line and the state_root column disagree")
        if row.digest is not None:  # signed before the state map
            digest = valuation.digest(self.state)
            if row.digest != digest:
                raise IntegrityError(
                    f"{where}: the state digest {_short(row.digest)} is not the replayed "
                    f"{_short(digest)}"
                )
        elif row.state_root is None:
            raise IntegrityError(f"{where}: it carries neither a state root nor a digest")
        total = row.total_reputation
        if total is not None and total != self.state.total_reputation:
            raise IntegrityError(
                f"{where}: the recorded total reputation {total} is not the replayed "
                f"{self.state.total_reputation}"
            )
        self.checkpoints += 1

    def _state_root(self) -> bytes:
        """The state map's root at the size replayed so far."""
        if self.changed:
            self.map.update((key, valuation.record_value(self.state, key)) for key in self.changed)
            self.changed = set()
        return self.map.root

    def _check_nodes(self, completed: Sequence[merkle.StoredNode]) -> None:
        stored = repo.nodes(self.session, [(level, idx) for level, idx, _ in completed])
        for level, idx, digest in completed:
            found = stored.get((level, idx))
            if found is None:
                raise IntegrityError(f"tree_nodes: node (level {level}, index {idx}) is missing")
            if found != digest:
                raise IntegrityError(
                    f"tree_nodes: node (level {level}, index {idx}) does not hash the leaves "
                    "beneath it"
                )
        self.nodes += len(completed)

    def _check_tail(self) -> None:
        session = self.session
        beyond = session.scalar(
            select(func.min(CheckpointRow.tree_size)).where(CheckpointRow.tree_size > self.size)
        )
        if beyond is not None:
            raise IntegrityError(
                f"checkpoints: a checkpoint at tree size {beyond} lies beyond the log's "
                f"{self.size} leaves"
            )
        if self.size:
            latest = session.scalar(select(func.max(CheckpointRow.tree_size)))
            if latest != self.size:
                first = 0 if latest is None else latest
                raise IntegrityError(
                    f"checkpoints: leaves {first}..{self.size - 1} are covered by no signed "
                    "checkpoint (a half-written append)"
                )
        total = self._count(TreeNodeRow)
        if total != self.nodes:
            for level in session.scalars(select(TreeNodeRow.level).distinct().order_by("level")):
                extra = session.scalar(
                    select(func.min(TreeNodeRow.idx)).where(
                        TreeNodeRow.level == level, TreeNodeRow.idx >= self.size >> level
                    )
                )
                if extra is not None or level < 0:
                    raise IntegrityError(
                        f"tree_nodes: node (level {level}, index {extra}) lies beyond the tree "
                        f"of {self.size} leaves"
                    )
            raise IntegrityError(
                f"tree_nodes: {total} rows stored, the leaves complete {self.nodes}"
            )
        for model, table in (
            (PostingRow, "postings"),
            (MemberHistoryRow, "member_history"),
            (ContributionHistoryRow, "contribution_history"),
        ):
            stray = session.scalar(
                select(func.max(model.idx)).where((model.idx >= self.size) | (model.idx < 0))
            )
            if stray is not None:
                raise IntegrityError(f"{table}: a row at index {stray}, beyond the log")

    # --- the figures --------------------------------------------------------------------------

    def _check_figures(self) -> tuple[int, int, int]:
        session = self.session
        members = {
            m.key: (m.name, m.referrer, m.reputation, m.tokens, self.joined.get(m.key))
            for m in self.state.iter_members()
        }
        _compare(
            "members",
            members,
            (
                (r.member, (r.name, r.referrer, r.reputation, r.tokens, r.joined_idx))
                for r in session.scalars(select(MemberRow).order_by(MemberRow.member))
            ),
            ("name", "referrer", "reputation", "tokens", "joined_idx"),
        )
        contributions: dict[str, tuple[Any, ...]] = {}
        evaluations: dict[str, tuple[Any, ...]] = {}
        for c in self.state.iter_contributions():
            title, logged_at = self.submitted[c.id]
            contributions[c.id] = (c.index, c.author, title, c.type, logged_at, c.max_score, c.fund)
            for evaluator, value, index in c.evaluations:
                weight = self.state.frozen_weight(c.id, evaluator)
                evaluations[f"{c.id}/{evaluator}"] = (value, index, weight)
        _compare(
            "contributions",
            contributions,
            (
                (r.id, (r.idx, r.author, r.title, r.type, r.logged_at, r.max_score, r.fund))
                for r in session.scalars(select(ContributionRow).order_by(ContributionRow.id))
            ),
            ("idx", "author", "title", "type", "logged_at", "max_score", "fund"),
        )
        _compare(
            "evaluations",
            evaluations,
            (
                (f"{r.contribution}/{r.evaluator}", (r.value, r.idx, r.weight))
                for r in session.scalars(
                    select(EvaluationRow).order_by(
                        EvaluationRow.contribution, EvaluationRow.evaluator
                    )
                )
            ),
            ("value", "idx", "weight"),
        )
        return len(members), len(contributions), len(evaluations)

    def _count(self, model: type[Any]) -> int:
        return int(self.session.scalar(select(func.count()).select_from(model)) or 0)


def _compare(
    table: str,
    replayed: dict[str, tuple[Any, ...]],
    stored: Iterator[tuple[str, tuple[Any, ...]]],
    columns: Sequence[str],
) -> None:
    """Stored rows, streamed, against the replay's; the first difference raises."""
    seen: set[str] = set()
    for key, values in stored:
        expected = replayed.get(key)
        if expected is None:
            raise IntegrityError(f"{table}: row {_short(key)} does not exist in the replay")
        for column, got, want in zip(columns, values, expected, strict=True):
            if got != want:
                raise IntegrityError(
                    f"{table}: row {_short(key)}: {column} is {got!r}, the replay says {want!r}"
                )
        seen.add(key)
    if len(seen) != len(replayed):
        missing = sorted(set(replayed) - seen)
        raise IntegrityError(
            f"{table}: {len(missing)} rows of the replay are missing, "
            f"the first {_short(missing[0])}"
        )


def _first_difference(
    stored: Sequence[tuple[Any, ...]], expected: Sequence[tuple[Any, ...]]
) -> int:
    for n, (a, b) in enumerate(zip(stored, expected, strict=False)):
        if a != b:
            return n
    return min(len(stored), len(expected))


def _row(rows: Sequence[tuple[Any, ...]], n: int) -> str:
    return repr(rows[n][1:]) if n < len(rows) else "no row"


def _figures(reputation: int, tokens: int) -> str:
    amount = valuation.format_amount
    return f"reputation {amount(reputation)}, tokens {amount(tokens)}"
