"""Equinox interop: a compiled model inside eqx.nn.Sequential, Equinox models -> specs, and
the generated Python module of ``snnspec export --python``."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import example_input, example_spec
from typer.testing import CliRunner

import snnspec
from snnspec.cli import app
from snnspec.interop.equinox import CONVERTERS, MODULE_TYPES, SNNLayer
from snnspec.interop.python import export_python
from snnspec.nn import neurons as snnspec_neurons
from snnspec.nn.elementwise import ACTIVATION_FUNCTIONS
from snnspec.spec.dump import normalized_data
from snnspec.spec.model import ModelSpec
from snnspec.spec.registry import LAYER_TYPES

T = 6

CHAIN = {
    "snnspec": 1,
    "name": "chain",
    "seed": 3,
    "inputs": [{"name": "x", "shape": [2, 8]}],
    "layers": [
        {"name": "conv", "type": "conv1d", "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"type": "max_pool1d", "kernel_size": 2},
        {"type": "flatten"},
        {"name": "fc1", "type": "linear", "out_features": 6},
        {"type": "lif", "decay_constants": [0.9, 0.8], "threshold": 0.3, "per_neuron": True},
        {
            "type": "lif_soft_reset",
            "decay_constants": [0.85, 0.7],
            "threshold": 0.2,
            "surrogate": {"type": "arctan", "alpha": 3.0},
        },
        {
            "type": "sequential",
            "layers": [{"type": "linear", "out_features": 5}, {"type": "lambda", "fn": "tanh"}],
        },
        {"type": "layer_norm"},
        {"type": "simple_lif", "decay_constants": [0.7], "reset_val": 0.1, "threshold": 0.2},
        {"name": "fc2", "type": "linear", "out_features": 3},
        {"name": "out", "type": "simple_li", "decay_constants": [0.95]},
    ],
}
"""A feed-forward chain touching most module converters."""

RECURRENT = {
    "snnspec": 1,
    "name": "recurrent",
    "inputs": [{"name": "a", "shape": [4]}, {"name": "b", "shape": [3]}],
    "layers": [
        {"name": "fc", "type": "linear", "out_features": 5, "inputs": ["lif", "a", "b"]},
        {"name": "lif", "type": "iaf", "decay_constants": [0.8], "leak": 0.05, "threshold": 0.4},
        {"name": "skip", "type": "linear", "out_features": 5, "inputs": ["b"]},
        {"name": "sum", "type": "identity", "inputs": ["lif", "skip"], "combine": "sum"},
        {"name": "out", "type": "simple_li", "decay_constants": [0.9]},
    ],
    "outputs": ["out", "lif"],
}
"""Several inputs, a back edge, combine: sum and two outputs."""


def _spikes(key: int, shape: tuple[int, ...]) -> jax.Array:
    return jax.random.bernoulli(jax.random.PRNGKey(key), 0.4, shape).astype(jnp.float32)


def _inputs(spec: ModelSpec) -> list[jax.Array]:
    return [_spikes(10 + k, (T, *item.shape)) for k, item in enumerate(spec.inputs)]


def _run(model: Any, inputs: list[jax.Array]) -> list[np.ndarray]:
    """One sample through the jitted ``simulate`` (compiled once per model structure)."""
    return [np.asarray(y[0]) for y in snnspec.simulate(model, [x[None] for x in inputs])]


# --- 1. a compiled model inside eqx.nn.Sequential --------------------------------------------


def _snn() -> Any:
    spec = ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "core",
            "inputs": [{"name": "x", "shape": [6]}],
            "layers": [
                {"type": "lif", "decay_constants": [0.8, 0.7], "threshold": 0.3},
                {"type": "linear", "out_features": 2},
                {"type": "simple_li", "decay_constants": [0.9]},
            ],
        }
    )
    return snnspec.compile(spec)


def _pipeline(key: jax.Array) -> eqx.nn.Sequential:
    encoder = eqx.nn.Linear(3, 6, key=key)
    return eqx.nn.Sequential(
        [
            eqx.nn.Lambda(eqx.filter_vmap(encoder)),  # the encoder at every time step
            snnspec.as_equinox(_snn()),
            eqx.nn.Lambda(lambda y: jnp.mean(y, axis=0)),  # readout: mean over time
        ]
    )


def test_as_equinox_is_a_stateful_layer_whose_state_persists() -> None:
    seq, state = eqx.nn.make_with_state(_pipeline)(jax.random.PRNGKey(0))
    layer = seq.layers[1]
    assert isinstance(layer, eqx.nn.StatefulLayer)
    assert isinstance(layer, SNNLayer)
    assert layer.is_stateful()
    assert seq.is_stateful()
    x = jax.random.normal(jax.random.PRNGKey(1), (2 * T, 3))
    initial = jax.tree.map(lambda a: a, state)  # a copy: State.set invalidates its input
    call = eqx.filter_jit(lambda m, x, s: m(x, s))
    _, state1 = call(seq, x[:T], state)
    _, state2 = call(seq, x[T:], state1)

    structure = jax.tree.structure(initial)
    assert jax.tree.structure(state1) == structure
    assert jax.tree.structure(state2) == structure
    for before, after in zip(jax.tree.leaves(initial), jax.tree.leaves(state1), strict=True):
        assert before.shape == after.shape
        assert before.dtype == after.dtype
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(initial), jax.tree.leaves(state1), strict=True)
    )

    # Two calls of T steps continue one simulation of 2T steps.
    model = layer.model
    encoded = seq.layers[0](x)
    _, (whole,) = model(model.init_state(), encoded)
    second, _ = layer(encoded[T:], state1)
    np.testing.assert_allclose(second, whole[T:], rtol=1e-6, atol=1e-6)

    # reset puts the SNN state back at rest.
    reset = layer.reset(state2)
    for a, b in zip(jax.tree.leaves(reset), jax.tree.leaves(initial), strict=True):
        np.testing.assert_array_equal(a, b)


def test_sequential_with_snn_trains_with_optax() -> None:
    seq, state = eqx.nn.make_with_state(_pipeline)(jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(2), (4, 12, 3))
    target = jnp.array([[1.0, -1.0], [-1.0, 1.0], [1.0, 1.0], [-1.0, -1.0]])

    def loss(model: eqx.nn.Sequential, state: eqx.nn.State) -> jax.Array:
        # Every sample starts from the same state; one final state per sample comes back.
        y, _ = jax.vmap(model, in_axes=(0, None), out_axes=(0, 0))(x, state)
        return jnp.mean((y - target) ** 2)

    optimiser = optax.adam(3e-2)
    opt_state = optimiser.init(eqx.filter(seq, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(model: eqx.nn.Sequential, opt_state: Any, state: eqx.nn.State) -> Any:
        value, grads = eqx.filter_value_and_grad(loss)(model, state)
        with jax.numpy_dtype_promotion("standard"):  # optax's adam: float decay ** int32 step
            updates, opt_state = optimiser.update(grads, opt_state, model)
        return eqx.apply_updates(model, updates), opt_state, value, grads

    losses, first = [], None
    for _ in range(8):
        seq, opt_state, value, grads = step(seq, opt_state, state)
        first = grads if first is None else first
        losses.append(float(value))
    assert losses[-1] < losses[0]
    assert first is not None
    assert np.any(np.asarray(first.layers[0].fn._fun.weight) != 0)  # the encoder learns
    assert np.all(np.asarray(first.layers[1].model.layers[0].decay_constants) != 0)  # the SNN


# --- 2. Equinox -> spec ----------------------------------------------------------------------


@pytest.mark.parametrize("data", [CHAIN, RECURRENT], ids=["chain", "recurrent"])
def test_compiled_model_round_trips_to_an_equal_spec(data: dict[str, Any]) -> None:
    spec = ModelSpec.model_validate(data)
    model = snnspec.compile(spec)
    recovered, arrays = snnspec.from_equinox(model, name=spec.name, seed=spec.seed)
    assert normalized_data(recovered) == normalized_data(spec)
    assert set(arrays) == set(snnspec.parameter_arrays(model))
    rebuilt = snnspec.compile(recovered, params=arrays)
    inputs = _inputs(spec)
    for got, want in zip(_run(rebuilt, inputs), _run(model, inputs), strict=True):
        np.testing.assert_array_equal(got, want)


def test_trained_values_travel_in_the_params() -> None:
    spec = ModelSpec.model_validate(CHAIN)
    model = snnspec.compile(spec)
    model = eqx.tree_at(lambda m: m.layers[3].weight, model, model.layers[3].weight * 2.0)
    model = eqx.tree_at(
        lambda m: m.layers[4].threshold, model, jnp.linspace(0.1, 0.6, 6, dtype=jnp.float32)
    )
    recovered, arrays = snnspec.from_equinox(model, name="trained")
    rebuilt = snnspec.compile(recovered, params=arrays)
    inputs = _inputs(spec)
    for got, want in zip(_run(rebuilt, inputs), _run(model, inputs), strict=True):
        np.testing.assert_array_equal(got, want)


def test_equinox_sequential_becomes_a_spec(tmp_path: Path) -> None:
    keys = jax.random.split(jax.random.PRNGKey(4), 3)
    seq = eqx.nn.Sequential(
        [
            eqx.nn.Conv2d(2, 4, 3, padding=1, key=keys[0]),
            eqx.nn.Lambda(ACTIVATION_FUNCTIONS["relu"]),
            eqx.nn.AvgPool2d(2, 2),
            snnspec.nn.Flatten(),
            eqx.nn.Dropout(0.2),
            eqx.nn.Linear(36, 5, key=keys[1]),
            snnspec.nn.LIF(
                decay_constants=jnp.array([0.9, 0.8]), threshold=jnp.array(0.5), reset="zero"
            ),
            eqx.nn.Linear(5, 2, key=keys[2]),
            snnspec.nn.SimpleLI(decay_constants=jnp.array([0.9])),
        ]
    )
    spec, arrays = snnspec.from_equinox(seq, inputs={"image": (2, 6, 6)}, name="from_eqx")
    assert [layer.type for layer in spec.layers] == [
        "conv2d", "lambda", "avg_pool2d", "flatten", "dropout", "linear", "lif", "linear",
        "simple_li",
    ]  # fmt: skip
    assert spec.layers[0].kernel_size == 3
    assert spec.layers[2].stride is None  # equal to the kernel: the short form
    np.testing.assert_array_equal(arrays["conv2d_0.weight"], seq.layers[0].weight)
    np.testing.assert_array_equal(arrays["linear_5.weight"], seq.layers[5].weight)

    # The spec runs the chain at every step: compare with a hand-written scan.
    model = eqx.nn.inference_mode(snnspec.compile(spec, params=arrays))
    x = _spikes(5, (T, 2, 6, 6))
    (got,) = _run(model, [x])
    front = eqx.nn.inference_mode(eqx.nn.Sequential(seq.layers[:6]))
    lif, readout, li = seq.layers[6], seq.layers[7], seq.layers[8]

    def step(carry: Any, xt: jax.Array) -> Any:
        s_lif, s_li = carry
        s_lif, spikes = lif(s_lif, front(xt))
        s_li, y = li(s_li, readout(spikes))
        return (s_lif, s_li), y

    f32 = jnp.dtype("float32")
    carry = (lif.init_state((5,), f32), li.init_state((2,), f32))
    _, want = jax.jit(lambda c, x: jax.lax.scan(step, c, x))(carry, x)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)

    # dump writes it; loading the file gives the same spec.
    snnspec.dump(spec, tmp_path / "from_eqx.yaml")
    assert normalized_data(snnspec.load(tmp_path / "from_eqx.yaml")) == normalized_data(spec)


def test_as_equinox_layer_is_accepted_by_from_equinox() -> None:
    model = _snn()
    spec, _ = snnspec.from_equinox(snnspec.as_equinox(model), name="core")
    assert normalized_data(spec) == normalized_data(snnspec.from_equinox(model, name="core")[0])


def _bad(fn: Any) -> eqx.nn.Sequential:
    return eqx.nn.Sequential(
        [eqx.nn.Linear(3, 4, key=jax.random.PRNGKey(0)), eqx.nn.Identity(), fn]
    )


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            _bad(eqx.nn.MLP(4, 2, 3, 1, key=jax.random.PRNGKey(1))),
            "layers[2]: eqx.nn.MLP has no snnspec layer type; supported modules:",
        ),
        (
            _bad(eqx.nn.Lambda(lambda x: x * 2)),
            "layers[2]: eqx.nn.Lambda cannot be written as a spec layer: its function '<lambda>' "
            "is not in the activation table",
        ),
        (
            _bad(
                eqx.nn.Sequential(
                    [eqx.nn.Identity(), eqx.nn.GRUCell(4, 4, key=jax.random.PRNGKey(1))]
                )
            ),
            "layers[2].layers[1]: eqx.nn.GRUCell has no snnspec layer type",
        ),
        (
            _bad(eqx.nn.MaxPool1d(2, 1, padding=((0, 1),))),
            "layers[2]: eqx.nn.MaxPool1d cannot be written as a spec layer: asymmetric pooling "
            "padding ((0, 1),) has no layer option",
        ),
    ],
    ids=["unknown", "lambda", "nested", "padding"],
)
def test_unsupported_modules_are_clear_errors(obj: Any, message: str) -> None:
    with pytest.raises(snnspec.SpecError) as error:
        snnspec.from_equinox(obj, inputs={"x": (3,)})
    assert str(error.value).startswith(message)


def test_shape_mismatch_and_missing_inputs_are_errors() -> None:
    seq = _bad(eqx.nn.Identity())
    with pytest.raises(snnspec.SpecError, match="needs inputs="):
        snnspec.from_equinox(seq)
    with pytest.raises(snnspec.ShapeError, match=r"layers\[0\].in_features: in_features is 3"):
        snnspec.from_equinox(seq, inputs={"x": (5,)})


# --- 3. export --python ----------------------------------------------------------------------


def _import(path: Path) -> Any:
    module_spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    try:
        module_spec.loader.exec_module(module)
    finally:
        del sys.modules[module_spec.name]
    return module


@pytest.mark.parametrize(
    "data",
    [CHAIN, RECURRENT, {**CHAIN, "compat": "snnax"}],
    ids=["chain", "recurrent", "compat-snnax"],
)
def test_export_python_rebuilds_the_same_model(tmp_path: Path, data: dict[str, Any]) -> None:
    spec_path = tmp_path / "net.yaml"
    snnspec.dump(ModelSpec.model_validate(data), spec_path)
    result = CliRunner().invoke(
        app, ["export", str(spec_path), "--python", "-o", str(tmp_path / "net.py")]
    )
    assert result.exit_code == 0, result.output
    spec_path.unlink()  # the generated module must not need the spec
    text = (tmp_path / "net.py").read_text()
    assert "yaml" not in text.lower().replace("net.yaml", "")
    exported = _import(tmp_path / "net.py")
    model = exported.build()
    reference = snnspec.compile(ModelSpec.model_validate(data))
    for key, value in snnspec.parameter_arrays(reference).items():
        np.testing.assert_array_equal(snnspec.parameter_arrays(model)[key], value, err_msg=key)
    inputs = _inputs(reference_spec := ModelSpec.model_validate(data))
    assert reference_spec.name in text
    for got, want in zip(_run(model, inputs), _run(reference, inputs), strict=True):
        np.testing.assert_array_equal(got, want)


def test_export_writes_the_params_file_beside(tmp_path: Path) -> None:
    spec = ModelSpec.model_validate(RECURRENT)
    trained = snnspec.compile(spec)
    trained = eqx.tree_at(lambda m: m.layers[0].weight, trained, trained.layers[0].weight + 1.0)
    snnspec.save_params(trained, tmp_path / "trained.safetensors")
    snnspec.dump(spec, tmp_path / "net.yaml")
    result = CliRunner().invoke(
        app,
        ["export", str(tmp_path / "net.yaml"), "--python", "-o", str(tmp_path / "out" / "m.py"),
         "--params", str(tmp_path / "trained.safetensors")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "m.safetensors").is_file()
    model = _import(tmp_path / "out" / "m.py").build()
    inputs = _inputs(spec)
    for got, want in zip(_run(model, inputs), _run(trained, inputs), strict=True):
        np.testing.assert_array_equal(got, want)


def _imported_names(text: str) -> set[str]:
    """Every module imported by ``text``, and ``module.name`` for every name imported from one."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            names.update({module, *(f"{module}.{alias.name}" for alias in node.names)})
    return names


