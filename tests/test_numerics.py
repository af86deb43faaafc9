"""Numerics of compiled models against the independent NumPy reference of ``helpers``.

Everything runs in float64; values agree to 1e-6 and spike trains exactly.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    ACTIVATIONS,
    LAYER_CASES,
    REFERENCED_ELSEWHERE,
    SPIKING_TYPES,
    SURROGATE_CASES,
    Shape,
    assert_matches,
    reference_run,
    run_model,
    spec_dict,
    spike_rate,
)

import snnspec
from snnspec.spec.layers.elementwise import ACTIVATIONS as ACTIVATION_NAMES
from snnspec.spec.registry import LAYER_TYPES, SURROGATE_TYPES

STEPS = 16
TIMINGS = ("causal", "pipelined")

pytestmark = pytest.mark.usefixtures("x64")


def compile_dict(spec: dict[str, Any], params: dict[str, np.ndarray] | None = None) -> Any:
    return snnspec.compile(snnspec.ModelSpec.model_validate(spec), params=params)


def chain(layers: list[dict[str, Any]], timing: str = "causal") -> dict[str, Any]:
    """Index form of a chain from input 0 that returns every layer's output."""
    n = len(layers)
    return {
        "input_layer_ids": [[0]] + [[] for _ in range(n - 1)],
        "input_connectivity": [[]] + [[i - 1] for i in range(1, n)],
        "final_layer_ids": list(range(n)),
        "timing": timing,
    }


def check_spiking(outputs: list[np.ndarray], spiking: list[bool]) -> None:
    """Every spiking output spikes sometimes and not always (no vacuous comparisons)."""
    for k, y in enumerate(outputs):
        if spiking[k]:
            rate = spike_rate(y)
            assert 0.0 < rate < 1.0, f"output {k} has spike rate {rate}"


def is_spiking(spec: dict[str, Any]) -> list[bool]:
    return [layer["type"] in SPIKING_TYPES for layer in spec["layers"]]


# --- every registered layer type ------------------------------------------------------------


@pytest.mark.parametrize("layer_type", sorted(LAYER_TYPES))
def test_every_registered_type_has_a_reference(layer_type: str) -> None:
    if layer_type in REFERENCED_ELSEWHERE:
        module, token = REFERENCED_ELSEWHERE[layer_type]
        assert token in (Path(__file__).parent / module).read_text(encoding="utf-8")
        return
    assert layer_type in LAYER_CASES, f"add '{layer_type}' to tests/helpers.py LAYER_CASES"
    example = LAYER_CASES[layer_type].example
    assert example["type"] == layer_type
    LAYER_TYPES[layer_type].model_validate(example)


def test_every_activation_has_a_reference() -> None:
    assert set(ACTIVATION_NAMES) == set(ACTIVATIONS)


def branches(
    chains: list[tuple[int, list[dict[str, Any]]]], timing: str = "causal"
) -> tuple[list[dict[str, Any]], dict[str, Any], list[list[int]]]:
    """Independent chains in one graph (one compile for many cases), every output returned.

    ``chains`` holds (input id, layers) pairs; returns the layers, the index-form graph and
    the layer ids of each chain.
    """
    layers: list[dict[str, Any]] = []
    input_ids: list[list[int]] = []
    connectivity: list[list[int]] = []
    ids = []
    for input_id, chain_layers in chains:
        first = len(layers)
        ids.append(list(range(first, first + len(chain_layers))))
        layers.extend(chain_layers)
        input_ids += [[input_id]] + [[] for _ in chain_layers[1:]]
        connectivity += [[]] + [[i] for i in range(first, first + len(chain_layers) - 1)]
    graph = {
        "input_layer_ids": input_ids,
        "input_connectivity": connectivity,
        "final_layer_ids": list(range(len(layers))),
        "timing": timing,
    }
    return layers, graph, ids


