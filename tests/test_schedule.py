"""Layer-major scheduling and remat compute what the step-major forward computes.

Every case runs a float64 batch (B=2, the batch axis named "batch") under ``stepwise`` and
``layerwise`` (and ``remat`` variants) and compares outputs, final states and the gradients
of a fixed linear functional of both with respect to every parameter and the inputs. Spike
trains must be identical; every other value within 1e-9 relative to the array's largest
magnitude (reordered float64 sums differ by ~1e-15). XLA's optimisation passes are turned
down for this module (``jax_disable_most_optimizations``), which only shortens compile times:
both schedules are compiled the same way, and the equality checked is that of the programs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import spec_dict

import snnspec
from snnspec.graph.order import strongly_connected_components
from snnspec.graph.schedule import make_schedule
from snnspec.spec.layers.batch_norm import BATCH_AXIS
from snnspec.spec.registry import LAYER_TYPES

pytestmark = pytest.mark.usefixtures("x64")  # float64 specs

TOLERANCE = 1e-9
BATCH, STEPS = 2, 9
LIF = {"type": "lif", "decay_constants": [0.7, 0.6], "threshold": 0.3}
SLIF = {"type": "simple_lif", "decay_constants": [0.7], "threshold": 0.05}


@pytest.fixture(autouse=True, scope="module")
def _fast_compiles() -> Iterator[None]:
    previous = bool(jax.config.read("jax_disable_most_optimizations"))
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


def compile_dict(spec: dict[str, Any]) -> Any:
    return snnspec.compile(snnspec.ModelSpec.model_validate(spec))


def _functional(tree: Any) -> jax.Array:
    """A fixed linear functional of every float leaf (weights sin(1 + k), no randomness)."""
    total = jnp.zeros(())
    for leaf in jax.tree_util.tree_leaves(tree):
        if eqx.is_inexact_array(leaf):
            weights = jnp.sin(1.0 + jnp.arange(leaf.size, dtype=leaf.dtype)).reshape(leaf.shape)
            total = total + jnp.sum(leaf * weights)
    return total


@eqx.filter_jit
def evaluate(model: Any, xs: tuple[jax.Array, ...], key: Any, burnin: int) -> Any:
    """Batched forward from rest, and d(functional of states and outputs)/d(params, inputs)."""
    keys = (
        None if key is None else jax.vmap(lambda b: jax.random.fold_in(key, b))(jnp.arange(BATCH))
    )

    def forward(diff: Any) -> Any:
        model, xs = diff
        states = jax.vmap(lambda _: model.init_state())(jnp.arange(BATCH))
        return jax.vmap(lambda s, x, k: model(s, list(x), k, burnin), axis_name=BATCH_AXIS)(
            states, xs, keys
        )

    def loss(diff: Any) -> tuple[jax.Array, Any]:
        result = forward(diff)
        return _functional(result), result

    grads, result = eqx.filter_grad(loss, has_aux=True)((model, xs))
    return result, grads


@eqx.filter_jit
def forward(model: Any, xs: tuple[jax.Array, ...], key: Any, burnin: int) -> Any:
    keys = jax.vmap(lambda b: jax.random.fold_in(key, b))(jnp.arange(BATCH))
    states = jax.vmap(lambda _: model.init_state())(jnp.arange(BATCH))
    return jax.vmap(lambda s, x, k: model(s, list(x), k, burnin), axis_name=BATCH_AXIS)(
        states, xs, keys
    )


def _leaves(tree: Any) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree) if eqx.is_array(x)]


def _close(what: str, got: Any, want: Any) -> None:
    a, b = _leaves(got), _leaves(want)
    assert a, f"{what}: no arrays"
    assert len(a) == len(b), f"{what}: {len(a)} leaves != {len(b)}"
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x.shape == y.shape, f"{what}[{k}]: shape {x.shape} != {y.shape}"
        scale = max(1.0, float(np.max(np.abs(y), initial=0.0)))
        error = float(np.max(np.abs(x - y), initial=0.0))
        assert error <= TOLERANCE * scale, f"{what}[{k}]: max error {error:.3g}"


def check_equal(
    model: Any,
    xs: list[np.ndarray],
    *,
    key: Any = None,
    burnin: int = 0,
    variants: tuple[tuple[str, int], ...] = (("layerwise", 0),),
) -> Any:
    """Each (schedule, remat) variant equals stepwise: spikes exactly, the rest to 1e-9."""
    inputs = tuple(jnp.asarray(x) for x in xs)
    (states, outputs), grads = evaluate(model.with_schedule("stepwise", 0), inputs, key, burnin)
    spiking = [model.plan.layers[i].spiking for i in model.plan.final_layer_ids]
    assert any(np.any(np.asarray(g) != 0) for g in _leaves(grads)), "gradients are all zero"
    for k, y in enumerate(outputs):
        if spiking[k]:
            rate = float(np.mean(np.asarray(y)))
            assert 0.0 < rate < 1.0, f"output {k} has spike rate {rate} (vacuous comparison)"
    for schedule, remat in variants:
        variant = model.with_schedule(schedule, remat)
        (v_states, v_outputs), v_grads = evaluate(variant, inputs, key, burnin)
        label = f"{schedule}/remat={remat}"
        for k, (y, ref) in enumerate(zip(v_outputs, outputs, strict=True)):
            if spiking[k]:
                assert np.array_equal(np.asarray(y), np.asarray(ref)), f"{label}: spikes {k}"
        _close(f"{label} outputs", v_outputs, outputs)
        _close(f"{label} final states", v_states, states)
        _close(f"{label} gradients", v_grads, grads)
    return model


def inputs_for(spec: dict[str, Any], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(1.0, 3.0, (BATCH, STEPS, *item["shape"])) for item in spec["inputs"]]


# --- graphs ---------------------------------------------------------------------------------


def _layer(base: dict[str, Any], name: str, inputs: list[str], **extra: Any) -> dict[str, Any]:
    return {**base, **extra, "name": name, "inputs": inputs}


def _linear(size: int) -> dict[str, Any]:
    return {"type": "linear", "out_features": size}


def mixed_spec(timing: str) -> dict[str, Any]:
    """Disconnected parts in one graph, so that one compile covers them all (named form).

    ff: a feed-forward DAG with a concat and a sum merge; r: a linear with a self loop and a
    back edge, a neuron self loop, concat and sum merges; s/t: SNNAX's documented 5-layer graph
    (concat and sum variants, two inputs each); d: dropout off and on a cycle; bn: a sequential
    holding batch_norm on a cycle.
    """
    drop = {"type": "dropout", "p": 0.3}
    block = {"type": "sequential", "layers": [_linear(6), {"type": "batch_norm"}]}
    layers = [
        _layer(_linear(6), "ff0", ["x"]),
        _layer(LIF, "ff1", ["ff0"]),
        _layer(_linear(6), "ff2", ["ff1"]),
        _layer(LIF, "ff3", ["ff2"]),
        _layer(_linear(4), "ffc", ["ff1", "ff3"]),
        _layer(SLIF, "ffs", ["ff0", "ff2"], combine="sum"),
        _layer(SLIF, "ff5", ["ffc"]),
        _layer(_linear(6), "r0", ["x", "r0", "r4"]),
        _layer(LIF, "r1", ["r0"]),
        _layer(SLIF, "r2", ["r1", "r2"], combine="sum"),
        _layer(_linear(6), "r3", ["r1", "r2"]),
        _layer(_linear(6), "r3s", ["r1", "r2"], combine="sum"),
        _layer(SLIF, "r4", ["r3"]),
        _layer(_linear(3), "r5", ["r4", "r3s"]),
        _layer(_linear(6), "s0", ["x0"]),
        _layer(LIF, "s1", ["s0", "s2"]),
        _layer(_linear(4), "s2", ["s1"]),
        _layer(_linear(5), "s3", ["s2", "s3", "x0", "x1"]),
        _layer(LIF, "s4", ["s3"]),
        _layer(_linear(6), "t0", ["x2"]),
        _layer(LIF, "t1", ["t0", "t2"]),
        _layer(_linear(4), "t2", ["t1"]),
        _layer(LIF, "t3", ["t2", "t3", "x2", "x3"], combine="sum"),
        _layer(_linear(3), "t4", ["t3"]),
        _layer({**drop, "p": 0.4}, "d0", ["x"]),
        _layer(_linear(6), "d1", ["d0"]),
        _layer(LIF, "d2", ["d1", "d4"], combine="sum"),
        _layer(drop, "d3", ["d2"]),
        _layer(_linear(6), "d4", ["d3"]),
        _layer(block, "bn", ["x", "bl"]),
        _layer(LIF, "bl", ["bn"]),
        _layer(_linear(3), "bo", ["bl"]),
    ]
    inputs = (("x", (5,)), ("x0", (3,)), ("x1", (2,)), ("x2", (4,)), ("x3", (4,)))
    outputs = [layer["name"] for layer in layers]
    return spec_dict(layers, inputs, {"timing": timing}, outputs=outputs)


@pytest.mark.parametrize(("timing", "burnin"), [("causal", 3), ("pipelined", 0)])
def test_mixed_graph(timing: str, burnin: int) -> None:
    spec = mixed_spec(timing)
    model = compile_dict(spec)
    names = model.plan.layer_names
    layerwise = model.with_schedule("layerwise").execution
    vectorized = {names[i] for i in layerwise.vectorized_layers}
    expected = {"ff0", "ff2", "ffc", "r3s", "r5", "s0", "t0", "t4", "d0", "d1", "bo"}
    assert vectorized == expected  # pipelined delays every edge, but the cycles are the same
    # auto: the cycles r, t and bn hold a linear, so their scans absorb their readers
    assert model.execution.name == "layerwise"
    absorbed = {"r3s", "r5", "t4", "bo"}
    assert {names[i] for i in model.execution.vectorized_layers} == expected - absorbed
    variants = (("layerwise", 0), ("auto", 0))
    check_equal(
        model, inputs_for(spec), key=jax.random.PRNGKey(4), burnin=burnin, variants=variants
    )


def test_every_registered_type() -> None:
    """One graph holding every registered type (its example), each behind a vectorized scale.

    Forward only (outputs and final states): one compile per schedule keeps it fast."""
    inputs, layers = [], []
    for name in sorted(LAYER_TYPES):
        cls = LAYER_TYPES[name]
        inputs.append((f"x_{name}", tuple(cls.example_input_shape)))
        layers.append(_layer({"type": "scale", "scale": 1.5}, f"pre_{name}", [f"x_{name}"]))
        layers.append(_layer(cls.example, name, [f"pre_{name}"]))
    spec = spec_dict(layers, inputs, outputs=sorted(LAYER_TYPES))
    model = compile_dict(spec)
    xs = tuple(jnp.asarray(x) for x in inputs_for(spec, 7))
    key = jax.random.PRNGKey(8)
    states, outputs = forward(model.with_schedule("stepwise"), xs, key, 2)
    assert model.execution.name == "layerwise"
    v_states, v_outputs = forward(model.with_schedule("layerwise"), xs, key, 2)
    spiking = [model.plan.layers[i].spiking for i in model.plan.final_layer_ids]
    for k, (y, ref) in enumerate(zip(v_outputs, outputs, strict=True)):
        name = model.plan.layer_names[model.plan.final_layer_ids[k]]
        if spiking[k]:
            assert np.array_equal(np.asarray(y), np.asarray(ref)), f"{name}: spikes differ"
        _close(f"{name} output", y, ref)
    _close("final states", v_states, states)


def test_remat_variants() -> None:
    """remat 1 (every step) and 4 (chunks of 4 and a remainder: 7 steps after burn-in)."""
    layers = [
        _layer(_linear(6), "r0", ["x", "r0", "r3"]),
        _layer(LIF, "r1", ["r0"]),
        _layer(SLIF, "r2", ["r1", "r2"], combine="sum"),
        _layer(_linear(6), "r3", ["r2"]),
        _layer(_linear(3), "out", ["r2"]),
    ]
    spec = spec_dict(layers, (("x", (4,)),), outputs=["r1", "r2", "out"])
    variants = (("stepwise", 4), ("layerwise", 1), ("layerwise", 4))
    check_equal(compile_dict(spec), inputs_for(spec, 9), burnin=2, variants=variants)


# --- the schedule itself --------------------------------------------------------------------


def _workload(kind: str) -> dict[str, Any]:
    """The benchmark MLPs: fc1, lif1, [rec1], fc2, lif2, [rec2 | fb], fc3, lif3 (named form)."""
    layers: list[dict[str, Any]] = [{"type": "linear", "out_features": 8, "name": "fc1"}]
    lif1_inputs = ["fc1", "rec1"] if kind == "recurrent" else ["fc1", "fb"]
    layers.append({**LIF, "name": "lif1", "combine": "sum", "inputs": lif1_inputs})
    if kind == "recurrent":
        layers.append({"type": "linear", "out_features": 8, "name": "rec1", "inputs": ["lif1"]})
    layers.append({"type": "linear", "out_features": 8, "name": "fc2", "inputs": ["lif1"]})
    lif2_inputs = ["fc2", "rec2"] if kind == "recurrent" else ["fc2"]
    layers.append({**LIF, "name": "lif2", "combine": "sum", "inputs": lif2_inputs})
    extra = "rec2" if kind == "recurrent" else "fb"
    layers.append({"type": "linear", "out_features": 8, "name": extra, "inputs": ["lif2"]})
    layers.append({"type": "linear", "out_features": 3, "name": "fc3", "inputs": ["lif2"]})
    layers.append({**LIF, "name": "lif3"})
    return spec_dict(layers, (("x", (5,)),), outputs=["lif3"])


def _groups(model: Any) -> list[tuple[list[str], bool]]:
    names = model.plan.layer_names
    return [([names[i] for i in g.members], g.vectorized) for g in model.execution.groups]


def test_groups_of_the_benchmark_graphs() -> None:
    recurrent = compile_dict(_workload("recurrent"))
    assert _groups(recurrent.with_schedule("layerwise")) == [
        (["fc1"], True),
        (["lif1", "rec1"], False),
        (["fc2"], True),
        (["lif2", "rec2"], False),
        (["fc3"], True),
        (["lif3"], False),
    ]
    feedback = compile_dict(_workload("feedback"))
    assert _groups(feedback.with_schedule("layerwise")) == [
        (["fc1"], True),
        (["lif1", "fc2", "lif2", "fb"], False),
        (["fc3"], True),
        (["lif3"], False),
    ]
    # auto: a scan running a product per step (rec1, fb) absorbs the layers reading from it
    assert _groups(recurrent) == [
        (["fc1"], True),
        (["lif1", "rec1", "fc2", "lif2", "rec2", "fc3", "lif3"], False),
    ]
    assert _groups(feedback) == [
        (["fc1"], True),
        (["lif1", "fc2", "lif2", "fb", "fc3", "lif3"], False),
    ]
    assert make_schedule(feedback.plan, (False,) * 7, "auto").name == "stepwise"
    assert feedback.with_schedule("stepwise").execution.groups[0].members == tuple(range(7))
    mlp = spec_dict(
        [_linear(8), LIF, _linear(8), LIF, _linear(3), LIF], (("x", (5,)),), outputs=["lif_5"]
    )
    assert _groups(compile_dict(mlp)) == [
        (["linear_0"], True),
        (["lif_1"], False),
        (["linear_2"], True),
        (["lif_3"], False),
        (["linear_4"], True),
        (["lif_5"], False),
    ]


@pytest.mark.parametrize("kind", ["recurrent", "feedback"])
def test_auto_on_the_benchmark_graphs(kind: str) -> None:
    """auto's absorbed scans compute what stepwise does (lif3, silent on this input, through
    its final state)."""
    spec = {**_workload(kind), "outputs": ["lif1", "lif2"]}
    check_equal(compile_dict(spec), inputs_for(spec, 3), variants=(("auto", 0),))


def test_auto_rule() -> None:
    """auto = layerwise iff some stateless layer is off every cycle; scanned neighbours merge."""
    neurons = [LIF, SLIF, {"type": "simple_li", "decay_constants": [0.8]}]
    model = compile_dict(spec_dict(neurons, (("x", (3,)),)))
    assert model.execution.name == "stepwise"
    assert model.with_schedule("layerwise").execution.groups[0].members == (0, 1, 2)
    cyclic = spec_dict(
        [{"type": "linear", "out_features": 3, "feedback": True}, LIF], (("x", (3,)),)
    )
    assert compile_dict(cyclic).execution.name == "stepwise"
    chain = spec_dict([{"type": "linear", "out_features": 3}, LIF, SLIF], (("x", (3,)),))
    assert _groups(compile_dict(chain)) == [
        (["linear_0"], True),
        (["lif_1", "simple_lif_2"], False),
    ]
    with pytest.raises(ValueError, match="unknown schedule"):
        compile_dict(chain).with_schedule("fast").execution  # noqa: B018


def test_strongly_connected_components() -> None:
    successors = [[1], [2, 3], [0], [4], [5], [3], [6], []]
    components = strongly_connected_components(successors)
    assert sorted(components) == [(0, 1, 2), (3, 4, 5), (6,), (7,)]
    position = {c: k for k, c in enumerate(reversed(components))}
    assert position[(0, 1, 2)] < position[(3, 4, 5)]


def test_spec_fields_are_strict() -> None:
    base = spec_dict([LIF], (("x", (3,)),))
    for bad in ({"schedule": "fast"}, {"remat": -1}, {"remat": "4"}, {"remat": 2_000_000}):
        with pytest.raises(ValueError, match=r"schedule|remat"):
            snnspec.ModelSpec.model_validate({**base, **bad})
    model = compile_dict({**base, "schedule": "layerwise", "remat": 16})
    assert (model.schedule, model.remat) == ("layerwise", 16)
