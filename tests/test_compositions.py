"""Compositions (residual, parallel, feedback) lower to plain graphs; stateful Equinox blocks."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import snnspec
from snnspec.graph.plan import plan_graph
from snnspec.spec.loader import parse_document
from snnspec.spec.model import spec_from_document

LIF = {"type": "lif", "decay_constants": [0.9, 0.8], "threshold": 0.2}


def make_spec(layers: list[dict[str, Any]], **top: Any) -> snnspec.ModelSpec:
    return snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "c",
            "inputs": [{"name": "x", "shape": [6]}],
            "layers": layers,
            **top,
        }
    )


def run(spec: snnspec.ModelSpec, params: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
    model = snnspec.compile(spec, params=params)
    x = jax.random.bernoulli(jax.random.PRNGKey(0), 0.5, (2, 12, 6)).astype(jnp.float32)
    return [np.asarray(y) for y in snnspec.simulate(model, x, key=jax.random.PRNGKey(1))]


def test_residual_equals_its_written_out_graph() -> None:
    block = make_spec(
        [
            {"name": "fc", "type": "linear", "out_features": 6},
            {
                "name": "res",
                "type": "residual",
                "layers": [{"type": "linear", "out_features": 6}, LIF],
            },
        ]
    )
    plan = plan_graph(block)
    assert plan.layer_names == ("fc", "res.input", "res.0", "res.1", "res")
    assert [plan.source_name(s) for s in plan.sources[-1]] == ["res.1", "res.input"]
    assert plan.final_layer_ids == (4,)
    written = make_spec(
        [
            {"name": "fc", "type": "linear", "out_features": 6},
            {"name": "res.input", "type": "identity", "inputs": ["fc"]},
            {"name": "res.0", "type": "linear", "out_features": 6, "inputs": ["res.input"]},
            {"name": "res.1", **LIF, "inputs": ["res.0"]},
            {"name": "res", "type": "identity", "inputs": ["res.1", "res.input"], "combine": "sum"},
        ]
    )
    params = snnspec.parameter_arrays(snnspec.compile(block))
    (expected,) = run(written, params)
    (actual,) = run(block, params)
    np.testing.assert_array_equal(actual, expected)


def test_parallel_sums_its_branches() -> None:
    spec = make_spec(
        [
            {
                "name": "par",
                "type": "parallel",
                "branches": [
                    [{"type": "linear", "out_features": 3}],
                    [{"type": "linear", "out_features": 3}, {"type": "lambda", "fn": "tanh"}],
                ],
            }
        ]
    )
    model = snnspec.compile(spec)
    assert model.plan.layer_names == ("par.input", "par.0.0", "par.1.0", "par.1.1", "par")
    x = jax.random.normal(jax.random.PRNGKey(2), (4, 6))
    _, (y,) = model(model.init_state(), x)
    first, second = model.layers[1], model.layers[2]
    expected = jax.vmap(lambda v: first(v) + jnp.tanh(second(v)))(x)
    np.testing.assert_allclose(np.asarray(y), np.asarray(expected), rtol=1e-6, atol=1e-6)


def test_feedback_adds_a_delayed_self_edge() -> None:
    layers = [{"name": "fc", "type": "linear", "out_features": 6}, {"name": "lif", **LIF}]
    with_flag = make_spec([layers[0], {**layers[1], "feedback": True, "combine": "sum"}])
    explicit = make_spec(
        [
            {**layers[0], "inputs": ["x"]},
            {**layers[1], "inputs": ["fc", "lif"], "combine": "sum"},
        ]
    )
    plan = plan_graph(with_flag)
    assert [plan.source_name(s) for s in plan.sources[1]] == ["fc", "lif@t-1"]
    assert plan.structure.input_connectivity == ((), (0, 1))
    params = snnspec.parameter_arrays(snnspec.compile(with_flag))
    np.testing.assert_array_equal(run(with_flag, params)[0], run(explicit, params)[0])


def test_blocks_need_the_named_form() -> None:
    text = (
        "snnspec: 1\nname: c\ninputs: [{name: x, shape: [6]}]\n"
        "layers:\n"
        "  - {type: linear, out_features: 6}\n"
        "  - {type: residual, layers: [{type: linear, out_features: 6}]}\n"
        "graph: {input_layer_ids: [[0], []], input_connectivity: [[], [0]]}\n"
    )
    spec = spec_from_document(parse_document(text, "yaml", "m.yaml"))
    with pytest.raises(snnspec.GraphError) as error:
        plan_graph(spec)
    assert str(error.value).startswith("m.yaml:6:5: layers[1]: a residual block needs the named")


def test_errors_inside_blocks_point_at_the_member() -> None:
    text = (
        "snnspec: 1\nname: c\ninputs: [{name: x, shape: [6]}]\n"
        "layers:\n"
        "  - type: residual\n"
        "    layers:\n"
        "      - {type: linear, out_features: 6, in_features: 5}\n"
    )
    spec = spec_from_document(parse_document(text, "yaml", "m.yaml"))
    with pytest.raises(snnspec.ShapeError) as error:
        plan_graph(spec)
    assert str(error.value) == (
        "m.yaml:7:41: layers[0].layers[0].in_features: in_features is 5 but the input has 6 "
        "features; remove in_features to infer it or fix the graph"
    )


def test_batch_norm_in_sequential_in_a_recurrent_graph_trains() -> None:
    spec = make_spec(
        [
            {
                "name": "block",
                "type": "sequential",
                "inputs": ["x", "lif"],
                "layers": [
                    {"type": "linear", "out_features": 8},
                    {"type": "batch_norm"},
                    {"type": "lambda", "fn": "relu"},
                ],
            },
            {"name": "lif", **LIF, "inputs": ["block"]},
            {"name": "out", "type": "linear", "out_features": 2},
        ]
    )
    model = snnspec.compile(spec)
    x = jax.random.bernoulli(jax.random.PRNGKey(3), 0.4, (8, 10, 6)).astype(jnp.float32)
    target = jnp.ones((8, 10, 2))

    def forward(m: Any, states: Any) -> tuple[Any, jax.Array]:
        return jax.vmap(lambda s, xi: m(s, xi), axis_name="batch")(states, x)

    def loss(m: Any, states: Any) -> tuple[jax.Array, Any]:
        final, (y,) = forward(m, states)
        return jnp.mean((y - target) ** 2), final

    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def train_step(m: Any, opt_state: Any, states: Any) -> Any:
        (value, final), grads = eqx.filter_value_and_grad(loss, has_aux=True)(m, states)
        with jax.numpy_dtype_promotion("standard"):  # optax's adam: float decay ** int32 step
            updates, opt_state = optimizer.update(
                grads, opt_state, eqx.filter(m, eqx.is_inexact_array)
            )
        return eqx.apply_updates(m, updates), opt_state, final, value

    states = jax.vmap(lambda _: model.init_state())(jnp.arange(8))
    losses = []
    for _ in range(5):
        model, opt_state, states, value = train_step(model, opt_state, states)
        losses.append(float(value))
    assert losses[-1] < losses[0]
    bn_state = states[0].state
    running = jax.tree.leaves(bn_state)
    initial = jax.tree.leaves(jax.vmap(lambda _: model.init_state())(jnp.arange(8))[0].state)
    assert any(not np.allclose(a, b) for a, b in zip(running, initial, strict=True))
    inference = eqx.nn.inference_mode(model)
    _, (y,) = inference(inference.init_state(), x[0])
    assert bool(jnp.all(jnp.isfinite(y)))