@pytest.mark.parametrize("data", [CHAIN, {**RECURRENT, "compat": "snnax"}], ids=["chain", "snnax"])
def test_export_python_imports_only_public_modules(tmp_path: Path, data: dict[str, Any]) -> None:
    spec = ModelSpec.model_validate(data)
    trained = snnspec.compile(spec)
    trained = eqx.tree_at(lambda m: m.layers[-1].decay_constants, trained, jnp.full((1,), 0.75))
    snnspec.save_params(trained, tmp_path / "trained.safetensors")
    snnspec.dump(spec, tmp_path / "net.yaml")
    result = CliRunner().invoke(
        app,
        ["export", str(tmp_path / "net.yaml"), "--python", "-o", str(tmp_path / "m.py"),
         "--params", str(tmp_path / "trained.safetensors")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    imported = _imported_names((tmp_path / "m.py").read_text())
    assert "snnspec" in imported
    public = imported - {"__future__", "__future__.annotations"}
    private = [n for n in public if any(part.startswith("_") for part in n.split("."))]
    assert private == []
    model = _import(tmp_path / "m.py").build()
    inputs = _inputs(spec)
    for got, want in zip(_run(model, inputs), _run(trained, inputs), strict=True):
        np.testing.assert_array_equal(got, want)


def test_export_needs_a_format(tmp_path: Path) -> None:
    snnspec.dump(ModelSpec.model_validate(RECURRENT), tmp_path / "net.yaml")
    result = CliRunner().invoke(
        app, ["export", str(tmp_path / "net.yaml"), "-o", str(tmp_path / "m.py")]
    )
    assert result.exit_code != 0
    assert not (tmp_path / "m.py").exists()


# --- Sequentials of whole-sequence members (the README's "Use it from Equinox") --------------


def _readme_core() -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "core",
            "inputs": [{"name": "x", "shape": [6]}],
            "layers": [
                {"type": "lif", "decay_constants": [0.8, 0.7], "threshold": 0.3},
                {"type": "linear", "out_features": 2},
                {"type": "simple_li", "decay_constants": [0.9]},
            ],
        }
    )


