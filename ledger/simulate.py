"""Attack simulations (`multitude simulate`): named attacks run through the real append path,
each against its counterfactual, under several valuation algorithms side by side.

A scenario is two histories of signed entries on the same honest community: the history with
the attack, and the counterfactual, the same honest history without it. Each history is signed
by keys derived from the seed and appended through `ledger.service.Ledger.append` into a
throwaway SQLite database built by Alembic, under each algorithm in turn. What the attack
gained is the difference, at the end, between the two histories' figures of the keys the
attacker controls; what honest members lost is the difference for every other member.

The honest community (the issue's baseline): five founders, each with reputation 20 and 50
tokens from the genesis, each posting one article that the other four up-vote, in order.

Reputation is measured as the valuation state holds it after the last entry, plus, where the
algorithm settles rewards lazily, the member's claims not yet settled
(`pending_reputation(state, key)` of the algorithm, when it has one): a member who signs one
more entry settles its claims, and that must not count as a gain. R is the sum of these.

`accuracy` is the honest-accuracy run: contributions with a hidden true quality, evaluated by
honest members who vote noisily; it reports Spearman's rank correlation of each contribution's
final quality figure with its true quality, and of each member's reputation with the mean true
quality of its work.

Everything is fixed by the seed: keys, choices, and so every figure (the entries' `ts` are the
real clock, so entry ids differ between runs; no figure depends on them).
"""

from __future__ import annotations

import hashlib
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from nacl.signing import SigningKey

import valuation
from ledger.db import make_engine, upgrade
from ledger.entries import entry_id, sign_entry
from ledger.errors import LedgerError
from ledger.service import Ledger, NetworkConfig
from valuation.figures import ratio

NETWORK: Final = "simulate"
ORIGIN: Final = "localhost/simulate"
FOUNDERS: Final = ("Ann", "Bob", "Cy", "Dee", "Eve")
FOUNDER_REPUTATION: Final = "20"
FOUNDER_TOKENS: Final = "50"
DEFAULT_ALGORITHMS: Final = ("backfeed/1", "backfeed/2")

# The valuation a simulation's genesis carries for each algorithm. backfeed/1 has no defaults:
# it takes VALUATION.md's example parameters (a join gives 20 reputation and 50 tokens). Any
# other algorithm takes its own defaults, `{"algorithm": name}`.
_VALUATIONS: Final[Mapping[str, Mapping[str, Any]]] = {
    "backfeed/1": valuation.PRESETS["example"],
}


def valuation_of(algorithm: str) -> dict[str, Any]:
    """The genesis valuation of a simulation under `algorithm`, with every param written out
    (an algorithm's defaults resolved)."""
    chosen = _VALUATIONS.get(algorithm, {"algorithm": algorithm})
    return valuation.resolve_params(chosen).to_json()


