"""An independent client, written from SPEC.md and VALUATION.md alone, against a real server.

The client (tests/api/independent/) imports nothing of ours: it signs entries with its own JCS,
verifies checkpoints as C2SP signed notes, recomputes RFC 9162 roots and proofs, and checks the
shape of every response. Only the fixture that starts the server uses the project's code.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey
from sqlalchemy import Engine

from tests.api.independent.client import (
    Client,
    check_contribution,
    check_figures,
    check_member,
    check_problem,
    expect,
)
from tests.api.independent.protocol import (
    HEX64,
    Member,
    consistency_proof,
    entry_id,
    fold_state_proof,
    inclusion_path,
    jcs,
    leaf_hash,
    mth,
    parse_verifier_key,
    state_root,
    timestamp,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

NETWORK = "indie"
ORIGIN = "example.org/indie"
TOLERANCE = Decimal("0.000001")
# VALUATION.md's reference figures, as data (tests/vectors/).
FIGURES = json.loads(
    (Path(__file__).parents[1] / "vectors" / "backfeed1-reference-figures.json").read_text("utf-8")
)

Serve = Callable[..., Client]


# --- the server (the only place that touches our packages) ---------------------------------


@pytest.fixture
def serve(engine: Engine, log_key: SigningKey) -> Iterator[Serve]:
    """Start a real uvicorn server on a fresh network; return an independent client of it.
    Called again, it starts another server on the same database (a restart, a replay)."""
    import valuation
    from ledger.service import Ledger, NetworkConfig
    from tests.helpers import LiveServer

    started: list[Client] = []
    with ExitStack() as servers:

        def start(
            preset: str | dict[str, Any] = "example",
            founders: list[dict[str, Any]] | None = None,
            clock: Callable[[], datetime] | None = None,
        ) -> Client:
            params = valuation.PRESETS[preset] if isinstance(preset, str) else preset
            ledger = Ledger(engine, log_key, clock=clock) if clock else Ledger(engine, log_key)
            if not started:
                ledger.create_network(NetworkConfig(NETWORK, ORIGIN, params, founders or []))
            client = Client(servers.enter_context(LiveServer(ledger)))
            servers.callback(client.close)
            started.append(client)
            return client

        yield start


def founder(m: Member, name: str, tokens: str, reputation: str, **extra: Any) -> dict[str, Any]:
    return {"member": m.public, "name": name, "reputation": reputation, "tokens": tokens, **extra}


def close(actual: str | None, expected: float | str) -> bool:
    assert actual is not None
    return abs(Decimal(actual) - Decimal(str(expected))) <= TOLERANCE


# --- the client checks itself first --------------------------------------------------------


def test_the_clients_own_merkle_proofs_verify_and_catch_a_flipped_bit() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(17)]
    for n in range(1, 18):
        root = mth(hashes[:n])
        for m in range(n):
            path = inclusion_path(m, hashes[:n])
            assert verify_inclusion(m, n, hashes[m], path, root)
            assert not verify_inclusion(m, n, hashes[(m + 1) % 17], path, root) or n == 1
        for m in range(1, n + 1):
            proof = consistency_proof(m, hashes[:n])
            assert verify_consistency(m, n, mth(hashes[:m]), root, proof)
            if proof:
                bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
                assert not verify_consistency(m, n, mth(hashes[:m]), root, bad)


# --- a community, audited ------------------------------------------------------------------


def test_a_community_audits_clean_from_leaves_checkpoints_and_proofs(serve: Serve) -> None:
    ann, bob = Member(NETWORK), Member(NETWORK)
    api = serve(
        founders=[
            founder(ann, "Ann", "10", "10"),
            founder(bob, "Bob", "99", "100", referrer=ann.public),
        ]
    )
    first, _ = api.audit()
    assert first.size == 1

    cat, dan = Member(NETWORK), Member(NETWORK)
    api.post(cat, cat.join("Cat Zoë 🚀"))
    api.post(dan, dan.join("Dan", referrer=cat.public))
    assert api.member(dan.public)["referrer"] == cat.public
    assert api.member(bob.public)["referrer"] == ann.public
    assert api.member(cat.public)["referrer"] is None

    article = api.post(ann, ann.submit("An article", type="article"))["id"]
    comment = api.post(
        cat,
        cat.submit(
            "A comment, é" * 10,
            type="comment",
            uri="https://example.org/c",
            content_hash="ab" * 32,
            tags=["x", "y"],
            refs=[article],
        ),
    )["id"]
    untyped = api.post(dan, dan.submit("No type given"))["id"]
    assert api.contribution(untyped)["type"] == "article"  # alphabetically first type

    api.post(bob, bob.evaluate(article, 1))
    api.post(dan, dan.evaluate(article, 1))
    api.post(cat, cat.evaluate(comment, 1))
    middle, _ = api.audit()

    api.post(bob, bob.evaluate(article, 0))  # a changed vote
    api.post(dan, dan.evaluate(comment, 0))
    api.post(dan, dan.evaluate(comment, 1))  # and changed back
    c = api.contribution(comment)
    assert [e for e in c["evaluations"] if isinstance(e, dict)] == c["evaluations"]
    assert len(c["evaluations"]) == 2, "a changed vote replaces the earlier one"
    last, _ = api.audit()
    assert 1 == first.size < middle.size < last.size
    check_figures(api)

    for cp in api.checkpoints:
        proof = api.get("/v1/log/proof/consistency", first=cp.size, second=last.size)
        older = cp
        hashes = [bytes.fromhex(h) for h in proof["hashes"]]
        assert verify_consistency(older.size, last.size, older.root, last.root, hashes)

    # every checkpoint carries a state line, /v1/state answers it at that size, and every
    # member's figures are proven against it, at the latest size and at older ones (section 5)
    for cp in [*api.checkpoints, last]:
        assert cp.state is not None, "a checkpoint without its state line"
        state = api.get("/v1/state", tree_size=cp.size)
        assert state == {"tree_size": cp.size, "root": cp.state.hex()}
        for member in api.get("/v1/members", limit=100)["items"]:
            proof = api.get("/v1/state/proof", key=f"member/{member['member']}", tree_size=cp.size)
            assert fold_state_proof(proof) == cp.state
            assert proof["tree_size"] == cp.size
            if cp is last:
                assert proof["value"] == {
                    "name": member["name"],
                    "referrer": member["referrer"],
                    "reputation": member["reputation"],
                    "tokens": member["tokens"],
                }
    latest = api.get("/v1/state")
    assert latest["tree_size"] == last.size
    # absence is proven too, and a forged figure does not fold to the root
    absent = api.get("/v1/state/proof", key="member/" + "0" * 64)
    assert absent["value"] is None and fold_state_proof(absent) == last.state
    proof = api.get("/v1/state/proof", key=f"member/{api.get('/v1/members')['items'][0]['member']}")
    proof["value"]["reputation"] = "1000000"
    assert fold_state_proof(proof) != last.state

    # lists: members, leaderboard, contributions, history
    members = api.get("/v1/members")
    assert set(members) >= {"items"}
    for m in members["items"]:
        check_member(m)
    assert {m["member"] for m in members["items"]} == {
        ann.public,
        bob.public,
        cat.public,
        dan.public,
    }
    for by in ("reputation", "tokens"):
        board = api.get("/v1/leaderboard", by=by, limit=10)["items"]
        for m in board:
            check_member(m)
        values = [Decimal(m[by]) for m in board]
        assert values == sorted(values, reverse=True)
        assert len(api.get("/v1/leaderboard", by=by, limit=2)["items"]) == 2
    for order in ("score", "time"):
        for item in api.get("/v1/contributions", order_by=order)["items"]:
            check_contribution(item)
    history = api.get(f"/v1/members/{ann.public}/history")
    assert history["items"], "Ann's figures changed: she has a history"
    for point in history["items"]:
        assert {"index", "reputation", "tokens"} <= set(point)
        assert isinstance(point["reputation"], str) and isinstance(point["tokens"], str)


def test_a_batch_gives_a_result_per_entry_in_order(serve: Serve) -> None:
    api = serve()
    ann, bob = Member(NETWORK), Member(NETWORK)
    join_ann = ann.join("Ann")
    ann.accepted()
    submit = ann.submit("in the same batch")
    ann.accepted()
    bad = bob.join("Bob", referrer="0" * 64)  # referrer is not a member
    join_bob = bob.join("Bob")
    bob.accepted()
    response = api.http.post(
        "/v1/entries/batch", json={"entries": [join_ann, submit, bad, join_bob]}
    )
    assert response.status_code in (200, 201, 207), response.text
    body = response.json()
    results = body["results"] if isinstance(body, dict) else body
    assert len(results) == 4
    ok = [results[i] for i in (0, 1, 3)]
    for result, entry in zip(ok, [join_ann, submit, join_bob], strict=True):
        assert {"id", "index", "logged_at", "leaf_hash"} <= set(result), result
        assert result["id"] == entry_id(entry)
    assert [r["index"] for r in ok] == [1, 2, 3]
    assert "detail" in results[2] and "id" not in results[2], results[2]
    api.audit()


def test_a_batch_of_more_than_1000_entries_is_a_problem(serve: Serve) -> None:
    api = serve()
    ann = Member(NETWORK)
    entry = ann.join("Ann")
    api.refuse({"entries": [entry] * 1001}, path="/v1/entries/batch")
    api.refuse({"entries": []}, path="/v1/entries/batch")
    api.refuse({"entries": [entry], "extra": 1}, path="/v1/entries/batch")


# --- bad input: a 4xx problem, and nothing changes -----------------------------------------


def _bad_entries(api: Client, ann: Member, article: str, join_id: str) -> dict[str, Any]:
    """Each case is an entry (or raw bytes) that must be refused; ann has joined and submitted."""
    stranger = Member(NETWORK)
    n = ann.seq + 1

    def signed(**overrides: Any) -> dict[str, Any]:
        return ann.entry("contribution.submit", {"title": "t"}, **overrides)

    def with_body(body: dict[str, Any]) -> dict[str, Any]:
        return ann.entry("contribution.submit", body)

    good = signed()
    bad_sig = dict(good, sig=good["sig"][:-2] + ("00" if good["sig"][-2:] != "00" else "11"))
    upper = dict(ann.unsigned("contribution.submit", {"title": "t"}), author=ann.public.upper())
    unsigned = ann.unsigned("contribution.submit", {"title": "t"})
    float_seq = ann.sign(dict(unsigned, seq=float(n)))
    order = 2**252 + 27742317777372353535851937790883648493
    raw_sig = bytes.fromhex(good["sig"])
    s_plus_l = int.from_bytes(raw_sig[32:], "little") + order
    malleable = dict(good, sig=(raw_sig[:32] + s_plus_l.to_bytes(32, "little")).hex())
    return {
        "signature with S + L (malleated)": malleable,
        "signature of 63 bytes": dict(good, sig=good["sig"][:-2]),
        "author not a curve point": dict(good, author="ec" + "ff" * 30 + "7f"),
        "replayed seq": signed(seq=n - 1),
        "seq gap": signed(seq=n + 1),
        "seq zero": signed(seq=0),
        "seq as a string": signed(seq=str(n)),
        "seq as a float": float_seq,
        "seq as true": signed(seq=True),
        "wrong network": signed(network="other"),
        "ts 301 s ahead": signed(ts=timestamp(301)),
        "ts 301 s behind": signed(ts=timestamp(-301)),
        "ts with an offset, not Z": signed(ts=timestamp()[:-1] + "+00:00"),
        "bad signature": bad_sig,
        "uppercase hex sig": dict(good, sig=good["sig"].upper()),
        "missing sig": unsigned,
        "unknown author": stranger.submit("never joined"),
        "unknown field at top level": signed(extra="x"),
        "unknown field in body": with_body({"title": "t", "extra": "x"}),
        "uppercase hex author": ann.sign(upper),
        "version 2": signed(v=2),
        "unknown kind": ann.entry("contribution.delete", {"contribution": article}),
        "title of 201 characters": with_body({"title": "x" * 201}),
        "empty title": with_body({"title": ""}),
        "type not in the params": with_body({"title": "t", "type": "poem"}),
        "content_hash not hex": with_body({"title": "t", "content_hash": "xyz"}),
        "refs to an unknown entry": with_body({"title": "t", "refs": ["ab" * 32]}),
        "body not an object": ann.entry("contribution.submit", ["t"]),  # type: ignore[arg-type]
        "evaluation of an unknown contribution": ann.evaluate("cd" * 32, 1),
        "evaluation of a join entry": ann.evaluate(join_id, 1),
        "evaluation value 7": ann.evaluate(article, 7),
        "evaluation value true": ann.evaluate(article, True),
        "evaluation value 1.5": ann.evaluate(article, 1.5),  # type: ignore[arg-type]
        "join of a member": ann.join("Ann again"),
        "name of 81 characters": stranger.join("x" * 81),
        "empty name": stranger.join(""),
        "referrer not a member": stranger.join("S", referrer="ef" * 32),
        "self-referral": stranger.join("S", referrer=stranger.public),
        "not an object": [good],
        "network.params by a member": ann.entry(
            "network.params", {"valuation": {"algorithm": "backfeed/1", "params": {}}}
        ),
        "network.genesis by a member": ann.entry(
            "network.genesis",
            {"origin": ORIGIN, "log_key": ann.public, "valuation": {}, "founders": []},
        ),
    }


BAD_CASES = [
    "signature with S + L (malleated)",
    "signature of 63 bytes",
    "author not a curve point",
    "replayed seq",
    "seq gap",
    "seq zero",
    "seq as a string",
    "seq as a float",
    "seq as true",
    "wrong network",
    "ts 301 s ahead",
    "ts 301 s behind",
    "ts with an offset, not Z",
    "bad signature",
    "uppercase hex sig",
    "missing sig",
    "unknown author",
    "unknown field at top level",
    "unknown field in body",
    "uppercase hex author",
    "version 2",
    "unknown kind",
    "title of 201 characters",
    "empty title",
    "type not in the params",
    "content_hash not hex",
    "refs to an unknown entry",
    "body not an object",
    "evaluation of an unknown contribution",
    "evaluation of a join entry",
    "evaluation value 7",
    "evaluation value true",
    "evaluation value 1.5",
    "join of a member",
    "name of 81 characters",
    "empty name",
    "referrer not a member",
    "self-referral",
    "not an object",
    "network.params by a member",
    "network.genesis by a member",
]


@pytest.fixture
def community(serve: Serve) -> tuple[Client, Member, str, str]:
    api = serve()
    ann = Member(NETWORK)
    join_id = api.post(ann, ann.join("Ann"))["id"]
    article = api.post(ann, ann.submit("An article", type="article"))["id"]
    return api, ann, article, join_id


def test_every_kind_of_bad_entry_is_a_problem_and_changes_nothing(
    community: tuple[Client, Member, str, str],
) -> None:
    api, ann, article, join_id = community
    cases = _bad_entries(api, ann, article, join_id)
    assert sorted(cases) == sorted(BAD_CASES)
    failures = []
    for name in BAD_CASES:
        try:
            api.refuse(cases[name])
        except AssertionError as e:
            failures.append(f"{name}: {e}")
    duplicate = ann.submit("posted twice")
    api.post(ann, duplicate)
    text = json.dumps(ann.submit("t"))
    seq = f'"seq": {ann.seq + 1}'
    assert seq in text and '"v": 1' in text and '"title": "t"' in text
    for name, payload, raw in [
        ("duplicate entry", duplicate, None),
        ("lone surrogate", None, text.replace('"title": "t"', '"title": "\\ud800"').encode()),
        ("seq NaN", None, text.replace(seq, '"seq": NaN').encode()),
        ("seq 1e400", None, text.replace(seq, '"seq": 1e400').encode()),
        ("seq beyond 2^53", None, text.replace(seq, '"seq": 99999999999999999999999').encode()),
        ("v 1.0", None, text.replace('"v": 1', '"v": 1.0').encode()),
        ("nested 5000 deep", None, b'{"v": 1, "body": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
        ("a bare string", None, b'"entry"'),
        ("trailing garbage", None, text.encode() + b" x"),
        ("two entries in one body", None, (text + text).encode()),
        (
            "a key twice, once escaped",
            None,
            text.replace('"title": "t"', '"title": "u", "\\u0074itle": "t"').encode(),
        ),
        ("null", None, b"null"),
        ("malformed JSON", None, b'{"v": 1, "network": '),
        ("not UTF-8", None, b'{"v": 1, "network": "\xff"}'),
        ("10 MB body", None, b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'),
        ("empty body", None, b""),
    ]:
        try:
            api.refuse(payload, raw=raw)
        except AssertionError as e:
            failures.append(f"{name}: {e}")
    assert not failures, "\n".join(failures)
    api.audit()


def test_a_title_of_200_characters_is_accepted_counting_characters_not_bytes(
    community: tuple[Client, Member, str, str],
) -> None:
    api, ann, _, _ = community
    api.post(ann, ann.submit("é" * 200))
    api.post(ann, ann.submit("x" * 200))
    bob = Member(NETWORK)
    api.post(bob, bob.join("ü" * 80))
    api.audit()


def test_a_contribution_without_tokens_for_its_fee_is_refused(serve: Serve) -> None:
    poor = Member(NETWORK)
    api = serve("dmag", founders=[founder(poor, "Poor", "0", "1")])
    problem = api.refuse(poor.submit("costs a fee", type="article"))
    assert "token" in problem["detail"].lower()
    problem = api.refuse(poor.submit("costs a fee too", type="comment"))
    assert api.member(poor.public)["next_seq"] == 1
    api.audit()


def test_reads_with_bad_parameters_are_problems(community: tuple[Client, Member, str, str]) -> None:
    api, ann, article, _ = community
    assert api.next_seq(Member(NETWORK).public) == 1, "an unknown key's next seq is 1"
    size = api.checkpoint().size
    failures = []
    reads: list[tuple[str, dict[str, Any]]] = [
        ("/v1/log/proof/inclusion", {"index": size, "tree_size": size}),
        ("/v1/log/proof/inclusion", {"index": 0, "tree_size": size + 1}),
        ("/v1/log/proof/inclusion", {"index": -1, "tree_size": size}),
        ("/v1/log/proof/inclusion", {"index": 0, "tree_size": 0}),
        ("/v1/log/proof/inclusion", {"index": "x", "tree_size": size}),
        ("/v1/log/proof/consistency", {"first": 2, "second": 1}),
        ("/v1/log/proof/consistency", {"first": 1, "second": size + 1}),
        ("/v1/state", {"tree_size": size + 1}),
        ("/v1/state", {"tree_size": 0}),
        ("/v1/entries", {"start": -1}),
        ("/v1/entries", {"limit": 0}),
        ("/v1/entries", {"start": "x"}),
        ("/v1/log/leaves", {"start": -1}),
        ("/v1/contributions", {"order_by": "name"}),
        ("/v1/leaderboard", {"by": "name"}),
        (f"/v1/members/{ann.public.upper()}", {}),
        ("/v1/members/nothex", {}),
        (f"/v1/members/{'0' * 64}", {}),
        (f"/v1/contributions/{'0' * 64}", {}),
        (f"/v1/contributions/{article.upper()}", {}),
        (f"/v1/entries/{'0' * 64}", {}),
        ("/v1/entries/nothex", {}),
    ]
    for path, params in reads:
        try:
            check_problem(api.http.get(path, params=params))
        except AssertionError as e:
            failures.append(f"GET {path} {params}: {e}")
    assert not failures, "\n".join(failures)


# --- VALUATION.md reference figures, through this client -----------------------------------


def members_close(api: Client, members: dict[str, Member], expected: dict[str, Any]) -> None:
    """Each member's named figures as the server serves them, to 10^-6 point."""
    for name, figures in expected.items():
        served = api.member(members[name].public)
        for asset, value in figures.items():
            assert close(served[asset], value), (name, asset)


