"""Valuation, live: the figures the API serves as entries arrive (SPEC section 6, VALUATION.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from nacl.signing import SigningKey
from sqlalchemy import Engine

import valuation
from api.app import create_app
from api.settings import Settings
from ledger.entries import parse_leaf
from ledger.service import Ledger
from tests.helpers import LiveServer, Signer, assert_problem, new_ledger, vector
from valuation import statemap

TOLERANCE = Decimal("0.000001")
FIGURES = vector("backfeed1-reference-figures.json")  # VALUATION.md's reference figures


def close(actual: str, expected: float | str) -> bool:
    return abs(Decimal(actual) - Decimal(str(expected))) <= TOLERANCE


def app_for(ledger: Ledger) -> Any:
    return create_app(Settings(db="sqlite://", events_poll_seconds=0.05), ledger=ledger)


def post(client: TestClient, entry: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/entries", json=entry)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def founder(signer: Signer, name: str, tokens: str, reputation: str) -> dict[str, Any]:
    return {"member": signer.public, "name": name, "reputation": reputation, "tokens": tokens}


def assert_members_close(
    client: TestClient, signers: dict[str, Signer], expected: dict[str, dict[str, Any]]
) -> None:
    """Each member's named figures as the API serves them, to 10^-6 point."""
    for name, figures in expected.items():
        served = client.get(f"/v1/members/{signers[name].public}").json()
        for asset, value in figures.items():
            assert close(served[asset], value), (name, asset)


def test_reference_figure_1_through_the_api(engine: Engine, log_key: SigningKey) -> None:
    case = FIGURES["figure_1"]
    signers = {f["name"]: Signer() for f in case["founders"]}
    ledger = new_ledger(
        engine,
        log_key,
        founders=[
            founder(signers[f["name"]], f["name"], f["tokens"], f["reputation"])
            for f in case["founders"]
        ],
    )
    submission, evaluation = case["submission"], case["evaluation"]
    author, evaluator = signers[submission["author"]], signers[evaluation["member"]]
    with TestClient(app_for(ledger)) as client:
        article = post(client, author.submit("An article", type=submission["type"]))
        assert_members_close(client, signers, case["before_evaluation"])
        post(client, evaluator.evaluate(article["id"], evaluation["value"]))
        assert_members_close(client, signers, case["after_evaluation"])
        contribution = client.get(f"/v1/contributions/{article['id']}").json()
        assert close(contribution["max_score"], case["max_score"])
        assert contribution["author"] == author.public and contribution["type"] == "article"
        assert [e["evaluator"] for e in contribution["evaluations"]] == [evaluator.public]

        a = client.get(f"/v1/members/{author.public}").json()
        b = client.get(f"/v1/members/{evaluator.public}").json()
        assert b["rank"] == 1 and a["rank"] == 2
        assert a["next_seq"] == 2 and b["next_seq"] == 2
        total = Decimal(a["reputation"]) + Decimal(b["reputation"])
        assert close(a["influence"], str(Decimal(a["reputation"]) / total))