@functools.cache
def catalogue_run(timing: str) -> tuple[dict[str, list[int]], list, list]:
    """Per layer type with a reference: input -> pre -> the type's example -> flatten -> linear.

    pre is a linear onto the example's input size, or a sigmoid for inputs of another rank.
    Dropout runs in inference mode (the identity). Pipelined timing (the catalogue runs only
    that: it is one large compile) makes every layer read the resting output of the layer
    before it at t=0; same-step reads are covered by the causal graph tests below.
    """
    types = [name for name in sorted(LAYER_TYPES) if name in LAYER_CASES]
    inputs: list[tuple[str, Shape]] = [("x", (4,))]
    chains = []
    for name in types:
        case = LAYER_CASES[name]
        post = [{"type": "flatten"}, {"type": "linear", "out_features": 3}]
        if len(case.in_shape) == 1:
            pre = {"type": "linear", "out_features": case.in_shape[0]}
            chains.append((0, [pre, dict(case.example), *post]))
        else:
            inputs.append((f"x_{name}", case.in_shape))
            pre = {"type": "lambda", "fn": "sigmoid"}
            chains.append((len(inputs) - 1, [pre, dict(case.example), *post]))
    layers, graph, ids = branches(chains, timing)
    spec = spec_dict(layers, inputs, graph)
    model = eqx.nn.inference_mode(compile_dict(spec))
    rng = np.random.default_rng(1)
    xs = [rng.normal(0.0, 3.0, (STEPS, *shape)) for _, shape in inputs]
    by_type = dict(zip(types, ids, strict=True))
    return by_type, run_model(model, xs), reference_run(spec, xs, model)


@pytest.mark.parametrize("layer_type", sorted(set(LAYER_TYPES) - set(REFERENCED_ELSEWHERE)))
def test_layer_matches_reference(layer_type: str) -> None:
    """pre -> layer -> flatten -> linear: all outputs equal the reference's."""
    assert layer_type in LAYER_CASES, f"add '{layer_type}' to tests/helpers.py LAYER_CASES"
    by_type, outputs, expected = catalogue_run("pipelined")
    ids = by_type[layer_type]
    spiking = [False, LAYER_CASES[layer_type].spiking, False, False]
    check_spiking([outputs[i] for i in ids], spiking)
    assert_matches([outputs[i] for i in ids], [expected[i] for i in ids], spiking)


@pytest.fixture(scope="module")
def lambda_run() -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    """One lambda layer per activation on the input, then a linear reading all of them one
    step late (pipelined), so at t=0 it sees every fn(0)."""
    layers: list[dict[str, Any]] = [{"type": "lambda", "fn": fn} for fn in ACTIVATION_NAMES]
    layers.append({"type": "linear", "out_features": 3})
    n = len(ACTIVATION_NAMES)
    graph = {
        "input_layer_ids": [[0]] * n + [[]],
        "input_connectivity": [[]] * n + [list(range(n))],
        "final_layer_ids": list(range(n + 1)),
        "timing": "pipelined",
    }
    spec = spec_dict(layers, (("x", (8,)),), graph)
    x = np.random.default_rng(2).normal(0.0, 2.0, (6, 8))
    x[:, ::3] = 0.0
    model = compile_dict(spec)
    return spec, run_model(model, x), reference_run(spec, x, model)


@pytest.mark.parametrize("fn", [*ACTIVATION_NAMES, "resting outputs"])
def test_lambda_activation(lambda_run: tuple, fn: str) -> None:
    """Each activation on values including exact zeros (H(0) = 1)."""
    _, outputs, expected = lambda_run
    k = ACTIVATION_NAMES.index(fn) if fn in ACTIVATION_NAMES else -1
    assert_matches([outputs[k]], [expected[k]])
    if fn == "heaviside":
        assert np.all(outputs[k][:, ::3] == 1.0), "H(0) must be 1"
        assert 0.0 < spike_rate(outputs[k]) < 1.0


# --- neurons: reset modes, stop_reset_grad, per-neuron parameters, the clamp ------------------

RESETS: dict[str, dict[str, Any]] = {
    "zero": {"reset": "zero"},
    "subtract": {"reset": "subtract"},
    "subtract_val": {"reset": "subtract", "reset_val": 0.3},
    "none": {"reset": "none"},
    "value": {"reset": "value", "reset_val": -0.2},
    "default": {},
    "default_val": {"reset_val": 0.1},
}


