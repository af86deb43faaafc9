"""The example configs train: every trainable parameter gets a finite, non-zero gradient."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import snnspec

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.*"))
STEPS, BATCH, RATE = 30, 4, 0.5


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_trainable_parameter_gets_a_gradient(config: Path) -> None:
    spec = snnspec.load(config)
    model = snnspec.compile(spec)
    keys = jax.random.split(jax.random.PRNGKey(0), len(model.plan.input_shapes))
    inputs = [
        jax.random.bernoulli(k, RATE, (BATCH, STEPS, *shape)).astype(jnp.float32)
        for k, shape in zip(keys, model.plan.input_shapes, strict=True)
    ]
    trained, frozen = eqx.partition(model, snnspec.trainable_filter(model))

    @eqx.filter_jit
    def value_and_grad(trained: Any) -> Any:
        def loss(trained: Any) -> jax.Array:
            outputs = snnspec.simulate(
                eqx.combine(trained, frozen), inputs, key=jax.random.PRNGKey(1)
            )
            return jnp.sum(jnp.stack([jnp.mean(jnp.tanh(y) ** 2) for y in outputs]))

        return eqx.filter_value_and_grad(loss)(trained)

    value, grads = value_and_grad(trained)
    assert np.isfinite(float(value))
    named = jax.tree_util.tree_leaves_with_path(eqx.filter(grads, eqx.is_array))
    assert named, "the example has no trainable parameter"
    for path, grad in named:
        name = jax.tree_util.keystr(path)
        assert bool(jnp.all(jnp.isfinite(grad))), f"{config.name}: {name} is not finite"
        assert bool(jnp.any(grad != 0)), f"{config.name}: {name} gets no gradient"


def test_frozen_parameters_survive_an_optax_step() -> None:
    spec = snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "frozen",
            "inputs": [{"name": "x", "shape": [5]}],
            "layers": [
                {"name": "fc", "type": "linear", "out_features": 4},
                {"name": "lif", "type": "lif", "decay_constants": [0.9, 0.8], "trainable": []},
                {"name": "out", "type": "simple_li", "decay_constants": [0.9]},
            ],
        }
    )
    model = snnspec.compile(spec)
    x = jax.random.bernoulli(jax.random.PRNGKey(0), 0.5, (2, 10, 5)).astype(jnp.float32)
    trained, frozen = eqx.partition(model, snnspec.trainable_filter(model))
    optimizer = optax.adamw(1e-2, weight_decay=0.1)
    opt_state = optimizer.init(trained)

    def loss(trained: Any) -> jax.Array:
        (y,) = snnspec.simulate(eqx.combine(trained, frozen), x)
        return jnp.mean(y**2)

    grads = eqx.filter_grad(loss)(trained)
    with jax.numpy_dtype_promotion("standard"):  # optax's adamw: float decay ** int32 step
        updates, _ = optimizer.update(grads, opt_state, trained)
    stepped = snnspec.parameter_arrays(eqx.combine(eqx.apply_updates(trained, updates), frozen))
    before = snnspec.parameter_arrays(model)
    for key in ("lif.decay_constants", "lif.threshold"):
        np.testing.assert_array_equal(stepped[key], before[key])
    for key in ("fc.weight", "out.decay_constants"):
        assert not np.array_equal(stepped[key], before[key]), key
