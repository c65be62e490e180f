"""The page, its vendored scripts (Plotly.js from the plotly package), health and API docs.

Everything is served from this machine: the app works offline, /docs and /redoc included
(Swagger UI and ReDoc assets come from the installed fastapi-offline package).
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib.resources import files
from pathlib import Path

import plotly
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from app.config import STATIC_DIR

router = APIRouter(include_in_schema=False)

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
DOCS_ASSETS = Path(str(files("fastapi_offline"))) / "static"
_CACHE = {"cache-control": "public, max-age=86400"}


@router.get("/")
def index(request: Request) -> HTMLResponse:
    templates = request.app.state.templates
    return templates.TemplateResponse(request, "index.html", {})


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """Cheap liveness check, with the number of open streaming sessions and asyncio tasks."""
    import asyncio

    return JSONResponse({"status": "ok", "sessions": request.app.state.services.sessions,
                         "tasks": len(asyncio.all_tasks())})


@router.get("/vendor/plotly.min.js")
def plotly_js(request: Request) -> Response:
    """Plotly.js from the installed plotly package: 4.8 MB, or 1.4 MB gzipped (compressed once)."""
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(_plotly_gzip(), media_type="text/javascript",
                        headers={**_CACHE, "content-encoding": "gzip",
                                 "vary": "accept-encoding"})
    return FileResponse(PLOTLY_JS, media_type="text/javascript",
                        headers={**_CACHE, "vary": "accept-encoding"})


@cache
def _plotly_gzip() -> bytes:
    return gzip.compress(PLOTLY_JS.read_bytes(), compresslevel=6, mtime=0)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml", headers=_CACHE)


_DOC_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
              "redoc.standalone.js": "text/javascript"}


@router.get("/docs-assets/{name}")
def docs_asset(name: str) -> Response:
    if name not in _DOC_FILES:
        return JSONResponse({"error": {"code": "not_found", "message": "no such file",
                                       "field": None}}, status_code=404)
    if name == "redoc.standalone.js":
        return Response(_redoc_js(), media_type=_DOC_FILES[name], headers=_CACHE)
    return FileResponse(DOCS_ASSETS / name, media_type=_DOC_FILES[name], headers=_CACHE)


@cache
def _redoc_js() -> bytes:
    """ReDoc, with the one image it would fetch from its CDN (its logo) served from here."""
    js = (DOCS_ASSETS / "redoc.standalone.js").read_bytes()
    return js.replace(b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"/favicon.ico")


@router.get("/docs")
def swagger(request: Request) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, "docs.html", {})


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, "redoc.html", {})
