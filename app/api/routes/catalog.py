"""GET /api/catalog: everything the front end builds its menus from."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from app.core.catalog import catalog

from ..schemas import dumps
from ..services import ServicesDep

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get("/catalog", summary="Datasets, models, losses, optimizers, stop criteria, limits",
            response_class=Response,
            responses={200: {"content": {"application/json": {}},
                             "description": "The catalog"}})
def get_catalog(services: ServicesDep) -> Response:
    body = catalog(services.limits)
    s = services.settings
    body["limits"].update({"max_upload_bytes": s.max_upload_bytes,
                           "max_datasets": s.max_datasets, "max_sessions": s.max_sessions,
                           "max_surface_terms": s.max_surface_terms,
                           "max_run_terms": s.max_run_terms,
                           "max_message_bytes": s.max_message_bytes})
    return Response(dumps(body), media_type="application/json")
