"""The neurons added for the full catalogue, against independent float64 NumPy references.

Each reference is the documented equation written out step by step (the SRM's as its closed
form: a convolution with the PSP kernel minus the refractory kernel). Models are compiled
from specs with ``dtype: float64``; spike trains agree exactly, state variables to 1e-6, and
every compared spike train has some spikes but not only spikes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pydantic
import pytest
from helpers import LayerContext, LSNNRef

import snnspec
from snnspec.spec.dump import normalized_data
from snnspec.spec.registry import LAYER_TYPES

pytestmark = pytest.mark.usefixtures("x64")  # float64 specs

STEPS, BATCH = 40, 2
SHAPE = (6,)
TOL = 1e-6
F64 = np.float64

State = dict[str, np.ndarray]
Reference = Callable[[np.ndarray], tuple[list[State], np.ndarray]]


def heaviside(x: np.ndarray) -> np.ndarray:
    return (x >= 0).astype(F64)


def spec(
    layers: list[dict[str, Any]], in_shape: tuple[int, ...] = SHAPE, **top: Any
) -> snnspec.ModelSpec:
    """Every layer reads input ``x``; every layer's output is returned (named form)."""
    named = [{**layer, "name": f"n{k}", "inputs": ["x"]} for k, layer in enumerate(layers)]
    return snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "neurons",
            "dtype": "float64",
            "inputs": [{"name": "x", "shape": list(in_shape)}],
            "layers": named,
            "outputs": [layer["name"] for layer in named],
            **top,
        }
    )


def inputs(seed: int, shape: tuple[int, ...] = SHAPE, loc: float = 0.3, scale: float = 1.0):
    return np.random.default_rng(seed).normal(loc, scale, (BATCH, STEPS, *shape))


def assert_some_spikes(spikes: np.ndarray) -> None:
    assert set(np.unique(spikes)) <= {0.0, 1.0}
    rate = float(spikes.mean())
    assert 0.0 < rate < 1.0, f"spike rate {rate}: the comparison would be vacuous"


def check(model: Any, x: np.ndarray, references: list[Reference], spiking: list[bool]) -> None:
    """Outputs of every step (simulate) and final states (model call) against references."""
    outputs = [np.asarray(y) for y in snnspec.simulate(model, jnp.asarray(x))]
    for b in range(BATCH):
        finals, _ = eqx.filter_jit(model)(model.init_state(), jnp.asarray(x[b]), None)
        for k, reference in enumerate(references):
            states, expected = reference(x[b])
            got = outputs[k][b]
            if spiking[k]:
                np.testing.assert_array_equal(got, expected, err_msg=f"layer {k}")
            else:
                np.testing.assert_allclose(got, expected, atol=TOL, rtol=0, err_msg=f"layer {k}")
            for name, value in states[-1].items():
                actual = np.asarray(getattr(finals[k], name))
                np.testing.assert_allclose(
                    actual, value, atol=TOL, rtol=0, err_msg=f"layer {k}: {name}"
                )
    for k in range(len(references)):
        if spiking[k]:
            assert_some_spikes(outputs[k])


# --- NumPy references of the documented equations --------------------------------------------


def reset_term(
    mode: str, v: np.ndarray, threshold: Any, reset_val: float | None
) -> np.ndarray | Any:
    if mode == "zero":
        return v
    if mode == "value":
        return v - reset_val
    if mode == "subtract":
        return threshold if reset_val is None else reset_val
    assert mode == "none"
    return 0.0


def effective_mode(layer: dict[str, Any], with_val: str) -> str:
    if "reset" in layer:
        return layer["reset"]
    return with_val if "reset_val" in layer else "zero"


def run_reference(
    init: State, step: Callable[[State, np.ndarray], tuple[State, np.ndarray]], x: np.ndarray
) -> tuple[list[State], np.ndarray]:
    state, states, outs = init, [], []
    for t in range(x.shape[0]):
        state, y = step(state, x[t])
        states.append(state)
        outs.append(y)
    return states, np.stack(outs)


def clip(value: Any, low: float, high: float) -> np.ndarray:
    return np.clip(np.asarray(value, F64), low, high)


