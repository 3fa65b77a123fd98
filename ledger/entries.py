"""Entries: the exact JSON a member signs (SPEC section 2), its canonical bytes, signature and id;
and leaves (SPEC section 3), the entries as the log stores them, and what valuation sees of them.

Pure: JSON values and bytes in, typed `Entry`, `Leaf` or `EntryError` out, no I/O (where a
batch's signatures are checked is `ledger.signatures`'s business). Every object is closed (an
unknown field anywhere is refused, so that no byte escapes the signature's meaning) and every
error names the field and the reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

import valuation
from ledger import jsonstrict
from ledger.errors import EntryError, SignatureError
from valuation import jcs

ENTRY_DOMAIN: Final = b"multitude/entry/v1\n"
VERSION: Final = 1
KINDS: Final = (
    "network.genesis",
    "network.params",
    "member.join",
    "contribution.submit",
    "evaluation.cast",
)
LOG_KINDS: Final = frozenset({"network.genesis", "network.params"})

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
_ORIGIN = re.compile(r"[^\s+]{1,255}")
_DECIMAL = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,9})?")
# SPEC section 2 refuses text holding "U+0000 or other control characters". Here that is
# Unicode's general category Cc, exactly: C0 (U+0000-U+001F, so tab and newline too), DEL
# (U+007F) and C1 (U+0080-U+009F). Format characters (Cf: joiners, bidi marks) are not refused:
# emoji and scripts that need them are legitimate text. "White space", for the rule that text
# must not be empty once trimmed, is what Python's `str.strip()` trims (`str.isspace`: Unicode
# White_Space such as U+00A0 and U+3000, and the separators U+001C-U+001F, controls anyway).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def canonical(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON value (`valuation.jcs`), or the `EntryError` of a value
    that has none."""
    try:
        return jcs.canonical(value)
    except jcs.CanonicalError as exc:
        raise EntryError(f"value has no canonical JSON form: {exc}") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """A validated, signed entry. `data` is the exact JSON object that was signed; `jcs` its
    RFC 8785 bytes, whose SHA-256 is `id`."""

    data: Mapping[str, Any]
    id: str
    jcs: bytes

    def leaf(self, logged_at: str) -> bytes:
        """The leaf bytes of this entry logged at `logged_at`: `leaf_bytes(data, logged_at)`,
        written around the entry's JCS bytes (keys `entry` < `logged_at`)."""
        if _TS.fullmatch(logged_at):  # the log's own clock: ASCII, nothing to escape
            return b'{"entry":' + self.jcs + b',"logged_at":"' + logged_at.encode() + b'"}'
        return b'{"entry":' + self.jcs + b',"logged_at":' + canonical(logged_at) + b"}"

    @property
    def kind(self) -> str:
        return str(self.data["kind"])

    @property
    def author(self) -> str:
        return str(self.data["author"])

    @property
    def seq(self) -> int:
        return int(self.data["seq"])

    @property
    def network(self) -> str:
        return str(self.data["network"])

    @property
    def ts(self) -> str:
        return str(self.data["ts"])

    @property
    def body(self) -> Mapping[str, Any]:
        body: Mapping[str, Any] = self.data["body"]
        return body


# --- field checks -------------------------------------------------------------------------


def _fail(path: str, why: str) -> EntryError:
    return EntryError(f"{path}: {why}")


def _closed(obj: Any, path: str, required: Collection[str], optional: Collection[str] = ()) -> None:
    if not isinstance(obj, dict):
        raise _fail(path, "must be a JSON object")
    if obj.keys() == required:
        return  # the usual case, checked without the set algebra below
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        raise _fail(f"{path}.{unknown[0]}", "unknown field (entries are closed objects)")
    missing = sorted(set(required) - set(obj))
    if missing:
        raise _fail(f"{path}.{missing[0]}", "required field is missing")


def _string(value: Any, path: str, low: int = 1, high: int = 200) -> str:
    """A text field: a string of `low` to `high` code points, with text in it (SPEC section 2)."""
    if not isinstance(value, str):
        raise _fail(path, "must be a string")
    if not low <= len(value) <= high:
        raise _fail(path, f"must be {low} to {high} characters long, not {len(value)}")
    _text(value, path)
    return value


