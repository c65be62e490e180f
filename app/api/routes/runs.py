"""POST /api/runs: train a run in one request; JSON result, or CSV with ?format=csv."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.core.results import epoch_dict, records_csv, result_dict
from app.core.trainer import train

from ..schemas import ErrorOut, RunConfig, RunResult, dumps, loads
from ..services import ServicesDep

router = APIRouter(prefix="/api", tags=["runs"])

ERRORS = {400: {"model": ErrorOut, "description": "Malformed JSON"},
          413: {"model": ErrorOut, "description": "Body too large"},
          422: {"model": ErrorOut, "description": "Invalid config (the field is named)"}}


def _train(run) -> tuple[list[dict], str]:
    training = train(run)
    records = [epoch_dict(e) for e in training]
    return records, training.stop_reason


@router.post(
    "/runs", summary="Train a run and return every epoch",
    response_class=Response,
    responses={200: {"model": RunResult, "content": {"text/csv": {}},
                     "description": "The run result (or its records as CSV)"}, **ERRORS},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/RunConfig"}}}}},
)
async def create_run(request: Request, services: ServicesDep,
                     format: Literal["json", "csv"] = Query("json")) -> Response:
    # off the event loop: a large uploaded CSV takes a moment to parse the first time
    run = await run_in_threadpool(services.parse_run, loads(await request.body()))
    records, stop_reason = await run_in_threadpool(_train, run)
    if format == "csv":
        return Response(records_csv(run.param_names, records), media_type="text/csv",
                        headers={"content-disposition": 'attachment; filename="run.csv"'})
    return Response(dumps(result_dict(run.config, run.param_names, records, stop_reason)),
                    media_type="application/json")


DOCUMENTED_BODY = RunConfig
