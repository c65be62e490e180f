"""Datasets: named, seeded, deterministic generators, user CSV files, and test functions.

Every dataset is a frozen :class:`Dataset` with float64 arrays: ``X`` of shape (n, d) and
``y`` of shape (n,) for training, and ``X_val``/``y_val`` (possibly empty) for validation.
A test function (rosenbrock, ...) is a dataset with no rows and a ``function``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import ConfigError
from .functions import FUNCTIONS, TestFunction
from .options import Option, validate_options

REGRESSION = "regression"
CLASSIFICATION = "classification"
FUNCTION = "function"

CSV_MAX_BYTES = 5 * 1024 * 1024
CSV_MAX_ROWS = 100_000
CSV_MAX_FEATURES = 2  # no model here takes more than two inputs


@dataclass(frozen=True, eq=False)
class Dataset:
    """Training data (X: (n, d), y: (n,)) and a validation part (X_val: (m, d), y_val: (m,))."""

    name: str
    task: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    X_val: np.ndarray = field(default_factory=lambda: np.empty((0, 1)))
    y_val: np.ndarray = field(default_factory=lambda: np.empty(0))
    function: TestFunction | None = None
    description: str = ""
    # for a CSV: (file line, value) of the first target that is not 0 or 1, for error messages
    first_nonbinary: tuple[int, float] | None = None

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def has_validation(self) -> bool:
        return self.y_val.shape[0] > 0

    @property
    def binary_targets(self) -> bool:
        both = np.concatenate([self.y, self.y_val])
        return bool(np.all((both == 0.0) | (both == 1.0)))


def split(
    name: str,
    task: str,
    X: np.ndarray,
    y: np.ndarray,
    feature_names: tuple[str, ...],
    target_name: str,
    validation_split: float,
    seed: int,
    description: str = "",
) -> Dataset:
    """Shuffle rows with ``seed`` and hold back ``validation_split`` of them for validation."""
    X = np.ascontiguousarray(X, dtype=np.float64).reshape(len(y), -1)
    y = np.ascontiguousarray(y, dtype=np.float64)
    n_val = round(validation_split * len(y))
    if validation_split > 0 and len(y) - n_val < 1:
        raise ConfigError(
            "dataset_options.validation_split",
            f"leaves no training rows out of {len(y)}",
            "out_of_range",
        )
    if n_val == 0:
        return Dataset(name, task, X, y, feature_names, target_name,
                       np.empty((0, X.shape[1])), np.empty(0), description=description)
    order = np.random.default_rng(seed).permutation(len(y))
    train, val = np.sort(order[n_val:]), np.sort(order[:n_val])
    return Dataset(name, task, X[train], y[train], feature_names, target_name,
                   X[val], y[val], description=description)


# --- generated datasets ----------------------------------------------------------------------

_GATES = {
    "and": (0.0, 0.0, 0.0, 1.0),
    "or": (0.0, 1.0, 1.0, 1.0),
    "xor": (0.0, 1.0, 1.0, 0.0),
}
_GATE_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def _gate(name: str) -> Callable[..., Dataset]:
    def make(validation_split: float = 0.0, seed: int = 0) -> Dataset:
        return split(name, CLASSIFICATION, _GATE_X, np.array(_GATES[name]), ("x1", "x2"),
                     name, validation_split, seed, f"The {name.upper()} truth table")
    return make


def _line(n: int, noise: float, seed: int, slope: float, intercept: float,
          validation_split: float) -> Dataset:
    """y = slope * x + intercept + noise * N(0, 1), x ~ U(-2, 2)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, n)
    y = slope * x + intercept + noise * rng.standard_normal(n)
    return split("line", REGRESSION, x, y, ("x",), "y", validation_split, seed,
                 f"Noisy points around y = {slope:g}x + {intercept:g}")


def _cats_dogs(n: int, noise: float, seed: int, validation_split: float) -> Dataset:
    """One feature (ear pointiness); label 1 = cat, 0 = dog. Cats ~ N(1, s), dogs ~ N(-1, s)."""
    rng = np.random.default_rng(seed)
    cat = (np.arange(n) % 2 == 0).astype(np.float64)
    x = np.where(cat == 1.0, 1.0, -1.0) + noise * rng.standard_normal(n)
    return split("cats-dogs", CLASSIFICATION, x, cat, ("ear_pointiness",), "cat",
                 validation_split, seed, "Cats (1) and dogs (0) by how pointy their ears are")


