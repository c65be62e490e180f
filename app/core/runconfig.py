"""The run config: one JSON shape for the CLI, the REST API and the websocket.

``parse_run(raw)`` checks every field (naming the one at fault in a ConfigError), fills the
defaults, resolves the names in the registries and returns a :class:`Run`, ready to train.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .datasets import CSV_OPTIONS, DATASETS, FUNCTION, Dataset, check_binary_labels
from .errors import ConfigError
from .losses import FUNCTION_LOSS, LOSSES, Loss
from .models import MODELS, SIGMOID, Model
from .optimizers import OPTIMIZERS, Optimizer
from .options import Option, check_float, validate_options


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask for (configurable by the server)."""

    max_epochs: int = 10_000
    max_learning_rate: float = 10.0
    max_resolution: int = 400
    max_start: float = 1e6

    def describe(self) -> dict[str, Any]:
        return {"max_epochs": self.max_epochs, "max_learning_rate": self.max_learning_rate,
                "max_resolution": self.max_resolution, "max_abs_start": self.max_start}


DEFAULTS: dict[str, Any] = {
    "dataset_options": None,
    "loss": None,
    "optimizer": "sgd",
    "optimizer_options": None,
    "learning_rate": 0.1,
    "batch_size": None,
    "epochs": 100,
    "start": None,
    "seed": 0,
    "stop": None,
    "record_batches": False,
    "learning_rate_changes": None,
}
FIELDS = ("dataset", "model", *DEFAULTS)

STOP_OPTIONS = {
    o.name: o
    for o in [
        Option("target_loss", "float", None, "stop once the training loss is at or below this",
               nullable=True),
        Option("tolerance", "float", None, "stop once the gradient norm is below this",
               minimum=0.0, exclusive_minimum=True, nullable=True),
        Option("patience", "int", None, "stop after this many epochs without a better "
               "validation loss", minimum=1, nullable=True),
    ]
}

STOP_REASONS = {
    "max_epochs": "ran all the epochs asked for",
    "target_loss": "reached the target loss",
    "converged": "converged: the gradient norm fell below the tolerance",
    "early_stopping": "stopped early: the validation loss stopped improving",
    "diverged": "diverged: the loss grew past a million times its start or overflowed "
                "— try a smaller learning rate",
    "stopped": "stopped by the user",
}

DatasetResolver = Callable[[str, dict[str, Any] | None], Dataset | None]


@dataclass(frozen=True, eq=False)
class Run:
    """A validated run: the normalised config (JSON-ready) and the objects it names."""

    config: dict[str, Any]
    dataset: Dataset
    model: Model
    loss: Loss | None  # None for a test function
    optimizer: Optimizer
    learning_rate: float
    batch_size: int  # rows per step (n for full batch; 0 for a test function)
    epochs: int
    start: np.ndarray
    seed: int
    target_loss: float | None
    tolerance: float | None
    patience: int | None
    record_batches: bool
    param_names: tuple[str, ...] = field(default=())
    # [(epoch, learning rate)]: from that epoch on, train with that rate (as a mid-run change)
    lr_changes: tuple[tuple[int, float], ...] = ()


def default_start(dataset: Dataset, model: Model) -> tuple[float, ...]:
    if dataset.function is not None:
        return dataset.function.start
    return model.default_start


def _name(raw: dict, key: str, registry: dict, what: str) -> Any:
    value = raw.get(key)
    if not isinstance(value, str):
        raise ConfigError(key, f"must be the name of a {what}, got {value!r}", "type")
    if value not in registry:
        raise ConfigError(key, f"unknown {what} '{value}' (known: {', '.join(registry)})",
                          "unknown_name")
    return registry[value]


def _int(value: Any, field: str, lo: int, hi: int) -> int:
    return Option(field, "int", 0, "", minimum=lo, maximum=hi).validate(value, field)


