"""What-if replays (`multitude whatif`): an exported log replayed under other rules.

`replay_under(bundle, valuation)` reads an audit bundle (SPEC section 7: `leaves.jsonl`,
`checkpoint`, `log.vkey`), and replays its leaves twice: under the rules the log's genesis
chose, and under `valuation` put in place of the genesis's valuation (every other entry as
logged). The two replays run side by side, one in a helper process, so a replay takes the time
of the slower of the two rather than their sum. It returns each member's figures and rank
under both, biggest movers first, with the checkpoint it started from.

What it checks and what it does not: the checkpoint is opened with the key of `log.vkey`, and
the root of the leaves must be the checkpoint's, so the replay is of the log that checkpoint
signs. Entries' signatures are not checked (that is `multitude verify`, which costs an Ed25519
verification a line); leaves are read as `ledger.audit` reads them.

Entries that the other rules refuse are counted by kind, with the first few reasons, and left
out of the other replay; the entries after them keep their order (renumbered, since valuation
takes the log's indexes as dense). An entry that the log's own rules refuse is an error: the
bundle is not a log (run `multitude verify` on it).

Reputation under either rules is what the state holds plus, where the algorithm settles rewards
lazily, the claims not settled yet (`ledger.simulate.pending_reader`); R is the sum of these.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import valuation
from ledger import checkpoint as cp
from ledger import entries
from ledger.audit import CHECKPOINT, LEAVES, LOG_VKEY, MAX_LINE, TreeBuilder, read_leaf_unchecked
from ledger.errors import LedgerError
from ledger.processes import exit_with_parent
from ledger.simulate import pending_reader
from valuation.figures import ratio

Progress = Callable[[int, int], None]
"""Called as `progress(bytes_read, bytes_total)` while `leaves.jsonl` is replayed."""

_PROGRESS_EVERY: Final = 8192  # lines between progress calls
_REASONS_KEPT: Final = 5


class WhatIfError(LedgerError):
    """The bundle cannot be replayed: a file is missing or malformed, or it is not a log."""


@dataclass(frozen=True, slots=True)
class Figures:
    """A member's figures under one set of rules. Amounts in units; `influence` is r / R in
    units of 10^-9; `rank` 1 is the highest reputation (equal reputations share a rank)."""

    reputation: int
    tokens: int
    influence: int
    rank: int

    def to_json(self) -> dict[str, Any]:
        return {
            "reputation": valuation.format_amount(self.reputation),
            "tokens": valuation.format_amount(self.tokens),
            "influence": valuation.format_amount(self.influence),
            "rank": self.rank,
        }


@dataclass(frozen=True, slots=True)
class Mover:
    """A member under the log's rules (`before`) and under the other rules (`after`)."""

    member: str
    name: str
    before: Figures
    after: Figures | None  # None: the member's join was refused under the other rules

    @property
    def rank_change(self) -> int:
        """Places gained (positive) or lost under the other rules."""
        return 0 if self.after is None else self.before.rank - self.after.rank

    @property
    def influence_change(self) -> int:
        return (0 if self.after is None else self.after.influence) - self.before.influence

    def to_json(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "name": self.name,
            "before": self.before.to_json(),
            "after": None if self.after is None else self.after.to_json(),
            "rank_change": self.rank_change,
            "influence_change": valuation.format_amount(self.influence_change),
        }


