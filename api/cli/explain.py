"""`multitude explain KEY`: why a member's reputation and tokens are what they are.

Every change to a member's figures is a posting with its cause (VALUATION.md): genesis, join,
fee, stake fee, evaluator fund share, alignment reward, contributor reward, referral share —
and, where there is one, whose evaluation of which contribution caused it. This command prints
them in log order with the running figures, read from the database (`--db`) or from a server
(`--api`), and checks as it goes that the postings add up, to the unit, to the figures the
ledger stores after each index. A figure that does not add up is reported and exits 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.common import (
    HEX64,
    CommandError,
    DbOption,
    complete_id,
    db_url,
    deferred_console,
    no_database,
)
from ledger.errors import LedgerError

if TYPE_CHECKING:
    import httpx
    from rich.table import Table
    from rich.text import Text

console = deferred_console(highlight=False, soft_wrap=True)

PAGE = 1000


@dataclass(frozen=True, slots=True)
class Change:
    """One posting: a signed amount of one asset, and why."""

    asset: str
    amount: int  # units of 10^-9
    cause: str
    contribution: str | None
    evaluator: str | None


@dataclass(frozen=True, slots=True)
class Step:
    """The member's figures as the ledger stores them after `index`, and the changes there."""

    index: int
    reputation: int
    tokens: int
    changes: tuple[Change, ...]


@dataclass(slots=True)
class Explanation:
    member: str
    name: str
    steps: list[Step]
    names: dict[str, str] = field(default_factory=dict)  # member key -> name
    titles: dict[str, str] = field(default_factory=dict)  # contribution id -> title


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the explanation: a change and the running figures right after it."""

    index: int
    change: Change
    reputation: int
    tokens: int
    last_of_index: bool


# --- checking -------------------------------------------------------------------------------


def rows(explanation: Explanation) -> Iterator[Row]:
    """Each change with the running figures: the sum of every amount posted so far."""
    reputation = tokens = 0
    for step in explanation.steps:
        for n, change in enumerate(step.changes):
            if change.asset == "reputation":
                reputation += change.amount
            else:
                tokens += change.amount
            yield Row(step.index, change, reputation, tokens, n == len(step.changes) - 1)


def mismatches(explanation: Explanation) -> list[str]:
    """Every index where the postings do not add up to the stored figure, in words."""
    from valuation import format_amount

    found = []
    reputation = tokens = 0
    for step in explanation.steps:
        for change in step.changes:
            if change.asset == "reputation":
                reputation += change.amount
            else:
                tokens += change.amount
        for asset, summed, stored in (
            ("reputation", reputation, step.reputation),
            ("tokens", tokens, step.tokens),
        ):
            if summed != stored:
                found.append(
                    f"at index {step.index} the {asset} postings add up to "
                    f"{format_amount(summed)} but the ledger holds {format_amount(stored)}"
                )
    return found


# --- reading --------------------------------------------------------------------------------


def _change(asset: str, amount: int, cause: str, cid: str | None, evaluator: str | None) -> Change:
    return Change(asset, amount, cause, cid, evaluator)


def from_database(url: str, key: str) -> Explanation:
    """The explanation straight from the ledger's tables (no server needed)."""
    from ledger import reads
    from ledger import repository as repo
    from ledger.db import make_engine, read_session, sqlite_file

    file = sqlite_file(url)
    if file is not None and not file.exists():
        raise CommandError(f"{no_database(url, file)}: give --db or --api")
    engine = make_engine(url)
    try:
        with read_session(engine) as session:
            if repo.tree_size(session) == 0:
                raise CommandError(f"{url} holds no network yet")
            if not HEX64.fullmatch(key.strip().lower()):
                everyone = repo.ranked_members(session, "tokens", 0, 2**31)
                key = complete_id(key, [m.member for m in everyone], "member", noun="key")
            key = key.strip().lower()
            member = repo.member(session, key)
            if member is None:
                raise CommandError(f"{key[:16]}… is not a member of this network")
            steps, _ = reads.history(session, key, 0, 2**53)
            explanation = Explanation(
                member=key,
                name=member.name,
                steps=[
                    Step(
                        step.index,
                        step.reputation,
                        step.tokens,
                        tuple(
                            _change(p.asset, p.amount, p.cause, p.contribution, p.evaluator)
                            for p in step.postings
                        ),
                    )
                    for step in steps
                ],
            )
            for k in _evaluators(explanation):
                row = repo.member(session, k)
                explanation.names[k] = row.name if row is not None else k[:12] + "…"
            for cid in _contributions(explanation):
                c = repo.contribution(session, cid)
                explanation.titles[cid] = c.title if c is not None else cid[:12] + "…"
            return explanation
    finally:
        engine.dispose()


