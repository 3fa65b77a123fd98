"""An HTTP client of SPEC.md section 6 that trusts nothing it is told: every response is checked
for its shape, and the log is audited from its leaves, checkpoint and proofs."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, cast

import httpx

from .protocol import (
    HEX64,
    HEX128,
    LOGGED_AT,
    Checkpoint,
    Member,
    ProtocolError,
    consistency_proof,
    entry_id,
    inclusion_path,
    jcs,
    leaf_hash,
    mth,
    parse_verifier_key,
    verify_checkpoint,
    verify_consistency,
    verify_entry_signature,
    verify_inclusion,
)

AMOUNT = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]{1,9})?$")
MEMBER_FIELDS = {
    "member",
    "name",
    "reputation",
    "tokens",
    "influence",
    "rank",
    "next_seq",
    "referrer",
}
CONTRIBUTION_FIELDS = {
    "id",
    "author",
    "title",
    "type",
    "logged_at",
    "max_score",
    "quality",
    "score",
    "engaged_reputation",
    "evaluations",
}
APPENDED_FIELDS = {"id", "index", "logged_at", "leaf_hash"}
ITEM_FIELDS = {"index", "id", "logged_at", "leaf_hash", "entry"}


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ProtocolError(message)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_amount(value: Any, what: str) -> Decimal:
    expect(isinstance(value, str), f"{what} is not a decimal string: {value!r}")
    expect(bool(AMOUNT.match(value)), f"{what} is not a plain decimal of 10^-9 units: {value!r}")
    return Decimal(value)


def check_ratio(value: Any, what: str) -> Decimal:
    """Influence, scores, quality: decimal strings too (never a float in JSON)."""
    expect(isinstance(value, str), f"{what} is not a decimal string: {value!r}")
    try:
        return Decimal(value)
    except ArithmeticError as e:
        raise ProtocolError(f"{what} is not a decimal: {value!r}") from e


def check_problem(response: httpx.Response) -> dict[str, Any]:
    """RFC 9457: a 4xx, `application/problem+json`, with a `detail` that says what is wrong."""
    expect(
        400 <= response.status_code < 500,
        f"expected a 4xx problem, got {response.status_code}: {response.text[:300]}",
    )
    ctype = response.headers.get("content-type", "")
    expect(
        ctype.split(";")[0].strip() == "application/problem+json",
        f"problem content-type is {ctype!r}",
    )
    problem = response.json()
    expect(isinstance(problem, dict), "a problem is a JSON object")
    expect(
        isinstance(problem.get("detail"), str) and bool(problem["detail"].strip()),
        f"a problem has a detail: {problem}",
    )
    if "status" in problem:
        expect(problem["status"] == response.status_code, f"problem status differs: {problem}")
    if "title" in problem:
        expect(isinstance(problem["title"], str), "problem title is a string")
    if "type" in problem:
        expect(isinstance(problem["type"], str), "problem type is a string")
    return cast(dict[str, Any], problem)


def check_appended(body: Any, entry: dict[str, Any]) -> dict[str, Any]:
    expect(isinstance(body, dict), "a 201 body is an object")
    expect(set(body) >= APPENDED_FIELDS, f"201 body lacks fields: {sorted(body)}")
    expect(body["id"] == entry_id(entry), f"entry id {body['id']} != {entry_id(entry)}")
    expect(is_int(body["index"]) and body["index"] > 0, f"index {body['index']!r}")
    expect(
        isinstance(body["logged_at"], str) and bool(LOGGED_AT.match(body["logged_at"])),
        f"logged_at {body['logged_at']!r} is not RFC 3339 with microseconds and Z",
    )
    leaf = jcs({"entry": entry, "logged_at": body["logged_at"]})
    expect(
        body["leaf_hash"] == leaf_hash(leaf).hex(),
        "leaf_hash is not SHA-256(0x00 || JCS({entry, logged_at}))",
    )
    return cast(dict[str, Any], body)


def check_member(m: Any) -> dict[str, Any]:
    expect(isinstance(m, dict), "a member is an object")
    expect(set(m) == MEMBER_FIELDS, f"member fields {sorted(m)} != {sorted(MEMBER_FIELDS)}")
    expect(isinstance(m["member"], str) and bool(HEX64.match(m["member"])), "member key hex")
    expect(isinstance(m["name"], str), "member name")
    check_amount(m["reputation"], "reputation")
    check_amount(m["tokens"], "tokens")
    check_ratio(m["influence"], "influence")
    expect(is_int(m["rank"]) and m["rank"] >= 1, f"rank {m['rank']!r}")
    expect(is_int(m["next_seq"]) and m["next_seq"] >= 1, f"next_seq {m['next_seq']!r}")
    expect(
        m["referrer"] is None
        or (isinstance(m["referrer"], str) and bool(HEX64.match(m["referrer"]))),
        f"referrer {m['referrer']!r}",
    )
    return cast(dict[str, Any], m)


def check_contribution(c: Any) -> dict[str, Any]:
    expect(isinstance(c, dict), "a contribution is an object")
    expect(
        set(c) >= CONTRIBUTION_FIELDS,
        f"contribution lacks {sorted(CONTRIBUTION_FIELDS - set(c))}",
    )
    expect(bool(HEX64.match(c["id"])), "contribution id")
    expect(bool(HEX64.match(c["author"])), "contribution author")
    expect(isinstance(c["title"], str) and isinstance(c["type"], str), "title and type")
    expect(bool(LOGGED_AT.match(c["logged_at"])), f"logged_at {c['logged_at']!r}")
    if c["max_score"] is not None:
        check_ratio(c["max_score"], "max_score")
    check_ratio(c["quality"], "quality")
    check_ratio(c["score"], "score")
    check_amount(c["engaged_reputation"], "engaged_reputation")
    expect(isinstance(c["evaluations"], list), "evaluations is a list")
    return cast(dict[str, Any], c)


class Client:
    """SPEC section 6, over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        genesis = self.entries(0, 1)["items"][0]["entry"]
        expect(genesis["kind"] == "network.genesis", "leaf 0 is the genesis")
        self.network: str = genesis["network"]
        self.origin: str = genesis["body"]["origin"]
        self.key = parse_verifier_key(self.text("/v1/log/key").strip())
        expect(genesis["body"]["log_key"] == self.text("/v1/log/key").strip(), "log_key")
        expect(self.key.name == self.origin, "the key name is the origin")
        expect(self.key.public.hex() == genesis["author"], "genesis is signed by the log key")
        self.checkpoints: list[Checkpoint] = []

    def close(self) -> None:
        self.http.close()

    # --- plain reads -----------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        expect(response.status_code == 200, f"GET {path} {params}: {response.status_code}")
        ctype = response.headers.get("content-type", "")
        expect(ctype.startswith("application/json"), f"GET {path} content-type {ctype!r}")
        return response.json()

    def text(self, path: str) -> str:
        response = self.http.get(path)
        expect(response.status_code == 200, f"GET {path}: {response.status_code}")
        ctype = response.headers.get("content-type", "")
        expect(ctype.startswith("text/plain"), f"GET {path} content-type {ctype!r}")
        return response.text

    def entries(self, start: int, limit: int) -> dict[str, Any]:
        page = self.get("/v1/entries", start=start, limit=limit)
        expect(set(page) == {"items", "next"}, f"entries page fields {sorted(page)}")
        return page  # type: ignore[no-any-return]

    def member(self, key: str) -> dict[str, Any]:
        return check_member(self.get(f"/v1/members/{key}"))

    def next_seq(self, key: str) -> int:
        response = self.http.get(f"/v1/members/{key}")
        if response.status_code == 404:
            body = response.json()
            return int(body.get("next_seq", 1))
        return int(self.member(key)["next_seq"])

    def contribution(self, cid: str) -> dict[str, Any]:
        return check_contribution(self.get(f"/v1/contributions/{cid}"))

    def checkpoint(self) -> Checkpoint:
        cp = verify_checkpoint(self.text("/v1/log/checkpoint"), self.key)
        expect(cp.origin == self.origin, "checkpoint origin")
        self.checkpoints.append(cp)
        return cp

    # --- writes ----------------------------------------------------------------------------

    def post(self, member: Member, entry: dict[str, Any]) -> dict[str, Any]:
        """Append an entry that must be accepted, checking the 201 and the member's next_seq."""
        response = self.http.post("/v1/entries", json=entry)
        expect(response.status_code == 201, f"POST refused: {response.status_code} {response.text}")
        body = check_appended(response.json(), entry)
        member.accepted()
        expect(
            self.next_seq(member.public) == member.seq + 1,
            "GET /v1/members/{key} next_seq is not the seq after the last accepted entry",
        )
        return body

    def refuse(
        self, payload: Any, *, raw: bytes | None = None, path: str = "/v1/entries"
    ) -> dict[str, Any]:
        """Post bad input: it must be a 4xx problem, and the tree must not change."""
        before = self.text("/v1/log/checkpoint")
        state_before = self.get("/v1/state")
        if raw is not None:
            response = self.http.post(
                path, content=raw, headers={"content-type": "application/json"}
            )
        else:
            response = self.http.post(path, json=payload)
        problem = check_problem(response)
        expect(self.text("/v1/log/checkpoint") == before, "a refused entry changed the tree")
        expect(self.get("/v1/state") == state_before, "a refused entry changed the state")
        return problem

    # --- the audit -------------------------------------------------------------------------

    def leaves(self) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while True:
            response = self.http.get("/v1/log/leaves", params={"start": start, "limit": 1000})
            expect(response.status_code == 200, f"leaves: {response.status_code}")
            ctype = response.headers.get("content-type", "")
            expect(ctype.startswith("application/x-ndjson"), f"leaves content-type {ctype!r}")
            chunk = response.content.split(b"\n")
            expect(chunk[-1] == b"", "every leaf line ends with a newline")
            if len(chunk) == 1:
                return lines
            lines.extend(chunk[:-1])
            start += len(chunk) - 1

    def audit(self) -> tuple[Checkpoint, list[bytes]]:
        """Everything an outside auditor can check, from leaf 0 to the latest checkpoint."""
        cp = self.checkpoint()
        leaves = self.leaves()[: cp.size]
        expect(len(leaves) == cp.size, f"{len(leaves)} leaves for a tree of {cp.size}")
        hashes = [leaf_hash(leaf) for leaf in leaves]
        expect(mth(hashes) == cp.root, "the root of the leaves is not the checkpoint's root")

        items: list[dict[str, Any]] = []
        start: int | None = 0
        while start is not None:
            page = self.entries(start, 3)
            expect(len(page["items"]) <= 3, "limit is honoured")
            items.extend(page["items"])
            start = page["next"]
            expect(start is None or is_int(start), "next is an index or null")
        expect(len(items) >= cp.size, "the entries list covers the tree")

        seqs: dict[str, int] = {}
        last_logged = ""
        for index, line in enumerate(leaves):
            leaf = json.loads(line)
            expect(line == jcs(leaf), f"leaf {index} is not JCS")
            expect(set(leaf) == {"entry", "logged_at"}, f"leaf {index} fields {sorted(leaf)}")
            entry, logged_at = leaf["entry"], leaf["logged_at"]
            expect(bool(LOGGED_AT.match(logged_at)), f"leaf {index} logged_at {logged_at!r}")
            expect(logged_at >= last_logged, f"logged_at decreases at leaf {index}")
            last_logged = logged_at
            expect(
                set(entry) == {"v", "network", "kind", "author", "seq", "ts", "body", "sig"},
                f"leaf {index} entry fields {sorted(entry)}",
            )
            expect(entry["network"] == self.network, f"leaf {index} network")
            expect(bool(HEX64.match(entry["author"])), f"leaf {index} author")
            expect(bool(HEX128.match(entry["sig"])), f"leaf {index} sig")
            expect(verify_entry_signature(entry), f"leaf {index}: signature does not verify")
            expected_seq = seqs.get(entry["author"], 0) + 1
            expect(entry["seq"] == expected_seq, f"leaf {index}: seq {entry['seq']}")
            seqs[entry["author"]] = expected_seq
            expect((index == 0) == (entry["kind"] == "network.genesis"), f"leaf {index} kind")

            item = items[index]
            expect(set(item) == ITEM_FIELDS, f"entry item fields {sorted(item)}")
            expect(item["index"] == index, "item index")
            expect(item["entry"] == entry and item["logged_at"] == logged_at, "item = leaf")
            expect(item["id"] == entry_id(entry), f"item {index} id")
            expect(item["leaf_hash"] == hashes[index].hex(), f"item {index} leaf_hash")
            one = self.get(f"/v1/entries/{item['id']}")
            expect(one == item, f"GET /v1/entries/{{id}} differs from the list at {index}")

        for author, seq in seqs.items():
            expect(self.next_seq(author) == seq + 1, f"next_seq of {author}")

        self.check_proofs(hashes)
        return cp, leaves

    def check_proofs(self, hashes: list[bytes]) -> None:
        n = len(hashes)
        sizes = sorted({1, 2, 3, max(1, n // 2), max(1, n - 1), n} - {0})
        sizes = [s for s in sizes if s <= n]
        for size in sizes:
            root = mth(hashes[:size])
            for index in range(size):
                proof = self.get("/v1/log/proof/inclusion", index=index, tree_size=size)
                expect(
                    set(proof) == {"leaf_index", "tree_size", "hashes"},
                    f"inclusion proof fields {sorted(proof)}",
                )
                expect(proof["leaf_index"] == index and proof["tree_size"] == size, "echo")
                path = [bytes.fromhex(h) for h in proof["hashes"]]
                expect(
                    all(HEX64.match(h) for h in proof["hashes"]), "proof hashes are lowercase hex"
                )
                expect(
                    verify_inclusion(index, size, hashes[index], path, root),
                    f"inclusion proof of {index} in {size} does not verify",
                )
                expect(path == inclusion_path(index, hashes[:size]), "PATH differs from RFC")
        for first in sizes:
            for second in sizes:
                if first > second:
                    continue
                proof = self.get("/v1/log/proof/consistency", first=first, second=second)
                expect(
                    set(proof) == {"first", "second", "hashes"},
                    f"consistency proof fields {sorted(proof)}",
                )
                expect(proof["first"] == first and proof["second"] == second, "echo")
                path = [bytes.fromhex(h) for h in proof["hashes"]]
                expect(
                    verify_consistency(
                        first, second, mth(hashes[:first]), mth(hashes[:second]), path
                    ),
                    f"consistency proof {first} -> {second} does not verify",
                )
                expect(path == consistency_proof(first, hashes[:second]), "PROOF differs from RFC")


NEAR = Decimal("0.00000001")


def check_figures(api: Client) -> None:
    """VALUATION.md's relations between the figures the API serves, read back from outside:
    influence = r / R, rank by reputation, V(c) and W(c, v) from the current evaluators'
    reputation, quality = (1 - W0 / R) * W1 / R, and a fresh contribution's score = quality."""
    members: list[dict[str, Any]] = []
    start: int | None = 0
    while start is not None:
        page = api.get("/v1/members", offset=start, limit=50)
        members.extend(check_member(m) for m in page["items"])
        start = page["next"]
    reputation = {m["member"]: Decimal(m["reputation"]) for m in members}
    total = sum(reputation.values(), Decimal(0))
    for m in members:
        influence = reputation[m["member"]] / total if total else Decimal(0)
        expect(
            abs(Decimal(m["influence"]) - influence) <= NEAR,
            f"influence of {m['member'][:12]} is {m['influence']}, r / R is {influence}",
        )
    for m in members:
        history = api.get(f"/v1/members/{m['member']}/history", limit=1000)
        points = history["items"]
        expect(bool(points), f"{m['member'][:12]} has figures, so it has a history")
        indices = [p["index"] for p in points]
        expect(indices == sorted(set(indices)), "history is in log order, one point an index")
        expect(
            (points[-1]["reputation"], points[-1]["tokens"]) == (m["reputation"], m["tokens"]),
            f"the last history point of {m['member'][:12]} is not its figures: {points[-1]}",
        )
    ranked = sorted(members, key=lambda m: m["rank"])
    expect(
        [m["rank"] for m in ranked] == list(range(1, len(members) + 1)),
        "ranks are 1..n without gaps",
    )
    values = [reputation[m["member"]] for m in ranked]
    expect(values == sorted(values, reverse=True), "rank 1 has the most reputation")

    for item in api.get("/v1/contributions", order_by="time", limit=100)["items"]:
        c = api.contribution(item["id"])
        weights: dict[int, Decimal] = {}
        for e in c["evaluations"]:
            expect(
                {"evaluator", "value"} <= set(e), f"an evaluation names evaluator and value: {e}"
            )
            r = reputation[e["evaluator"]]
            weights[e["value"]] = weights.get(e["value"], Decimal(0)) + r
        evaluators = [e["evaluator"] for e in c["evaluations"]]
        expect(len(evaluators) == len(set(evaluators)), "one current evaluation per evaluator")
        engaged = sum(weights.values(), Decimal(0))
        expect(
            abs(Decimal(c["engaged_reputation"]) - engaged) <= NEAR * (1 + len(evaluators)),
            f"engaged_reputation {c['engaged_reputation']} != sum of evaluators' {engaged}",
        )
        quality = (
            (1 - weights.get(0, Decimal(0)) / total) * weights.get(1, Decimal(0)) / total
            if total
            else Decimal(0)
        )
        expect(
            abs(Decimal(c["quality"]) - quality) <= NEAR * 10,
            f"quality {c['quality']} != (1 - W0/R) * W1/R = {quality}",
        )
        expect(
            abs(Decimal(c["score"]) - Decimal(c["quality"])) <= NEAR * 10,
            "on its first day a contribution's score is its quality (0.1 + 27/30 = 1)",
        )