def _readme_make(key: jax.Array) -> eqx.nn.Sequential:
    """README.md, "Use it from Equinox", verbatim."""
    encoder = eqx.nn.Linear(3, 6, key=key)
    return eqx.nn.Sequential(
        [
            eqx.nn.Lambda(eqx.filter_vmap(encoder)),  # the encoder at every time step
            snnspec.as_equinox(snnspec.compile(_readme_core())),  # (T, 6) -> (T, 2)
        ]
    )


def test_readme_equinox_example_goes_back_to_an_equal_spec(tmp_path: Path) -> None:
    seq, state = eqx.nn.make_with_state(_readme_make)(jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (100, 3))  # one sample, (T, features)
    out, _ = eqx.filter_jit(lambda m, x, s: m(x, s))(seq, x, state)
    y = jnp.mean(out, axis=0)  # readout: mean over time

    spec, arrays = snnspec.from_equinox(seq, inputs={"x": (3,)})
    assert [(layer.type, layer.inputs) for layer in spec.layers] == [
        ("linear", ("x",)),  # the filter_vmap'd encoder: a linear layer at every step
        ("lif", ("linear_0",)),  # the compiled model's layers, inlined with its graph
        ("linear", ("lif_0",)),
        ("simple_li", ("linear_1",)),
    ]
    np.testing.assert_array_equal(arrays["linear_0.weight"], seq.layers[0].fn.__wrapped__.weight)
    snnspec.dump(spec, tmp_path / "back.yaml")
    model = snnspec.compile(snnspec.load(tmp_path / "back.yaml"), params=arrays)
    (got,) = _run(model, [x])
    np.testing.assert_allclose(got, np.asarray(out), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.mean(axis=0), np.asarray(y), rtol=1e-6, atol=1e-6)


