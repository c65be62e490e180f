"""Wire shapes: pydantic models that document the API, and the JSON encoding of responses.

Requests are validated by the core (``app.core.runconfig``), the one validator that the CLI,
REST and the websocket share, so every interface gives the same message naming the same
field. The models below describe those shapes for the OpenAPI schema and /docs.

Numpy values become plain Python values in ``app.core.results``; this module turns them into
strict JSON (``dumps``): a non-finite float can never become a NaN/Infinity token.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from app.core.datasets import CSV_OPTIONS, DATASETS
from app.core.errors import ConfigError
from app.core.losses import FUNCTION_LOSS, LOSSES
from app.core.models import MODELS
from app.core.optimizers import OPTIMIZERS
from app.core.options import Option

# --- JSON in and out --------------------------------------------------------------------------


def dumps(obj: Any) -> bytes:
    """Strict JSON bytes (orjson writes a non-finite float as null, never as NaN)."""
    return orjson.dumps(obj)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON (numbers must be finite)")


def loads(text: str | bytes, field: str = "") -> Any:
    """Parse strict JSON; malformed input raises ConfigError (code malformed_json)."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        msg = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
        raise ConfigError(field, f"malformed JSON: {msg}", "malformed_json") from None


def error_body(e: ConfigError) -> dict[str, Any]:
    return {"error": {"code": e.code, "message": e.message, "field": e.field or None}}


# --- documented shapes ------------------------------------------------------------------------

_F = ConfigDict(extra="forbid")
# A built-in dataset, or an uploaded CSV's name (as returned by POST /api/datasets).
DATASET_NAME = {"anyOf": [{"enum": list(DATASETS)}, {"pattern": "^csv-[0-9a-f]{16}$"}]}


def _option_schema(options: list[Option]) -> dict[str, Any]:
    """The JSON Schema of one option name (the loosest bounds where registries differ)."""
    o = options[0]
    lows = [(x.minimum, x.exclusive_minimum) for x in options]
    highs = [(x.maximum, x.exclusive_maximum) for x in options]
    bounds: dict[str, Any] = {}
    if all(lo is not None for lo, _ in lows):
        lo, exclusive = min(lows, key=lambda b: (b[0], b[1]))  # an inclusive bound is looser
        bounds["exclusiveMinimum" if exclusive else "minimum"] = lo
    if all(hi is not None for hi, _ in highs):
        hi, exclusive = max(highs, key=lambda b: (b[0], not b[1]))
        bounds["exclusiveMaximum" if exclusive else "maximum"] = hi
    if o.kind == "bool":
        schema: dict[str, Any] = {"type": "boolean"}
    elif o.kind == "pair":
        schema = {"type": "array", "items": {"type": "number", **bounds},
                  "minItems": 2, "maxItems": 2}
    else:
        schema = {"type": "integer" if o.kind == "int" else "number", **bounds}
    if any(x.nullable for x in options):
        schema = {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "description": o.description}


def _from_registry(*specs: dict[str, Option]):
    """json_schema_extra: the properties of an options object, from the core's registries
    (the same Option objects that validate requests), so the docs cannot drift from them."""
    by_name: dict[str, list[Option]] = {}
    for spec in specs:
        for name, option in spec.items():
            by_name.setdefault(name, []).append(option)

    def extra(schema: dict[str, Any]) -> None:
        schema["properties"] = {n: _option_schema(opts) for n, opts in by_name.items()}
        schema["additionalProperties"] = False

    return extra


class DatasetOptions(BaseModel):
    """Options of a generated dataset (each takes a subset; see /api/catalog). Omit an
    option for its default."""

    model_config = ConfigDict(json_schema_extra=_from_registry(
        *(d.options for d in DATASETS.values()), CSV_OPTIONS))


class OptimizerOptions(BaseModel):
    """Hyper-parameters with PyTorch's names and defaults (each optimizer takes a subset; see
    /api/catalog). Omit an option for its default."""

    model_config = ConfigDict(json_schema_extra=_from_registry(
        *(o.options for o in OPTIMIZERS.values())))


