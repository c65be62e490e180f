"""The application: create_app(settings) wires the routers, middleware and error handlers."""

from __future__ import annotations

import contextlib
import gc
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.middleware import BodyLimit, SecurityHeaders
from app.api.routes import catalog, data, datasets, pages, runs, stream, surface
from app.api.schemas import DOCUMENTED, dumps, error_body
from app.api.services import Services
from app.config import STATIC_DIR, TEMPLATES_DIR, Settings, get_settings
from app.core.errors import ConfigError

STATUS = {"malformed_json": 400, "too_large": 413, "unsupported_media_type": 415}

DESCRIPTION = """Train small models by gradient descent and watch the loss surface.

`POST /api/runs` trains a run in one request; `POST /api/surface` computes the loss over a
grid of two parameters; `POST /api/datasets` uploads a CSV; `GET /api/catalog` lists what can
be trained. The websocket `/ws/train` streams a run live (protocol in the README)."""


def _json(body: dict, status: int) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json")


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts)


@pass_context
def _url_for(context: dict, name: str, /, **path_params: str) -> str:
    """Templates' url_for, root-relative: Starlette's gives ``http://host/...``, which breaks
    behind a TLS-terminating proxy (mixed content) and names a host the page never needs."""
    request = context["request"]
    path = request.app.url_path_for(name, **path_params)
    return request.scope.get("root_path", "") + str(path)


def _document_limits(components: dict, settings: Settings) -> None:
    """Write this server's configured limits into the documented request shapes."""
    run = components["RunConfig"]["properties"]
    run["epochs"]["maximum"] = settings.max_epochs
    run["learning_rate"]["maximum"] = settings.max_learning_rate
    components["SurfaceRequest"]["properties"]["resolution"]["maximum"] = settings.max_resolution


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    log = logging.getLogger("descent_lab")
    log.setLevel(settings.log_level.upper())
    if not log.handlers and not logging.getLogger().handlers:
        # uvicorn configures only its own loggers: without this, the app's messages (a slow
        # client closed, a failed run) would be dropped below WARNING.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        log.addHandler(handler)
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # Everything alive now (modules, routes, schemas) lives as long as the process: keep it
        # out of the garbage collector's full passes, which otherwise stall every stream for
        # ~100 ms now and then once hundreds of sessions are open (bench/load_ws.py).
        gc.collect()
        gc.freeze()
        yield

    app = FastAPI(title="Descent Lab", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.services = Services(settings)
    app.state.templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    app.state.templates.env.globals["url_for"] = _url_for

    @app.exception_handler(ConfigError)
    async def config_error(request: Request, e: ConfigError) -> Response:
        return _json(error_body(e), STATUS.get(e.code, 422))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> Response:
        first = e.errors()[0] if e.errors() else {"loc": (), "msg": "invalid request"}
        # The input is not echoed back: it may hold NaN, which is not JSON.
        return _json({"error": {"code": "invalid", "field": _field(first["loc"]) or None,
                                "message": first["msg"]}}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return _json({"error": {"code": code, "field": None, "message": str(e.detail)}},
                     e.status_code)

    for module in (pages, catalog, surface, runs, datasets, data, stream):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in DOCUMENTED:
                s = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(s.pop("$defs", {}))
                components[model.__name__] = s
            _document_limits(components, settings)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi

    if settings.cors and settings.allowed_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.allowed_origins),
                           allow_methods=["GET", "POST"], allow_headers=["content-type"])
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes,
                       upload_limit=settings.max_upload_bytes, upload_paths=("/api/datasets",))
    app.add_middleware(SecurityHeaders)
    return app


app = create_app()