def from_api(base_url: str, key: str, transport: httpx.BaseTransport | None = None) -> Explanation:
    """The explanation from a server's `GET /v1/members/{key}/history`, page by page."""
    import httpx

    from api.client import ClientError, api_address
    from valuation import parse_amount

    try:
        base_url = api_address(base_url)
    except ClientError as exc:
        raise CommandError(str(exc)) from None
    with httpx.Client(base_url=base_url, timeout=30, transport=transport) as http:

        def get(path: str, **params: Any) -> Any:
            try:
                response = http.get(path, params=params)
            except httpx.HTTPError as exc:
                raise CommandError(
                    f"cannot reach the Multitude API at {base_url} ({exc or type(exc).__name__})"
                ) from None
            if response.status_code >= 400:
                try:
                    detail = response.json().get("detail", response.reason_phrase)
                except ValueError:
                    detail = response.reason_phrase
                raise CommandError(f"GET {path}: {detail}")
            return response.json()

        if not HEX64.fullmatch(key.lower()):
            members: list[str] = []
            offset: int | None = 0
            while offset is not None:
                page = get("/v1/members", offset=offset, limit=PAGE)
                members += [m["member"] for m in page["items"]]
                offset = page["next"]
            key = complete_id(key, members, "member", noun="key")
        key = key.lower()
        member = get(f"/v1/members/{key}")
        steps: list[Step] = []
        start: int | None = 0
        while start is not None:
            page = get(f"/v1/members/{key}/history", start=start, limit=PAGE)
            for item in page["items"]:
                changes = tuple(
                    _change(
                        p["asset"],
                        parse_amount(p["amount"]),
                        p["cause"],
                        p["contribution"],
                        p["evaluator"],
                    )
                    for p in item["postings"]
                )
                steps.append(
                    Step(
                        item["index"],
                        parse_amount(item["reputation"]),
                        parse_amount(item["tokens"]),
                        changes,
                    )
                )
            start = page["next"]
        explanation = Explanation(member=key, name=member["name"], steps=steps)
        for k in _evaluators(explanation):
            explanation.names[k] = get(f"/v1/members/{k}")["name"]
        for cid in _contributions(explanation):
            explanation.titles[cid] = get(f"/v1/contributions/{cid}")["title"]
        return explanation


def _evaluators(explanation: Explanation) -> set[str]:
    return {
        c.evaluator for s in explanation.steps for c in s.changes if c.evaluator is not None
    } | {explanation.member}


def _contributions(explanation: Explanation) -> set[str]:
    return {
        c.contribution for s in explanation.steps for c in s.changes if c.contribution is not None
    }


# --- printing -------------------------------------------------------------------------------

CAUSES = {
    "genesis": "founder",
    "join": "joined",
    "fee": "fee",
    "stake_fee": "stake fee",
    "evaluator_fund": "evaluator fund share",
    "alignment_reward": "alignment reward",
    "contributor_reward": "contributor reward",
    "referral_share": "referral share",
    "referral_stake": "referral stake",
}


