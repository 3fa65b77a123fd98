"""`multitude demo`: a simulated community, so a newcomer sees the whole system work.

A few dozen members with different habits sign a few hundred entries on their own "machines"
(keys derived from the seed) and append them through the real append path
(`ledger.service.Ledger.append`) into a fresh database. While it runs, a live display shows the
leaderboard and some members' reputation over time; at the end the log is exported as an audit
bundle, the bundle is verified, and the next commands to type are printed.

The seed fixes every choice, so the figures (reputation and tokens per member) are the same on
every run with the same seed; the entries' `ts` are the real clock, so entry ids differ.

The network gets the built-in default name of SPEC section 2, `multitude-` and 8 hex of the
log key's hash (with the origin `localhost/<name>`), like any network made with the defaults:
a demo's entries are accepted by its own log only.
"""

from __future__ import annotations

import copy
import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey, VerifyKey
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

import valuation
from ledger import keys, reads
from ledger.audit import verify_bundle
from ledger.db import read_session
from ledger.entries import parse_leaf, sign_entry
from ledger.errors import LedgerError
from ledger.export import export_bundle
from ledger.service import Appended, Ledger, NetworkConfig
from valuation import UNIT, format_amount

NAMES = (
    "Ada", "Bashir", "Chiara", "Dmitri", "Esi", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Kemal", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tamar",
    "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zofia", "Amara", "Bruno", "Celia", "Dario",
    "Elif", "Femi", "Gaia", "Hugo", "Ilse", "Jamal", "Kaito", "Lucia", "Mirko", "Noor",
)  # fmt: skip
SPARKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class Habit:
    """How a member behaves: how often, what, how well, and how they vote."""

    name: str
    activity: float  # relative chance of being the next to act
    submit: float  # chance that an action is a submission rather than an evaluation
    skill: float  # mean hidden quality of their contributions, 0..1
    bias: float  # added to the chance of voting 1
    changes_votes: float = 0.0  # chance of revisiting one of their votes and flipping it


HABITS = {
    "founder": Habit("founder", 1.5, 0.1, 0.8, 0.0),
    "prolific": Habit("prolific", 2.0, 0.5, 0.45, 0.0),
    "careful": Habit("careful", 0.8, 0.25, 0.9, -0.05),
    "generous": Habit("generous", 1.5, 0.05, 0.55, 0.35),
    "harsh": Habit("harsh", 1.5, 0.05, 0.55, -0.35),
    "balanced": Habit("balanced", 1.0, 0.12, 0.65, 0.0),
    "lurker": Habit("lurker", 0.3, 0.03, 0.5, 0.0),
    "vote-changer": Habit("vote-changer", 1.5, 0.05, 0.5, 0.0, changes_votes=0.4),
    "late joiner": Habit("late joiner", 2.0, 0.35, 0.85, 0.0),
}
# Ordinary members take these habits in turn; founders, vote-changer and late joiner are apart.
CYCLE = ("prolific", "careful", "generous", "harsh", "balanced", "lurker", "balanced", "careful")


@dataclass(slots=True)
class Person:
    name: str
    habit: Habit
    key: SigningKey
    public: str
    seq: int = 0
    joined: bool = False
    referrer: str | None = None
    votes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Work:
    id: str
    author: str
    quality: float


@dataclass(frozen=True, slots=True)
class Figures:
    """A member's final figures, exact (decimal strings)."""

    name: str
    habit: str
    reputation: str
    tokens: str


@dataclass(slots=True)
class Outcome:
    appended: int = 0
    refused: int = 0
    contributions: int = 0
    evaluations: int = 0
    changed_votes: int = 0
    figures: list[Figures] = field(default_factory=list)


def _key(seed: int, number: int) -> SigningKey:
    return SigningKey(hashlib.sha256(f"multitude-demo/{seed}/{number}".encode()).digest())


