"""Losses: values and dL/dz against per-sample formulas; cross-entropy stable at huge logits."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from app.core.losses import LOSSES, softplus
from app.core.models import IDENTITY, SIGMOID


def softplus_ref(t: float) -> float:
    """log(1 + e^t), computed in the overflow-free form with math."""
    return max(t, 0.0) + math.log1p(math.exp(-abs(t)))


def sigmoid_ref(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def ce_dz_ref(z: float, y: float) -> float:
    """sigmoid(z) - y for y in {0, 1}, without cancellation: 1 - sigmoid(z) = sigmoid(-z)."""
    return sigmoid_ref(z) if y == 0.0 else -sigmoid_ref(-z)


def ce_ref(z: float, y: float) -> float:
    # -(y log p + (1 - y) log(1 - p)), p = sigmoid(z): log p = -softplus(-z),
    # log(1 - p) = -softplus(z)
    return y * softplus_ref(-z) + (1.0 - y) * softplus_ref(z)


EXTREME_Z = [-1e4, -1e3, -40.0, -1.0, 0.0, 1.0, 40.0, 1e3, 1e4]


@pytest.mark.parametrize("y", [0.0, 1.0])
@pytest.mark.parametrize("z", EXTREME_Z)
def test_cross_entropy_is_finite_warning_free_and_exact(z, y):
    loss = LOSSES["cross-entropy"]
    s = loss.prepare(np.array([y]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            value = float(loss.value(np.array([z]), s, SIGMOID))
            v2, dz = loss.value_and_dz(np.array([z]), s, SIGMOID)
    expected = ce_ref(z, y)
    assert math.isfinite(value) and math.isfinite(v2)
    assert value == pytest.approx(expected, rel=1e-14, abs=1e-300)
    assert v2 == pytest.approx(expected, rel=1e-14, abs=1e-300)
    # dL/dz = sigmoid(z) - y
    assert float(dz[0]) == pytest.approx(ce_dz_ref(z, y), rel=1e-14, abs=1e-300)


def test_cross_entropy_at_named_points():
    """z = +-1e4, +-40, 0 against values worked out by hand."""
    loss = LOSSES["cross-entropy"]
    z = np.array([1e4, -1e4, 40.0, -40.0, 0.0])
    for y, expected in [
        (0.0, [1e4, math.exp(-1e4), 40.0 + math.exp(-40.0), math.exp(-40.0), math.log(2.0)]),
        (1.0, [math.exp(-1e4), 1e4, math.exp(-40.0), 40.0 + math.exp(-40.0), math.log(2.0)]),
    ]:
        s = loss.prepare(np.full(5, y))
        # one logit per row: value() averages over the last axis only
        values = loss.value(z[:, None].copy(), s[:, None], SIGMOID)
        np.testing.assert_allclose(values, expected, rtol=1e-15, atol=0)
        assert np.isfinite(values).all()
    # math.exp(-1e4) underflows to 0.0 and so does the loss: exact agreement either way


def test_cross_entropy_mean_over_mixed_logits():
    loss = LOSSES["cross-entropy"]
    z = np.array([1e4, -1e4, 40.0, -40.0, 0.0, 3.0])
    y = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    expected = sum(ce_ref(a, b) for a, b in zip(z, y, strict=True)) / len(z)
    s = loss.prepare(y)
    assert float(loss.value(z.copy(), s, SIGMOID)) == pytest.approx(expected, rel=1e-14)
    value, dz = loss.value_and_dz(z.copy(), s, SIGMOID)
    assert value == pytest.approx(expected, rel=1e-14)
    expected_dz = [ce_dz_ref(a, b) / len(z) for a, b in zip(z, y, strict=True)]
    np.testing.assert_allclose(dz, expected_dz, rtol=1e-14, atol=1e-300)


def test_cross_entropy_matches_textbook_formula_at_moderate_logits():
    loss = LOSSES["cross-entropy"]
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3.0, size=50)
    y = (rng.uniform(size=50) < 0.5).astype(float)
    expected = 0.0
    for a, b in zip(z, y, strict=True):
        p = 1.0 / (1.0 + math.exp(-a))
        expected -= b * math.log(p) + (1 - b) * math.log(1 - p)
    expected /= 50
    assert float(loss.value(z.copy(), loss.prepare(y), SIGMOID)) == pytest.approx(expected,
                                                                                  rel=1e-12)


@pytest.mark.parametrize("link", [IDENTITY, SIGMOID])
@pytest.mark.parametrize("name", ["mse", "mae"])
def test_mse_mae_value_and_dz_match_per_sample_loop(name, link):
    loss = LOSSES[name]
    rng = np.random.default_rng(1)
    z = rng.normal(size=17)
    y = rng.normal(size=17) if link == IDENTITY else (rng.uniform(size=17) < 0.5) * 1.0
    total, dz_ref = 0.0, []
    for a, b in zip(z, y, strict=True):
        p, dp = (a, 1.0) if link == IDENTITY else (sigmoid_ref(a),
                                                    sigmoid_ref(a) * (1 - sigmoid_ref(a)))
        r = p - b
        if name == "mse":
            total += r * r
            dz_ref.append(2 * r * dp / len(z))
        else:
            total += abs(r)
            dz_ref.append(math.copysign(1.0, r) * dp / len(z))
    target = loss.prepare(y)
    value, dz = loss.value_and_dz(z.copy(), target, link)
    assert value == pytest.approx(total / len(z), rel=1e-13)
    np.testing.assert_allclose(dz, dz_ref, rtol=1e-13, atol=0)
    assert float(loss.value(z.copy(), target, link)) == pytest.approx(total / len(z),
                                                                      rel=1e-13)


@pytest.mark.parametrize("name", ["mse", "mae", "cross-entropy"])
@pytest.mark.parametrize("inplace", [False, True])
def test_value_reduces_the_last_axis_only(name, inplace):
    loss = LOSSES[name]
    rng = np.random.default_rng(2)
    z = rng.normal(size=(3, 4, 10))
    y = (rng.uniform(size=10) < 0.5) * 1.0
    target = loss.prepare(y)
    link = SIGMOID if name == "cross-entropy" else IDENTITY
    per_point = np.array([[loss.value_and_dz(z[a, b], target, link)[0] for b in range(4)]
                          for a in range(3)])
    original = z.copy()
    out = loss.value(z, target, link, inplace=inplace)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out, per_point, rtol=1e-13, atol=0)
    if not inplace:
        np.testing.assert_array_equal(z, original)  # not overwritten unless allowed


def test_softplus_both_branches():
    t = np.array([-800.0, -30.0, 0.0, 30.0, 699.0])
    np.testing.assert_allclose(softplus(t.copy()), [softplus_ref(v) for v in t], rtol=1e-15,
                               atol=1e-320)
    t_big = np.append(t, 1e5)  # takes the overflow-free branch
    with np.errstate(over="raise"):
        np.testing.assert_allclose(softplus(t_big), [softplus_ref(v) for v in t_big],
                                   rtol=1e-15, atol=1e-320)


def test_loss_descriptions():
    assert LOSSES["cross-entropy"].needs_sigmoid and LOSSES["cross-entropy"].needs_binary_labels
    for name in ("mse", "mae"):
        assert not LOSSES[name].needs_sigmoid and not LOSSES[name].needs_binary_labels
    assert {d["name"] for d in (loss.describe() for loss in LOSSES.values())} == set(LOSSES)


@pytest.mark.parametrize("w", [-1e4, -3000.0, 3000.0, 1e4])
def test_cross_entropy_objective_at_huge_logits(w):
    """Through the trainer's objective and the surface's batched value, with |z| ~ 1e4."""
    from app.core.objective import Objective
    from app.core.runconfig import parse_run

    run = parse_run({"dataset": "and", "model": "neuron"})
    obj = Objective(run.dataset, run.model, run.loss)
    theta = np.array([w, w, -w / 2])
    X, y = run.dataset.X, run.dataset.y
    z = X @ theta[:2] + theta[2]
    assert np.abs(z).max() >= abs(w) / 2
    expected = sum(ce_ref(a, b) for a, b in zip(z, y, strict=True)) / 4
    expected_grad = sum(ce_dz_ref(a, b) * np.array([x[0], x[1], 1.0])
                        for a, b, x in zip(z, y, X, strict=True)) / 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            value, grad = obj.value_and_grad(theta)
            batched = obj.value(np.stack([theta, -theta, np.zeros(3)]))
    assert value == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14, atol=1e-300)
    assert float(batched[0]) == pytest.approx(expected, rel=1e-14)
    assert np.isfinite(batched).all() and batched[2] == pytest.approx(math.log(2), rel=1e-15)