@dataclass(frozen=True, slots=True)
class Refusal:
    line: int  # 1-based line of leaves.jsonl
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The two replays of one bundle."""

    origin: str
    tree_size: int
    root: str  # hex: the checkpoint the replay started from
    checkpoint: str  # the signed checkpoint note, as the bundle holds it
    algorithm: str  # the log's own
    other_algorithm: str
    other_valuation: Mapping[str, Any]
    total_reputation: tuple[int, int]  # R under the log's rules, under the other rules
    movers: tuple[Mover, ...]  # biggest movers first
    refused: Mapping[str, int]  # entry kind -> how many the other rules refused
    refusals: tuple[Refusal, ...]  # the first few, with their reasons
    seconds: float

    def to_json(self) -> dict[str, Any]:
        amount = valuation.format_amount
        return {
            "checkpoint": {"origin": self.origin, "tree_size": self.tree_size, "root": self.root},
            "algorithm": self.algorithm,
            "other": {"algorithm": self.other_algorithm, "valuation": dict(self.other_valuation)},
            "total_reputation": {
                "before": amount(self.total_reputation[0]),
                "after": amount(self.total_reputation[1]),
            },
            "refused": dict(self.refused),
            "refusals": [
                {"line": r.line, "kind": r.kind, "reason": r.reason} for r in self.refusals
            ],
            "members": [mover.to_json() for mover in self.movers],
            "seconds": round(self.seconds, 3),
        }


def valuation_for(
    algorithm: str,
    params: Mapping[str, Any] | None = None,
    like: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The valuation object `{"algorithm", "params"}` of `algorithm` with `params`, checked;
    raises `WhatIfError` naming what is wrong.

    `params` may also be a whole valuation object (with "algorithm"), which must name the same
    algorithm, or `{"preset": NAME}`, one of backfeed/1's presets (as in `multitude init`'s
    config). Without `params`: the algorithm's defaults; given `like`, the valuation of the log
    to replay (`log_valuation`), its defaults for each of that log's contribution types, with
    the values its evaluations take there, so that no entry is refused for naming a type or a
    value the defaults lack (backfeed/1, which has no defaults, takes its `example` preset's:
    a type of that name, else its article)."""
    if algorithm not in valuation.ALGORITHMS:
        raise WhatIfError(
            f"unknown algorithm {algorithm!r}: give one of {', '.join(valuation.ALGORITHMS)}"
        )
    if params is None and like is not None:
        params = _defaults_like(algorithm, like)
    if params is not None and set(params) == {"preset"}:
        preset = params["preset"]
        if not isinstance(preset, str) or preset not in valuation.PRESETS:
            raise WhatIfError(
                f"unknown preset {preset!r}: use one of {', '.join(valuation.PRESETS)}"
            )
        params = valuation.PRESETS[preset]
    if params is not None and "algorithm" in params:
        if params["algorithm"] != algorithm:
            raise WhatIfError(
                f"the params name the algorithm {params['algorithm']!r}, not {algorithm!r}"
            )
        chosen = dict(params)
    elif params is None:
        chosen = {"algorithm": algorithm}
    else:
        chosen = {"algorithm": algorithm, "params": dict(params)}
    try:
        valuation.resolve_params(chosen)
    except valuation.ParamsError as exc:
        if params is None:
            raise WhatIfError(
                f"{algorithm} has no default params: give --params FILE, a JSON file of its "
                f'params, or of {{"preset": NAME}} with NAME one of '
                f"{', '.join(valuation.PRESETS)}"
            ) from None
        raise WhatIfError(f"the params are refused: {exc}") from None
    return chosen


def log_valuation(bundle: Path) -> dict[str, Any]:
    """The valuation object that the genesis of the bundle in `bundle` chose."""
    for _, entry, _ in _leaves(Path(bundle), None, None):
        chosen = entry.body.get("valuation")
        if not isinstance(chosen, dict):
            raise WhatIfError(f"{LEAVES} line 1: the genesis names no valuation object")
        return chosen
    raise WhatIfError(f"{LEAVES} is empty: there is no log to replay")


def _defaults_like(algorithm: str, like: Mapping[str, Any]) -> dict[str, Any]:
    """`algorithm`'s default params (backfeed/1: the example preset's), with a contribution type
    for each of the valuation `like`'s, taking its evaluation values."""
    try:
        types = valuation.resolve_params(like).contribution_types
    except valuation.ParamsError as exc:
        raise WhatIfError(f"the log's own valuation is refused: {exc}") from None
    base = (
        valuation.PRESETS["example"]
        if algorithm == valuation.ALGORITHM
        else valuation.DEFAULT_VALUATION
    )
    params = dict(base["params"])
    defaults = params["contribution_types"]
    params["contribution_types"] = {
        name: {
            **defaults.get(name, defaults["article"]),
            "evaluation_values": list(kind.evaluation_values),
        }
        for name, kind in types.items()
    }
    return params