def community(seed: int, size: int) -> list[Person]:
    """`size` members: three founders, the habits in turn, one vote-changer, one late joiner."""
    if size < 6:
        raise ValueError("the demo needs at least 6 members")
    people: list[Person] = []
    for i in range(size):
        if i < 3:
            habit = HABITS["founder"]
        elif i == size - 1:
            habit = HABITS["late joiner"]
        elif i == size - 2:
            habit = HABITS["vote-changer"]
        else:
            habit = HABITS[CYCLE[(i - 3) % len(CYCLE)]]
        name = NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i // len(NAMES) + 1}")
        key = _key(seed, i)
        people.append(Person(name, habit, key, bytes(key.verify_key).hex()))
    for founder in people[:3]:
        founder.joined = True
    # One member in three was invited by a founder, who stakes some of its reputation on it.
    for i in range(3, size - 1, 3):
        people[i].referrer = people[(i // 3) % 3].public
    people[-1].referrer = people[0].public  # the late joiner was invited by the first founder
    return people


def demo_params(algorithm: str = valuation.ALGORITHM_2) -> dict[str, Any]:
    """The demo's valuation, with lower reward thresholds than the defaults: in a community of
    a few dozen, half of all reputation rarely votes on one contribution, and the demo should
    show rewards. backfeed/2 (the default): its defaults with a `comment` type; backfeed/1: the
    `example` preset."""
    if algorithm == valuation.ALGORITHM:
        params = copy.deepcopy(valuation.PRESETS["example"])
        types = params["params"]["contribution_types"]
        types["article"]["reward_threshold"] = "0.2"
        types["comment"]["reward_threshold"] = "0.1"
        return params
    params = copy.deepcopy(valuation.DEFAULT_VALUATION)
    types = params["params"]["contribution_types"]
    types["article"]["reward_threshold"] = "0.2"
    types["comment"] = {
        "fee": "0",
        "reward_threshold": "0.1",
        "token_reward_factor": "10",
        "reputation_reward_factor": "1",
        "evaluator_share": "0.2",
        "evaluation_values": [0, 1],
    }
    return params


def genesis(
    people: Sequence[Person], log_key: VerifyKey, algorithm: str = valuation.ALGORITHM_2
) -> NetworkConfig:
    """The demo network's genesis: the default name and origin of a log with `log_key`."""
    founders = [
        {"member": p.public, "name": p.name, "reputation": "40", "tokens": "60"}
        for p in people
        if p.habit.name == "founder"
    ]
    network = keys.default_network(log_key)
    return NetworkConfig(network, keys.default_origin(network), demo_params(algorithm), founders)


def holds_community(ledger: Ledger, seed: int) -> bool:
    """Whether the log's genesis is the demo's of `seed`: its founders are that community's.

    The name cannot tell, since the demo's network has the default name that `serve` and
    `init` give a network too."""
    first = next(iter(ledger.leaf_bytes(0, 1)), None)
    if first is None:
        return False
    entry = parse_leaf(first, verify=False).entry
    founders = entry.body.get("founders")
    if entry.kind != "network.genesis" or not isinstance(founders, list):
        return False
    held = {f.get("member") for f in founders if isinstance(f, dict)}
    ours = {p.public for p in community(seed, 6) if p.habit.name == "founder"}
    return held == ours


class Simulation:
    """Chooses each next entry from the seed and the figures the log reports, and appends it.

    Entries are signed as they are chosen and appended in small batches, at most one per
    member in a batch, so that a refused entry never leaves a member's later seq dangling.
    Choices read only what the log has accepted, so the same seed makes the same choices.
    """

    def __init__(
        self, ledger: Ledger, people: list[Person], seed: int, entries: int, batch: int = 8
    ) -> None:
        self.ledger = ledger
        self.network = ledger.network().name
        self.people = people
        self.rng = random.Random(seed)
        self.target = entries
        self.batch = batch
        self.works: list[Work] = []
        self.outcome = Outcome()
        self.pending: list[tuple[Person, dict[str, Any], Callable[[Appended], None]]] = []
        # The dearest fee of a type: a member who cannot pay it does not submit.
        types = ledger.replayed_state().params.contribution_types.values()
        self.fee = max(kind.fee for kind in types)
        # Ordinary members join during the first fifth; the late joiner after 60 %.
        waiting = [p for p in people if not p.joined and p.habit.name != "late joiner"]
        self.join_at = {
            p.public: int(i * entries * 0.2 / max(1, len(waiting))) for i, p in enumerate(waiting)
        }
        self.join_at[people[-1].public] = int(entries * 0.6)

    @property
    def done(self) -> bool:
        return self.outcome.appended >= self.target

    # --- one step ---------------------------------------------------------------------------

    def step(self) -> None:
        """Choose and sign one entry; append the batch when it is full."""
        busy = {p.public for p, _, _ in self.pending}
        planned = self.outcome.appended + len(self.pending)
        if planned >= self.target:
            self.flush()
            return
        due = [
            p
            for p in self.people
            if not p.joined and p.public not in busy and self.join_at[p.public] <= planned
        ]
        active = [p for p in self.people if p.joined and p.public not in busy]
        if due:
            self._join(due[0])
        elif active:
            person = self.rng.choices(active, weights=[p.habit.activity for p in active])[0]
            if self.rng.random() < person.habit.submit and self._tokens(person) >= self.fee:
                self._submit(person)
            else:
                self._evaluate(person)
        if len(self.pending) >= self.batch or not active:
            self.flush()

    def _join(self, person: Person) -> None:
        body: dict[str, Any] = {"name": person.name}
        if person.referrer:
            body["referrer"] = person.referrer

        def joined(_: Appended) -> None:
            person.joined = True

        self._sign(person, "member.join", body, joined)

    def _submit(self, person: Person) -> None:
        rng = self.rng
        quality = min(1.0, max(0.0, rng.gauss(person.habit.skill, 0.15)))
        kind = "comment" if rng.random() < 0.3 else "article"
        body: dict[str, Any] = {"title": _title(rng, kind), "type": kind}
        if rng.random() < 0.4:
            body["tags"] = sorted(rng.sample(["docs", "design", "code", "events", "research"], 2))
        if self.works and rng.random() < 0.25:
            body["refs"] = [rng.choice(self.works[-20:]).id]

        def submitted(appended: Appended) -> None:
            self.works.append(Work(appended.id, person.public, quality))
            self.outcome.contributions += 1

        self._sign(person, "contribution.submit", body, submitted)

    def _evaluate(self, person: Person) -> None:
        rng = self.rng
        if person.votes and rng.random() < person.habit.changes_votes:
            cid = rng.choice(list(person.votes))  # in the order voted: ids differ per run
            value = 1 - person.votes[cid]
            changed = True
        else:
            recent = [
                w for w in self.works[-8:] if w.author != person.public and w.id not in person.votes
            ]
            if not recent:
                return
            work = rng.choice(recent)
            cid = work.id
            chance = work.quality + person.habit.bias + rng.uniform(-0.2, 0.2)
            value = 1 if rng.random() < chance else 0
            changed = False

        def evaluated(_: Appended) -> None:
            person.votes[cid] = value
            self.outcome.evaluations += 1
            self.outcome.changed_votes += changed

        self._sign(person, "evaluation.cast", {"contribution": cid, "value": value}, evaluated)

    # --- the log ----------------------------------------------------------------------------

    def _sign(
        self,
        person: Person,
        kind: str,
        body: dict[str, Any],
        accepted: Callable[[Appended], None],
    ) -> None:
        seq = person.seq + 1
        entry = sign_entry(person.key, network=self.network, kind=kind, seq=seq, body=body)
        self.pending.append((person, entry, accepted))

    def flush(self) -> None:
        """Append the pending entries as one batch; apply what each accepted one means."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        results = self.ledger.append([entry for _, entry, _ in pending])
        for (person, _, accepted), result in zip(pending, results, strict=True):
            if isinstance(result, LedgerError):
                self.outcome.refused += 1
                continue
            person.seq += 1
            self.outcome.appended += 1
            accepted(result)

    def _tokens(self, person: Person) -> int:
        with read_session(self.ledger.engine) as session:
            return reads.member(session, person.public).tokens

    def board(self) -> list[reads.MemberFigures]:
        with read_session(self.ledger.engine) as session:
            return reads.leaderboard(session, "reputation", 0, len(self.people))

    def figures(self) -> list[Figures]:
        habits = {p.public: p.habit.name for p in self.people}
        return [
            Figures(m.name, habits[m.member], format_amount(m.reputation), format_amount(m.tokens))
            for m in self.board()
        ]


def _title(rng: random.Random, kind: str) -> str:
    verbs = ["Translate", "Review", "Rewrite", "Illustrate", "Summarise", "Test", "Document"]
    things = [
        "the onboarding guide", "the budget proposal", "the meetup notes", "the API reference",
        "the release checklist", "the community charter", "the FAQ", "the design mock-ups",
    ]  # fmt: skip
    title = f"{rng.choice(verbs)} {rng.choice(things)}"
    return f"Comment: {title.lower()}" if kind == "comment" else title


# --- display ----------------------------------------------------------------------------------


def sparkline(values: Sequence[int | None], width: int = 40) -> str:
    """Unicode blocks for a series, scaled between its own minimum and maximum."""
    values = list(values)[-width:]
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low
    marks = []
    for v in values:
        if v is None:
            marks.append(" ")
        else:
            level = 0 if span == 0 else (v - low) * (len(SPARKS) - 1) // span
            marks.append(SPARKS[level])
    return "".join(marks)


def _points(units: int) -> str:
    """An amount for the eye, to two decimals (the exact figures are in the API and bundle)."""
    return f"{Decimal(units) / UNIT:,.2f}"


class View:
    """What the live display and the final report show."""

    def __init__(self, sim: Simulation, featured: Sequence[Person]) -> None:
        self.sim = sim
        self.featured = featured
        self.history: dict[str, list[int | None]] = {p.public: [] for p in featured}

    def sample(self) -> list[reads.MemberFigures]:
        board = self.sim.board()
        now = {m.member: m.reputation for m in board}
        for p in self.featured:
            self.history[p.public].append(now.get(p.public))
        return board

    def render(self, board: Sequence[reads.MemberFigures], top: int = 10) -> Group:
        habits = {p.public: p.habit.name for p in self.sim.people}
        o = self.sim.outcome
        head = Text.assemble(
            ("Multitude demo", "bold"),
            f"  {o.appended}/{self.sim.target} entries · {o.contributions} contributions · "
            f"{o.evaluations} evaluations ({o.changed_votes} changed votes) · "
            f"{sum(p.joined for p in self.sim.people)} members",
        )
        leaders = Table(title="leaderboard", title_justify="left")
        for column in ("rank", "name", "habit", "reputation", "tokens", "influence"):
            leaders.add_column(column, justify="left" if column in ("name", "habit") else "right")
        for m in board[:top]:
            leaders.add_row(
                str(m.rank),
                m.name,
                habits.get(m.member, ""),
                _points(m.reputation),
                _points(m.tokens),
                f"{Decimal(m.influence) * 100 / UNIT:.1f} %",
            )
        trend = Table(title="reputation over time", title_justify="left")
        trend.add_column("name")
        trend.add_column("habit")
        trend.add_column("trend (each line scaled to its own range)")
        trend.add_column("range", justify="right")
        trend.add_column("now", justify="right")
        for p in self.featured:
            series = self.history[p.public]
            known = [v for v in series if v is not None]
            trend.add_row(
                p.name,
                p.habit.name,
                sparkline(series),
                f"{_points(min(known))}-{_points(max(known))}" if known else "-",
                _points(known[-1]) if known else "-",
            )
        return Group(head, leaders, trend)


def _featured(people: Sequence[Person]) -> list[Person]:
    """One member of each habit, in a fixed order."""
    seen: dict[str, Person] = {}
    for p in people:
        seen.setdefault(p.habit.name, p)
    return [seen[h] for h in HABITS if h in seen and h != "lurker"]


# --- the run ----------------------------------------------------------------------------------


def run(
    ledger: Ledger,
    *,
    seed: int,
    members: int,
    entries: int,
    console: Console | None = None,
    watch_seconds: float = 8.0,
) -> Outcome:
    """Create the demo network in `ledger` (an empty log) and play the community into it.

    On a terminal a live display follows the run, paced to last about `watch_seconds` so a
    person can watch; elsewhere the run goes flat out and prints plain tables at the end.
    """
    console = console or Console(highlight=False)
    people = community(seed, members)
    ledger.create_network(genesis(people, ledger.log_verify_key))
    sim = Simulation(ledger, people, seed, entries)
    view = View(sim, _featured(people))
    updates = 50
    every = max(1, entries // updates)
    pause = watch_seconds / updates
    shown = time.monotonic()
    steps = 0
    sampled = printed = 0
    live = Live(view.render(view.sample()), console=console, refresh_per_second=12)
    if console.is_terminal:
        live.start()
    try:
        while not sim.done and steps < entries * 3:
            steps += 1
            sim.step()
            if sim.outcome.appended - sampled >= every:
                sampled = sim.outcome.appended
                board = view.sample()
                if console.is_terminal:
                    live.update(view.render(board))
                    time.sleep(max(0.0, pause - (time.monotonic() - shown)))
                    shown = time.monotonic()
            if not console.is_terminal and sim.outcome.appended - printed >= 100:
                printed = sim.outcome.appended // 100 * 100
                console.print(f"{sim.outcome.appended} of {entries} entries appended…")
        sim.flush()
        board = view.sample()
        live.update(view.render(board))
    finally:
        if console.is_terminal:
            live.stop()
    if not console.is_terminal:
        console.print(view.render(board, top=len(board)))
    sim.outcome.figures = sim.figures()
    return sim.outcome


# --- export and audit (SPEC section 7) ----------------------------------------------------------


def export_and_verify(ledger: Ledger, out: Path) -> tuple[bool, str]:
    """Write the audit bundle and verify it as an auditor would, with no database."""
    exported = export_bundle(ledger, out)
    report = verify_bundle(out)
    if report.ok:
        return True, (
            f"exported the audit bundle to {out} and verified it offline: {report.entries} "
            f"signed entries, root {exported.root[:16]}…, state root {report.state_root[:16]}…"
        )
    return False, f"the audit bundle in {out} does NOT verify: {report.failure}"
