"""A Python client of the REST API (SPEC section 6) for members, dashboards and scripts.

Members sign on their own machine: `Client` holds the member's secret key, learns the next
`seq` from the server, signs each entry with `ledger.entries.sign_entry` and submits it. When
another submission of the same key wins the race for a `seq` (a 409 that names the seq), the
client reads the next seq again and signs anew, a bounded number of times.

Nothing the server says is taken on trust where it can be checked: `verify_inclusion` opens
the signed checkpoint with a verifier key the caller supplies, recomputes the leaf from the
entry, and checks the Merkle proof against the checkpoint's root.

Every failure is a `ClientError` carrying the server's RFC 9457 problem when there is one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx

from ledger.errors import LedgerError

if TYPE_CHECKING:
    from nacl.signing import SigningKey

    from ledger import checkpoint as cp
    from valuation.statemap import StateProof

# Signing, checkpoints and proofs (PyNaCl, `ledger`, `valuation`) are imported by the methods
# that use them, so that a command that only reads starts quickly (issue 17).

DEFAULT_API = "http://127.0.0.1:8000"


# --- errors ---------------------------------------------------------------------------------


class ClientError(Exception):
    """A request failed. `problem` is the server's RFC 9457 document when it sent one."""

    def __init__(
        self, message: str, *, status: int | None = None, problem: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problem: dict[str, Any] = dict(problem or {})

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self)


class ServerUnavailable(ClientError):
    """The API cannot be reached, timed out, or answered 503."""


class NotFound(ClientError):
    """The server has no such entry, contribution or member (404)."""


class EntryRefused(ClientError):
    """The server refused a signed entry (4xx); nothing was appended."""


class SeqConflict(EntryRefused):
    """Another entry of the same author took this `seq` first (409)."""


class VerificationError(ClientError):
    """What the server sent does not check out: a checkpoint, an entry or a proof."""


class KeyRequired(ClientError):
    """A write was asked of a client that holds no signing key."""


class MemberProvenAbsent(NotFound):
    """The signed state map proves that a key is not a member at the checkpoint's tree size."""

    def __init__(self, member: str, tree_size: int) -> None:
        super().__init__(
            f"{member} is proven not to be a member at checkpoint {tree_size}: the signed "
            "state map has no record of that key"
        )
        self.member = member
        self.tree_size = tree_size


# --- what the server answers ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Receipt:
    """The log's answer to an appended entry."""

    id: str
    index: int
    logged_at: str
    leaf_hash: str


@dataclass(frozen=True, slots=True)
class Member:
    member: str
    name: str
    reputation: str
    tokens: str
    influence: str
    rank: int
    next_seq: int
    referrer: str | None


@dataclass(frozen=True, slots=True)
class Evaluation:
    evaluator: str
    value: int
    index: int
    reputation: str


@dataclass(frozen=True, slots=True)
class Weight:
    value: int
    reputation: str
    fraction: str


@dataclass(frozen=True, slots=True)
class Contribution:
    id: str
    index: int
    author: str
    title: str
    type: str
    logged_at: str
    max_score: str | None
    quality: str
    score: str
    engaged_reputation: str
    engaged_fraction: str
    fund: str
    weights: tuple[Weight, ...]
    evaluations: tuple[Evaluation, ...]


@dataclass(frozen=True, slots=True)
class LoggedEntry:
    """One item of the log: the signed entry as the server holds it."""

    index: int
    id: str
    logged_at: str
    leaf_hash: str
    entry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    hashes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ProvenFigures:
    """A member's figures as the state map records them, proven against the checkpoint of
    `tree_size` that the log's key signed (`Client.verify_member`)."""

    member: str
    name: str
    referrer: str | None
    reputation: str
    tokens: str
    tree_size: int
    origin: str


T = TypeVar("T")


def _build(cls: type[T], data: Any, **nested: Any) -> T:
    """A dataclass from a JSON object, ignoring fields the client does not know."""
    if not isinstance(data, dict):
        raise ClientError(f"the server sent {type(data).__name__} where an object was expected")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    missing = [n for n in names if n not in data and n not in nested]
    if missing:
        raise ClientError(f"the server's answer lacks the field {missing[0]!r}")
    values = {n: nested.get(n, data.get(n)) for n in names}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ClientError(f"the server's answer is malformed: {exc}") from None