def resolve_dataset(raw: dict, resolver: DatasetResolver | None) -> Dataset:
    """The dataset a config names: a registry entry, or (through ``resolver``) an uploaded CSV."""
    name = raw.get("dataset")
    options = raw.get("dataset_options")
    if not isinstance(name, str):
        raise ConfigError("dataset", f"must be a dataset name, got {name!r}", "type")
    if name in DATASETS:
        return DATASETS[name].build(options)
    if resolver is not None:
        ds = resolver(name, validate_options(options, CSV_OPTIONS, "dataset_options"))
        if ds is not None:
            return ds
    raise ConfigError("dataset", f"unknown dataset '{name}' (known: {', '.join(DATASETS)}, "
                      "or the name of an uploaded CSV)", "unknown_name")


def check_combination(dataset: Dataset, model: Model, loss: Loss | None) -> None:
    """Raise a clear error when the model does not fit the dataset or the loss the model."""
    if dataset.task == FUNCTION or model.n_features == 0:
        if dataset.task != FUNCTION:
            raise ConfigError("model", f"model '{model.name}' is only for the test functions; "
                              f"'{dataset.name}' is a {dataset.task} dataset", "incompatible")
        if model.name != "point":
            raise ConfigError("model", f"'{dataset.name}' is a test function with no data: "
                              "use model 'point'", "incompatible")
        return
    if dataset.n_features != model.n_features:
        raise ConfigError(
            "model", f"model '{model.name}' takes {model.n_features} input(s); dataset "
            f"'{dataset.name}' has {dataset.n_features} feature column(s) "
            f"({', '.join(dataset.feature_names)})", "incompatible")
    assert loss is not None
    if model.link == SIGMOID:
        check_binary_labels(dataset, f"model '{model.name}' (a probability)")
    elif dataset.task not in model.tasks:
        raise ConfigError("model", f"model '{model.name}' fits {', '.join(model.tasks)} "
                          f"datasets; '{dataset.name}' is a {dataset.task} dataset",
                          "incompatible")
    if loss.needs_sigmoid and model.link != SIGMOID:
        raise ConfigError("loss", f"loss '{loss.name}' needs a model that outputs a probability "
                          f"(logistic, neuron2, neuron); '{model.name}' does not",
                          "incompatible")
    if loss.needs_binary_labels:
        check_binary_labels(dataset, f"loss '{loss.name}'")


def resolve_loss(raw_loss: Any, dataset: Dataset, model: Model) -> Loss | None:
    if dataset.task == FUNCTION:
        if raw_loss not in (None, FUNCTION_LOSS):
            raise ConfigError("loss", f"'{dataset.name}' is a test function: its loss is the "
                              f"function's value (use null or '{FUNCTION_LOSS}')",
                              "incompatible")
        return None
    if raw_loss is None:
        return LOSSES["cross-entropy" if model.link == SIGMOID else "mse"]
    return _name({"loss": raw_loss}, "loss", LOSSES, "loss")


def check_fields(raw: Any, known: tuple[str, ...], required: tuple[str, ...], what: str
                 ) -> dict:
    """``raw`` must be a JSON object with only ``known`` keys and every ``required`` one."""
    if not isinstance(raw, dict):
        raise ConfigError("", f"the {what} must be a JSON object", "type")
    for key in raw:
        if key not in known:
            raise ConfigError(key, f"unknown field (known: {', '.join(known)})",
                              "unknown_field")
    for key in required:
        if key not in raw:
            raise ConfigError(key, "is required", "missing")
    return raw


def _problem(raw: dict, resolver: DatasetResolver | None
             ) -> tuple[Model, Dataset, Loss | None]:
    """The model, dataset and loss a request names, checked to fit together."""
    model: Model = _name(raw, "model", MODELS, "model")
    dataset = resolve_dataset(raw, resolver)
    loss = resolve_loss(raw.get("loss"), dataset, model)
    check_combination(dataset, model, loss)
    return model, dataset, loss