RESET_TYPES = tuple(name for name in SPIKING_TYPES if "reset" in LAYER_TYPES[name].model_fields)
"""The spiking types with reset modes (``lsnn``'s reset is part of its equations)."""


@functools.cache
def reset_run(stop_reset_grad: bool) -> tuple[dict[tuple[str, str], int], list, list]:
    """One graph: a linear feeding one neuron per (spiking type, reset variant)."""
    variants = {
        (name, reset): {**LAYER_CASES[name].example, **options, "stop_reset_grad": stop_reset_grad}
        for name in RESET_TYPES
        for reset, options in RESETS.items()
    }
    layers = [{"type": "linear", "out_features": 6}, *variants.values()]
    graph = {
        "input_layer_ids": [[0]] + [[] for _ in variants],
        "input_connectivity": [[]] + [[0] for _ in variants],
        "final_layer_ids": list(range(1, len(layers))),
    }
    spec = spec_dict(layers, (("x", (4,)),), graph)
    model = compile_dict(spec)
    x = np.random.default_rng(3).normal(0.0, 3.0, (24, 4))
    index = {variant: k for k, variant in enumerate(variants)}
    return index, run_model(model, x), reference_run(spec, x, model)


@pytest.mark.parametrize("stop_reset_grad", [True, False])
@pytest.mark.parametrize("reset", list(RESETS))
@pytest.mark.parametrize("layer_type", RESET_TYPES)
def test_reset_mode(layer_type: str, reset: str, stop_reset_grad: bool) -> None:
    index, outputs, expected = reset_run(stop_reset_grad)
    k = index[layer_type, reset]
    check_spiking([outputs[k]], [True])
    assert_matches([outputs[k]], [expected[k]], [True])


@pytest.mark.parametrize("layer_type", RESET_TYPES)
def test_reset_modes_differ(layer_type: str) -> None:
    """The reset variants are not all the same spike train (the reset test is not vacuous)."""
    index, outputs, _ = reset_run(True)
    trains = [outputs[index[layer_type, reset]] for reset in RESETS]
    assert not np.array_equal(trains[0], outputs[index[layer_type, "none"]]), "zero == none"
    assert sum(not np.array_equal(trains[0], other) for other in trains[1:]) >= 3


NEURON_TYPES = tuple(
    name for name in (*SPIKING_TYPES, "simple_li") if "decay_constants" in LAYER_CASES[name].example
)


@functools.cache
def per_neuron_run(per_neuron: bool) -> tuple[list, list, list]:
    """A linear feeding one neuron of each type; decay constants outside [0.5, 1] and
    thresholds set through params (per neuron or shared).

    Returns the outputs, the reference's, and the outputs with the decay constants clamped
    beforehand (which must be the same).
    """
    neurons = [
        {**LAYER_CASES[name].example, "name": name, "per_neuron": per_neuron}
        for name in NEURON_TYPES
    ]
    layers = [{"type": "linear", "out_features": 6}, *neurons]
    graph = {
        "input_layer_ids": [[0]] + [[] for _ in neurons],
        "input_connectivity": [[]] + [[0] for _ in neurons],
        "final_layer_ids": list(range(len(layers))),
    }
    spec = spec_dict(layers, (("x", (4,)),), graph)
    rng = np.random.default_rng(4)
    params = {}
    for neuron in neurons:
        k = len(neuron["decay_constants"])
        if per_neuron:
            decay = rng.uniform(0.3, 1.2, (k, 6))
            decay[:, :2] = 0.35  # some neurons clamped to 0.5 in every constant
        else:
            decay = np.array([0.3, 0.45][:k])
        params[f"{neuron['name']}.decay_constants"] = decay
        if neuron["type"] != "simple_li":
            threshold = rng.uniform(0.2, 0.6, (6,)) if per_neuron else np.array(0.3)
            params[f"{neuron['name']}.threshold"] = threshold
    x = rng.normal(0.0, 3.0, (STEPS, 4))
    model = compile_dict(spec, params)
    clamped = {k: np.clip(v, 0.5, 1.0) if "decay" in k else v for k, v in params.items()}
    clamped_outputs = run_model(compile_dict(spec, clamped), x)
    return run_model(model, x), reference_run(spec, x, model, params=params), clamped_outputs


