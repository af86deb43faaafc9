"""Checks every registered layer type gets, driven by the registry (a new type is included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import example_spec

import snnspec
from snnspec.nn.elementwise import ACTIVATION_FUNCTIONS
from snnspec.nn.surrogates import SURROGATE_MODULES
from snnspec.spec.docs import layers_markdown
from snnspec.spec.layers.base import LayerSpec, SpecModel
from snnspec.spec.layers.elementwise import ACTIVATIONS
from snnspec.spec.registry import LAYER_TYPES, SURROGATE_TYPES

ROOT = Path(__file__).resolve().parent.parent
TYPES = sorted(LAYER_TYPES)
STEPS, BATCH = 5, 2


def example_input(type_name: str, seed: int = 0) -> jax.Array:
    shape = (BATCH, STEPS, *LAYER_TYPES[type_name].example_input_shape)
    return jax.random.normal(jax.random.PRNGKey(seed), shape)


def batched_call(model: Any, states: Any, x: jax.Array, key: jax.Array) -> Any:
    """The single-sample call vmapped over a batch axis named "batch" (batch_norm needs it)."""
    keys = jax.random.split(key, x.shape[0])
    return jax.vmap(lambda s, xi, k: model(s, xi, k), axis_name="batch")(states, x, keys)


def batched_init(model: Any, batch: int = BATCH) -> Any:
    return jax.vmap(lambda _: model.init_state())(jnp.arange(batch))


@pytest.fixture(scope="module", params=TYPES)
def compiled(request: pytest.FixtureRequest) -> tuple[str, snnspec.ModelSpec, Any]:
    spec = example_spec(request.param)
    return request.param, spec, snnspec.compile(spec)


@pytest.mark.parametrize("type_name", TYPES)
def test_example_is_valid_and_round_trips(type_name: str) -> None:
    cls = LAYER_TYPES[type_name]
    layer = cls.model_validate(cls.example)
    assert cls.model_validate(layer.model_dump()) == layer
    assert layer.type == type_name == cls.type_name()
    assert cls.summary(), f"{type_name} needs a docstring (its first line is the summary)"


def test_runs_under_jit_and_vmap(compiled: tuple[str, snnspec.ModelSpec, Any]) -> None:
    type_name, _, model = compiled
    (output,) = snnspec.simulate(model, example_input(type_name), key=jax.random.PRNGKey(1))
    expected = model.plan.layer_output_shapes[model.plan.final_layer_ids[0]]
    assert output.shape == (BATCH, STEPS, *expected)
    assert bool(jnp.all(jnp.isfinite(output)))


def test_state_structure_is_stable(compiled: tuple[str, snnspec.ModelSpec, Any]) -> None:
    type_name, _, model = compiled
    states = batched_init(model)
    final, _ = eqx.filter_jit(batched_call)(
        model, states, example_input(type_name), jax.random.PRNGKey(2)
    )
    assert jax.tree_util.tree_structure(final) == jax.tree_util.tree_structure(states)
    for before, after in zip(jax.tree.leaves(states), jax.tree.leaves(final), strict=True):
        assert (before.shape, before.dtype) == (after.shape, after.dtype)


def test_parameter_shapes_match_the_module(
    compiled: tuple[str, snnspec.ModelSpec, Any],
) -> None:
    _, _, model = compiled
    plan = model.plan
    declared = {
        f"{layer.name}.{key}": shape
        for layer, in_shape in zip(plan.layers, plan.layer_input_shapes, strict=True)
        for key, shape in layer.parameter_shapes(in_shape).items()
    }
    actual = {key: value.shape for key, value in snnspec.parameter_arrays(model).items()}
    assert actual == declared


def test_gradients_are_finite(compiled: tuple[str, snnspec.ModelSpec, Any]) -> None:
    type_name, _, model = compiled
    x = example_input(type_name, seed=3)

    @eqx.filter_jit
    @eqx.filter_grad
    def grad(m: Any) -> jax.Array:
        _, (y,) = batched_call(m, batched_init(m), x, jax.random.PRNGKey(4))
        return jnp.sum(jnp.tanh(y))

    leaves = jax.tree.leaves(eqx.filter(grad(model), eqx.is_array))
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in leaves)


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_params_round_trip(
    compiled: tuple[str, snnspec.ModelSpec, Any], suffix: str, tmp_path: Path
) -> None:
    type_name, spec, model = compiled
    # An affine map with its fixed point at 0.5 keeps every bounded parameter in its bounds
    # ([0.5, 1], [0, 2], [-1, 1], > 0), which a params file must respect.
    perturbed = jax.tree.map(
        lambda a: a * 0.9375 + 0.03125 if eqx.is_inexact_array(a) else a,
        model,
        is_leaf=eqx.is_array,
    )
    path = tmp_path / f"params{suffix}"
    snnspec.save_params(perturbed, path)
    reloaded = snnspec.compile(spec, params=path)
    for key, value in snnspec.parameter_arrays(perturbed).items():
        np.testing.assert_array_equal(snnspec.parameter_arrays(reloaded)[key], value)
    x = example_input(type_name, seed=5)
    key = jax.random.PRNGKey(6)
    for a, b in zip(
        snnspec.simulate(perturbed, x, key=key), snnspec.simulate(reloaded, x, key=key), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_runtime_tables_match_the_spec_registry() -> None:
    assert set(SURROGATE_MODULES) == set(SURROGATE_TYPES)
    assert set(ACTIVATION_FUNCTIONS) == set(ACTIVATIONS)


def test_layer_reference_is_in_sync() -> None:
    committed = (ROOT / "docs" / "layers.md").read_text(encoding="utf-8")
    assert committed == layers_markdown(), (
        "docs/layers.md is stale: regenerate with `python -m snnspec.spec.docs > docs/layers.md`"
    )
    assert all(f"## {name}\n" in committed for name in LAYER_TYPES)


@pytest.mark.parametrize("type_name", TYPES)
def test_resolve_writes_every_field_of_every_layer(
    type_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`snnspec resolve` promises every default explicit: each field of each layer is written."""
    import yaml
    from helpers import run_cli

    cls = LAYER_TYPES[type_name]
    source = tmp_path / "spec.yaml"
    source.write_text(
        yaml.safe_dump(
            {
                "snnspec": 1,
                "name": "example",
                "inputs": [{"name": "x", "shape": list(cls.example_input_shape)}],
                "layers": [cls.example],
            }
        ),
        encoding="utf-8",
    )
    code, out, err = run_cli("resolve", source, capsys=capsys)
    assert (code, err) == (0, "")
    layers = yaml.safe_load(out)["layers"]

    def check(layer: dict[str, Any], member: bool = False) -> int:
        # time constants not given are left out (the decays they would give are written),
        # so a spec written with decays resolves to the text it did before they existed
        taus = set(getattr(LAYER_TYPES[layer["type"]], "time_constants", {}))
        fields = set(LAYER_TYPES[layer["type"]].model_fields) - taus
        assert fields <= set(layer), f"{layer['type']}: missing {sorted(fields - set(layer))}"
        # null only where null is the setting itself (no reset value; the per-flag form of
        # layer_norm; a block member's name and sources), never for "the type's default"
        allowed = {"reset_val", "elementwise_affine"} | ({"name", "inputs"} if member else set())
        nulls = {key for key, value in layer.items() if value is None}
        assert nulls <= allowed, f"{layer['type']}: {nulls}"
        return 1 + sum(check(inner, member=True) for inner in layer.get("layers", ()))

    assert all(check(layer) for layer in layers)
    # residual/parallel are written as the plain layers they stand for
    assert type_name in {layer["type"] for layer in layers} or type_name in (
        "residual",
        "parallel",
    )
    again = tmp_path / "resolved.yaml"
    again.write_text(out.rpartition("# sha256:")[0], encoding="utf-8")
    assert run_cli("resolve", again, capsys=capsys)[1] == out  # a fixed point


