"""The loss surface: the training loss over a G x G grid of two parameters.

For a two-parameter model the grid spans the parameters themselves; for a model with more
parameters it spans a plane theta0 + a*d1 + b*d2 of its parameter space. The values are the
objective's own (the trainer's loss at the same theta), computed in chunks of grid points so
that the temporary arrays stay within ``chunk_bytes`` whatever the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .objective import Objective

# One (chunk, n) float64 work array: small enough to stay in cache and be reused without
# page faults (peak use is about twice this on the generic path, once on the fused one).
CHUNK_BYTES = 2**20


@dataclass(frozen=True)
class Plane:
    """theta = origin + a * d1 + b * d2."""

    origin: np.ndarray
    d1: np.ndarray
    d2: np.ndarray

    def thetas(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Points (..., P) of the plane for coordinates a, b of shape (...)."""
        return self.origin + a[..., None] * self.d1 + b[..., None] * self.d2

    def axis_names(self, param_names: tuple[str, ...]) -> tuple[str, str]:
        names = []
        for d, fallback in ((self.d1, "a"), (self.d2, "b")):
            nz = np.flatnonzero(d)
            names.append(param_names[nz[0]] if nz.size == 1 and d[nz[0]] == 1.0 else fallback)
        return names[0], names[1]


@dataclass(frozen=True)
class Surface:
    param_names: tuple[str, str]
    xs: np.ndarray  # (G,)
    ys: np.ndarray  # (G,)
    loss: np.ndarray  # (G, G): row i is ys[i], column j is xs[j]
    bounds: tuple[tuple[float, float], tuple[float, float]]
    min_params: np.ndarray  # (P,) the full parameter vector at the grid's lowest point
    min_loss: float
    plane: Plane | None


def axis_plane(n_params: int, origin: np.ndarray, i: int = 0, j: int = 1) -> Plane:
    """The plane through ``origin`` along parameters i and j (the others held fixed)."""
    eye = np.eye(n_params)
    return Plane(np.asarray(origin, dtype=np.float64), eye[i], eye[j])


