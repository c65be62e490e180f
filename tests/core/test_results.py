"""Results: numpy records and surfaces as strict JSON-ready values and CSV text."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from app.core.objective import Objective
from app.core.results import (
    csv_header,
    epoch_dict,
    finite,
    floats,
    records_csv,
    result_dict,
    surface_dict,
)
from app.core.runconfig import parse_run
from app.core.surface import loss_surface
from app.core.trainer import Epoch, train


def strict_json(obj) -> object:
    def refuse(token):
        raise ValueError(f"non-finite token {token} in JSON")
    return json.loads(json.dumps(obj, allow_nan=False), parse_constant=refuse)


def test_finite_and_floats():
    assert finite(np.float64(1.5)) == 1.5 and type(finite(np.float64(1.5))) is float
    assert finite(float("nan")) is None and finite(-math.inf) is None
    assert floats(np.array([1, 2])) == [1.0, 2.0]
    out = floats(np.array([[1.0, np.nan], [np.inf, -2.0]]))
    assert out == [[1.0, None], [None, -2.0]]
    assert all(type(v) is float for v in floats(np.arange(3.0)))


def test_epoch_dict_fields():
    e = Epoch(3, np.array([1.0, 2.0]), 0.5, None, np.array([0.1, -0.2]), 0.25, 0.1,
              np.array([[1.0, 2.0]]), "max_epochs")
    d = epoch_dict(e)
    assert d == {"epoch": 3, "params": [1.0, 2.0], "loss": 0.5, "val_loss": None,
                 "grad": [0.1, -0.2], "grad_norm": 0.25, "learning_rate": 0.1,
                 "stop_reason": "max_epochs", "batch_params": [[1.0, 2.0]]}
    assert "batch_params" not in epoch_dict(Epoch(0, e.theta, 0.5, 0.7, e.grad, 0.25, 0.1))
    # a non-finite value never reaches the JSON
    bad = Epoch(1, np.array([np.nan, 1.0]), math.inf, math.nan, np.array([1.0, np.inf]), 1.0,
                0.1)
    d = strict_json(epoch_dict(bad))
    assert d["params"] == [None, 1.0] and d["loss"] is None and d["val_loss"] is None


def test_a_whole_run_is_strict_json_and_round_trips():
    run = parse_run({"dataset": "line", "model": "linear", "epochs": 5, "batch_size": 16,
                     "record_batches": True})
    training = train(run)
    records = [epoch_dict(e) for e in training]
    out = strict_json(result_dict(run.config, run.param_names, records, training.stop_reason))
    assert out["param_names"] == ["w", "b"] and out["stop_reason"] == "max_epochs"
    assert len(out["records"]) == 6 and out["config"] == run.config
    assert out["records"][2]["batch_params"][-1] == out["records"][2]["params"]
    assert len(out["records"][2]["batch_params"]) == 5


def test_records_csv_full_precision():
    run = parse_run({"dataset": "line", "model": "linear", "epochs": 4})
    epochs = list(train(run))
    records = [epoch_dict(e) for e in epochs]
    text = records_csv(run.param_names, records)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["epoch", "w", "b", "loss", "val_loss", "grad_w", "grad_b", "grad_norm",
                       "learning_rate", "stop_reason"]
    assert rows[0] == csv_header(run.param_names)
    assert len(rows) == 1 + 5
    for row, e in zip(rows[1:], epochs, strict=True):
        assert int(row[0]) == e.epoch
        assert [float(row[1]), float(row[2])] == e.theta.tolist()  # exact round trip
        assert float(row[3]) == e.loss and float(row[4]) == e.val_loss
        assert [float(row[5]), float(row[6])] == e.grad.tolist()
        assert float(row[7]) == e.grad_norm and float(row[8]) == 0.1
        assert row[9] == (e.stop_reason or "")


def test_records_csv_empty_cells_for_missing_values():
    run = parse_run({"dataset": "saddle", "model": "point", "epochs": 1})
    records = [epoch_dict(e) for e in train(run)]
    rows = list(csv.reader(io.StringIO(records_csv(run.param_names, records))))
    assert rows[1][4] == "" and rows[1][-1] == "" and rows[2][-1] == "max_epochs"


@pytest.mark.parametrize("cfg", [{"dataset": "line", "model": "linear"},
                                 {"dataset": "and", "model": "neuron"}])
def test_surface_dict(cfg):
    run = parse_run(cfg)
    obj = Objective(run.dataset, run.model, run.loss)
    s = loss_surface(obj, resolution=7, start=run.start)
    d = strict_json(surface_dict(s))
    assert d["axes"] == [s.xs.tolist(), s.ys.tolist()]
    assert d["loss"] == s.loss.tolist() and len(d["loss"]) == 7 and len(d["loss"][0]) == 7
    assert d["bounds"] == [list(s.bounds[0]), list(s.bounds[1])]
    assert d["grid_min"] == {"params": s.min_params.tolist(), "loss": s.min_loss}
    if run.model.n_params == 2:
        assert d["plane"] is None and d["param_names"] == ["w", "b"]
    else:
        assert d["plane"] == {"origin": run.start.tolist(), "d1": [1.0, 0.0, 0.0],
                              "d2": [0.0, 1.0, 0.0]}
