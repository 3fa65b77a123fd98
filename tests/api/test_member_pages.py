"""The small reads the dashboard's pages use: a member's own contributions and evaluations, a
contribution's history, and the network's counts. Each is checked against the big reads it
replaces, and a contribution's history against a replay of the log up to each of its points."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from nacl.signing import SigningKey
from sqlalchemy import Engine

import valuation
from api import demo
from api.app import create_app
from api.settings import Settings
from ledger.entries import parse_leaf
from ledger.service import Ledger
from tests.dashboard.community import Community, build
from tests.helpers import Signer, assert_problem

UNKNOWN = "ab" * 32


@pytest.fixture
def community(engine: Engine, log_key: SigningKey) -> Community:
    return build(engine, log_key)


def client_for(ledger: Ledger) -> TestClient:
    return TestClient(create_app(Settings(db="sqlite://"), ledger=ledger))


@pytest.fixture
def client(community: Community) -> Iterator[TestClient]:
    with client_for(community.ledger) as client:
        yield client


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def every(client: TestClient, path: str, cursor: str, limit: int) -> list[Any]:
    items: list[Any] = []
    at: int | None = 0
    while at is not None:
        page = get(client, path, **{cursor: at, "limit": limit})
        items.extend(page["items"])
        at = page["next"]
    return items


def simulated(engine: Engine, log_key: SigningKey, algorithm: str) -> Ledger:
    """A ledger holding the demo's simulated community (seed 7, 14 members, 260 entries) under
    `algorithm`."""
    ledger = Ledger(engine, log_key)
    people = demo.community(7, 14)
    ledger.create_network(demo.genesis(people, log_key.verify_key, algorithm))
    sim = demo.Simulation(ledger, people, 7, 260)
    while not sim.done:
        sim.step()
    sim.flush()
    return ledger


def all_contributions(client: TestClient) -> list[Any]:
    return every(client, "/v1/contributions?order_by=time", "offset", 1000)


def history_points(items: list[Any]) -> list[dict[str, Any]]:
    """A contribution's history as served, in the shape `replayed_points` gives (the values
    cast at least once, zeros aside)."""
    return [
        {
            "total_reputation": i["total_reputation"],
            "quality": i["quality"],
            "max_score": i["max_score"],
            "weights": {
                w["value"]: w["reputation"] for w in i["weights"] if w["reputation"] != "0"
            },
        }
        for i in items
    ]


def assert_not_found(client: TestClient, path: str) -> None:
    assert_problem(client.get(path), 404)


# --- /v1/stats ------------------------------------------------------------------------------


def test_stats_count_what_the_lists_hold_at_the_published_state_root(client: TestClient) -> None:
    stats = get(client, "/v1/stats")
    assert set(stats) == {"tree_size", "members", "contributions", "total_reputation", "state_root"}
    assert {"tree_size": stats["tree_size"], "root": stats["state_root"]} == get(
        client, "/v1/state"
    )
    assert stats["members"] == len(every(client, "/v1/members", "offset", 1000)) == 5
    assert stats["contributions"] == len(all_contributions(client)) == 3
    total = sum(
        valuation.parse_amount(m["reputation"]) for m in every(client, "/v1/members", "offset", 2)
    )
    assert stats["total_reputation"] == valuation.format_amount(total)


# --- /v1/members/{key}/contributions and /evaluations ---------------------------------------


def test_a_members_contributions_are_theirs_newest_first_with_the_lists_figures(
    community: Community, client: TestClient
) -> None:
    listed = all_contributions(client)
    for signer in community.members.values():
        own = every(client, f"/v1/members/{signer.public}/contributions", "offset", 1)
        assert own == [c for c in listed if c["author"] == signer.public]
        assert [c["index"] for c in own] == sorted((c["index"] for c in own), reverse=True)
    bonnie = community.members["Bonnie"].public
    page = get(client, f"/v1/members/{bonnie}/contributions", limit=1)
    assert page["member"] == bonnie and len(page["items"]) == 1 and page["next"] is None


def test_a_members_evaluations_are_the_current_ones_newest_first(
    community: Community, client: TestClient
) -> None:
    listed = all_contributions(client)
    for signer in community.members.values():
        mine = every(client, f"/v1/members/{signer.public}/evaluations", "offset", 2)
        expected = sorted(
            (
                {
                    "contribution": c["id"],
                    "title": c["title"],
                    "value": e["value"],
                    "index": e["index"],
                }
                for c in listed
                for e in c["evaluations"]
                if e["evaluator"] == signer.public
            ),
            key=lambda e: -e["index"],
        )
        assert mine == expected
    # Bonnie changed her vote on the guide: listed once, as it stands.
    bonnie = community.members["Bonnie"].public
    guide = community.contributions["guide"]
    on_guide = [
        e
        for e in every(client, f"/v1/members/{bonnie}/evaluations", "offset", 100)
        if e["contribution"] == guide
    ]
    assert [e["value"] for e in on_guide] == [0]


def test_pages_follow_their_next_offset(community: Community, client: TestClient) -> None:
    ann = community.members["Ann"].public
    first = get(client, f"/v1/members/{ann}/evaluations", limit=2)
    assert len(first["items"]) == 2 and first["next"] == 2
    rest = get(client, f"/v1/members/{ann}/evaluations", offset=2, limit=2)
    assert rest["next"] is None and len(rest["items"]) == 1
    assert first["items"][-1]["index"] > rest["items"][0]["index"]


def test_a_member_with_no_contributions_or_evaluations_gets_empty_pages(
    community: Community, client: TestClient
) -> None:
    eve = community.members["Eve"].public
    assert get(client, f"/v1/members/{eve}/contributions") == {
        "member": eve,
        "items": [],
        "next": None,
    }
    ann = community.members["Ann"].public
    assert get(client, f"/v1/members/{ann}/contributions")["items"] == []
    newcomer = Signer("demo")
    community.append(newcomer.join("Newcomer"))
    assert get(client, f"/v1/members/{newcomer.public}/evaluations") == {
        "member": newcomer.public,
        "items": [],
        "next": None,
    }


def test_an_unknown_member_or_contribution_is_a_404_problem(client: TestClient) -> None:
    assert_not_found(client, f"/v1/members/{UNKNOWN}/contributions")
    assert_not_found(client, f"/v1/members/{UNKNOWN}/evaluations")
    assert_not_found(client, f"/v1/contributions/{UNKNOWN}/history")


def test_bad_keys_and_pages_are_400_problems(client: TestClient) -> None:
    for path in (
        "/v1/members/ABC/contributions",
        "/v1/members/ABC/evaluations",
        "/v1/contributions/xyz/history",
        f"/v1/members/{UNKNOWN}/contributions?limit=0",
        f"/v1/contributions/{UNKNOWN}/history?start=-1",
    ):
        assert_problem(client.get(path), 400)


# --- /v1/contributions/{id}/history ---------------------------------------------------------


def test_a_contributions_history_lists_its_submission_and_every_vote_in_order(
    community: Community, client: TestClient
) -> None:
    typo = community.contributions["typo"]
    cleo, ann = community.members["Cleo"].public, community.members["Ann"].public
    page = get(client, f"/v1/contributions/{typo}/history")
    assert page["contribution"] == typo and page["next"] is None
    items = page["items"]
    assert [(i["kind"], i["evaluator"], i["value"], i["current"]) for i in items] == [
        ("contribution.submit", None, None, True),
        ("evaluation.cast", cleo, 0, False),  # changed later
        ("evaluation.cast", ann, 1, True),
        ("evaluation.cast", cleo, 1, True),
    ]
    assert [i["index"] for i in items] == sorted(i["index"] for i in items)
    assert [p["cause"] for p in items[0]["postings"]] == ["fee"]
    assert items[0]["max_score"] is None and items[0]["quality"] == "0"
    assert items[1]["max_score"] is None  # a 0 sets no maximum score
    now = get(client, f"/v1/contributions/{typo}")
    # Only its own votes move the maximum score; its weights moved since, with other entries.
    assert items[-1]["max_score"] == now["max_score"]
    assert items[-1]["weights"] != now["weights"]
    paid = {(p["member"], p["cause"]) for i in items for p in i["postings"]}
    assert (community.members["Bonnie"].public, "contributor_reward") in paid


def test_history_pages_resume_at_next(community: Community, client: TestClient) -> None:
    review = community.contributions["review"]
    whole = get(client, f"/v1/contributions/{review}/history", limit=1000)["items"]
    assert len(whole) == 5
    assert every(client, f"/v1/contributions/{review}/history", "start", 2) == whole
    first = get(client, f"/v1/contributions/{review}/history", limit=2)
    assert first["next"] == whole[2]["index"]
    past = get(client, f"/v1/contributions/{review}/history", start=whole[-1]["index"] + 1)
    assert past == {"contribution": review, "items": [], "next": None}


def test_reference_figure_2_maximum_scores_come_back_from_the_history(ledger: Ledger) -> None:
    u = [Signer() for _ in range(5)]
    with client_for(ledger) as client:
        for i, member in enumerate(u, 1):
            assert ledger.append([member.join(f"u{i}")])
        c1 = ledger.append([u[1].submit("c1", type="article")])[0]
        c2 = ledger.append([u[2].submit("c2", type="article")])[0]
        c1_id, c2_id = c1.id, c2.id  # type: ignore[union-attr]
        steps = [(0, c1_id, 1), (1, c1_id, 0), (2, c1_id, 1), (3, c2_id, 1), (4, c2_id, 0)]
        steps += [(0, c2_id, 1), (1, c1_id, 1), (2, c1_id, 0), (3, c1_id, 1), (4, c2_id, 1)]
        for who, cid, value in steps:
            ledger.append([u[who].evaluate(cid, value)])
        items = get(client, f"/v1/contributions/{c1_id}/history")["items"][1:]
        # c1's votes are steps 1, 2, 3, 7, 8, 9.
        expected = ["0.2", "0.2", "0.399260341", "0.598363559", "0.598363559", "0.615551614"]
        assert [i["max_score"] for i in items] == expected


def logged_events(client: TestClient) -> list[valuation.Event]:
    leaves = [line.encode() for line in client.get("/v1/log/leaves").text.split("\n") if line]
    events = []
    for index, raw in enumerate(leaves):
        leaf = parse_leaf(raw)
        entry = leaf.entry
        events.append(
            valuation.Event(index, entry.id, entry.kind, entry.author, leaf.logged_at, entry.body)
        )
    return events


def replayed_points(
    events: list[valuation.Event], wanted: dict[str, set[int]]
) -> dict[str, list[dict[str, Any]]]:
    """For each contribution, the figures a replay of the log gives just after each of its
    wanted indexes."""
    state = valuation.new_state()
    out: dict[str, list[dict[str, Any]]] = {cid: [] for cid in wanted}
    for event in events:
        valuation.apply(state, event)
        for cid, indexes in wanted.items():
            if event.index not in indexes:
                continue
            figures = valuation.contribution_figures(state, cid)
            view = state.contribution(cid)
            assert figures is not None and view is not None
            out[cid].append(
                {
                    "total_reputation": valuation.format_amount(state.total_reputation),
                    "quality": valuation.format_amount(figures.quality),
                    "max_score": None
                    if view.max_score is None
                    else valuation.format_amount(view.max_score),
                    "weights": {
                        v: valuation.format_amount(w) for v, w in figures.weights.items() if w
                    },
                }
            )
    return out


def test_history_equals_a_replay_of_the_log_at_every_point(
    engine: Engine, log_key: SigningKey
) -> None:
    """On a simulated community, every point of every contribution's history (R, W, quality,
    maximum score) equals a replay of the log up to that point's index (under backfeed/1, whose
    figures the history derives from the logged rows)."""
    ledger = simulated(engine, log_key, valuation.ALGORITHM)
    with client_for(ledger) as client:
        contributions = all_contributions(client)
        assert len(contributions) >= 10
        served: dict[str, list[dict[str, Any]]] = {}
        wanted: dict[str, set[int]] = {}
        for c in contributions:
            items = every(client, f"/v1/contributions/{c['id']}/history", "start", 3)
            assert items[-1]["max_score"] == c["max_score"]
            wanted[c["id"]] = {i["index"] for i in items}
            served[c["id"]] = history_points(items)
        assert sum(len(items) for items in served.values()) >= 60
        assert served == replayed_points(logged_events(client), wanted)


def test_backfeed2_reads_use_the_weights_frozen_at_the_first_cast(
    engine: Engine, log_key: SigningKey
) -> None:
    """On a backfeed/2 community, where evaluators' reputation moves after they cast, every
    contribution's weights, V(c) and quality, as the list, the contribution and its history
    serve them, equal `valuation.contribution_figures` of a replay; each evaluation shows the
    weight it froze, not its evaluator's reputation now."""
    ledger = simulated(engine, log_key, valuation.ALGORITHM_2)
    state = ledger.replayed_state()
    assert state.params.algorithm == valuation.ALGORITHM_2
    amount = valuation.format_amount
    moved = 0  # evaluations whose evaluator's reputation is no longer their weight
    with client_for(ledger) as client:
        contributions = all_contributions(client)
        assert len(contributions) >= 10
        wanted: dict[str, set[int]] = {}
        served: dict[str, list[dict[str, Any]]] = {}
        for c in contributions:
            figures = valuation.contribution_figures(state, c["id"])
            assert figures is not None
            # The API lists the values cast; the figures every value of the type: zeros aside.
            listed = [w for w in c["weights"] if w["reputation"] != "0"]
            assert {w["value"]: w["reputation"] for w in listed} == {
                v: amount(w) for v, w in figures.weights.items() if w
            }
            assert {w["value"]: w["fraction"] for w in listed} == {
                v: amount(figures.weight_shares[v]) for v, w in figures.weights.items() if w
            }
            assert c["engaged_reputation"] == amount(figures.engaged_reputation)
            assert c["engaged_fraction"] == amount(figures.engaged_share)
            assert c["quality"] == amount(figures.quality)
            assert get(client, f"/v1/contributions/{c['id']}") == {**c, "score": ANY_SCORE}
            for e in c["evaluations"]:
                weight = state.frozen_weight(c["id"], e["evaluator"])
                assert weight is not None and e["reputation"] == amount(weight)
                member = state.member(e["evaluator"])
                assert member is not None
                moved += member.reputation != weight
            items = every(client, f"/v1/contributions/{c['id']}/history", "start", 3)
            wanted[c["id"]] = {i["index"] for i in items}
            served[c["id"]] = history_points(items)
            assert items[-1]["max_score"] == c["max_score"]
        assert moved >= 10
        by_score = every(client, "/v1/contributions?order_by=score", "offset", 1000)
        assert sorted(by_score, key=lambda c: c["id"]) == sorted(
            contributions, key=lambda c: c["id"]
        )
        # Every point's maximum score too: the append stored it after each cast (under
        # backfeed/2 it divides by D(c), which holds its author's pending claims).
        assert served == replayed_points(logged_events(client), wanted)
        # (and the scores do move along a history: the test would see one stuck)
        assert any(len({p["max_score"] for p in points}) > 2 for points in served.values())


class _AnyScore:
    """The feed score fades with the clock between two reads: any value matches."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)


ANY_SCORE = _AnyScore()