def test_reference_figure_1(serve: Serve) -> None:
    case = FIGURES["figure_1"]
    members = {f["name"]: Member(NETWORK) for f in case["founders"]}
    api = serve(
        founders=[
            founder(members[f["name"]], f["name"], f["tokens"], f["reputation"])
            for f in case["founders"]
        ]
    )
    submission, evaluation = case["submission"], case["evaluation"]
    author, evaluator = members[submission["author"]], members[evaluation["member"]]
    article = api.post(author, author.submit("An article", type=submission["type"]))["id"]
    members_close(api, members, case["before_evaluation"])
    api.post(evaluator, evaluator.evaluate(article, evaluation["value"]))
    members_close(api, members, case["after_evaluation"])
    assert close(api.contribution(article)["max_score"], case["max_score"])
    b, a = api.member(evaluator.public), api.member(author.public)
    total = Decimal(a["reputation"]) + Decimal(b["reputation"])
    assert close(a["influence"], str(Decimal(a["reputation"]) / total))
    api.audit()


def test_reference_figure_2(serve: Serve) -> None:
    case = FIGURES["figure_2"]
    api = serve()
    members = {name: Member(NETWORK) for name in case["members"]}
    for name, m in members.items():
        api.post(m, m.join(name))
        assert api.member(m.public)["reputation"] == "20"
    ids = {}
    for s in case["submissions"]:
        author = members[s["author"]]
        submitted = api.post(author, author.submit(s["contribution"], type=s["type"]))
        ids[s["contribution"]] = submitted["id"]
    expected_max = case["max_score_after_step"]
    for step, evaluation in enumerate(case["evaluations"], 1):
        m = members[evaluation["member"]]
        api.post(m, m.evaluate(ids[evaluation["contribution"]], evaluation["value"]))
        members_close(api, members, case["after_step"].get(str(step), {}))
        if str(step) in expected_max:
            max_score = api.contribution(ids[case["max_score_of"]])["max_score"]
            assert close(max_score, expected_max[str(step)]), step
    members_close(api, members, case["final"])
    api.audit()