@pytest.mark.parametrize("per_neuron", [True, False])
@pytest.mark.parametrize("layer_type", NEURON_TYPES)
def test_per_neuron_parameters_and_decay_clamp(layer_type: str, per_neuron: bool) -> None:
    """Decay constants outside [0.5, 1] (set through params) are clamped at every step."""
    outputs, expected, clamped = per_neuron_run(per_neuron)
    k = 1 + NEURON_TYPES.index(layer_type)
    spiking = [layer_type in SPIKING_TYPES]
    check_spiking([outputs[k]], spiking)
    assert_matches([outputs[k]], [expected[k]], spiking)
    assert np.array_equal(outputs[k], clamped[k])


# --- graphs: timing, combine, SNNAX's example, named form ------------------------------------


def recurrent_spec(timing: str, combine: str) -> dict[str, Any]:
    """A linear with a self loop and a back edge, a neuron self loop (sum), a merge layer."""
    layers = [
        {"type": "linear", "out_features": 6},  # x, itself@t-1, layer 4@t-1 (concat)
        {"type": "lif", "decay_constants": [0.7, 0.6], "threshold": 0.3},
        {"type": "simple_lif", "decay_constants": [0.7], "threshold": 0.4, "combine": "sum"},
        {"type": "linear", "out_features": 6, "combine": combine},  # layers 1 and 2
        {"type": "simple_lif", "decay_constants": [0.6], "threshold": 0.3},
    ]
    graph = {
        "input_layer_ids": [[0], [], [], [], []],
        "input_connectivity": [[0, 4], [0], [1, 2], [1, 2], [3]],
        "final_layer_ids": [0, 1, 2, 3, 4],
        "timing": timing,
    }
    return spec_dict(layers, (("x", (4,)),), graph)


@functools.cache
def recurrent_run(timing: str, combine: str) -> tuple[dict, Any, np.ndarray, list]:
    spec = recurrent_spec(timing, combine)
    model = compile_dict(spec)
    x = np.random.default_rng(5).normal(0.5, 3.0, (20, 4))
    return spec, model, x, run_model(model, x)


@pytest.mark.parametrize("combine", ["concat", "sum"])
@pytest.mark.parametrize("timing", TIMINGS)
def test_recurrent_graph(timing: str, combine: str) -> None:
    spec, model, x, outputs = recurrent_run(timing, combine)
    spiking = is_spiking(spec)
    check_spiking(outputs, spiking)
    assert_matches(outputs, reference_run(spec, x, model), spiking)


@pytest.mark.parametrize("combine", ["concat", "sum"])
def test_timing_modes_differ(combine: str) -> None:
    causal, pipelined = (recurrent_run(t, combine)[3] for t in TIMINGS)
    assert all(not np.array_equal(a, b) for a, b in zip(causal[1:], pipelined[1:], strict=True))


SNNAX_GRAPH = {
    "input_layer_ids": [[0], [], [], [0, 1], []],
    "input_connectivity": [[], [0, 2], [1], [2, 3], [3]],
}


def snnax_spec(variant: str, timing: str) -> dict[str, Any]:
    """SNNAX's documented 5-layer graph with two inputs.

    ``sum``: linear, lif, linear, lif (sums layer 2, itself, x0, x1), linear.
    ``concat``: linear, lif, linear, linear (concats layer 2, itself, x0, x1), lif.
    """
    lif = {"type": "lif", "decay_constants": [0.7, 0.6], "threshold": 0.3}
    if variant == "sum":
        inputs = (("x0", (4,)), ("x1", (4,)))
        layers = [
            {"type": "linear", "out_features": 6},
            lif,  # concat: layer 0 (6), layer 2 (4)
            {"type": "linear", "out_features": 4},
            {**lif, "combine": "sum"},
            {"type": "linear", "out_features": 3},
        ]
    else:
        inputs = (("x0", (3,)), ("x1", (2,)))
        layers = [
            {"type": "linear", "out_features": 6},
            lif,
            {"type": "linear", "out_features": 4},
            {"type": "linear", "out_features": 5},  # concat: 4 + 5 + 3 + 2
            lif,
        ]
    graph = {**SNNAX_GRAPH, "final_layer_ids": [0, 1, 2, 3, 4], "timing": timing}
    return spec_dict(layers, inputs, graph)


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("variant", ["sum", "concat"])
def test_snnax_documented_graph(variant: str, timing: str) -> None:
    spec = snnax_spec(variant, timing)
    model = compile_dict(spec)
    rng = np.random.default_rng(6)
    xs = [rng.normal(0.5, 3.0, (20, item["shape"][0])) for item in spec["inputs"]]
    outputs = run_model(model, xs)
    spiking = is_spiking(spec)
    check_spiking(outputs, spiking)
    assert_matches(outputs, reference_run(spec, xs, model), spiking)


