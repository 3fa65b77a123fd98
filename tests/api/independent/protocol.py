"""The bytes of SPEC.md, written again from the text alone: signed entries (section 2), leaves
and the RFC 9162 tree (section 3), C2SP signed-note checkpoints (section 4).

Nothing here imports the project's packages: this is what an outside client would write.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

ENTRY_CONTEXT = b"multitude/entry/v1\n"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX128 = re.compile(r"^[0-9a-f]{128}$")
LOGGED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


class ProtocolError(AssertionError):
    """The server's bytes do not mean what SPEC.md says they mean."""


def jcs(value: Any) -> bytes:
    return rfc8785.dumps(value)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- section 2: entries --------------------------------------------------------------------


def entry_id(entry: dict[str, Any]) -> str:
    return hashlib.sha256(jcs(entry)).hexdigest()


def signing_bytes(entry: dict[str, Any]) -> bytes:
    return ENTRY_CONTEXT + jcs({k: v for k, v in entry.items() if k != "sig"})


def verify_entry_signature(entry: dict[str, Any]) -> bool:
    try:
        key = VerifyKey(bytes.fromhex(entry["author"]))
        key.verify(signing_bytes(entry), bytes.fromhex(entry["sig"]))
    except (BadSignatureError, ValueError, KeyError, TypeError):
        return False
    return True


