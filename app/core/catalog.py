"""What can be trained: datasets, models, losses, optimizers, stop criteria and limits.

The catalog is built from the registries themselves (and which combinations fit is found by
the same check that validates a run), so the menus can never disagree with the trainer.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from .datasets import DATASETS, FUNCTION
from .errors import ConfigError
from .losses import FUNCTION_LOSS, LOSSES
from .models import MODELS, SIGMOID
from .optimizers import OPTIMIZERS
from .runconfig import STOP_OPTIONS, STOP_REASONS, Limits, check_combination, default_start


@cache
def compatibility() -> dict[str, dict[str, list[str]]]:
    """For each model: the datasets it fits and the losses it fits (with the default first)."""
    out: dict[str, dict[str, list[str]]] = {}
    built = {name: spec.build(None) for name, spec in DATASETS.items()}
    for mname, model in MODELS.items():
        datasets, losses = [], []
        for dname, ds in built.items():
            try:
                if ds.task == FUNCTION:
                    check_combination(ds, model, None)
                else:
                    check_combination(ds, model, LOSSES["mse"] if model.link != SIGMOID
                                      else LOSSES["cross-entropy"])
            except ConfigError:
                continue
            datasets.append(dname)
        if model.n_features == 0:
            losses = [FUNCTION_LOSS]
        else:
            default = "cross-entropy" if model.link == SIGMOID else "mse"
            losses = [default] + [
                name for name, loss in LOSSES.items()
                if name != default and (not loss.needs_sigmoid or model.link == SIGMOID)
            ]
        out[mname] = {"datasets": datasets, "losses": losses}
    return out


def catalog(limits: Limits = Limits()) -> dict[str, Any]:
    fits = compatibility()
    models = []
    for name, model in MODELS.items():
        d = model.describe()
        d.update(fits[name])
        models.append(d)
    datasets = []
    for name, spec in DATASETS.items():
        d = spec.describe()
        d["models"] = [m for m in MODELS if name in fits[m]["datasets"]]
        ds = spec.build(None)
        d["n"] = ds.n
        d["n_validation"] = int(ds.y_val.shape[0])
        fn = ds.function
        if fn is not None:
            d["minima"] = [list(m) for m in fn.minima]
            d["minimum_value"] = fn.minimum_value
            d["bounds"] = [list(b) for b in fn.bounds]
            d["default_start"] = list(default_start(ds, MODELS["point"]))
        datasets.append(d)
    return {
        "datasets": datasets,
        "models": models,
        "losses": [loss.describe() for loss in LOSSES.values()]
        + [{"name": FUNCTION_LOSS, "title": "The test function's value",
            "formula": "L = f(x, y)", "needs_probability_model": False,
            "needs_binary_labels": False}],
        "optimizers": [spec.describe() for spec in OPTIMIZERS.values()],
        "stop": [o.describe() for o in STOP_OPTIONS.values()],
        "stop_reasons": STOP_REASONS,
        "limits": limits.describe(),
    }