def named_spec(order: list[str]) -> dict[str, Any]:
    """The recurrent graph (causal, concat) in the named form; ``order``: sources of l0."""
    index = recurrent_spec("causal", "concat")
    names = ["l0", "l1", "l2", "l3", "l4"]
    sources = [order, ["l0"], ["l1", "l2"], ["l1", "l2"], ["l3"]]
    layers = [
        {**{k: v for k, v in layer.items()}, "name": name, "inputs": inputs}
        for layer, name, inputs in zip(index["layers"], names, sources, strict=True)
    ]
    return {**{k: v for k, v in index.items() if k != "graph"}, "layers": layers, "outputs": names}


def test_named_form_equals_index_form() -> None:
    _, index_model, x, index_outputs = recurrent_run("causal", "concat")
    named = named_spec(["l0", "l4", "x"])  # the index form's order: layers, then inputs
    model = compile_dict(named)
    assert model.graph_structure == index_model.graph_structure
    outputs = run_model(model, x)
    assert all(np.array_equal(a, b) for a, b in zip(outputs, index_outputs, strict=True))


def test_named_form_concat_order() -> None:
    """Sources listed as [x, l4, l0] concatenate in that order: the reference agrees, and the
    index model is reproduced exactly when l0's weight columns are permuted to match."""
    _, index_model, x, index_outputs = recurrent_run("causal", "concat")
    named = named_spec(["x", "l4", "l0"])
    model = compile_dict(named)
    outputs = run_model(model, x)
    spiking = is_spiking(named)
    check_spiking(outputs, spiking)
    assert_matches(outputs, reference_run(named, x, model), spiking)
    assert not np.array_equal(outputs[0], index_outputs[0])
    # index order: l0 (6), l4 (6), x (4); named order: x, l4, l0
    weight = np.asarray(index_model.layers[0].weight)
    permuted = np.concatenate([weight[:, 12:16], weight[:, 6:12], weight[:, 0:6]], axis=1)
    model = compile_dict(named, {"l0.weight": permuted})
    outputs = run_model(model, x)
    assert_matches(outputs, index_outputs, spiking, atol=1e-12)


# --- burn-in -------------------------------------------------------------------------------

BURNIN_LAYERS = [
    {"type": "linear", "out_features": 6},
    {"type": "simple_lif", "decay_constants": [0.7], "threshold": 0.3},
    {"type": "linear", "out_features": 3},
    {"type": "simple_li", "decay_constants": [0.8]},
]


@pytest.fixture(scope="module")
def burnin_setup() -> tuple[dict, Any, np.ndarray]:
    spec = spec_dict(BURNIN_LAYERS, (("x", (4,)),), chain(BURNIN_LAYERS))
    x = np.random.default_rng(7).normal(0.5, 3.0, (12, 4))
    return spec, compile_dict(spec), x


def test_burnin_outputs(burnin_setup: tuple) -> None:
    spec, model, x = burnin_setup
    full = run_model(model, x)
    burnt = run_model(model, x, burnin=5)
    assert all(y.shape[0] == 7 for y in burnt)
    check_spiking(burnt, is_spiking(spec))
    assert_matches(burnt, [y[5:] for y in full], is_spiking(spec), atol=1e-12)
    assert_matches(burnt, reference_run(spec, x, model, burnin=5), is_spiking(spec))