def test_a_referrer_earns_a_fifth_of_the_contributor_reward(serve: Serve) -> None:
    """Figure 1 again, with Ann referred by Cat, a founder of no weight (R stays 110)."""
    cat, ann, bonnie = Member(NETWORK), Member(NETWORK), Member(NETWORK)
    api = serve(
        founders=[
            founder(cat, "Cat", "0", "0"),
            founder(ann, "Ann", "10", "10", referrer=cat.public),
            founder(bonnie, "Bonnie", "99", "100"),
        ]
    )
    article = api.post(ann, ann.submit("An article", type="article"))["id"]
    api.post(bonnie, bonnie.evaluate(article, 1))
    a, c = api.member(ann.public), api.member(cat.public)
    assert close(api.member(bonnie.public)["reputation"], 99.90692517849118)
    assert close(a["tokens"], 54.45454545454545) and close(a["reputation"], 14.545454545454545)
    assert close(c["tokens"], "9.090909090909091") and close(c["reputation"], "0.9090909090909091")
    assert a["referrer"] == cat.public
    check_figures(api)


def test_a_referrer_earns_a_fifth_of_the_alignment_reward(serve: Serve) -> None:
    """Figure 2's first three steps, with u1 referred by a founder of no weight."""
    x = Member(NETWORK)
    api = serve(founders=[founder(x, "X", "0", "0")])
    u = [Member(NETWORK) for _ in range(5)]
    for i, m in enumerate(u, 1):
        api.post(m, m.join(f"u{i}", referrer=x.public if i == 1 else None))
    c1 = api.post(u[1], u[1].submit("c1", type="article"))["id"]
    api.post(u[0], u[0].evaluate(c1, 1))
    api.post(u[1], u[1].evaluate(c1, 0))
    api.post(u[2], u[2].evaluate(c1, 1))
    assert close(api.member(u[0].public)["reputation"], 20.574438565254916)
    assert close(api.member(u[2].public)["reputation"], 19.909456383740984)
    gain = Decimal("20.574438565254916") - Decimal("19.778885438199982")
    assert close(api.member(x.public)["reputation"], str(gain / 5))
    check_figures(api)