def adaptive_lif_ref(layer: dict[str, Any], v0: np.ndarray | None = None) -> Reference:
    alpha = clip(layer["decay_constants"][0], 0.5, 1.0)
    rho = clip(layer.get("ada_decay_constant", 0.8), 0.5, 1.0)
    c = clip(layer.get("ada_coupling_var", 0.5), -1.0, 1.0)
    b = clip(layer.get("ada_step_val", 1.0), 0.0, 2.0)
    theta = layer.get("threshold", 1.0)
    mode, reset_val = effective_mode(layer, "subtract"), layer.get("reset_val")

    def step(state: State, x: np.ndarray) -> tuple[State, np.ndarray]:
        v = alpha * state["v"] + (1 - alpha) * (x + state["a"])
        s = heaviside(v - theta)
        a = (1 - rho) * c * v + rho * state["a"] - b * s
        v = v - reset_term(mode, v, theta, reset_val) * s
        return {"v": v, "a": a, "spikes": s}, s

    zeros = np.zeros(SHAPE, F64)
    init = {"v": zeros if v0 is None else v0, "a": zeros, "spikes": zeros}
    return functools.partial(run_reference, init, step)


def iaf_ref(layer: dict[str, Any], v0: np.ndarray | None = None) -> Reference:
    beta = clip(layer["decay_constants"][0], 0.5, 1.0)
    leak, theta = layer.get("leak", 0.0), layer.get("threshold", 1.0)
    mode, reset_val = effective_mode(layer, "subtract"), layer.get("reset_val")

    def step(state: State, x: np.ndarray) -> tuple[State, np.ndarray]:
        v = state["v"] - leak + state["i"]
        i = beta * state["i"] + (1 - beta) * x
        s = heaviside(v - theta)
        v = v - reset_term(mode, v, theta, reset_val) * s
        return {"v": v, "i": i, "spikes": s}, s

    zeros = np.zeros(SHAPE, F64)
    init = {"v": zeros if v0 is None else v0, "i": zeros, "spikes": zeros}
    return functools.partial(run_reference, init, step)


def simple_iaf_ref(layer: dict[str, Any], v0: np.ndarray | None = None) -> Reference:
    leak, theta = layer.get("leak", 0.0), layer.get("threshold", 1.0)
    mode, reset_val = effective_mode(layer, "subtract"), layer.get("reset_val")

    def step(state: State, x: np.ndarray) -> tuple[State, np.ndarray]:
        v = state["v"] - leak + x
        s = heaviside(v - theta)
        v = v - reset_term(mode, v, theta, reset_val) * s
        return {"v": v, "spikes": s}, s

    zeros = np.zeros(SHAPE, F64)
    return functools.partial(
        run_reference, {"v": zeros if v0 is None else v0, "spikes": zeros}, step
    )


def sigma_delta_ref(layer: dict[str, Any]) -> Reference:
    """SNNAX's current ``SigmaDelta`` (five state arrays), its update lines written out."""
    d_in, d_mem, d_fb = layer["decay_constants"]
    theta = layer.get("threshold", 1.0)

    def step(state: State, x: np.ndarray) -> tuple[State, np.ndarray]:
        i = state["sigma"] * d_in + x  # sigma decoder
        e = i - state["feedback"]  # delta encoder: error
        m = state["membrane"] * d_mem + e
        s = heaviside(m - theta)
        f = state["feedback"] * d_fb + s
        return {"sigma": i, "error": e, "membrane": m, "feedback": f, "spikes": s}, s

    zeros = np.zeros(SHAPE, F64)
    names = ("sigma", "error", "membrane", "feedback", "spikes")
    return functools.partial(run_reference, dict.fromkeys(names, zeros), step)


def srm_ref(layer: dict[str, Any]) -> Reference:
    """Closed form: u(n) = Σ_k ε(n-k)·x(k) - η·Σ_{m<n} γ^(n-1-m)·s(m)."""
    alpha, beta = (float(clip(d, 0.5, 1.0)) for d in layer["decay_constants"])
    gamma = float(clip(layer.get("r_decay_constant", 0.9), 0.5, 1.0))
    eta = float(clip(layer.get("r_amplitude", 1.0), 0.0, 2.0))
    theta = layer.get("threshold", 1.0)

    def kernel(d: np.ndarray) -> np.ndarray:
        if alpha == beta:
            return (1 - alpha) ** 2 * (d + 1) * alpha**d
        return (1 - alpha) * (1 - beta) * (alpha ** (d + 1) - beta ** (d + 1)) / (alpha - beta)

    def run(x: np.ndarray) -> tuple[list[State], np.ndarray]:
        steps = x.shape[0]
        spikes = np.zeros_like(x)
        states = []
        for n in range(steps):
            q = np.tensordot(kernel(n - np.arange(n + 1.0)), x[: n + 1], axes=1)
            r = np.tensordot(gamma ** (n - 1 - np.arange(n, dtype=F64)), spikes[:n], axes=1)
            spikes[n] = heaviside(q - eta * r - theta)
            states.append({"q": q, "r": r, "spikes": spikes[n]})
        return states, spikes

    return run