def as_json(value: Any) -> Any:
    """JSON-ready form of the client's dataclasses (bytes as hex), for `--json` output."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value


def content_hash(content: bytes | str | Path) -> str:
    """Hex SHA-256 of local content: bytes as given, a `str` or `Path` names a file."""
    if isinstance(content, bytes):
        return hashlib.sha256(content).hexdigest()
    path = Path(content)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
    except FileNotFoundError:
        raise ClientError(f"content file {path} does not exist") from None
    except OSError as exc:
        raise ClientError(f"cannot read content file {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()


# --- the client -----------------------------------------------------------------------------


def api_address(base_url: str) -> str:
    """The server's address as the paths here expect it: checked, without a trailing / or /v1."""
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise ClientError(f"{base_url!r} is not a valid API address: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ClientError(
            f"{base_url!r} is not an API address: give http://HOST:PORT, such as {DEFAULT_API}"
        )
    base = base_url.rstrip("/")
    # The API lives under /v1 (SPEC section 6), so people give that too: the paths here add it.
    return base.removesuffix("/v1") if base.endswith("/v1") else base


_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def _tls_context(base_url: str) -> ssl.SSLContext | bool:
    """What httpx verifies TLS with: its default (the certificate store) for an https API.

    A plain-HTTP API reached without a proxy has no TLS to verify, and loading the store costs
    about 40 ms of every command (issue 17). It gets a context that trusts no certificate, so
    that anything sent over TLS from this client would fail rather than go unchecked."""
    if not base_url.startswith("http://") or any(
        os.environ.get(name) or os.environ.get(name.lower()) for name in _PROXY_VARIABLES
    ):
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _signing_key(key: SigningKey | str | Path | None) -> SigningKey | None:
    """A member's key as given to `Client`: a `SigningKey`, or the path of its key file."""
    if key is None:
        return None
    if isinstance(key, str | Path):
        from ledger.keys import read_key

        try:
            return read_key(Path(key))
        except LedgerError as exc:
            raise ClientError(str(exc)) from None
    from nacl.signing import SigningKey

    if isinstance(key, SigningKey):
        return key
    raise TypeError(
        f"key must be a nacl.signing.SigningKey or the path of a key file, not {type(key).__name__}"
    )


