"""`/docs` works with no internet: the page loads only this server's files, under a strict CSP;
every API response says `X-Content-Type-Options: nosniff`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from ledger.service import Ledger


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(db="sqlite://"), ledger=ledger)) as client:
        yield client


def test_docs_reference_only_local_assets_and_each_is_served(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", page.text)
    assert len(references) == 4, references
    assert all(ref.startswith("/") and not ref.startswith("//") for ref in references), references
    assert "<script>" not in page.text.replace(" ", ""), "no inline script: the CSP forbids it"
    for ref in references:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert len(asset.content) > 100, ref
        expected = {"css": "text/css", "png": "image/png"}.get(ref.rsplit(".")[-1], "javascript")
        assert expected in asset.headers["content-type"], (ref, asset.headers["content-type"])
        assert asset.headers["x-content-type-options"] == "nosniff"
    init = client.get("/docs/init.js").text
    assert '"/openapi.json"' in init and "validatorUrl: null" in init
    assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").text
    assert client.get("/redoc").status_code == 404  # FastAPI's would load from a CDN


def test_docs_have_a_strict_content_security_policy(client: TestClient) -> None:
    csp = client.get("/docs").headers["content-security-policy"]
    directives = dict(d.strip().partition(" ")[::2] for d in csp.split(";") if d.strip())
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "http" not in csp and "*" not in csp


@pytest.mark.parametrize(
    "path",
    ["/v1/log/checkpoint", "/v1/members", "/v1/nothing", "/v1/entries/NOTHEX", "/openapi.json"],
)
def test_every_response_says_nosniff(client: TestClient, path: str) -> None:
    assert client.get(path).headers["x-content-type-options"] == "nosniff"


def test_refusals_and_streams_say_nosniff_too(client: TestClient) -> None:
    assert client.post("/v1/entries", content=b"{").headers["x-content-type-options"] == "nosniff"
    too_large = client.post("/v1/entries/batch", content=b"x" * (9 * 1024 * 1024))
    assert too_large.status_code == 413
    assert too_large.headers["x-content-type-options"] == "nosniff"
    events = client.get("/v1/events", headers={"Last-Event-ID": "null"})
    assert events.status_code == 400 and events.headers["x-content-type-options"] == "nosniff"
