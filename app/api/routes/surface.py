"""POST /api/surface: the loss over a grid of two parameters (cached)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.core.objective import Objective
from app.core.results import surface_dict
from app.core.surface import Plane, loss_surface

from ..schemas import SurfaceOut, dumps, loads
from ..services import ServicesDep
from .runs import ERRORS

router = APIRouter(prefix="/api", tags=["surface"])


def _compute(spec) -> bytes:
    objective = Objective(spec.dataset, spec.model, spec.loss)
    plane = Plane(*spec.plane) if spec.plane is not None else None
    s = loss_surface(objective, spec.resolution, spec.bounds, plane, spec.start)
    return dumps(surface_dict(s))


@router.post(
    "/surface", summary="The loss surface over a grid of two parameters",
    response_class=Response,
    responses={200: {"model": SurfaceOut, "description": "The grid of losses", "headers": {
        "X-Cache": {"description": "hit: served from the cache of computed surfaces",
                    "schema": {"type": "string", "enum": ["hit", "miss"]}}}}, **ERRORS},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/SurfaceRequest"}}}}},
)
async def create_surface(request: Request, services: ServicesDep) -> Response:
    spec = await run_in_threadpool(services.parse_surface, loads(await request.body()))
    key = dumps(spec.key)
    body = services.surfaces.get(key)
    cache = "hit"
    if body is None:
        body = await run_in_threadpool(_compute, spec)
        services.surfaces.put(key, body)
        cache = "miss"
    return Response(body, media_type="application/json", headers={"x-cache": cache})
