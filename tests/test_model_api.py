"""The Python API of SPEC section 6: load, compile, init_state, call, simulate, gradients,
parameters files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snnspec

SPEC_YAML = """\
snnspec: 1
name: api-test
seed: 3
inputs:
  - {name: spikes, shape: [5]}
layers:
  - {name: fc1, type: linear, out_features: 8}
  - {name: lif1, type: lif, decay_constants: [0.6, 0.5], threshold: 0.1}
  - {name: fc2, type: linear, out_features: 6}
  - name: lif2
    type: simple_lif
    decay_constants: [0.6]
    threshold: 0.05
    per_neuron: true
    trainable: [decay_constants, threshold]
  - {name: fc3, type: linear, out_features: 3}
  - {name: out, type: simple_li, decay_constants: [0.9], trainable: []}
graph:
  input_layer_ids: [[0], [], [], [], [], []]
  input_connectivity: [[3], [0], [1], [2], [3], [4]]   # fc1 reads lif2 one step late
  final_layer_ids: [5]
"""

STEPS = 16
TRAINABLE = {
    "fc1": ("weight", "bias"),
    "lif1": ("decay_constants",),
    "fc2": ("weight", "bias"),
    "lif2": ("decay_constants", "threshold"),
    "fc3": ("weight", "bias"),
}
FROZEN = {"lif1": ("threshold",), "out": ("decay_constants",)}


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "model.yaml"
    path.write_text(SPEC_YAML)
    return path


@pytest.fixture(scope="module")
def spec(spec_path: Path) -> snnspec.ModelSpec:
    return snnspec.load(spec_path)


@pytest.fixture(scope="module")
def model(spec: snnspec.ModelSpec) -> Any:
    return snnspec.compile(spec)


@pytest.fixture(scope="module")
def x() -> jax.Array:
    return jnp.asarray(np.random.default_rng(0).normal(0.5, 3.0, (STEPS, 5)), jnp.float32)


@pytest.fixture(scope="module")
def run(model: Any) -> Any:
    """model, x -> outputs, from the initial state (jitted once for the module)."""

    @eqx.filter_jit
    def run(model: Any, x: Any, key: Any = None, burnin: int = 0) -> list[jax.Array]:
        return model(model.init_state(), x, key, burnin)[1]

    return run


def test_load(spec: snnspec.ModelSpec) -> None:
    assert isinstance(spec, snnspec.ModelSpec)
    assert spec.name == "api-test"
    assert spec.layer_names() == ("fc1", "lif1", "fc2", "lif2", "fc3", "out")


def test_load_error_is_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC_YAML.replace("out_features: 3", "out_feature: 3"))
    with pytest.raises(snnspec.SpecError, match="out_feature"):
        snnspec.load(path)


def test_compile_gives_equinox_modules(model: Any) -> None:
    assert isinstance(model, snnspec.StatefulModel)
    assert isinstance(model, eqx.Module)
    assert all(isinstance(model.layers[i], eqx.nn.Linear) for i in (0, 2, 4))
    assert model.layers[0].weight.shape == (8, 6 + 5)  # lif2 first, then the input
    assert model.layers[0].weight.dtype == jnp.float32


def test_graph_structure(model: Any) -> None:
    structure = model.graph_structure
    assert isinstance(structure, snnspec.GraphStructure)
    assert structure.num_layers == 6
    assert tuple(map(tuple, structure.input_layer_ids)) == ((0,), (), (), (), (), ())
    assert tuple(map(tuple, structure.input_connectivity)) == ((3,), (0,), (1,), (2,), (3,), (4,))
    assert tuple(structure.final_layer_ids) == (5,)


def test_graph_structure_default_chain() -> None:
    data = {
        "snnspec": 1,
        "name": "chain",
        "inputs": [{"name": "x", "shape": [3]}],
        "layers": [
            {"type": "linear", "out_features": 4},
            {"type": "simple_lif", "decay_constants": [0.9]},
            {"type": "linear", "out_features": 2},
        ],
    }
    structure = snnspec.compile(snnspec.ModelSpec.model_validate(data)).graph_structure
    assert structure.num_layers == 3
    assert tuple(map(tuple, structure.input_layer_ids)) == ((0,), (), ())
    assert tuple(map(tuple, structure.input_connectivity)) == ((), (0,), (1,))
    assert tuple(structure.final_layer_ids) == (2,)


def test_init_state_signature(model: Any) -> None:
    key = jax.random.PRNGKey(0)
    states = model.init_state((5,), key=key)
    shapes = [(8,), (8,), (6,), (6,), (3,), (3,)]
    for other in (
        model.init_state((5,), None, key=key),
        model.init_state(in_shape=[5], shapes=shapes, key=key),
        model.init_state([(5,)], shapes, key=key),
    ):
        assert eqx.tree_equal(states, other)
    assert len(states) == 6
    with pytest.raises(snnspec.SpecError):
        model.init_state((4,), key=key)


def test_call_one_sample(model: Any, x: jax.Array) -> None:
    key = jax.random.PRNGKey(1)
    states = model.init_state((5,), key=key)
    final_states, outputs = model(states, x, key)
    assert isinstance(outputs, list)
    assert len(outputs) == 1
    assert outputs[0].shape == (STEPS, 3)
    assert jax.tree.structure(final_states) == jax.tree.structure(states)
    leaves = zip(jax.tree.leaves(final_states), jax.tree.leaves(states), strict=True)
    assert all(a.shape == b.shape for a, b in leaves)
    _, burnt = model(states, [x], key, burnin=4)  # a list: one array per input
    assert len(burnt) == 1
    assert burnt[0].shape == (STEPS - 4, 3)
    np.testing.assert_allclose(np.asarray(burnt[0]), np.asarray(outputs[0][4:]), atol=1e-6)


def test_simulate(model: Any, x: jax.Array, run: Any) -> None:
    batch = jnp.stack([x, 2.0 * x, -x])
    outputs = snnspec.simulate(model, [batch], key=jax.random.PRNGKey(2), burnin=5)
    assert isinstance(outputs, list)
    assert len(outputs) == 1
    assert outputs[0].shape == (3, STEPS - 5, 3)
    for b in range(3):
        np.testing.assert_allclose(outputs[0][b], run(model, batch[b])[0][5:], atol=1e-6)


# --- gradients -------------------------------------------------------------------------------


def leaf(tree: Any, name: str, field: str) -> np.ndarray:
    index = ("fc1", "lif1", "fc2", "lif2", "fc3", "out").index(name)
    return np.asarray(getattr(tree.layers[index], field))


@pytest.fixture(scope="module")
def loss_and_grads(model: Any, x: jax.Array) -> tuple[Any, Any]:
    target = jnp.linspace(-1.0, 1.0, 3)

    @eqx.filter_jit
    def value_and_grad(model: Any, x: jax.Array) -> tuple[jax.Array, Any]:
        def loss(model: Any) -> jax.Array:
            _, outputs = model(model.init_state(), x, None)
            return jnp.mean((outputs[0] - target) ** 2)

        return eqx.filter_value_and_grad(loss)(model)

    return value_and_grad(model, x)


def test_every_neuron_layer_spikes(model: Any, x: jax.Array, run: Any) -> None:
    lif1, lif2 = run(model.with_outputs([1, 3]), x)
    assert 0.0 < float(jnp.mean(lif1)) < 1.0
    assert 0.0 < float(jnp.mean(lif2)) < 1.0


@pytest.mark.parametrize(
    ("name", "field"), [(name, field) for name, fields in TRAINABLE.items() for field in fields]
)
def test_trainable_parameters_get_gradients(loss_and_grads: tuple, name: str, field: str) -> None:
    value, grads = loss_and_grads
    assert np.isfinite(float(value))
    g = leaf(grads, name, field)
    assert np.all(np.isfinite(g))
    assert np.any(g != 0.0), f"{name}.{field} has a zero gradient"


@pytest.mark.parametrize(
    ("name", "field"), [(name, field) for name, fields in FROZEN.items() for field in fields]
)
def test_frozen_parameters_get_zero_gradients(loss_and_grads: tuple, name: str, field: str) -> None:
    _, grads = loss_and_grads
    assert np.all(leaf(grads, name, field) == 0.0)


# --- parameters files ------------------------------------------------------------------------


def perturbed(model: Any) -> Any:
    """The model with different weights and decay constants than its seed gives."""
    return eqx.tree_at(
        lambda m: (m.layers[0].weight, m.layers[1].decay_constants, m.layers[3].threshold),
        model,
        (
            model.layers[0].weight * 1.5 + 0.05,
            model.layers[1].decay_constants * 0.9375 + 0.03125,  # within [0.5, 1]
            model.layers[3].threshold + jnp.linspace(0.0, 0.1, 6),
        ),
    )


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_params_round_trip(
    spec: snnspec.ModelSpec, model: Any, x: jax.Array, run: Any, tmp_path: Path, suffix: str
) -> None:
    changed = perturbed(model)
    path = tmp_path / f"params{suffix}"
    snnspec.save_params(changed, path)
    loaded = snnspec.compile(spec, params=path)
    assert all(
        np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(
            jax.tree.leaves(eqx.filter(loaded, eqx.is_array)),
            jax.tree.leaves(eqx.filter(changed, eqx.is_array)),
            strict=True,
        )
    )
    expected = np.asarray(run(changed, x)[0])
    assert np.array_equal(np.asarray(run(loaded, x)[0]), expected)
    assert not np.array_equal(np.asarray(run(model, x)[0]), expected)


def test_params_file_named_in_spec(spec_path: Path, model: Any, x: jax.Array, run: Any) -> None:
    """`params:` in the spec is read relative to the spec file."""
    changed = perturbed(model)
    snnspec.save_params(changed, spec_path.parent / "weights.npz")
    with_params = spec_path.parent / "with_params.yaml"
    with_params.write_text(SPEC_YAML + "params: weights.npz\n")
    loaded = snnspec.compile(snnspec.load(with_params))
    assert np.array_equal(np.asarray(run(loaded, x)[0]), np.asarray(run(changed, x)[0]))


BAD_PARAMS = {
    "unknown key": ("fc9.weight", np.zeros((8, 11), np.float32)),
    "unknown field": ("lif1.tau", np.zeros((), np.float32)),
    "wrong shape": ("fc1.weight", np.zeros((8, 5), np.float32)),
    "wrong decay shape": ("lif1.decay_constants", np.zeros((3,), np.float32)),
}


@pytest.mark.parametrize("form", ["mapping", ".safetensors", ".npz"])
@pytest.mark.parametrize("case", list(BAD_PARAMS))
def test_bad_params_raise_params_error(
    spec: snnspec.ModelSpec, tmp_path: Path, case: str, form: str
) -> None:
    key, value = BAD_PARAMS[case]
    if form == "mapping":
        params: Any = {key: value}
    else:
        params = tmp_path / f"bad{form}"
        if form == ".npz":
            np.savez(params, **{key: value})
        else:
            from safetensors.numpy import save_file

            save_file({key: value}, str(params))
    with pytest.raises(snnspec.ParamsError) as error:
        snnspec.compile(spec, params=params)
    assert key in str(error.value)


def test_the_suite_runs_under_strict_dtype_promotion() -> None:
    """conftest turns on JAX's strict dtype promotion here and, through the environment, in
    the CLI subprocesses: library code mixing dtypes without an explicit cast fails the suite."""
    assert os.environ["JAX_NUMPY_DTYPE_PROMOTION"] == "strict"
    with pytest.raises(jax.dtypes.TypePromotionError):
        _ = jnp.ones(2, jnp.float32) + jnp.ones(2, jnp.int32)
