"""POST /api/data: a dataset's points (for drawing the data beside the model's fit)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.core.results import floats
from app.core.runconfig import check_fields, resolve_dataset

from ..schemas import DATASET_NAME, dumps, loads
from ..services import ServicesDep
from .runs import ERRORS

router = APIRouter(prefix="/api", tags=["datasets"])


@router.post(
    "/data", summary="The points of a dataset (training and validation rows)",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "The points"},
               **ERRORS},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "required": ["dataset"], "additionalProperties": False,
                   "properties": {"dataset": {"type": "string", **DATASET_NAME},
                                  "dataset_options": {"anyOf": [
                                      {"$ref": "#/components/schemas/DatasetOptions"},
                                      {"type": "null"}]}}}}}}},
)
async def get_data(request: Request, services: ServicesDep) -> Response:
    raw: Any = check_fields(loads(await request.body()), ("dataset", "dataset_options"),
                            ("dataset",), "request")
    ds = await run_in_threadpool(resolve_dataset, raw, services.resolve)
    return Response(dumps({
        "dataset": ds.name, "task": ds.task, "feature_names": list(ds.feature_names),
        "target_name": ds.target_name, "description": ds.description,
        "train": {"X": floats(ds.X), "y": floats(ds.y)},
        "validation": {"X": floats(ds.X_val), "y": floats(ds.y_val)},
    }), media_type="application/json")