def test_reference_figure_2_through_the_api(ledger: Ledger) -> None:
    case = FIGURES["figure_2"]
    signers = {name: Signer() for name in case["members"]}
    with TestClient(app_for(ledger)) as client:
        for name, member in signers.items():
            post(client, member.join(name))
        ids = {
            s["contribution"]: post(
                client, signers[s["author"]].submit(s["contribution"], type=s["type"])
            )["id"]
            for s in case["submissions"]
        }
        watched = ids[case["max_score_of"]]
        max_scores = {}
        for step, evaluation in enumerate(case["evaluations"], 1):
            member = signers[evaluation["member"]]
            post(client, member.evaluate(ids[evaluation["contribution"]], evaluation["value"]))
            max_scores[str(step)] = client.get(f"/v1/contributions/{watched}").json()["max_score"]
            assert_members_close(client, signers, case["after_step"].get(str(step), {}))
        for step, expected in case["max_score_after_step"].items():
            assert close(max_scores[step], expected), step
        assert_members_close(client, signers, case["final"])
        u = list(signers.values())

        board = client.get("/v1/leaderboard", params={"by": "reputation", "limit": 5}).json()[
            "items"
        ]
        assert [m["member"] for m in board][:2] == [u[1].public, u[2].public]
        assert [m["rank"] for m in board] == [1, 2, 3, 4, 5]
        by_tokens = client.get("/v1/leaderboard", params={"by": "tokens", "limit": 2}).json()[
            "items"
        ]
        assert [m["member"] for m in by_tokens] == [u[1].public, u[2].public]
        assert [m["rank"] for m in by_tokens] == [1, 2]

        # The live figures equal a replay of the log from scratch, and the published state root.
        leaves = [line.encode() for line in client.get("/v1/log/leaves").text.split("\n") if line]
        events = []
        for index, raw in enumerate(leaves):
            leaf = parse_leaf(raw)
            events.append(
                valuation.Event(
                    index,
                    leaf.entry.id,
                    leaf.entry.kind,
                    leaf.entry.author,
                    leaf.logged_at,
                    leaf.entry.body,
                )
            )
        replayed = valuation.replay(events)
        assert client.get("/v1/state").json() == {
            "tree_size": len(leaves),
            "root": statemap.reference_root(dict(valuation.iter_records(replayed))).hex(),
        }
        for member in u:
            view = replayed.member(member.public)
            assert view is not None
            figures = client.get(f"/v1/members/{member.public}").json()
            assert figures["reputation"] == valuation.format_amount(view.reputation)
            assert figures["tokens"] == valuation.format_amount(view.tokens)


def test_history_explains_every_change_and_adds_up(ledger: Ledger) -> None:
    ann, bob, cat = Signer(), Signer(), Signer()
    with TestClient(app_for(ledger)) as client:
        post(client, ann.join("Ann"))
        post(client, bob.join("Bob", referrer=ann.public))
        post(client, cat.join("Cat"))
        cid = post(client, bob.submit("work"))["id"]
        post(client, ann.evaluate(cid, 1))
        post(client, cat.evaluate(cid, 1))
        post(client, cat.evaluate(cid, 0))
        for member in (ann, bob, cat):
            history = client.get(f"/v1/members/{member.public}/history", params={"limit": 2})
            items = history.json()["items"]
            start = history.json()["next"]
            while start is not None:
                page = client.get(
                    f"/v1/members/{member.public}/history", params={"start": start, "limit": 2}
                ).json()
                items += page["items"]
                start = page["next"]
            reputation = tokens = Decimal(0)
            for item in items:
                for posting in item["postings"]:
                    if posting["asset"] == "reputation":
                        reputation += Decimal(posting["amount"])
                    else:
                        tokens += Decimal(posting["amount"])
                assert reputation == Decimal(item["reputation"]) and tokens == Decimal(
                    item["tokens"]
                )
            now = client.get(f"/v1/members/{member.public}").json()
            assert Decimal(now["reputation"]) == reputation and Decimal(now["tokens"]) == tokens
        causes = {
            p["cause"]
            for i in client.get(f"/v1/members/{ann.public}/history").json()["items"]
            for p in i["postings"]
        }
        assert {"join", "stake_fee", "referral_share"} <= causes


def test_a_rule_that_valuation_refuses_leaves_no_trace(engine: Engine, log_key: SigningKey) -> None:
    poor = Signer()
    ledger = new_ledger(engine, log_key, founders=[founder(poor, "Poor", "0.5", "1")])
    with TestClient(app_for(ledger)) as client:
        before = client.get("/v1/state").json()
        response = client.post("/v1/entries", json=poor.submit("costs 1 token", type="article"))
        assert_problem(response, 422, "token")
        assert client.get("/v1/state").json() == before
        assert client.get(f"/v1/members/{poor.public}").json()["next_seq"] == 1
        post(
            client,
            poor.sign("contribution.submit", {"title": "a comment", "type": "comment"}, seq=1),
        )