def replay_under(
    bundle: Path,
    other: Mapping[str, Any],
    *,
    progress: Progress | None = None,
    jobs: int = 2,
) -> WhatIf:
    """Replay the bundle in `bundle` under its own rules and under the valuation `other`
    (a `{"algorithm", "params"}` object, see `valuation_for`).

    With `jobs` 2 (the default) a helper process replays the log under its own rules while
    this one replays it under the other rules; with 1, one after the other. Same result."""
    if jobs not in (1, 2):
        raise ValueError(f"jobs must be 1 or 2, not {jobs}")
    started = time.perf_counter()
    bundle = Path(bundle)
    try:
        other_params = valuation.resolve_params(other)
    except valuation.ParamsError as exc:
        raise WhatIfError(f"the other valuation is refused: {exc}") from None
    _, note, checkpoint = _checkpoint(bundle)
    if jobs == 2:
        pool = multiprocessing.get_context().Pool(
            1, initializer=exit_with_parent, initargs=(os.getpid(),)
        )
        try:
            own_side = pool.apply_async(_replay_side, (bundle, None, None))
            after = _replay_side(bundle, other, progress)
            before = own_side.get()
        finally:
            # A failure on this side need not wait for the helper's replay to end.
            pool.terminate()
            pool.join()
    else:
        before = _replay_side(bundle, None, progress)
        after = _replay_side(bundle, other, None)
    movers = [
        Mover(key, before.names[key], figures, after.figures.get(key))
        for key, figures in before.figures.items()
    ]
    movers.sort(
        key=lambda m: (-abs(m.rank_change), -abs(m.influence_change), m.before.rank, m.member)
    )
    return WhatIf(
        origin=checkpoint.origin,
        tree_size=checkpoint.size,
        root=checkpoint.root_hash.hex(),
        checkpoint=note,
        algorithm=before.algorithm,
        other_algorithm=other_params.algorithm,
        other_valuation=dict(other),
        total_reputation=(before.total, after.total),
        movers=tuple(movers),
        refused=dict(sorted(after.refused.items())),
        refusals=after.refusals,
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True, slots=True)
class _Side:
    """One replay's result: what `replay_under` needs of its state (small enough to send
    from the helper process)."""

    algorithm: str
    figures: dict[str, Figures]
    names: dict[str, str]
    total: int
    refused: Counter[str]
    refusals: tuple[Refusal, ...]


def _replay_side(bundle: Path, other: Mapping[str, Any] | None, progress: Progress | None) -> _Side:
    """Replay the bundle's leaves under its own rules (`other` None), where a refusal is an
    error, or with `other` in place of the genesis's valuation, where refusals are counted.

    `valuation.replay` records no postings and is the fast way; it stops at a refusal, so the
    other side falls back to `valuation.apply`, entry by entry, from the start when the other
    rules refuse an entry. The other side also checks the leaves' root against the checkpoint
    (once is enough)."""
    _, _, checkpoint = _checkpoint(bundle)
    at = [0]  # the line being replayed
    refused: Counter[str] = Counter()
    refusals: list[Refusal] = []
    tree = None if other is None else TreeBuilder()

    genesis_valuation = None if other is None else dict(other)

    def events() -> Iterator[valuation.Event]:
        for line, entry, logged_at in _leaves(bundle, progress, tree):
            at[0] = line
            event = entries.event_of(entry, line - 1, logged_at)
            if line == 1 and genesis_valuation is not None:
                event = replace(event, body={**event.body, "valuation": genesis_valuation})
            yield event

    try:
        state = valuation.replay(events())
    except valuation.ValuationError as exc:
        if other is None:
            raise WhatIfError(
                f"{LEAVES} line {at[0]}: the log's own rules refuse the entry ({exc}); run "
                "multitude verify on the bundle"
            ) from None
        if at[0] == 1:
            raise WhatIfError(f"the other rules refuse the genesis: {exc}") from None
        tree = TreeBuilder()
        state = valuation.new_state()
        apply = valuation.apply
        for line, event in enumerate(events(), 1):
            # Indexes are dense in the replayed state: an entry after a refused one moves up.
            try:
                apply(state, replace(event, index=state.tree_size))
            except valuation.ValuationError as refusal:
                refused[event.kind] += 1
                if len(refusals) < _REASONS_KEPT:
                    refusals.append(Refusal(line, event.kind, str(refusal)))
    if tree is not None:
        if tree.size != checkpoint.size:
            raise WhatIfError(
                f"{LEAVES} holds {tree.size} leaves, but the checkpoint is of tree size "
                f"{checkpoint.size}"
            )
        if tree.root() != checkpoint.root_hash:
            raise WhatIfError(
                f"the leaves of {LEAVES} do not have the root the checkpoint signs: the bundle "
                "was changed; run multitude verify on it"
            )
    figures, total = _figures(state)
    return _Side(
        algorithm=state.params.algorithm,
        figures=figures,
        names={view.key: view.name for view in state.iter_members()},
        total=total,
        refused=refused,
        refusals=tuple(refusals),
    )


