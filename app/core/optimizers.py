"""Optimizers as pure (init, update) pairs with explicit, inspectable state.

    state = opt.init(theta)
    theta, state = opt.update(grad, state, theta, lr)

Update rules, hyper-parameter names and defaults follow the torch.optim documentation
(SGD, RMSprop, Adagrad, Adam, AdamW), so any trajectory can be checked step for step
against PyTorch. ``t`` below is the step count, starting at 1. The learning rate is an
argument of ``update`` (not baked into the state) so it can be changed mid-run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .errors import ConfigError
from .options import Option, validate_options


class SGDState(NamedTuple):
    step: int
    momentum_buffer: np.ndarray | None  # b


class RMSpropState(NamedTuple):
    step: int
    square_avg: np.ndarray  # v
    grad_avg: np.ndarray | None  # g_ave (centered only)
    momentum_buffer: np.ndarray | None  # b


class AdagradState(NamedTuple):
    step: int
    sum: np.ndarray  # state_sum


class AdamState(NamedTuple):
    step: int
    exp_avg: np.ndarray  # m
    exp_avg_sq: np.ndarray  # v
    max_exp_avg_sq: np.ndarray | None  # v_max (amsgrad only)


# --- SGD --------------------------------------------------------------------------------------
# g <- g + weight_decay * theta
# if momentum != 0:  b <- g (t = 1),  b <- momentum * b + (1 - dampening) * g (t > 1)
#                    g <- g + momentum * b  (nesterov)  or  g <- b
# theta <- theta - lr * g

def _sgd(momentum: float, dampening: float, nesterov: bool, weight_decay: float):
    def init(theta):
        return SGDState(0, None)

    def update(grad, state, theta, lr):
        g = grad + weight_decay * theta if weight_decay else grad
        buf = state.momentum_buffer
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1.0 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        return theta - lr * g, SGDState(state.step + 1, buf)

    return init, update


# --- RMSprop ----------------------------------------------------------------------------------
# g <- g + weight_decay * theta;   v <- alpha * v + (1 - alpha) * g^2
# centered: g_ave <- alpha * g_ave + (1 - alpha) * g;  v~ = v - g_ave^2  (else v~ = v)
# momentum > 0: b <- momentum * b + g / (sqrt(v~) + eps);  theta <- theta - lr * b
# else:         theta <- theta - lr * g / (sqrt(v~) + eps)

def _rmsprop(alpha: float, eps: float, weight_decay: float, momentum: float, centered: bool):
    def init(theta):
        z = np.zeros_like(theta)
        return RMSpropState(0, z, z.copy() if centered else None,
                            z.copy() if momentum > 0 else None)

    def update(grad, state, theta, lr):
        g = grad + weight_decay * theta if weight_decay else grad
        v = alpha * state.square_avg + (1.0 - alpha) * g * g
        g_ave = state.grad_avg
        if centered:
            g_ave = alpha * g_ave + (1.0 - alpha) * g
            avg = np.sqrt(v - g_ave * g_ave) + eps
        else:
            avg = np.sqrt(v) + eps
        buf = state.momentum_buffer
        if momentum > 0:
            buf = momentum * buf + g / avg
            new = theta - lr * buf
        else:
            new = theta - lr * g / avg
        return new, RMSpropState(state.step + 1, v, g_ave, buf)

    return init, update


# --- Adagrad ----------------------------------------------------------------------------------
# g <- g + weight_decay * theta;   lr~ = lr / (1 + (t - 1) * lr_decay)
# state_sum <- state_sum + g^2;    theta <- theta - lr~ * g / (sqrt(state_sum) + eps)

def _adagrad(lr_decay: float, weight_decay: float, initial_accumulator_value: float,
             eps: float):
    def init(theta):
        return AdagradState(0, np.full_like(theta, initial_accumulator_value))

    def update(grad, state, theta, lr):
        t = state.step + 1
        g = grad + weight_decay * theta if weight_decay else grad
        clr = lr / (1.0 + (t - 1) * lr_decay)
        s = state.sum + g * g
        return theta - clr * g / (np.sqrt(s) + eps), AdagradState(t, s)

    return init, update


# --- Adam / AdamW -----------------------------------------------------------------------------
# Adam:  g <- g + weight_decay * theta        AdamW: theta <- theta - lr * weight_decay * theta
# m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2
# m^ = m / (1 - beta1^t);  v^ = v / (1 - beta2^t)   (amsgrad: v_max <- max(v_max, v), v^ from it)
# theta <- theta - lr * m^ / (sqrt(v^) + eps)
# (computed as torch does: step lr / (1 - beta1^t), denominator sqrt(v) / sqrt(1 - beta2^t) + eps)

def _adam(betas: tuple[float, float], eps: float, weight_decay: float, amsgrad: bool,
          decoupled: bool):
    beta1, beta2 = betas

    def init(theta):
        z = np.zeros_like(theta)
        return AdamState(0, z, z.copy(), z.copy() if amsgrad else None)

    def update(grad, state, theta, lr):
        t = state.step + 1
        if weight_decay and decoupled:
            theta = theta * (1.0 - lr * weight_decay)
            g = grad
        else:
            g = grad + weight_decay * theta if weight_decay else grad
        m = beta1 * state.exp_avg + (1.0 - beta1) * g
        v = beta2 * state.exp_avg_sq + (1.0 - beta2) * g * g
        bc1 = 1.0 - beta1**t
        bc2_sqrt = (1.0 - beta2**t) ** 0.5
        vmax = state.max_exp_avg_sq
        if amsgrad:
            vmax = np.maximum(vmax, v)
            denom = np.sqrt(vmax) / bc2_sqrt + eps
        else:
            denom = np.sqrt(v) / bc2_sqrt + eps
        return theta - (lr / bc1) * m / denom, AdamState(t, m, v, vmax)

    return init, update


# --- registry ---------------------------------------------------------------------------------

def _o(name, kind, default, description, lo=None, hi=None, xlo=False, xhi=False):
    return Option(name, kind, default, description, lo, hi, xlo, xhi)


_MOMENTUM = _o("momentum", "float", 0.0, "momentum factor", 0.0, 1.0, False, True)
_DAMPENING = _o("dampening", "float", 0.0, "dampening for momentum", 0.0, 1.0)
_NESTEROV = _o("nesterov", "bool", False, "Nesterov momentum")
_WD = _o("weight_decay", "float", 0.0, "L2 penalty added to the gradient", 0.0, 10.0)
_BETAS = _o("betas", "pair", (0.9, 0.999), "decay rates of the moment estimates", 0.0, 1.0,
            False, True)
_AMSGRAD = _o("amsgrad", "bool", False, "use the maximum of past squared gradients")
_ALPHA = _o("alpha", "float", 0.99, "smoothing constant", 0.0, 1.0, False, True)
_CENTERED = _o("centered", "bool", False, "normalise by the estimated variance")


def _eps(default: float) -> Option:
    return _o("eps", "float", default, "term added to the denominator", 0.0, 1.0, True)


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    title: str
    options: dict[str, Option]
    presets: dict[str, Any]  # fixed option values (momentum = sgd with momentum 0.9)
    factory: Callable[..., tuple[Callable, Callable]]
    default_learning_rate: float  # torch's default, for reference

    def build(self, options: dict[str, Any] | None, field: str = "optimizer_options"
              ) -> tuple[dict[str, Any], Optimizer]:
        if options is not None and not isinstance(options, dict):
            raise ConfigError(field, f"must be an object, got {options!r}", "type")
        given = dict(options or {})
        resolved = validate_options(given, self.options, field, ALL_OPTION_NAMES)
        for key, value in self.presets.items():
            if key not in given:
                resolved[key] = value
        if self.name in ("sgd", "momentum", "nesterov") and resolved["nesterov"] and (
                resolved["momentum"] <= 0 or resolved["dampening"] != 0):
            raise ConfigError(f"{field}.nesterov",
                              "Nesterov momentum needs momentum > 0 and dampening = 0",
                              "incompatible")
        init, update = self.factory(**resolved)
        return resolved, Optimizer(self.name, init, update)

    def describe(self) -> dict[str, Any]:
        opts = []
        for o in self.options.values():
            d = o.describe()
            if o.name in self.presets:
                d["default"] = self.presets[o.name]
            opts.append(d)
        return {"name": self.name, "title": self.title, "options": opts,
                "torch_default_learning_rate": self.default_learning_rate}


@dataclass(frozen=True)
class Optimizer:
    name: str
    init: Callable[[np.ndarray], Any]
    update: Callable[[np.ndarray, Any, np.ndarray, float], tuple[np.ndarray, Any]]


def _named(*options: Option) -> dict[str, Option]:
    return {o.name: o for o in options}


_SGD_OPTS = _named(_MOMENTUM, _DAMPENING, _NESTEROV, _WD)

OPTIMIZERS: dict[str, OptimizerSpec] = {
    s.name: s
    for s in [
        OptimizerSpec("sgd", "Gradient descent (SGD)", _SGD_OPTS, {}, _sgd, 1e-3),
        OptimizerSpec("momentum", "SGD with momentum 0.9", _SGD_OPTS, {"momentum": 0.9},
                      _sgd, 1e-3),
        OptimizerSpec("nesterov", "SGD with Nesterov momentum 0.9", _SGD_OPTS,
                      {"momentum": 0.9, "nesterov": True}, _sgd, 1e-3),
        OptimizerSpec("rmsprop", "RMSprop",
                      _named(_ALPHA, _eps(1e-8), _WD, _MOMENTUM, _CENTERED), {}, _rmsprop,
                      1e-2),
        OptimizerSpec("adagrad", "Adagrad",
                      _named(_o("lr_decay", "float", 0.0, "learning-rate decay", 0.0, 10.0), _WD,
                             _o("initial_accumulator_value", "float", 0.0,
                                "starting value of the sum of squares", 0.0, 1e6),
                             _eps(1e-10)), {}, _adagrad, 1e-2),
        OptimizerSpec("adam", "Adam", _named(_BETAS, _eps(1e-8), _WD, _AMSGRAD), {},
                      lambda **k: _adam(decoupled=False, **k), 1e-3),
        OptimizerSpec("adamw", "AdamW (decoupled weight decay)",
                      _named(_BETAS, _eps(1e-8),
                             _o("weight_decay", "float", 1e-2, "decoupled weight decay", 0.0,
                                10.0), _AMSGRAD), {},
                      lambda **k: _adam(decoupled=True, **k), 1e-3),
    ]
}

ALL_OPTION_NAMES = frozenset(k for s in OPTIMIZERS.values() for k in s.options)