def test_dmag_pays_evaluators_from_the_fund_once_and_rewards_past_the_maximum(
    serve: Serve,
) -> None:
    """VALUATION.md steps 2 to 6 with `reward_tokens_to_evaluators`, worked by hand."""
    a, b = Member(NETWORK), Member(NETWORK)
    api = serve("dmag", founders=[founder(a, "A", "10", "10"), founder(b, "B", "0", "30")])
    article = api.post(a, a.submit("An article", type="article"))["id"]
    api.post(b, b.evaluate(article, 1))
    # N = R - (V - r_k) = 40, B gets 10 * 30 / 40; stake 30 * 0.02 * (1 - (30/40)^0.6);
    # score 30/40 = 0.75 > 0.3 pays A 20 * 0.75 tokens and 50 * 0.75 reputation.
    rb = Decimal(30) - Decimal(30) * Decimal("0.02") * (1 - Decimal("0.75") ** Decimal("0.6"))
    assert close(api.member(b.public)["tokens"], "7.5")
    assert close(api.member(b.public)["reputation"], str(rb))
    assert close(api.member(a.public)["tokens"], 24) and close(
        api.member(a.public)["reputation"], 47.5
    )
    assert close(api.contribution(article)["max_score"], 0.75)

    api.post(a, a.evaluate(article, 1))  # self-evaluation is allowed in dmag
    # N = R - (V - r_k) = 47.5: A takes the fund's remaining 2.5; no stake (V = R);
    # B gains 0.06 * r_B * 47.5 / W; score 1 > m = 0.75 >= 0.3 pays the base 0.25.
    rb += rb * Decimal("0.06") * Decimal("47.5") / (Decimal("47.5") + rb)
    assert close(api.member(a.public)["tokens"], "31.5")
    assert close(api.member(a.public)["reputation"], 60)
    assert close(api.member(b.public)["reputation"], str(rb))

    api.post(b, b.evaluate(article, 0))
    api.post(b, b.evaluate(article, 1))  # a changed vote: no second payment from the fund
    assert close(api.member(b.public)["tokens"], "7.5")
    ra = 60 + 60 * Decimal("0.06") * rb / (60 + rb)
    assert close(api.member(a.public)["reputation"], str(ra))
    assert close(api.contribution(article)["max_score"], 1)
    check_figures(api)


