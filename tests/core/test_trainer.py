"""The trainer: the lesson's AND neuron, every stop reason, determinism, mini-batches."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from app.core.datasets import csv_dataset
from app.core.errors import ConfigError
from app.core.objective import Objective
from app.core.results import epoch_dict
from app.core.runconfig import Limits, parse_run
from app.core.trainer import Epoch, train


def run_all(cfg: dict, limits: Limits = Limits()) -> list[Epoch]:
    return list(train(parse_run(cfg, limits)))


def assert_all_finite(records: list[Epoch]) -> None:
    """No NaN or infinity anywhere in any record, in the record or in its JSON form."""
    for r in records:
        for value in (r.loss, r.grad_norm, r.learning_rate):
            assert math.isfinite(value), r
        if r.val_loss is not None:
            assert math.isfinite(r.val_loss), r
        assert np.isfinite(r.theta).all() and np.isfinite(r.grad).all(), r
        if r.batch_thetas is not None:
            assert np.isfinite(r.batch_thetas).all(), r
        d = epoch_dict(r)
        for key in ("params", "grad", "batch_params"):
            for v in np.ravel(d.get(key, [])):
                assert v is not None and math.isfinite(v), (key, d)
        for key in ("loss", "grad_norm"):
            assert d[key] is not None and math.isfinite(d[key])


def assert_same_trajectory(a: list[Epoch], b: list[Epoch]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.epoch == y.epoch and x.stop_reason == y.stop_reason
        assert x.loss == y.loss and x.val_loss == y.val_loss and x.grad_norm == y.grad_norm
        np.testing.assert_array_equal(x.theta, y.theta, strict=True)
        np.testing.assert_array_equal(x.grad, y.grad, strict=True)
        if x.batch_thetas is None:
            assert y.batch_thetas is None
        else:
            np.testing.assert_array_equal(x.batch_thetas, y.batch_thetas, strict=True)


# --- the lesson --------------------------------------------------------------------------------

def test_the_lessons_and_neuron():
    run = parse_run({"dataset": "and", "model": "neuron", "loss": "cross-entropy",
                     "optimizer": "sgd", "learning_rate": 0.5, "epochs": 2000,
                     "start": [0, 0, 0]})
    assert run.batch_size == run.dataset.n == 4  # full batch
    records = list(train(run))
    assert len(records) == 2001 and records[-1].stop_reason == "max_epochs"
    p = run.model.predict(records[-1].theta, run.dataset.X)
    assert [round(float(v), 2) for v in p[:3]] == [0.0, 0.02, 0.02]
    assert round(float(p[3]), 3) == 0.972
    # the AND truth table: p > 0.5 exactly where the label is 1
    np.testing.assert_array_equal(run.dataset.X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(p > 0.5, run.dataset.y == 1.0)


def per_sample_grad(model: str, theta: np.ndarray, x: np.ndarray, y: float) -> np.ndarray:
    """d/dtheta of one sample's loss, by hand: linear + MSE and neuron + cross-entropy."""
    if model == "linear":
        r = theta[0] * x[0] + theta[1] - y
        return np.array([2 * r * x[0], 2 * r])
    z = theta[0] * x[0] + theta[1] * x[1] + theta[2]
    p = 1 / (1 + math.exp(-z))
    return np.array([(p - y) * x[0], (p - y) * x[1], p - y])