class StopCriteria(BaseModel):
    model_config = _F
    target_loss: float | None = Field(None, description="stop at or below this training loss")
    tolerance: float | None = Field(None, gt=0, description="stop when |gradient| < this")
    patience: int | None = Field(None, ge=1, description="epochs without a better val loss")


class RunConfig(BaseModel):
    """A training run. Every field but dataset and model has a default."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "dataset": "line", "dataset_options": {"n": 100, "noise": 0.5, "seed": 0,
                                               "validation_split": 0.2},
        "model": "linear", "loss": "mse", "optimizer": "sgd",
        "optimizer_options": {"momentum": 0.0}, "learning_rate": 0.1, "batch_size": None,
        "epochs": 100, "start": [0.0, 0.0], "seed": 0,
        "stop": {"target_loss": None, "tolerance": None, "patience": None}}]})
    dataset: str = Field(description="a dataset name from /api/catalog, or an uploaded CSV's",
                         json_schema_extra=DATASET_NAME)
    dataset_options: DatasetOptions | None = None
    model: str = Field(json_schema_extra={"enum": list(MODELS)})
    loss: str | None = Field(None, description="null: the model's natural loss",
                             json_schema_extra={"enum": [*LOSSES, FUNCTION_LOSS, None]})
    optimizer: str = Field("sgd", json_schema_extra={"enum": list(OPTIMIZERS)})
    optimizer_options: OptimizerOptions | None = None
    learning_rate: float = Field(0.1, gt=0, le=10)
    batch_size: int | Literal["full"] | None = Field(None, ge=1,
                                                     description="null: the whole training set")
    epochs: int = Field(100, ge=1)
    start: list[float] | Literal["random"] | None = Field(
        None, description="null: the model's default start; 'random': seeded random")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    stop: StopCriteria | None = None
    record_batches: bool = Field(False, description="include params after each mini-batch")
    learning_rate_changes: list[tuple[Annotated[int, Field(ge=1)],
                                      Annotated[float, Field(gt=0, le=10)]]] | None = Field(
        None, description="[[epoch, learning_rate], ...]: from that epoch on, that rate "
        "(epochs rising); how a run whose rate was changed mid-stream is replayed")


class Record(BaseModel):
    epoch: int
    params: list[float]
    loss: float
    val_loss: float | None
    grad: list[float]
    grad_norm: float
    learning_rate: float
    stop_reason: str | None
    batch_params: list[list[float]] | None = None


class RunResult(BaseModel):
    config: dict[str, Any]
    param_names: list[str]
    records: list[Record]
    stop_reason: str


class Plane(BaseModel):
    model_config = _F
    origin: list[float]
    d1: list[float]
    d2: list[float]


class SurfaceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "dataset": "line", "model": "linear", "loss": "mse", "resolution": 80,
        "bounds": None}]})
    dataset: str = Field(description="a dataset name from /api/catalog, or an uploaded CSV's",
                         json_schema_extra=DATASET_NAME)
    dataset_options: DatasetOptions | None = None
    model: str = Field(json_schema_extra={"enum": list(MODELS)})
    loss: str | None = Field(None, json_schema_extra={"enum": [*LOSSES, FUNCTION_LOSS, None]})
    resolution: int = Field(80, ge=2, le=400)
    bounds: list[list[float]] | None = Field(
        None, description="[[lo, hi] of the x axis, [lo, hi] of the y axis]; null: automatic")
    plane: Plane | None = Field(None, description="for models with more than two parameters")
    start: list[float] | None = Field(None, description="a point the automatic bounds include")


class GridMin(BaseModel):
    params: list[float]
    loss: float


class SurfaceOut(BaseModel):
    param_names: list[str]
    axes: list[list[float]] = Field(description="[xs, ys]")
    loss: list[list[float]] = Field(description="row i is ys[i], column j is xs[j]")
    bounds: list[list[float]]
    grid_min: GridMin
    plane: dict[str, list[float]] | None


class DatasetOut(BaseModel):
    dataset: str
    n: int
    features: list[str]
    target: str
    task: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None


class ErrorOut(BaseModel):
    error: ErrorDetail


DOCUMENTED = [RunConfig, SurfaceRequest, RunResult, SurfaceOut, DatasetOut, ErrorOut,
              DatasetOptions]