def test_the_fee_is_due_when_tokens_equal_it(serve: Serve) -> None:
    exact, short = Member(NETWORK), Member(NETWORK)
    api = serve(
        "dmag",
        founders=[founder(exact, "Exact", "1", "1"), founder(short, "Short", "0.999999999", "1")],
    )
    api.post(exact, exact.submit("fee 1, tokens 1", type="article"))
    assert api.member(exact.public)["tokens"] == "0"
    api.refuse(short.submit("fee 1, tokens 0.999999999", type="article"))
    api.post(short, short.submit("a comment costs 0.2", type="comment"))
    assert close(api.member(short.public)["tokens"], "0.799999999")


EXAMPLE_WITHOUT_SELF_EVALUATION = {
    "algorithm": "backfeed/1",
    "params": {
        "initial_reputation": "20",
        "initial_tokens": "50",
        "beta": "0.5",
        "referral_reward_fraction": "0.2",
        "reward_tokens_to_evaluators": False,
        "allow_self_evaluation": False,
        "contribution_types": {
            "article": {
                "fee": "1",
                "stake": "0.02",
                "distribution_stake": "0.08",
                "reward_threshold": "0.5",
                "token_reward_factor": "50",
                "reputation_reward_factor": "5",
                "evaluator_token_fund": "10",
                "evaluation_values": [0, 1],
            }
        },
    },
}