def test_full_batch_epoch_is_one_gradient_step():
    run = parse_run({"dataset": "and", "model": "neuron", "learning_rate": 0.5, "epochs": 3,
                     "start": [0.1, -0.2, 0.3]})
    records = list(train(run))
    X, y = run.dataset.X, run.dataset.y
    theta = np.array([0.1, -0.2, 0.3])
    for r in records[1:]:
        g = sum(per_sample_grad("neuron", theta, X[i], y[i]) for i in range(4)) / 4
        theta = theta - 0.5 * g
        np.testing.assert_allclose(r.theta, theta, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(r.grad, sum(per_sample_grad("neuron", theta, X[i], y[i])
                                               for i in range(4)) / 4, rtol=1e-12, atol=1e-15)
        assert r.grad_norm == pytest.approx(float(np.linalg.norm(r.grad)), rel=1e-14)
        assert r.learning_rate == 0.5


def test_record_zero_is_the_start():
    run = parse_run({"dataset": "line", "model": "linear", "start": [0.5, -1.0], "epochs": 2})
    first = next(train(run))
    assert first.epoch == 0 and first.stop_reason is None
    np.testing.assert_array_equal(first.theta, [0.5, -1.0])
    x, y = run.dataset.X[:, 0], run.dataset.y
    assert first.loss == pytest.approx(float(np.mean((0.5 * x - 1.0 - y) ** 2)), rel=1e-12)
    xv, yv = run.dataset.X_val[:, 0], run.dataset.y_val
    assert first.val_loss == pytest.approx(float(np.mean((0.5 * xv - 1.0 - yv) ** 2)),
                                           rel=1e-12)


# --- stop reasons ------------------------------------------------------------------------------

def test_stop_max_epochs():
    records = run_all({"dataset": "line", "model": "linear", "epochs": 7})
    assert [r.epoch for r in records] == list(range(8))
    assert [r.stop_reason for r in records] == [None] * 7 + ["max_epochs"]


def test_stop_target_loss():
    records = run_all({"dataset": "line", "model": "linear", "epochs": 1000,
                       "stop": {"target_loss": 0.5}})
    assert records[-1].stop_reason == "target_loss"
    assert records[-1].loss <= 0.5 < records[-2].loss
    assert len(records) < 1001
    assert all(r.loss > 0.5 and r.stop_reason is None for r in records[:-1])


def test_stop_converged():
    records = run_all({"dataset": "line", "model": "linear", "epochs": 5000,
                       "stop": {"tolerance": 1e-4}})
    assert records[-1].stop_reason == "converged"
    assert records[-1].grad_norm < 1e-4 <= records[-2].grad_norm
    assert len(records) < 5001


def test_stop_early_stopping():
    patience = 3
    records = run_all({"dataset": "line", "model": "linear", "epochs": 5000,
                       "dataset_options": {"validation_split": 0.3, "noise": 1.0},
                       "stop": {"patience": patience}})
    assert records[-1].stop_reason == "early_stopping"
    assert len(records) < 5001
    # recompute: the last `patience` epochs are no better than the best before them, and
    # no earlier window of `patience` epochs was
    vals = [r.val_loss for r in records]
    best, since, stop_at = vals[0], 0, None
    for k in range(1, len(vals)):
        if vals[k] < best:
            best, since = vals[k], 0
        else:
            since += 1
            if since >= patience:
                stop_at = k
                break
    assert stop_at == records[-1].epoch


def test_stop_diverged_linear_lr_10():
    records = run_all({"dataset": "line", "model": "linear", "learning_rate": 10,
                       "epochs": 1000})
    assert records[-1].stop_reason == "diverged"
    assert records[-1].loss > 1e6 * records[0].loss
    assert all(r.stop_reason is None for r in records[:-1])
    assert_all_finite(records)


def test_one_huge_but_finite_step_ends_diverged_at_that_step():
    """One step to theta ~ -1e22 gives a loss ~1e181 and a gradient ~1e159: huge but finite
    (the gradient norm is computed without squaring, so it does not overflow either). The
    run ends 'diverged' at that very step, reporting it."""
    cfg = {"dataset": "beale", "model": "point", "learning_rate": 10, "start": [1e3, 1e3],
           "record_batches": True, "epochs": 50}
    training = train(parse_run(cfg))
    with np.errstate(all="raise"):
        records = list(training)
    assert len(records) == 2
    assert records[-1].stop_reason == training.stop_reason == "diverged"
    assert records[-1].loss > 1e6 * records[0].loss
    assert np.abs(records[-1].theta).max() > 1e20
    assert_all_finite(records)


@pytest.mark.parametrize(("cfg", "limits"), [
    # theta itself overflows to infinity in one step
    ({"dataset": "rosenbrock", "model": "point", "learning_rate": 1e306, "start": [3, 3],
      "record_batches": True}, Limits(max_learning_rate=1e308)),
    ({"dataset": "line", "model": "linear", "learning_rate": 1e306, "batch_size": 8,
      "record_batches": True}, Limits(max_learning_rate=1e308)),
    ({"dataset": "tanh", "model": "tanh-net", "optimizer": "momentum", "learning_rate": 1e306,
      "batch_size": 10, "record_batches": True}, Limits(max_learning_rate=1e308)),
    ({"dataset": "tanh", "model": "tanh-net", "optimizer": "adam", "learning_rate": 1e306},
     Limits(max_learning_rate=1e308)),

])
def test_stop_diverged_on_overflow_reports_only_finite_numbers(cfg, limits):
    training = train(parse_run({**cfg, "epochs": 50}, limits))
    with np.errstate(all="raise"):  # the trainer must contain its own overflow
        records = list(training)
    assert records[-1].stop_reason == training.stop_reason == "diverged"
    assert all(r.stop_reason is None for r in records[:-1])
    assert_all_finite(records)
    # the diverged record repeats the last finite state
    np.testing.assert_array_equal(records[-1].theta, records[-2].theta)
    assert records[-1].loss == records[-2].loss


def test_diverged_when_only_theta_overflows():
    """w jumps to +inf while the loss stays finite (a saturated sigmoid fits both points
    exactly): the run must still end 'diverged' with the last finite state."""
    data = b"x,y\n-1,0\n1,1\n"
    run = parse_run({"dataset": "pair", "model": "logistic", "loss": "mse",
                     "optimizer": "rmsprop", "learning_rate": 1e308, "start": [0, 0],
                     "epochs": 5}, Limits(max_learning_rate=1e308),
                    resolver=lambda name, options: csv_dataset(data, name=name))
    # guard: the first step does give theta = (inf, 0) at a finite loss
    obj = Objective(run.dataset, run.model, run.loss)
    _, g = obj.value_and_grad(run.start)
    with np.errstate(all="ignore"):
        theta, _ = run.optimizer.update(g, run.optimizer.init(run.start), run.start, 1e308)
        assert np.isposinf(theta[0]) and theta[1] == 0.0
        assert math.isfinite(obj.value_and_grad(theta)[0])
    records = list(train(run))
    assert [r.stop_reason for r in records] == [None, "diverged"]
    assert_all_finite(records)


def test_theta_overflow_really_happens_in_the_overflow_case():
    """Guard for the test above: the rosenbrock step does make theta non-finite."""
    from app.core.functions import FUNCTIONS

    fn = FUNCTIONS["rosenbrock"]
    with np.errstate(all="ignore"):
        theta = np.array([3.0, 3.0]) - 1e306 * fn.grad(np.array([3.0, 3.0]))
    assert not np.isfinite(theta).all()


def test_start_that_overflows_is_rejected():
    run = parse_run({"dataset": "beale", "model": "point", "start": [1e50, 1e50]},
                    Limits(max_start=1e60))
    with pytest.raises(ConfigError) as info:
        train(run)
    assert info.value.field == "start"


# --- determinism -------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", [
    {"dataset": "line", "model": "linear", "optimizer": "adam", "epochs": 40},
    {"dataset": "line", "model": "linear", "optimizer": "momentum", "epochs": 40,
     "batch_size": 8, "record_batches": True, "seed": 3},
    {"dataset": "cats-dogs", "model": "logistic", "optimizer": "rmsprop", "epochs": 40,
     "batch_size": 7, "start": "random", "seed": 12},
])
def test_same_config_same_trajectory(cfg):
    a = run_all(cfg)
    b = run_all(cfg)
    assert_same_trajectory(a, b)
    # consumed with interruptions, while another run of the same config runs in between
    t1 = train(parse_run(cfg))
    head = list(itertools.islice(t1, 10))
    other = run_all(cfg)
    tail = list(t1)
    assert_same_trajectory(head + tail, a)
    assert_same_trajectory(other, a)