class Client:
    """The REST API at `base_url`, as the member holding `key` (or as a reader, without).

    `base_url` is the server's address, such as http://127.0.0.1:8000 (a trailing /v1 is
    accepted too). `key` is a `nacl.signing.SigningKey` or the path of a key file written by
    `multitude keygen` (a `str` or `Path`); anything else is refused here, not at the first write.

    `retries` bounds how often a write lost to a concurrent entry of the same key (a 409 on
    `seq`) is re-read and re-signed. Nothing else is retried: a write that timed out may
    have been appended, and signing it anew could append it twice.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_API,
        key: SigningKey | str | Path | None = None,
        *,
        timeout: float = 10,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = api_address(base_url)
        self.key = _signing_key(key)
        self.retries = retries
        self._genesis: dict[str, Any] | None = None
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            verify=_tls_context(self.base_url),
            headers={"Accept": "application/json, application/problem+json, text/plain"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def public_key(self) -> str:
        return bytes(self._signing_key().verify_key).hex()

    # --- transport ------------------------------------------------------------------------

    def _unreachable(self, why: str) -> ServerUnavailable:
        return ServerUnavailable(
            f"cannot reach the Multitude API at {self.base_url} ({why}): "
            "is `multitude serve` running?"
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise self._unreachable("timed out") from None
        except httpx.TransportError as exc:
            raise self._unreachable(str(exc) or type(exc).__name__) from None
        if response.status_code < 400:
            return response
        raise self._error(method, path, response)

    def _error(self, method: str, path: str, response: httpx.Response) -> ClientError:
        status = response.status_code
        problem: dict[str, Any] = {}
        try:
            body = response.json()
            if isinstance(body, dict):
                problem = body
        except ValueError:
            pass
        detail = str(problem.get("detail") or problem.get("title") or response.reason_phrase)
        if status == 503:
            error: ClientError = ServerUnavailable(
                f"the Multitude API at {self.base_url} is unavailable: {detail}",
                status=status,
                problem=problem,
            )
            return error
        if status == 404 and detail == response.reason_phrase:
            # Nothing said but "Not Found": no route answered, so the address is not an API
            # root (e.g. .../docs); a read of ours that finds nothing names what it missed.
            return NotFound(
                f"{self.base_url} has no {path} (404 {detail}): is it the address of a "
                "Multitude API, such as http://127.0.0.1:8000?",
                status=status,
                problem=problem,
            )
        if status == 404:
            return NotFound(detail, status=status, problem=problem)
        if method == "POST" and path.startswith("/v1/entries"):
            if status == 409 and "seq" in detail:
                return SeqConflict(f"entry refused: {detail}", status=status, problem=problem)
            return EntryRefused(f"entry refused: {detail}", status=status, problem=problem)
        return ClientError(
            f"{method} {path} failed with {status}: {detail}", status=status, problem=problem
        )

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ClientError(f"{method} {path}: the server's answer is not JSON") from None

    def _text(self, path: str) -> str:
        return self._request("GET", path).text

    # --- writes ---------------------------------------------------------------------------

    def _signing_key(self) -> SigningKey:
        if self.key is None:
            raise KeyRequired("signing an entry needs a member's key: give the client a key")
        return self.key

    def genesis(self) -> dict[str, Any]:
        """The log's first entry, `network.genesis`: its network, log key and first params."""
        if self._genesis is None:
            page = self._json("GET", "/v1/entries", params={"start": 0, "limit": 1})
            try:
                entry = page["items"][0]["entry"]
                if not isinstance(entry, dict) or not isinstance(entry["network"], str):
                    raise TypeError
            except (KeyError, IndexError, TypeError):
                raise ClientError("the log has no genesis entry yet: no network to join") from None
            self._genesis = entry
        return self._genesis

    def network(self) -> str:
        """The network name entries must carry, read from the genesis entry."""
        return str(self.genesis()["network"])

    def params_changed(self) -> bool:
        """Whether the log has signed a `network.params` since its genesis (seq 1 of the log
        key), so that the genesis no longer tells which params are in force."""
        return self.next_seq(str(self.genesis()["author"])) > 2

    def next_seq(self, key: str | None = None) -> int:
        """The seq the member signs next (also for a key that has not joined)."""
        who = key or self.public_key
        try:
            return self.member(who).next_seq
        except NotFound as exc:
            seq = exc.problem.get("next_seq")
            if isinstance(seq, int) and not isinstance(seq, bool):
                return seq
            raise

    def submit(self, kind: str, body: Mapping[str, Any]) -> Receipt:
        """Sign an entry of `kind` with the next seq and append it; re-sign on a lost race."""
        from ledger.entries import sign_entry

        key = self._signing_key()
        for attempt in range(self.retries + 1):
            entry = sign_entry(
                key, network=self.network(), kind=kind, seq=self.next_seq(), body=body
            )
            try:
                data = self._json("POST", "/v1/entries", json=entry)
            except SeqConflict:
                if attempt == self.retries:
                    raise
                continue
            return _build(Receipt, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def join(self, name: str, referrer: str | None = None) -> Receipt:
        body: dict[str, Any] = {"name": name}
        if referrer is not None:
            body["referrer"] = referrer
        return self.submit("member.join", body)

    def contribute(
        self,
        title: str,
        type: str | None = None,
        uri: str | None = None,
        content: bytes | str | Path | None = None,
        tags: Iterable[str] = (),
        refs: Iterable[str] = (),
    ) -> Receipt:
        """Submit a contribution; local `content` (bytes or a file) is sent only as its hash."""
        body: dict[str, Any] = {"title": title}
        if type is not None:
            body["type"] = type
        if uri is not None:
            body["uri"] = uri
        if content is not None:
            body["content_hash"] = content_hash(content)
        if tags := list(tags):
            body["tags"] = tags
        if refs := list(refs):
            body["refs"] = refs
        return self.submit("contribution.submit", body)

    def evaluate(self, contribution_id: str, value: int) -> Receipt:
        return self.submit("evaluation.cast", {"contribution": contribution_id, "value": value})

    # --- reads ----------------------------------------------------------------------------

    def member(self, key: str | None = None) -> Member:
        return _build(Member, self._json("GET", f"/v1/members/{key or self.public_key}"))

    def _pages(self, path: str, params: dict[str, Any]) -> list[Any]:
        items: list[Any] = []
        offset: int | None = 0
        while offset is not None:
            page = self._json("GET", path, params={**params, "offset": offset})
            items.extend(page.get("items", []))
            offset = page.get("next")
        return items

    def members(self) -> list[Member]:
        """Every member, by reputation."""
        return [_build(Member, m) for m in self._pages("/v1/members", {"limit": 1000})]

    def leaderboard(
        self, by: Literal["reputation", "tokens"] = "reputation", limit: int = 20
    ) -> list[Member]:
        page = self._json("GET", "/v1/leaderboard", params={"by": by, "limit": limit})
        return [_build(Member, m) for m in page["items"]]

    def contributions(
        self, order_by: Literal["score", "time"] = "score", limit: int = 50
    ) -> list[Contribution]:
        page = self._json("GET", "/v1/contributions", params={"order_by": order_by, "limit": limit})
        return [_contribution(c) for c in page["items"]]

    def all_contributions(self, order_by: Literal["score", "time"] = "time") -> list[Contribution]:
        """Every contribution, newest first (or best first), read page by page."""
        pages = self._pages("/v1/contributions", {"order_by": order_by, "limit": 1000})
        return [_contribution(c) for c in pages]

    def contribution(self, contribution_id: str) -> Contribution:
        return _contribution(self._json("GET", f"/v1/contributions/{contribution_id}"))

    def entry(self, entry_id: str) -> LoggedEntry:
        return _build(LoggedEntry, self._json("GET", f"/v1/entries/{entry_id}"))

    def checkpoint(self) -> str:
        """The latest signed checkpoint, as the signed note text."""
        return self._text("/v1/log/checkpoint")

    def log_key(self) -> str:
        """The verifier key the server says the log has. Trust it only on first use."""
        return self._text("/v1/log/key").strip()

    def inclusion_proof(self, index: int, size: int) -> InclusionProof:
        data = self._json(
            "GET", "/v1/log/proof/inclusion", params={"index": index, "tree_size": size}
        )
        try:
            hashes = tuple(bytes.fromhex(h) for h in data["hashes"])
        except (KeyError, TypeError, ValueError):
            raise ClientError("the server's inclusion proof is malformed") from None
        return _build(InclusionProof, data, hashes=hashes)

    def state_proof(self, key: str, tree_size: int | None = None) -> StateProof:
        """The server's proof of state-map record `key` at `tree_size` (default: the latest
        checkpoint), SPEC section 5. Unchecked: `verify_member` checks it."""
        from valuation.errors import StateProofError
        from valuation.statemap import proof_from_json

        params: dict[str, Any] = {"key": key}
        if tree_size is not None:
            params["tree_size"] = tree_size
        data = self._json("GET", "/v1/state/proof", params=params)
        try:
            return proof_from_json(data)
        except StateProofError as exc:
            raise VerificationError(f"the server's state proof is malformed: {exc}") from None

    # --- verification ---------------------------------------------------------------------

    def _open_checkpoint(
        self, verifier_key: str | None, trust_on_first_use: bool, note: str | None = None
    ) -> cp.Checkpoint:
        """The signed checkpoint `note` (default: the latest), opened with the log's verifier
        key (step 1 of each check)."""
        from ledger import checkpoint as cp

        if verifier_key is None:
            if not trust_on_first_use:
                raise VerificationError(
                    "give the log's verifier key to check against (or trust_on_first_use=True)"
                )
            verifier_key = self.log_key()
        try:
            verifier = cp.parse_verifier_key(verifier_key)
            return cp.open_checkpoint(self.checkpoint() if note is None else note, verifier)
        except LedgerError as exc:
            raise VerificationError(f"the checkpoint does not verify: {exc}") from None

    def verify_member(
        self,
        key: str,
        verifier_key: str | None = None,
        *,
        trust_on_first_use: bool = False,
        checkpoint: str | None = None,
    ) -> ProvenFigures:
        """A member's figures, returned only once the log's signature and the state proof hold.

        1. Open the latest checkpoint (or `checkpoint`, a signed note the caller kept from an
           earlier `checkpoint()`, to prove the figures at that older size) with `verifier_key`
           (the log's key, known to the caller; fetched from the server only when
           `trust_on_first_use` is set) and read its state root (the `state` line, SPEC
           section 4).
        2. Fetch the proof of the record `member/<key>` at the checkpoint's tree size.
        3. Check that it is the proof asked for and fold it to the state root (SPEC section 5).
        4. Read the figures from the proven record.
        Raises `VerificationError` saying which step failed, or `MemberProvenAbsent` when the
        proof holds and shows that `key` is not a member.
        """
        from valuation.errors import StateProofError
        from valuation.statemap import verify_proof

        member = key.strip().lower()
        if len(member) != 64 or any(c not in "0123456789abcdef" for c in member):
            raise ClientError(f"{key!r} is not a member's public key (64 hex digits)")
        signed = self._open_checkpoint(verifier_key, trust_on_first_use, checkpoint)
        if signed.state_root is None:
            raise VerificationError(
                f"the checkpoint of tree size {signed.size} has no state line: "
                "it signs no figures to prove"
            )
        record = f"member/{member}"
        proof = self.state_proof(record, signed.size)
        if proof.key != record:
            raise VerificationError(f"the server sent the proof of {proof.key!r}, not {record!r}")
        if proof.tree_size != signed.size:
            raise VerificationError(
                f"the server sent a proof at tree size {proof.tree_size}, not at the "
                f"checkpoint's {signed.size}"
            )
        try:
            verify_proof(proof, signed.state_root)
        except StateProofError as exc:
            raise VerificationError(
                f"the figures of {member[:16]}… are not proven against checkpoint "
                f"{signed.size}: {exc}"
            ) from None
        if proof.value is None:
            raise MemberProvenAbsent(member, signed.size)
        value = proof.value
        fields = ("name", "reputation", "tokens")
        if (
            not isinstance(value, dict)
            or any(not isinstance(value.get(f), str) for f in fields)
            or not isinstance(value.get("referrer", 0), str | None)
        ):
            raise VerificationError(
                f"the proven record of {member[:16]}… is not a member's record: {value!r}"
            )
        return ProvenFigures(
            member=member,
            name=value["name"],
            referrer=value["referrer"],
            reputation=value["reputation"],
            tokens=value["tokens"],
            tree_size=signed.size,
            origin=signed.origin,
        )

    def verify_inclusion(
        self,
        entry_id: str,
        verifier_key: str | None = None,
        *,
        trust_on_first_use: bool = False,
    ) -> cp.Checkpoint:
        """Check that entry `entry_id` is in the log, as the log's own signature vouches.

        1. Open the latest checkpoint with `verifier_key` (the log's key, known to the caller;
           fetched from the server only when `trust_on_first_use` is set).
        2. Fetch the entry; check its signature and that its id is `entry_id`.
        3. Recompute its leaf from the entry and `logged_at` (SPEC section 3).
        4. Check the server's inclusion proof at the checkpoint's size against its root.
        Returns the verified checkpoint; raises `VerificationError` saying which step failed.
        """
        from ledger import merkle
        from ledger.entries import entry_id as compute_entry_id
        from ledger.entries import leaf_bytes, parse_entry

        checkpoint = self._open_checkpoint(verifier_key, trust_on_first_use)
        item = self.entry(entry_id)
        try:
            parse_entry(item.entry)
        except LedgerError as exc:
            raise VerificationError(f"the entry the server sent is not valid: {exc}") from None
        if compute_entry_id(item.entry) != entry_id:
            raise VerificationError(f"the server sent another entry than {entry_id[:16]}…")
        if item.index >= checkpoint.size:
            raise VerificationError(
                f"entry {entry_id[:16]}… is at index {item.index}, beyond the checkpoint's "
                f"tree size {checkpoint.size}: try again in a moment"
            )
        leaf = merkle.leaf_hash(leaf_bytes(item.entry, item.logged_at))
        proof = self.inclusion_proof(item.index, checkpoint.size)
        try:
            merkle.verify_inclusion(
                leaf, item.index, checkpoint.size, proof.hashes, checkpoint.root_hash
            )
        except LedgerError as exc:
            raise VerificationError(
                f"entry {entry_id[:16]}… is not proven in the tree of size {checkpoint.size}: {exc}"
            ) from None
        return checkpoint


def _contribution(data: Any) -> Contribution:
    if not isinstance(data, dict):
        raise ClientError("the server sent a malformed contribution")
    weights: Sequence[Any] = data.get("weights") or []
    evaluations: Sequence[Any] = data.get("evaluations") or []
    return _build(
        Contribution,
        data,
        weights=tuple(_build(Weight, w) for w in weights),
        evaluations=tuple(_build(Evaluation, e) for e in evaluations),
    )