def reason(explanation: Explanation, change: Change) -> str:
    """Why, in words: from whose evaluation of which contribution."""
    title = (
        f"“{explanation.titles.get(change.contribution, change.contribution[:12])}”"
        if change.contribution
        else ""
    )
    who = explanation.names.get(change.evaluator or "", (change.evaluator or "")[:12])
    if change.evaluator == explanation.member:
        who = "their own"
    elif who:
        who += "'s"
    match change.cause:
        case "genesis":
            return "given by the genesis entry"
        case "join":
            return "given on joining"
        case "fee":
            return f"submitting {title}"
        case "stake_fee":
            return f"staked on evaluating {title}"
        case "evaluator_fund":
            return f"evaluated {title}: a share of its evaluator fund"
        case "alignment_reward" if not change.evaluator:
            return f"up-voted {title} before others: a share of its evaluator rewards"
        case "alignment_reward":
            return f"agreed with {who} evaluation of {title}"
        case "contributor_reward":
            return f"{who} evaluation of {title} raised its score"
        case "referral_share":
            return f"a referee's reward, from {who} evaluation of {title}"
        case "referral_stake" if change.amount < 0:
            return "staked on a newcomer it referred"
        case "referral_stake":
            return "staked on it by its referrer when it joined"
    return change.cause


def _signed(amount: int) -> Text:
    from rich.text import Text

    from valuation import format_amount

    text = format_amount(amount)
    if amount > 0:
        return Text("+" + text, style="green")
    return Text(text, style="red")


def table(explanation: Explanation) -> Table:
    from rich.table import Table
    from rich.text import Text

    from valuation import format_amount

    out = Table(
        title=f"{explanation.name} ({explanation.member[:16]}…)",
        caption="reputation and tokens after each change; the last change of an index "
        "leaves the ledger's figure",
    )
    out.add_column("index", justify="right")
    out.add_column("cause")
    out.add_column("asset")
    out.add_column("amount", justify="right")
    out.add_column("why")
    out.add_column("reputation", justify="right")
    out.add_column("tokens", justify="right")
    for row in rows(explanation):
        out.add_row(
            str(row.index),
            CAUSES.get(row.change.cause, row.change.cause),
            row.change.asset,
            _signed(row.change.amount),
            reason(explanation, row.change),
            Text(format_amount(row.reputation), style="bold" if row.last_of_index else "dim"),
            Text(format_amount(row.tokens), style="bold" if row.last_of_index else "dim"),
            end_section=row.last_of_index,
        )
    return out


def explain(
    key: Annotated[
        str, typer.Argument(metavar="KEY", help="the member's public key (or its first hex digits)")
    ],
    db: DbOption = None,
    api: Annotated[
        str | None,
        typer.Option(
            "--api", metavar="URL", help="read from this Multitude API instead of the database"
        ),
    ] = None,
) -> None:
    """Why a member's reputation and tokens are what they are.

    Every change, with its cause."""
    from valuation import format_amount

    if db is not None and api is not None:
        raise CommandError("give --db or --api, not both")
    try:
        explanation = from_api(api, key) if api is not None else from_database(db_url(db), key)
    except LedgerError as exc:
        raise CommandError(str(exc)) from None
    if not any(step.changes for step in explanation.steps) and not mismatches(explanation):
        # An empty table would look like a failure to read; say what it means.
        console.print(
            f"{explanation.name} ({explanation.member[:16]}…) has no postings yet: reputation 0 "
            "and tokens 0, since nothing it did or was given has changed its figures"
        )
        return
    console.print(table(explanation))
    wrong = mismatches(explanation)
    if wrong:
        raise CommandError("the postings do not add up: " + "; ".join(wrong))
    last = explanation.steps[-1] if explanation.steps else None
    if last is not None:
        console.print(
            f"{len(explanation.steps)} indexes; the postings add up exactly to reputation "
            f"{format_amount(last.reputation)} and tokens {format_amount(last.tokens)} "
            f"(as of index {last.index})"
        )


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