# --- scenarios ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One entry of a history, by a member named in the scenario.

    `kind` is "join" (`target`: the referrer's name, or None), "submit" (`label` names the
    contribution for later steps) or "cast" (`target`: a contribution's label, `value`).
    """

    actor: str
    kind: str
    target: str | None = None
    value: int = 1
    label: str | None = None


def join(actor: str, referrer: str | None = None) -> Step:
    return Step(actor, "join", referrer)


def submit(actor: str, label: str) -> Step:
    return Step(actor, "submit", label=label)


def cast(actor: str, label: str, value: int = 1) -> Step:
    return Step(actor, "cast", label, value)


@dataclass(frozen=True, slots=True)
class Scenario:
    """An attack: who the attacker is, and the two histories."""

    name: str
    summary: str  # one sentence: what the attacker does
    attacker: tuple[str, ...]  # the names of every key the attacker controls
    attack: tuple[Step, ...]
    counterfactual: tuple[Step, ...]


def article(author: str) -> str:
    """The label of a founder's honest article."""
    return f"article by {author}"


def honest_posts() -> list[Step]:
    return [submit(author, article(author)) for author in FOUNDERS]


def honest_votes(author: str, order: Sequence[str] = FOUNDERS) -> list[Step]:
    """The up-votes of `author`'s article by the other founders, in `order`."""
    return [cast(voter, article(author)) for voter in order if voter != author]


def baseline() -> list[Step]:
    """The honest history: every founder posts an article, then each article in turn is
    up-voted by the other four."""
    steps = honest_posts()
    for author in FOUNDERS:
        steps += honest_votes(author)
    return steps


def recast_farming(times: int = 50) -> Scenario:
    farm = [cast("Bob", article("Ann")) for _ in range(times)]
    return Scenario(
        "re-cast farming",
        f"Bob casts the same 1 on Ann's article {times} more times, for Ann (the attacker is "
        "both: the re-caster and the author it farms for)",
        ("Ann", "Bob"),
        tuple(baseline() + farm),
        tuple(baseline()),
    )


def vote_flipping(times: int = 20) -> Scenario:
    if times % 2:
        raise ValueError("an even number of flips ends on 1")
    flips = [cast("Bob", article("Ann"), value=(n + 1) % 2) for n in range(times)]
    return Scenario(
        "vote flipping",
        f"Bob flips his vote on Ann's article 0/1 {times} times, ending on 1 (the attacker is "
        "Bob and Ann)",
        ("Ann", "Bob"),
        tuple(baseline() + flips),
        tuple(baseline()),
    )


def self_evaluation() -> Scenario:
    return Scenario(
        "self-evaluation",
        "Ann up-votes her own article after the others did",
        ("Ann",),
        (*baseline(), cast("Ann", article("Ann"))),
        tuple(baseline()),
    )


def sybil_ring(keys: int = 10) -> Scenario:
    ring = [f"Ann's key {n + 1}" for n in range(keys)]
    steps = [join(name, "Ann") for name in ring]
    steps += [submit(name, f"ring article by {name}") for name in ring]
    for author in ring:
        # Each key's own up-vote is left out: self-evaluation is a scenario of its own.
        steps += [cast(voter, f"ring article by {author}") for voter in ring if voter != author]
    return Scenario(
        "sybil ring",
        f"Ann adds {keys} keys that name her as referrer; each posts an article that the "
        "other keys up-vote (the attacker is Ann and her keys)",
        ("Ann", *ring),
        tuple(baseline() + steps),
        tuple(baseline()),
    )


def downvote_brigade() -> Scenario:
    brigade = ("Dee", "Eve")
    victims = ("Ann", "Bob", "Cy")
    steps = [cast(voter, article(victim), 0) for victim in victims for voter in brigade]
    return Scenario(
        "down-vote brigade",
        "Dee and Eve change their votes on Ann's, Bob's and Cy's articles to 0 (the attacker "
        "is Dee and Eve)",
        brigade,
        tuple(baseline() + steps),
        tuple(baseline()),
    )


def collusion_ring(junk: int = 5) -> Scenario:
    ring = ("Dee", "Eve")
    steps: list[Step] = []
    for n in range(junk):
        for author in ring:
            steps.append(submit(author, f"junk {n + 1} by {author}"))
            steps += [cast(voter, f"junk {n + 1} by {author}") for voter in ring if voter != author]
    return Scenario(
        "collusion ring",
        f"Dee and Eve, two of the five founders, each post {junk} junk articles that only the "
        "other up-votes (the attacker is Dee and Eve)",
        ring,
        tuple(baseline() + steps),
        tuple(baseline()),
    )


def late_herding() -> Scenario:
    early = ("Eve", *(f for f in FOUNDERS if f != "Eve"))
    late = FOUNDERS  # Eve is last of the order already
    attack, honest = honest_posts(), honest_posts()
    for author in FOUNDERS:
        attack += honest_votes(author, late)
        honest += honest_votes(author, early)
    return Scenario(
        "late herding",
        "Eve waits until the other three have up-voted an article and then joins them, where "
        "the counterfactual Eve votes first (the attacker is Eve)",
        ("Eve",),
        tuple(attack),
        tuple(honest),
    )


def scenarios(sybils: int = 10) -> list[Scenario]:
    """Every named scenario, in the order the table shows them."""
    return [
        recast_farming(),
        vote_flipping(),
        self_evaluation(),
        sybil_ring(sybils),
        downvote_brigade(),
        collusion_ring(),
        late_herding(),
    ]


# --- one history through the append path --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """A member's figures at the end of a history, in units. `reputation` includes `pending`."""

    reputation: int
    pending: int
    tokens: int


@dataclass(frozen=True, slots=True)
class History:
    """What one history left behind, by member name."""

    appended: int
    refused: int
    total_reputation: int  # R: every member's reputation, pending claims included
    members: Mapping[str, Member]
    contributions: Mapping[str, str] = field(default_factory=dict)  # label -> id


class Community:
    """The keys of one simulation, derived from the seed, with their `seq` counters."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.keys: dict[str, SigningKey] = {}

    def key(self, name: str) -> SigningKey:
        found = self.keys.get(name)
        if found is None:
            digest = hashlib.sha256(f"multitude-simulate/{self.seed}/{name}".encode()).digest()
            found = self.keys[name] = SigningKey(digest)
        return found

    def public(self, name: str) -> str:
        return bytes(self.key(name).verify_key).hex()


PendingReader = Callable[[valuation.State, str], int]


def pending_reader() -> PendingReader | None:
    """The algorithms' `pending_reputation(state, key)`, when valuation exposes it."""
    found = getattr(valuation, "pending_reputation", None)
    return found if callable(found) else None


def _pending(state: valuation.State, key: str) -> int:
    reader = pending_reader()
    return 0 if reader is None else int(reader(state, key))


@contextmanager
def throwaway_ledger(template: Path, seed: int) -> Iterator[Ledger]:
    """A ledger on a copy of `template` (an empty database built by Alembic), removed after."""
    with tempfile.TemporaryDirectory(prefix="multitude-simulate-") as place:
        path = Path(place) / "simulate.db"
        shutil.copyfile(template, path)
        engine = make_engine(f"sqlite:///{path}")
        try:
            log_key = SigningKey(hashlib.sha256(f"multitude-simulate/{seed}/log".encode()).digest())
            yield Ledger(engine, log_key)
        finally:
            engine.dispose()


@contextmanager
def database_template() -> Iterator[Path]:
    """An empty SQLite database built by `alembic upgrade head`, to copy for each history."""
    with tempfile.TemporaryDirectory(prefix="multitude-simulate-") as place:
        path = Path(place) / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        yield path


def play(
    ledger: Ledger,
    community: Community,
    algorithm: str,
    steps: Sequence[Step],
    founders: Sequence[str] = FOUNDERS,
) -> History:
    """Create the network and append `steps` in order, each signed by its actor.

    Entries go in batches of at most one entry per member, so a refused entry never leaves a
    later `seq` of its author dangling. Refused entries are counted, not fatal.
    """
    ledger.create_network(
        NetworkConfig(
            NETWORK,
            ORIGIN,
            valuation_of(algorithm),
            [
                {
                    "member": community.public(name),
                    "name": name,
                    "reputation": FOUNDER_REPUTATION,
                    "tokens": FOUNDER_TOKENS,
                }
                for name in founders
            ],
        )
    )
    labels: dict[str, str] = {}
    seqs: dict[str, int] = {}
    batch: list[tuple[str, dict[str, Any], str | None]] = []  # (actor, entry, label)
    counts = [1, 0]  # appended (the genesis), refused

    def flush() -> None:
        results = ledger.append([entry for _, entry, _ in batch])
        for (actor, _, label), result in zip(batch, results, strict=True):
            if isinstance(result, LedgerError):
                counts[1] += 1
                continue
            counts[0] += 1
            seqs[actor] = seqs.get(actor, 0) + 1
            if label is not None:
                labels[label] = result.id
        batch.clear()

    for step in steps:
        if any(actor == step.actor for actor, _, _ in batch) or _needs(step, batch):
            flush()
        entry = _sign(community, step, seqs.get(step.actor, 0) + 1, labels)
        batch.append((step.actor, entry, step.label))
        if step.label is not None:
            labels.setdefault(step.label, entry_id(entry))
    if batch:
        flush()
    state = ledger.replayed_state()
    members: dict[str, Member] = {}
    for name in community.keys:
        view = state.member(community.public(name))
        if view is None:
            continue
        pending = _pending(state, view.key)
        members[name] = Member(view.reputation + pending, pending, view.tokens)
    total = sum(_pending(state, view.key) for view in state.iter_members())
    return History(
        appended=counts[0],
        refused=counts[1],
        total_reputation=state.total_reputation + total,
        members=members,
        contributions=dict(labels),
    )


def _needs(step: Step, batch: Sequence[tuple[str, dict[str, Any], str | None]]) -> bool:
    """Whether `step` names a contribution submitted in `batch` (it must be logged first, so
    that a refused submission is known before a cast names it)."""
    return step.kind == "cast" and any(label == step.target for _, _, label in batch)


def _sign(community: Community, step: Step, seq: int, labels: Mapping[str, str]) -> dict[str, Any]:
    body: dict[str, Any]
    if step.kind == "join":
        body = {"name": step.actor}
        if step.target is not None:
            body["referrer"] = community.public(step.target)
        kind = "member.join"
    elif step.kind == "submit":
        body = {"title": step.label or "untitled", "type": "article"}
        kind = "contribution.submit"
    elif step.kind == "cast":
        if step.target is None:
            raise ValueError("a cast names its contribution")
        # A contribution whose submission was refused has no id: the cast names a made-up
        # one, and valuation refuses it like any cast of an unknown contribution.
        target = labels.get(step.target) or hashlib.sha256(step.target.encode()).hexdigest()
        body = {"contribution": target, "value": step.value}
        kind = "evaluation.cast"
    else:
        raise ValueError(f"unknown step kind {step.kind!r}")
    return sign_entry(community.key(step.actor), network=NETWORK, kind=kind, seq=seq, body=body)


# --- one scenario against its counterfactual ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """A scenario under one algorithm: the attack against its counterfactual.

    Gains are (with the attack) - (without it); losses are (without) - (with). Shares are
    ratios in units of 10^-9 (0.01 is one percentage point of R), amounts in units.
    """

    scenario: str
    algorithm: str
    attacker: tuple[str, ...]
    attack: History
    counterfactual: History

    def _reputation(self, history: History, names: Sequence[str]) -> int:
        return sum(history.members[n].reputation for n in names if n in history.members)

    def _tokens(self, history: History, names: Sequence[str]) -> int:
        return sum(history.members[n].tokens for n in names if n in history.members)

    def _share(self, history: History, names: Sequence[str]) -> int:
        return ratio(self._reputation(history, names), history.total_reputation)

    @property
    def honest(self) -> tuple[str, ...]:
        """Every member of either history that the attacker does not control."""
        names = set(self.attack.members) | set(self.counterfactual.members)
        return tuple(sorted(names - set(self.attacker)))

    @property
    def attacker_share(self) -> tuple[int, int]:
        """The attacker's share of R (with, without)."""
        return self._share(self.attack, self.attacker), self._share(
            self.counterfactual, self.attacker
        )

    @property
    def attacker_share_gain(self) -> int:
        with_attack, without = self.attacker_share
        return with_attack - without

    @property
    def attacker_reputation_gain(self) -> int:
        return self._reputation(self.attack, self.attacker) - self._reputation(
            self.counterfactual, self.attacker
        )

    @property
    def attacker_tokens_gain(self) -> int:
        return self._tokens(self.attack, self.attacker) - self._tokens(
            self.counterfactual, self.attacker
        )

    @property
    def honest_share_loss(self) -> int:
        return self._share(self.counterfactual, self.honest) - self._share(self.attack, self.honest)

    @property
    def honest_tokens_loss(self) -> int:
        return self._tokens(self.counterfactual, self.honest) - self._tokens(
            self.attack, self.honest
        )

    @property
    def honest_paid(self) -> bool:
        """Whether honest work was paid in the counterfactual: every founder holds more
        tokens than the genesis gave it (each one's article crossed the threshold)."""
        start = valuation.parse_amount(FOUNDER_TOKENS)
        return all(
            self.counterfactual.members[name].tokens > start
            for name in FOUNDERS
            if name in self.counterfactual.members
        )

    def to_json(self) -> dict[str, Any]:
        amount = valuation.format_amount
        share_with, share_without = self.attacker_share
        return {
            "scenario": self.scenario,
            "algorithm": self.algorithm,
            "attacker": list(self.attacker),
            "attacker_share": {"with": _ratio(share_with), "without": _ratio(share_without)},
            "attacker_share_gain": _ratio(self.attacker_share_gain),
            "attacker_reputation_gain": amount(self.attacker_reputation_gain),
            "attacker_tokens_gain": amount(self.attacker_tokens_gain),
            "honest_share_loss": _ratio(self.honest_share_loss),
            "honest_tokens_loss": amount(self.honest_tokens_loss),
            "total_reputation": {
                "with": amount(self.attack.total_reputation),
                "without": amount(self.counterfactual.total_reputation),
            },
            "honest_paid": self.honest_paid,
            "refused": {"with": self.attack.refused, "without": self.counterfactual.refused},
            "entries": {"with": self.attack.appended, "without": self.counterfactual.appended},
        }


def _ratio(units: int) -> str:
    """A ratio in units of 10^-9 as a decimal string ("0.25")."""
    return valuation.format_amount(units)


def run_scenario(scenario: Scenario, algorithm: str, seed: int, template: Path) -> Outcome:
    """`scenario` and its counterfactual under `algorithm`, each on its own throwaway log."""
    histories = []
    for steps in (scenario.attack, scenario.counterfactual):
        with throwaway_ledger(template, seed) as ledger:
            histories.append(play(ledger, Community(seed), algorithm, steps))
    return Outcome(scenario.name, algorithm, scenario.attacker, histories[0], histories[1])


# --- the honest-accuracy run ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accuracy:
    """Spearman's rank correlations of the honest-accuracy run under one algorithm."""

    algorithm: str
    contributions: int
    members: int
    evaluations: int
    score_vs_quality: float  # each contribution's final quality figure vs its true quality
    reputation_vs_quality: float  # each member's reputation vs its work's mean true quality

    def to_json(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "contributions": self.contributions,
            "members": self.members,
            "evaluations": self.evaluations,
            "score_vs_quality": round(self.score_vs_quality, 6),
            "reputation_vs_quality": round(self.reputation_vs_quality, 6),
        }


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        mean = (start + end) / 2 + 1
        for position in range(start, end + 1):
            result[order[position]] = mean
        start = end + 1
    return result


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's correlation of the ranks (ties averaged).

    0.0 when either side has no spread (all equal), where the correlation is undefined."""
    if len(xs) != len(ys):
        raise ValueError("spearman needs two sequences of the same length")
    rx, ry = ranks(xs), ranks(ys)
    n = len(rx)
    if n < 2:
        return 0.0
    mx, my = sum(rx) / n, sum(ry) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return 0.0
    return float(sxy / (sxx * syy) ** 0.5)


@dataclass(frozen=True, slots=True)
class AccuracyPlan:
    """The honest-accuracy community: who posts what (with its hidden quality), who votes."""

    members: tuple[str, ...]
    steps: tuple[Step, ...]
    quality: Mapping[str, float]  # contribution label -> hidden true quality, 0..1
    authors: Mapping[str, str]  # contribution label -> author's name


def accuracy_plan(
    seed: int, members: int = 10, posts: int = 4, turnout: float = 0.7, noise: float = 0.15
) -> AccuracyPlan:
    """Founders with a hidden skill each post `posts` contributions of hidden quality (skill
    plus noise); after each post, a random `turnout` of the others vote 1 when the quality
    they perceive (the true quality plus Gaussian noise) is above one half, else 0."""
    rng = random.Random(seed)
    names = tuple(f"member {n + 1:02d}" for n in range(members))
    skill = {name: rng.random() for name in names}
    steps: list[Step] = []
    quality: dict[str, float] = {}
    authors: dict[str, str] = {}
    for round_ in range(posts):
        for author in rng.sample(names, len(names)):
            label = f"work {round_ + 1} by {author}"
            quality[label] = min(1.0, max(0.0, rng.gauss(skill[author], 0.15)))
            authors[label] = author
            steps.append(submit(author, label))
            others = [n for n in names if n != author]
            for voter in rng.sample(others, round(turnout * len(others))):
                seen = quality[label] + rng.gauss(0.0, noise)
                steps.append(cast(voter, label, 1 if seen > 0.5 else 0))
    return AccuracyPlan(names, tuple(steps), quality, authors)


def run_accuracy(plan: AccuracyPlan, algorithm: str, seed: int, template: Path) -> Accuracy:
    community = Community(seed)
    with throwaway_ledger(template, seed) as ledger:
        history = play(ledger, community, algorithm, plan.steps, plan.members)
        state = ledger.replayed_state()
    labels = sorted(plan.quality)
    scores = []
    for label in labels:
        figures = valuation.contribution_figures(state, history.contributions[label])
        scores.append(float(0 if figures is None else figures.quality))
    by_member: dict[str, list[float]] = {}
    for label in labels:
        by_member.setdefault(plan.authors[label], []).append(plan.quality[label])
    names = sorted(by_member)
    return Accuracy(
        algorithm=algorithm,
        contributions=len(labels),
        members=len(plan.members),
        evaluations=sum(step.kind == "cast" for step in plan.steps),
        score_vs_quality=spearman(scores, [plan.quality[label] for label in labels]),
        reputation_vs_quality=spearman(
            [float(history.members[name].reputation) for name in names],
            [sum(by_member[name]) / len(by_member[name]) for name in names],
        ),
    )


# --- the whole run -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    seed: int
    algorithms: tuple[str, ...]
    outcomes: tuple[Outcome, ...]
    accuracy: tuple[Accuracy, ...]
    pending_measured: bool  # whether reputation includes claims not yet settled

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "algorithms": list(self.algorithms),
            "reputation_includes_pending_claims": self.pending_measured,
            "scenarios": [outcome.to_json() for outcome in self.outcomes],
            "accuracy": [result.to_json() for result in self.accuracy],
        }


Progress = Callable[[str], None]
"""Called with what is about to run, e.g. "sybil ring under backfeed/2"."""


def run(
    *,
    seed: int = 1,
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
    only: Sequence[str] | None = None,
    sybils: int = 10,
    accuracy: bool = True,
    progress: Progress | None = None,
) -> Report:
    """Run the named scenarios (all when `only` is None) under each algorithm, and the
    honest-accuracy run; raise `ValueError` for an unknown scenario or algorithm."""
    for algorithm in algorithms:
        try:
            valuation_of(algorithm)
        except valuation.ParamsError as exc:
            raise ValueError(f"cannot simulate {algorithm!r}: {exc}") from None
    chosen = scenarios(sybils)
    if only is not None:
        known = {s.name for s in chosen}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise ValueError(
                f"no scenario is named {unknown[0]!r}; the scenarios are "
                f"{', '.join(s.name for s in chosen)}"
            )
        chosen = [s for s in chosen if s.name in only]
    outcomes: list[Outcome] = []
    results: list[Accuracy] = []
    with database_template() as template:
        for scenario in chosen:
            for algorithm in algorithms:
                if progress is not None:
                    progress(f"{scenario.name} under {algorithm}")
                outcomes.append(run_scenario(scenario, algorithm, seed, template))
        if accuracy:
            plan = accuracy_plan(seed)
            for algorithm in algorithms:
                if progress is not None:
                    progress(f"honest accuracy under {algorithm}")
                results.append(run_accuracy(plan, algorithm, seed, template))
    return Report(
        seed=seed,
        algorithms=tuple(algorithms),
        outcomes=tuple(outcomes),
        accuracy=tuple(results),
        pending_measured=pending_reader() is not None,
    )
