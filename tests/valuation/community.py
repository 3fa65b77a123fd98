"""A small builder of valuation events for tests: names instead of keys, no signing, no database."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from valuation import PRESETS, ContributionView, Event, MemberView, State, apply, new_state

LOG_KEY = hashlib.sha256(b"log").hexdigest()


def key_of(name: str) -> str:
    """A deterministic 64-hex member key for a test name."""
    return hashlib.sha256(b"member:" + name.encode()).hexdigest()


class Log:
    """Builds a list of Events in log order and, optionally, applies them as it goes."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.contributions: dict[str, str] = {}  # test name -> contribution id

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def _event(self, kind: str, author: str, body: Mapping[str, Any]) -> Event:
        index = len(self.events)
        entry_id = hashlib.sha256(f"entry:{index}:{kind}:{author}".encode()).hexdigest()
        event = Event(index, entry_id, kind, author, f"2026-11-25T00:00:{index % 60:02d}Z", body)
        self.events.append(event)
        return event

    def genesis(
        self,
        preset: str | dict[str, Any] = "example",
        founders: Sequence[tuple[str, ...]] = (),
    ) -> Event:
        """founders: (name, reputation, tokens[, referrer name])."""
        valuation = PRESETS[preset] if isinstance(preset, str) else preset
        listed = []
        for founder in founders:
            item = {
                "member": key_of(founder[0]),
                "name": founder[0],
                "reputation": founder[1],
                "tokens": founder[2],
            }
            if len(founder) == 4:
                item["referrer"] = key_of(founder[3])
            listed.append(item)
        body = {
            "origin": "test/multitude",
            "log_key": "test/multitude+00000000+AA==",
            "valuation": valuation,
            "founders": listed,
        }
        return self._event("network.genesis", LOG_KEY, body)

    def params(self, valuation: dict[str, Any]) -> Event:
        return self._event("network.params", LOG_KEY, {"valuation": valuation})

    def join(self, name: str, referrer: str | None = None) -> Event:
        body: dict[str, Any] = {"name": name}
        if referrer is not None:
            body["referrer"] = key_of(referrer)
        return self._event("member.join", key_of(name), body)

    def submit(
        self,
        author: str,
        name: str,
        type: str | None = None,
        refs: Sequence[str] = (),
    ) -> Event:
        body: dict[str, Any] = {
            "title": name,
            "tags": [],
            "refs": [self.contributions[ref] for ref in refs],
        }
        if type is not None:
            body["type"] = type
        event = self._event("contribution.submit", key_of(author), body)
        self.contributions[name] = event.id
        return event

    def evaluate(self, member: str, contribution: str, value: int) -> Event:
        body = {"contribution": self.contributions[contribution], "value": value}
        return self._event("evaluation.cast", key_of(member), body)


def applied(log: Log) -> State:
    state = new_state()
    for event in log:
        apply(state, event)
    return state


def member_of(state: State, name: str) -> MemberView:
    member = state.member(key_of(name))
    assert member is not None, name
    return member


def contribution_of(state: State, cid: str) -> ContributionView:
    contribution = state.contribution(cid)
    assert contribution is not None, cid
    return contribution
