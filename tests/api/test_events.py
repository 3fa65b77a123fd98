"""`GET /v1/events` under clients that come and go: every open stream gets every entry, and the
server's log stays clean (no RuntimeError, no CancelledError traceback, no warning)."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.settings import Settings
from ledger.service import Ledger
from tests.helpers import LiveServer, Signer, assert_problem

KEEPALIVE = 0.15  # seconds: the test spans many keep-alive periods


@pytest.fixture
def live(ledger: Ledger) -> Iterator[str]:
    settings = Settings(
        db="sqlite://", events_poll_seconds=0.05, events_keepalive_seconds=KEEPALIVE
    )
    # log_config=None: uvicorn's records reach the root logger, where caplog sees them.
    server = LiveServer(create_app(settings, ledger=ledger), log_config=None)
    with server as url:
        yield url
    assert not server.thread.is_alive(), "the server did not stop"


def events_of(lines: Iterator[str], until: int, seen: list[int]) -> int:
    """Read events into `seen` until the event of index `until`; return keep-alives seen."""
    keepalives = 0
    current: dict[str, Any] = {}
    for line in lines:
        if line.startswith(": keepalive"):
            keepalives += 1
        elif line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and "id" in current:
            assert current["data"]["index"] == current["id"]
            seen.append(current["id"])
            current = {}
            if seen[-1] >= until:
                break
    return keepalives


def test_streams_survive_clients_coming_and_going_and_each_gets_every_entry(
    live: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    base = live
    caplog.set_level(logging.DEBUG)
    members = [Signer() for _ in range(40)]
    last = len(members)  # the index of the last join: genesis is 0
    stayers: dict[int, list[int]] = {n: [] for n in range(6)}
    keepalives: dict[int, int] = {}
    failures: list[str] = []
    stop_churn = threading.Event()
    churned = {"streams": 0, "resumed": 0, "refused": 0}

    def stay(n: int) -> None:
        try:
            with (
                httpx.Client(base_url=base, timeout=30) as http,
                http.stream("GET", "/v1/events", params={"after": 0}) as stream,
            ):
                keepalives[n] = events_of(stream.iter_lines(), last, stayers[n])
        except Exception as exc:
            failures.append(f"stayer {n}: {exc!r}")

    def churn(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop_churn.is_set():
                try:
                    choice = rng.random()
                    if choice < 0.15:
                        header = rng.choice(["null", "", "-1", "1e3", "٣", "x" * 100, "9" * 30])
                        response = http.get(
                            "/v1/events", headers={"Last-Event-ID": header.encode()}
                        )
                        assert response.status_code == 400, (header, response.text)
                        assert response.json()["type"] == "/problems/bad-last-event-id"
                        churned["refused"] += 1
                        continue
                    headers = {"Last-Event-ID": str(rng.randint(0, 5))} if choice < 0.4 else {}
                    with http.stream("GET", "/v1/events", headers=headers) as stream:
                        lines = stream.iter_lines()
                        assert next(lines) == "retry: 1000"
                        # Stay for up to three keep-alive periods, then leave mid-stream.
                        leave = time.monotonic() + rng.uniform(0, 3 * KEEPALIVE)
                        seen: list[int] = []
                        while time.monotonic() < leave:
                            line = next(lines)
                            if line.startswith("id: "):
                                seen.append(int(line[4:]))
                        if seen:
                            first = int(headers["Last-Event-ID"]) + 1 if headers else seen[0]
                            assert seen == list(range(first, first + len(seen))), seen
                        churned["resumed" if headers else "streams"] += 1
                except Exception as exc:
                    failures.append(f"churn {seed}: {exc!r}")
                    return

    threads = [threading.Thread(target=stay, args=(n,)) for n in stayers]
    threads += [threading.Thread(target=churn, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    with httpx.Client(base_url=base, timeout=30) as http:
        rng = random.Random(0)
        for member in members:
            http.post("/v1/entries", json=member.join("m")).raise_for_status()
            # Sometimes quiet for longer than a keep-alive period, sometimes a burst.
            time.sleep(rng.choice([0, 0, 0.01, 0.05, 2 * KEEPALIVE]))
    for thread in threads[: len(stayers)]:
        thread.join(60)
    stop_churn.set()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    for n, seen in stayers.items():
        assert seen == list(range(1, last + 1)), (n, seen)
    assert sum(keepalives.values()) > 0, "the writes were meant to span keep-alive periods"
    assert churned["streams"] + churned["resumed"] > 20 and churned["refused"] > 0, churned
    time.sleep(3 * KEEPALIVE)  # the abandoned streams are noticed and cancelled
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not noisy, [r.getMessage() for r in noisy] + [str(r.exc_info) for r in noisy]
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err[-3000:]


def test_a_last_event_id_other_than_an_index_is_a_clear_problem(
    live: str,
) -> None:
    base = live
    for header in ("null", "abc", "1 2", "+1", "-1", "1.0", "9" * 17):
        response = httpx.get(f"{base}/v1/events", headers={"Last-Event-ID": header}, timeout=10)
        assert_problem(response, 400, "Last-Event-ID")
    for query in ("after=-1", "after=x", f"after={2**53 + 1}"):
        response = httpx.get(f"{base}/v1/events?{query}", timeout=10)
        assert response.status_code == 400, (query, response.text)
