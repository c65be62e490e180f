"""The objective L(theta): a model and a loss on a dataset's training rows (or a test function).

One objective serves the trainer (theta of shape (P,), the whole training set or a batch of
rows) and the surface (theta of shape (..., P), the whole training set).

Closed form: MSE of the linear model depends on the data only through five means. With
x' = x - mean(x), y' = y - mean(y) and c = b + w*mean(x) - mean(y):

    L(w, b)  = var(y) - 2 w cov(x, y) + w^2 var(x) + c^2
    dL/dw    = 2 (w var(x) - cov(x, y) + c mean(x))
    dL/db    = 2 c

(centred, so large offsets in the data do not cancel catastrophically).
"""

from __future__ import annotations

import numpy as np

from .datasets import Dataset
from .losses import EXP_SAFE, Loss, softplus
from .models import Model, sigmoid


class _Moments:
    """The five means that fix MSE of y ~ w*x + b."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.mx = float(x.mean())
        self.my = float(y.mean())
        xc, yc = x - self.mx, y - self.my
        n = x.shape[0]
        self.vxx = float(xc @ xc) / n
        self.cxy = float(xc @ yc) / n
        self.vyy = float(yc @ yc) / n

    def value(self, theta: np.ndarray) -> np.ndarray:
        w, b = theta[..., 0], theta[..., 1]
        c = b + w * self.mx - self.my
        return np.maximum(self.vyy + w * (w * self.vxx - 2.0 * self.cxy) + c * c, 0.0)

    def scalar_value(self, theta: np.ndarray) -> float:
        """value() for one theta of shape (2,), in plain floats (several times faster)."""
        w, b = theta.tolist()
        c = b + w * self.mx - self.my
        return max(self.vyy + w * (w * self.vxx - 2.0 * self.cxy) + c * c, 0.0)

    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta.tolist()
        c = b + w * self.mx - self.my
        value = max(self.vyy + w * (w * self.vxx - 2.0 * self.cxy) + c * c, 0.0)
        return value, np.array([2.0 * (w * self.vxx - self.cxy + c * self.mx), 2.0 * c])


class _FusedCrossEntropy:
    """Cross-entropy of a logit linear in theta (z = A theta), in as few passes as possible.

    With s = 1 - 2y and S = s * A (row-wise):
        L(theta)   = mean_i softplus(S_i . theta)
        dL/dtheta  = S^T sigmoid(S theta) / n
    The full-batch step reuses two work arrays, so no memory is allocated per epoch.
    """

    def __init__(self, A: np.ndarray, y: np.ndarray) -> None:
        s = 1.0 - 2.0 * y
        self.S = np.ascontiguousarray(s[:, None] * A)
        self.ST = np.ascontiguousarray(self.S.T)
        n = y.shape[0]
        self._t = np.empty(n)
        self._u = np.empty(n)

    def value(self, theta: np.ndarray, work: np.ndarray | None = None) -> np.ndarray:
        """Mean loss at theta (..., P) -> (...); ``work`` (k, n) is reused for a 2-D theta."""
        if work is not None and theta.ndim == 2:
            t = np.matmul(theta, self.ST, out=work[: theta.shape[0]])
        else:
            t = theta @ self.ST
        return softplus(t, out=t).mean(axis=-1)

    def value_and_grad(self, theta: np.ndarray, rows: np.ndarray | None
                       ) -> tuple[float, np.ndarray]:
        if rows is None:
            S, t, u = self.S, self._t, self._u
            np.matmul(S, theta, out=t)  # forward: the signed logits s*z
        else:
            S = self.S[rows]
            t = S @ theta
            u = np.empty_like(t)
        m = t.shape[0]
        if t.max() < EXP_SAFE:
            np.exp(t, out=t)
            value = float(np.log1p(t, out=u).sum()) / m  # loss: softplus(t) = log1p(exp(t))
            np.add(t, 1.0, out=u)
            np.divide(t, u, out=u)  # sigmoid(t) = e / (1 + e)
        else:
            value = float(softplus(t).sum()) / m
            u[...] = sigmoid(t)
        return value, (u @ S) / m  # backward: dL/dtheta = S^T sigmoid(t) / m


def _columns(X: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.ascontiguousarray(X[:, j]) for j in range(X.shape[1]))


class Objective:
    """Training loss of ``model`` + ``loss`` on ``dataset`` (and its validation loss)."""

    def __init__(self, dataset: Dataset, model: Model, loss: Loss | None) -> None:
        self.dataset, self.model, self.loss = dataset, model, loss
        self.function = dataset.function
        self.n = dataset.n
        self.n_params = model.n_params
        if self.function is not None:
            return
        assert loss is not None
        self.link = model.link
        self.cols = _columns(dataset.X)
        self.target = loss.prepare(dataset.y)
        self.val_cols = _columns(dataset.X_val)
        self.val_target = loss.prepare(dataset.y_val)
        closed = model.name == "linear" and loss.name == "mse"
        self.moments = _Moments(self.cols[0], dataset.y) if closed else None
        self.val_moments = (_Moments(self.val_cols[0], dataset.y_val)
                            if closed and dataset.has_validation else None)
        fused = loss.name == "cross-entropy" and model.design is not None
        self.fused = _FusedCrossEntropy(model.design(self.cols), dataset.y) if fused else None
        self.val_fused = (_FusedCrossEntropy(model.design(self.val_cols), dataset.y_val)
                          if fused and dataset.has_validation else None)

    @property
    def closed_form(self) -> bool:
        return self.function is None and self.moments is not None

    def value(self, theta: np.ndarray, inplace_ok: bool = True,
              work: np.ndarray | None = None) -> np.ndarray:
        """Training loss at theta (..., P), shape (...). Memory: one (..., n) array or two
        (or the given ``work`` array of shape (k, n), for a theta of shape (k, P))."""
        theta = np.asarray(theta, dtype=np.float64)
        if self.function is not None:
            return self.function.value(theta)
        if self.moments is not None:
            return self.moments.value(theta)
        if self.fused is not None:
            return self.fused.value(theta, work)
        z = self.model.logits(theta, self.cols)
        return self.loss.value(z, self.target, self.link, inplace=inplace_ok)

    def brute_value(self, theta: np.ndarray) -> np.ndarray:
        """Training loss computed sample by sample, never from the closed form (for checks)."""
        theta = np.asarray(theta, dtype=np.float64)
        if self.function is not None:
            return self.function.value(theta)
        z = self.model.logits(theta, self.cols)
        return self.loss.value(z, self.target, self.link)

    def value_and_grad(self, theta: np.ndarray, rows: np.ndarray | None = None
                       ) -> tuple[float, np.ndarray]:
        """Mean loss and its gradient (P,) at theta (P,): forward, loss, backward.

        ``rows``: indices of a mini-batch (None: the whole training set).
        """
        if self.function is not None:
            return float(self.function.value(theta)), self.function.grad(theta)
        if self.fused is not None:
            return self.fused.value_and_grad(theta, rows)
        if rows is None:
            if self.moments is not None:
                return self.moments.value_and_grad(theta)
            cols, target = self.cols, self.target
        else:
            cols = tuple(c[rows] for c in self.cols)
            target = self.target[rows]
        z = self.model.logits(theta, cols)  # forward
        value, dz = self.loss.value_and_dz(z, target, self.link)  # loss, dL/dz
        return value, self.model.vjp(theta, cols, dz)  # backward: dL/dtheta

    def validation_value(self, theta: np.ndarray) -> float | None:
        """Mean loss on the validation rows at theta (P,), or None when there are none."""
        if self.function is not None or not self.dataset.has_validation:
            return None
        if self.val_moments is not None:
            return self.val_moments.scalar_value(theta)
        if self.val_fused is not None:
            return float(self.val_fused.value(theta))
        z = self.model.logits(theta, self.val_cols)
        return float(self.loss.value(z, self.val_target, self.link, inplace=True))
