"""The catalog: built from the registries, and its compatibility lists agree with parse_run."""

from __future__ import annotations

import json

import pytest

from app.core.catalog import catalog, compatibility
from app.core.datasets import DATASETS
from app.core.errors import ConfigError
from app.core.losses import LOSSES
from app.core.models import MODELS
from app.core.optimizers import OPTIMIZERS
from app.core.runconfig import Limits, parse_run


def parses(cfg: dict) -> bool:
    try:
        parse_run(cfg)
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize("model", list(MODELS))
def test_listed_datasets_are_exactly_those_that_parse(model):
    fits = compatibility()[model]
    for dataset in DATASETS:
        assert parses({"dataset": dataset, "model": model}) is (dataset in fits["datasets"]), \
            dataset
    assert fits["datasets"], model


@pytest.mark.parametrize("model", list(MODELS))
def test_listed_losses_are_exactly_those_that_parse(model):
    fits = compatibility()[model]
    dataset = fits["datasets"][0]
    for loss in [*LOSSES, "value"]:
        assert parses({"dataset": dataset, "model": model, "loss": loss}) is \
            (loss in fits["losses"]), loss
    # the first listed loss is the default
    assert parse_run({"dataset": dataset, "model": model}).config["loss"] == fits["losses"][0]


def test_catalog_is_strict_json_and_complete():
    c = catalog(Limits(max_epochs=123))
    text = json.dumps(c, allow_nan=False)
    assert json.loads(text) == c
    assert [d["name"] for d in c["datasets"]] == list(DATASETS)
    assert [m["name"] for m in c["models"]] == list(MODELS)
    assert [o["name"] for o in c["optimizers"]] == list(OPTIMIZERS)
    assert c["limits"]["max_epochs"] == 123
    line = next(d for d in c["datasets"] if d["name"] == "line")
    assert line["n"] == 80 and line["n_validation"] == 20 and "linear" in line["models"]
    rosen = next(d for d in c["datasets"] if d["name"] == "rosenbrock")
    assert rosen["minima"] == [[1.0, 1.0]] and rosen["models"] == ["point"]