def timestamp(offset_seconds: float = 0.0) -> str:
    """RFC 3339 UTC with a Z and milliseconds, as in SPEC's example."""
    t = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    if not RFC3339_Z.match(text):
        raise ProtocolError(f"not an RFC 3339 UTC time with Z: {text!r}")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Member:
    """A key pair that signs its own entries and counts its own seq."""

    def __init__(self, network: str, key: SigningKey | None = None) -> None:
        self.key = key or SigningKey.generate()
        self.network = network
        self.seq = 0

    @property
    def public(self) -> str:
        return bytes(self.key.verify_key).hex()

    def unsigned(self, kind: str, body: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "v": 1,
            "network": self.network,
            "kind": kind,
            "author": self.public,
            "seq": self.seq + 1,
            "ts": timestamp(),
            "body": body,
        }
        entry.update(overrides)
        return entry

    def sign(self, entry: dict[str, Any]) -> dict[str, Any]:
        signed = dict(entry)
        signed["sig"] = self.key.sign(signing_bytes(entry)).signature.hex()
        return signed

    def entry(self, kind: str, body: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        """A signed entry with the next seq; call `accepted()` once the log took it."""
        return self.sign(self.unsigned(kind, body, **overrides))

    def accepted(self) -> None:
        self.seq += 1

    def join(self, name: str, referrer: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if referrer is not None:
            body["referrer"] = referrer
        return self.entry("member.join", body)

    def submit(self, title: str, **body: Any) -> dict[str, Any]:
        return self.entry("contribution.submit", {"title": title, **body})

    def evaluate(self, contribution: str, value: int) -> dict[str, Any]:
        return self.entry("evaluation.cast", {"contribution": contribution, "value": value})


# --- section 3: leaves and the tree (RFC 9162 section 2.1) ---------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return sha256(b"\x00" + leaf)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hashes: list[bytes]) -> bytes:
    """MTH over leaf hashes (RFC 9162 section 2.1.1)."""
    n = len(hashes)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def inclusion_path(m: int, hashes: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 section 2.1.3.1)."""
    n = len(hashes)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*inclusion_path(m, hashes[:k]), mth(hashes[k:])]
    return [*inclusion_path(m - k, hashes[k:]), mth(hashes[:k])]


def consistency_proof(m: int, hashes: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) (RFC 9162 section 2.1.4.1), 0 < m <= n."""

    def subproof(m: int, d: list[bytes], whole: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if whole else [mth(d)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, d[:k], whole), mth(d[k:])]
        return [*subproof(m - k, d[k:], False), mth(d[:k])]

    return subproof(m, hashes, True)


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if first > second or first == 0:
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# --- section 4: checkpoints as C2SP signed notes -------------------------------------------


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public: bytes


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    text: str
    state: bytes | None = None  # the `state` extension line (SPEC section 4), when present


def key_id(name: str, public: bytes) -> bytes:
    return sha256(name.encode() + b"\x0a" + b"\x01" + public)[:4]


def parse_verifier_key(text: str) -> VerifierKey:
    """`<name>+<key id, 8 hex>+<base64(0x01 || public key)>`, as C2SP signed-note says."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise ProtocolError(f"a verifier key has three '+'-separated parts: {text!r}")
    name, hex_id, b64 = parts
    if not name or any(c.isspace() for c in name):
        raise ProtocolError(f"bad key name {name!r}")
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise ProtocolError(f"key id is not 8 lowercase hex: {hex_id!r}")
    try:
        data = base64.b64decode(b64, validate=True)
    except binascii.Error as e:
        raise ProtocolError(f"key is not standard base64: {b64!r}") from e
    if len(data) != 33 or data[0] != 0x01:
        raise ProtocolError("key data is not 0x01 followed by a 32-byte Ed25519 key")
    public = data[1:]
    if key_id(name, public) != bytes.fromhex(hex_id):
        raise ProtocolError("the key id does not match SHA-256(name || 0x0A || 0x01 || key)")
    return VerifierKey(name, bytes.fromhex(hex_id), public)


def verify_checkpoint(text: str, key: VerifierKey) -> Checkpoint:
    """Open a signed note with `key`, then read it as a tlog-checkpoint."""
    if not text.endswith("\n"):
        raise ProtocolError("a signed note ends with a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise ProtocolError("no blank line between the note text and its signatures")
    body, signatures = text[: split + 1], text[split + 2 :]
    if "\r" in text or "\t" in body:
        raise ProtocolError("control characters in the note")
    lines = signatures.split("\n")
    assert lines[-1] == ""
    verified = False
    for line in lines[:-1]:
        m = re.fullmatch(r"\u2014 (\S+) (\S+)", line)
        if not m:
            raise ProtocolError(f"malformed signature line {line!r}")
        name, b64 = m.groups()
        raw = base64.b64decode(b64, validate=True)
        if len(raw) < 5:
            raise ProtocolError("signature too short")
        if name == key.name and raw[:4] == key.key_id:
            try:
                VerifyKey(key.public).verify(body.encode(), raw[4:])
            except BadSignatureError as e:
                raise ProtocolError("the checkpoint signature does not verify") from e
            verified = True
    if not verified:
        raise ProtocolError("no signature by the log's key on the checkpoint")
    fields = body.split("\n")
    if len(fields) < 4:
        raise ProtocolError("a checkpoint has an origin, a size and a root")
    origin, size, root = fields[0], fields[1], fields[2]
    if not re.fullmatch(r"0|[1-9][0-9]*", size):
        raise ProtocolError(f"tree size is not a decimal without leading zeros: {size!r}")
    root_bytes = base64.b64decode(root, validate=True)
    if len(root_bytes) != 32:
        raise ProtocolError("root hash is not 32 bytes")
    if origin != key.name:
        raise ProtocolError("the key name is the origin (SPEC section 4)")
    state = None
    for extension in fields[3:-1]:
        if extension.startswith("state ") and state is None:
            state = base64.b64decode(extension[len("state ") :], validate=True)
            if len(state) != 32:
                raise ProtocolError("the state root is not 32 bytes")
    return Checkpoint(origin, int(size), root_bytes, text, state)


# --- SPEC section 5: the state map, written from its text alone ---------------------------------

EMPTY = bytes(32)


def state_path(key: str) -> bytes:
    return sha256(key.encode("utf-8"))


def state_leaf(path: bytes, value_hash: bytes) -> bytes:
    return sha256(b"\x02" + path + value_hash)


def state_node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x03" + left + right)


def bit(path: bytes, i: int) -> int:
    return (path[i // 8] >> (7 - i % 8)) & 1


def state_root(records: dict[str, Any]) -> bytes:
    """The root of a set of records by SPEC section 5's recursive definition."""

    def root(items: list[tuple[bytes, bytes]], d: int) -> bytes:
        if not items:
            return EMPTY
        if len(items) == 1:
            return state_leaf(*items[0])
        return state_node(
            root([x for x in items if bit(x[0], d) == 0], d + 1),
            root([x for x in items if bit(x[0], d) == 1], d + 1),
        )

    return root([(state_path(k), sha256(jcs(v))) for k, v in records.items()], 0)


def fold_state_proof(proof: dict[str, Any]) -> bytes:
    """h(0) of a proof `{"tree_size", "key", "value", "siblings", "other"}` (SPEC section 5)."""
    if set(proof) != {"tree_size", "key", "value", "siblings", "other"}:
        raise ProtocolError(f"a state proof has exactly SPEC's fields, not {sorted(proof)}")
    key, siblings = proof["key"], [bytes.fromhex(s) for s in proof["siblings"]]
    if len(siblings) > 256 or any(len(s) != 32 for s in siblings):
        raise ProtocolError("at most 256 siblings of 32 bytes")
    path, depth = state_path(key), len(siblings)
    if proof["value"] is not None:
        if proof["other"] is not None:
            raise ProtocolError("a present key's proof has no other record")
        h = state_leaf(path, sha256(jcs(proof["value"])))
    elif proof["other"] is not None:
        other = proof["other"]
        other_path = state_path(other["key"])
        if other["key"] == key or any(bit(other_path, i) != bit(path, i) for i in range(depth)):
            raise ProtocolError("the other record must be another key sharing the first D bits")
        h = state_leaf(other_path, bytes.fromhex(other["value_hash"]))
    else:
        h = EMPTY
    for i in range(depth - 1, -1, -1):
        h = state_node(siblings[i], h) if bit(path, i) else state_node(h, siblings[i])
    return h