def test_peer_layer_names_are_hints_only() -> None:
    from snnspec.spec.registry import LAYER_TYPE_ALIASES, suggested_layer_type

    assert set(LAYER_TYPE_ALIASES.values()) <= set(LAYER_TYPES)
    assert not set(LAYER_TYPE_ALIASES) & set(LAYER_TYPES)  # never a real type name
    expected = {
        "adlif": "adaptive_lif",
        "adaptive": "adaptive_lif",
        "leaky": "simple_lif",
        "synaptic": "lif",
        "Leaky": "simple_lif",  # snnTorch's classes
        "RLeaky": "simple_lif",
        "Lapicque": "simple_lif",
        "RSynaptic": "lif",
        "LIFCell": "lif",  # Norse's classes
        "LIFBoxCell": "simple_lif",
        "LSNNCell": "lsnn",
        "ALIF": "lsnn",  # Spyx's class
        "LIFAdExCell": "adaptive_lif",
        "IAFCell": "iaf",
        "LICell": "simple_li",
    }
    assert {name: suggested_layer_type(name) for name in expected} == expected
    assert suggested_layer_type("Alpha") is None  # snnTorch's Alpha has no equivalent


def test_build_returns_the_registered_runtime_class(
    compiled: tuple[str, snnspec.ModelSpec, Any],
) -> None:
    """Each layer's module is exactly the class its spec's ``runtime`` names (blocks lower to
    their members), so the registry is a true inverse for from_equinox."""
    _, _, model = compiled
    for layer_type, module in zip(model.plan.layer_types, model.layers, strict=True):
        assert type(module) is LAYER_TYPES[layer_type].runtime_classes()[0], layer_type


@pytest.mark.parametrize("type_name", TYPES)
def test_runtime_is_declared_and_resolves(type_name: str) -> None:
    cls = LAYER_TYPES[type_name]
    classes = cls.runtime_classes()
    if cls.composite:
        assert cls.runtime is None
        assert classes == ()
    else:
        assert all(isinstance(c, type) for c in classes)
        assert len(classes) == 1 + len(cls.also_reads)


SPEC_CLASSES: list[type[SpecModel]] = [*LAYER_TYPES.values(), *SURROGATE_TYPES.values()]


@pytest.mark.parametrize("cls", SPEC_CLASSES, ids=lambda cls: cls.__name__)
def test_registered_specs_are_final_and_their_bases_abstract(cls: type[SpecModel]) -> None:
    """Equinox's abstract/final rule on the spec side: a registered (concrete) class has no
    subclass, and every snnspec base it inherits from is an Abstract* class or a *Mixin
    (or the roots LayerSpec and SpecModel)."""
    assert cls.__subclasses__() == []
    for base in cls.__mro__[1:]:
        if base.__module__.startswith("snnspec.") and base not in (LayerSpec, SpecModel):
            name = base.__name__
            assert name.startswith("Abstract") or name.endswith("Mixin"), (cls, name)
