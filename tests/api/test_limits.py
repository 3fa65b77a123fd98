"""Limits for a public server: the per-client write limit (429 with Retry-After) and CORS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from api.limits import WriteLimit
from api.settings import Settings
from ledger.service import Ledger
from tests.helpers import Signer, assert_problem


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not called")


def test_the_bucket_allows_a_burst_then_a_steady_rate_per_client() -> None:
    clock = Clock()
    limit = WriteLimit(_app, per_minute=6, clock=clock)  # a burst of 6, then one every 10 s
    assert [limit.take("ann") for _ in range(6)] == [0.0] * 6
    assert limit.take("ann") == pytest.approx(10.0)
    assert limit.take("bob") == 0.0  # each client has its own bucket
    clock.now += 4
    assert limit.take("ann") == pytest.approx(6.0)  # a refused write costs nothing
    clock.now += 6
    assert limit.take("ann") == 0.0
    assert limit.take("ann") == pytest.approx(10.0)
    clock.now += 3600  # refills to the burst, never beyond it
    assert [limit.take("ann") for _ in range(7)][-2:] == [0.0, pytest.approx(10.0)]


def test_buckets_of_quiet_clients_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    import api.limits

    monkeypatch.setattr(api.limits, "MAX_CLIENTS", 100)
    clock = Clock()
    limit = WriteLimit(_app, per_minute=60, clock=clock)
    for n in range(100):
        limit.take(f"client {n}")
    clock.now += 60  # every bucket is full again
    limit.take("newcomer")
    assert set(limit.buckets) == {"newcomer"}


def app_with(ledger: Ledger, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(db="sqlite://", **settings), ledger=ledger))


@pytest.fixture
def limited(ledger: Ledger) -> Iterator[TestClient]:
    with app_with(
        ledger, write_limit_per_minute=3, cors_origins=["https://dash.example.org"]
    ) as client:
        yield client


def test_writes_past_the_limit_get_429_with_retry_after_and_change_nothing(
    limited: TestClient,
) -> None:
    ann, bob = Signer(), Signer()
    assert limited.post("/v1/entries", json=ann.join("Ann")).status_code == 201
    assert limited.post("/v1/entries", content=b"{").status_code == 400  # refused: counts too
    batch = {"entries": [bob.join("Bob")]}
    assert limited.post("/v1/entries/batch", json=batch).status_code == 200
    size = limited.get("/v1/state").json()["tree_size"]
    for request in (
        lambda: limited.post("/v1/entries", json=ann.submit("one too many")),
        lambda: limited.post("/v1/entries/batch", json={"entries": [ann.submit("x")]}),
    ):
        response = request()
        problem = assert_problem(response, 429, "3 writes a minute")
        assert problem["type"] == "/problems/too-many-writes"
        assert 1 <= int(response.headers["retry-after"]) <= 20
    # Reads are never limited, and nothing refused was appended.
    for _ in range(10):
        assert limited.get("/v1/members").status_code == 200
    assert limited.get("/v1/state").json()["tree_size"] == size


def test_the_write_limit_can_be_turned_off(ledger: Ledger) -> None:
    with app_with(ledger, write_limit_per_minute=0) as client:
        for _ in range(30):
            assert client.post("/v1/entries", content=b"{").status_code == 400
    assert Settings().write_limit_per_minute >= 60, "the default must be generous"
    with pytest.raises(ValidationError):
        Settings(write_limit_per_minute=-1)


def test_cors_lets_only_the_configured_origins_read_and_write(limited: TestClient) -> None:
    allowed = {"Origin": "https://dash.example.org"}
    response = limited.get("/v1/members", headers=allowed)
    assert response.headers["access-control-allow-origin"] == "https://dash.example.org"
    assert "access-control-allow-credentials" not in response.headers
    other = limited.get("/v1/members", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = limited.options(
        "/v1/entries",
        headers={
            **allowed,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]
    # Preflights are not writes: the write limit is still whole.
    for _ in range(3):
        assert limited.post("/v1/entries", content=b"{", headers=allowed).status_code == 400
    refused = limited.post("/v1/entries", content=b"{", headers=allowed)
    assert refused.status_code == 429
    # A dashboard elsewhere can read the refusal and when to retry.
    assert refused.headers["access-control-allow-origin"] == "https://dash.example.org"
    assert "retry-after" in refused.headers["access-control-expose-headers"].lower()


def test_no_origin_is_allowed_by_default(ledger: Ledger) -> None:
    with app_with(ledger) as client:
        response = client.get("/v1/members", headers={"Origin": "https://dash.example.org"})
        assert "access-control-allow-origin" not in response.headers
    assert Settings().cors_origins == []


@pytest.mark.parametrize(
    "origin", ["https://dash.example.org/", "dash.example.org", "https://a.example/path", "ftp://x"]
)
def test_an_origin_that_is_not_one_is_refused_in_settings(origin: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(cors_origins=[origin])
    Settings(cors_origins=["*", "http://localhost:5173", "http://[::1]:8080"])
