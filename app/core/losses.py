"""Losses, each averaged over the samples, with its derivative w.r.t. the model's logit z.

A loss first ``prepare``s the targets once (so per-step work stays minimal), then
``value(z, target, link)`` gives the mean loss over the last axis (any leading axes: one
training step or a whole grid of parameter points), and ``value_and_dz`` gives the mean loss
and dL/dz for one step (the 1/n already applied).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .models import SIGMOID, sigmoid

EXP_SAFE = 700.0  # exp(t) is finite for t < 709.78


def softplus(t: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """log(1 + exp(t)), finite for every finite t.

    When no t is near exp's overflow (the usual case) this is log1p(exp(t)): one exp and one
    log1p per element, and precise for very negative t. Otherwise the stable
    max(t, 0) + log1p(exp(-|t|)).
    """
    if t.size and t.max() >= EXP_SAFE:
        return np.add(np.maximum(t, 0.0), np.log1p(np.exp(-np.abs(t))), out=out)
    e = np.exp(t, out=out)
    return np.log1p(e, out=e)


def _link(z: np.ndarray, link: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The prediction p = link(z) and dp/dz (None for the identity)."""
    if link == SIGMOID:
        p = sigmoid(z)
        return p, p * (1.0 - p)
    return z, None


# --- mean squared error: L = mean((p - y)^2);  dL/dp_i = 2 (p_i - y_i) / n ---------------------

def _mse_prepare(y):
    return y


def _mse_value(z, y, link, inplace=False):
    p, _ = _link(z, link)
    r = np.subtract(p, y, out=p if (inplace or p is not z) else None)
    np.multiply(r, r, out=r)
    return r.mean(axis=-1)


def _mse_value_and_dz(z, y, link):
    p, dp = _link(z, link)
    r = p - y
    n = r.shape[-1]
    dz = r * (2.0 / n)
    if dp is not None:
        dz *= dp
    return float(r @ r) / n, dz


# --- mean absolute error: L = mean|p - y|;  dL/dp_i = sign(p_i - y_i) / n ----------------------

def _mae_value(z, y, link, inplace=False):
    p, _ = _link(z, link)
    r = np.subtract(p, y, out=p if (inplace or p is not z) else None)
    return np.abs(r, out=r).mean(axis=-1)


def _mae_value_and_dz(z, y, link):
    p, dp = _link(z, link)
    r = p - y
    n = r.shape[-1]
    dz = np.sign(r) / n
    if dp is not None:
        dz *= dp
    return float(np.abs(r).sum()) / n, dz


# --- binary cross-entropy from logits --------------------------------------------------------
# L_i = -(y log p + (1 - y) log(1 - p)) with p = sigmoid(z). For y in {0, 1} this is
# softplus(s z) with s = 1 - 2y, computed without ever forming log(sigmoid(z)).
# dL_i/dz = sigmoid(z) - y = s * sigmoid(s z).

def _ce_prepare(y):
    return 1.0 - 2.0 * y  # s


def _ce_value(z, s, link, inplace=False):
    t = np.multiply(z, s, out=z if inplace else None)
    return softplus(t, out=t).mean(axis=-1)


def _ce_value_and_dz(z, s, link):
    t = z * s
    n = t.shape[-1]
    if t.max() < EXP_SAFE:
        e = np.exp(t)
        value = float(np.log1p(e).sum()) / n
        e /= 1.0 + e  # sigmoid(t)
        sig = e
    else:
        value = float(softplus(t).sum()) / n
        sig = sigmoid(t)
    sig *= s
    sig /= n
    return value, sig


@dataclass(frozen=True)
class Loss:
    name: str
    title: str
    formula: str
    needs_sigmoid: bool  # defined on probabilities from logits (cross-entropy)
    needs_binary_labels: bool
    prepare: Callable[[np.ndarray], np.ndarray]
    value: Callable[..., np.ndarray]
    value_and_dz: Callable[[np.ndarray, np.ndarray, str], tuple[float, np.ndarray]]

    def describe(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "formula": self.formula,
            "needs_probability_model": self.needs_sigmoid,
            "needs_binary_labels": self.needs_binary_labels,
        }


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in [
        Loss("mse", "Mean squared error", "L = mean((prediction - y)^2)", False, False,
             _mse_prepare, _mse_value, _mse_value_and_dz),
        Loss("cross-entropy", "Binary cross-entropy",
             "L = -mean(y log p + (1 - y) log(1 - p))", True, True,
             _ce_prepare, _ce_value, _ce_value_and_dz),
        Loss("mae", "Mean absolute error", "L = mean(|prediction - y|)", False, False,
             _mse_prepare, _mae_value, _mae_value_and_dz),
    ]
}

# For a test function the loss is the function itself.
FUNCTION_LOSS = "value"