def test_self_evaluation_is_refused_when_the_params_say_so(serve: Serve) -> None:
    api = serve(EXAMPLE_WITHOUT_SELF_EVALUATION)
    ann, bob = Member(NETWORK), Member(NETWORK)
    api.post(ann, ann.join("Ann"))
    api.post(bob, bob.join("Bob"))
    article = api.post(ann, ann.submit("mine"))["id"]
    api.refuse(ann.evaluate(article, 1))
    api.post(bob, bob.evaluate(article, 1))
    api.audit()


def test_events_announce_each_append_with_its_index_and_id(serve: Serve) -> None:
    api = serve()
    ann = Member(NETWORK)
    with api.http.stream("GET", "/v1/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        appended = [api.post(ann, ann.join("Ann")), api.post(ann, ann.submit("one"))]
        events: list[dict[str, Any]] = []
        current: dict[str, Any] = {}
        for line in stream.iter_lines():
            if line.startswith("id:"):
                current["id"] = line[3:].strip()
            elif line.startswith("data:"):
                current["data"] = json.loads(line[5:])
            elif line == "" and "data" in current:
                events.append(current)
                current = {}
                if len(events) == len(appended):
                    break
    for event, result in zip(events, appended, strict=True):
        assert event["data"]["index"] == result["index"]
        assert event["data"]["id"] == result["id"]
        for m in event["data"].get("members", []):
            assert isinstance(m["reputation"], str) and isinstance(m["tokens"], str)


def test_logged_at_never_decreases_when_the_servers_clock_steps_back(serve: Serve) -> None:
    """Section 3: `logged_at` is the log's clock and never decreases along the log. The
    server's clock is stepped back 5 s (as NTP may do) between two appends."""
    offset = [timedelta(0)]
    api = serve(clock=lambda: datetime.now(UTC) + offset[0])
    ann = Member(NETWORK)
    first = api.post(ann, ann.join("Ann"))
    offset[0] = timedelta(seconds=-5)
    second = api.post(ann, ann.submit("after the step back"))
    assert second["logged_at"] >= first["logged_at"], (first["logged_at"], second["logged_at"])
    api.audit()


def test_logged_at_keeps_its_microseconds_on_a_whole_second(serve: Serve) -> None:
    api = serve(clock=lambda: datetime.now(UTC).replace(microsecond=0))
    ann = Member(NETWORK)
    assert api.post(ann, ann.join("Ann"))["logged_at"].endswith(".000000Z")
    api.audit()


def test_a_second_server_on_the_same_database_serves_the_same_log_and_figures(
    serve: Serve,
) -> None:
    """Section 5: the figures are a pure function of the log; a replay agrees to the unit."""
    api = serve()
    u = [Member(NETWORK) for _ in range(4)]
    api.post(u[0], u[0].join("u0"))
    for i in (1, 2, 3):
        api.post(u[i], u[i].join(f"u{i}", referrer=u[0].public))
    digests = {}
    c = api.post(u[1], u[1].submit("c", type="article"))["id"]
    for who, value in [(0, 1), (2, 1), (3, 0), (0, 0), (3, 1), (0, 1)]:
        api.post(u[who], u[who].evaluate(c, value))
        digests[api.checkpoint().size] = api.get("/v1/state")["root"]
    cp, _ = api.audit()
    for size, digest in digests.items():
        assert api.get("/v1/state", tree_size=size)["root"] == digest, size

    again = serve()
    assert again.text("/v1/log/checkpoint") == cp.text
    assert again.get("/v1/members") == api.get("/v1/members")
    assert again.get("/v1/contributions/" + c) == api.get("/v1/contributions/" + c)
    for size, digest in digests.items():
        assert again.get("/v1/state", tree_size=size)["root"] == digest, size
    again.post(u[2], u[2].evaluate(c, 0))
    again.audit()


GO_CHECK = Path(__file__).parent.parent / "ledger" / "go_note_check"
GO_X_MOD = Path("/usr/share/gocode/src/golang.org/x/mod")


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("go") is None or not GO_X_MOD.is_dir(), reason="needs go and golang.org/x/mod"
)
def test_go_sumdb_note_and_tlog_accept_what_the_api_serves(serve: Serve, tmp_path: Path) -> None:
    """The checkpoints, inclusion and consistency proofs fetched over HTTP, checked by
    golang.org/x/mod/sumdb/note and tlog (tests/ledger/go_note_check)."""
    env = dict(
        os.environ,
        GO111MODULE="off",
        GOPATH="/usr/share/gocode",
        GOPROXY="off",
        GOCACHE=str(tmp_path / "gocache"),
    )
    exe = tmp_path / "note_check"
    subprocess.run(
        ["go", "build", "-o", str(exe), "."], cwd=GO_CHECK, env=env, check=True, timeout=300
    )
    api = serve()
    ann, bob = Member(NETWORK), Member(NETWORK)
    olds = [api.checkpoint()]
    api.post(ann, ann.join("Ann"))
    api.post(bob, bob.join("Bob"))
    olds.append(api.checkpoint())
    c = api.post(ann, ann.submit("c"))["id"]
    for value in (1, 0, 1):
        api.post(bob, bob.evaluate(c, value))
        olds.append(api.checkpoint())
    cp, leaves = api.audit()
    vkey = api.text("/v1/log/key").strip()

    def b64(h: str) -> str:
        return base64.b64encode(bytes.fromhex(h)).decode()

    for index, leaf in enumerate(leaves):
        old = olds[index % len(olds)]
        inclusion = api.get("/v1/log/proof/inclusion", index=index, tree_size=cp.size)
        consistency = api.get("/v1/log/proof/consistency", first=old.size, second=cp.size)
        request = {
            "vkey": vkey,
            "note": cp.text,
            "leaf_index": index,
            "leaf_hash": base64.b64encode(leaf_hash(leaf)).decode(),
            "inclusion": [b64(h) for h in inclusion["hashes"]],
            "old_size": old.size,
            "old_root": base64.b64encode(old.root).decode(),
            "consistency": [b64(h) for h in consistency["hashes"]],
        }
        done = subprocess.run(
            [str(exe)], input=json.dumps(request), capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, (index, old.size, done.stderr)
        assert json.loads(done.stdout)["size"] == cp.size


@pytest.mark.slow
def test_concurrent_appends_are_totally_ordered(serve: Serve) -> None:
    api = serve()
    members = [Member(NETWORK) for _ in range(8)]
    failures: list[str] = []

    def work(m: Member) -> None:
        with httpx.Client(base_url=str(api.http.base_url), timeout=30) as http:
            makers: list[Callable[[], dict[str, Any]]] = [
                lambda: m.join("m"),
                lambda: m.submit("one"),
                lambda: m.submit("two"),
            ]
            for make in makers:
                response = http.post("/v1/entries", json=make())
                if response.status_code != 201:
                    failures.append(response.text)
                    return
                m.accepted()

    threads = [threading.Thread(target=work, args=(m,)) for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    cp, _ = api.audit()
    assert cp.size == 1 + 3 * len(members)


@pytest.mark.slow
def test_the_real_command_line_serves_figure_1_to_this_client(
    database_url: str, tmp_path: Path
) -> None:
    """`multitude init --db URL --config FILE`, then `multitude serve --db URL --port P`."""
    ann, bonnie = Member("cli"), Member("cli")
    config = {
        "network": "cli",
        "origin": "example.org/cli",
        "valuation": {"preset": "example"},
        "founders": [
            founder(ann, "Ann", "10", "10"),
            founder(bonnie, "Bonnie", "99", "100", referrer=ann.public),
        ],
    }
    (tmp_path / "net.json").write_text(json.dumps(config))
    exe = str(Path(sys.executable).parent / "multitude")
    init = subprocess.run(
        [exe, "init", "--db", database_url, "--config", "net.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [exe, "serve", "--db", database_url, "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{url}/v1/log/key").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        api = Client(url)
        assert (api.network, api.origin) == ("cli", "example.org/cli")
        assert api.member(bonnie.public)["referrer"] == ann.public
        article = api.post(ann, ann.submit("An article", type="article"))["id"]
        api.post(bonnie, bonnie.evaluate(article, 1))
        assert close(api.member(bonnie.public)["reputation"], 99.90692517849118)
        assert close(api.member(ann.public)["tokens"], 54.45454545454545)
        assert close(api.contribution(article)["max_score"], 0.9090909090909091)
        older = api.text("/v1/log/checkpoint")
        (tmp_path / "older.checkpoint").write_text(older)

        # a member's key file made by hand (section 1), used by the command line (section 8)
        cat = Member("cli")
        key_file = tmp_path / "cat.key"
        key_file.write_text(bytes(cat.key).hex() + "\n")
        key_file.chmod(0o600)
        run(exe, "join", "--key", "cat.key", "--name", "Cat", "--api", url, cwd=tmp_path)
        cat.accepted()
        assert api.member(cat.public)["name"] == "Cat"
        run(exe, "contribute", "Cat's work", "--key", "cat.key", "--api", url, cwd=tmp_path)
        cat.accepted()
        work = api.get("/v1/contributions", order_by="time")["items"][0]
        assert work["author"] == cat.public and work["title"] == "Cat's work"
        api.post(ann, ann.evaluate(work["id"], 1))
        run(exe, "evaluate", work["id"], "1", "--key", "cat.key", "--api", url, cwd=tmp_path)
        cat.accepted()
        assert api.member(cat.public)["next_seq"] == cat.seq + 1 == 4

        # keygen: a 64-hex seed and a newline, mode 0600, and the public key printed
        out = run(exe, "keygen", "--out", "new.key", cwd=tmp_path)
        seed = (tmp_path / "new.key").read_text()
        assert len(seed) == 65 and seed.endswith("\n") and HEX64.match(seed[:64])
        assert (tmp_path / "new.key").stat().st_mode & 0o777 == 0o600
        assert Member("cli", SigningKey(bytes.fromhex(seed[:64]))).public in out

        cp, leaves = api.audit()
        check_figures(api)
        state = api.get("/v1/state")
        api.close()
    finally:
        server.terminate()
        server.wait(10)

    # the audit bundle (section 7), read without the project's code
    run(exe, "export", "--db", database_url, "bundle", cwd=tmp_path)
    bundle = tmp_path / "bundle"
    assert bundle.joinpath("leaves.jsonl").read_bytes() == b"".join(x + b"\n" for x in leaves)
    vkey = parse_verifier_key(bundle.joinpath("log.vkey").read_text().strip())
    exported = verify_checkpoint(bundle.joinpath("checkpoint").read_text(), vkey)
    assert (exported.size, exported.root) == (cp.size, cp.root)
    lines = bundle.joinpath("state.jsonl").read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    assert lines == [jcs(record) for record in records], "each line is the JCS of its record"
    assert [r["key"] for r in records] == sorted(r["key"] for r in records)
    # section 7: the records fold to the checkpoint's state line and to /v1/state's root
    folded = state_root({r["key"]: r["value"] for r in records})
    assert exported.state == folded and folded.hex() == state["root"]

    run(exe, "verify", "bundle", cwd=tmp_path)
    run(exe, "verify", "bundle", "--since", "older.checkpoint", cwd=tmp_path)
    lines = bundle.joinpath("leaves.jsonl").read_bytes().split(b"\n")
    assert b"An article" in lines[1]  # leaf 1, line 2: Ann's signed article
    lines[1] = lines[1].replace(b"An article", b"An Article")
    bundle.joinpath("leaves.jsonl").write_bytes(b"\n".join(lines))
    tampered = subprocess.run(
        [exe, "verify", "bundle"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert tampered.returncode == 1
    assert "line 2" in tampered.stdout + tampered.stderr
    assert "Traceback" not in tampered.stderr


def run(*args: str, cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout + done.stderr


def test_the_expect_helper_raises() -> None:
    with pytest.raises(AssertionError):
        expect(False, "x")
