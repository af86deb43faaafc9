"""Shared test helpers: an independent NumPy (float64) reference simulator.

Everything here is written from the documented semantics (SPEC section 2) and the equations
in the layer docstrings, never by calling snnspec: the graph is read from the spec dict, the
timing rule, concatenation order, resting outputs, burn-in and every layer's step are
re-implemented. The only things taken from a compiled model are the randomly initialised
arrays of ``linear`` layers (``model.layers[i].weight`` / ``.bias``).

``LAYER_CASES`` maps every layer type name to an example layer dict and its reference; the
numerics tests are parametrised over the registry and fail for a type missing here.
``SURROGATE_CASES`` does the same for surrogate gradients.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

Shape = tuple[int, ...]
F64 = np.float64


TINY_MODEL = """\
snnspec: 1
name: tiny
seed: 1
time: {steps: 10}
inputs: [{name: spikes, shape: [8]}]
layers:
  - {name: fc1, type: linear, out_features: 16, inputs: [spikes, lif1]}
  - {name: lif1, type: lif, decay_constants: [0.9, 0.8], threshold: 0.2}
  - {name: fc2, type: linear, out_features: 3}
  - {name: out, type: simple_li, decay_constants: [0.9]}
outputs: [out]
"""
"""A recurrent LIF network small enough to train in a second: the training tests add their
``train:`` section to it."""


def run_cli(*args: str | Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``snnspec ARGS`` in-process through the real entry point: (exit code, out, err)."""
    from snnspec import cli

    argv = sys.argv
    sys.argv = ["snnspec", *map(str, args)]
    try:
        cli.main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- elementwise functions ---------------------------------------------------------------


def primitives_of(jaxpr: Any) -> list[str]:
    """The name of every primitive in ``jaxpr``, in order, those of nested jaxprs included."""
    names = []
    for eqn in jaxpr.eqns:
        names.append(eqn.primitive.name)
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", param)
            if hasattr(inner, "eqns"):
                names += primitives_of(inner)
    return names


def heaviside(x: np.ndarray) -> np.ndarray:
    """H(x) = 1 for x >= 0 else 0 (H(0) = 1)."""
    return (np.asarray(x) >= 0).astype(F64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    # jax.nn.gelu's default: the tanh approximation (not x·Φ(x)).
    "gelu": lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))),
    "silu": lambda x: x * _sigmoid(x),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "abs": np.abs,
    "heaviside": heaviside,
}
"""The ``lambda`` layer's activation table, in NumPy."""


# --- surrogate derivatives (the documented formulas) -----------------------------------


def _superspike(x: np.ndarray, beta: float = 10.0) -> np.ndarray:
    return 1.0 / (1.0 + beta * np.abs(x))


def _fast_sigmoid(x: np.ndarray, slope: float = 25.0) -> np.ndarray:
    return 1.0 / (1.0 + slope * np.abs(x)) ** 2


def _sigmoid_derivative(x: np.ndarray, slope: float = 25.0) -> np.ndarray:
    s = _sigmoid(slope * x)
    return slope * s * (1.0 - s)


def _piecewise(x: np.ndarray, beta: float = 0.5) -> np.ndarray:
    return (np.abs(x) < beta).astype(F64)


def _arctan(x: np.ndarray, alpha: float = 2.0) -> np.ndarray:
    return (alpha / 2.0) / (1.0 + (math.pi * alpha * x / 2.0) ** 2)