def spike_counter_ref(layer: dict[str, Any]) -> Reference:
    def run(x: np.ndarray) -> tuple[list[State], np.ndarray]:
        count = np.cumsum(x, axis=0)
        states = [{"count": count[t], "spikes": x[t]} for t in range(x.shape[0])]
        return states, count if layer.get("output", "count") == "count" else x

    return run


def max_pool_ref(layer: dict[str, Any]) -> Reference:
    k = layer["kernel_size"]
    kh, kw = (k, k) if isinstance(k, int) else k
    s = layer.get("stride", (kh, kw))
    sh, sw = (s, s) if isinstance(s, int) else s
    p = layer.get("padding", 0)
    ph, pw = (p, p) if isinstance(p, int) else p
    theta = layer.get("threshold", 1.0)

    def run(x: np.ndarray) -> tuple[list[State], np.ndarray]:
        padded = np.pad(x, ((0, 0),) * (x.ndim - 2) + ((ph, ph), (pw, pw)), constant_values=-np.inf)
        height = (padded.shape[-2] - kh) // sh + 1
        width = (padded.shape[-1] - kw) // sw + 1
        out = np.empty((*x.shape[:-2], height, width))
        for i in range(height):
            for j in range(width):
                window = padded[..., i * sh : i * sh + kh, j * sw : j * sw + kw]
                out[..., i, j] = window.max(axis=(-2, -1))
        return [{}], heaviside(out - theta)

    return run


# --- reset modes of the spiking types --------------------------------------------------------

RESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "default_val": {"reset_val": 0.2},
    "zero": {"reset": "zero"},
    "subtract": {"reset": "subtract"},
    "subtract_val": {"reset": "subtract", "reset_val": 0.3},
    "none": {"reset": "none"},
    "value": {"reset": "value", "reset_val": -0.2},
}

RESET_TYPES: dict[str, tuple[dict[str, Any], Callable[..., Reference]]] = {
    "adaptive_lif": (
        {"type": "adaptive_lif", "decay_constants": [0.8], "threshold": 0.5},
        adaptive_lif_ref,
    ),
    "iaf": ({"type": "iaf", "decay_constants": [0.7], "leak": 0.1, "threshold": 1.0}, iaf_ref),
    "simple_iaf": ({"type": "simple_iaf", "leak": 0.05, "threshold": 1.0}, simple_iaf_ref),
}


@functools.cache
def reset_variants(type_name: str) -> tuple[list[dict[str, Any]], Any, np.ndarray]:
    base, _ = RESET_TYPES[type_name]
    layers = [{**base, **options} for options in RESETS.values()]
    layers.append({**base, "reset": "subtract", "stop_reset_grad": False})
    return layers, snnspec.compile(spec(layers)), inputs(1)


@pytest.mark.parametrize("type_name", list(RESET_TYPES))
def test_reset_modes_match_the_reference(type_name: str) -> None:
    layers, model, x = reset_variants(type_name)
    reference = RESET_TYPES[type_name][1]
    check(model, x, [reference(layer) for layer in layers], [True] * len(layers))


@pytest.mark.parametrize("type_name", list(RESET_TYPES))
def test_reset_modes_differ(type_name: str) -> None:
    """The variants are not all one spike train, so the reset test is not vacuous."""
    _, model, x = reset_variants(type_name)
    outputs = [np.asarray(y) for y in snnspec.simulate(model, jnp.asarray(x))]
    by_mode = dict(zip(RESETS, outputs, strict=False))
    for a, b in [("zero", "none"), ("zero", "subtract"), ("zero", "value"), ("default", "none")]:
        assert not np.array_equal(by_mode[a], by_mode[b]), f"{a} and {b} give the same spikes"


@pytest.mark.parametrize(
    ("type_name", "expected"),
    [
        ("simple_lif", "value"),
        ("lif", "value"),
        ("lif_soft_reset", "subtract"),
        ("adaptive_lif", "subtract"),
        ("iaf", "subtract"),
        ("simple_iaf", "subtract"),
    ],
)
def test_default_reset_follows_snnax(type_name: str, expected: str) -> None:
    cls: Any = LAYER_TYPES[type_name]
    assert cls.model_validate({**cls.example, "reset_val": 0.25}).reset_mode() == expected
    default = "subtract" if type_name == "lif_soft_reset" else "zero"
    assert cls.model_validate(cls.example).reset_mode() == default


