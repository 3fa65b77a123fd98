"""The log's REST API as an independent client sees it (SPEC section 6)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import schemas
from api.app import create_app
from api.settings import Settings
from ledger import checkpoint as cp
from ledger import merkle
from ledger.service import Ledger
from tests.helpers import Signer, assert_problem


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    app = create_app(Settings(db="sqlite://", events_poll_seconds=0.05), ledger=ledger)
    with TestClient(app) as client:
        yield client


def post(client: TestClient, entry: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/entries", json=entry)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def tree_size(client: TestClient) -> int:
    return int(client.get("/v1/log/checkpoint").text.split("\n")[1])


def test_an_independent_client_checks_everything_it_is_told(client: TestClient) -> None:
    ann, bob = Signer(), Signer()
    post(client, ann.join("Ann"))
    post(client, bob.join("Bob"))
    submitted = post(client, ann.submit("Translate the onboarding guide", refs=[]))
    evaluated = post(client, bob.evaluate(submitted["id"], 1))
    assert evaluated["index"] == 4

    vkey = client.get("/v1/log/key").text
    checkpoint = cp.open_checkpoint(
        client.get("/v1/log/checkpoint").text, cp.parse_verifier_key(vkey)
    )
    assert checkpoint.size == 5

    lines = client.get("/v1/log/leaves", params={"start": 0, "limit": 1000})
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    leaves = [line.encode() for line in lines.text.split("\n") if line]
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    assert merkle.root(hashes) == checkpoint.root_hash
    assert hashes[4].hex() == evaluated["leaf_hash"]

    page = client.get("/v1/entries", params={"start": 1, "limit": 2}).json()
    assert [item["index"] for item in page["items"]] == [1, 2] and page["next"] == 3
    item = client.get(f"/v1/entries/{submitted['id']}").json()
    assert item["entry"]["body"]["title"] == "Translate the onboarding guide"

    for index in range(5):
        proof = client.get(
            "/v1/log/proof/inclusion", params={"index": index, "tree_size": 5}
        ).json()
        assert proof["leaf_index"] == index and proof["tree_size"] == 5
        path = [bytes.fromhex(h) for h in proof["hashes"]]
        merkle.verify_inclusion(hashes[index], index, 5, path, checkpoint.root_hash)
    for first in range(1, 6):
        proof = client.get("/v1/log/proof/consistency", params={"first": first, "second": 5}).json()
        path = [bytes.fromhex(h) for h in proof["hashes"]]
        merkle.verify_consistency(first, 5, merkle.root(hashes[:first]), checkpoint.root_hash, path)


def test_checkpoint_is_a_c2sp_signed_note(client: TestClient) -> None:
    text = client.get("/v1/log/checkpoint").text
    body, _, signature = text.partition("\n\n")
    origin, size, root, state = body.split("\n")
    assert origin == "example.org/demo" and size == "1" and len(base64.b64decode(root)) == 32
    # The state line (SPEC section 4): the state map's root, as GET /v1/state gives it in hex.
    assert state.startswith("state ")
    state_root = base64.b64decode(state.removeprefix("state "))
    assert client.get("/v1/state").json() == {"tree_size": 1, "root": state_root.hex()}
    assert signature.startswith("— example.org/demo ") and signature.endswith("\n")
    name, key_id, key = client.get("/v1/log/key").text.split("+", 2)
    assert name == "example.org/demo" and len(key_id) == 8
    assert base64.b64decode(key)[0] == 1


@pytest.mark.parametrize(
    ("body", "status", "word"),
    [
        (b"{not json", 400, "malformed"),
        (b'{"v": 1, "v": 1}', 400, "duplicate"),
        (b'{"seq": 1.0}', 400, "integer"),
        (b"[]", 422, "object"),
        (b"", 400, "no body"),
        (b'{"v": 1}', 422, "missing"),
        ('{"name": "\udcff"}'.encode("utf-8", "surrogatepass"), 400, "UTF-8"),
    ],
)
def test_bad_bodies_are_problems_and_change_nothing(
    client: TestClient, body: bytes, status: int, word: str
) -> None:
    before = tree_size(client)
    response = client.post(
        "/v1/entries", content=body, headers={"content-type": "application/json"}
    )
    assert_problem(response, status, word)
    assert tree_size(client) == before


def test_refusals_each_have_their_own_problem(client: TestClient) -> None:
    ann = Signer()
    join = ann.join("Ann")
    post(client, join)
    assert_problem(client.post("/v1/entries", json=join), 409, "duplicate")
    assert_problem(
        client.post("/v1/entries", json=ann.sign("contribution.submit", {"title": "x"}, seq=5)),
        409,
        "skips ahead",
    )
    assert_problem(
        client.post("/v1/entries", json=Signer(network="other").join("E")), 422, "network"
    )
    forged = Signer().join("Forged")
    forged["body"]["name"] = "Changed"
    assert_problem(client.post("/v1/entries", json=forged), 422, "signature")


def test_an_oversize_body_is_refused_early(client: TestClient) -> None:
    response = client.post("/v1/entries/batch", content=b"x" * (10 * 1024 * 1024))
    assert_problem(response, 413, "limited")


def test_a_batch_reports_each_entry(client: TestClient) -> None:
    ann, bob = Signer(), Signer()
    stale = Signer()
    stale_join = stale.join("Stale")
    stale_join["sig"] = "0" * 128
    response = client.post(
        "/v1/entries/batch", json={"entries": [ann.join("Ann"), stale_join, bob.join("Bob")]}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert results[1]["detail"].startswith("bad signature")
    assert [results[0]["index"], results[2]["index"]] == [1, 2]
    # The reply is written by hand for speed: it must stay the documented schema, exactly.
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert schemas.BatchOut.model_validate(document).model_dump(exclude_none=True) == document
    assert set(results[0]) == {"status", "id", "index", "logged_at", "leaf_hash"}
    assert set(results[1]) == {"status", "type", "title", "detail"}
    assert (document["appended"], document["refused"]) == (2, 1)
    assert_problem(client.post("/v1/entries/batch", json={"entries": []}), 400, "1 to 1000")
    assert_problem(client.post("/v1/entries/batch", json={"items": []}), 400, "entries")


def _size(entry: dict[str, Any]) -> int:
    """An entry's bytes as RFC 8785 writes it."""
    return len(json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode())


