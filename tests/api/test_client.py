"""The Python client against a real server on loopback: members sign on their own machine."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from nacl.signing import SigningKey

from api.client import (
    Client,
    ClientError,
    EntryRefused,
    InclusionProof,
    NotFound,
    SeqConflict,
    ServerUnavailable,
    VerificationError,
)
from ledger.entries import sign_entry
from ledger.service import Ledger
from tests.helpers import LiveServer, free_port


@pytest.fixture
def api_url(ledger: Ledger) -> Iterator[str]:
    with LiveServer(ledger) as url:
        yield url


def test_a_member_joins_contributes_and_is_evaluated(api_url: str, tmp_path: Path) -> None:
    content = tmp_path / "guide.md"
    content.write_bytes(b"# Onboarding\n")
    with (
        Client(api_url, SigningKey.generate()) as ann,
        Client(api_url, SigningKey.generate()) as bob,
    ):
        joined = ann.join("Ann")
        assert joined.index == 1
        bob.join("Bob", referrer=ann.public_key)
        submitted = ann.contribute(
            "Translate the onboarding guide", type="article", content=content, tags=["docs"]
        )
        logged = ann.entry(submitted.id).entry
        assert logged["body"]["content_hash"] == hashlib.sha256(b"# Onboarding\n").hexdigest()
        assert logged["body"]["tags"] == ["docs"]
        assert logged["seq"] == 2

        bob.evaluate(submitted.id, 1)
        contribution = ann.contribution(submitted.id)
        assert contribution.title == "Translate the onboarding guide"
        assert [e.evaluator for e in contribution.evaluations] == [bob.public_key]
        assert ann.member().next_seq == 3
        assert bob.member().referrer == ann.public_key
        assert {m.name for m in ann.members()} == {"Ann", "Bob"}
        assert ann.leaderboard(by="tokens", limit=1)[0].name == "Bob"  # Ann paid the fee
        assert [c.id for c in ann.contributions("time")] == [submitted.id]


def test_bytes_content_is_hashed_locally_and_only_the_hash_is_sent(api_url: str) -> None:
    with Client(api_url, SigningKey.generate()) as ann:
        ann.join("Ann")
        receipt = ann.contribute("Notes", content=b"secret draft")
        body = ann.entry(receipt.id).entry["body"]
        assert body == {
            "title": "Notes",
            "content_hash": hashlib.sha256(b"secret draft").hexdigest(),
        }


class RacingTransport(httpx.HTTPTransport):
    """After the client reads its next seq, another device of the same member takes that seq."""

    def __init__(self, key: SigningKey, network: str, races: int) -> None:
        super().__init__()
        self.key = key
        self.network = network
        self.races = races

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if self.races and request.method == "GET" and request.url.path.startswith("/v1/members/"):
            self.races -= 1
            response.read()
            seq = response.json()["next_seq"]
            rival = sign_entry(
                self.key,
                network=self.network,
                kind="contribution.submit",
                seq=seq,
                body={"title": f"from the other laptop, seq {seq}"},
            )
            url = str(request.url.copy_with(path="/v1/entries", query=None))
            assert httpx.post(url, json=rival).status_code == 201
        return response


def test_a_lost_seq_race_is_re_signed_with_the_next_seq(api_url: str) -> None:
    key = SigningKey.generate()
    with Client(api_url, key) as setup:
        setup.join("Ann")
    with Client(api_url, key, transport=RacingTransport(key, "demo", races=2)) as ann:
        receipt = ann.contribute("Written on the desktop")
        assert ann.entry(receipt.id).entry["seq"] == 4  # seqs 2 and 3 went to the rival
        assert ann.member().next_seq == 5


def test_a_race_lost_more_often_than_allowed_is_reported(api_url: str) -> None:
    key = SigningKey.generate()
    with Client(api_url, key) as setup:
        setup.join("Ann")
    racing = RacingTransport(key, "demo", races=10)
    with Client(api_url, key, retries=2, transport=racing) as ann:
        with pytest.raises(SeqConflict) as caught:
            ann.contribute("Never lands")
        assert caught.value.status == 409
        assert "seq" in caught.value.problem["detail"]
    assert racing.races == 7  # one try and two retries


def test_a_refused_entry_carries_the_servers_problem(api_url: str) -> None:
    with Client(api_url, SigningKey.generate()) as ann:
        with pytest.raises(EntryRefused) as caught:
            ann.contribute("Before joining")
        assert caught.value.status == 422
        assert caught.value.problem["detail"] in str(caught.value)
        with pytest.raises(NotFound):
            ann.contribution("ab" * 32)


def test_verify_inclusion_checks_the_proof_against_the_signed_checkpoint(
    api_url: str, ledger: Ledger
) -> None:
    verifier = ledger.network().verifier_key
    with Client(api_url, SigningKey.generate()) as ann:
        ann.join("Ann")
        receipt = ann.contribute("Proven")
        ann.contribute("Later")
        checkpoint = ann.verify_inclusion(receipt.id, verifier)
        assert checkpoint.size == 4
        assert checkpoint.origin == "example.org/demo"


def test_verify_inclusion_needs_a_key_unless_trusting_on_first_use(api_url: str) -> None:
    with Client(api_url, SigningKey.generate()) as ann:
        receipt = ann.join("Ann")
        with pytest.raises(VerificationError, match="verifier key"):
            ann.verify_inclusion(receipt.id)
        assert ann.verify_inclusion(receipt.id, trust_on_first_use=True).size == 2


class TamperingClient(Client):
    def inclusion_proof(self, index: int, size: int) -> InclusionProof:
        proof = super().inclusion_proof(index, size)
        first = bytes([proof.hashes[0][0] ^ 1]) + proof.hashes[0][1:]
        return replace(proof, hashes=(first, *proof.hashes[1:]))


def test_verify_inclusion_fails_on_a_tampered_proof(api_url: str, ledger: Ledger) -> None:
    verifier = ledger.network().verifier_key
    with TamperingClient(api_url, SigningKey.generate()) as ann:
        receipt = ann.join("Ann")
        ann.contribute("Another leaf so that the proof is not empty")
        with pytest.raises(VerificationError, match="not proven"):
            ann.verify_inclusion(receipt.id, verifier)


def test_verify_inclusion_fails_with_another_logs_key(api_url: str) -> None:
    from ledger.checkpoint import verifier_key

    stranger = verifier_key("example.org/demo", bytes(SigningKey.generate().verify_key))
    with Client(api_url, SigningKey.generate()) as ann:
        receipt = ann.join("Ann")
        with pytest.raises(VerificationError, match="checkpoint does not verify"):
            ann.verify_inclusion(receipt.id, stranger)


def test_a_server_that_is_down_is_named_with_what_to_do() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        Client(url, SigningKey.generate(), timeout=2) as ann,
        pytest.raises(ServerUnavailable) as caught,
    ):
        ann.join("Ann")
    message = str(caught.value)
    assert url in message and "multitude serve" in message


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "http://[::1", "ftp://example.org", "http://"])
def test_an_address_that_is_not_an_http_url_is_refused_at_once(url: str) -> None:
    with pytest.raises(ClientError, match="API address"):
        Client(url)


def test_a_503_or_a_timeout_is_server_unavailable() -> None:
    def unavailable(request: httpx.Request) -> httpx.Response:
        problem = {"type": "/problems/unavailable", "title": "Service unavailable", "status": 503}
        return httpx.Response(503, json={**problem, "detail": "the database is down"})

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with Client("http://api.test", transport=httpx.MockTransport(unavailable)) as reader:
        with pytest.raises(ServerUnavailable, match="the database is down") as caught:
            reader.members()
        assert caught.value.status == 503 and caught.value.problem["status"] == 503
    reader = Client("http://api.test", transport=httpx.MockTransport(slow))
    with reader, pytest.raises(ServerUnavailable, match=r"timed out.*multitude serve"):
        reader.checkpoint()


def test_the_key_may_be_a_key_file_path_and_anything_else_is_refused_at_once(
    api_url: str, tmp_path: Path
) -> None:
    from ledger import keys

    key = SigningKey.generate()
    path = tmp_path / "ann.key"
    keys.write_key(path, key)
    for given in (str(path), path):
        with Client(api_url, given) as client:
            assert client.public_key == bytes(key.verify_key).hex()
    with Client(f"{api_url}/v1", path) as ann:  # the API's own prefix is accepted
        assert ann.join("Ann").index == 1
    with pytest.raises(TypeError, match="SigningKey or the path of a key file"):
        Client(api_url, bytes(key))  # type: ignore[arg-type]
    with pytest.raises(ClientError, match="does not exist"):
        Client(api_url, tmp_path / "nowhere.key")
    readme = tmp_path / "README.md"
    readme.write_text("# Multitude — “a ledger”\n", encoding="utf-8")
    with pytest.raises(ClientError, match=r"not a key file \(64 hex characters expected"):
        Client(api_url, readme)
