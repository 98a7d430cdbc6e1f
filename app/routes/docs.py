"""GET /docs: Swagger UI from files installed with the service, so the page works offline (no CDN).

The Swagger UI bundle comes from the `fastapi-offline` distribution (MIT; Swagger UI itself is Apache-2.0)
and is served at `/docs-assets/`. The page has no inline script (the start-up code is `docs-init.js` in
app/static), so the site's Content-Security-Policy holds here too, and it names no other host.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

ASSETS_URL = "/docs-assets"
DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>stylewave API</title>
  <link rel="stylesheet" href="docs-assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs-assets/favicon.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs-assets/swagger-ui-bundle.js"></script>
  <script src="docs-init.js"></script>
</body>
</html>
"""


def assets_dir() -> Path:
    """Where the installed Swagger UI files are (swagger-ui-bundle.js, swagger-ui.css, favicon.png)."""
    return Path(str(importlib.resources.files("fastapi_offline") / "static"))


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui() -> HTMLResponse:
    """The OpenAPI page."""
    return HTMLResponse(DOCS_HTML)
