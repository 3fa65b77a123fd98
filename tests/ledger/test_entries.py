"""Entries: shape, canonical bytes, signatures and ids (SPEC section 2), and strict JSON."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import rfc8785
from nacl.signing import SigningKey

from ledger import jsonstrict
from ledger.entries import (
    ENTRY_DOMAIN,
    entry_id,
    leaf_bytes,
    parse_entry,
    parse_leaf,
    sign_entry,
)
from ledger.errors import EntryError, MalformedJSONError, SignatureError

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
