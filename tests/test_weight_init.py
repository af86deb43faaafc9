"""Initial weights and biases: ``weight_init`` / ``bias_init``, and the default pinned.

The default initialisation is pinned twice: value for value against Equinox's own modules
built with the documented keys, and by digests of the initial parameters recorded before
initialisation moved under ``jit`` (so shared specs keep their initial weights). Every scheme
of the registry is checked against its formula (statistics of a 512 x 512 weight), against
``jax.nn.initializers`` on the same key and layout where JAX has the scheme, for determinism,
and for leaving the bias alone.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import example_spec

import snnspec
from snnspec.spec.layers.weights import BIAS_INIT_TYPES, WEIGHT_INIT_TYPES
from snnspec.spec.registry import LAYER_TYPES

pytestmark = pytest.mark.usefixtures("x64")

DVS = Path(__file__).resolve().parent / "data" / "dvs_gesture_conv.yaml"

OPTIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "kaiming_uniform": {},
    "kaiming_normal": {},
    "xavier_uniform": {},
    "xavier_normal": {},
    "normal": {"std": 0.05},
    "uniform": {"a": -0.2, "b": 0.3},
    "orthogonal": {},
    "zeros": {},
    "constant": {"value": 0.25},
}
"""Options for every scheme of the registry (a new scheme must add its own here)."""

JAX_EQUIVALENT: dict[str, Any] = {
    "kaiming_uniform": lambda o: jax.nn.initializers.he_uniform(in_axis=1, out_axis=0),
    "kaiming_normal": lambda o: jax.nn.initializers.he_normal(in_axis=1, out_axis=0),
    "xavier_uniform": lambda o: jax.nn.initializers.glorot_uniform(in_axis=1, out_axis=0),
    "xavier_normal": lambda o: jax.nn.initializers.glorot_normal(in_axis=1, out_axis=0),
    "normal": lambda o: jax.nn.initializers.normal(o["std"]),
    "orthogonal": lambda o: jax.nn.initializers.orthogonal(column_axis=0),
    "zeros": lambda o: jax.nn.initializers.zeros,
    "constant": lambda o: jax.nn.initializers.constant(o["value"]),
}
"""The ``jax.nn.initializers`` function of each scheme JAX has, on Equinox's layouts."""


def spec(layers: list[dict[str, Any]], shape: list[int], dtype: str = "float32", seed: int = 0):
    return snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "init",
            "seed": seed,
            "dtype": dtype,
            "inputs": [{"name": "x", "shape": shape}],
            "layers": layers,
        }
    )