def _leaves(
    bundle: Path, progress: Progress | None, tree: TreeBuilder | None
) -> Iterator[tuple[int, entries.Entry, str]]:
    """(line, entry, logged_at) of each leaf of the bundle, read as `ledger.audit` reads them;
    line 1 must be the genesis signed by the key of log.vkey, and no line may lie beyond the
    checkpoint's tree size. Each leaf's bytes go into `tree` when one is given."""
    verifier, _, checkpoint = _checkpoint(bundle)
    log_key = verifier.public_key.hex()
    for line, raw in _lines(bundle, progress):
        if line > checkpoint.size:
            raise WhatIfError(
                f"{LEAVES} goes on after line {checkpoint.size}, the checkpoint's tree size"
            )
        if tree is not None:
            tree.add(raw)
        try:
            leaf = read_leaf_unchecked(raw)
        except LedgerError as exc:
            raise WhatIfError(f"{LEAVES} line {line}: {exc}") from None
        entry = leaf.entry
        if line == 1 and (entry.kind != "network.genesis" or entry.author != log_key):
            raise WhatIfError(
                f"{LEAVES} line 1 is not the network.genesis signed by the key of {LOG_VKEY}"
            )
        yield line, entry, leaf.logged_at


def _checkpoint(bundle: Path) -> tuple[cp.Verifier, str, cp.Checkpoint]:
    if not bundle.is_dir():
        raise WhatIfError(f"{bundle} is not a directory holding an exported bundle")
    for name in (LEAVES, CHECKPOINT, LOG_VKEY):
        if not (bundle / name).is_file():
            raise WhatIfError(f"{bundle} has no {name}: give a directory made by multitude export")
    try:
        verifier = cp.parse_verifier_key((bundle / LOG_VKEY).read_text(encoding="utf-8"))
        note = (bundle / CHECKPOINT).read_text(encoding="utf-8")
        return verifier, note, cp.open_checkpoint(note, verifier)
    except (OSError, UnicodeDecodeError) as exc:
        raise WhatIfError(f"{bundle}: cannot read the bundle: {exc}") from None
    except LedgerError as exc:
        raise WhatIfError(
            f"{bundle}: the checkpoint does not open with {LOG_VKEY}: {exc}"
        ) from None


def _lines(bundle: Path, progress: Progress | None) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the newline) of leaves.jsonl."""
    path = bundle / LEAVES
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        for number, line in enumerate(iter(lambda: handle.readline(MAX_LINE + 1), b""), 1):
            if not line.endswith(b"\n"):
                raise WhatIfError(f"{LEAVES} line {number} has no newline: the file is truncated")
            done += len(line)
            if progress is not None and number % _PROGRESS_EVERY == 0:
                progress(done, total)
            yield number, line[:-1]
    if progress is not None:
        progress(done, total)


def _figures(state: valuation.State) -> tuple[dict[str, Figures], int]:
    """Every member's figures in `state` (pending claims included) and R, likewise."""
    pending = pending_reader()
    reputations = {
        view.key: (
            view.reputation + (0 if pending is None else int(pending(state, view.key))),
            view.tokens,
        )
        for view in state.iter_members()
    }
    total = sum(reputation for reputation, _ in reputations.values())
    order = sorted(reputations, key=lambda key: -reputations[key][0])
    figures: dict[str, Figures] = {}
    rank = 0
    previous: int | None = None
    for position, key in enumerate(order, 1):
        reputation, tokens = reputations[key]
        if reputation != previous:
            rank, previous = position, reputation
        figures[key] = Figures(reputation, tokens, ratio(reputation, total), rank)
    return figures, total
