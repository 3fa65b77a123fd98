"""RFC 8785 (JCS): the canonical JSON under every hash and signature of Multitude, written once.

Entries, leaves, the state map's record values (and so the audit bundle's `state.jsonl`) and the
state digest are all JCS bytes, and all of them are written here. Where the standard library's
sorted, compact, non-ASCII-escaping encoder writes exactly what JCS writes (`is_plain`), it does
the work, faster than the `rfc8785` package; anything else (floats, where JCS writes `1.0` as
`1`; keys whose UTF-16 order differs from their code-point order; integers beyond
±(2^53 - 1)) goes to `rfc8785` itself. Imports only the standard library and `rfc8785`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

import rfc8785

MAX_SAFE_INTEGER: Final = 2**53 - 1  # I-JSON's exact integers, which JCS writes as they are
_PLAIN_DEPTH: Final = 32  # deeper values are left to rfc8785

dumps_plain = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
"""The standard library's sorted, compact encoding: JCS's own text when `is_plain(value)`, and
only then. For a caller that has already fixed its value's shape (and says so)."""


class CanonicalError(ValueError):
    """A value that has no JCS form: a lone surrogate, a non-finite float, a key that is not a
    string, a value that is not JSON."""


def canonical(value: Any) -> bytes:
    """The RFC 8785 (JCS) bytes of a JSON value; `CanonicalError` if it has none."""
    if is_plain(value):
        try:
            return dumps_plain(value).encode("utf-8")
        except (UnicodeEncodeError, RecursionError, ValueError):
            pass  # lone surrogates and absurd nesting: let rfc8785 say what is wrong
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError) as exc:
        raise CanonicalError(str(exc)) from None


def canonical_chunks(value: Any, depth: int = 2) -> Iterator[bytes]:
    """`canonical(value)` in pieces: the members of objects down to `depth` one by one, so that
    the JCS bytes of a large document (the state) are hashed, written or compared without ever
    being held whole. Keys must be ASCII, whose sorted order is JCS's."""
    if depth == 0 or not isinstance(value, Mapping):
        yield canonical(value)
        return
    yield b"{"
    for number, key in enumerate(sorted(value)):
        yield (b"," if number else b"") + canonical(key) + b":"
        yield from canonical_chunks(value[key], depth - 1)
    yield b"}"


def is_plain(value: Any, depth: int = 0) -> bool:
    """Whether `dumps_plain(value)` writes the JCS bytes of `value`.

    Strings are escaped alike by both (the short escapes, other controls as lowercase
    `\\u00xx`, nothing else); integers within ±(2^53 - 1) are written alike. Keys must be
    strings whose code-point order is JCS's UTF-16 order, which holds unless a key mixes
    characters from U+E000-U+FFFF and beyond U+FFFF: keys below U+E000 are enough.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if depth > _PLAIN_DEPTH:
        return False
    if kind is dict:
        if not all(type(key) is str for key in value):
            return False
        keys = "".join(value)
        if not keys.isascii() and max(keys) >= "\ue000":
            return False
        return all(is_plain(item, depth + 1) for item in value.values())
    if kind is list:
        return all(is_plain(item, depth + 1) for item in value)
    return False
