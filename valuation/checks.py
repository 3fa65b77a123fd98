"""The checks every algorithm makes of an entry the same way: its place in the log and its kind,
keys, names, the author being a member, the genesis's list of founders and a
contribution.submit. Each raises RuleViolation with
a sentence a person can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from valuation.amounts import format_amount, parse_amount
from valuation.errors import AmountError, RuleViolation
from valuation.model import AnyParams, Event, MemberRecord, State

__all__ = [
    "Founder",
    "Submission",
    "author",
    "founders",
    "handler",
    "key",
    "name",
    "short",
    "show",
    "submission",
]

Handler = TypeVar("Handler")

_KEY = re.compile(r"[0-9a-f]{64}")
_NAME_MAX = 80


def handler(state: State, event: Event, handlers: Mapping[str, Handler], algorithm: str) -> Handler:
    """The rules of `event`'s kind among `handlers`, once the event is the log's next entry, of a
    kind `algorithm` knows, after the genesis (or the genesis itself), with an object for body."""
    if event.index != state._tree_size:
        raise RuleViolation(
            f"entry {event.index} cannot be applied: the next index of the log is "
            f"{state._tree_size}"
        )
    found = handlers.get(event.kind)
    if found is None:
        raise RuleViolation(f"{event.kind!r} is not an entry kind {algorithm} knows")
    if state._params is None and event.kind != "network.genesis":
        raise RuleViolation("the first entry of a log must be its network.genesis")
    if not isinstance(event.body, Mapping):
        raise RuleViolation(f"the body of entry {event.index} is not a JSON object")
    return found


@dataclass(frozen=True, slots=True)
class Founder:
    key: str
    name: str
    referrer: str | None
    reputation: int
    tokens: int


def founders(body: Mapping[str, object]) -> list[Founder]:
    """The genesis's founders, each checked: a key listed once, a name, an earlier founder as
    referrer if any, and amounts that are not negative."""
    listed = body.get("founders")
    if not isinstance(listed, list):
        raise RuleViolation("the genesis must list its founders (an empty list for none)")
    checked: list[Founder] = []
    seen: set[str] = set()
    for number, founder in enumerate(listed, start=1):
        if not isinstance(founder, Mapping):
            raise RuleViolation(f"founder {number} of the genesis is not an object")
        member = key(founder.get("member"), f"founder {number}'s member key")
        if member in seen:
            raise RuleViolation(
                f"founder {number}, {short(member)}, is listed twice in the genesis"
            )
        called = name(founder.get("name"), f"founder {number}")
        referrer = founder.get("referrer")
        if referrer is not None and (not isinstance(referrer, str) or referrer not in seen):
            raise RuleViolation(
                f"founder {number}'s referrer {show(referrer)} is not an earlier founder"
            )
        reputation = _founder_amount(founder.get("reputation"), number, "reputation")
        tokens = _founder_amount(founder.get("tokens"), number, "tokens")
        seen.add(member)
        checked.append(Founder(member, called, referrer, reputation, tokens))
    return checked


def _founder_amount(value: object, number: int, field: str) -> int:
    try:
        units = parse_amount(value)
    except AmountError as error:
        raise RuleViolation(f"founder {number}'s {field}: {error}") from None
    if units < 0:
        raise RuleViolation(f"founder {number}'s {field} must not be negative")
    return units


@dataclass(frozen=True, slots=True)
class Submission:
    """A contribution.submit that passed every check: who submits what, and the fee due."""

    author: MemberRecord
    id: str  # the entry id, which names the contribution
    type: str
    fee: int


def submission(state: State, event: Event, params: AnyParams) -> Submission:
    """The checks of a contribution.submit, the same under every algorithm: the author is a
    member; the type, or the default type, exists; the author's tokens cover its fee; `refs`
    names existing contributions; the entry id is not a contribution yet."""
    member = author(state, event)
    body = event.body
    kind = body.get("type")
    if kind is None:
        kind = params.default_type
    ctype = params.contribution_types.get(kind) if isinstance(kind, str) else None
    if ctype is None:
        raise RuleViolation(
            f"{show(kind)} is not a contribution type of this network; the types are "
            f"{', '.join(params.contribution_types)}"
        )
    assert isinstance(kind, str)
    if member.tokens < ctype.fee:
        raise RuleViolation(
            f"a contribution of type {kind!r} costs a fee of {format_amount(ctype.fee)} tokens "
            f"and the author has only {format_amount(member.tokens)}"
        )
    contributions = state._contributions
    refs = body.get("refs", [])
    if not isinstance(refs, list):
        raise RuleViolation("refs must be a list of contribution ids")
    for ref in refs:
        if not isinstance(ref, str) or ref not in contributions:
            raise RuleViolation(f"refs names {show(ref)}, which is not a contribution")
    cid = key(event.id, "the entry id")
    if cid in contributions:
        raise RuleViolation(f"contribution {short(cid)} exists already")
    return Submission(member, cid, kind, ctype.fee)


def author(state: State, event: Event) -> MemberRecord:
    """The member that signed `event`; a key that is not a member is refused."""
    member = state._members.get(event.author)
    if member is None:
        raise RuleViolation(
            f"author {short(event.author)} is not a member: only member.join may come from a "
            f"new key"
        )
    return member


def key(value: object, what: str) -> str:
    if not isinstance(value, str) or _KEY.fullmatch(value) is None:
        raise RuleViolation(f"{what} must be 64 lowercase hex characters, not {show(value)}")
    return value


def name(value: object, who: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= _NAME_MAX:
        raise RuleViolation(f"{who} needs a name of 1 to {_NAME_MAX} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RuleViolation(f"{who}'s name is not valid Unicode text") from None
    return value


def short(key: str) -> str:
    return key[:4] + "…" if len(key) > 4 else key


def show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"
