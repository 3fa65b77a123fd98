"""The dashboard: a small single-page app in `api/static/`, served at `/` beside the API.

It reads only the public REST API (`/v1`), so it is also a working example for third-party
dashboards. Everything it loads is ours (no CDN): the Content-Security-Policy below lets the
browser fetch nothing from anywhere else. Call `mount(app)` after every other route is added:
a mount at `/` answers whatever the routes before it did not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The files change with the server's version, not while it runs; revalidate each load.
    "Cache-Control": "no-cache",
}


class HeaderedFiles(StaticFiles):
    """`StaticFiles` that sends the given headers on every file it serves (the dashboard's
    here, /docs' assets in api/docs.py)."""

    def __init__(self, headers: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.headers = headers

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(self.headers)
        return response


def mount(app: FastAPI) -> None:
    """Serve the dashboard at `/` (index.html for `/`); the API stays under `/v1`."""
    app.mount("/", HeaderedFiles(HEADERS, directory=STATIC, html=True), name="dashboard")
