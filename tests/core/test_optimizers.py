"""Optimizers: the first steps against the torch.optim documentation formulas, written out
here in plain Python floats; defaults against PyTorch's documented defaults; and, when torch is
installed, a 20-step trajectory against torch.optim itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.core.errors import ConfigError
from app.core.optimizers import OPTIMIZERS

try:  # optional: the torch comparison is only collected when torch is importable
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

# A gradient that depends on the step (so amsgrad's running maximum matters: component 0
# shrinks sharply at step 2) and on theta (so weight decay and the trajectory matter).
BASE_GRADS = [(1.0, -2.0), (-0.32, 3.0), (-0.5, 0.01), (0.8, -0.3)]
COUPLING = 0.3
THETA0 = (0.7, -1.3)
LR = 0.1


def grad_at(theta: list[float], t: int) -> list[float]:
    """The gradient fed at step t (1-based) at theta, in plain floats."""
    base = BASE_GRADS[(t - 1) % len(BASE_GRADS)]
    return [base[0] + COUPLING * theta[0] + theta[1] * theta[1] * 0.1,
            base[1] + COUPLING * theta[1]]


def grad_np(theta: np.ndarray, t: int) -> np.ndarray:
    return np.array(grad_at([float(v) for v in theta], t))


# --- the torch.optim documentation pseudo-code, one step at a time, in plain floats ----------

def sgd_ref(steps, lr=LR, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    theta, b, out = list(THETA0), None, []
    for t in range(1, steps + 1):
        g = grad_at(theta, t)
        if weight_decay != 0:
            g = [gi + weight_decay * ti for gi, ti in zip(g, theta, strict=True)]
        if momentum != 0:
            if t > 1:
                b = [momentum * bi + (1 - dampening) * gi for bi, gi in zip(b, g, strict=True)]
            else:
                b = list(g)
            g = [gi + momentum * bi for gi, bi in zip(g, b, strict=True)] if nesterov else list(b)
        theta = [ti - lr * gi for ti, gi in zip(theta, g, strict=True)]
        out.append(theta)
    return out


def rmsprop_ref(steps, lr=LR, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False):
    theta, out = list(THETA0), []
    v, g_ave, b = [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]
    for t in range(1, steps + 1):
        g = grad_at(theta, t)
        if weight_decay != 0:
            g = [gi + weight_decay * ti for gi, ti in zip(g, theta, strict=True)]
        new = []
        for i in range(2):
            v[i] = alpha * v[i] + (1 - alpha) * g[i] ** 2
            v_tilde = v[i]
            if centered:
                g_ave[i] = g_ave[i] * alpha + (1 - alpha) * g[i]
                v_tilde = v_tilde - g_ave[i] ** 2
            if momentum > 0:
                b[i] = momentum * b[i] + g[i] / (math.sqrt(v_tilde) + eps)
                new.append(theta[i] - lr * b[i])
            else:
                new.append(theta[i] - lr * g[i] / (math.sqrt(v_tilde) + eps))
        theta = new
        out.append(theta)
    return out


def adagrad_ref(steps, lr=LR, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                eps=1e-10):
    theta, out = list(THETA0), []
    state_sum = [initial_accumulator_value] * 2
    for t in range(1, steps + 1):
        g = grad_at(theta, t)
        lr_t = lr / (1 + (t - 1) * lr_decay)
        if weight_decay != 0:
            g = [gi + weight_decay * ti for gi, ti in zip(g, theta, strict=True)]
        state_sum = [s + gi * gi for s, gi in zip(state_sum, g, strict=True)]
        theta = [ti - lr_t * gi / (math.sqrt(s) + eps)
                 for ti, gi, s in zip(theta, g, state_sum, strict=True)]
        out.append(theta)
    return out


def adam_ref(steps, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             decoupled=False):
    beta1, beta2 = betas
    theta, out = list(THETA0), []
    m, v, v_max = [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]
    for t in range(1, steps + 1):
        g = grad_at(theta, t)
        if decoupled:  # AdamW: theta <- theta - lr * lambda * theta
            theta = [ti - lr * weight_decay * ti for ti in theta]
        elif weight_decay != 0:
            g = [gi + weight_decay * ti for gi, ti in zip(g, theta, strict=True)]
        new = []
        for i in range(2):
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] ** 2
            m_hat = m[i] / (1 - beta1**t)
            if amsgrad:
                v_max[i] = max(v_max[i], v[i])
                v_hat = v_max[i] / (1 - beta2**t)
            else:
                v_hat = v[i] / (1 - beta2**t)
            new.append(theta[i] - lr * m_hat / (math.sqrt(v_hat) + eps))
        theta = new
        out.append(theta)
    return out


# (id, registry name, options passed, reference)
CASES = [
    ("sgd", "sgd", {}, lambda n: sgd_ref(n)),
    ("momentum", "momentum", {}, lambda n: sgd_ref(n, momentum=0.9)),
    ("nesterov", "nesterov", {}, lambda n: sgd_ref(n, momentum=0.9, nesterov=True)),
    ("sgd-dampening-wd", "sgd", {"momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05},
     lambda n: sgd_ref(n, momentum=0.8, dampening=0.3, weight_decay=0.05)),
    ("nesterov-wd", "sgd", {"momentum": 0.5, "nesterov": True, "weight_decay": 0.2},
     lambda n: sgd_ref(n, momentum=0.5, nesterov=True, weight_decay=0.2)),
    ("rmsprop", "rmsprop", {}, lambda n: rmsprop_ref(n)),
    ("rmsprop-centered", "rmsprop", {"centered": True}, lambda n: rmsprop_ref(n, centered=True)),
    ("rmsprop-momentum", "rmsprop", {"momentum": 0.7, "alpha": 0.9, "weight_decay": 0.1},
     lambda n: rmsprop_ref(n, momentum=0.7, alpha=0.9, weight_decay=0.1)),
    ("rmsprop-centered-momentum", "rmsprop", {"momentum": 0.5, "centered": True, "eps": 1e-3},
     lambda n: rmsprop_ref(n, momentum=0.5, centered=True, eps=1e-3)),
    ("adagrad", "adagrad", {}, lambda n: adagrad_ref(n)),
    ("adagrad-decay-accumulator", "adagrad",
     {"lr_decay": 0.25, "initial_accumulator_value": 0.4, "weight_decay": 0.05},
     lambda n: adagrad_ref(n, lr_decay=0.25, initial_accumulator_value=0.4, weight_decay=0.05)),
    ("adam", "adam", {}, lambda n: adam_ref(n)),
    ("adam-betas-wd", "adam", {"betas": [0.8, 0.9], "weight_decay": 0.1, "eps": 1e-6},
     lambda n: adam_ref(n, betas=(0.8, 0.9), weight_decay=0.1, eps=1e-6)),
    ("adam-amsgrad", "adam", {"amsgrad": True}, lambda n: adam_ref(n, amsgrad=True)),
    ("adamw", "adamw", {}, lambda n: adam_ref(n, weight_decay=0.01, decoupled=True)),
    ("adamw-amsgrad-wd", "adamw", {"weight_decay": 0.5, "amsgrad": True},
     lambda n: adam_ref(n, weight_decay=0.5, amsgrad=True, decoupled=True)),
]


def run_ours(name: str, options: dict, steps: int, lr: float = LR) -> list[np.ndarray]:
    _, opt = OPTIMIZERS[name].build(options)
    theta = np.array(THETA0)
    state = opt.init(theta)
    out = []
    for t in range(1, steps + 1):
        theta, state = opt.update(grad_np(theta, t), state, theta, lr)
        assert state.step == t
        out.append(theta)
    return out


@pytest.mark.parametrize(("name", "options", "reference"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_first_three_steps_match_torch_documentation(name, options, reference):
    ours = run_ours(name, options, 3)
    expected = reference(3)
    for step, (a, b) in enumerate(zip(ours, expected, strict=True), start=1):
        assert a.shape == (2,) and a.dtype == np.float64
        for i in range(2):
            assert float(a[i]) == pytest.approx(b[i], rel=1e-12, abs=1e-15), (step, i)
    # the steps really move theta (a test of a no-op update would be worthless)
    assert not np.allclose(ours[0], THETA0)


def test_variants_really_differ():
    """The reference cases exercise their options: each differs from the plain rule."""
    plain = {"sgd": sgd_ref(3), "rmsprop": rmsprop_ref(3), "adagrad": adagrad_ref(3),
             "adam": adam_ref(3)}
    for case_id, name, _, reference in CASES:
        base = plain.get(name)
        if base is not None and case_id != name:
            assert reference(3) != base, case_id
    assert adam_ref(3, amsgrad=True) != adam_ref(3)
    assert adam_ref(3, weight_decay=0.01, decoupled=True) != adam_ref(3, weight_decay=0.01)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_update_is_pure(name):
    _, opt = OPTIMIZERS[name].build(None)
    theta = np.array(THETA0)
    state = opt.init(theta)
    theta1, state1 = opt.update(grad_np(theta, 1), state, theta, LR)
    snapshot = [None if a is None else np.array(a, copy=True) for a in state1]
    theta_copy = theta1.copy()
    a, sa = opt.update(grad_np(theta1, 2), state1, theta1, LR)
    b, sb = opt.update(grad_np(theta1, 2), state1, theta1, LR)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(theta1, theta_copy)
    for before, after in zip(snapshot, state1, strict=True):
        if before is not None:
            np.testing.assert_array_equal(before, after)
    assert sa.step == sb.step == 2
    np.testing.assert_array_equal(theta, THETA0)


def test_learning_rate_is_an_argument_of_update():
    _, opt = OPTIMIZERS["sgd"].build(None)
    theta = np.array(THETA0)
    g = grad_np(theta, 1)
    new, _ = opt.update(g, opt.init(theta), theta, 0.25)
    np.testing.assert_allclose(new, [THETA0[0] - 0.25 * g[0], THETA0[1] - 0.25 * g[1]],
                               rtol=1e-15)


# PyTorch's documented defaults (torch.optim docs)
TORCH_DEFAULTS = {
    "sgd": ({"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0}, 1e-3),
    "rmsprop": ({"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                 "centered": False}, 1e-2),
    "adagrad": ({"lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
                 "eps": 1e-10}, 1e-2),
    "adam": ({"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}, 1e-3),
    "adamw": ({"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2, "amsgrad": False},
              1e-3),
}


@pytest.mark.parametrize("name", sorted(TORCH_DEFAULTS))
def test_defaults_are_pytorchs(name):
    expected, lr = TORCH_DEFAULTS[name]
    resolved, _ = OPTIMIZERS[name].build(None)
    assert resolved == expected
    assert OPTIMIZERS[name].default_learning_rate == lr
    described = {o["name"]: o["default"] for o in OPTIMIZERS[name].describe()["options"]}
    assert described == {k: list(v) if isinstance(v, tuple) else v for k, v in expected.items()}


def test_presets_of_momentum_and_nesterov():
    assert OPTIMIZERS["momentum"].build(None)[0] == {**TORCH_DEFAULTS["sgd"][0], "momentum": 0.9}
    assert OPTIMIZERS["nesterov"].build(None)[0] == {
        **TORCH_DEFAULTS["sgd"][0], "momentum": 0.9, "nesterov": True}
    # a preset is a default: an explicit value wins
    assert OPTIMIZERS["momentum"].build({"momentum": 0.5})[0]["momentum"] == 0.5


@pytest.mark.parametrize(("name", "options", "field"), [
    ("sgd", {"nesterov": True}, "optimizer_options.nesterov"),
    ("nesterov", {"dampening": 0.1}, "optimizer_options.nesterov"),
    ("adam", {"betas": [0.9, 1.0]}, "optimizer_options.betas[1]"),
    ("adam", {"betas": [0.9]}, "optimizer_options.betas"),
    ("adam", {"eps": 0}, "optimizer_options.eps"),
    ("rmsprop", {"alpha": 1.0}, "optimizer_options.alpha"),
    ("rmsprop", {"centered": 1}, "optimizer_options.centered"),
    ("adagrad", {"lr_decay": -1}, "optimizer_options.lr_decay"),
    ("sgd", {"momentum": float("nan")}, "optimizer_options.momentum"),
    ("sgd", {"momentum": "0.9"}, "optimizer_options.momentum"),
    ("sgd", {"bogus": 1}, "optimizer_options.bogus"),
])
def test_bad_options_name_the_field(name, options, field):
    with pytest.raises(ConfigError) as info:
        OPTIMIZERS[name].build(options)
    assert info.value.field == field


def test_another_optimizers_option_is_accepted_and_dropped():
    resolved, _ = OPTIMIZERS["sgd"].build({"betas": [0.5, 0.6], "momentum": 0.1})
    assert "betas" not in resolved and resolved["momentum"] == 0.1


if torch is not None:  # pragma: no cover - only where torch is installed
    TORCH_CLASSES = {"sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "rmsprop": "RMSprop",
                     "adagrad": "Adagrad", "adam": "Adam", "adamw": "AdamW"}

    @pytest.mark.parametrize(("name", "options"), [c[1:3] for c in CASES],
                             ids=[c[0] for c in CASES])
    def test_twenty_steps_match_torch(name, options):
        resolved, _ = OPTIMIZERS[name].build(options)
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in resolved.items()}
        param = torch.tensor(THETA0, dtype=torch.float64, requires_grad=True)
        opt = getattr(torch.optim, TORCH_CLASSES[name])([param], lr=LR, **kwargs)
        ours = run_ours(name, options, 20)
        for t in range(1, 21):
            param.grad = torch.tensor(grad_np(param.detach().numpy(), t), dtype=torch.float64)
            opt.step()
            np.testing.assert_allclose(ours[t - 1], param.detach().numpy(), rtol=1e-12,
                                       atol=1e-15)

    @pytest.mark.parametrize("name", sorted(TORCH_DEFAULTS))
    def test_defaults_match_installed_torch(name):
        import inspect

        sig = inspect.signature(getattr(torch.optim, TORCH_CLASSES[name]).__init__)
        expected, lr = TORCH_DEFAULTS[name]
        for key, value in expected.items():
            assert sig.parameters[key].default == value, key
        assert sig.parameters["lr"].default == lr
