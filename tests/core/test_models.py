"""Every model x loss gradient against central finite differences, and the batched backward pass.

The gradient that trains is ``Objective.value_and_grad`` (forward, loss, backward); here it is
compared with central differences of the loss value the same call returns, at random points,
both full batch and with explicit rows (which bypasses the closed form of linear + MSE).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.core.models import MODELS, sigmoid
from app.core.objective import Objective
from app.core.runconfig import parse_run

# (model, dataset, loss): every loss each model fits on a dataset it fits
MODEL_LOSS_CASES = [
    ("linear", "line", "mse"),
    ("linear", "line", "mae"),
    ("logistic", "cats-dogs", "mse"),
    ("logistic", "cats-dogs", "mae"),
    ("logistic", "cats-dogs", "cross-entropy"),
    ("neuron2", "or", "mse"),
    ("neuron2", "or", "mae"),
    ("neuron2", "or", "cross-entropy"),
    ("tanh-net", "tanh", "mse"),
    ("tanh-net", "tanh", "mae"),
    ("neuron", "and", "mse"),
    ("neuron", "and", "mae"),
    ("neuron", "and", "cross-entropy"),
]
FUNCTION_NAMES = ["rosenbrock", "himmelblau", "beale", "saddle", "rastrigin"]


def objective_for(model: str, dataset: str, loss: str | None) -> Objective:
    run = parse_run({"dataset": dataset, "model": model, "loss": loss})
    return Objective(run.dataset, run.model, run.loss)


def central_difference(f, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.empty_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h * max(1.0, abs(theta[j]))
        out[j] = (f(theta + e) - f(theta - e)) / (2.0 * e[j])
    return out


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300))


def away_from_kinks(obj: Objective, theta: np.ndarray) -> bool:
    """MAE has a kink where a residual is zero: keep finite differences clear of it."""
    if obj.loss is None or obj.loss.name != "mae":
        return True
    p = obj.model.predict(theta, obj.dataset.X)
    return bool(np.min(np.abs(p - obj.dataset.y)) > 1e-3)


def random_points(obj: Objective, seed: int, count: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    points: list[np.ndarray] = []
    while len(points) < count:
        theta = rng.uniform(-2.5, 2.5, obj.n_params)
        if away_from_kinks(obj, theta):
            points.append(theta)
    return points


@pytest.mark.parametrize(("model", "dataset", "loss"), MODEL_LOSS_CASES)
@pytest.mark.parametrize("explicit_rows", [False, True], ids=["full-batch", "rows"])
def test_gradient_matches_central_differences(model, dataset, loss, explicit_rows):
    obj = objective_for(model, dataset, loss)
    rows = np.arange(obj.n) if explicit_rows else None
    if model == "linear" and loss == "mse":
        assert obj.closed_form  # full batch goes through the closed form, rows do not

    def value(theta):
        return obj.value_and_grad(theta, rows)[0]

    for theta in random_points(obj, seed=len(model) * 31 + len(loss)):
        _, grad = obj.value_and_grad(theta, rows)
        assert grad.shape == (obj.n_params,)
        assert np.linalg.norm(grad) > 1e-8  # a real gradient, not a flat spot
        fd = central_difference(value, theta)
        assert relative_error(grad, fd) < 1e-6, (theta, grad, fd)


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_test_function_gradient_matches_central_differences(name):
    obj = objective_for("point", name, None)
    (x0, x1), (y0, y1) = obj.function.bounds
    rng = np.random.default_rng(7)
    for _ in range(5):
        theta = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
        value, grad = obj.value_and_grad(theta)
        assert value == pytest.approx(float(obj.function.value(theta)), rel=0, abs=0)
        fd = central_difference(lambda t: obj.value_and_grad(t)[0], theta)
        assert relative_error(grad, fd) < 1e-6, (theta, grad, fd)


@pytest.mark.parametrize(("model", "dataset", "loss"), MODEL_LOSS_CASES)
def test_loss_value_equals_per_sample_loop(model, dataset, loss):
    """The value the gradient belongs to is the documented mean loss, sample by sample."""
    obj = objective_for(model, dataset, loss)
    X, y = obj.dataset.X, obj.dataset.y
    theta = np.random.default_rng(3).uniform(-2, 2, obj.n_params)
    total = 0.0
    for xi, yi in zip(X, y, strict=True):
        p = predict_one(model, theta, xi)
        if loss == "mse":
            total += (p - yi) ** 2
        elif loss == "mae":
            total += abs(p - yi)
        else:
            total += -(yi * math.log(p) + (1 - yi) * math.log(1 - p))
    expected = total / len(y)
    assert obj.value_and_grad(theta)[0] == pytest.approx(expected, rel=1e-12)
    assert obj.value_and_grad(theta, np.arange(obj.n))[0] == pytest.approx(expected, rel=1e-12)
    assert float(obj.value(theta)) == pytest.approx(expected, rel=1e-12)
    assert float(obj.brute_value(theta)) == pytest.approx(expected, rel=1e-12)


def predict_one(model: str, theta: np.ndarray, x: np.ndarray) -> float:
    """Each model's docstring formula, for one sample, in plain floats."""
    t = [float(v) for v in theta]

    def sig(z):
        return 1.0 / (1.0 + math.exp(-z))

    if model == "linear":
        return t[0] * x[0] + t[1]
    if model == "logistic":
        return sig(t[0] * x[0] + t[1])
    if model == "neuron2":
        return sig(t[0] * x[0] + t[1] * x[1])
    if model == "tanh-net":
        return t[1] * math.tanh(t[0] * x[0])
    if model == "neuron":
        return sig(t[0] * x[0] + t[1] * x[1] + t[2])
    raise AssertionError(model)


