"""The API's interactive documentation at `/docs`: Swagger UI, served by this server alone.

FastAPI's own `/docs` page loads Swagger UI from a public CDN, so it is blank on a machine with
no internet, and it starts Swagger UI with an inline script, which a strict
Content-Security-Policy forbids. Here the page is ours: Swagger UI's script and stylesheet come
from the `fastapi-offline` distribution on PyPI (kept up to date with Swagger UI's releases, so
no copy of it lives in this repository), served under `/docs/assets/`, and the page starts it
with a small script of ours, `/docs/init.js`. The CSP below lets the page load nothing from
anywhere else, and run no inline script.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import HTMLResponse, Response

from api.dashboard import HeaderedFiles

ASSETS = Path(str(files("fastapi_offline") / "static"))

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    # Swagger UI (React) sets style attributes on elements; no <style> or script is inline.
    "style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API documentation</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""

# validatorUrl: null, or Swagger UI sends the document to a public validator for a badge.
INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""


def mount(app: FastAPI) -> None:
    """Serve `/docs`, its script and Swagger UI's assets (create the app with `docs_url=None`)."""
    page = PAGE.format(title=app.title)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=HEADERS)

    @app.get("/docs/init.js", include_in_schema=False)
    async def init() -> Response:
        return Response(INIT, media_type="text/javascript", headers=HEADERS)

    app.mount("/docs/assets", HeaderedFiles(HEADERS, directory=ASSETS), name="docs-assets")
