"""POST /api/datasets: upload a CSV; its name is then a dataset in every other call."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.core.errors import ConfigError

from ..schemas import DatasetOut, ErrorOut, dumps
from ..services import ServicesDep

router = APIRouter(prefix="/api", tags=["datasets"])


@router.post(
    "/datasets", summary="Upload a CSV (header row; feature column(s), then the target)",
    response_class=Response, status_code=201,
    responses={201: {"model": DatasetOut, "description": "Stored"},
               413: {"model": ErrorOut, "description": "File too large"},
               415: {"model": ErrorOut, "description": "Not a multipart upload"},
               422: {"model": ErrorOut, "description": "Not a valid CSV (line/column named)"}},
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["file"],
                   "properties": {"file": {"type": "string", "format": "binary"}}}}}}},
)
async def upload_dataset(request: Request, services: ServicesDep) -> Response:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise ConfigError("file", "send the CSV as multipart/form-data in a field named 'file'",
                          "unsupported_media_type")
    limit = services.settings.max_upload_bytes
    try:
        form = await request.form(max_files=1, max_fields=4, max_part_size=limit)
    except Exception as e:  # malformed multipart
        raise ConfigError("file", f"could not read the upload: {e}", "bad_upload") from None
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ConfigError("file", "no file in the field named 'file'", "missing")
        data = await upload.read(limit + 1)
    finally:
        await form.close()
    if len(data) > limit:
        raise ConfigError("file", f"the file is over the limit of {limit / 2**20:g} MiB",
                          "too_large")
    info = await run_in_threadpool(services.store.add, data)
    return Response(dumps(info), status_code=201, media_type="application/json")