def test_adaptive_lif_parameters() -> None:
    """Non-default ρ, b, c (c < 0 and c > 0), and values beyond the clamp set by params."""
    layers = [
        {"type": "adaptive_lif", "decay_constants": [0.9], "threshold": 0.4,
         "ada_decay_constant": 0.6, "ada_step_val": 0.3, "ada_coupling_var": -0.7},
        {"type": "adaptive_lif", "decay_constants": [0.7], "threshold": 0.6,
         "ada_decay_constant": 0.95, "ada_step_val": 1.5, "ada_coupling_var": 0.9},
        {"type": "adaptive_lif", "decay_constants": [0.8], "threshold": 0.5},
    ]  # fmt: skip
    clamped = {"n2.ada_coupling_var": 3.0, "n2.ada_step_val": -1.0, "n2.decay_constants": [0.3]}
    model = snnspec.compile(
        spec(layers), params={k: np.asarray(v, F64) for k, v in clamped.items()}
    )
    beyond = {**layers[2], "ada_coupling_var": 3.0, "ada_step_val": -1.0, "decay_constants": [0.3]}
    references = [
        adaptive_lif_ref(layers[0]),
        adaptive_lif_ref(layers[1]),
        adaptive_lif_ref(beyond),
    ]
    check(model, inputs(2), references, [True] * 3)


ADA = {"ada_decay_constant": 0.7, "ada_step_val": 0.4, "ada_coupling_var": -0.3}


@pytest.mark.parametrize("per_neuron", [False, True])
def test_adaptive_lif_takes_snnax_one_element_lists(per_neuron: bool) -> None:
    """``ada_*: [v]`` (SNNAX's form) is the number v: same normalised layer, same arrays,
    same outputs and states, with and without per_neuron."""
    base = {"type": "adaptive_lif", "decay_constants": [0.8], "threshold": 0.4,
            "per_neuron": per_neuron}  # fmt: skip
    numbers = {**base, **ADA}
    lists = {**base, **{key: [value] for key, value in ADA.items()}}
    specs = [spec([layer]) for layer in (numbers, lists)]
    assert specs[0].layers[0] == specs[1].layers[0]
    data = [normalized_data(s)["layers"][0] for s in specs]
    assert data[0] == data[1]
    assert data[0]["ada_step_val"] == ADA["ada_step_val"]
    models = [snnspec.compile(s) for s in specs]
    arrays = [snnspec.parameter_arrays(m) for m in models]
    assert arrays[0].keys() == arrays[1].keys()
    for key in arrays[0]:
        np.testing.assert_array_equal(arrays[0][key], arrays[1][key])
    x = jnp.asarray(inputs(11))
    (a,), (b,) = (snnspec.simulate(m, x) for m in models)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert_some_spikes(np.asarray(a))
    check(models[1], np.asarray(x), [adaptive_lif_ref(numbers)], [True])


# --- sigma_delta, srm, spike_counter, spiking_max_pool2d -------------------------------------


SIGMA_DELTAS = [
    {"type": "sigma_delta", "decay_constants": [0.7, 0.4, 0.7]},
    {"type": "sigma_delta", "decay_constants": [1.0, 0.0, 1.0], "threshold": 0.5},
    {"type": "sigma_delta", "decay_constants": [0.0, 1.0, 0.0], "threshold": 1.5,
     "surrogate": {"type": "sigmoid"}},
    {"type": "sigma_delta", "decay_constants": [0.9, 0.8, 0.5], "threshold": 0.8,
     "per_neuron": True},
]  # fmt: skip


def test_sigma_delta_matches_the_reference() -> None:
    """SNNAX HEAD's equations: spikes exact, all five state arrays to 1e-6 (float64)."""
    x = inputs(3, loc=0.4, scale=1.0)
    check(
        snnspec.compile(spec(SIGMA_DELTAS)),
        x,
        [sigma_delta_ref(layer) for layer in SIGMA_DELTAS],
        [True] * len(SIGMA_DELTAS),
    )