def _text(value: str, path: str) -> None:
    """Refuse control characters (category Cc, see `_CONTROL`) and text that is only white space."""
    control = _CONTROL.search(value)
    if control is not None:
        raise _fail(
            path,
            f"holds the control character U+{ord(control.group()):04X} at position "
            f"{control.start()} (text may not hold Unicode category Cc: U+0000-U+001F, "
            "U+007F-U+009F)",
        )
    if not value.strip():
        raise _fail(path, "is empty once white space is trimmed: it must hold some text")


def _hex64(value: Any, path: str, what: str = "64 lowercase hex characters") -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _fail(path, f"must be {what}")
    return value


def _integer(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, "must be an integer")
    if not low <= value <= high:
        raise _fail(path, f"must be between {low} and {high}")
    return value


def _amount(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise _fail(path, 'must be a non-negative decimal string such as "12.5"')
    return value


def _string_list(value: Any, path: str, check: Callable[[Any, str], Any], limit: int) -> None:
    if not isinstance(value, list):
        raise _fail(path, "must be a list")
    if len(value) > limit:
        raise _fail(path, f"must hold at most {limit} items")
    for i, item in enumerate(value):
        check(item, f"{path}[{i}]")


@lru_cache(maxsize=2 * 1024)  # an entry's ts is read for its shape, then for the clock check
def parse_timestamp(value: str) -> datetime:
    """RFC 3339 UTC with a `Z`, as every time in Multitude."""
    if not _TS.fullmatch(value):
        raise EntryError(f"{value!r} is not an RFC 3339 UTC time such as 2026-11-24T06:32:20.123Z")
    try:
        # The pattern has fixed the shape; fromisoformat checks the calendar and keeps at most
        # 6 digits of the fraction (it drops, never rounds, the rest).
        return datetime.fromisoformat(value)
    except ValueError:
        raise EntryError(f"{value!r} is not a valid date and time") from None


def format_timestamp(moment: datetime) -> str:
    """The log's clock: RFC 3339 UTC with microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


# --- bodies -------------------------------------------------------------------------------


def _genesis_body(body: Any) -> None:
    from ledger.checkpoint import parse_verifier_key

    _closed(body, "body", {"origin", "log_key", "valuation", "founders"})
    if not isinstance(body["origin"], str) or not _ORIGIN.fullmatch(body["origin"]):
        raise _fail("body.origin", "must be 1 to 255 characters with no space and no '+'")
    _text(body["origin"], "body.origin")
    if not isinstance(body["log_key"], str):
        raise _fail("body.log_key", "must be a verifier key string")
    try:
        parse_verifier_key(body["log_key"])
    except Exception as exc:
        raise _fail("body.log_key", f"is not a verifier key: {exc}") from None
    _valuation(body["valuation"], "body.valuation")
    founders = body["founders"]
    if not isinstance(founders, list) or len(founders) > 10_000:
        raise _fail("body.founders", "must be a list of at most 10000 founders")
    for i, founder in enumerate(founders):
        path = f"body.founders[{i}]"
        _closed(founder, path, {"member", "name", "reputation", "tokens"}, {"referrer"})
        _hex64(founder["member"], f"{path}.member", "a public key: 64 lowercase hex characters")
        _string(founder["name"], f"{path}.name", 1, 80)
        _amount(founder["reputation"], f"{path}.reputation")
        _amount(founder["tokens"], f"{path}.tokens")
        if "referrer" in founder:
            _hex64(founder["referrer"], f"{path}.referrer", "a public key")


def _valuation(value: Any, path: str) -> None:
    _closed(value, path, {"algorithm", "params"})
    _string(value["algorithm"], f"{path}.algorithm", 1, 40)
    if not isinstance(value["params"], dict):
        raise _fail(f"{path}.params", "must be a JSON object")


def _params_body(body: Any) -> None:
    _closed(body, "body", {"valuation"})
    _valuation(body["valuation"], "body.valuation")


def _join_body(body: Any) -> None:
    _closed(body, "body", {"name"}, {"referrer"})
    _string(body["name"], "body.name", 1, 80)
    if "referrer" in body:
        _hex64(body["referrer"], "body.referrer", "a member's public key: 64 lowercase hex")


def _submit_body(body: Any) -> None:
    _closed(body, "body", {"title"}, {"type", "uri", "content_hash", "tags", "refs"})
    _string(body["title"], "body.title", 1, 200)
    if "type" in body:
        _string(body["type"], "body.type", 1, 40)
    if "uri" in body:
        _string(body["uri"], "body.uri", 1, 2000)
    if "content_hash" in body:
        _hex64(body["content_hash"], "body.content_hash", "a SHA-256: 64 lowercase hex")
    if "tags" in body:
        _string_list(body["tags"], "body.tags", lambda v, p: _string(v, p, 1, 40), 20)
    if "refs" in body:
        _string_list(body["refs"], "body.refs", lambda v, p: _hex64(v, p, "an entry id"), 100)


def _evaluation_body(body: Any) -> None:
    _closed(body, "body", {"contribution", "value"})
    _hex64(body["contribution"], "body.contribution", "an entry id: 64 lowercase hex")
    _integer(body["value"], "body.value", -1_000_000, 1_000_000)


_BODIES: Final[dict[str, Callable[[Any], None]]] = {
    "network.genesis": _genesis_body,
    "network.params": _params_body,
    "member.join": _join_body,
    "contribution.submit": _submit_body,
    "evaluation.cast": _evaluation_body,
}


# --- the entry ----------------------------------------------------------------------------


def check_shape(data: Any) -> None:
    """Raise `EntryError` unless `data` has the exact shape of a version 1 signed entry."""
    _closed(data, "entry", {"v", "network", "kind", "author", "seq", "ts", "body", "sig"})
    if type(data["v"]) is not int or data["v"] != VERSION:
        raise _fail("entry.v", f"must be {VERSION}")
    _string(data["network"], "entry.network", 1, 64)
    if data["kind"] not in _BODIES:
        raise _fail("entry.kind", f"must be one of {', '.join(KINDS)}")
    _hex64(data["author"], "entry.author", "a public key: 64 lowercase hex characters")
    _integer(data["seq"], "entry.seq", 1, jsonstrict.MAX_SAFE_INTEGER)
    if not isinstance(data["ts"], str):
        raise _fail("entry.ts", "must be a string")
    try:
        parse_timestamp(data["ts"])
    except EntryError as exc:
        raise _fail("entry.ts", str(exc)) from None
    if not isinstance(data["sig"], str) or not _HEX128.fullmatch(data["sig"]):
        raise _fail("entry.sig", "must be 128 lowercase hex characters")
    _BODIES[data["kind"]](data["body"])


def signing_bytes(data: Mapping[str, Any]) -> bytes:
    """What the author signs: the domain tag, then JCS of the entry without `sig`."""
    return ENTRY_DOMAIN + canonical({k: v for k, v in data.items() if k != "sig"})


def entry_id(data: Mapping[str, Any]) -> str:
    """Hex SHA-256 of JCS of the whole signed entry."""
    return sha256_hex(canonical(dict(data)))


def check_signature(author: str, sig: str, signed: bytes) -> None:
    """Raise `SignatureError` unless hex `sig` is `author`'s Ed25519 signature of `signed`."""
    try:
        holds = _holds(bytes.fromhex(sig) + signed, bytes.fromhex(author))
    except ValueError:  # not hex
        holds = False
    if not holds:
        raise signature_error(author)


def _holds(signed_message: bytes, public_key: bytes) -> bool:
    """Whether `signed_message` (signature, then message) verifies under `public_key`."""
    try:
        crypto_sign_open(signed_message, public_key)
    except (BadSignatureError, ValueError):
        return False
    return True


def signature_error(author: str) -> SignatureError:
    return SignatureError(f"bad signature by {author[:8]}…")


def _signed_forms(data: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """The signed bytes and the JCS of the whole entry, from one canonical pass over an entry
    that `check_shape` accepted.

    Keys sort as author, body, kind, network, seq, sig, ts, v, so the `sig` member goes right
    before the last `,"ts":` (only the checked `ts` and `v` follow it).
    """
    unsigned_entry = {k: v for k, v in data.items() if k != "sig"}
    if data["kind"] in LOG_KINDS:
        unsigned = canonical(unsigned_entry)  # valuation params: open objects
    else:
        # `check_shape` has fixed everything of a member's entry to what `jcs.is_plain` accepts
        # (ASCII keys, strings, ints within ±(2^53 - 1), lists of strings): no need to walk it.
        try:
            unsigned = jcs.dumps_plain(unsigned_entry).encode("utf-8")
        except UnicodeEncodeError:
            unsigned = canonical(unsigned_entry)  # a lone surrogate: let rfc8785 refuse it
    at = unsigned.rindex(b',"ts":')
    whole = unsigned[:at] + b',"sig":"' + data["sig"].encode("ascii") + b'"' + unsigned[at:]
    return ENTRY_DOMAIN + unsigned, whole


def parse_entry(data: Any) -> Entry:
    """Validate shape and signature of a signed entry given as parsed JSON."""
    entry, signed = shaped(data)
    check_signature(entry.author, data["sig"], signed)
    return entry


def shaped(data: Any) -> tuple[Entry, bytes]:
    """The entry, its signature not yet checked, and the bytes its author signed."""
    check_shape(data)
    signed, whole = _signed_forms(data)
    return Entry(data=data, id=sha256_hex(whole), jcs=whole), signed


def forged(items: Sequence[tuple[int, bytes, bytes]]) -> list[int]:
    """The positions in `items` (position, signature + signed bytes, public key) whose
    signature does not verify."""
    return [position for position, message, key in items if not _holds(message, key)]


def sign_entry(
    key: SigningKey,
    *,
    network: str,
    kind: str,
    seq: int,
    body: Mapping[str, Any],
    ts: str | None = None,
) -> dict[str, Any]:
    """Build and sign an entry on the author's machine."""
    data: dict[str, Any] = {
        "v": VERSION,
        "network": network,
        "kind": kind,
        "author": bytes(key.verify_key).hex(),
        "seq": seq,
        "ts": ts or format_timestamp(datetime.now(UTC))[:23] + "Z",
        "body": dict(body),
    }
    data["sig"] = key.sign(signing_bytes(data)).signature.hex()
    return data


# --- leaves -------------------------------------------------------------------------------


def leaf_bytes(data: Mapping[str, Any], logged_at: str) -> bytes:
    """SPEC section 3: JCS({"entry": <signed entry>, "logged_at": ...})."""
    return canonical({"entry": dict(data), "logged_at": logged_at})


@dataclass(frozen=True, slots=True)
class Leaf:
    entry: Entry
    logged_at: str


def parse_leaf(raw: bytes, *, verify: bool = True) -> Leaf:
    """Parse exact leaf bytes back into an entry; the bytes must be their own canonical form."""
    value = jsonstrict.loads(raw)
    _closed(value, "leaf", {"entry", "logged_at"})
    if not isinstance(value["logged_at"], str):
        raise _fail("leaf.logged_at", "must be a string")
    parse_timestamp(value["logged_at"])
    if canonical(value) != raw:
        raise EntryError("leaf bytes are not in canonical (RFC 8785) form")
    entry = parse_entry(value["entry"]) if verify else _unverified(value["entry"])
    return Leaf(entry=entry, logged_at=value["logged_at"])


def stored_leaf(raw: bytes) -> tuple[dict[str, Any], str]:
    """The signed entry and `logged_at` of leaf bytes the log itself stored: just their JSON.

    The log checked them when it appended them (and `multitude check` checks them again), so
    reading them back needs neither their signature nor their canonical form: `parse_leaf` is
    for bytes from elsewhere."""
    leaf = json.loads(raw)
    return leaf["entry"], leaf["logged_at"]


def event(index: int, entry_id: str, data: Mapping[str, Any], logged_at: str) -> valuation.Event:
    """What valuation sees of the signed entry `data`, whose id is `entry_id`, at `index`."""
    return valuation.Event(
        index=index,
        id=entry_id,
        kind=data["kind"],
        author=data["author"],
        logged_at=logged_at,
        body=data["body"],
    )


def event_of(entry: Entry, index: int, logged_at: str) -> valuation.Event:
    return event(index, entry.id, entry.data, logged_at)


def _unverified(data: Any) -> Entry:
    return shaped(data)[0]
