"""The run config: every bad field raises a ConfigError naming it; good configs normalise."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.core.errors import ConfigError
from app.core.runconfig import Limits, parse_run

BASE = {"dataset": "line", "model": "linear"}


def error(raw, limits: Limits = Limits(), resolver=None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_run(raw, limits, resolver)
    assert str(info.value).startswith(f"{info.value.field}: ") or not info.value.field
    return info.value


@pytest.mark.parametrize(("changes", "field"), [
    # unknown fields and names
    ({"colour": "red"}, "colour"),
    ({"dataset": "iris"}, "dataset"),
    ({"dataset": 3}, "dataset"),
    ({"model": "transformer"}, "model"),
    ({"model": None}, "model"),
    ({"optimizer": "lbfgs"}, "optimizer"),
    ({"loss": "hinge"}, "loss"),
    # combinations that do not fit
    ({"model": "logistic"}, "dataset"),  # a probability model needs 0/1 labels
    ({"loss": "cross-entropy"}, "loss"),
    ({"model": "point"}, "model"),
    ({"dataset": "cats-dogs", "model": "neuron2"}, "model"),
    ({"dataset": "and", "model": "linear"}, "model"),
    ({"dataset": "and", "model": "tanh-net"}, "model"),
    ({"dataset": "rosenbrock"}, "model"),
    ({"dataset": "rosenbrock", "model": "point", "loss": "mse"}, "loss"),
    ({"dataset": "rosenbrock", "model": "point", "batch_size": 4}, "batch_size"),
    # learning rate
    ({"learning_rate": 0}, "learning_rate"),
    ({"learning_rate": -0.1}, "learning_rate"),
    ({"learning_rate": 10.5}, "learning_rate"),
    ({"learning_rate": "0.1"}, "learning_rate"),
    ({"learning_rate": True}, "learning_rate"),
    ({"learning_rate": float("nan")}, "learning_rate"),
    ({"learning_rate": float("inf")}, "learning_rate"),
    # epochs
    ({"epochs": 0}, "epochs"),
    ({"epochs": 10_001}, "epochs"),
    ({"epochs": "100"}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"epochs": float("nan")}, "epochs"),
    # batch size (line: 80 training rows)
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 81}, "batch_size"),
    ({"batch_size": "8"}, "batch_size"),
    ({"batch_size": False}, "batch_size"),
    # seed
    ({"seed": -1}, "seed"),
    ({"seed": True}, "seed"),
    ({"seed": 2**32}, "seed"),
    # start
    ({"start": [1.0]}, "start"),
    ({"start": [1.0, 2.0, 3.0]}, "start"),
    ({"start": "origin"}, "start"),
    ({"start": 1.0}, "start"),
    ({"start": [1.0, float("nan")]}, "start[1]"),
    ({"start": [float("-inf"), 1.0]}, "start[0]"),
    ({"start": ["1", 2]}, "start[0]"),
    ({"start": [True, 2]}, "start[0]"),
    ({"start": [2e6, 0]}, "start[0]"),
    # stopping
    ({"stop": {"patience": 3}, "dataset_options": {"validation_split": 0}}, "stop.patience"),
    ({"stop": {"patience": 0}}, "stop.patience"),
    ({"stop": {"tolerance": 0}}, "stop.tolerance"),
    ({"stop": {"target_loss": float("inf")}}, "stop.target_loss"),
    ({"stop": {"target_loss": "low"}}, "stop.target_loss"),
    ({"stop": {"when": "bored"}}, "stop.when"),
    ({"stop": [1]}, "stop"),
    # options
    ({"optimizer_options": {"warp": 9}}, "optimizer_options.warp"),
    ({"optimizer": "adam", "optimizer_options": {"momentum": 0.5, "beta": 1}},
     "optimizer_options.beta"),
    ({"optimizer_options": {"momentum": 1.0}}, "optimizer_options.momentum"),
    ({"optimizer_options": "fast"}, "optimizer_options"),
    ({"optimizer_options": [["momentum", 0.9]]}, "optimizer_options"),
    ({"optimizer_options": []}, "optimizer_options"),
    ({"dataset_options": [["n", 5]]}, "dataset_options"),
    ({"loss": ["mse"]}, "loss"),
    ({"batch_size": [8]}, "batch_size"),
    ({"start": {"w": 1, "b": 2}}, "start"),
    ({"dataset_options": {"n": "many"}}, "dataset_options.n"),
    ({"dataset_options": {"noise": float("nan")}}, "dataset_options.noise"),
    ({"dataset_options": {"validation_split": 0.95}}, "dataset_options.validation_split"),
    ({"record_batches": 1}, "record_batches"),
])
def test_bad_field_is_named(changes, field):
    e = error({**BASE, **changes})
    assert e.field == field, e


def test_patience_without_validation_on_a_gate():
    assert error({"dataset": "and", "model": "neuron", "stop": {"patience": 2}}).field == \
        "stop.patience"


def test_missing_and_non_object():
    assert error({"model": "linear"}).field == "dataset"
    assert error({"dataset": "line"}).field == "model"
    assert error(["line"]).field == ""
    assert error(None).field == ""


def test_limits_are_configurable():
    assert error({**BASE, "learning_rate": 2.0}, Limits(max_learning_rate=1.0)).field == \
        "learning_rate"
    assert error({**BASE, "epochs": 51}, Limits(max_epochs=50)).field == "epochs"
    assert error({**BASE, "start": [0, 11]}, Limits(max_start=10)).field == "start[1]"
    assert parse_run({**BASE, "learning_rate": 10, "epochs": 10_000}).epochs == 10_000


def test_incompatible_messages_say_why():
    assert "probability" in error({**BASE, "loss": "cross-entropy"}).message
    assert "test functions" in error({**BASE, "model": "point"}).message
    assert "1 feature" in error({"dataset": "cats-dogs", "model": "neuron2"}).message


def test_defaults_are_filled_and_the_config_normalised():
    run = parse_run(dict(BASE))
    cfg = run.config
    assert cfg == {
        "dataset": "line",
        "dataset_options": {"n": 100, "noise": 0.5, "seed": 0, "slope": 2.0, "intercept": 1.0,
                            "validation_split": 0.2},
        "model": "linear",
        "loss": "mse",
        "optimizer": "sgd",
        "optimizer_options": {"momentum": 0.0, "dampening": 0.0, "nesterov": False,
                              "weight_decay": 0.0},
        "learning_rate": 0.1,
        "batch_size": None,
        "epochs": 100,
        "start": [-2.0, -2.5],
        "seed": 0,
        "stop": {"target_loss": None, "tolerance": None, "patience": None},
        "record_batches": False,
        "learning_rate_changes": [],
    }
    json.loads(json.dumps(cfg, allow_nan=False))
    assert run.batch_size == run.dataset.n == 80
    assert run.param_names == ("w", "b")
    # the normalised config parses to the same run
    again = parse_run(cfg)
    assert again.config == cfg


def test_default_loss_follows_the_model():
    assert parse_run({"dataset": "and", "model": "neuron"}).loss.name == "cross-entropy"
    assert parse_run({"dataset": "tanh", "model": "tanh-net"}).loss.name == "mse"
    fn = parse_run({"dataset": "saddle", "model": "point"})
    assert fn.loss is None and fn.config["loss"] == "value" and fn.batch_size == 0
    np.testing.assert_array_equal(fn.start, [1.5, 0.001])


def test_numbers_given_as_integers_and_integral_floats_are_accepted():
    run = parse_run({**BASE, "learning_rate": 1, "epochs": 20.0, "batch_size": 8,
                     "start": [1, -2]})
    assert run.learning_rate == 1.0 and isinstance(run.learning_rate, float)
    assert run.epochs == 20 and isinstance(run.epochs, int)
    assert run.config["batch_size"] == 8 and run.batch_size == 8
    assert run.start.dtype == np.float64


def test_full_batch_spelled_out():
    assert parse_run({**BASE, "batch_size": "full"}).config["batch_size"] is None
    assert parse_run({**BASE, "batch_size": 80}).config["batch_size"] is None


def test_random_start_is_seeded():
    a = parse_run({**BASE, "start": "random", "seed": 9})
    b = parse_run({**BASE, "start": "random", "seed": 9})
    c = parse_run({**BASE, "start": "random", "seed": 10})
    np.testing.assert_array_equal(a.start, b.start)
    assert not np.array_equal(a.start, c.start)
    assert np.all(np.abs(a.start) <= 3.0)
    assert a.config["start"] == [float(v) for v in a.start]
    fn = parse_run({"dataset": "rosenbrock", "model": "point", "start": "random"})
    assert -2.0 <= fn.start[0] <= 2.0 and -1.0 <= fn.start[1] <= 3.0


def test_optimizer_options_kept_across_optimizers():
    run = parse_run({**BASE, "optimizer": "adam",
                     "optimizer_options": {"momentum": 0.9, "betas": [0.8, 0.9]}})
    assert run.config["optimizer_options"] == {"betas": [0.8, 0.9], "eps": 1e-8,
                                               "weight_decay": 0.0, "amsgrad": False}


def test_csv_dataset_through_a_resolver():
    from app.core.datasets import csv_dataset

    data = b"x,y\n1,2\n2,4.1\n3,5.9\n4,8.2\n"
    calls = []

    def resolver(name, options):
        calls.append((name, options))
        return csv_dataset(data, options["validation_split"], options["seed"], name) \
            if name == "mine" else None

    run = parse_run({"dataset": "mine", "model": "linear"}, resolver=resolver)
    assert run.dataset.n == 4 and run.config["dataset"] == "mine"
    assert run.config["dataset_options"] == {"validation_split": 0.0, "seed": 0}
    assert calls == [("mine", {"validation_split": 0.0, "seed": 0})]
    assert error({"dataset": "other", "model": "linear"}, resolver=resolver).field == "dataset"
    assert error({"dataset": "mine", "model": "linear", "dataset_options": {"n": 5}},
                 resolver=resolver).field == "dataset_options.n"
