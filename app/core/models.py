"""Two-parameter (and one three-parameter) models.

A model maps inputs to a *logit* z; its ``link`` (identity or sigmoid) turns z into the
prediction. ``logits(theta, cols)`` broadcasts over the leading axes of theta, so the same
function serves one training step (theta: (P,) -> z: (n,)) and a whole surface grid
(theta: (k, P) -> z: (k, n)). ``vjp`` is the backward pass: given dL/dz it returns dL/dtheta,
written beside the formula it differentiates.

``cols`` is the tuple of feature columns, each a contiguous float64 array of shape (n,).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .datasets import CLASSIFICATION, FUNCTION, REGRESSION

IDENTITY = "identity"
SIGMOID = "sigmoid"

Cols = tuple[np.ndarray, ...]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), without overflow for any finite z."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def _p(theta: np.ndarray, j: int) -> np.ndarray:
    """Parameter j of theta (..., P), shaped (..., 1) to broadcast against a column (n,)."""
    return theta[..., j, None]


def _pack(parts: list) -> np.ndarray:
    """Stack per-parameter gradients (each () or (...)) into shape (..., P)."""
    if np.ndim(parts[0]) == 0:
        return np.array(parts, dtype=np.float64)  # one step: 5x cheaper than np.stack
    return np.stack(parts, axis=-1)


# Models whose logit is linear in theta, z = A theta, with A's columns given here.
def _design_affine1(cols):
    return np.stack([cols[0], np.ones_like(cols[0])], axis=-1)  # [x, 1]


def _design_plane0(cols):
    return np.stack([cols[0], cols[1]], axis=-1)  # [x1, x2]


def _design_plane(cols):
    return np.stack([cols[0], cols[1], np.ones_like(cols[0])], axis=-1)  # [x1, x2, 1]


# linear / logistic: z = w*x + b
def _affine1(theta, cols):
    return _p(theta, 0) * cols[0] + _p(theta, 1)


def _affine1_vjp(theta, cols, dz):
    # dz/dw = x, dz/db = 1
    return _pack([dz @ cols[0], dz.sum(axis=-1)])


# neuron2: z = w1*x1 + w2*x2
def _plane0(theta, cols):
    return _p(theta, 0) * cols[0] + _p(theta, 1) * cols[1]


def _plane0_vjp(theta, cols, dz):
    # dz/dw1 = x1, dz/dw2 = x2
    return _pack([dz @ cols[0], dz @ cols[1]])


# neuron: z = w1*x1 + w2*x2 + b
def _plane(theta, cols):
    return _p(theta, 0) * cols[0] + _p(theta, 1) * cols[1] + _p(theta, 2)


def _plane_vjp(theta, cols, dz):
    # dz/dw1 = x1, dz/dw2 = x2, dz/db = 1
    return _pack([dz @ cols[0], dz @ cols[1], dz.sum(axis=-1)])


# tanh-net: z = v * tanh(u*x)
def _tanh_net(theta, cols):
    return _p(theta, 1) * np.tanh(_p(theta, 0) * cols[0])


def _tanh_net_vjp(theta, cols, dz):
    # dz/du = v * x * (1 - tanh(u*x)^2),  dz/dv = tanh(u*x)
    x = cols[0]
    t = np.tanh(_p(theta, 0) * x)
    du = ((dz * (1.0 - t * t)) @ x) * theta[..., 1]
    dv = (dz * t).sum(axis=-1)
    return _pack([du, dv])


@dataclass(frozen=True)
class Model:
    name: str
    title: str
    formula: str
    param_names: tuple[str, ...]
    n_features: int  # inputs it takes (0: a test function's point)
    link: str
    tasks: tuple[str, ...]
    default_start: tuple[float, ...]
    logits: Callable[[np.ndarray, Cols], np.ndarray]
    vjp: Callable[[np.ndarray, Cols, np.ndarray], np.ndarray]
    # for a logit linear in theta: the design matrix A (n, P) with z = A @ theta
    design: Callable[[Cols], np.ndarray] | None = None

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def predict(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Predictions for X (n, d) at theta (..., P): shape (..., n)."""
        cols = tuple(np.ascontiguousarray(X[:, j]) for j in range(X.shape[1]))
        z = self.logits(np.asarray(theta, dtype=np.float64), cols)
        return sigmoid(z) if self.link == SIGMOID else z

    def describe(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "formula": self.formula,
            "param_names": list(self.param_names),
            "n_params": self.n_params,
            "n_features": self.n_features,
            "output": "probability" if self.link == SIGMOID else "value",
            "tasks": list(self.tasks),
            "default_start": list(self.default_start),
        }


def _no_data(theta, cols):  # pragma: no cover - the objective never calls it
    raise TypeError("the 'point' model has no data to predict")


MODELS: dict[str, Model] = {
    m.name: m
    for m in [
        Model("linear", "Linear regression", "y = w*x + b", ("w", "b"), 1, IDENTITY,
              (REGRESSION,), (-2.0, -2.5), _affine1, _affine1_vjp, _design_affine1),
        Model("logistic", "Logistic regression", "p = sigmoid(w*x + b)", ("w", "b"), 1,
              SIGMOID, (CLASSIFICATION,), (-3.0, 2.0), _affine1, _affine1_vjp, _design_affine1),
        Model("neuron2", "One neuron, no bias", "p = sigmoid(w1*x1 + w2*x2)", ("w1", "w2"), 2,
              SIGMOID, (CLASSIFICATION,), (-3.0, -2.0), _plane0, _plane0_vjp, _design_plane0),
        Model("tanh-net", "One tanh unit", "y = v*tanh(u*x)", ("u", "v"), 1, IDENTITY,
              (REGRESSION,), (-0.2, -2.5), _tanh_net, _tanh_net_vjp),
        Model("neuron", "One neuron with a bias (the AND neuron)",
              "p = sigmoid(w1*x1 + w2*x2 + b)", ("w1", "w2", "b"), 2, SIGMOID,
              (CLASSIFICATION,), (0.0, 0.0, 0.0), _plane, _plane_vjp, _design_plane),
        Model("point", "The point itself (test functions)", "theta = (x, y); loss = f(x, y)",
              ("x", "y"), 0, IDENTITY, (FUNCTION,), (0.0, 0.0), _no_data, _no_data),
    ]
}
