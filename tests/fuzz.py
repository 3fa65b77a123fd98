"""schemathesis against a live server's own /openapi.json: every operation, positive and negative
cases, no 5xx, every response matching its documented status, content type and schema, and
every event stream opening cleanly and staying whole while it is read.

The two POST bodies are read raw (strict JSON), so this adds a loose entry schema to them, for
schemathesis to fuzz bodies too. `GET /v1/events` never ends: its cases are read for a moment
as a browser would, then closed (see `_call_events`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

LOOSE_ENTRY = {
    "type": "object",
    "properties": {
        "v": {"type": "integer"},
        "network": {"type": "string"},
        "kind": {
            "type": "string",
            "enum": ["member.join", "contribution.submit", "evaluation.cast", "network.params"],
        },
        "author": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "seq": {"type": "integer"},
        "ts": {"type": "string"},
        "body": {"type": "object"},
        "sig": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
    },
}
STREAM_SECONDS = 0.3  # how long each event stream is read before the client leaves


def fuzzable(document: dict[str, Any]) -> dict[str, Any]:
    """The server's document, with loose request bodies declared for the two POSTs."""
    paths = document["paths"]
    paths["/v1/entries"]["post"]["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": LOOSE_ENTRY}},
    }
    paths["/v1/entries/batch"]["post"]["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "entries": {"type": "array", "items": LOOSE_ENTRY, "maxItems": 5}
                    },
                    "required": ["entries"],
                }
            }
        },
    }
    return document


@dataclass
class Summary:
    cases: int = 0
    server_errors: int = 0
    streams: int = 0
    failures: list[str] = field(default_factory=list)


def run_schemathesis(base: str, max_examples: int) -> Summary:
    import hypothesis
    import schemathesis
    from schemathesis import checks
    from schemathesis.generation import GenerationMode

    document = httpx.get(f"{base}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(fuzzable(document))
    chosen = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
    ]
    summary = Summary()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.settings(
                max_examples=max_examples,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                summary.cases += 1
                if case.path == "/v1/events":
                    summary.streams += 1
                    _call_events(case, base, summary)
                    return
                response = case.call(base_url=base, timeout=30)
                if response.status_code >= 500:
                    summary.server_errors += 1
                case.validate_response(response, checks=chosen)

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                pass  # no negative case exists for an operation without inputs
            except Exception as exc:
                summary.failures.append(f"{operation.label} ({mode.value}): {str(exc)[:800]}")
    return summary


def _call_events(case: Any, base: str, summary: Summary) -> None:
    """Open the stream the case asks for; a refusal must be a 4xx problem, a stream must start
    with its `retry` line and stay whole (no broken chunk) for as long as it is read."""
    request = case.as_transport_kwargs(base_url=base)
    headers = {
        name: value.encode("latin-1", "replace") if isinstance(value, str) else value
        for name, value in (request.get("headers") or {}).items()
    }
    try:
        with httpx.stream(
            "GET",
            request["url"],
            params=request.get("params"),
            headers=headers,
            timeout=httpx.Timeout(10, read=2 * STREAM_SECONDS),
        ) as response:
            status = response.status_code
            kind = response.headers.get("content-type", "")
            if status >= 500:
                summary.server_errors += 1
            if status == 200:
                assert kind.startswith("text/event-stream"), kind
                lines = response.iter_lines()
                assert next(lines) == "retry: 1000"
                leave = time.monotonic() + STREAM_SECONDS
                try:
                    for _ in lines:
                        if time.monotonic() > leave:
                            break
                except httpx.ReadTimeout:
                    pass  # an idle stream (nothing appended, no keep-alive yet): whole
            else:
                response.read()
                assert 400 <= status < 500, (status, response.text[:300])
                assert kind == "application/problem+json", kind
                assert response.json()["status"] == status
    except httpx.LocalProtocolError:
        pass  # a header httpx will not send (it would not reach the server either)
    except (AssertionError, httpx.HTTPError) as exc:
        summary.failures.append(f"GET /v1/events {request}: {exc!r}"[:800])
