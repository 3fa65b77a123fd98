"""Hostile input against a real server: a clear 4xx problem for every kind of garbage, never a
5xx, and nothing refused leaves a trace (tree size and checkpoint unchanged).

Our own corpus first: JSON the signed bytes could not mean one thing with (duplicate keys,
NaN, floats, numbers beyond 2^53, lone surrogates, invalid UTF-8), deep nesting, uppercase
hex, a 10 MB body, an entry for another network, a replayed entry, a batch with one bad entry
in the middle. No field of an entry or of any request takes base64 (keys, signatures, ids and
hashes are lowercase hex; base64 appears only in the checkpoints the log writes), so
"non-canonical base64" is tested as base64 where hex belongs.

Then schemathesis against the server's own /openapi.json (tests/fuzz.py): every operation, the
event stream included, positive and negative cases, no 5xx and every response matching its
documented status, content type and schema.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.entries import format_timestamp
from tests.fuzz import run_schemathesis
from tests.helpers import Signer, assert_problem
from tests.stress.clients import network_of
from tests.stress.server import Server, sqlite_url

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("hostile")
    server = Server(sqlite_url(workdir), workdir, workers=1)
    server.start()
    # The default network `serve` creates is named from its log key (SPEC section 2).
    Member.network_name = network_of(server.base)
    yield server
    server.stop()


class Member(Signer):
    """A member of the default network, signing on its own machine."""

    network_name = ""  # set by the `server` fixture

    def __init__(self) -> None:
        super().__init__(network=Member.network_name)

    def join(self, name: str = "", referrer: str | None = None) -> dict[str, Any]:
        return super().join(name or f"m {self.public[:6]}", referrer)

    def submit(self, title: str = "a title", **body: Any) -> dict[str, Any]:
        return super().submit(title, type="comment", tags=[], refs=[], **body)


def state(server: Server) -> tuple[int, str]:
    note = httpx.get(f"{server.base}/v1/log/checkpoint", timeout=10).text
    return int(note.split("\n")[1]), note


def raw_post(server: Server, path: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.base}{path}",
        content=body,
        headers={"content-type": "application/json", **headers},
        timeout=60,
    )


@pytest.fixture
def no_trace(server: Server) -> Iterator[None]:
    """Whatever the test sends, the log must be exactly as before."""
    before = state(server)
    yield
    assert state(server) == before, "a refused request left a trace in the log"


def text_of(entry: dict[str, Any]) -> str:
    return json.dumps(entry, separators=(",", ":"))


def both(server: Server, body: bytes) -> list[httpx.Response]:
    """The same entry bytes sent alone and as the only entry of a batch."""
    return [
        raw_post(server, "/v1/entries", body),
        raw_post(server, "/v1/entries/batch", b'{"entries":[' + body + b"]}"),
    ]


# --- JSON that could not mean one thing -----------------------------------------------------


def mutations(entry: dict[str, Any]) -> dict[str, tuple[bytes, str]]:
    """name -> (entry bytes, a word the problem must say)."""
    good = text_of(entry)
    return {
        "duplicate key": (good.replace('"seq":', '"seq":1,"seq":', 1).encode(), "duplicate"),
        "duplicate key in the body": (
            good.replace('"title":', '"title":"x","title":', 1).encode(),
            "duplicate",
        ),
        "NaN": (good.replace(f'"seq":{entry["seq"]}', '"seq":NaN').encode(), "NaN"),
        "Infinity": (good.replace(f'"seq":{entry["seq"]}', '"seq":-Infinity').encode(), "Infinity"),
        "float seq": (
            good.replace(f'"seq":{entry["seq"]}', f'"seq":{entry["seq"]}.0').encode(),
            "integer",
        ),
        "exponent seq": (good.replace(f'"seq":{entry["seq"]}', '"seq":1e0').encode(), "integer"),
        "seq beyond 2^53": (
            good.replace(f'"seq":{entry["seq"]}', f'"seq":{2**53 + 1}').encode(),
            "2^53",
        ),
        "a 5000-digit number": (
            good.replace(f'"seq":{entry["seq"]}', '"seq":' + "9" * 5000).encode(),
            "",
        ),
        "lone surrogate": (good.replace('"title":"', '"title":"\\ud800', 1).encode(), "surrogate"),
        "invalid UTF-8": (good.replace('"title":"', '"title":"\xff', 1).encode("latin-1"), "UTF-8"),
        "overlong UTF-8": (good.encode().replace(b'"title":"', b'"title":"\xc0\xaf', 1), "UTF-8"),
        "trailing garbage": (good.encode() + b"]", "malformed"),
        "a BOM": (b"\xef\xbb\xbf" + good.encode(), ""),
        "unknown field": (good.replace('{"', '{"x":1,"', 1).encode(), "x"),
        "uppercase author": (
            good.replace(entry["author"], entry["author"].upper()).encode(),
            "hex",
        ),
        "uppercase sig": (good.replace(entry["sig"], entry["sig"].upper()).encode(), "sig"),
        "base64 sig": (
            good.replace(
                entry["sig"], base64.b64encode(bytes.fromhex(entry["sig"])).decode()
            ).encode(),
            "sig",
        ),
        "non-canonical base64 author": (
            good.replace(
                entry["author"],
                base64.b64encode(bytes.fromhex(entry["author"])).decode()[:-1] + "=",
            ).encode(),
            "author",
        ),
        "a changed title (bad signature)": (
            good.replace('"title":"', '"title":"X', 1).encode(),
            "signature",
        ),
    }


def test_malformed_and_ambiguous_entries_are_4xx_and_leave_no_trace(
    server: Server, no_trace: None
) -> None:
    member = Member()
    entry = member.submit("a title")
    failures = []
    for name, (body, word) in mutations(entry).items():
        for response in both(server, body):
            if response.status_code >= 500:
                failures.append(f"{name}: {response.status_code} {response.text[:200]}")
                continue
            if response.status_code == 200:  # a batch: the problem is the entry's result
                result = response.json()["results"][0]
                status, detail = result["status"], result.get("detail", "")
            else:
                assert_problem(response, response.status_code)
                status, detail = response.status_code, response.json()["detail"]
            if not 400 <= status < 500 or word.lower() not in detail.lower():
                failures.append(f"{name}: {status} {detail!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deep_nesting_is_assert_problem(server: Server, no_trace: None, depth: int) -> None:
    body = b'{"title":' + b"[" * depth + b"]" * depth + b"}"
    for response in both(server, body):
        assert 400 <= response.status_code < 500, response.text[:300]


def test_a_float_where_an_integer_belongs_in_a_body_is_assert_problem(
    server: Server, no_trace: None
) -> None:
    member = Member()
    entry = member.sign("evaluation.cast", {"contribution": "a" * 64, "value": 1})
    body = text_of(entry).replace('"value":1', '"value":1.0').encode()
    assert_problem(raw_post(server, "/v1/entries", body), 400, "integer")


def test_a_10_mb_body_is_refused_early(server: Server, no_trace: None) -> None:
    body = b'{"entries":["' + b"x" * (10 * 2**20) + b'"]}'
    started = time.monotonic()
    for path in ("/v1/entries", "/v1/entries/batch"):
        assert_problem(raw_post(server, path, body), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while it streams in
        for _ in range(10):
            yield b"x" * 2**20

    response = httpx.post(f"{server.base}/v1/entries/batch", content=chunks(), timeout=60)
    assert_problem(response, 413)
    assert time.monotonic() - started < 30


def test_an_entry_for_another_network_is_assert_problem(server: Server, no_trace: None) -> None:
    member = Member()
    response = httpx.post(
        f"{server.base}/v1/entries", json=member.sign("member.join", {"name": "x"}, network="demo")
    )
    assert_problem(response, 422, "network")


def test_an_entry_far_from_the_log_clock_is_assert_problem(server: Server, no_trace: None) -> None:
    member = Member()
    stale = format_timestamp(datetime.now(UTC) - timedelta(hours=1))
    response = httpx.post(
        f"{server.base}/v1/entries", json=member.sign("member.join", {"name": "x"}, ts=stale)
    )
    assert_problem(response, 422, "clock")


def test_a_replayed_entry_is_refused_and_changes_nothing(server: Server) -> None:
    member = Member()
    join = member.join()
    first = httpx.post(f"{server.base}/v1/entries", json=join)
    assert first.status_code == 201, first.text
    before = state(server)
    for response in both(server, text_of(join).encode()):
        if response.status_code == 200:
            assert response.json()["results"][0]["status"] == 409
        else:
            assert_problem(response, 409, "duplicate")
    assert state(server) == before


def test_a_batch_with_a_bad_entry_in_the_middle_says_which(server: Server) -> None:
    ann, bob = Member(), Member()
    good_a = ann.join()
    bad = ann.submit("forged")
    bad["sig"] = "0" * 128  # a well-formed signature that does not verify
    after_bad_same_author = ann.submit("next")  # seq 3: the rule says it fails on its seq
    other_author = bob.join()
    size, _ = state(server)
    response = httpx.post(
        f"{server.base}/v1/entries/batch",
        json={"entries": [good_a, bad, after_bad_same_author, other_author]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    results = body["results"]
    assert [r["status"] for r in results] == [201, 422, 409, 201], results
    assert "signature" in results[1]["detail"]
    assert "seq 3" in results[2]["detail"] and "next seq" in results[2]["detail"]
    assert (body["appended"], body["refused"]) == (2, 2)
    assert [results[0]["index"], results[3]["index"]] == [size, size + 1]
    assert state(server)[0] == size + 2  # only the two good entries were logged


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/entries", b""),
        ("/v1/entries", b"[]"),
        ("/v1/entries", b"null"),
        ("/v1/entries/batch", b'{"entries": []}'),
        ("/v1/entries/batch", b'{"entries": {}}'),
        ("/v1/entries/batch", b'{"entries": [], "more": 1}'),
        ("/v1/entries/batch", b'{"entries": [' + b",".join([b"{}"] * 1001) + b"]}"),
    ],
)
def test_bad_envelopes_are_4xx(server: Server, no_trace: None, path: str, body: bytes) -> None:
    response = raw_post(server, path, body)
    assert 400 <= response.status_code < 500, response.text[:300]
    assert_problem(response, response.status_code)


@pytest.mark.parametrize(
    "query",
    [
        "/v1/entries?start=-1",
        "/v1/entries?limit=0",
        "/v1/entries?start=99999999999999999999999",
        "/v1/entries?start=1e3",
        "/v1/log/proof/inclusion?index=5&tree_size=2",
        "/v1/log/proof/consistency?first=3&second=1",
        "/v1/log/proof/consistency?first=1&second=999999",
        "/v1/state?tree_size=9007199254740993",
        "/v1/members/" + "A" * 64,
        "/v1/entries/" + "a" * 63,
        "/v1/contributions?order_by=nonsense",
        "/v1/events?after=x",
    ],
)
def test_bad_queries_are_4xx(server: Server, query: str) -> None:
    response = httpx.get(f"{server.base}{query}", timeout=10)
    assert 400 <= response.status_code < 500, (query, response.status_code, response.text[:300])
    assert_problem(response, response.status_code)


# --- schemathesis ---------------------------------------------------------------------------

MAX_EXAMPLES = 40  # per operation and generation mode


def test_schemathesis_finds_no_5xx_and_no_schema_violation(server: Server) -> None:
    before = state(server)
    started = time.monotonic()
    summary = run_schemathesis(server.base, MAX_EXAMPLES)
    elapsed = time.monotonic() - started
    print(f"\nschemathesis: {summary.cases} cases, {summary.server_errors} 5xx, {elapsed:.0f} s")
    assert summary.server_errors == 0
    assert not summary.failures, "\n\n".join(summary.failures)
    assert summary.streams > 0
    after = state(server)
    # Fuzzed entries are signed by nobody: none can have been logged.
    assert after == before
    assert "Traceback" not in server.log(), server.log()


def test_the_log_is_still_sound_after_all_that(server: Server) -> None:
    from tests.stress.server import run_check

    checked = run_check(server.url)
    assert checked.returncode == 0, checked.stderr
    assert Path(server.workdir).exists()
