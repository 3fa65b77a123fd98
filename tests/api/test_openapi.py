"""The OpenAPI document is one a client generator can use (issue 17): every route and every
parameter described and tagged, and problems documented as they are sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from ledger.service import Ledger
from tests.helpers import assert_problem

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    app = create_app(Settings(db="sqlite://", events_poll_seconds=0.05), ledger=ledger)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    spec = client.get("/openapi.json").json()
    found = [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]
    assert len(found) >= 21
    return found


def test_every_route_has_a_summary_a_description_and_a_tag(
    operations: list[tuple[str, str, dict[str, Any]]],
) -> None:
    for method, path, op in operations:
        assert op.get("summary"), (method, path)
        assert op.get("description"), (method, path)
        assert op.get("tags"), (method, path)


def test_every_parameter_is_described(operations: list[tuple[str, str, dict[str, Any]]]) -> None:
    for method, path, op in operations:
        for parameter in op.get("parameters", []):
            assert parameter.get("description"), (method, path, parameter["name"])


def test_problems_are_documented_as_problem_json_with_a_schema(
    operations: list[tuple[str, str, dict[str, Any]]],
) -> None:
    for method, path, op in operations:
        errors = {code: r for code, r in op["responses"].items() if code[0] in "45"}
        assert "400" in errors and "4XX" in errors, (method, path)
        for code, response in errors.items():
            assert list(response["content"]) == ["application/problem+json"], (path, code)
            schema = response["content"]["application/problem+json"]["schema"]
            assert set(schema["required"]) == {"type", "title", "status", "detail"}


def test_no_route_documents_the_422_it_never_sends(
    operations: list[tuple[str, str, dict[str, Any]]],
) -> None:
    for method, path, op in operations:
        if method == "GET":
            assert "422" not in op["responses"], path
        assert "HTTPValidationError" not in str(op["responses"]), path


def test_events_documents_and_sends_a_400_problem(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]["/v1/events"]["get"]["responses"]) == {"200", "400", "4XX"}
    assert_problem(client.get("/v1/events", params={"after": "soon"}), 400)