@pytest.mark.parametrize("decays", [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
def test_sigma_delta_tracks_the_input_sum(decays: list[float]) -> None:
    """With threshold 1 and inputs in [0, 1), Σx - Σs stays in [0, 1) for both decay sets
    that give the classic sigma-delta (the second is snnspec's former equation)."""
    x = np.random.default_rng(4).random((BATCH, STEPS, *SHAPE))
    layer = {"type": "sigma_delta", "decay_constants": decays}
    (spikes,) = snnspec.simulate(snnspec.compile(spec([layer])), jnp.asarray(x))
    error = np.cumsum(x, axis=1) - np.cumsum(np.asarray(spikes), axis=1)
    assert np.all((error > -1e-9) & (error < 1.0 + 1e-9))


def test_srm_matches_the_closed_form() -> None:
    layers = [
        {"type": "srm", "decay_constants": [0.8, 0.7], "threshold": 0.3},
        {"type": "srm", "decay_constants": [0.85, 0.85], "threshold": 0.25},
        {"type": "srm", "decay_constants": [0.6, 0.9], "threshold": 0.3,
         "r_decay_constant": 0.6, "r_amplitude": 1.8, "stop_reset_grad": False},
    ]  # fmt: skip
    x = inputs(5, loc=0.3, scale=1.0)
    check(snnspec.compile(spec(layers)), x, [srm_ref(layer) for layer in layers], [True] * 3)


def test_srm_refractory_kernel_lowers_the_rate() -> None:
    weak = {"type": "srm", "decay_constants": [0.8, 0.7], "threshold": 0.3, "r_amplitude": 0.0}
    strong = {**weak, "r_amplitude": 2.0}
    model = snnspec.compile(spec([weak, strong]))
    low, high = (np.asarray(y).mean() for y in snnspec.simulate(model, jnp.asarray(inputs(6))))
    assert high < low


def lsnn_ref(layer: dict[str, Any]) -> Reference:
    """The LSNN equations of the issue written out (``helpers.LSNNRef``), as dict states."""
    ref = LSNNRef(LayerContext(layer, "lsnn", SHAPE, None, {}))

    def step(state: State, x: np.ndarray) -> tuple[State, np.ndarray]:
        (v, a, s), y = ref.step((state["v"], state["a"], state["spikes"]), x)
        return {"v": v, "a": a, "spikes": s}, y

    zeros = np.zeros(SHAPE, F64)
    return functools.partial(run_reference, dict.fromkeys(("v", "a", "spikes"), zeros), step)


LSNNS = [
    {"type": "lsnn", "decay_constants": [0.85], "adaptation_decay": 0.95, "beta": 1.8,
     "threshold": 0.3},
    {"type": "lsnn", "decay_constants": [0.7], "adaptation_decay": 0.6, "beta": 0.4,
     "threshold": 0.2, "stop_reset_grad": False, "per_neuron": True},
    {"type": "lsnn", "decay_constants": [0.9], "adaptation_decay": 0.9, "beta": 0.0,
     "threshold": 0.3},
]  # fmt: skip
LSNN_STEPS = 50


def test_lsnn_matches_the_reference() -> None:
    """v' = α·v + (1-α)·x - s·B;  a' = ρ·a + (1-ρ)·s;  B' = thr + β·a';  s' = H(v' - B'):
    spikes exact and v, a to 1e-6 at every step (float64), and the adaptation matters."""
    x = np.random.default_rng(11).normal(0.6, 1.0, (BATCH, LSNN_STEPS, *SHAPE))
    model = snnspec.compile(spec(LSNNS))
    check(model, x, [lsnn_ref(layer) for layer in LSNNS], [True] * len(LSNNS))
    states, spikes = lsnn_ref(LSNNS[0])(x[0])
    module, step = model.layers[0], eqx.filter_jit(lambda m, s, xt: m(s, xt))
    state = module.init_state(SHAPE, jnp.dtype("float64"))
    for t in range(LSNN_STEPS):
        state, _ = step(module, state, jnp.asarray(x[0, t]))
        np.testing.assert_array_equal(np.asarray(state.spikes), states[t]["spikes"])
        for name in ("v", "a"):
            np.testing.assert_allclose(
                np.asarray(getattr(state, name)), states[t][name], atol=TOL, rtol=0
            )
    _, unadapted = lsnn_ref({**LSNNS[0], "beta": 0.0})(x[0])
    assert spikes.sum() < unadapted.sum(), "the adaptation does not lower the rate here"
    assert np.max(states[-1]["a"]) > 0.1


def test_spike_counter_matches_the_reference() -> None:
    layers = [{"type": "spike_counter"}, {"type": "spike_counter", "output": "spikes"}]
    x = (np.random.default_rng(7).random((BATCH, STEPS, *SHAPE)) < 0.3).astype(F64)
    check(
        snnspec.compile(spec(layers)),
        x,
        [spike_counter_ref(layer) for layer in layers],
        [False, True],
    )


POOLS = [
    {"type": "spiking_max_pool2d", "kernel_size": 2, "threshold": 0.5},
    {"type": "spiking_max_pool2d", "kernel_size": 3, "stride": 2, "padding": 1, "threshold": 1.0},
    {"type": "spiking_max_pool2d", "kernel_size": [2, 3], "stride": 1, "threshold": 1.2},
]


@pytest.mark.parametrize("layer", POOLS)
def test_spiking_max_pool2d_matches_the_reference(layer: dict[str, Any]) -> None:
    in_shape = (2, 7, 8)
    model = snnspec.compile(spec([layer], in_shape))
    x = inputs(8, in_shape, loc=0.0)
    (y,) = snnspec.simulate(model, jnp.asarray(x))
    _, expected = max_pool_ref(layer)(x)
    assert model.plan.layer_output_shapes[0] == expected.shape[2:]
    np.testing.assert_array_equal(np.asarray(y), expected)
    assert_some_spikes(np.asarray(y))


def test_spiking_max_pool2d_rejects_a_flat_input() -> None:
    with pytest.raises(snnspec.SpecError, match=r"\(C, H, W\)"):
        snnspec.compile(spec([POOLS[0]], (6,)))


# --- gradients, trainable, per_neuron --------------------------------------------------------

NEW_TYPES = ("adaptive_lif", "iaf", "simple_iaf", "sigma_delta", "srm", "lsnn", "spike_counter")
PARAMETRIC = ("adaptive_lif", "iaf", "simple_iaf", "sigma_delta", "srm", "lsnn")
POOL_SHAPE = (2, 6, 6)


@functools.cache
def gradient_run() -> tuple[dict[str, int], dict[str, np.ndarray], list[np.ndarray]]:
    """One graph, one input per layer: every new type with all parameters trainable, with
    ``trainable: []``, and the spiking pool; gradients of a smooth loss of all outputs
    w.r.t. every parameter and every input.
    """
    variants: dict[str, dict[str, Any]] = {}
    for name in NEW_TYPES:
        cls: Any = LAYER_TYPES[name]
        if name in PARAMETRIC:
            variants[name] = {**cls.example, "trainable": list(cls.parameter_names)}
            variants[f"{name}/frozen"] = {**cls.example, "trainable": []}
        else:
            variants[name] = dict(cls.example)
    variants["spiking_max_pool2d"] = POOLS[0]
    shapes = [POOL_SHAPE if name == "spiking_max_pool2d" else SHAPE for name in variants]
    model = snnspec.compile(
        snnspec.ModelSpec.model_validate(
            {
                "snnspec": 1,
                "name": "gradients",
                "dtype": "float64",
                "inputs": [{"name": f"x{k}", "shape": list(s)} for k, s in enumerate(shapes)],
                "layers": [
                    {**layer, "name": f"n{k}", "inputs": [f"x{k}"]}
                    for k, layer in enumerate(variants.values())
                ],
                "outputs": [f"n{k}" for k in range(len(variants))],
            }
        )
    )
    xs = [jnp.asarray(inputs(20 + k, s)[0]) for k, s in enumerate(shapes)]

    @eqx.filter_jit
    @eqx.filter_grad
    def grad(args: tuple[Any, list[jax.Array]]) -> jax.Array:
        m, x = args
        _, outputs = m(m.init_state(), x, None)
        return jnp.sum(jnp.stack([jnp.sum(jnp.tanh(y + 0.1 * t)) for t, y in enumerate(outputs)]))

    model_grad, input_grads = grad((model, xs))
    index = {name: k for k, name in enumerate(variants)}
    arrays = snnspec.parameter_arrays(model_grad)
    return index, arrays, [np.asarray(g) for g in input_grads]


def layer_grads(name: str) -> dict[str, np.ndarray]:
    index, arrays, _ = gradient_run()
    prefix = f"n{index[name]}."
    return {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}


@pytest.mark.parametrize("type_name", [*NEW_TYPES, "spiking_max_pool2d"])
def test_surrogate_gradient_is_finite_and_reaches_the_input(type_name: str) -> None:
    index, _, input_grads = gradient_run()
    g = input_grads[index[type_name]]
    assert np.all(np.isfinite(g))
    assert np.any(g != 0.0)


@pytest.mark.parametrize("type_name", PARAMETRIC)
def test_trainable_parameters_get_gradients(type_name: str) -> None:
    grads = layer_grads(type_name)
    assert set(grads) == set(LAYER_TYPES[type_name].parameter_names)  # type: ignore[attr-defined]
    for key, value in grads.items():
        assert np.all(np.isfinite(value)), key
        assert np.any(value != 0.0), key


@pytest.mark.parametrize("type_name", PARAMETRIC)
def test_trainable_empty_gives_exactly_zero_gradients(type_name: str) -> None:
    grads = layer_grads(f"{type_name}/frozen")
    assert grads
    for key, value in grads.items():
        np.testing.assert_array_equal(value, np.zeros_like(value), err_msg=key)


def one_layer(type_name: str, **options: Any) -> Any:
    example = {**LAYER_TYPES[type_name].example, **options}
    return snnspec.compile(spec([example]))


@pytest.mark.parametrize("type_name", PARAMETRIC)
def test_per_neuron_parameters(type_name: str) -> None:
    cls: Any = LAYER_TYPES[type_name]
    shared = snnspec.parameter_arrays(one_layer(type_name))
    arrays = snnspec.parameter_arrays(one_layer(type_name, per_neuron=True))
    assert set(arrays) == {f"n0.{name}" for name in cls.parameter_names}
    for name in cls.parameter_names:
        lead = (len(cls.example[name]),) if name == "decay_constants" else ()
        assert arrays[f"n0.{name}"].shape == (*lead, *SHAPE)
        assert shared[f"n0.{name}"].shape == lead
        np.testing.assert_array_equal(
            arrays[f"n0.{name}"], np.broadcast_to(shared[f"n0.{name}"][..., None], (*lead, *SHAPE))
        )


def test_per_neuron_values_follow_the_reference() -> None:
    """Distinct values per neuron, set through a params mapping, each obey the equations."""
    layer = {"type": "iaf", "decay_constants": [0.7], "threshold": 1.0, "per_neuron": True}
    leak = np.linspace(0.0, 0.3, 6)
    decay = np.linspace(0.5, 0.95, 6)[None]
    model = snnspec.compile(spec([layer]), params={"n0.leak": leak, "n0.decay_constants": decay})
    check(model, inputs(13), [iaf_ref({**layer, "leak": leak, "decay_constants": decay})], [True])


# --- init ------------------------------------------------------------------------------------

INITS = [
    {"type": "uniform", "low": -0.5, "high": 0.75},
    {"type": "normal", "mean": 0.2, "std": 0.4},
]


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("type_name", [*PARAMETRIC, "simple_lif", "lif", "simple_li"])
def test_random_init_is_seeded(type_name: str, init: dict[str, Any]) -> None:
    layer = one_layer(type_name, init=init).layers[0]
    shape = (500,)
    draw = functools.partial(layer.init_state, shape, jnp.dtype("float64"))
    first, again = draw(jax.random.PRNGKey(0)), draw(jax.random.PRNGKey(0))
    other = draw(jax.random.PRNGKey(1))
    assert jax.tree.structure(first) == jax.tree.structure(other)
    membrane = {"sigma_delta": "membrane", "srm": "q"}.get(type_name, "v")
    values = np.asarray(getattr(first, membrane))
    np.testing.assert_array_equal(values, np.asarray(getattr(again, membrane)))
    assert not np.array_equal(values, np.asarray(getattr(other, membrane)))
    if init["type"] == "uniform":
        assert np.all((values >= init["low"]) & (values < init["high"]))
    else:
        assert abs(values.mean() - init["mean"]) < 0.1
        assert abs(values.std() - init["std"]) < 0.1
    for name, value in first._asdict().items():
        if name != membrane:
            np.testing.assert_array_equal(np.asarray(value), np.zeros(shape))
    with pytest.raises(ValueError, match="needs a key"):
        layer.init_state(shape, jnp.dtype("float64"))


def test_zeros_init_needs_no_key() -> None:
    layer = one_layer("iaf").layers[0]
    dtype = jnp.dtype("float64")
    for state in (
        layer.init_state(SHAPE, dtype),
        layer.init_state(SHAPE, dtype, jax.random.PRNGKey(0)),
    ):
        for value in state:
            np.testing.assert_array_equal(np.asarray(value), np.zeros(SHAPE))


def test_run_from_a_random_initial_potential() -> None:
    """A state drawn by ``init`` is where the dynamics start (the reference starts there too)."""
    layers = [
        {"type": "iaf", "decay_constants": [0.7], "threshold": 1.0, "init": INITS[0]},
        {"type": "adaptive_lif", "decay_constants": [0.8], "threshold": 0.5, "init": INITS[1]},
        {"type": "simple_iaf", "threshold": 1.0, "init": INITS[1]},
    ]
    model = snnspec.compile(spec(layers))
    x = inputs(14)[0]
    dtype = jnp.dtype("float64")
    states = tuple(
        layer.init_state(SHAPE, dtype, jax.random.fold_in(jax.random.PRNGKey(3), i))
        for i, layer in enumerate(model.layers)
    )
    _, outputs = eqx.filter_jit(model)(states, jnp.asarray(x), None)
    references = [iaf_ref, adaptive_lif_ref, simple_iaf_ref]
    for k, (layer, reference) in enumerate(zip(layers, references, strict=True)):
        _, expected = reference(layer, np.asarray(states[k].v))(x)
        np.testing.assert_array_equal(np.asarray(outputs[k]), expected)
        assert_some_spikes(np.asarray(outputs[k]))


# --- validation ------------------------------------------------------------------------------


ALIF = {"type": "adaptive_lif", "decay_constants": [0.8]}
IAF = {"type": "iaf", "decay_constants": [0.8]}
SRM = {"type": "srm", "decay_constants": [0.8, 0.7]}
SIGMA_DELTA = {"type": "sigma_delta", "decay_constants": [0.7, 0.4, 0.7]}
LSNN = {"type": "lsnn", "decay_constants": [0.8], "adaptation_decay": 0.9}
INVALID = [
    ({**ALIF, "ada_step_val": 2.5}, "less than or equal to 2"),
    ({**ALIF, "ada_coupling_var": -1.5}, "greater than or equal to -1"),
    ({**ALIF, "ada_decay_constant": 0.2}, "greater than or equal to 0.5"),
    ({**IAF, "decay_constants": [0.8, 0.9]}, "expected 1 decay constant"),
    ({**IAF, "decay_constants": [0.4]}, r"outside \[0.5, 1\]"),
    ({"type": "simple_iaf", "decay_constants": [0.8]}, "decay_constants"),
    ({**SRM, "r_decay_constant": 0.3}, "greater than or equal to 0.5"),
    ({**SRM, "r_amplitude": 2.5}, "less than or equal to 2"),
    ({**SRM, "reset": "zero"}, "reset"),
    ({**SIGMA_DELTA, "trainable": ["leak"]}, "not a parameter"),
    ({**SIGMA_DELTA, "reset_val": 0.5}, "reset_val"),
    ({"type": "sigma_delta"}, "decay_constants"),
    ({**SIGMA_DELTA, "decay_constants": [0.7, 0.4]}, "expected 3 decay constant"),
    ({**SIGMA_DELTA, "decay_constants": [0.7, 1.2, 0.7]}, r"outside \[0, 1\]"),
    ({**ALIF, "ada_step_val": [1.0, 0.5]}, "one-element list"),
    ({**ALIF, "ada_decay_constant": [0.2]}, "greater than or equal to 0.5"),
    ({**IAF, "reset": "zero", "reset_val": 0.1}, "no effect"),
    ({**IAF, "reset": "value"}, "needs reset_val"),
    ({**IAF, "trainable": ["leak", "leak"]}, "listed twice"),
    ({**IAF, "init": {"type": "uniform", "low": 1.0, "high": 0.0}}, "smaller than high"),
    ({**IAF, "init": {"type": "normal", "std": -1.0}}, "greater than or equal to 0"),
    ({**IAF, "init": "ones"}, "init"),
    ({**LSNN, "adaptation_decay": 0.3}, "greater than or equal to 0.5"),
    ({**LSNN, "beta": -0.5}, "greater than or equal to 0"),
    ({**LSNN, "reset": "zero"}, "reset"),
    ({"type": "lsnn", "decay_constants": [0.8]}, "adaptation_decay"),
    ({"type": "spike_counter", "trainable": []}, "trainable"),
    ({"type": "spike_counter", "output": "rate"}, "output"),
    ({"type": "spiking_max_pool2d", "kernel_size": [2, 2, 2]}, "one per spatial axis"),
]


@pytest.mark.parametrize(("layer", "message"), INVALID)
def test_invalid_options_are_rejected(layer: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        spec([layer])


def test_init_round_trips() -> None:
    for init in ["zeros", {"type": "zeros"}, *INITS]:
        layer = LAYER_TYPES["iaf"].model_validate(
            {"type": "iaf", "decay_constants": [0.8], "init": init}
        )
        assert LAYER_TYPES["iaf"].model_validate(layer.model_dump()) == layer