def test_filter_vmap_linear_alone_is_a_linear_layer() -> None:
    """The issue's exact call: it raised a raw TypeError (unhashable array)."""
    k = jax.random.PRNGKey(0)
    seq = eqx.nn.Sequential([eqx.nn.Lambda(eqx.filter_vmap(eqx.nn.Linear(20, 100, key=k)))])
    spec, arrays = snnspec.from_equinox(seq, inputs={"x": (20,)})
    assert [(layer.type, layer.out_features) for layer in spec.layers] == [("linear", 100)]  # type: ignore[union-attr]
    x = jax.random.normal(jax.random.PRNGKey(1), (T, 20))
    (got,) = _run(snnspec.compile(spec, params=arrays), [x])
    np.testing.assert_allclose(got, np.asarray(seq(x)), rtol=1e-6, atol=1e-6)


def _whole_sequence(member: Any) -> eqx.nn.Sequential:
    encoder = eqx.nn.Lambda(eqx.filter_vmap(eqx.nn.Linear(3, 6, key=jax.random.PRNGKey(0))))
    return eqx.nn.Sequential([encoder, member])


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (
            eqx.nn.Lambda(lambda y: jnp.mean(y, axis=0)),
            "layers[1]: eqx.nn.Lambda cannot be written as a spec layer: its function '<lambda>' "
            "is not in the activation table",
        ),
        (
            eqx.nn.Linear(6, 2, key=jax.random.PRNGKey(1)),
            "layers[1]: eqx.nn.Linear would see the whole (T, ...) sequence here",
        ),
        (
            eqx.nn.Lambda(eqx.filter_vmap(snnspec.nn.SimpleLI(decay_constants=jnp.array([0.9])))),
            "layers[1]: eqx.nn.Lambda maps a stateful module over the time axis",
        ),
        (
            eqx.nn.Lambda(
                eqx.filter_vmap(eqx.nn.Linear(6, 2, key=jax.random.PRNGKey(1)), in_axes=1)
            ),
            "layers[1]: eqx.nn.Lambda cannot be written as a spec layer: it maps eqx.nn.Linear "
            "with other settings than eqx.filter_vmap(module)'s defaults",
        ),
        (
            snnspec.as_equinox(snnspec.compile(_readme_core()), burnin=2),
            "layers[1]: an as_equinox layer with burnin=2 drops steps",
        ),
    ],
    ids=["time-mean", "per-step-module", "vmapped-neuron", "other-axes", "burnin"],
)
def test_whole_sequence_members_without_a_spec_form_are_named(member: Any, message: str) -> None:
    with pytest.raises(snnspec.SpecError) as error:
        snnspec.from_equinox(_whole_sequence(member), inputs={"x": (3,)})
    assert str(error.value).startswith(message)


