"""The Python client against a real server on loopback: members sign on their own machine."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey

from api.client import (
    Client,
    ClientError,
    EntryRefused,
    InclusionProof,
    MemberProvenAbsent,
    NotFound,
    ProvenFigures,
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


def test_verify_member_returns_the_figures_proven_against_the_signed_checkpoint(
    api_url: str, ledger: Ledger
) -> None:
    verifier = ledger.network().verifier_key
    with (
        Client(api_url, SigningKey.generate()) as ann,
        Client(api_url, SigningKey.generate()) as bob,
    ):
        ann.join("Ann")
        bob.join("Bob", referrer=ann.public_key)
        bob.evaluate(ann.contribute("Proven figures").id, 1)
        proven = ann.verify_member(bob.public_key, verifier)
        served = ann.member(bob.public_key)
        assert proven == ProvenFigures(
            member=bob.public_key,
            name="Bob",
            referrer=ann.public_key,
            reputation=served.reputation,
            tokens=served.tokens,
            tree_size=5,
            origin="example.org/demo",
        )
        assert ann.verify_member(ann.public_key.upper(), verifier).referrer is None


def test_verify_member_proves_the_figures_at_an_older_checkpoint_the_caller_kept(
    api_url: str, ledger: Ledger
) -> None:
    verifier = ledger.network().verifier_key
    with (
        Client(api_url, SigningKey.generate()) as ann,
        Client(api_url, SigningKey.generate()) as bob,
    ):
        ann.join("Ann")
        bob.join("Bob")
        kept = ann.checkpoint()
        then = ann.member()
        bob.evaluate(ann.contribute("Changes Ann's figures").id, 1)
        now = ann.verify_member(ann.public_key, verifier)
        old = ann.verify_member(ann.public_key, verifier, checkpoint=kept)
        assert (old.tree_size, now.tree_size) == (3, 5)
        assert (old.reputation, old.tokens) == (then.reputation, then.tokens)
        assert (old.reputation, old.tokens) != (now.reputation, now.tokens)
        forged = kept.replace("\n3\n", "\n4\n", 1)
        with pytest.raises(VerificationError, match="checkpoint does not verify"):
            ann.verify_member(ann.public_key, verifier, checkpoint=forged)


def test_verify_member_proves_an_absent_member_absent(api_url: str, ledger: Ledger) -> None:
    verifier = ledger.network().verifier_key
    with Client(api_url, SigningKey.generate()) as ann:
        ann.join("Ann")
        stranger = bytes(SigningKey.generate().verify_key).hex()
        with pytest.raises(MemberProvenAbsent, match="proven not to be a member at checkpoint 2"):
            ann.verify_member(stranger, verifier)
        with pytest.raises(ClientError, match="not a member's public key"):
            ann.verify_member("ann", verifier)


def _forging(change: Callable[[dict[str, Any]], None]) -> httpx.HTTPTransport:
    """A transport whose state proofs are changed by `change` on their way to the client."""

    class Forging(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.url.path != "/v1/state/proof":
                return response
            response.read()
            proof = response.json()
            change(proof)
            return httpx.Response(200, json=proof)

    return Forging()


def _richer(proof: dict[str, Any]) -> None:
    proof["value"]["tokens"] = "1000000"


def _flipped_sibling(proof: dict[str, Any]) -> None:
    first = bytes.fromhex(proof["siblings"][0])
    proof["siblings"][0] = (bytes([first[0] ^ 1]) + first[1:]).hex()


def _hidden(proof: dict[str, Any]) -> None:
    proof["value"] = None


@pytest.mark.parametrize("change", [_richer, _flipped_sibling, _hidden])
def test_verify_member_fails_on_a_forged_proof(
    api_url: str, ledger: Ledger, change: Callable[[dict[str, Any]], None]
) -> None:
    verifier = ledger.network().verifier_key
    with (
        Client(api_url, SigningKey.generate()) as ann,
        Client(api_url, SigningKey.generate()) as bob,
    ):
        ann.join("Ann")
        bob.join("Bob")
        with (
            Client(api_url, transport=_forging(change)) as reader,
            pytest.raises(VerificationError, match="not proven against checkpoint 3"),
        ):
            reader.verify_member(ann.public_key, verifier)


def test_verify_member_fails_on_a_proof_of_another_key(api_url: str, ledger: Ledger) -> None:
    verifier = ledger.network().verifier_key
    with (
        Client(api_url, SigningKey.generate()) as ann,
        Client(api_url, SigningKey.generate()) as bob,
    ):
        ann.join("Ann")
        bob.join("Bob")

        def swapped(proof: dict[str, Any]) -> None:
            real = httpx.get(
                f"{api_url}/v1/state/proof", params={"key": f"member/{bob.public_key}"}
            ).json()
            proof.update(real)

        with (
            Client(api_url, transport=_forging(swapped)) as reader,
            pytest.raises(VerificationError, match="sent the proof of"),
        ):
            reader.verify_member(ann.public_key, verifier)


def test_verify_member_fails_with_another_logs_key(api_url: str) -> None:
    from ledger.checkpoint import verifier_key

    stranger = verifier_key("example.org/demo", bytes(SigningKey.generate().verify_key))
    with Client(api_url, SigningKey.generate()) as ann:
        ann.join("Ann")
        with pytest.raises(VerificationError, match="checkpoint does not verify"):
            ann.verify_member(ann.public_key, stranger)
        with pytest.raises(VerificationError, match="verifier key"):
            ann.verify_member(ann.public_key)
        assert ann.verify_member(ann.public_key, trust_on_first_use=True).name == "Ann"


def test_a_server_that_is_down_is_named_with_what_to_do() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        Client(url, SigningKey.generate(), timeout=2) as ann,
        pytest.raises(ServerUnavailable) as caught,
    ):
        ann.join("Ann")
    message = str(caught.value)
    assert url in message and "multitude serve" in message


def test_an_address_that_is_not_the_apis_root_is_named_with_what_to_do(api_url: str) -> None:
    with Client(api_url + "/docs") as reader, pytest.raises(NotFound) as caught:
        reader.leaderboard()
    message = str(caught.value)
    assert message.startswith(f"{api_url}/docs has no /v1/leaderboard"), message
    assert "is it the address of a Multitude API" in message
    with Client(api_url) as reader, pytest.raises(NotFound) as caught:
        reader.member("ab" * 32)
    assert "has not joined this network" in str(caught.value)


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


def test_a_plain_http_api_loads_no_certificate_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the store costs a command ~40 ms (issue 17); plain HTTP has no TLS to verify,
    and the context it gets instead trusts no certificate, so TLS from it would fail."""
    from api.client import _tls_context

    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    context = _tls_context("http://127.0.0.1:8000")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs() == []
    assert _tls_context("https://example.org") is True
    monkeypatch.setenv("HTTPS_PROXY", "https://proxy.example:3128")
    assert _tls_context("http://127.0.0.1:8000") is True  # a proxy may speak TLS
