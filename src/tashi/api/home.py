"""The manager's front page (``/``: where to go) and its API docs (``/docs``), which work
offline: Swagger UI's files are served from the ``swagger-ui-bundle`` package, never
fetched from a CDN by the reader's browser."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from tashi import __version__

API = "/api/v1"
DOCS = "/docs"
ASSETS = "/docs/assets"
OPENAPI = "/openapi.json"

#: What the front page points at: (its key in the JSON answer, path, what it is).
PLACES = (
    ("api", API, "the REST API (a bearer token in the Authorization header; see the docs)"),
    ("docs", DOCS, "the API's documentation, to read and to try calls in (Swagger UI)"),
    ("openapi", OPENAPI, "the API's OpenAPI description, for generating clients"),
    ("health", "/healthz", "health and version, for load balancers (no token)"),
)
LATER = "A web dashboard is planned; until then, the command line: tashi --help."


def install_home(app: FastAPI) -> None:
    """Add ``/``, ``/docs`` and the docs' assets to ``app`` (made with ``docs_url=None``),
    none of them in the OpenAPI description."""
    app.mount(ASSETS, StaticFiles(directory=Path(str(swagger_ui_path))), name="docs-assets")

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        """HTML for a browser; JSON for a client that asks for it."""
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"version": __version__, "dashboard": None,
                                 **{key: path for key, path, _ in PLACES}})
        return HTMLResponse(_page())

    @app.get(DOCS, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI, title=f"{app.title} — API docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png")


def _page() -> str:
    items = "\n".join(f'    <li><a href="{escape(path)}"><code>{escape(path)}</code></a>: '
                      f"{escape(what)}</li>" for _, path, what in PLACES)
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Tashi cluster manager</title></head>
<body>
  <h1>Tashi cluster manager {escape(__version__)}</h1>
  <p>Where to go:</p>
  <ul>
{items}
  </ul>
  <p>{escape(LATER)}</p>
</body>
</html>
"""
