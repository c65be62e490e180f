"""The trainer: one generator of epoch records for every interface.

Each epoch: shuffle the training rows (seeded), then for each mini-batch of m rows
forward pass -> loss -> backward pass -> update theta <- theta - lr * (1/m) sum grad L_i
(or the optimizer's rule). After the epoch the loss and full-batch gradient at the new theta
are recorded, and the stopping criteria are checked.

Record k is the state after k epochs; record 0 is the starting point. Pausing is simply not
asking for the next record, so a paused run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError
from .objective import Objective
from .runconfig import Run

DIVERGENCE_FACTOR = 1e6


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~1 us more per epoch
class Epoch:
    """One epoch record. theta/grad: (P,); batch_thetas: (steps, P) when asked for."""

    epoch: int
    theta: np.ndarray
    loss: float
    val_loss: float | None
    grad: np.ndarray
    grad_norm: float
    learning_rate: float  # the rate used for this epoch's updates
    batch_thetas: np.ndarray | None = None
    stop_reason: str | None = None


def _finite(*values: Any) -> bool:
    """True when every value (a float, None, or a small array) is finite."""
    isfinite = math.isfinite
    for v in values:
        if v is None:
            continue
        if isinstance(v, float):
            if not isfinite(v):
                return False
        elif not all(map(isfinite, v.tolist())):
            return False
    return True


def _norm(g: np.ndarray) -> float:
    return math.hypot(*g.tolist())


class Training(Iterator[Epoch]):
    """Iterate to train; ``set_learning_rate`` changes the rate from the next epoch on."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.objective = Objective(run.dataset, run.model, run.loss)
        self.learning_rate = run.learning_rate
        self.stop_reason: str | None = None
        with np.errstate(all="ignore"):
            loss, grad = self.objective.value_and_grad(run.start)
            val = self.objective.validation_value(run.start)
        if not _finite(loss, val, _norm(grad)):
            raise ConfigError("start", "the loss or its gradient overflows at this start point; "
                              "choose one nearer the origin", "out_of_range")
        self._start = (loss, grad, val)
        self._next_epoch = 1
        self._records = self._epochs()

    def set_learning_rate(self, lr: float) -> int:
        """Use ``lr`` from the next epoch on; returns that epoch's number."""
        self.learning_rate = float(lr)
        return self._next_epoch

    def __next__(self) -> Epoch:
        return next(self._records)

    def _epochs(self) -> Iterator[Epoch]:
        run, obj = self.run, self.objective
        update = run.optimizer.update
        rng = np.random.default_rng(run.seed)
        n, bs = obj.n, run.batch_size
        full_batch = bs == 0 or bs >= n
        record = run.record_batches

        theta = run.start.copy()
        state = run.optimizer.init(theta)
        loss, grad, val = self._start
        norm = _norm(grad)
        start_loss = loss
        best_val, since_best = val, 0
        prev: Epoch | None = None

        changes = dict(run.lr_changes)
        for k in range(run.epochs + 1):
            if k in changes:
                self.learning_rate = changes[k]
            lr = self.learning_rate
            steps = None
            if k > 0:
                with np.errstate(all="ignore"):
                    if full_batch:
                        theta, state = update(grad, state, theta, lr)
                        if record:
                            steps = theta[None, :]
                    else:
                        order = rng.permutation(n)
                        trail = []
                        for i in range(0, n, bs):
                            _, g = obj.value_and_grad(theta, order[i:i + bs])
                            theta, state = update(g, state, theta, lr)
                            if record:
                                trail.append(theta)
                        if record:
                            steps = np.array(trail)
                    loss, grad = obj.value_and_grad(theta)
                    val = obj.validation_value(theta)
                    norm = _norm(grad)
                self._next_epoch = k + 1

            reason = None
            if not _finite(loss, val, norm, theta):
                # The step overflowed: report the last finite state, and stop.
                assert prev is not None
                self.stop_reason = "diverged"
                finite_steps = None
                if steps is not None:
                    ok = np.isfinite(steps).all(axis=1)
                    finite_steps = steps[: int(np.argmin(ok)) if not ok.all() else len(ok)]
                yield Epoch(k, prev.theta, prev.loss, prev.val_loss, prev.grad, prev.grad_norm,
                            lr, finite_steps, "diverged")
                return
            if start_loss > 0 and loss > DIVERGENCE_FACTOR * start_loss:
                reason = "diverged"
            elif run.target_loss is not None and loss <= run.target_loss:
                reason = "target_loss"
            elif run.tolerance is not None and norm < run.tolerance:
                reason = "converged"
            elif run.patience is not None and k > 0:
                if val < best_val:
                    best_val, since_best = val, 0
                else:
                    since_best += 1
                    if since_best >= run.patience:
                        reason = "early_stopping"
            if reason is None and k == run.epochs:
                reason = "max_epochs"

            self.stop_reason = reason
            prev = Epoch(k, theta, loss, val, grad, norm, lr, steps, reason)
            yield prev
            if reason is not None:
                return


def train(run: Run) -> Training:
    """Train ``run``: an iterator of :class:`Epoch` records, epoch 0 first."""
    return Training(run)