def parse_run(raw: Any, limits: Limits = Limits(),
              resolver: DatasetResolver | None = None) -> Run:
    """Validate a run config (a dict from JSON) and build the run it describes."""
    cfg = {**DEFAULTS, **check_fields(raw, FIELDS, ("dataset", "model"), "run config")}
    model, dataset, loss = _problem(cfg, resolver)

    opt_spec = _name(cfg, "optimizer", OPTIMIZERS, "optimizer")
    opt_options, optimizer = opt_spec.build(cfg["optimizer_options"])

    lr = check_float(cfg["learning_rate"], "learning_rate",
                     Option("learning_rate", "float", 0.1, "", 0.0, limits.max_learning_rate,
                            exclusive_minimum=True))
    epochs = _int(cfg["epochs"], "epochs", 1, limits.max_epochs)
    seed = _int(cfg["seed"], "seed", 0, 2**32 - 1)

    n = dataset.n
    if dataset.task == FUNCTION:
        if cfg["batch_size"] not in (None, "full"):
            raise ConfigError("batch_size", "a test function has no data to batch: use null",
                              "incompatible")
        batch_size = 0
    elif cfg["batch_size"] in (None, "full"):
        batch_size = n
    else:
        batch_size = _int(cfg["batch_size"], "batch_size", 1, n)

    P = model.n_params
    raw_start = cfg["start"]
    if raw_start is None:
        start = np.array(default_start(dataset, model), dtype=np.float64)
    elif raw_start == "random":
        rng = np.random.default_rng([seed, 1])
        if dataset.function is not None:
            (x0, x1), (y0, y1) = dataset.function.bounds
            start = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
        else:
            start = rng.uniform(-3.0, 3.0, P)
    else:
        if not isinstance(raw_start, list | tuple) or len(raw_start) != P:
            raise ConfigError("start", f"must be a list of {P} numbers "
                              f"({', '.join(model.param_names)}), null or \"random\"; "
                              f"got {raw_start!r}", "type")
        bound = Option("start", "float", 0.0, "", -limits.max_start, limits.max_start)
        start = np.array([check_float(v, f"start[{i}]", bound) for i, v in enumerate(raw_start)])

    stop = validate_options(cfg["stop"], STOP_OPTIONS, "stop")
    if stop["target_loss"] is not None and not math.isfinite(stop["target_loss"]):
        raise ConfigError("stop.target_loss", "must be a finite number", "not_finite")
    if stop["patience"] is not None and not dataset.has_validation:
        raise ConfigError("stop.patience", "early stopping needs validation data: set "
                          "dataset_options.validation_split above 0", "incompatible")
    record_batches = cfg["record_batches"]
    if not isinstance(record_batches, bool):
        raise ConfigError("record_batches", f"must be true or false, got {record_batches!r}",
                          "type")

    lr_bound = Option("learning_rate", "float", 0.1, "", 0.0, limits.max_learning_rate,
                      exclusive_minimum=True)
    changes = _lr_changes(cfg["learning_rate_changes"], epochs, lr_bound)

    normalised = {
        "dataset": dataset.name if dataset.name not in DATASETS else cfg["dataset"],
        "dataset_options": _dataset_options(cfg, dataset),
        "model": model.name,
        "loss": loss.name if loss is not None else FUNCTION_LOSS,
        "optimizer": opt_spec.name,
        "optimizer_options": {k: list(v) if isinstance(v, tuple) else v
                              for k, v in opt_options.items()},
        "learning_rate": lr,
        "batch_size": None if batch_size in (0, n) else batch_size,
        "epochs": epochs,
        "start": [float(v) for v in start],
        "seed": seed,
        "stop": stop,
        "record_batches": record_batches,
        "learning_rate_changes": [list(c) for c in changes],
    }
    return Run(normalised, dataset, model, loss, optimizer, lr, batch_size, epochs, start, seed,
               stop["target_loss"], stop["tolerance"], stop["patience"], record_batches,
               model.param_names, changes)