def _tanh(n: int, noise: float, seed: int, u: float, v: float,
          validation_split: float) -> Dataset:
    """y = v * tanh(u * x) + noise * N(0, 1), x ~ U(-2, 2)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, n)
    y = v * np.tanh(u * x) + noise * rng.standard_normal(n)
    return split("tanh", REGRESSION, x, y, ("x",), "y", validation_split, seed,
                 f"Noisy points around y = {v:g} tanh({u:g}x)")


def _function(name: str) -> Callable[..., Dataset]:
    fn = FUNCTIONS[name]

    def make() -> Dataset:
        return Dataset(name, FUNCTION, np.empty((0, 2)), np.empty(0), ("x", "y"), "f",
                       np.empty((0, 2)), np.empty(0), function=fn, description=fn.title)
    return make


def _n(default: int) -> Option:
    return Option("n", "int", default, "number of points", minimum=2, maximum=CSV_MAX_ROWS)


def _seed() -> Option:
    return Option("seed", "int", 0, "seed of the data (and of the validation split)",
                  minimum=0, maximum=2**32 - 1)


def _val(default: float) -> Option:
    return Option("validation_split", "float", default, "fraction held back for validation",
                  minimum=0.0, maximum=0.9)


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: the options a generator takes and how to make the dataset."""

    name: str
    task: str
    features: tuple[str, ...]
    description: str
    options: dict[str, Option]
    make: Callable[..., Dataset]

    def build(self, options: dict[str, Any] | None, field: str = "dataset_options") -> Dataset:
        return self.make(**validate_options(options, self.options, field))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "features": list(self.features),
            "description": self.description,
            "options": [o.describe() for o in self.options.values()],
        }


def _opts(*options: Option) -> dict[str, Option]:
    return {o.name: o for o in options}


DATASETS: dict[str, DatasetSpec] = {}
for _g in _GATES:
    DATASETS[_g] = DatasetSpec(
        _g, CLASSIFICATION, ("x1", "x2"),
        f"The {_g.upper()} truth table (4 rows)"
        + (": a single neuron cannot learn it" if _g == "xor" else ""),
        _opts(_val(0.0), _seed()), _gate(_g))
DATASETS["line"] = DatasetSpec(
    "line", REGRESSION, ("x",), "Noisy points around a line y = a*x + c",
    _opts(_n(100), Option("noise", "float", 0.5, "standard deviation of the noise", 0.0, 100.0),
          _seed(), Option("slope", "float", 2.0, "a in y = a*x + c", -100.0, 100.0),
          Option("intercept", "float", 1.0, "c in y = a*x + c", -100.0, 100.0), _val(0.2)),
    _line)
DATASETS["cats-dogs"] = DatasetSpec(
    "cats-dogs", CLASSIFICATION, ("ear_pointiness",),
    "One feature, two classes: the classifier gives the probability of 'cat'",
    _opts(_n(100), Option("noise", "float", 0.8, "spread of each class", 0.0, 100.0),
          _seed(), _val(0.2)),
    _cats_dogs)
DATASETS["tanh"] = DatasetSpec(
    "tanh", REGRESSION, ("x",),
    "y = v*tanh(u*x): a non-convex surface with a saddle and two mirror-image minima",
    _opts(_n(100), Option("noise", "float", 0.1, "standard deviation of the noise", 0.0, 100.0),
          _seed(), Option("u", "float", 1.5, "u in y = v*tanh(u*x)", -10.0, 10.0),
          Option("v", "float", 2.0, "v in y = v*tanh(u*x)", -10.0, 10.0), _val(0.2)),
    _tanh)
for _f in FUNCTIONS.values():
    DATASETS[_f.name] = DatasetSpec(
        _f.name, FUNCTION, (), f"{_f.title}: f(x, y) = {_f.formula} (no data)", {},
        _function(_f.name))


# --- CSV from the user ----------------------------------------------------------------------


def csv_name(data: bytes) -> str:
    """An uploaded CSV's name: derived from its content (same file, same name)."""
    return "csv-" + hashlib.sha256(data).hexdigest()[:16]