def test_different_seed_different_minibatch_trajectory():
    cfg = {"dataset": "line", "model": "linear", "epochs": 3, "batch_size": 8}
    a, b = run_all({**cfg, "seed": 1}), run_all({**cfg, "seed": 2})
    assert not np.array_equal(a[-1].theta, b[-1].theta)


def test_set_learning_rate_mid_run():
    run = parse_run({"dataset": "line", "model": "linear", "learning_rate": 0.1, "epochs": 10})
    t = train(run)
    head = list(itertools.islice(t, 5))  # epochs 0..4
    assert t.set_learning_rate(0.01) == 5
    rest = list(t)
    assert [r.learning_rate for r in head] == [0.1] * 5
    assert [r.learning_rate for r in rest] == [0.01] * 6
    # epoch 5 stepped with the new rate from epoch 4's gradient
    np.testing.assert_allclose(rest[0].theta, head[-1].theta - 0.01 * head[-1].grad,
                               rtol=1e-15)
    # and the run without the change differs from there on
    plain = run_all({"dataset": "line", "model": "linear", "learning_rate": 0.1, "epochs": 10})
    assert_same_trajectory(head, plain[:5])
    assert not np.array_equal(rest[0].theta, plain[5].theta)


# --- mini-batches ------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [1, 8, 9, 80])
def test_minibatch_steps_per_epoch(batch_size):
    run = parse_run({"dataset": "line", "model": "linear", "epochs": 3,
                     "batch_size": batch_size, "record_batches": True})
    n = run.dataset.n
    assert n == 80  # 100 points, 20 % held back
    records = list(train(run))
    assert records[0].batch_thetas is None
    for r in records[1:]:
        assert r.batch_thetas.shape == (math.ceil(n / batch_size), 2)
        np.testing.assert_array_equal(r.batch_thetas[-1], r.theta)


