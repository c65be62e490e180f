"""The loss surface: the trainer's own loss on a grid, in the documented orientation."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.errors import ConfigError
from app.core.objective import Objective
from app.core.runconfig import parse_run
from app.core.surface import Plane, auto_bounds, axis_plane, check_bounds, loss_surface


def objective(cfg: dict) -> Objective:
    run = parse_run(cfg)
    return Objective(run.dataset, run.model, run.loss)


def trainer_loss(obj: Objective, theta: np.ndarray, brute: bool = False) -> float:
    return obj.value_and_grad(np.asarray(theta, dtype=float),
                              np.arange(obj.n) if brute else None)[0]


def test_linear_mse_closed_form_and_brute_force_agree():
    obj = objective({"dataset": "line", "model": "linear"})
    assert obj.closed_form
    s = loss_surface(obj, resolution=21, bounds=((-3.0, 5.0), (-4.0, 2.0)))
    for i in range(21):
        for j in range(21):
            theta = [s.xs[j], s.ys[i]]
            assert s.loss[i, j] == pytest.approx(trainer_loss(obj, theta), rel=1e-12)
            assert s.loss[i, j] == pytest.approx(trainer_loss(obj, theta, brute=True),
                                                 rel=1e-9)
    np.testing.assert_allclose(obj.value(np.stack(np.meshgrid(s.xs, s.ys), -1)),
                               obj.brute_value(np.stack(np.meshgrid(s.xs, s.ys), -1)),
                               rtol=1e-9)


def test_closed_form_survives_a_large_offset_in_the_data():
    run = parse_run({"dataset": "line", "model": "linear",
                     "dataset_options": {"intercept": 90.0, "slope": 0.5}})
    obj = Objective(run.dataset, run.model, run.loss)
    for theta in ([0.5, 90.0], [0.4, 89.0], [-1.0, 3.0]):
        assert float(obj.value(np.array(theta))) == pytest.approx(
            float(obj.brute_value(np.array(theta))), rel=1e-9)


def test_logistic_cross_entropy_grid_equals_per_point_loss():
    obj = objective({"dataset": "cats-dogs", "model": "logistic"})
    assert not obj.closed_form
    s = loss_surface(obj, resolution=15, bounds=((-6.0, 4.0), (-3.0, 5.0)))
    for i in range(15):
        for j in range(15):
            assert s.loss[i, j] == pytest.approx(trainer_loss(obj, [s.xs[j], s.ys[i]]),
                                                 rel=1e-13)


def test_axes_orientation_row_is_y_column_is_x():
    obj = objective({"dataset": "rosenbrock", "model": "point"})  # not symmetric in x, y
    s = loss_surface(obj, resolution=9, bounds=((-2.0, 2.0), (-1.0, 3.0)))
    np.testing.assert_array_equal(s.xs, np.linspace(-2.0, 2.0, 9))
    np.testing.assert_array_equal(s.ys, np.linspace(-1.0, 3.0, 9))
    assert s.loss.shape == (9, 9)
    for i in range(9):
        for j in range(9):
            x, y = s.xs[j], s.ys[i]
            assert s.loss[i, j] == (1 - x) ** 2 + 100 * (y - x * x) ** 2
    assert s.param_names == ("x", "y")
    assert s.bounds == ((-2.0, 2.0), (-1.0, 3.0))


def test_chunking_gives_the_same_answer():
    obj = objective({"dataset": "tanh", "model": "tanh-net"})
    bounds = ((-3.0, 3.0), (-3.0, 3.0))
    whole = loss_surface(obj, resolution=12, bounds=bounds)
    tiny = loss_surface(obj, resolution=12, bounds=bounds, chunk_bytes=1)  # one point a chunk
    some = loss_surface(obj, resolution=12, bounds=bounds, chunk_bytes=8 * obj.n * 7)
    np.testing.assert_allclose(tiny.loss, whole.loss, rtol=1e-15, atol=0)
    np.testing.assert_allclose(some.loss, whole.loss, rtol=1e-15, atol=0)
    for i in (0, 5, 11):
        for j in (0, 6, 11):
            assert whole.loss[i, j] == pytest.approx(
                trainer_loss(obj, [whole.xs[j], whole.ys[i]]), rel=1e-13)


def test_grid_minimum_is_reported():
    obj = objective({"dataset": "himmelblau", "model": "point"})
    s = loss_surface(obj, resolution=31)
    i, j = np.unravel_index(np.argmin(s.loss), s.loss.shape)
    assert s.min_loss == s.loss[i, j] == s.loss.min()
    np.testing.assert_array_equal(s.min_params, [s.xs[j], s.ys[i]])


@pytest.mark.parametrize(("cfg", "start"), [
    ({"dataset": "line", "model": "linear"}, [-2.0, -2.5]),
    ({"dataset": "line", "model": "linear"}, [40.0, -30.0]),
    ({"dataset": "cats-dogs", "model": "logistic"}, [-3.0, 2.0]),
    ({"dataset": "tanh", "model": "tanh-net"}, [-0.2, -2.5]),
    ({"dataset": "rosenbrock", "model": "point"}, [-1.5, 2.0]),
    ({"dataset": "rosenbrock", "model": "point"}, [7.0, -9.0]),
])
def test_auto_bounds_contain_the_start_and_the_minimum(cfg, start):
    obj = objective(cfg)
    start = np.array(start)
    (x0, x1), (y0, y1) = auto_bounds(obj, start)
    assert x0 <= start[0] <= x1 and y0 <= start[1] <= y1
    s = loss_surface(obj, resolution=41, start=start)
    assert s.bounds == ((x0, x1), (y0, y1))
    mx, my = s.min_params
    assert x0 <= mx <= x1 and y0 <= my <= y1
    # the grid minimum is not on the edge of the box: the low region lies inside it
    i, j = np.unravel_index(np.argmin(s.loss), s.loss.shape)
    assert 0 < i < 40 and 0 < j < 40
    if cfg["model"] == "linear":  # the least-squares solution, computed independently
        x, y = obj.dataset.X[:, 0], obj.dataset.y
        w, b = np.polyfit(x, y, 1)
        assert x0 < w < x1 and y0 < b < y1
    if cfg["dataset"] == "rosenbrock":
        assert x0 < 1.0 < x1 and y0 < 1.0 < y1


def test_neuron_surface_is_a_plane_through_the_start():
    obj = objective({"dataset": "and", "model": "neuron"})
    start = np.array([0.5, -1.0, 0.25])
    s = loss_surface(obj, resolution=11, bounds=((-4.0, 4.0), (-2.0, 6.0)), start=start)
    assert s.plane is not None
    np.testing.assert_array_equal(s.plane.origin, start)
    np.testing.assert_array_equal(s.plane.d1, [1, 0, 0])
    np.testing.assert_array_equal(s.plane.d2, [0, 1, 0])
    assert s.param_names == ("w1", "w2")
    for i in range(11):
        for j in range(11):
            theta = start + s.xs[j] * np.array([1.0, 0, 0]) + s.ys[i] * np.array([0, 1.0, 0])
            assert s.loss[i, j] == pytest.approx(trainer_loss(obj, theta), rel=1e-13)
    assert s.min_params.shape == (3,)
    assert float(obj.value(s.min_params)) == pytest.approx(s.min_loss, rel=1e-13)


@pytest.mark.parametrize("cfg", [
    {"dataset": "and", "model": "neuron"},
    {"dataset": "line", "model": "linear"},
    {"dataset": "or", "model": "neuron2", "loss": "mse"},
])
def test_plane_with_custom_directions(cfg):
    obj = objective(cfg)
    P = obj.n_params
    rng = np.random.default_rng(4)
    origin, d1, d2 = rng.normal(size=P), rng.normal(size=P), rng.normal(size=P)
    plane = Plane(origin, d1, d2)
    s = loss_surface(obj, resolution=9, bounds=((-1.0, 2.0), (-1.5, 0.5)), plane=plane)
    assert s.param_names == ("a", "b")
    for i in range(9):
        for j in range(9):
            theta = origin + s.xs[j] * d1 + s.ys[i] * d2
            assert s.loss[i, j] == pytest.approx(trainer_loss(obj, theta), rel=1e-12)


def test_axis_plane_names_and_other_axes():
    obj = objective({"dataset": "and", "model": "neuron"})
    plane = axis_plane(3, np.array([1.0, 2.0, 3.0]), 0, 2)
    s = loss_surface(obj, resolution=5, bounds=((-1.0, 1.0), (-1.0, 1.0)), plane=plane)
    assert s.param_names == ("w1", "b")
    theta = np.array([1.0 + s.xs[4], 2.0, 3.0 + s.ys[0]])
    assert s.loss[0, 4] == pytest.approx(trainer_loss(obj, theta), rel=1e-13)


def test_overflowing_corners_are_capped_and_all_overflow_is_an_error():
    obj = objective({"dataset": "beale", "model": "point"})
    s = loss_surface(obj, resolution=5, bounds=((-1e6, 1e6), (-1e6, 1e6)))
    assert np.isfinite(s.loss).all()
    with pytest.raises(ConfigError) as info:
        loss_surface(obj, resolution=3, bounds=((1e5, 1e6), (1e55, 1e56)))
    assert info.value.field == "bounds"


@pytest.mark.parametrize(("bounds", "field"), [
    ([[0, 1]], "bounds"),
    ([[0, 1], [1]], "bounds[1]"),
    ([[0, "1"], [0, 1]], "bounds[0][1]"),
    ([[0, float("nan")], [0, 1]], "bounds[0][1]"),
    ([[0, 1], [True, 2]], "bounds[1][0]"),
    ([[1, 0], [0, 1]], "bounds[0]"),
    ([[0, 1], [0, 2e6]], "bounds[1][1]"),
])
def test_check_bounds_names_the_field(bounds, field):
    with pytest.raises(ConfigError) as info:
        check_bounds(bounds)
    assert info.value.field == field


def test_check_bounds_accepts_good_bounds():
    assert check_bounds([[0, 1], [-2.5, 3]]) == ((0.0, 1.0), (-2.5, 3.0))
