"""Classic optimizer test functions f(x, y): a loss surface with no data behind it.

Each function takes theta of shape (..., 2) and returns f of shape (...); its gradient is
written beside it and returns shape (..., 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TestFunction:
    name: str
    title: str
    formula: str
    value: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray], np.ndarray]
    minima: tuple[tuple[float, float], ...]
    minimum_value: float
    bounds: tuple[tuple[float, float], tuple[float, float]]
    start: tuple[float, float]

    __test__ = False  # not a pytest class


def _xy(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    theta = np.asarray(theta, dtype=np.float64)
    return theta[..., 0], theta[..., 1]


def _rosenbrock(t):
    # f = (1 - x)^2 + 100 (y - x^2)^2
    x, y = _xy(t)
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _rosenbrock_grad(t):
    # df/dx = -2 (1 - x) - 400 x (y - x^2);  df/dy = 200 (y - x^2)
    x, y = _xy(t)
    return np.stack([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)], axis=-1)


def _himmelblau(t):
    # f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2
    x, y = _xy(t)
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _himmelblau_grad(t):
    # df/dx = 4x (x^2 + y - 11) + 2 (x + y^2 - 7);  df/dy = 2 (x^2 + y - 11) + 4y (x + y^2 - 7)
    x, y = _xy(t)
    a, b = x**2 + y - 11, x + y**2 - 7
    return np.stack([4 * x * a + 2 * b, 2 * a + 4 * y * b], axis=-1)


def _beale(t):
    # f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2
    x, y = _xy(t)
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _beale_grad(t):
    # df/dx = sum_k 2 r_k (y^k - 1);  df/dy = sum_k 2 r_k k x y^(k-1),  r_k = c_k - x + x y^k
    x, y = _xy(t)
    r1, r2, r3 = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
    gx = 2 * r1 * (y - 1) + 2 * r2 * (y**2 - 1) + 2 * r3 * (y**3 - 1)
    gy = 2 * r1 * x + 4 * r2 * x * y + 6 * r3 * x * y**2
    return np.stack([gx, gy], axis=-1)


def _saddle(t):
    # f = x^2 + y^4/4 - y^2/2: a saddle at (0, 0), minima at (0, +-1)
    x, y = _xy(t)
    return x**2 + y**4 / 4 - y**2 / 2


def _saddle_grad(t):
    # df/dx = 2x;  df/dy = y^3 - y
    x, y = _xy(t)
    return np.stack([2 * x, y**3 - y], axis=-1)


def _rastrigin(t):
    # f = 20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y)
    x, y = _xy(t)
    return 20 + x**2 - 10 * np.cos(2 * np.pi * x) + y**2 - 10 * np.cos(2 * np.pi * y)


def _rastrigin_grad(t):
    # df/dx = 2x + 20 pi sin(2 pi x);  likewise for y
    x, y = _xy(t)
    tau = 2 * np.pi
    return np.stack([2 * x + 10 * tau * np.sin(tau * x), 2 * y + 10 * tau * np.sin(tau * y)], -1)


FUNCTIONS: dict[str, TestFunction] = {
    f.name: f
    for f in [
        TestFunction(
            "rosenbrock", "Rosenbrock's banana valley", "(1 - x)^2 + 100 (y - x^2)^2",
            _rosenbrock, _rosenbrock_grad, ((1.0, 1.0),), 0.0, ((-2.0, 2.0), (-1.0, 3.0)),
            (-1.5, 2.0),
        ),
        TestFunction(
            "himmelblau", "Himmelblau: four equal minima", "(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
            _himmelblau, _himmelblau_grad,
            ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
            0.0, ((-5.0, 5.0), (-5.0, 5.0)), (0.0, 0.0),
        ),
        TestFunction(
            "beale", "Beale: flat plateaus, sharp ridges",
            "(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
            _beale, _beale_grad, ((3.0, 0.5),), 0.0, ((-4.5, 4.5), (-4.5, 4.5)), (1.0, 1.5),
        ),
        TestFunction(
            "saddle", "A saddle between two minima", "x^2 + y^4/4 - y^2/2",
            _saddle, _saddle_grad, ((0.0, 1.0), (0.0, -1.0)), -0.25, ((-2.0, 2.0), (-2.0, 2.0)),
            (1.5, 0.001),
        ),
        TestFunction(
            "rastrigin", "Rastrigin: many local minima",
            "20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y)",
            _rastrigin, _rastrigin_grad, ((0.0, 0.0),), 0.0, ((-5.12, 5.12), (-5.12, 5.12)),
            (3.2, -2.7),
        ),
    ]
}