@pytest.mark.parametrize("model", ["linear", "logistic", "neuron2", "tanh-net", "neuron"])
def test_predict_broadcasts_over_leading_axes(model):
    m = MODELS[model]
    rng = np.random.default_rng(11)
    X = rng.normal(size=(9, m.n_features))
    thetas = rng.normal(size=(2, 3, m.n_params))
    batched = m.predict(thetas, X)
    assert batched.shape == (2, 3, 9)
    for a in range(2):
        for b in range(3):
            one = m.predict(thetas[a, b], X)
            assert one.shape == (9,)
            np.testing.assert_allclose(batched[a, b], one, rtol=1e-15, atol=0)
            expected = [predict_one(model, thetas[a, b], x) for x in X]
            np.testing.assert_allclose(one, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("model", ["linear", "logistic", "neuron2", "tanh-net", "neuron"])
def test_vjp_with_leading_axes_matches_per_row(model):
    m = MODELS[model]
    rng = np.random.default_rng(5)
    n, k = 13, 6
    cols = tuple(np.ascontiguousarray(rng.normal(size=n)) for _ in range(m.n_features))
    thetas = rng.normal(size=(k, m.n_params))
    dz = rng.normal(size=(k, n))
    batched = m.vjp(thetas, cols, dz)
    assert batched.shape == (k, m.n_params)
    for r in range(k):
        np.testing.assert_allclose(batched[r], m.vjp(thetas[r], cols, dz[r]), rtol=1e-13,
                                   atol=1e-15)
    # and the vjp is the transposed Jacobian of the logits: check with finite differences
    for r in range(k):
        jac = np.stack([central_difference(lambda t, i=i: float(m.logits(t, cols)[i]),
                                           thetas[r]) for i in range(n)])
        np.testing.assert_allclose(m.vjp(thetas[r], cols, dz[r]), dz[r] @ jac, rtol=1e-6,
                                   atol=1e-8)


def test_sigmoid_is_finite_and_exact_at_extremes():
    z = np.array([-1e4, -745.0, -40.0, -1.0, 0.0, 1.0, 40.0, 745.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        s = sigmoid(z)
    expected = [1.0 / (1.0 + math.exp(-v)) if v > -700 else math.exp(v) for v in z]
    np.testing.assert_allclose(s, expected, rtol=1e-15, atol=0)
    assert s[0] == 0.0 and s[-1] == 1.0 and s[4] == 0.5


def test_point_model_has_no_data_prediction():
    with pytest.raises(TypeError):
        MODELS["point"].predict(np.zeros(2), np.zeros((3, 1)))


def test_model_metadata_is_consistent():
    for name, m in MODELS.items():
        assert m.name == name
        assert len(m.default_start) == m.n_params
        d = m.describe()
        assert d["n_params"] == m.n_params and d["param_names"] == list(m.param_names)