def _lr_changes(raw: Any, epochs: int, bound: Option) -> tuple[tuple[int, float], ...]:
    """[[epoch, learning_rate], ...] with epochs rising within 1..epochs (null: none)."""
    field = "learning_rate_changes"
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise ConfigError(field, "must be a list of [epoch, learning_rate] pairs", "type")
    out: list[tuple[int, float]] = []
    for i, pair in enumerate(raw):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ConfigError(f"{field}[{i}]", "must be [epoch, learning_rate]", "type")
        epoch = _int(pair[0], f"{field}[{i}][0]", 1, epochs)
        if out and epoch <= out[-1][0]:
            raise ConfigError(f"{field}[{i}][0]", "epochs must rise from one change to the "
                              "next", "out_of_range")
        out.append((epoch, check_float(pair[1], f"{field}[{i}][1]", bound)))
    return tuple(out)


def _dataset_options(cfg: dict, dataset: Dataset) -> dict[str, Any]:
    spec = DATASETS.get(cfg["dataset"])
    opts = spec.options if spec is not None else CSV_OPTIONS
    return validate_options(cfg["dataset_options"], opts, "dataset_options")


SURFACE_FIELDS = ("dataset", "dataset_options", "model", "loss", "resolution", "bounds",
                  "plane", "start")


@dataclass(frozen=True, eq=False)
class SurfaceSpec:
    """A validated surface request."""

    key: dict[str, Any]  # the normalised request (a cache key)
    dataset: Dataset
    model: Model
    loss: Loss | None
    resolution: int
    bounds: tuple[tuple[float, float], tuple[float, float]] | None
    plane: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    start: np.ndarray


def parse_surface(raw: Any, limits: Limits = Limits(),
                  resolver: DatasetResolver | None = None) -> SurfaceSpec:
    """Validate a surface request: dataset/model/loss as in a run, plus the grid."""
    from .surface import check_bounds

    check_fields(raw, SURFACE_FIELDS, ("dataset", "model"), "surface request")
    model, dataset, loss = _problem(raw, resolver)
    resolution = _int(raw.get("resolution", 80), "resolution", 2, limits.max_resolution)
    bounds = None if raw.get("bounds") is None else check_bounds(raw["bounds"])
    P = model.n_params
    bound = Option("start", "float", 0.0, "", -limits.max_start, limits.max_start)

    def vector(value: Any, field: str) -> np.ndarray:
        if not isinstance(value, list | tuple) or len(value) != P:
            raise ConfigError(field, f"must be a list of {P} numbers "
                              f"({', '.join(model.param_names)})", "type")
        return np.array([check_float(v, f"{field}[{i}]", bound) for i, v in enumerate(value)])

    start = (np.array(default_start(dataset, model), dtype=np.float64)
             if raw.get("start") is None else vector(raw["start"], "start"))
    plane = None
    if raw.get("plane") is not None:
        p = raw["plane"]
        if not isinstance(p, dict) or set(p) != {"origin", "d1", "d2"}:
            raise ConfigError("plane", "must be {\"origin\": [...], \"d1\": [...], "
                              "\"d2\": [...]}", "type")
        origin, d1, d2 = (vector(p[k], f"plane.{k}") for k in ("origin", "d1", "d2"))
        if not np.any(d1) or not np.any(d2) or np.linalg.matrix_rank(np.stack([d1, d2])) < 2:
            raise ConfigError("plane", "d1 and d2 must be non-zero and not parallel",
                              "out_of_range")
        plane = (origin, d1, d2)
    key = {
        "dataset": dataset.name if dataset.name not in DATASETS else raw["dataset"],
        "dataset_options": _dataset_options({**raw, "dataset_options":
                                             raw.get("dataset_options")}, dataset),
        "model": model.name, "loss": loss.name if loss is not None else FUNCTION_LOSS,
        "resolution": resolution, "bounds": bounds, "start": start.tolist(),
        "plane": None if plane is None else [v.tolist() for v in plane],
    }
    return SurfaceSpec(key, dataset, model, loss, resolution, bounds, plane, start)