# --- every registered layer type, from the registry ------------------------------------------


def _same_outputs(model: Any, again: Any, type_name: str) -> None:
    x = example_input(type_name)
    key = jax.random.PRNGKey(7)
    want = snnspec.simulate(model, x, key=key)
    for got, expected in zip(snnspec.simulate(again, x, key=key), want, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


@pytest.mark.parametrize("type_name", sorted(LAYER_TYPES))
def test_every_registered_type_reads_back_from_equinox_or_is_refused_by_name(
    type_name: str,
) -> None:
    """A compiled example layer comes back as a spec computing the same outputs (a block as
    the layers it lowers to), or from_equinox names the type it cannot read."""
    model = snnspec.compile(example_spec(type_name))
    if type_name not in CONVERTERS and not LAYER_TYPES[type_name].composite:
        with pytest.raises(snnspec.SpecError, match=rf"\(layer type {type_name}\)"):
            snnspec.from_equinox(model)
        return
    spec, arrays = snnspec.from_equinox(model)
    _same_outputs(model, snnspec.compile(spec, params=arrays), type_name)


def test_types_sharing_a_module_class_share_its_converter() -> None:
    shared = {cls: names for cls, names in MODULE_TYPES.items() if len(names) > 1}
    assert eqx.nn.Conv in shared
    assert snnspec_neurons.LIF in shared
    for names in shared.values():
        assert len({CONVERTERS.get(name) for name in names}) == 1, names


@pytest.mark.parametrize("type_name", sorted(LAYER_TYPES))
def test_every_registered_type_exports_to_python(type_name: str, tmp_path: Path) -> None:
    spec = example_spec(type_name)
    export_python(spec, tmp_path / "net.py")
    model = _import(tmp_path / "net.py").build()
    _same_outputs(snnspec.compile(spec), model, type_name)