def test_unknown_member_is_a_problem_that_tells_the_next_seq(client_ledger: TestClient) -> None:
    key = Signer().public
    problem = assert_problem(client_ledger.get(f"/v1/members/{key}"), 404)
    assert problem["next_seq"] == 1
    assert problem["type"] == "/problems/not-a-member"
    assert problem["detail"] == f"{key[:16]}… has not joined this network; its next seq is 1"
    assert client_ledger.get("/v1/members/nothex").status_code == 400
    assert client_ledger.get(f"/v1/contributions/{'0' * 64}").status_code == 404


def test_contributions_are_listed_by_time_and_by_score(client_ledger: TestClient) -> None:
    a, b = Signer(), Signer()
    post(client_ledger, a.join("A"))
    post(client_ledger, b.join("B"))
    first = post(client_ledger, a.submit("first"))["id"]
    second = post(client_ledger, a.submit("second"))["id"]
    post(client_ledger, b.evaluate(first, 1))
    by_time = client_ledger.get("/v1/contributions", params={"order_by": "time"}).json()["items"]
    assert [c["id"] for c in by_time] == [second, first]
    by_score = client_ledger.get("/v1/contributions", params={"order_by": "score"}).json()["items"]
    assert by_score[0]["id"] == first and Decimal(by_score[0]["score"]) > 0
    assert Decimal(by_score[0]["quality"]) > Decimal(by_score[1]["quality"])
    page = client_ledger.get("/v1/contributions", params={"order_by": "time", "limit": 1}).json()
    assert len(page["items"]) == 1 and page["next"] == 1


@pytest.fixture
def client_ledger(ledger: Ledger) -> Iterator[TestClient]:
    with TestClient(app_for(ledger)) as client:
        yield client


@pytest.fixture
def live_server(ledger: Ledger) -> Iterator[str]:
    with LiveServer(app_for(ledger)) as url:
        yield url


def read_events(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in response.iter_lines():
        if line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and "data" in current:
            events.append(current)
            current = {}
            if len(events) == count:
                break
    return events


def test_events_read_together_name_each_entrys_changed_members(live_server: str) -> None:
    ann, bob, cy = Signer(), Signer(), Signer()
    with httpx.Client(base_url=live_server, timeout=10) as http:
        batch = [ann.join("Ann"), bob.join("Bob", referrer=ann.public), cy.join("Cy")]
        http.post("/v1/entries/batch", json={"entries": batch}).raise_for_status()
        with http.stream("GET", "/v1/events", headers={"Last-Event-ID": "0"}) as stream:
            events = read_events(stream, 3)  # one read of the log, three leaves
        assert [e["id"] for e in events] == [1, 2, 3]
        named: dict[str, set[int]] = {}
        for event in events:
            members = event["data"]["members"]
            assert [m["member"] for m in members] == sorted(m["member"] for m in members)
            for m in members:
                named.setdefault(m["member"], set()).add(event["id"])
                steps = http.get(f"/v1/members/{m['member']}/history").json()["items"]
                step = next(s for s in steps if s["index"] == event["id"])
                assert (m["reputation"], m["tokens"]) == (step["reputation"], step["tokens"])
        for signer in (ann, bob, cy):  # every change of the three entries, at its own index
            steps = http.get(f"/v1/members/{signer.public}/history").json()["items"]
            assert named[signer.public] == {s["index"] for s in steps}


def test_events_stream_every_append_live_and_resume_after_last_event_id(live_server: str) -> None:
    ann, bob = Signer(), Signer()
    with httpx.Client(base_url=live_server, timeout=10) as http:
        with http.stream("GET", "/v1/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            http.post("/v1/entries", json=ann.join("Ann")).raise_for_status()
            http.post("/v1/entries", json=bob.join("Bob")).raise_for_status()
            events = read_events(stream, 2)
        assert [e["id"] for e in events] == [1, 2]
        assert events[0]["data"]["kind"] == "member.join"
        assert events[0]["data"]["members"][0]["member"] == ann.public
        assert events[0]["data"]["members"][0]["reputation"] == "20"
        http.post("/v1/entries", json=ann.submit("missed while away")).raise_for_status()
        with http.stream("GET", "/v1/events", headers={"Last-Event-ID": "2"}) as stream:
            missed = read_events(stream, 1)
        assert missed[0]["id"] == 3 and missed[0]["data"]["kind"] == "contribution.submit"
