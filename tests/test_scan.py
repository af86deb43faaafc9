"""What a scan body holds: keys only for random layers, parameter transforms hoisted.

The schedules' results are checked against ``stepwise`` in ``test_schedule.py``; this module
checks the two mechanisms that keep the scan bodies lean, at the jaxpr level and against the
plain per-step neuron, in float64.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import primitives_of, spec_dict

import snnspec
from snnspec.model.model import simulate_batch
from snnspec.nn.neurons import AbstractNeuron
from snnspec.spec.registry import LAYER_TYPES

pytestmark = pytest.mark.usefixtures("x64")  # float64 specs

LIF = {"type": "lif", "decay_constants": [0.7, 0.6], "threshold": 0.3}


def _is_neuron(name: str) -> bool:
    """Whether the registered type's runtime class is an ``AbstractNeuron`` (blocks have none)."""
    runtime = LAYER_TYPES[name].runtime
    if runtime is None:
        return False
    module, _, attr = runtime.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    return isinstance(cls, type) and issubclass(cls, AbstractNeuron)


NEURON_TYPES = sorted(name for name in LAYER_TYPES if _is_neuron(name))


def _scans(jaxpr: Any) -> Iterator[Any]:
    """The body jaxpr of every ``scan`` in ``jaxpr``, nested ones included."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "scan":
            yield eqn.params["jaxpr"].jaxpr
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", param)
            if hasattr(inner, "eqns"):
                yield from _scans(inner)


def _scan_primitives(spec: dict[str, Any], schedule: str) -> list[list[str]]:
    """The primitives of each scan body of a keyed, batched forward pass under ``schedule``."""
    model = snnspec.compile(snnspec.ModelSpec.model_validate(spec)).with_schedule(schedule)
    xs = jnp.zeros((2, 5, *spec["inputs"][0]["shape"]))
    jaxpr = jax.make_jaxpr(lambda x, k: simulate_batch(model, (x,), k, 0))(
        xs, jax.random.PRNGKey(0)
    )
    return [primitives_of(body) for body in _scans(jaxpr.jaxpr)]


def _mlp(lif1_inputs: tuple[str, ...] = ("fc1",), *extra: dict[str, Any]) -> dict[str, Any]:
    layers = [
        {"type": "linear", "out_features": 6, "name": "fc1", "inputs": ["x"]},
        {**LIF, "name": "lif1", "inputs": list(lif1_inputs), "combine": "sum"},
        *extra,
        {"type": "linear", "out_features": 3, "name": "fc2", "inputs": ["lif1"]},
        {**LIF, "name": "lif2", "inputs": ["fc2"]},
    ]
    return spec_dict(layers, (("x", (4,)),), outputs=["lif2"])


@pytest.mark.parametrize("schedule", ["stepwise", "layerwise"])
def test_no_key_is_derived_in_a_scan_without_random_layers(schedule: str) -> None:
    """Called with a key, a model without a random layer derives none inside its scans."""
    bodies = _scan_primitives(_mlp(), schedule)
    assert bodies
    for body in bodies:
        assert "random_fold_in" not in body
        assert "random_bits" not in body


@pytest.mark.parametrize("schedule", ["stepwise", "layerwise"])
def test_a_random_layer_gets_its_key_in_the_scan(schedule: str) -> None:
    """A dropout on a cycle (scanned with its neuron): its scan derives the step's key."""
    drop = {"type": "dropout", "p": 0.3, "name": "drop", "inputs": ["lif1"]}
    bodies = _scan_primitives(_mlp(("fc1", "drop"), drop), schedule)
    assert any("random_fold_in" in body and "random_bits" in body for body in bodies)


def test_no_clamp_in_a_scan_body() -> None:
    """The decay constants' clamps run once before the scan, not at every step."""
    bodies = _scan_primitives(_mlp(), "layerwise")
    assert bodies
    for body in bodies:
        assert "clamp" not in body


def _neuron(type_name: str, trainable: bool, moved: bool) -> AbstractNeuron:
    """The registered type's example (every parameter trainable, or none); when ``moved``, its
    float arrays moved past their clamp bounds (1.6·p + 0.05: decays above 1), as training may
    move them."""
    cls: Any = LAYER_TYPES[type_name]
    names = list(getattr(cls, "parameter_names", ()))
    layer = {**cls.example, "name": "n", "inputs": ["x"]}
    if names:
        layer["trainable"] = names if trainable else []
    spec = spec_dict([layer], (("x", tuple(cls.example_input_shape)),))
    neuron = snnspec.compile(snnspec.ModelSpec.model_validate(spec)).layers[0]
    if not moved:
        return neuron
    return jax.tree_util.tree_map(
        lambda a: 1.6 * a + 0.05 if eqx.is_inexact_array(a) else a, neuron
    )


@pytest.mark.parametrize("moved", [False, True])
@pytest.mark.parametrize("trainable", [True, False])
@pytest.mark.parametrize("type_name", NEURON_TYPES)
def test_hoisted_neuron_steps_like_the_neuron(type_name: str, trainable: bool, moved: bool) -> None:
    """Every registered neuron: 12 steps of its ``hoisted()`` form (transforms computed once,
    outside the loop) equal 12 steps of the neuron: outputs, states and the gradients of a
    smooth function of them with respect to every parameter and the inputs (float64), with
    the parameters inside and past their clamp bounds."""
    neuron = _neuron(type_name, trainable, moved)
    shape = tuple(LAYER_TYPES[type_name].example_input_shape)
    xs = jnp.asarray(np.random.default_rng(3).normal(0.5, 1.5, (12, *shape)))

    def run(neuron: Any, xs: jax.Array, hoist: bool) -> tuple[jax.Array, Any]:
        step_neuron = neuron.hoisted() if hoist else neuron

        def body(state: Any, x: jax.Array) -> tuple[Any, jax.Array]:
            return step_neuron(state, x)

        state, ys = jax.lax.scan(body, neuron.init_state(shape, xs.dtype), xs)
        total = jnp.sum(jnp.tanh(ys + 0.1)) + sum(
            jnp.sum(jnp.sin(leaf))
            for leaf in jax.tree_util.tree_leaves(state)
            if eqx.is_inexact_array(leaf)
        )
        return total, (ys, state)

    results = {}
    for hoist in (False, True):
        grad = eqx.filter_grad(lambda args, hoist=hoist: run(args[0], args[1], hoist), has_aux=True)
        results[hoist] = eqx.filter_jit(grad)((neuron, xs))
    (plain_grads, plain), (hoisted_grads, hoisted) = results[False], results[True]
    leaves = jax.tree_util.tree_leaves
    pairs = [*zip(leaves(hoisted), leaves(plain), strict=True)]
    pairs += [*zip(leaves(hoisted_grads), leaves(plain_grads), strict=True)]
    if not moved:  # past the bounds a decay of 1 may shut the input out entirely
        assert any(np.any(np.asarray(g) != 0) for g in leaves(plain_grads))
    for got, want in pairs:
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-12)