def scheme(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": name, **OPTIONS[name], **extra}


def layer_key(seed: int, index: int) -> jax.Array:
    return jax.random.fold_in(jax.random.PRNGKey(seed), index)


def digest(model: snnspec.StatefulModel) -> str:
    h = hashlib.sha256()
    for key, value in sorted(snnspec.parameter_arrays(model).items()):
        h.update(key.encode())
        h.update(str(value.dtype).encode())
        h.update(str(value.shape).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()[:16]


# --- the default, pinned ---------------------------------------------------------------------

MLP = [
    {"type": "linear", "out_features": 7},
    {"type": "lif", "decay_constants": [0.9, 0.8]},
    {"type": "linear", "out_features": 3, "use_bias": False},
]
PINNED = {
    "dvs_gesture_conv": (lambda: snnspec.load(DVS), "d8993d3f69c89723"),
    "mlp_float32": (lambda: spec(MLP, [5], "float32", 3), "203c5108d5245269"),
    "mlp_float64": (lambda: spec(MLP, [5], "float64", 3), "6d24e3df22fb8b57"),
    "mlp_bfloat16": (lambda: spec(MLP, [5], "bfloat16", 3), "800b9a024dca37f4"),
    "mlp_float16": (lambda: spec(MLP, [5], "float16", 3), "ebee947f849ad66c"),
    "conv2d_groups": (
        lambda: spec(
            [
                {"type": "conv2d", "out_channels": 6, "kernel_size": [3, 2], "groups": 2},
                {"type": "flatten"},
            ],
            [4, 6, 5],
            seed=7,
        ),
        "b2415bee508af800",
    ),
    "conv1d_no_bias": (
        lambda: spec(
            [
                {
                    "type": "conv1d",
                    "out_channels": 4,
                    "kernel_size": 3,
                    "groups": 2,
                    "use_bias": False,
                }
            ],
            [2, 9],
        ),
        "8e062b6ae9fdcbb3",
    ),
    "conv3d": (
        lambda: spec(
            [{"type": "conv3d", "out_channels": 3, "kernel_size": [2, 3, 1], "stride": 2}],
            [2, 4, 5, 6],
            seed=11,
        ),
        "941a5ce240380782",
    ),
    "sequential": (
        lambda: spec(
            [
                {
                    "type": "sequential",
                    "layers": [
                        {"type": "linear", "out_features": 5},
                        {"type": "linear", "out_features": 2},
                    ],
                }
            ],
            [4],
        ),
        "bc31bdbd66d2cb5f",
    ),
    "example_linear": (lambda: example_spec("linear"), "e490f0fc52aa3160"),
    "example_conv1d": (lambda: example_spec("conv1d"), "bc8923ea8fe0a8ef"),
    "example_conv2d": (lambda: example_spec("conv2d"), "741bd89a9d6aeea2"),
    "example_conv3d": (lambda: example_spec("conv3d"), "aa083e3ed62c269f"),
    "example_residual": (lambda: example_spec("residual"), "d61ec6895498e01a"),
    "example_parallel": (lambda: example_spec("parallel"), "08169166f809d1b2"),
    "example_batch_norm": (lambda: example_spec("batch_norm"), "1f304fb4a4f00896"),
    "example_lif": (lambda: example_spec("lif"), "fd74c417614fb182"),
}
"""Digests of the initial parameters, recorded with the eager, op-by-op initialisation that
``snnspec.compile`` used before it moved under ``jit``: one per weighted layer type, dtype, a
grouped, a bias-free and a nested case, and the DVS Gesture-sized conv net."""


@pytest.mark.parametrize("case", sorted(PINNED))
def test_default_init_is_bit_identical_to_the_eager_one(case: str) -> None:
    make, expected = PINNED[case]
    assert digest(snnspec.compile(make())) == expected


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_default_init_is_equinox_value_for_value(dtype: str) -> None:
    model = snnspec.compile(
        spec(
            [
                {"type": "conv2d", "out_channels": 6, "kernel_size": [3, 2], "groups": 2},
                {"type": "flatten"},
                {"type": "linear", "out_features": 5},
            ],
            [4, 6, 5],
            dtype,
            seed=9,
        )
    )
    conv = eqx.nn.Conv2d(4, 6, (3, 2), groups=2, dtype=jnp.dtype(dtype), key=layer_key(9, 0))
    linear = eqx.nn.Linear(6 * 4 * 4, 5, dtype=jnp.dtype(dtype), key=layer_key(9, 2))
    for ours, theirs in ((model.layers[0], conv), (model.layers[2], linear)):
        for field in ("weight", "bias"):
            a, b = np.asarray(getattr(ours, field)), np.asarray(getattr(theirs, field))
            assert a.dtype == b.dtype
            assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), field


def test_the_same_architecture_with_another_seed_draws_other_values() -> None:
    first = snnspec.parameter_arrays(snnspec.compile(spec(MLP, [5], seed=1)))
    again = snnspec.parameter_arrays(snnspec.compile(spec(MLP, [5], seed=1)))
    other = snnspec.parameter_arrays(snnspec.compile(spec(MLP, [5], seed=2)))
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["linear_0.weight"], other["linear_0.weight"])


