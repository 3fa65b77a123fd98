"""Strict JSON: the only way untrusted bytes become Python values in Multitude.

Signed bytes must have exactly one meaning, so we refuse what RFC 8785 (JCS) and I-JSON
(RFC 7493) refuse: duplicate member names, NaN and infinities, numbers that are not exact
integers within ±(2^53 - 1), lone surrogates, invalid UTF-8 and absurd nesting. Floats are
refused outright: no field of ours holds one, and amounts travel as decimal strings.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ledger.errors import MalformedJSONError
from valuation.jcs import MAX_SAFE_INTEGER as MAX_SAFE_INTEGER

MAX_DEPTH = 32

_SURROGATE = re.compile("[\ud800-\udfff]")
# Valid UTF-8 decodes to no surrogate; one can only come from a `\uD8xx`-`\uDFxx` escape.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise MalformedJSONError(
                f"duplicate member name {key!r}: the signed bytes would be ambiguous"
            )
        obj[key] = value
    return obj


def _refuse_constant(name: str) -> Any:
    raise MalformedJSONError(f"{name} is not a JSON number")


def _refuse_float(text: str) -> Any:
    raise MalformedJSONError(f"number {text[:40]} is not an integer: amounts are decimal strings")


def _parse_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise MalformedJSONError(f"integer {text[:40]} is beyond ±(2^53 - 1)")
    return value


def _check(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise MalformedJSONError(f"JSON nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise MalformedJSONError(
                "string holds a lone surrogate, which is not a Unicode character"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                raise MalformedJSONError("member name holds a lone surrogate")
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


def loads(data: bytes | str) -> Any:
    """Parse one JSON document strictly; raise `EntryError` with the reason otherwise."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJSONError(f"body is not valid UTF-8 (byte {exc.start})") from None
    else:
        text = data
    try:
        value = json.loads(
            text,
            object_pairs_hook=_refuse_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_refuse_float,
            parse_int=_parse_int,
        )
    except MalformedJSONError:
        raise
    except RecursionError:
        raise MalformedJSONError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise MalformedJSONError(f"malformed JSON: {exc}") from None
    # The parser stops hostile nesting itself (RecursionError); our limit is checked on the
    # tree, whose containers alone are visited, and only when the text has brackets enough.
    # The strings are visited only when an escape may have made a lone surrogate.
    if text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(value):
        raise MalformedJSONError(f"JSON nested deeper than {MAX_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(text):
        _check(value, 0)
    return value


def _too_deep(value: Any) -> bool:
    """Whether objects and arrays nest more than `MAX_DEPTH` deep in `value`."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        container, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        for item in container.values() if isinstance(container, dict) else container:
            if isinstance(item, dict | list):
                stack.append((item, depth + 1))
    return False
