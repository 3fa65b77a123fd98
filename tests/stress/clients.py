"""Independent clients for the stress tests: writers that sign on their own machine, and an
auditor that checks what the API says against what the writers were told.

A writer is two members of its own (a contributor and an evaluator), so its `seq`s never race
another writer's. It appends as fast as the server answers, one entry or a batch at a time,
and remembers every acknowledgment (id, index, leaf hash) and every checkpoint it saw. An entry
whose request failed without an answer (the server was killed) is "unknown": it may or may not
be in the log, and the writer learns its next `seq` from the server before going on.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from nacl.signing import SigningKey

import valuation
from ledger import checkpoint as cp
from ledger import merkle
from ledger.entries import entry_id, event_of, parse_leaf
from tests.helpers import Signer
from valuation import statemap


@dataclass
class Outcome:
    """What one writer did and was told."""

    acked: list[tuple[str, int, str]] = field(default_factory=list)  # id, index, leaf hash
    refused: list[str] = field(default_factory=list)  # problems for entries we meant to land
    unknown: list[str] = field(default_factory=list)  # ids sent without an answer
    checkpoints: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # transport errors and 5xx, one line each
    status_5xx: int = 0
    new_authors: int = 0  # authors whose fees spent their tokens
    requests: int = 0
    seconds: float = 0.0


class Writer:
    """Two members appending contributions and evaluations of them, singly and in batches."""

    def __init__(self, base: str, network: str, seed: int, *, max_batch: int = 20) -> None:
        self.base = base
        self.rng = random.Random(seed)
        self.author = Signer(network, SigningKey(self.rng.randbytes(32)))
        self.evaluator = Signer(network, SigningKey(self.rng.randbytes(32)))
        self.targets: list[str] = []  # acknowledged contributions, to evaluate
        self.max_batch = max_batch
        self.outcome = Outcome()
        self.http = httpx.Client(base_url=base, timeout=30)
        self.n = 0

    def _entries(self, count: int) -> list[dict[str, Any]]:
        joins = [
            member.sign("member.join", {"name": f"{role} {member.public[:6]}"})
            for role, member in (("author", self.author), ("evaluator", self.evaluator))
            if member.seq == 0
        ]
        if joins:
            return joins
        out = []
        for _ in range(count):
            self.n += 1
            if self.targets and self.rng.random() < 0.5:
                body = {
                    "contribution": self.rng.choice(self.targets),
                    "value": self.rng.randint(0, 1),
                }
                out.append(self.evaluator.sign("evaluation.cast", body))
            else:
                body = {"title": f"work {self.n}", "type": "article", "tags": [], "refs": []}
                out.append(self.author.sign("contribution.submit", body))
        return out

    def step(self, budget: int) -> int:
        """One request: a single entry or a batch of at most `budget` entries (joins aside).
        Returns how many entries were sent."""
        count = 1 if self.rng.random() < 0.5 else min(budget, self.rng.randint(2, self.max_batch))
        entries = self._entries(max(1, count))
        self.outcome.requests += 1
        try:
            if len(entries) == 1:
                response = self.http.post("/v1/entries", json=entries[0])
            else:
                response = self.http.post("/v1/entries/batch", json={"entries": entries})
        except httpx.HTTPError as exc:
            self._lost(entries, f"{type(exc).__name__}: {exc}")
            return len(entries)
        if response.status_code >= 500:
            self.outcome.status_5xx += 1
            self._lost(entries, f"HTTP {response.status_code}: {response.text[:200]}")
            return len(entries)
        if len(entries) == 1:
            results = [{**response.json(), "status": response.status_code}]
        elif response.status_code == 200:
            results = response.json()["results"]
        else:
            results = [response.json()] * len(entries)
        spent: set[str] = set()  # authors whose fees spent their tokens in this request
        for entry, result in zip(entries, results, strict=True):
            if result["status"] == 201:
                self.outcome.acked.append((result["id"], result["index"], result["leaf_hash"]))
                if entry["kind"] == "contribution.submit":
                    self.targets.append(result["id"])
            elif entry["author"] in spent:
                pass  # signed after the refusal that spent its author: fails on its seq
            elif "the author has only" in str(result.get("detail")):
                # The author's fees spent its tokens, as valuation says: a new author goes on.
                spent.add(entry["author"])
                self.outcome.new_authors += 1
                self.author = Signer(self.author.network, SigningKey(self.rng.randbytes(32)))
            else:
                self.outcome.refused.append(f"{entry['kind']} seq {entry['seq']}: {result}")
        if any(r["status"] != 201 for r in results):
            self._resync()
        if self.rng.random() < 0.25:
            self.see_checkpoint()
        return len(entries)

    def see_checkpoint(self) -> None:
        try:
            response = self.http.get("/v1/log/checkpoint")
        except httpx.HTTPError:
            return
        if response.status_code == 200:
            self.outcome.checkpoints.append(response.text)

    def _lost(self, entries: list[dict[str, Any]], why: str) -> None:
        self.outcome.unknown.extend(entry_id(e) for e in entries)
        self.outcome.errors.append(why)
        self._resync()

    def _resync(self) -> None:
        """Learn each member's next seq (and whether the evaluator joined) from the server."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                states = [self.http.get(f"/v1/members/{m.public}") for m in self._members()]
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            if any(r.status_code >= 500 for r in states):
                time.sleep(0.1)
                continue
            for member, response in zip(self._members(), states, strict=True):
                member.seq = int(response.json()["next_seq"]) - 1
            return
        raise AssertionError("the server did not come back within 60 s")

    def _members(self) -> list[Signer]:
        return [self.author, self.evaluator]