def every_layer(dtype: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Every registered type's example layers and a ``linear`` and a grouped ``conv2d`` with
    every weight and bias scheme, resolved, each with its input shape (one init program)."""
    from snnspec.graph.plan import plan_graph

    plans = [plan_graph(example_spec(name)) for name in sorted(LAYER_TYPES)]
    plans += [
        plan_graph(spec([{**layer, "weight_init": scheme(name)}], shape, dtype))
        for name in WEIGHT_INIT_TYPES
        for layer, shape in (LAYOUTS["linear"], LAYOUTS["conv2d"])
    ]
    plans += [
        plan_graph(spec([{**LAYOUTS["linear"][0], "bias_init": scheme(name)}], [40], dtype))
        for name in BIAS_INIT_TYPES
    ]
    layers = tuple(layer for plan in plans for layer in plan.layers)
    return layers, tuple(shape for plan in plans for shape in plan.layer_input_shapes)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16"])
def test_the_init_program_options_keep_xla_default_values(dtype: str) -> None:
    # snnspec.compile compiles the init program with INIT_COMPILER_OPTIONS on CPU: every
    # array must be bit for bit what XLA's default options give
    from snnspec.model import compile as model_compile

    layers, shapes = every_layer(dtype)
    root = jax.random.PRNGKey(13)
    tuned = model_compile._TUNED["cpu"](root, layers, shapes, dtype, 0.001)
    default = model_compile._initial_arrays(root, layers, shapes, dtype, 0.001)
    assert len(tuned) == len(default) > 3 * len(LAYER_TYPES)
    for index, (a, b) in enumerate(zip(tuned, default, strict=True)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype, index
        assert a.shape == b.shape, index
        assert a.tobytes() == b.tobytes(), index


def test_batch_norm_state_markers_are_fresh_for_every_model() -> None:
    # the modules' structure is built anew for every model, as an eager build made it
    first = snnspec.compile(example_spec("batch_norm")).layers[0]
    second = snnspec.compile(example_spec("batch_norm")).layers[0]
    assert first.batch_counter.marker is not second.batch_counter.marker


# --- every scheme ----------------------------------------------------------------------------


def test_every_scheme_has_test_options() -> None:
    assert set(OPTIONS) == set(WEIGHT_INIT_TYPES)
    assert set(JAX_EQUIVALENT) <= set(WEIGHT_INIT_TYPES)


def expected_moments(name: str, gain: float, fan_in: int, fan_out: int) -> tuple[float, float]:
    """(mean, std) of a scheme by its formula, written out independently of the code."""
    options = OPTIONS[name]
    std = {
        "default": gain / math.sqrt(3 * fan_in),
        "kaiming_uniform": gain * math.sqrt(2 / fan_in),
        "kaiming_normal": gain * math.sqrt(2 / fan_in),
        "xavier_uniform": gain * math.sqrt(2 / (fan_in + fan_out)),
        "xavier_normal": gain * math.sqrt(2 / (fan_in + fan_out)),
        "normal": gain * options.get("std", 0.0),
        "uniform": (options.get("b", 0) - options.get("a", 0)) / math.sqrt(12),
        "orthogonal": gain / math.sqrt(fan_in),  # square: every row has norm g over n entries
        "zeros": 0.0,
        "constant": 0.0,
    }[name]
    mean = {"uniform": (options.get("a", 0) + options.get("b", 0)) / 2}.get(name, 0.0)
    return options.get("value", mean), std


def gains(name: str) -> list[float]:
    return [1.0, 1.5] if "gain" in WEIGHT_INIT_TYPES[name].model_fields else [1.0]


@pytest.mark.parametrize(
    ("name", "gain"), [(name, gain) for name in WEIGHT_INIT_TYPES for gain in gains(name)]
)
def test_linear_weight_statistics_follow_the_formula(name: str, gain: float) -> None:
    extra = {"gain": gain} if gain != 1.0 else {}
    model = snnspec.compile(
        spec([{"type": "linear", "out_features": 512, "weight_init": scheme(name, **extra)}], [512])
    )
    w = np.asarray(model.layers[0].weight, np.float64)
    mean, std = expected_moments(name, gain, 512, 512)
    if std == 0:
        assert np.all(w == mean)
        return
    assert abs(w.mean() - mean) < 5 * std / math.sqrt(w.size)
    assert abs(w.std() - std) < 0.02 * std  # the estimate's own spread is ~0.14%
    if name in ("default", "kaiming_uniform", "xavier_uniform"):
        limit = math.sqrt(3) * std
        assert np.abs(w).max() <= limit
        assert np.abs(w).max() > 0.99 * limit
    if name in ("kaiming_normal", "xavier_normal"):  # truncated at two (untruncated) stds
        assert np.abs(w).max() <= 2 * std / 0.87962566103423978 * (1 + 1e-6)
    if name == "orthogonal":
        np.testing.assert_allclose(w @ w.T, gain**2 * np.eye(512), atol=1e-4)


def conv_spec(init: dict[str, Any], **extra: Any):
    layer = {
        "type": "conv2d",
        "out_channels": 64,
        "kernel_size": [5, 4],
        "groups": 4,
        "weight_init": init,
        **extra,
    }
    return spec([layer], [32, 8, 8], seed=5)


@pytest.mark.parametrize("name", ["kaiming_uniform", "kaiming_normal", "xavier_uniform"])
def test_conv_fans_count_the_kernel_and_the_groups(name: str) -> None:
    weight = np.asarray(snnspec.compile(conv_spec(scheme(name))).layers[0].weight, np.float64)
    assert weight.shape == (64, 8, 5, 4)
    fan_in, fan_out = 8 * 20, 64 * 20  # in_channels / groups x kernel, out_channels x kernel
    _, std = expected_moments(name, 1.0, fan_in, fan_out)
    assert abs(weight.std() - std) < 0.04 * std  # 10240 values: the estimate spreads ~0.7%
    wrong = expected_moments(name, 1.0, 32 * 20, 64)[1]  # ignoring groups and kernel
    assert abs(weight.std() - wrong) > 0.2 * wrong


LAYOUTS = {
    "linear": ({"type": "linear", "out_features": 24}, [40]),
    "conv2d": (
        {"type": "conv2d", "out_channels": 12, "kernel_size": [3, 2], "groups": 3},
        [6, 7, 7],
    ),
    "conv3d": ({"type": "conv3d", "out_channels": 4, "kernel_size": 2}, [2, 4, 4, 4]),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", sorted(JAX_EQUIVALENT))
def test_schemes_jax_has_are_jax_value_for_value(name: str, layout: str) -> None:
    layer, shape = LAYOUTS[layout]
    model = snnspec.compile(
        spec([{"type": "identity"}, {**layer, "weight_init": scheme(name)}], shape, seed=4)
    )
    weight = model.layers[1].weight
    weight_key, _ = jax.random.split(layer_key(4, 1), 2)
    # jitted as snnspec.compile draws (XLA's fused normal differs from the eager one in ulps)
    init = jax.jit(JAX_EQUIVALENT[name](OPTIONS[name]), static_argnums=(1, 2))
    expected = init(weight_key, weight.shape, jnp.float32)
    assert np.array_equal(np.asarray(weight), np.asarray(expected))


@pytest.mark.parametrize("name", sorted(WEIGHT_INIT_TYPES))
def test_weight_init_is_deterministic_and_leaves_the_bias_alone(name: str) -> None:
    layer = {"type": "linear", "out_features": 16}
    default = snnspec.compile(spec([layer], [20])).layers[0]
    chosen = spec([{**layer, "weight_init": scheme(name)}], [20])
    first, second = snnspec.compile(chosen).layers[0], snnspec.compile(chosen).layers[0]
    assert np.array_equal(np.asarray(first.weight), np.asarray(second.weight))
    assert np.array_equal(np.asarray(first.bias), np.asarray(default.bias))


@pytest.mark.parametrize("name", sorted(BIAS_INIT_TYPES))
def test_bias_init_follows_its_scheme_and_leaves_the_weight_alone(name: str) -> None:
    layer = {"type": "conv1d", "out_channels": 400, "kernel_size": 3}
    default = snnspec.compile(spec([layer], [5, 9])).layers[0]
    model = snnspec.compile(spec([{**layer, "bias_init": scheme(name)}], [5, 9]))
    bias = np.asarray(model.layers[0].bias, np.float64)
    assert bias.shape == (400, 1)
    assert np.array_equal(np.asarray(model.layers[0].weight), np.asarray(default.weight))
    mean, std = expected_moments(name, 1.0, 15, 1200)  # default: the weight's fan_in
    if std == 0:
        assert np.all(bias == mean)
    else:
        assert abs(bias.mean() - mean) < 5 * std / math.sqrt(bias.size)
        assert abs(bias.std() - std) < 0.15 * std  # 400 values


def test_orthogonal_conv_rows_are_orthonormal() -> None:
    weight = snnspec.compile(conv_spec({"type": "orthogonal", "gain": 2.0})).layers[0].weight
    rows = np.asarray(weight, np.float64).reshape(64, -1)  # (64, 160): 64 orthogonal rows
    np.testing.assert_allclose(rows @ rows.T, 4.0 * np.eye(64), atol=1e-4)


def test_written_options_round_trip_through_the_normalised_spec(tmp_path: Path) -> None:
    from snnspec.spec.dump import dump

    layers = [
        {"type": "linear", "out_features": 6, "weight_init": "xavier_uniform"},
        {
            "type": "linear",
            "out_features": 4,
            "weight_init": {"type": "normal", "std": 0.1, "gain": 2},
        },
        {"type": "linear", "out_features": 3, "bias_init": {"type": "constant", "value": 0.5}},
    ]
    original = spec(layers, [5], seed=3)
    dump(original, tmp_path / "normalised.yaml")
    text = (tmp_path / "normalised.yaml").read_text(encoding="utf-8")
    assert "weight_init: xavier_uniform" in text
    assert "bias_init: default" in text
    again = snnspec.load(tmp_path / "normalised.yaml")
    a, b = snnspec.compile(original), snnspec.compile(again)
    for key, value in snnspec.parameter_arrays(a).items():
        assert np.array_equal(value, snnspec.parameter_arrays(b)[key]), key


def test_python_export_rebuilds_the_chosen_initialisation(tmp_path: Path) -> None:
    import importlib.util

    from snnspec.interop.python import export_python

    layers = [
        {"type": "conv1d", "out_channels": 4, "kernel_size": 3, "weight_init": "orthogonal"},
        {"type": "flatten"},
        {"type": "linear", "out_features": 3, "weight_init": {"type": "uniform", "a": 0, "b": 1}},
    ]
    original = spec(layers, [2, 7], seed=6)
    export_python(original, tmp_path / "exported.py")
    module_spec = importlib.util.spec_from_file_location("exported", tmp_path / "exported.py")
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    rebuilt = snnspec.parameter_arrays(module.build())
    for key, value in snnspec.parameter_arrays(snnspec.compile(original)).items():
        assert np.array_equal(value, rebuilt[key]), key


@pytest.mark.parametrize("dtype", ["float64", "bfloat16", "float16"])
def test_every_scheme_draws_in_every_dtype(dtype: str) -> None:
    layers = [
        {"type": "linear", "out_features": 6, "weight_init": scheme(name), "combine": "sum"}
        for name in WEIGHT_INIT_TYPES
    ]
    model = snnspec.compile(spec(layers, [6], dtype))
    for name, layer in zip(WEIGHT_INIT_TYPES, model.layers, strict=True):
        weight = np.asarray(layer.weight, np.float64)
        assert layer.weight.dtype == jnp.dtype(dtype), name
        assert np.all(np.isfinite(weight)), name
        if name == "orthogonal":  # 16-bit: computed in float32, then rounded
            np.testing.assert_allclose(weight @ weight.T, np.eye(6), atol=1e-2)