def _triangular(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    return beta * np.maximum(0.0, 1.0 - beta * np.abs(x))


def _straight_through(x: np.ndarray) -> np.ndarray:
    return np.ones_like(x, dtype=F64)


@dataclass(frozen=True)
class SurrogateCase:
    """A surrogate's documented derivative and non-default hyperparameters to try."""

    derivative: Callable[..., np.ndarray]
    options: dict[str, float] = field(default_factory=dict)


SURROGATE_CASES: dict[str, SurrogateCase] = {
    "superspike": SurrogateCase(_superspike, {"beta": 3.0}),
    "fast_sigmoid": SurrogateCase(_fast_sigmoid, {"slope": 4.0}),
    "sigmoid": SurrogateCase(_sigmoid_derivative, {"slope": 3.0}),
    "piecewise": SurrogateCase(_piecewise, {"beta": 0.25}),
    "arctan": SurrogateCase(_arctan, {"alpha": 5.0}),
    "triangular": SurrogateCase(_triangular, {"beta": 2.5}),
    "straight_through": SurrogateCase(_straight_through),
}
"""Surrogate type name -> documented derivative (defaults are the documented defaults)."""


# --- reference layers --------------------------------------------------------------------


@dataclass(frozen=True)
class LayerContext:
    """What a reference layer may look at: its dict, input shape, params and module."""

    layer: Mapping[str, Any]
    name: str
    in_shape: Shape
    module: Any
    params: Mapping[str, np.ndarray]

    def param(self, name: str, default: Any) -> np.ndarray:
        """A parameter: the params override ``<layer>.<name>`` if given, else ``default``."""
        return np.asarray(self.params.get(f"{self.name}.{name}", default), dtype=F64)


class RefLayer:
    """One layer of the reference: ``rest`` is its output before t=0."""

    def init(self) -> Any:
        return None

    def rest(self) -> np.ndarray:
        raise NotImplementedError

    def step(self, state: Any, x: np.ndarray) -> tuple[Any, np.ndarray]:
        raise NotImplementedError

    def out_shape(self) -> Shape:
        return self.rest().shape


class Stateless(RefLayer):
    """y = fn(x); its resting output is its response to a zero input."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], in_shape: Shape) -> None:
        self.fn = fn
        self.in_shape = in_shape

    def rest(self) -> np.ndarray:
        return self.fn(np.zeros(self.in_shape, F64))

    def step(self, state: Any, x: np.ndarray) -> tuple[Any, np.ndarray]:
        return None, self.fn(x)


def _linear(ctx: LayerContext) -> RefLayer:
    weight = np.asarray(ctx.module.weight, F64)
    bias = (
        np.zeros(weight.shape[0]) if ctx.module.bias is None else np.asarray(ctx.module.bias, F64)
    )
    assert weight.shape == (ctx.layer["out_features"], ctx.in_shape[0])
    return Stateless(lambda x: weight @ x + bias, ctx.in_shape)


def _lambda(ctx: LayerContext) -> RefLayer:
    return Stateless(ACTIVATIONS[ctx.layer["fn"]], ctx.in_shape)


def _flatten(ctx: LayerContext) -> RefLayer:
    return Stateless(lambda x: x.reshape(-1), ctx.in_shape)


def _identity(ctx: LayerContext) -> RefLayer:
    return Stateless(lambda x: x, ctx.in_shape)


def _scale(ctx: LayerContext) -> RefLayer:
    scale = ctx.param("scale", ctx.layer.get("scale", 1.0))
    return Stateless(lambda x: scale * x, ctx.in_shape)


def _reshape(ctx: LayerContext) -> RefLayer:
    return Stateless(lambda x: x.reshape(ctx.layer["shape"]), ctx.in_shape)


def _per_axis(value: Any, n: int) -> tuple[int, ...]:
    return (value,) * n if isinstance(value, int) else tuple(value)


def _windows(
    x: np.ndarray,
    kernel: Shape,
    stride: Shape,
    dilation: Shape,
    pads: list[tuple[int, int]],
    fill: float,
) -> tuple[list[tuple[tuple[int, ...], np.ndarray]], Shape]:
    """Every kernel offset j with the (C, *out) slice x_pad[:, d·j + s·o] it multiplies."""
    padded = np.pad(x, [(0, 0), *pads], constant_values=fill)
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    out = tuple(
        (size - span) // s + 1
        for size, span, s in zip(padded.shape[1:], spans, stride, strict=True)
    )
    views = []
    for j in np.ndindex(*kernel):
        index = tuple(
            slice(d * jj, d * jj + s * (o - 1) + 1, s)
            for jj, d, s, o in zip(j, dilation, stride, out, strict=True)
        )
        views.append((j, padded[(slice(None), *index)]))
    return views, out


def _conv(ctx: LayerContext) -> RefLayer:
    """y[o] = b[o] + sum over c in o's group, offsets j of W[o, c, j] x_pad[c, s·l + d·j]."""
    layer, n = ctx.layer, len(ctx.in_shape) - 1
    weight = np.asarray(ctx.module.weight, F64)
    bias = None if ctx.module.bias is None else np.asarray(ctx.module.bias, F64).reshape(-1)
    kernel = _per_axis(layer["kernel_size"], n)
    stride = _per_axis(layer.get("stride", 1), n)
    dilation = _per_axis(layer.get("dilation", 1), n)
    groups = layer.get("groups", 1)
    padding = layer.get("padding", 0)
    if padding == "SAME":
        pads = []
        for size, k, s, d in zip(ctx.in_shape[1:], kernel, stride, dilation, strict=True):
            total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
    else:
        pads = [(p, p) for p in _per_axis(0 if padding == "VALID" else padding, n)]
    out_channels, group_in = weight.shape[:2]
    group_out = out_channels // groups

    def conv(x: np.ndarray) -> np.ndarray:
        views, out = _windows(x, kernel, stride, dilation, pads, 0.0)
        y = np.zeros((out_channels, *out))
        for j, view in views:
            for g in range(groups):
                w = weight[g * group_out : (g + 1) * group_out, :, *j]
                part = view[g * group_in : (g + 1) * group_in]
                y[g * group_out : (g + 1) * group_out] += np.tensordot(w, part, axes=(1, 0))
        if bias is not None:
            y += bias.reshape(-1, *(1,) * n)
        return y

    return Stateless(conv, ctx.in_shape)


def _pool(reduce: str) -> Callable[[LayerContext], RefLayer]:
    """max (pads with -inf), avg (zeros, divides by the window size) or sum (zeros)."""

    def build(ctx: LayerContext) -> RefLayer:
        n = len(ctx.in_shape) - 1
        kernel = _per_axis(ctx.layer["kernel_size"], n)
        stride = _per_axis(ctx.layer.get("stride") or kernel, n)
        pads = [(p, p) for p in _per_axis(ctx.layer.get("padding", 0), n)]

        def pool(x: np.ndarray) -> np.ndarray:
            fill = -np.inf if reduce == "max" else 0.0
            views, _ = _windows(x, kernel, stride, (1,) * n, pads, fill)
            stack = np.stack([view for _, view in views])
            if reduce == "max":
                return stack.max(axis=0)
            total = stack.sum(axis=0)
            return total / math.prod(kernel) if reduce == "avg" else total

        return Stateless(pool, ctx.in_shape)

    return build


def _affine(module: Any, y: np.ndarray, channelwise: bool) -> np.ndarray:
    """y · weight + bias (per channel when ``channelwise``); absent ones are 1 and 0."""
    for name, apply in (("weight", np.multiply), ("bias", np.add)):
        value = getattr(module, name, None)
        if value is not None:
            value = np.asarray(value, F64)
            apply(y, value.reshape(-1, *(1,) * (y.ndim - 1)) if channelwise else value, out=y)
    return y


def _layer_norm(ctx: LayerContext) -> RefLayer:
    eps = ctx.layer.get("eps", 1e-5)

    def norm(x: np.ndarray) -> np.ndarray:
        y = (x - x.mean()) / np.sqrt(x.var() + eps)
        return _affine(ctx.module, y, channelwise=False)

    return Stateless(norm, ctx.in_shape)


def _group_norm(ctx: LayerContext) -> RefLayer:
    eps, groups = ctx.layer.get("eps", 1e-5), ctx.layer["groups"]

    def norm(x: np.ndarray) -> np.ndarray:
        g = x.reshape(groups, -1)
        y = (g - g.mean(axis=1, keepdims=True)) / np.sqrt(g.var(axis=1, keepdims=True) + eps)
        return _affine(ctx.module, y.reshape(x.shape), channelwise=True)

    return Stateless(norm, ctx.in_shape)


def _batch_norm_inference(ctx: LayerContext) -> RefLayer:
    """Inference mode with the initial running statistics (mean 0, variance 1)."""
    eps = ctx.layer.get("eps", 1e-5)
    return Stateless(
        lambda x: _affine(ctx.module, x / np.sqrt(1.0 + eps), channelwise=True), ctx.in_shape
    )


def _sequential(ctx: LayerContext) -> RefLayer:
    """The members' references composed in order."""
    members, shape = [], ctx.in_shape
    for index, member in enumerate(ctx.layer["layers"]):
        module = ctx.module.layers[index]
        name = f"{ctx.name}.{index}"
        ref = LAYER_CASES[member["type"]].reference(
            LayerContext(member, name, shape, module, ctx.params)
        )
        members.append(ref)
        shape = ref.out_shape()

    def chain(x: np.ndarray) -> np.ndarray:
        for ref in members:
            _, x = ref.step(ref.init(), x)
        return x

    return Stateless(chain, ctx.in_shape)


def _decays(ctx: LayerContext) -> np.ndarray:
    """Decay constants (k, *neurons) or (k,), clamped to [0.5, 1] as SNNAX does."""
    return np.clip(ctx.param("decay_constants", ctx.layer["decay_constants"]), 0.5, 1.0)


class SpikingRef(RefLayer):
    """Threshold, reset term R and the effective reset mode of a spiking neuron."""

    default_reset = "zero"
    reset_val_default = "value"  # the mode when only reset_val is given (SNNAX's class)

    def __init__(self, ctx: LayerContext) -> None:
        self.shape = ctx.in_shape
        if "decay_constants" in ctx.layer:
            self.decay = _decays(ctx)
        self.leak = ctx.param("leak", ctx.layer.get("leak", 0.0))
        self.threshold = ctx.param("threshold", ctx.layer.get("threshold", 1.0))
        self.reset_val = ctx.layer.get("reset_val")
        mode = ctx.layer.get("reset")
        if mode is None:
            value_default = self.reset_val is not None and self.default_reset == "zero"
            mode = self.reset_val_default if value_default else self.default_reset
        self.mode = mode

    def reset_term(self, v: np.ndarray) -> np.ndarray:
        if self.mode == "zero":
            return v
        if self.mode == "value":
            return v - self.reset_val
        if self.mode == "subtract":
            amount = self.threshold if self.reset_val is None else self.reset_val
            return np.broadcast_to(amount, v.shape)
        assert self.mode == "none"
        return np.zeros_like(v)

    def rest(self) -> np.ndarray:
        return np.zeros(self.shape, F64)

    def out_shape(self) -> Shape:
        return self.shape


class SimpleLIFRef(SpikingRef):
    """v' = α·v + (1-α)·x;  s = H(v' - thr);  v ← v' - R(v')·s."""

    def init(self) -> Any:
        return np.zeros(self.shape, F64)

    def step(self, v: np.ndarray, x: np.ndarray) -> tuple[Any, np.ndarray]:
        alpha = self.decay[0]
        v = alpha * v + (1.0 - alpha) * x
        s = heaviside(v - self.threshold)
        return v - self.reset_term(v) * s, s


class LIFRef(SpikingRef):
    """v ← v - R(v)·s_prev;  v' = α·v + (1-α)·i;  i' = β·i + (1-β)·x;  s = H(v' - thr)."""

    def init(self) -> Any:
        return tuple(np.zeros(self.shape, F64) for _ in range(3))

    def step(self, state: Any, x: np.ndarray) -> tuple[Any, np.ndarray]:
        v, i, s = state
        alpha, beta = self.decay[0], self.decay[1]
        v = v - self.reset_term(v) * s
        v_new = alpha * v + (1.0 - alpha) * i
        i_new = beta * i + (1.0 - beta) * x
        s_new = heaviside(v_new - self.threshold)
        return (v_new, i_new, s_new), s_new


class LIFSoftResetRef(LIFRef):
    default_reset = "subtract"


class AdaptiveLIFRef(SpikingRef):
    """v' = α·v + (1-α)·(x + a);  s = H(v' - thr);  a' = (1-ρ)·c·v' + ρ·a - b·s;
    v ← v' - R(v')·s  (ρ, c, b clamped to [0.5, 1], [-1, 1], [0, 2])."""

    reset_val_default = "subtract"

    def __init__(self, ctx: LayerContext) -> None:
        super().__init__(ctx)
        self.rho = np.clip(ctx.param("ada_decay_constant", ctx.layer["ada_decay_constant"]), 0.5, 1)
        self.c = np.clip(ctx.param("ada_coupling_var", ctx.layer["ada_coupling_var"]), -1, 1)
        self.b = np.clip(ctx.param("ada_step_val", ctx.layer["ada_step_val"]), 0, 2)

    def init(self) -> Any:
        return (np.zeros(self.shape, F64), np.zeros(self.shape, F64))

    def step(self, state: Any, x: np.ndarray) -> tuple[Any, np.ndarray]:
        v, a = state
        alpha = self.decay[0]
        v = alpha * v + (1.0 - alpha) * (x + a)
        s = heaviside(v - self.threshold)
        a = (1.0 - self.rho) * self.c * v + self.rho * a - self.b * s
        return (v - self.reset_term(v) * s, a), s


class IAFRef(SpikingRef):
    """v' = v - leak + i;  i' = β·i + (1-β)·x;  s = H(v' - thr);  v ← v' - R(v')·s."""

    reset_val_default = "subtract"

    def init(self) -> Any:
        return (np.zeros(self.shape, F64), np.zeros(self.shape, F64))

    def step(self, state: Any, x: np.ndarray) -> tuple[Any, np.ndarray]:
        v, i = state
        beta = self.decay[0]
        v = v - self.leak + i
        i = beta * i + (1.0 - beta) * x
        s = heaviside(v - self.threshold)
        return (v - self.reset_term(v) * s, i), s


class SimpleIAFRef(SpikingRef):
    """v' = v - leak + x;  s = H(v' - thr);  v ← v' - R(v')·s."""

    reset_val_default = "subtract"

    def init(self) -> Any:
        return np.zeros(self.shape, F64)

    def step(self, v: np.ndarray, x: np.ndarray) -> tuple[Any, np.ndarray]:
        v = v - self.leak + x
        s = heaviside(v - self.threshold)
        return v - self.reset_term(v) * s, s


class LSNNRef(RefLayer):
    """v' = α·v + (1-α)·x - s·B;  a' = ρ·a + (1-ρ)·s;  B' = thr + β·a';  s' = H(v' - B')
    (s and B = thr + β·a of the previous step; α, ρ clamped to [0.5, 1], β to >= 0)."""

    def __init__(self, ctx: LayerContext) -> None:
        self.shape = ctx.in_shape
        self.alpha = _decays(ctx)[0]
        self.rho = np.clip(ctx.param("adaptation_decay", ctx.layer["adaptation_decay"]), 0.5, 1)
        self.beta = np.maximum(ctx.param("beta", ctx.layer.get("beta", 1.8)), 0.0)
        self.threshold = ctx.param("threshold", ctx.layer.get("threshold", 1.0))

    def init(self) -> Any:
        return tuple(np.zeros(self.shape, F64) for _ in range(3))

    def rest(self) -> np.ndarray:
        return np.zeros(self.shape, F64)

    def step(self, state: Any, x: np.ndarray) -> tuple[Any, np.ndarray]:
        v, a, s = state
        v_new = self.alpha * v + (1.0 - self.alpha) * x - s * (self.threshold + self.beta * a)
        a_new = self.rho * a + (1.0 - self.rho) * s
        s_new = heaviside(v_new - (self.threshold + self.beta * a_new))
        return (v_new, a_new, s_new), s_new


class SimpleLIRef(RefLayer):
    """v' = α·v + (1-α)·x; outputs v'; v = 0 before t=0."""

    def __init__(self, ctx: LayerContext) -> None:
        self.shape = ctx.in_shape
        self.decay = _decays(ctx)

    def init(self) -> Any:
        return np.zeros(self.shape, F64)

    def rest(self) -> np.ndarray:
        return np.zeros(self.shape, F64)

    def step(self, v: np.ndarray, x: np.ndarray) -> tuple[Any, np.ndarray]:
        alpha = self.decay[0]
        v = alpha * v + (1.0 - alpha) * x
        return v, v


@dataclass(frozen=True)
class LayerCase:
    """An example layer dict (without name) for the catalogue tests, and its reference.

    ``in_shape`` is the per-sample input shape the example is tested with; ``spiking`` says
    whether its output is a spike train (the test then requires some spikes, not all).
    """

    example: dict[str, Any]
    reference: Callable[[LayerContext], RefLayer]
    in_shape: Shape = (6,)
    spiking: bool = False


REFERENCED_ELSEWHERE: dict[str, tuple[str, str]] = {
    "sigma_delta": ("test_neurons.py", "sigma_delta"),
    "srm": ("test_neurons.py", "srm"),
    "spike_counter": ("test_neurons.py", "spike_counter"),
    "spiking_max_pool2d": ("test_neurons.py", "spiking_max_pool2d"),
    "residual": ("test_compositions.py", "residual"),
    "parallel": ("test_compositions.py", "parallel"),
    "nir_lif": ("test_nir.py", "nir.LIF("),
    "nir_cuba_lif": ("test_nir.py", "nir.CubaLIF("),
    "nir_li": ("test_nir.py", "nir.LI("),
    "nir_cuba_li": ("test_nir.py", "nir.CubaLI("),
    "nir_if": ("test_nir.py", "nir.IF("),
    "nir_i": ("test_nir.py", "nir.I("),
    "nir_threshold": ("test_nir.py", "nir.Threshold("),
    "nir_delay": ("test_nir.py", "nir.Delay("),
}
"""Types whose independent reference lives in another test module: (module, what it uses).

The NIR types are checked there against a NumPy simulation of graphs built with NIR's API."""

LAYER_CASES: dict[str, LayerCase] = {
    "linear": LayerCase({"type": "linear", "out_features": 5}, _linear),
    "flatten": LayerCase({"type": "flatten"}, _flatten, in_shape=(2, 3, 2)),
    "identity": LayerCase({"type": "identity"}, _identity),
    "lambda": LayerCase({"type": "lambda", "fn": "tanh"}, _lambda),
    "dropout": LayerCase({"type": "dropout", "p": 0.3}, _identity),
    "simple_lif": LayerCase(
        {"type": "simple_lif", "decay_constants": [0.8], "threshold": 0.5},
        SimpleLIFRef,
        spiking=True,
    ),
    "lif": LayerCase(
        {"type": "lif", "decay_constants": [0.8, 0.7], "threshold": 0.4}, LIFRef, spiking=True
    ),
    "lif_soft_reset": LayerCase(
        {"type": "lif_soft_reset", "decay_constants": [0.8, 0.7], "threshold": 0.4},
        LIFSoftResetRef,
        spiking=True,
    ),
    "simple_li": LayerCase({"type": "simple_li", "decay_constants": [0.75]}, SimpleLIRef),
    "adaptive_lif": LayerCase(
        {
            "type": "adaptive_lif",
            "decay_constants": [0.8],
            "threshold": 0.4,
            "ada_decay_constant": 0.9,
            "ada_step_val": 0.3,
            "ada_coupling_var": 0.2,
        },
        AdaptiveLIFRef,
        spiking=True,
    ),
    "lsnn": LayerCase(
        {
            "type": "lsnn",
            "decay_constants": [0.8],
            "adaptation_decay": 0.9,
            "beta": 0.6,
            "threshold": 0.4,
        },
        LSNNRef,
        spiking=True,
    ),
    "iaf": LayerCase(
        {"type": "iaf", "decay_constants": [0.7], "leak": 0.05, "threshold": 1.0},
        IAFRef,
        spiking=True,
    ),
    "simple_iaf": LayerCase(
        {"type": "simple_iaf", "leak": 0.05, "threshold": 2.0}, SimpleIAFRef, spiking=True
    ),
    "scale": LayerCase({"type": "scale", "scale": -1.5}, _scale),
    "reshape": LayerCase({"type": "reshape", "shape": [3, -1]}, _reshape, in_shape=(2, 3, 2)),
    "conv1d": LayerCase(
        {"type": "conv1d", "out_channels": 4, "kernel_size": 3, "padding": 1, "groups": 2},
        _conv,
        in_shape=(2, 7),
    ),
    "conv2d": LayerCase(
        {
            "type": "conv2d",
            "out_channels": 3,
            "kernel_size": [2, 3],
            "stride": 2,
            "dilation": [1, 2],
        },
        _conv,
        in_shape=(2, 6, 7),
    ),
    "conv3d": LayerCase(
        {
            "type": "conv3d",
            "out_channels": 2,
            "kernel_size": 2,
            "padding": "SAME",
            "stride": [1, 2, 1],
        },
        _conv,
        in_shape=(2, 3, 4, 3),
    ),
    "max_pool1d": LayerCase(
        {"type": "max_pool1d", "kernel_size": 3, "stride": 2, "padding": 1},
        _pool("max"),
        in_shape=(2, 7),
    ),
    "max_pool2d": LayerCase(
        {"type": "max_pool2d", "kernel_size": 2}, _pool("max"), in_shape=(2, 5, 4)
    ),
    "avg_pool1d": LayerCase(
        {"type": "avg_pool1d", "kernel_size": 3, "stride": 2, "padding": 1},
        _pool("avg"),
        in_shape=(2, 7),
    ),
    "avg_pool2d": LayerCase(
        {"type": "avg_pool2d", "kernel_size": [2, 3], "padding": [1, 1]},
        _pool("avg"),
        in_shape=(2, 5, 6),
    ),
    "sum_pool2d": LayerCase(
        {"type": "sum_pool2d", "kernel_size": [2, 3], "stride": 1}, _pool("sum"), in_shape=(2, 4, 5)
    ),
    "layer_norm": LayerCase({"type": "layer_norm"}, _layer_norm, in_shape=(2, 3)),
    "group_norm": LayerCase({"type": "group_norm", "groups": 2}, _group_norm, in_shape=(4, 3)),
    "batch_norm": LayerCase({"type": "batch_norm"}, _batch_norm_inference, in_shape=(3, 4)),
    "sequential": LayerCase(
        {
            "type": "sequential",
            "layers": [{"type": "linear", "out_features": 5}, {"type": "lambda", "fn": "relu"}],
        },
        _sequential,
    ),
}
"""Layer type name -> example and NumPy reference (dropout: the inference-mode identity)."""

SPIKING_TYPES = tuple(name for name, case in LAYER_CASES.items() if case.spiking)


# --- the graph -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefGraph:
    """Sources per layer as ("input" | "layer", index), in concat order; the final layers."""

    sources: tuple[tuple[tuple[str, int], ...], ...]
    finals: tuple[int, ...]
    timing: str
    names: tuple[str, ...]


def layer_names(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """Layer names, ``<type>_<index>`` where none is given."""
    return tuple(
        layer.get("name") or f"{layer['type']}_{i}" for i, layer in enumerate(spec["layers"])
    )


def read_graph(spec: Mapping[str, Any]) -> RefGraph:
    """The graph of a spec dict, in either form, as SPEC section 2 describes it."""
    layers = spec["layers"]
    names = layer_names(spec)
    graph = spec.get("graph") or {}
    timing = graph.get("timing", "causal")
    n = len(layers)
    named = "outputs" in spec or any("inputs" in layer for layer in layers)
    if named:
        input_ids = {item["name"]: k for k, item in enumerate(spec["inputs"])}
        layer_ids = {name: i for i, name in enumerate(names)}
        sources = []
        for i, layer in enumerate(layers):
            if "inputs" not in layer:
                sources.append((("input", 0),) if i == 0 else (("layer", i - 1),))
            else:
                sources.append(
                    tuple(
                        ("input", input_ids[s]) if s in input_ids else ("layer", layer_ids[s])
                        for s in layer["inputs"]
                    )
                )
        finals = tuple(layer_ids[s] for s in spec.get("outputs", [names[-1]]))
    elif "input_connectivity" in graph:
        sources = [
            tuple(("layer", j) for j in graph["input_connectivity"][i])
            + tuple(("input", k) for k in graph["input_layer_ids"][i])
            for i in range(n)
        ]
        finals = tuple(graph.get("final_layer_ids", [n - 1]))
    else:
        sources = [(("input", 0),)] + [(("layer", i - 1),) for i in range(1, n)]
        finals = tuple(graph.get("final_layer_ids", [n - 1]))
    return RefGraph(tuple(sources), finals, timing, names)


def _combined(layer: Mapping[str, Any], shapes: Sequence[Shape | None]) -> Shape | None:
    if layer.get("combine", "concat") == "sum":
        known = [s for s in shapes if s is not None]
        return known[0] if known else None
    if any(s is None for s in shapes):
        return None
    first = shapes[0]
    assert first is not None
    return (sum(s[0] for s in shapes if s is not None), *first[1:])


def build_layers(
    spec: Mapping[str, Any],
    graph: RefGraph,
    model: Any = None,
    params: Mapping[str, np.ndarray] | None = None,
) -> list[RefLayer]:
    """The reference of every layer, input shapes found by a fixed point over the graph.

    A linear's output shape is known without its input (so cycles through it resolve); any
    other layer's is its reference's output for an input of the inferred shape.
    """
    in_shapes = [tuple(item["shape"]) for item in spec["inputs"]]
    layers = spec["layers"]
    refs: list[RefLayer | None] = [None] * len(layers)
    out: list[Shape | None] = [None] * len(layers)

    def combined(i: int) -> Shape | None:
        shapes = [in_shapes[k] if kind == "input" else out[k] for kind, k in graph.sources[i]]
        return _combined(layers[i], shapes)

    for _ in range(len(layers) + 1):
        for i, layer in enumerate(layers):
            if layer["type"] == "linear" and out[i] is None:
                out[i] = (layer["out_features"],)
            in_shape = combined(i)
            if refs[i] is None and in_shape is not None:
                module = None if model is None else model.layers[i]
                ctx = LayerContext(layer, graph.names[i], in_shape, module, params or {})
                refs[i] = LAYER_CASES[layer["type"]].reference(ctx)
                out[i] = refs[i].out_shape()  # type: ignore[union-attr]
    assert all(ref is not None for ref in refs), "the reference cannot infer every shape"
    return refs  # type: ignore[return-value]


# --- the simulator -------------------------------------------------------------------------


def reference_run(
    spec: Mapping[str, Any],
    inputs: np.ndarray | Sequence[np.ndarray],
    model: Any = None,
    *,
    params: Mapping[str, np.ndarray] | None = None,
    burnin: int = 0,
    outputs: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """Run one sample through the reference; one (T - burnin, *shape) array per final layer.

    ``inputs`` is one array (T, *shape) or a list per input; ``outputs`` overrides the final
    layer ids (e.g. to look at every layer).
    """
    xs = [np.asarray(x, F64) for x in ([inputs] if isinstance(inputs, np.ndarray) else inputs)]
    graph = read_graph(spec)
    refs = build_layers(spec, graph, model, params)
    combine = [layer.get("combine", "concat") for layer in spec["layers"]]
    states = [ref.init() for ref in refs]
    last = [ref.rest() for ref in refs]  # every layer's output of the previous step
    finals = graph.finals if outputs is None else tuple(outputs)
    steps = xs[0].shape[0]
    collected: list[list[np.ndarray]] = [[] for _ in finals]
    for t in range(steps):
        now: list[np.ndarray] = []
        for i, ref in enumerate(refs):
            values = []
            for kind, j in graph.sources[i]:
                if kind == "input":
                    values.append(xs[j][t])
                elif graph.timing == "pipelined" or j >= i:
                    values.append(last[j])
                else:
                    values.append(now[j])
            if len(values) == 1:
                x = values[0]
            elif combine[i] == "sum":
                x = np.sum(values, axis=0)
            else:
                x = np.concatenate(values, axis=0)
            states[i], y = ref.step(states[i], x)
            now.append(y)
        last = now
        if t >= burnin:
            for slot, i in enumerate(finals):
                collected[slot].append(now[i])
    return [np.stack(ys) for ys in collected]


def spec_dict(
    layers: Sequence[Mapping[str, Any]],
    inputs: Sequence[tuple[str, Shape]] = (("x", (6,)),),
    graph: Mapping[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A float64 spec dict (what a YAML file would give)."""
    spec: dict[str, Any] = {
        "snnspec": 1,
        "name": "test",
        "dtype": "float64",
        "inputs": [{"name": name, "shape": list(shape)} for name, shape in inputs],
        "layers": [dict(layer) for layer in layers],
        **top,
    }
    if graph is not None:
        spec["graph"] = dict(graph)
    return spec


def spike_rate(spikes: np.ndarray) -> float:
    """Fraction of ones in a spike train (checks that it really is 0/1 valued)."""
    values = np.unique(spikes)
    assert set(values.tolist()) <= {0.0, 1.0}, f"not a spike train: {values[:10]}"
    return float(np.mean(spikes))


# --- running the model under test ------------------------------------------------------


def _run(model: Any, inputs: Any, key: Any, burnin: int) -> Any:
    return model(model.init_state(), inputs, key, burnin)[1]


_jitted_run: Any = None


def run_model(
    model: Any, inputs: np.ndarray | Sequence[np.ndarray], key: Any = None, burnin: int = 0
) -> list[np.ndarray]:
    """One sample through the compiled model from its initial state (jitted), as NumPy."""
    global _jitted_run
    import equinox as eqx

    if _jitted_run is None:
        _jitted_run = eqx.filter_jit(_run)
    xs = inputs if isinstance(inputs, np.ndarray) else list(inputs)
    return [np.asarray(y) for y in _jitted_run(model, xs, key, burnin)]


def assert_matches(
    outputs: Sequence[np.ndarray],
    expected: Sequence[np.ndarray],
    spiking: Sequence[bool] | None = None,
    atol: float = 1e-6,
) -> None:
    """Outputs equal the reference: spike trains exactly, the rest to ``atol``."""
    assert len(outputs) == len(expected)
    for k, (y, ref) in enumerate(zip(outputs, expected, strict=True)):
        assert y.shape == ref.shape, f"output {k}: shape {y.shape} != reference {ref.shape}"
        if spiking is not None and spiking[k]:
            mismatch = np.argwhere(y != ref)
            assert mismatch.size == 0, f"output {k}: spikes differ at (t, neuron) {mismatch[:5]}"
        else:
            error = float(np.max(np.abs(y - ref)))
            assert error <= atol, f"output {k}: max |model - reference| = {error:.3g}"


def example_spec(type_name: str, **overrides: Any) -> Any:
    """A ``ModelSpec`` with one input feeding the registered example layer of ``type_name``
    (the registry-driven tests run every layer type through it)."""
    import snnspec
    from snnspec.spec.registry import LAYER_TYPES

    cls = LAYER_TYPES[type_name]
    return snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": f"example-{type_name}",
            "inputs": [{"name": "x", "shape": list(cls.example_input_shape)}],
            "layers": [{**cls.example, **overrides}],
        }
    )


def example_input(type_name: str, batch: int = 2, steps: int = 5, seed: int = 0) -> np.ndarray:
    """Standard-normal float32 input of shape (batch, steps, *example_input_shape)."""
    from snnspec.spec.registry import LAYER_TYPES

    shape = (batch, steps, *LAYER_TYPES[type_name].example_input_shape)
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def without_times(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records without their timing fields (the one rule every equality check of runs uses)."""
    from snnspec.training.throughput import without_timings

    return [without_timings(record) for record in records]