def parse_csv(data: bytes, max_bytes: int = CSV_MAX_BYTES, max_rows: int = CSV_MAX_ROWS
              ) -> tuple[tuple[str, ...], np.ndarray, list[int]]:
    """Parse a CSV: a header row, then numeric rows.

    Returns (column names, values of shape (rows, cols), the file line of each row).

    Raises ConfigError(field="file") with a message naming the line and column at fault.
    """
    if len(data) > max_bytes:
        raise ConfigError("file", f"the file is {len(data) / 2**20:.1f} MiB; the limit is "
                          f"{max_bytes / 2**20:g} MiB", "too_large")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError("file", f"the file is not UTF-8 text (line {line}: bad byte at offset "
                          f"{e.start})", "not_utf8") from None
    if "\x00" in text:
        raise ConfigError("file", "the file is binary, not CSV text", "not_csv")
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[list[float]] = []
    lines: list[int] = []
    try:
        for record in reader:
            line = reader.line_num
            if not record or all(not cell.strip() for cell in record):
                continue  # blank line
            if header is None:
                header = [c.strip() for c in record]
                if len(header) < 2:
                    raise ConfigError("file", "the header row must name at least two columns: "
                                      "feature column(s), then the target", "not_csv")
                if all(_is_number(c) for c in header):
                    raise ConfigError("file", f"line {line} must be a header row naming the "
                                      f"columns (it holds only numbers: {','.join(header)})",
                                      "no_header")
                for i, c in enumerate(header):
                    if not c:
                        raise ConfigError("file", f"line {line}: column {i + 1} has no name",
                                          "no_header")
                continue
            if len(record) != len(header):
                raise ConfigError("file", f"line {line} has {len(record)} cells; the header has "
                                  f"{len(header)}", "ragged")
            if len(rows) >= max_rows:
                raise ConfigError("file", f"more than {max_rows:,} data rows", "too_many_rows")
            values = []
            for name, cell in zip(header, record, strict=True):
                try:
                    v = float(cell)
                except ValueError:
                    raise ConfigError("file", f"line {line}, column '{name}': {cell.strip()!r} "
                                      "is not a number", "not_numeric") from None
                if not math.isfinite(v):
                    raise ConfigError("file", f"line {line}, column '{name}': {cell.strip()!r} "
                                      "is not a finite number", "not_finite")
                values.append(v)
            rows.append(values)
            lines.append(line)
    except csv.Error as e:
        raise ConfigError("file", f"line {reader.line_num}: not valid CSV ({e})",
                          "not_csv") from None
    if header is None:
        raise ConfigError("file", "the file is empty", "too_few_rows")
    if len(rows) < 2:
        raise ConfigError("file", f"needs at least 2 data rows, found {len(rows)}",
                          "too_few_rows")
    if len(header) - 1 > CSV_MAX_FEATURES:
        raise ConfigError("file", f"has {len(header) - 1} feature columns "
                          f"({', '.join(header[:-1])}); the models here take at most "
                          f"{CSV_MAX_FEATURES}", "too_many_columns")
    return tuple(header), np.array(rows, dtype=np.float64), lines


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def csv_dataset(data: bytes, validation_split: float = 0.0, seed: int = 0,
                name: str | None = None) -> Dataset:
    """A Dataset from CSV bytes: every column but the last is a feature, the last is the target.

    The task is classification when every target is 0 or 1, regression otherwise.
    """
    header, values, lines = parse_csv(data)
    X, y = values[:, :-1], values[:, -1]
    bad = np.flatnonzero((y != 0.0) & (y != 1.0))
    ds = split(name or csv_name(data), REGRESSION if bad.size else CLASSIFICATION, X, y,
               header[:-1], header[-1], validation_split, seed, f"Uploaded CSV ({len(y)} rows)")
    if bad.size:
        ds = replace(ds, first_nonbinary=(lines[bad[0]], float(y[bad[0]])))
    return ds


CSV_OPTIONS = _opts(_val(0.0), _seed())


def check_binary_labels(ds: Dataset, why: str) -> None:
    """Raise, naming where a target is not 0 or 1 (the file line, for a CSV)."""
    if ds.first_nonbinary is not None:
        line, value = ds.first_nonbinary
        raise ConfigError("dataset", f"{why} needs labels 0 or 1, but line {line}, column "
                          f"'{ds.target_name}' holds {value:g}", "labels_not_binary")
    if not ds.binary_targets:
        raise ConfigError("dataset", f"{why} needs labels 0 or 1; dataset '{ds.name}' has "
                          "real-valued targets", "labels_not_binary")