def grid_loss(objective: Objective, thetas: np.ndarray, chunk_bytes: int = CHUNK_BYTES
              ) -> np.ndarray:
    """Training loss at each of thetas (k, P): shape (k,), computed chunk by chunk."""
    k = thetas.shape[0]
    if objective.function is not None or objective.closed_form:
        with np.errstate(all="ignore"):
            return objective.value(thetas)
    rows = max(1, chunk_bytes // (8 * max(objective.n, 1)))
    out = np.empty(k)
    work = np.empty((min(rows, k), objective.n)) if objective.fused is not None else None
    with np.errstate(all="ignore"):
        for i in range(0, k, rows):
            out[i:i + rows] = objective.value(thetas[i:i + rows], work=work)
    return out


def auto_bounds(objective: Objective, start: np.ndarray, plane: Plane | None = None,
                coarse: int = 41) -> tuple[tuple[float, float], tuple[float, float]]:
    """A box holding the start point and the low region of the loss, with a margin.

    For a test function: its classic box, widened to include the start. Otherwise a coarse
    search over a wide box around the origin (and the start) finds where the loss is lowest.
    """
    s = np.asarray(start, dtype=np.float64)
    s2 = np.zeros(2) if plane is not None else s[:2]
    fn = objective.function
    if fn is not None:
        (x0, x1), (y0, y1) = fn.bounds
        box = np.array([[min(x0, s2[0]), max(x1, s2[0])], [min(y0, s2[1]), max(y1, s2[1])]])
        return _as_bounds(box)
    half = max(6.0, 1.5 * float(np.max(np.abs(s2))))
    axis = np.linspace(-half, half, coarse)
    A, B = np.meshgrid(axis, axis)
    pts = np.stack([A.ravel(), B.ravel()], axis=-1)
    thetas = plane.thetas(pts[:, 0], pts[:, 1]) if plane is not None else pts
    with np.errstate(all="ignore"):
        z = grid_loss(_subsampled(objective), thetas)
    z = np.where(np.isfinite(z), z, np.inf)
    lo, mid = float(np.min(z)), float(np.median(z[np.isfinite(z)]))
    low = pts[z <= lo + 0.01 * (mid - lo)]  # every near-lowest point (mirror minima included)
    pts_in = np.vstack([low, s2[None, :]])
    box = np.stack([pts_in.min(axis=0), pts_in.max(axis=0)], axis=-1)
    span = np.maximum(box[:, 1] - box[:, 0], 2.0)
    box[:, 0] -= 0.25 * span
    box[:, 1] += 0.25 * span
    return _as_bounds(box)


def _as_bounds(box: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    return ((float(box[0, 0]), float(box[0, 1])), (float(box[1, 0]), float(box[1, 1])))


def _subsampled(objective: Objective, limit: int = 2000) -> Objective:
    """The same objective on at most ``limit`` evenly spaced rows (for a cheap coarse search)."""
    if objective.function is not None or objective.n <= limit or objective.closed_form:
        return objective
    from dataclasses import replace

    ds = objective.dataset
    idx = np.linspace(0, ds.n - 1, limit).astype(int)
    return Objective(replace(ds, X=ds.X[idx], y=ds.y[idx]), objective.model, objective.loss)


def check_bounds(bounds, field: str = "bounds"
                 ) -> tuple[tuple[float, float], tuple[float, float]]:
    """Validate [[lo, hi], [lo, hi]]: finite numbers with lo < hi."""
    if not isinstance(bounds, list | tuple) or len(bounds) != 2:
        raise ConfigError(field, "must be [[lo, hi], [lo, hi]]", "type")
    out = []
    for i, pair in enumerate(bounds):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ConfigError(f"{field}[{i}]", "must be [lo, hi]", "type")
        lo, hi = pair
        for j, v in enumerate(pair):
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
                raise ConfigError(f"{field}[{i}][{j}]", f"must be a finite number, got {v!r}",
                                  "type")
            if abs(v) > 1e6:
                raise ConfigError(f"{field}[{i}][{j}]", "must be within ±1e6", "out_of_range")
        if not lo < hi:
            raise ConfigError(f"{field}[{i}]", f"lo must be less than hi, got [{lo}, {hi}]",
                              "out_of_range")
        out.append((float(lo), float(hi)))
    return out[0], out[1]


def loss_surface(objective: Objective, resolution: int = 80, bounds=None,
                 plane: Plane | None = None, start: np.ndarray | None = None,
                 chunk_bytes: int = CHUNK_BYTES) -> Surface:
    """The training loss over a resolution x resolution grid (see the module docstring)."""
    P = objective.n_params
    if start is None:
        start = np.zeros(P)
    if P > 2 and plane is None:
        plane = axis_plane(P, start)
    if bounds is None:
        bounds = auto_bounds(objective, start, plane)
    (x0, x1), (y0, y1) = bounds
    xs = np.linspace(x0, x1, resolution)
    ys = np.linspace(y0, y1, resolution)
    A, B = np.meshgrid(xs, ys)  # A[i, j] = xs[j], B[i, j] = ys[i]
    a, b = A.ravel(), B.ravel()
    thetas = plane.thetas(a, b) if plane is not None else np.stack([a, b], axis=-1)
    z = grid_loss(objective, thetas, chunk_bytes).reshape(resolution, resolution)
    finite = np.isfinite(z)
    if not finite.any():
        raise ConfigError("bounds", "the loss is not finite anywhere in these bounds",
                          "out_of_range")
    # Overflowing corners (far from anything sensible) are capped at the largest finite value.
    z = np.where(finite, z, np.max(z[finite]))
    i = int(np.argmin(z))
    names = (plane.axis_names(objective.model.param_names) if plane is not None
             else tuple(objective.model.param_names[:2]))
    return Surface(names, xs, ys, z, ((x0, x1), (y0, y1)), thetas[i].copy(), float(z.flat[i]),
                   plane)