def network_of(base: str) -> str:
    page = httpx.get(f"{base}/v1/entries", params={"start": 0, "limit": 1}, timeout=30).json()
    return str(page["items"][0]["entry"]["network"])


def write(base: str, seed: int, count: int, seconds: float) -> Outcome:
    """A writer process: append `count` entries as fast as the server answers, within
    `seconds`."""
    writer = Writer(base, network_of(base), seed)
    started = time.monotonic()
    sent = 0
    while sent < count and time.monotonic() - started < seconds:
        sent += writer.step(count - sent)
    writer.see_checkpoint()
    writer.outcome.seconds = time.monotonic() - started
    return writer.outcome


# Between two requests of a crash-test writer. The log's size, not the writers' pace, is what
# each `multitude check` after a kill costs, and the log is checked whole after every kill:
# unpaced, the log grew with the server's speed (90,000 entries by the 20th kill once single
# POSTs took 5 ms) and the checks with it, past CI's time. Paced, the writers still keep the
# server busy with single entries and batches at every kill.
PACE_SECONDS = 0.01


def write_until(base: str, seed: int, stop: threading.Event, outcome_box: list[Outcome]) -> None:
    """A writer thread for the crash test: append until `stop`, riding out server deaths."""
    writer = Writer(base, network_of(base), seed, max_batch=8)
    outcome_box.append(writer.outcome)
    try:
        while not stop.is_set():
            writer.step(8)
            stop.wait(PACE_SECONDS)
    except Exception as exc:  # the test reads it from the outcome: a thread cannot raise
        writer.outcome.refused.append(f"the writer died: {type(exc).__name__}: {exc}")


# --- the auditor --------------------------------------------------------------------------------


@dataclass
class LogView:
    size: int
    ids: list[str]
    leaf_hashes: list[bytes]
    leaves: list[bytes]
    root: bytes
    digest: str


def read_log(base: str) -> LogView:
    """The log through the API, up to the latest checkpoint's size when the reading starts (it
    may grow meanwhile): items for ids and indexes, leaf bytes for the tree."""
    http = httpx.Client(base_url=base, timeout=60)
    key = cp.parse_verifier_key(http.get("/v1/log/key").text)
    signed = cp.open_checkpoint(http.get("/v1/log/checkpoint").text, key)
    size = signed.size
    ids: list[str] = []
    while len(ids) < size:
        page = http.get("/v1/entries", params={"start": len(ids), "limit": 1000}).json()
        assert page["items"], f"the log has {len(ids)} entries, its checkpoint says {size}"
        for item in page["items"][: size - len(ids)]:
            assert item["index"] == len(ids), f"index {item['index']} where {len(ids)} belongs"
            ids.append(item["id"])
    leaves: list[bytes] = []
    while len(leaves) < size:
        limit = min(1000, size - len(leaves))
        body = http.get("/v1/log/leaves", params={"start": len(leaves), "limit": limit}).content
        lines = body.split(b"\n")
        assert lines[-1] == b"" and len(lines) == limit + 1
        leaves.extend(lines[:-1])
    leaf_hashes = [merkle.leaf_hash(raw) for raw in leaves]
    state = http.get("/v1/state", params={"tree_size": size}).json()
    assert state["tree_size"] == size
    return LogView(size, ids, leaf_hashes, leaves, signed.root_hash, state["root"])


def audit(base: str, outcomes: list[Outcome]) -> dict[str, int]:
    """Check the log against every writer's acknowledgments and observed checkpoints."""
    log = read_log(base)
    assert len(set(log.ids)) == log.size, "an entry appears twice"
    assert merkle.root(log.leaf_hashes) == log.root, "the checkpoint root is not the leaves' root"
    acked = 0
    for outcome in outcomes:
        for acked_id, index, leaf_hash in outcome.acked:
            assert index < log.size, f"acknowledged entry {acked_id[:12]} at {index} is lost"
            assert log.ids[index] == acked_id, f"index {index} holds another entry"
            assert log.leaf_hashes[index].hex() == leaf_hash
            acked += 1
    http = httpx.Client(base_url=base, timeout=60)
    key = cp.parse_verifier_key(http.get("/v1/log/key").text)
    seen = {cp.open_checkpoint(note, key) for o in outcomes for note in o.checkpoints}
    for old in seen:
        assert old.size <= log.size
        proof = http.get(
            "/v1/log/proof/consistency", params={"first": old.size, "second": log.size}
        ).json()
        if old.size == log.size:
            assert old.root_hash == log.root
        else:
            merkle.verify_consistency(
                old.size,
                log.size,
                old.root_hash,
                log.root,
                [bytes.fromhex(h) for h in proof["hashes"]],
            )
    state = valuation.new_state()
    for index, raw in enumerate(log.leaves):
        leaf = parse_leaf(raw)
        valuation.apply(state, event_of(leaf.entry, index, leaf.logged_at))
    replayed = statemap.reference_root(dict(valuation.iter_records(state)))
    assert replayed.hex() == log.digest, "the live state root is not the replay's"
    return {"size": log.size, "acked": acked, "checkpoints_seen": len(seen)}
