"""Entries: shape, canonical bytes, signatures and ids (SPEC section 2), and strict JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from ledger import jsonstrict
from ledger.entries import (
    ENTRY_DOMAIN,
    Entry,
    canonical,
    entry_id,
    format_timestamp,
    leaf_bytes,
    parse_entry,
    parse_leaf,
    parse_timestamp,
    sign_entry,
)
from ledger.errors import EntryError, MalformedJSONError, SignatureError
from ledger.signatures import SignaturePool, Unverified, shared_pool

KEY = SigningKey(bytes(range(32)))


def signed(kind: str = "contribution.submit", body: Any = None, **fields: Any) -> dict[str, Any]:
    return sign_entry(
        KEY,
        network="demo",
        kind=kind,
        seq=fields.pop("seq", 7),
        body=body if body is not None else {"title": "Translate the onboarding guide", "refs": []},
        ts=fields.pop("ts", "2026-11-24T06:32:20.123Z"),
    )


def test_signature_covers_domain_tag_and_jcs_without_sig() -> None:
    entry = signed()
    unsigned = {k: v for k, v in entry.items() if k != "sig"}
    message = b"multitude/entry/v1\n" + rfc8785.dumps(unsigned)
    assert ENTRY_DOMAIN == b"multitude/entry/v1\n"
    KEY.verify_key.verify(message, bytes.fromhex(entry["sig"]))
    parse_entry(entry)


def test_entry_id_is_sha256_of_jcs_with_sig() -> None:
    entry = signed()
    assert entry_id(entry) == hashlib.sha256(rfc8785.dumps(entry)).hexdigest()
    assert parse_entry(entry).id == entry_id(entry)


def test_a_changed_byte_breaks_the_signature() -> None:
    entry = signed()
    entry["body"]["title"] = "Translate the onboarding guidE"
    with pytest.raises(SignatureError, match="bad signature"):
        parse_entry(entry)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.update(extra=1), "entry.extra"),
        (lambda e: e["body"].update(extra=1), "body.extra"),
        (lambda e: e.pop("ts"), "entry.ts"),
        (lambda e: e.update(seq=0), "entry.seq"),
        (lambda e: e.update(seq=1.5), "entry.seq"),
        (lambda e: e.update(seq=True), "entry.seq"),
        (lambda e: e.update(v=2), "entry.v"),
        (lambda e: e.update(kind="contribution.delete"), "entry.kind"),
        (lambda e: e.update(author=e["author"].upper()), "entry.author"),
        (lambda e: e.update(sig=e["sig"][:-2]), "entry.sig"),
        (lambda e: e.update(ts="2026-11-24 06:32:20Z"), "entry.ts"),
        (lambda e: e.update(ts="2026-11-24T06:32:20+01:00"), "entry.ts"),
        (lambda e: e["body"].update(title=""), "body.title"),
        (lambda e: e["body"].update(title="x" * 201), "body.title"),
        (lambda e: e["body"].update(refs=["ABC"]), "body.refs[0]"),
        (lambda e: e["body"].update(content_hash="0" * 63), "body.content_hash"),
        (lambda e: e["body"].update(tags="tag"), "body.tags"),
    ],
)
def test_malformed_entries_are_refused_naming_the_field(mutate: Any, field: str) -> None:
    entry = signed()
    mutate(entry)
    with pytest.raises(EntryError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_entry(entry)


def test_every_kind_has_a_closed_body() -> None:
    good = {
        "member.join": {"name": "Ann", "referrer": "a" * 64},
        "evaluation.cast": {"contribution": "b" * 64, "value": 1},
        "contribution.submit": {
            "title": "t",
            "type": "article",
            "uri": "https://example.org/a",
            "content_hash": "c" * 64,
            "tags": ["x"],
            "refs": ["d" * 64],
        },
    }
    for kind, body in good.items():
        parse_entry(signed(kind, body))
        with pytest.raises(EntryError, match="unknown field"):
            parse_entry(signed(kind, {**body, "surprise": True}))
    with pytest.raises(EntryError, match=r"body\.name"):
        parse_entry(signed("member.join", {"name": "x" * 81}))
    with pytest.raises(EntryError, match=r"body\.value"):
        parse_entry(signed("evaluation.cast", {"contribution": "b" * 64, "value": "1"}))


_TEXT_FIELDS: list[tuple[str, Any, str]] = [
    # (kind, a body with {} where the text goes, the field's path)
    ("contribution.submit", lambda t: {"title": t}, "body.title"),
    ("contribution.submit", lambda t: {"title": "t", "type": t}, "body.type"),
    ("contribution.submit", lambda t: {"title": "t", "uri": t}, "body.uri"),
    ("contribution.submit", lambda t: {"title": "t", "tags": ["ok", t]}, r"body.tags\[1\]"),
    ("member.join", lambda t: {"name": t}, "body.name"),
]
_BAD_TEXT = [
    "a\x00b",
    "\x00",
    "tab\there",
    "line\n",
    "\x07bell",
    "del\x7f",
    "c1\x85",
    "\x9f",
    "   ",
    "\u3000\u00a0",
    " \t ",
]


@pytest.mark.parametrize("text", _BAD_TEXT)
@pytest.mark.parametrize(("kind", "body", "field"), _TEXT_FIELDS)
def test_text_fields_refuse_control_characters_and_blank_text(
    kind: str, body: Any, field: str, text: str
) -> None:
    with pytest.raises(EntryError, match=field) as refused:
        parse_entry(signed(kind, body(text)))
    assert ("control character U+" in str(refused.value)) == any(
        ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text
    )


@pytest.mark.parametrize("text", _BAD_TEXT)
def test_network_and_genesis_text_refuse_control_characters_and_blank_text(text: str) -> None:
    with pytest.raises(EntryError, match=r"entry\.network"):
        parse_entry(sign_entry(KEY, network=text, kind="member.join", seq=1, body={"name": "A"}))
    from ledger.checkpoint import verifier_key

    public = bytes(KEY.verify_key)
    for body, field in [
        (
            {"founders": [{"member": "a" * 64, "name": text, "reputation": "1", "tokens": "0"}]},
            r"body\.founders\[0\]\.name",
        ),
        ({"valuation": {"algorithm": text, "params": {}}}, r"body\.valuation\.algorithm"),
        ({"origin": "example.org/" + text}, "body.origin"),
    ]:
        genesis = {
            "origin": "example.org/demo",
            "log_key": verifier_key("example.org/demo", public),
            "valuation": {"algorithm": "backfeed/1", "params": {}},
            "founders": [],
            **body,
        }
        with pytest.raises(EntryError, match=field):
            parse_entry(
                sign_entry(KEY, network="demo", kind="network.genesis", seq=1, body=genesis)
            )


@pytest.mark.parametrize(
    "text",
    ["Ann", " padded ", "caf\u00e9", "\U0001f469\u200d\U0001f4bb", "\u05d0\u200f", "\u00a0x"],
)
def test_text_with_letters_and_format_characters_is_accepted(text: str) -> None:
    for kind, body, _ in _TEXT_FIELDS:
        parse_entry(signed(kind, body(text)))


def test_leaf_bytes_round_trip_and_must_be_canonical() -> None:
    entry = signed()
    raw = leaf_bytes(entry, "2026-11-24T06:32:21.000001Z")
    assert raw == rfc8785.dumps({"entry": entry, "logged_at": "2026-11-24T06:32:21.000001Z"})
    leaf = parse_leaf(raw)
    assert leaf.entry.id == entry_id(entry)
    assert leaf.logged_at == "2026-11-24T06:32:21.000001Z"
    spaced = json.dumps({"entry": entry, "logged_at": leaf.logged_at}).encode()
    with pytest.raises(EntryError, match="canonical"):
        parse_leaf(spaced)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"a": 1, "a": 2}', "duplicate"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": 1.0}', "not an integer"),
        (b'{"a": 9007199254740992}', "2\\^53"),
        (b'{"a": "\\ud800"}', "surrogate"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b"[" * 100 + b"]" * 100, "nested"),
        (b'{"a": ', "malformed"),
    ],
)
def test_strict_json_refuses_ambiguous_input(raw: bytes, why: str) -> None:
    with pytest.raises(MalformedJSONError, match=why):
        jsonstrict.loads(raw)


def test_strict_json_accepts_ordinary_documents() -> None:
    assert jsonstrict.loads(b'{"a": [1, -2, "\\u00e9"], "b": null}') == {
        "a": [1, -2, "é"],
        "b": None,
    }


# --- canonical bytes: the fast encoder must write exactly what rfc8785 writes --------------

_ANY_TEXT = st.text(alphabet=st.characters(), max_size=12)  # lone surrogates and astral too
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _ANY_TEXT,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            _ANY_TEXT | st.sampled_from(["\ue000", "\U0001f600", "a\uffff"]), children
        )
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(_JSON)
def test_canonical_is_rfc8785_for_any_json_value(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):  # lone surrogates, > 2^53
        with pytest.raises(EntryError, match="no canonical JSON form"):
            canonical(value)
        return
    assert canonical(value) == expected


def test_canonical_sorts_keys_by_utf16_units_not_code_points() -> None:
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16, which sorts before U+E000.
    value = {"\ue000": 1, "\U0001f600": 2}
    assert canonical(value) == rfc8785.dumps(value)
    assert canonical(value).index("\U0001f600".encode()) < canonical(value).index(b"\xee\x80\x80")


_TEXT = st.characters(blacklist_categories=("Cs", "Cc"))


@settings(max_examples=150, deadline=None)
@given(
    title=st.text(alphabet=_TEXT, min_size=1, max_size=200).filter(str.strip),
    tags=st.lists(st.text(alphabet=_TEXT, min_size=1, max_size=40).filter(str.strip), max_size=3),
)
def test_parsed_entry_bytes_id_and_leaf_are_jcs(title: str, tags: list[str]) -> None:
    entry = signed(body={"title": title, "tags": tags})
    parsed = parse_entry(entry)
    assert parsed.jcs == rfc8785.dumps(entry)
    assert parsed.id == hashlib.sha256(rfc8785.dumps(entry)).hexdigest()
    logged_at = "2026-11-24T06:32:21.000001Z"
    assert parsed.leaf(logged_at) == rfc8785.dumps({"entry": entry, "logged_at": logged_at})


def test_params_entries_with_open_objects_are_jcs_too() -> None:
    body = {
        "valuation": {"algorithm": "backfeed/1", "params": {"ts": "x", ',"ts":': [1, "\ue000"]}}
    }
    entry = signed(kind="network.params", body=body)
    parsed = parse_entry(entry)
    assert parsed.jcs == rfc8785.dumps(entry)
    assert leaf_bytes(entry, "2026-11-24T06:32:21Z") == parsed.leaf("2026-11-24T06:32:21Z")


@pytest.mark.parametrize(
    ("depth", "refused"), [(32, False), (33, True), (5000, True), (10**6, True)]
)
def test_strict_json_nesting_limit(depth: int, refused: bool) -> None:
    raw = "[" * depth + "]" * depth
    if refused:
        with pytest.raises(MalformedJSONError, match="nested deeper than 32"):
            jsonstrict.loads(raw)
    else:
        assert jsonstrict.loads(raw) is not None


@pytest.mark.parametrize(
    "raw",
    ['{"a": ["\\uDc00"]}', '{"\\ud83d": 1}', '{"a": {"b": "x\\uD800y"}}'],
)
def test_strict_json_finds_escaped_lone_surrogates_anywhere(raw: str) -> None:
    with pytest.raises(MalformedJSONError, match="surrogate"):
        jsonstrict.loads(raw)


def test_strict_json_takes_escaped_surrogate_pairs_and_brackets_in_strings() -> None:
    assert jsonstrict.loads('{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}
    deep_text = '"' + "[" * 100 + '\\"' + "{" * 100 + '"'
    assert jsonstrict.loads("[" + deep_text + "]") == [deep_text[1:-1].replace('\\"', '"')]


# --- a batch's signatures, checked by a pool of processes -------------------------------------


def _batch(count: int, forged: set[int]) -> list[dict[str, Any]]:
    batch = [signed(body={"title": f"work {i}"}, seq=i + 1) for i in range(count)]
    for i in forged:
        batch[i]["body"]["title"] += "!"
    return batch


def _verdicts(batch: list[dict[str, Any]], pool: SignaturePool | None = None) -> list[Any]:
    checked = (pool or shared_pool()).check(batch)
    return [c.verified() if isinstance(c, Unverified) else c for c in checked]


class Checkers(Executor):
    """Checks chunks in this process, `lives` of them; then fails as a killed checker does."""

    def __init__(self, lives: int) -> None:
        self.lives = lives

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        if self.lives <= 0:
            future.set_exception(BrokenProcessPool("a checker was killed"))
        else:
            self.lives -= 1
            future.set_result(fn(*args, **kwargs))
        return future


def test_a_large_batch_is_checked_by_the_pool_like_one_entry_at_a_time() -> None:
    batch = _batch(300, forged={0, 63, 64, 299})
    batch[100]["v"] = 1.0  # a float where JCS and Python disagree: refused by shape
    for i, verdict in enumerate(_verdicts(batch)):
        if i in {0, 63, 64, 299}:
            assert isinstance(verdict, SignatureError), i
        elif i == 100:
            assert isinstance(verdict, EntryError) and "entry.v" in str(verdict)
        else:
            assert verdict == parse_entry(batch[i])


def test_a_dead_checker_is_replaced_by_checking_here() -> None:
    started: list[Checkers] = []
    pool = SignaturePool(start=lambda: started.append(Checkers(lives=1)) or started[-1])
    verdicts = _verdicts(_batch(200, forged={7, 150}), pool)  # the second chunk meets death
    assert [i for i, v in enumerate(verdicts) if isinstance(v, SignatureError)] == [7, 150]
    assert all(isinstance(v, Entry) for i, v in enumerate(verdicts) if i not in {7, 150})
    assert not pool.failed  # it had worked before: a new one is started next time
    assert pool.executor() is not started[0] and len(started) == 2


def test_a_pool_that_never_started_is_not_tried_again() -> None:
    pool = SignaturePool(start=lambda: Checkers(lives=0))
    verdicts = _verdicts(_batch(200, forged={3}), pool)  # checked here, all the same
    assert isinstance(verdicts[3], SignatureError)
    assert all(isinstance(v, Entry) for i, v in enumerate(verdicts) if i != 3)
    assert pool.failed and pool.executor() is None


@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    ),
    digits=st.integers(0, 9),
    extra=st.integers(0, 999),
)
def test_timestamps_read_back_what_they_say_to_the_microsecond(
    moment: datetime, digits: int, extra: int
) -> None:
    written = format_timestamp(moment)
    assert written.endswith("Z") and len(written) == 27 and parse_timestamp(written) == moment
    fraction = f"{moment.microsecond:06d}{extra:03d}"[:digits]
    m = moment
    whole = f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
    text = whole + (f".{fraction}" if digits else "") + "Z"
    kept = int((fraction + "000000")[:6])  # digits beyond the sixth are dropped, not rounded
    assert parse_timestamp(text) == moment.replace(microsecond=kept)


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30T00:00:00Z",
        "2026-11-24T24:00:00Z",
        "2026-11-24T06:32:60Z",
        "2026-11-24T06:32:20+00:00",
        "2026-11-24 06:32:20Z",
        "2026-11-24T06:32:20.Z",
        "2026-11-24T06:32:20.1234567890Z",
        "2026-11-24T06:32:20z",
    ],
)
def test_timestamps_other_than_rfc3339_utc_are_refused(text: str) -> None:
    with pytest.raises(EntryError):
        parse_timestamp(text)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text('[]{}"\\a,:'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("[{a"), inner, max_size=3),
    max_leaves=60,
)


@given(value=_JSON, wraps=st.integers(0, 34))
def test_strict_json_nesting_counts_containers_not_brackets_in_strings(
    value: Any, wraps: int
) -> None:
    for i in range(wraps):
        value = [value] if i % 2 else {"k": value}
    raw = json.dumps(value)
    if _depth(value) > 32:
        with pytest.raises(MalformedJSONError, match="nested deeper than 32"):
            jsonstrict.loads(raw)
    else:
        assert jsonstrict.loads(raw) == value