@pytest.mark.parametrize("burnin", [0, 5])
def test_burnin_stops_gradients(burnin_setup: tuple, burnin: int) -> None:
    """d(loss on steps >= 5)/dx: zero at the burn-in steps with burnin=5, not with burnin=0."""
    _, model, x = burnin_setup

    @jax.jit
    def grad(x: jax.Array) -> jax.Array:
        def loss(x: jax.Array) -> jax.Array:
            _, outputs = model(model.init_state(), x, None, burnin)
            return jnp.sum(outputs[-1][5 - burnin :] ** 2)

        return jax.grad(loss)(x)

    g = np.asarray(grad(jnp.asarray(x)))
    assert np.all(np.isfinite(g))
    assert all(np.any(g[t] != 0) for t in range(5, 12)), "every later step has a gradient"
    if burnin:
        assert np.all(g[:5] == 0.0)
    else:
        assert all(np.any(g[t] != 0) for t in range(5))


# --- batches and randomness ------------------------------------------------------------------


def test_simulate_equals_single_sample_loop() -> None:
    spec, model, _, _ = recurrent_run("causal", "concat")
    xs = np.random.default_rng(8).normal(0.5, 3.0, (3, 10, 4))
    batched = [np.asarray(y) for y in snnspec.simulate(model, jnp.asarray(xs))]
    looped = [run_model(model, xs[b]) for b in range(3)]
    for k, y in enumerate(batched):
        assert y.shape == (3, 10, *looped[0][k].shape[1:])
        assert_matches([y[b] for b in range(3)], [s[k] for s in looped], atol=1e-12)
    assert_matches(list(batched[-1]), [reference_run(spec, xs[b], model)[-1] for b in range(3)])


@pytest.fixture(scope="module")
def dropout_model() -> Any:
    layers = [{"type": "dropout", "p": 0.5}, {"type": "linear", "out_features": 3}]
    return compile_dict(spec_dict(layers, (("x", (32,)),), chain(layers)))


def test_dropout_fresh_mask_per_step(dropout_model: Any) -> None:
    x = np.ones((8, 32))
    masks, _ = run_model(dropout_model, x, key=jax.random.PRNGKey(0))
    assert set(np.unique(masks).tolist()) == {0.0, 2.0}  # kept values scaled by 1/(1-p)
    assert all(not np.array_equal(masks[s], masks[t]) for s in range(8) for t in range(s + 1, 8)), (
        "dropout must draw a new mask at every step"
    )
    again, _ = run_model(dropout_model, x, key=jax.random.PRNGKey(0))
    assert np.array_equal(masks, again)
    inference = run_model(eqx.nn.inference_mode(dropout_model), x)
    assert np.array_equal(inference[0], x)


def test_simulate_dropout_equals_loop_with_folded_keys(dropout_model: Any) -> None:
    """simulate gives sample b the key fold_in(key, b) (documented), so masks differ per sample."""
    key = jax.random.PRNGKey(1)
    xs = np.ones((3, 5, 32))
    batched = np.asarray(
        snnspec.simulate(dropout_model.with_outputs([0]), jnp.asarray(xs), key=key)[0]
    )
    looped = [run_model(dropout_model, xs[b], jax.random.fold_in(key, b))[0] for b in range(3)]
    assert all(np.array_equal(batched[b], looped[b]) for b in range(3))
    assert not np.array_equal(batched[0], batched[1])


# --- surrogates ------------------------------------------------------------------------------


@pytest.mark.parametrize("surrogate_type", sorted(SURROGATE_TYPES))
def test_every_surrogate_has_a_reference(surrogate_type: str) -> None:
    assert surrogate_type in SURROGATE_CASES, f"add '{surrogate_type}' to SURROGATE_CASES"


# x = v - threshold of a simple_lif with α = 0.5, threshold = 0.5 driven by u: x = u/2 - 1/2
SURROGATE_POINTS = np.array([-3.0, -1.0, -0.5, -0.2, -0.02, 0.0, 0.04, 0.25, 0.5, 0.7, 1.0, 2.5])
SURROGATE_NAMES = sorted(SURROGATE_TYPES)


