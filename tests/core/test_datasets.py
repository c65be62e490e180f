"""Datasets: seeded generators, the validation split, and user CSV files (good and bad)."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.datasets import (
    CLASSIFICATION,
    CSV_MAX_ROWS,
    DATASETS,
    FUNCTION,
    REGRESSION,
    csv_dataset,
    csv_name,
    parse_csv,
)
from app.core.errors import ConfigError
from app.core.runconfig import parse_run

# --- generated datasets ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["line", "cats-dogs", "tanh"])
def test_generators_are_seeded(name):
    spec = DATASETS[name]
    a, b = spec.build({"seed": 4}), spec.build({"seed": 4})
    c = spec.build({"seed": 5})
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.X_val, b.X_val)
    assert not np.array_equal(a.X, c.X)
    assert a.X.dtype == np.float64 and a.X.flags.c_contiguous


def test_line_follows_its_formula():
    ds = DATASETS["line"].build({"noise": 0.0, "slope": -1.5, "intercept": 4.0, "n": 30,
                                 "validation_split": 0.0})
    assert ds.n == 30 and ds.X.shape == (30, 1) and ds.task == REGRESSION
    np.testing.assert_allclose(ds.y, -1.5 * ds.X[:, 0] + 4.0, rtol=1e-15)
    assert ds.X.min() >= -2.0 and ds.X.max() <= 2.0


def test_tanh_follows_its_formula():
    ds = DATASETS["tanh"].build({"noise": 0.0, "u": 0.5, "v": -3.0, "validation_split": 0.0})
    np.testing.assert_allclose(ds.y, -3.0 * np.tanh(0.5 * ds.X[:, 0]), rtol=1e-15)


def test_cats_dogs_labels_and_separation():
    ds = DATASETS["cats-dogs"].build({"noise": 0.0, "validation_split": 0.0, "n": 10})
    assert ds.task == CLASSIFICATION and ds.binary_targets
    np.testing.assert_array_equal(ds.y, [1, 0] * 5)
    np.testing.assert_array_equal(ds.X[:, 0], np.where(ds.y == 1, 1.0, -1.0))


@pytest.mark.parametrize(("gate", "labels"), [("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1]),
                                              ("xor", [0, 1, 1, 0])])
def test_gates_are_truth_tables(gate, labels):
    ds = DATASETS[gate].build(None)
    np.testing.assert_array_equal(ds.X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(ds.y, labels)
    assert not ds.has_validation and ds.feature_names == ("x1", "x2")


@pytest.mark.parametrize("split", [0.2, 0.5, 0.9])
def test_validation_split_partitions_the_rows(split):
    full = DATASETS["line"].build({"validation_split": 0.0, "seed": 2})
    part = DATASETS["line"].build({"validation_split": split, "seed": 2})
    assert part.y_val.shape[0] == round(split * 100) and part.n == 100 - round(split * 100)
    together = sorted(zip(np.concatenate([part.X[:, 0], part.X_val[:, 0]]),
                          np.concatenate([part.y, part.y_val]), strict=True))
    assert together == sorted(zip(full.X[:, 0], full.y, strict=True))
    # which rows are held back is the seeded permutation's first ones
    order = np.random.default_rng(2).permutation(100)
    np.testing.assert_array_equal(part.X_val[:, 0], full.X[np.sort(order[:round(split * 100)]),
                                                           0])


def test_validation_split_that_leaves_no_training_rows():
    data = b"x,y\n1,2\n3,4\n"
    with pytest.raises(ConfigError) as info:
        csv_dataset(data, validation_split=0.9)
    assert info.value.field == "dataset_options.validation_split"


@pytest.mark.parametrize("name", ["rosenbrock", "himmelblau", "beale", "saddle", "rastrigin"])
def test_test_functions_have_their_minima(name):
    ds = DATASETS[name].build(None)
    assert ds.task == FUNCTION and ds.n == 0 and ds.function is not None
    fn = ds.function
    for m in fn.minima:
        assert float(fn.value(np.array(m))) == pytest.approx(fn.minimum_value, abs=1e-9)
        assert np.linalg.norm(fn.grad(np.array(m))) < 1e-4


def test_bad_generator_option_names_the_field():
    with pytest.raises(ConfigError) as info:
        DATASETS["line"].build({"n": 1})
    assert info.value.field == "dataset_options.n"
    with pytest.raises(ConfigError) as info:
        DATASETS["line"].build({"colour": 1})
    assert info.value.field == "dataset_options.colour"


# --- CSV -----------------------------------------------------------------------------------------

def csv_error(data: bytes, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        csv_dataset(data, **kwargs)
    assert info.value.field == "file"
    assert "\n" not in info.value.message
    return info.value


def test_csv_non_numeric_cell():
    e = csv_error(b"size,price\n1,2\n3,abc\n5,6\n")
    assert e.code == "not_numeric"
    assert "line 3" in e.message and "'price'" in e.message and "'abc'" in e.message


@pytest.mark.parametrize("cell", ["inf", "nan", "-Infinity", "NaN"])
def test_csv_non_finite_cell(cell):
    e = csv_error(f"a,b\n1,2\n{cell},4\n".encode())
    assert e.code == "not_finite"
    assert "line 3" in e.message and "'a'" in e.message and cell in e.message


@pytest.mark.parametrize("data", [b"x,y\n1,2\n", b"x,y\n", b"x,y\n\n\n1,2\n\n"])
def test_csv_fewer_than_two_rows(data):
    e = csv_error(data)
    assert e.code == "too_few_rows" and "at least 2" in e.message


def test_csv_empty_file():
    assert csv_error(b"").code == "too_few_rows"
    assert csv_error(b"\n\n").code == "too_few_rows"


def test_csv_too_many_rows():
    data = b"x,y\n" + b"1,0\n" * (CSV_MAX_ROWS + 1)
    e = csv_error(data)
    assert e.code == "too_many_rows" and "100,000" in e.message
    # exactly the limit is fine
    ds = csv_dataset(b"x,y\n" + b"1,0\n" * CSV_MAX_ROWS)
    assert ds.n == CSV_MAX_ROWS


def test_csv_ragged_row():
    e = csv_error(b"x,y\n1,2\n3,4,5\n")
    assert e.code == "ragged"
    assert "line 3" in e.message and "3 cells" in e.message and "header has 2" in e.message
    assert csv_error(b"x,y\n1,2\n3\n").code == "ragged"


def test_csv_too_many_feature_columns():
    e = csv_error(b"a,b,c,target\n1,2,3,0\n4,5,6,1\n")
    assert e.code == "too_many_columns"
    assert "3 feature columns" in e.message and "a, b, c" in e.message


def test_csv_over_5_mb():
    data = b"x,y\n" + b"1,0\n" * (5 * 2**20 // 4 + 1)
    assert len(data) > 5 * 2**20
    e = csv_error(data)
    assert e.code == "too_large" and "5 MiB" in e.message


def test_csv_not_utf8():
    e = csv_error(b"x,y\n1,2\n\xff\xfe,3\n")
    assert e.code == "not_utf8"
    assert "line 3" in e.message


def test_csv_binary():
    assert csv_error(b"x,y\n1,\x002\n3,4\n").code == "not_csv"


@pytest.mark.parametrize("data", [b"1,2\n3,4\n5,6\n", b"\n\n1.5,-2\n3,4\n5,6\n"])
def test_csv_no_header_row(data):
    e = csv_error(data)
    assert e.code == "no_header"
    line = data.count(b"\n", 0, data.index(b"1")) + 1
    assert f"line {line}" in e.message and "header" in e.message


def test_csv_header_with_an_empty_name():
    e = csv_error(b"x,\n1,2\n3,4\n")
    assert e.code == "no_header" and "column 2" in e.message and "line 1" in e.message


def test_csv_header_with_one_column():
    assert csv_error(b"y\n1\n2\n").code == "not_csv"


def test_csv_labels_outside_0_1_for_classification_name_line_and_column():
    data = b"x1,x2,label\n0,0,0\n0,1,1\n1,0,2\n1,1,1\n"

    def resolver(name, options):
        return csv_dataset(data, options["validation_split"], options["seed"], name)

    for cfg in ({"model": "neuron"}, {"model": "neuron2", "loss": "mse"}):
        with pytest.raises(ConfigError) as info:
            parse_run({"dataset": "mine.csv", **cfg}, resolver=resolver)
        assert info.value.field == "dataset"
        assert "line 4" in info.value.message and "'label'" in info.value.message
        assert "2" in info.value.message
    # with a validation split the line named is still the file's line
    with pytest.raises(ConfigError) as info:
        parse_run({"dataset": "mine.csv", "model": "neuron",
                   "dataset_options": {"validation_split": 0.5, "seed": 3}}, resolver=resolver)
    assert "line 4" in info.value.message


def test_csv_good_file():
    data = b"\xef\xbb\xbfhours, passed\n1,0\n2,0\n3.5,1\n\n4,1\n"  # BOM, spaces, blank line
    header, values, lines = parse_csv(data)
    assert header == ("hours", "passed")
    np.testing.assert_array_equal(values, [[1, 0], [2, 0], [3.5, 1], [4, 1]])
    assert lines == [2, 3, 4, 6]
    ds = csv_dataset(data)
    assert ds.task == CLASSIFICATION and ds.first_nonbinary is None
    assert ds.feature_names == ("hours",) and ds.target_name == "passed"
    assert ds.name == csv_name(data) == csv_dataset(bytes(data)).name
    assert ds.name.startswith("csv-")
    assert csv_name(data + b"5,1\n") != ds.name
    # trains with the logistic model (one feature, 0/1 labels)
    run = parse_run({"dataset": ds.name, "model": "logistic"},
                    resolver=lambda name, opts: csv_dataset(data, name=name))
    assert run.loss.name == "cross-entropy"


def test_csv_regression_targets():
    ds = csv_dataset(b"a,b,y\n1,2,0.5\n3,4,1\n5,6,0\n")
    assert ds.task == REGRESSION and ds.n_features == 2
    assert ds.first_nonbinary == (2, 0.5)
