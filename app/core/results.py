"""The one place where numpy values become plain JSON-ready Python values (and CSV text).

Every float that leaves here is finite (the trainer never yields a non-finite record; the
check below is a last line of defence), so the JSON is strict: no NaN or Infinity tokens.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .surface import Surface
from .trainer import Epoch


def finite(x: float) -> float | None:
    """A Python float, or None where it is not finite."""
    x = float(x)
    return x if math.isfinite(x) else None


def floats(a: np.ndarray) -> list:
    """A numpy array as nested lists of finite floats (non-finite entries become None)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1 and a.shape[0] <= 8:  # a record's params or grad: plain Python is faster
        values = a.tolist()
        return values if all(map(math.isfinite, values)) else _finite_list(a)
    if np.isfinite(a).all():
        return a.tolist()
    return _finite_list(a)


def _finite_list(a: np.ndarray) -> list:
    return [finite(v) if a.ndim == 1 else _finite_list(v) for v in a]


def epoch_dict(e: Epoch) -> dict[str, Any]:
    d: dict[str, Any] = {
        "epoch": e.epoch,
        "params": floats(e.theta),
        "loss": finite(e.loss),
        "val_loss": None if e.val_loss is None else finite(e.val_loss),
        "grad": floats(e.grad),
        "grad_norm": finite(e.grad_norm),
        "learning_rate": e.learning_rate,
        "stop_reason": e.stop_reason,
    }
    if e.batch_thetas is not None:
        d["batch_params"] = floats(e.batch_thetas)
    return d


def result_dict(config: dict[str, Any], param_names: Iterable[str], records: list[dict],
                stop_reason: str | None) -> dict[str, Any]:
    return {"config": config, "param_names": list(param_names), "records": records,
            "stop_reason": stop_reason}


def csv_header(param_names: Iterable[str]) -> list[str]:
    names = list(param_names)
    return (["epoch", *names, "loss", "val_loss", *(f"grad_{p}" for p in names), "grad_norm",
             "learning_rate", "stop_reason"])


def csv_row(r: dict[str, Any]) -> list[Any]:
    def cell(v):
        return "" if v is None else repr(v) if isinstance(v, float) else v
    return [r["epoch"], *map(cell, r["params"]), cell(r["loss"]), cell(r["val_loss"]),
            *map(cell, r["grad"]), cell(r["grad_norm"]), cell(r["learning_rate"]),
            r["stop_reason"] or ""]


def records_csv(param_names: Iterable[str], records: Iterable[dict[str, Any]]) -> str:
    """The records as CSV text with a header row (floats written in full precision)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(csv_header(param_names))
    for r in records:
        w.writerow(csv_row(r))
    return buf.getvalue()


def surface_dict(s: Surface) -> dict[str, Any]:
    out = {
        "param_names": list(s.param_names),
        "axes": [floats(s.xs), floats(s.ys)],
        "loss": floats(s.loss),
        "bounds": [list(s.bounds[0]), list(s.bounds[1])],
        "grid_min": {"params": floats(s.min_params), "loss": finite(s.min_loss)},
        "plane": None,
    }
    if s.plane is not None:
        out["plane"] = {"origin": floats(s.plane.origin), "d1": floats(s.plane.d1),
                        "d2": floats(s.plane.d2)}
    return out