@functools.cache
def surrogate_run(custom: bool) -> tuple[Any, np.ndarray, np.ndarray]:
    """One simple_lif per surrogate, each on its own input; one step.

    Returns the model, the first step's spikes and d(spikes)/du, one row per surrogate.
    """
    neurons = [
        {
            "type": "simple_lif",
            "decay_constants": [0.5],
            "threshold": 0.5,
            "surrogate": {"type": name, **(SURROGATE_CASES[name].options if custom else {})},
        }
        for name in SURROGATE_NAMES
    ]
    n = len(neurons)
    graph = {
        "input_layer_ids": [[k] for k in range(n)],
        "input_connectivity": [[]] * n,
        "final_layer_ids": list(range(n)),
    }
    inputs = [(f"u{k}", (SURROGATE_POINTS.size,)) for k in range(n)]
    model = compile_dict(spec_dict(neurons, inputs, graph))
    u = [jnp.asarray(2.0 * SURROGATE_POINTS + 1.0)[None, :] for _ in range(n)]

    @jax.jit
    def spikes_and_grads(u: list[jax.Array]) -> tuple[jax.Array, list[jax.Array]]:
        def total(u: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
            spikes = jnp.stack([y[0] for y in model(model.init_state(), u, None)[1]])
            return jnp.sum(spikes), spikes

        grads, spikes = jax.grad(total, has_aux=True)(u)
        return spikes, grads

    spikes, grads = spikes_and_grads(u)
    return model, np.asarray(spikes), np.stack([np.asarray(g)[0] for g in grads])


@pytest.mark.parametrize("custom", [False, True], ids=["defaults", "custom"])
@pytest.mark.parametrize("surrogate_type", SURROGATE_NAMES)
def test_surrogate_gradient(surrogate_type: str, custom: bool) -> None:
    """Forward H(x) with H(0) = 1, backward the documented derivative, directly and through
    a simple_lif's first step (s_0 = H(u/2 - 1/2), so ds_0/du = g(x)/2)."""
    case = SURROGATE_CASES[surrogate_type]
    expected = case.derivative(SURROGATE_POINTS, **(case.options if custom else {}))
    heaviside = (SURROGATE_POINTS >= 0).astype(float)
    model, spikes, grads = surrogate_run(custom)
    k = SURROGATE_NAMES.index(surrogate_type)

    spike = model.layers[k].surrogate
    points = jnp.asarray(SURROGATE_POINTS)
    assert np.array_equal(np.asarray(spike(points)), heaviside)
    direct = np.asarray(jax.grad(lambda x: jnp.sum(spike(x)))(points))
    np.testing.assert_allclose(direct, expected, rtol=0, atol=1e-6)

    assert np.array_equal(spikes[k], heaviside)
    np.testing.assert_allclose(grads[k], expected / 2.0, rtol=0, atol=1e-6)


# --- dtype float64 ------------------------------------------------------------------------


def _float64_chain() -> dict[str, Any]:
    layers = [{"type": "linear", "out_features": 5}, {"type": "lambda", "fn": "tanh"}]
    return spec_dict(layers, graph=chain(layers))


def test_a_float64_spec_computes_and_returns_float64(x64: None) -> None:
    """Every output is float64 and agrees with the float64 NumPy reference to 1e-12 (float32
    arithmetic would be ~1e-7 off)."""
    spec = _float64_chain()
    model = compile_dict(spec)
    xs = [np.random.default_rng(3).normal(0.0, 1.0, (STEPS, 6))]
    outputs = run_model(model, xs)
    assert [y.dtype for y in outputs] == [np.float64, np.float64]
    assert_matches(outputs, reference_run(spec, xs, model), atol=1e-12)


def test_compile_refuses_float64_while_x64_is_off() -> None:
    """snnspec never turns JAX's process-wide 64-bit mode on: the caller is told how."""
    enabled = bool(jax.config.read("jax_enable_x64"))
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(snnspec.SpecError) as caught:
            compile_dict(_float64_chain())
        assert not jax.config.read("jax_enable_x64")
    finally:
        jax.config.update("jax_enable_x64", enabled)
    message = str(caught.value)
    assert message.startswith("dtype: float64 needs JAX's 64-bit mode, which is off")
    assert '`jax.config.update("jax_enable_x64", True)` before any JAX work' in message
    assert "JAX_ENABLE_X64=1" in message