def test_an_entry_over_the_entry_limit_is_refused_alone_in_a_batch_and_as_a_single_post(
    ledger: Ledger,
) -> None:
    """SPEC section 2: an entry is at most 64 KiB, in a batch as in a single POST; in a batch
    it gets its own 413 result and its neighbours are appended."""
    ann, bob, carl = Signer(), Signer(), Signer()
    small, big, edge = ann.join("Ann"), bob.join("B" * 80), carl.join("Carl")
    limit = _size(edge)  # an entry of exactly the limit is not over it
    assert _size(small) <= limit < _size(big)
    settings = Settings(db="sqlite://", events_poll_seconds=0.05, max_entry_bytes=limit)
    with TestClient(create_app(settings, ledger=ledger)) as client:
        response = client.post("/v1/entries/batch", json={"entries": [small, big, edge]})
        assert response.status_code == 200, response.text
        document = response.json()
        results = document["results"]
        assert [r["status"] for r in results] == [201, 413, 201]
        assert results[1] == {
            "status": 413,
            "type": "/problems/too-large",
            "title": "Body too large",
            "detail": f"entry 1 of the batch is {_size(big)} bytes, over the limit of {limit} "
            "bytes for one entry",
        }
        assert (document["appended"], document["refused"]) == (2, 1)
        assert schemas.BatchOut.model_validate(document).model_dump(exclude_none=True) == document
        body = json.dumps(big, separators=(",", ":")).encode()
        problem = assert_problem(client.post("/v1/entries", content=body), 413, "exceeds")
        assert problem["type"] == "/problems/too-large"
        assert client.get("/v1/members/" + bob.public).status_code == 404
        only_big = client.post("/v1/entries/batch", json={"entries": [big]}).json()
        assert [r["status"] for r in only_big["results"]] == [413]
    with TestClient(create_app(Settings(db="sqlite://"), ledger=ledger)) as client:
        post(client, big)  # under the default 64 KiB it is an ordinary entry


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/log/proof/inclusion?index=5&tree_size=1", 400),
        ("/v1/log/proof/inclusion?index=0&tree_size=99", 404),
        ("/v1/log/proof/inclusion?index=-1&tree_size=1", 400),
        ("/v1/log/proof/inclusion?index=x&tree_size=1", 400),
        ("/v1/log/proof/consistency?first=2&second=1", 400),
        ("/v1/entries/" + "0" * 64, 404),
        ("/v1/entries/NOTHEX", 400),
        ("/v1/entries?limit=100000", 400),
        ("/v1/nowhere", 404),
        ("/v1/state?tree_size=99", 404),
    ],
)
def test_bad_reads_are_problems(client: TestClient, path: str, status: int) -> None:
    assert_problem(client.get(path), status)


def test_openapi_document_describes_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/entries",
        "/v1/entries/batch",
        "/v1/entries/{entry_id}",
        "/v1/log/leaves",
        "/v1/log/checkpoint",
        "/v1/log/key",
        "/v1/log/proof/inclusion",
        "/v1/log/proof/consistency",
        "/v1/state",
        "/v1/members/{key}",
        "/v1/events",
    ):
        assert path in spec["paths"], path
    json.dumps(spec)


def test_control_characters_and_blank_text_are_refused_not_stored(client: TestClient) -> None:
    ann, bob, cat = Signer(), Signer(), Signer()
    for member, name in ((ann, "Ann"), (bob, "Bob"), (cat, "Cat")):
        post(client, member.join(name))
    size = tree_size(client)
    assert_problem(
        client.post("/v1/entries", json=ann.submit("a\x00b")), 422, "body.title", "U+0000"
    )
    ann.seq -= 1
    assert_problem(
        client.post("/v1/entries", json=ann.submit("   ")), 422, "body.title", "white space"
    )
    ann.seq -= 1
    nul_name = Signer()
    assert_problem(client.post("/v1/entries", json=nul_name.join("\x00")), 422, "body.name")
    assert tree_size(client) == size
    # One bad entry in a batch is refused in place; its neighbours are appended.
    batch = [ann.submit("good"), bob.submit("bad\x00"), cat.submit("good too")]
    response = client.post("/v1/entries/batch", json={"entries": batch})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert "U+0000" in results[1]["detail"]
    assert tree_size(client) == size + 2
    # The server goes on answering on the same connection.
    assert client.get("/v1/members").status_code == 200