def test_first_minibatch_step_uses_the_seeded_permutation():
    seed, lr, m = 5, 0.05, 8
    run = parse_run({"dataset": "line", "model": "linear", "epochs": 1, "batch_size": m,
                     "record_batches": True, "seed": seed, "learning_rate": lr,
                     "start": [0.3, -0.4]})
    X, y = run.dataset.X, run.dataset.y
    first = np.random.default_rng(seed).permutation(run.dataset.n)[:m]
    start = np.array([0.3, -0.4])
    g = sum(per_sample_grad("linear", start, X[i], y[i]) for i in first) / m
    records = list(train(run))
    np.testing.assert_allclose(records[1].batch_thetas[0], start - lr * g, rtol=1e-13)
    # a full walk through the epoch, batch by batch, recomputed here
    theta = start.copy()
    order = np.random.default_rng(seed).permutation(run.dataset.n)
    for step, i in enumerate(range(0, run.dataset.n, m)):
        rows = order[i:i + m]
        g = sum(per_sample_grad("linear", theta, X[j], y[j]) for j in rows) / len(rows)
        theta = theta - lr * g
        np.testing.assert_allclose(records[1].batch_thetas[step], theta, rtol=1e-12)


def test_full_batch_records_one_step_per_epoch():
    records = run_all({"dataset": "line", "model": "linear", "epochs": 2,
                       "record_batches": True})
    for r in records[1:]:
        np.testing.assert_array_equal(r.batch_thetas, r.theta[None, :])


def test_test_function_training_descends():
    records = run_all({"dataset": "himmelblau", "model": "point", "learning_rate": 0.01,
                       "epochs": 200})
    assert records[0].val_loss is None
    assert records[-1].loss < 1e-6 < records[0].loss
    fn_minima = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                 (3.584428, -1.848126)]
    assert min(math.dist(records[-1].theta, m) for m in fn_minima) < 1e-3


def test_learning_rate_changes_in_the_config_replay_mid_run_changes_exactly():
    """A run whose rate was changed mid-stream (set_learning_rate after record 9 and 19) is
    replayed bit for bit by a config listing the same changes."""
    base = {"dataset": "tanh", "model": "tanh-net", "optimizer": "adam", "batch_size": 16,
            "epochs": 40, "learning_rate": 0.05}
    live = train(parse_run(base))
    streamed = []
    for e in live:
        streamed.append(e)
        if e.epoch == 9:
            assert live.set_learning_rate(0.01) == 10
        if e.epoch == 19:
            assert live.set_learning_rate(0.2) == 20
    replay = list(train(parse_run({**base,
                                   "learning_rate_changes": [[10, 0.01], [20, 0.2]]})))
    assert len(replay) == len(streamed) == 41
    for a, b in zip(replay, streamed, strict=True):
        np.testing.assert_array_equal(a.theta, b.theta)
        assert (a.loss, a.learning_rate) == (b.loss, b.learning_rate)
    assert [e.learning_rate for e in replay[9:11]] == [0.05, 0.01]
    assert [e.learning_rate for e in replay[19:21]] == [0.01, 0.2]


@pytest.mark.parametrize(("changes", "field"), [
    ("0.1", "learning_rate_changes"),
    ([[5]], "learning_rate_changes[0]"),
    ([[0, 0.1]], "learning_rate_changes[0][0]"),
    ([[41, 0.1]], "learning_rate_changes[0][0]"),
    ([[5, 0.1], [5, 0.2]], "learning_rate_changes[1][0]"),
    ([[5, 0]], "learning_rate_changes[0][1]"),
    ([[5, 11]], "learning_rate_changes[0][1]"),
    ([[True, 0.1]], "learning_rate_changes[0][0]"),
])
def test_bad_learning_rate_changes_name_the_field(changes, field):
    with pytest.raises(ConfigError) as info:
        parse_run({"dataset": "line", "model": "linear", "epochs": 40,
                   "learning_rate_changes": changes})
    assert info.value.field == field
