"""Convolution, pooling, reshape, normalisation and scale layers against NumPy references.

The references are written out here from the documented formulas (windows by direct loops,
contractions by ``np.tensordot``), never by calling JAX or Equinox; only the initialised
arrays are read from the compiled model (``snnspec.parameter_arrays``). Everything runs in
float64 and agrees to 1e-6.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import run_model, spec_dict, spike_rate

import snnspec
from snnspec.spec.layers.conv import Conv2dSpec
from snnspec.spec.loader import parse_document
from snnspec.spec.model import spec_from_document

pytestmark = pytest.mark.usefixtures("x64")  # float64 specs

ROOT = Path(__file__).resolve().parent.parent
STEPS = 3
ATOL = 1e-6


def compile_layer(
    layer: dict[str, Any], in_shape: tuple[int, ...], params: dict[str, np.ndarray] | None = None
) -> Any:
    """A float64 model of one layer named ``l`` fed by one input of ``in_shape``."""
    spec = spec_dict([{**layer, "name": "l"}], inputs=[("x", in_shape)])
    return snnspec.compile(snnspec.ModelSpec.model_validate(spec), params=params)


def run_layer(
    layer: dict[str, Any],
    in_shape: tuple[int, ...],
    params: dict[str, np.ndarray] | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(inputs (T, *in_shape), outputs (T, *out_shape), the layer's arrays by field)."""
    model = compile_layer(layer, in_shape, params)
    x = np.random.default_rng(seed).normal(size=(STEPS, *in_shape))
    (y,) = run_model(model, x)
    assert y.shape == (STEPS, *model.plan.layer_output_shapes[0])
    arrays = {k.removeprefix("l."): v for k, v in snnspec.parameter_arrays(model).items()}
    return x, y, arrays


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape, f"shape {actual.shape} != reference {expected.shape}"
    error = float(np.max(np.abs(actual - expected)))
    assert error <= ATOL, f"max |model - reference| = {error:.3g}"


def schema_error(layer: dict[str, Any]) -> snnspec.SchemaError:
    text = json.dumps(spec_dict([layer], inputs=[("x", (2, 8, 8))]))
    with pytest.raises(snnspec.SchemaError) as info:
        spec_from_document(parse_document(text, "json"))
    return info.value


def shape_error(layer: dict[str, Any], in_shape: tuple[int, ...]) -> snnspec.ShapeError:
    spec = snnspec.ModelSpec.model_validate(spec_dict([layer], inputs=[("x", in_shape)]))
    with pytest.raises(snnspec.ShapeError) as info:
        snnspec.compile(spec)
    return info.value


# --- NumPy references ------------------------------------------------------------------


def per_axis(value: Any, n: int) -> tuple[int, ...]:
    return (value,) * n if isinstance(value, int) else tuple(value)


def windows(x: np.ndarray, kernel, stride, dilation, pads, fill: float):
    """Yield (output index, patch (C, *kernel)) of channel-first ``x`` padded with ``fill``."""
    n = x.ndim - 1
    padded = np.pad(x, [(0, 0), *pads], constant_values=fill)
    sizes = [
        (padded.shape[1 + a] - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1 for a in range(n)
    ]
    for position in np.ndindex(*sizes):
        index = tuple(
            slice(p * s, p * s + d * (k - 1) + 1, d)
            for p, s, d, k in zip(position, stride, dilation, kernel, strict=True)
        )
        yield position, sizes, padded[(slice(None), *index)]


def conv_reference(x: np.ndarray, layer: dict[str, Any], w: np.ndarray, b: np.ndarray | None):
    """y[o, pos] = b[o] + sum over the group's channels and kernel offsets of W · x."""
    n = x.ndim - 1
    kernel = w.shape[2:]
    stride = per_axis(layer.get("stride", 1), n)
    dilation = per_axis(layer.get("dilation", 1), n)
    padding = layer.get("padding", 0)
    if padding == "SAME":
        pads = []
        for size, k, s, d in zip(x.shape[1:], kernel, stride, dilation, strict=True):
            out = -(-size // s)
            total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
    else:
        pads = [(p, p) for p in per_axis(0 if padding == "VALID" else padding, n)]
    groups = layer.get("groups", 1)
    out_channels = w.shape[0]
    cg, og = x.shape[0] // groups, out_channels // groups
    result: np.ndarray | None = None
    for position, sizes, patch in windows(x, kernel, stride, dilation, pads, 0.0):
        if result is None:
            result = np.zeros((out_channels, *sizes))
        for g in range(groups):
            block = np.tensordot(w[g * og : (g + 1) * og], patch[g * cg : (g + 1) * cg], axes=n + 1)
            result[(slice(g * og, (g + 1) * og), *position)] = block
    assert result is not None
    if b is not None:
        result = result + b.reshape(out_channels, *(1,) * n)
    return result


def pool_reference(x: np.ndarray, layer: dict[str, Any]) -> np.ndarray:
    """Max (padding -inf), mean over the whole window (padding 0) or sum of each window."""
    n = x.ndim - 1
    kind = layer["type"].split("_")[0]
    kernel = per_axis(layer["kernel_size"], n)
    stride = per_axis(layer.get("stride", kernel), n)
    pads = [(p, p) for p in per_axis(layer.get("padding", 0), n)]
    fill = -np.inf if kind == "max" else 0.0
    result: np.ndarray | None = None
    for position, sizes, patch in windows(x, kernel, stride, (1,) * n, pads, fill):
        if result is None:
            result = np.zeros((x.shape[0], *sizes))
        flat = patch.reshape(x.shape[0], -1)
        value = {"max": flat.max(axis=1), "avg": flat.mean(axis=1), "sum": flat.sum(axis=1)}
        result[(slice(None), *position)] = value[kind]
    assert result is not None
    return result


# --- convolutions --------------------------------------------------------------------------

CONV_CASES = {
    "conv1d-stride-pad-dilation-groups": (
        {
            "type": "conv1d",
            "out_channels": 6,
            "kernel_size": 3,
            "stride": 2,
            "padding": 2,
            "dilation": 2,
            "groups": 2,
        },
        (4, 9),
    ),
    "conv1d-same-no-bias": (
        {
            "type": "conv1d",
            "out_channels": 2,
            "kernel_size": 4,
            "dilation": 2,
            "padding": "SAME",
            "use_bias": False,
        },
        (3, 7),
    ),
    "conv2d-per-axis": (
        {
            "type": "conv2d",
            "out_channels": 4,
            "kernel_size": [3, 2],
            "stride": [2, 1],
            "padding": [1, 0],
            "dilation": [1, 2],
            "groups": 2,
        },
        (4, 7, 8),
    ),
    "conv2d-depthwise-valid": (
        {
            "type": "conv2d",
            "out_channels": 6,
            "kernel_size": 3,
            "groups": 3,
            "in_channels": 3,
            "padding": "VALID",
        },
        (3, 5, 5),
    ),
    "conv2d-same-stride": (
        {"type": "conv2d", "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": "SAME"},
        (2, 6, 7),
    ),
    "conv3d": (
        {"type": "conv3d", "out_channels": 2, "kernel_size": 2, "stride": [1, 2, 2], "padding": 1},
        (2, 3, 5, 4),
    ),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_matches_reference(case: str) -> None:
    layer, in_shape = CONV_CASES[case]
    x, y, arrays = run_layer(layer, in_shape)
    n = len(in_shape) - 1
    groups = layer.get("groups", 1)
    kernel = per_axis(layer["kernel_size"], n)
    shapes: dict[str, tuple[int, ...]] = {
        "weight": (layer["out_channels"], in_shape[0] // groups, *kernel)
    }
    if layer.get("use_bias", True):
        shapes["bias"] = (layer["out_channels"], *(1,) * n)  # Equinox's bias shape
    assert {k: v.shape for k, v in arrays.items()} == shapes
    for t in range(STEPS):
        assert_close(y[t], conv_reference(x[t], layer, arrays["weight"], arrays.get("bias")))


def test_conv_in_channels_is_resolved() -> None:
    layer = Conv2dSpec.model_validate({"type": "conv2d", "out_channels": 5, "kernel_size": 3})
    resolved = layer.resolve((2, 6, 6))
    assert resolved.in_channels == 2
    assert resolved.parameter_shapes((2, 6, 6)) == {"weight": (5, 2, 3, 3), "bias": (5, 1, 1)}


# --- pooling -------------------------------------------------------------------------------

POOL_CASES = {
    "max_pool1d": ({"type": "max_pool1d", "kernel_size": 3, "stride": 2, "padding": 1}, (2, 8)),
    "max_pool2d": ({"type": "max_pool2d", "kernel_size": [2, 3], "padding": [1, 1]}, (2, 5, 7)),
    "max_pool2d-default-stride": ({"type": "max_pool2d", "kernel_size": 2}, (3, 5, 6)),
    "avg_pool1d": ({"type": "avg_pool1d", "kernel_size": 2}, (3, 7)),
    "avg_pool2d": (
        {"type": "avg_pool2d", "kernel_size": 3, "stride": 2, "padding": 1},
        (2, 6, 5),
    ),
    "sum_pool2d": ({"type": "sum_pool2d", "kernel_size": 2, "stride": 1, "padding": 1}, (2, 4, 5)),
    "sum_pool2d-per-axis": ({"type": "sum_pool2d", "kernel_size": [3, 2]}, (1, 7, 6)),
}


@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pool_matches_reference(case: str) -> None:
    layer, in_shape = POOL_CASES[case]
    x, y, arrays = run_layer(layer, in_shape)
    assert arrays == {}
    for t in range(STEPS):
        assert_close(y[t], pool_reference(x[t], layer))


def test_sum_pool_is_avg_pool_times_window_area() -> None:
    layer = {"kernel_size": [2, 3], "stride": 1}
    _, summed, _ = run_layer({"type": "sum_pool2d", **layer}, (2, 5, 6), seed=4)
    _, averaged, _ = run_layer({"type": "avg_pool2d", **layer}, (2, 5, 6), seed=4)
    assert_close(summed, 6 * averaged)


# --- reshape -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "in_shape", "expected"),
    [([3, -1], (2, 6), (3, 4)), ([-1], (2, 3, 2), (12,)), ([2, 1, 3], (6,), (2, 1, 3))],
)
def test_reshape_matches_numpy(
    shape: list[int], in_shape: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    x, y, _ = run_layer({"type": "reshape", "shape": shape}, in_shape)
    assert y.shape[1:] == expected
    assert_close(y, x.reshape(STEPS, *expected))


# --- normalisation -----------------------------------------------------------------------


def layer_norm_reference(x: np.ndarray, eps: float, weight: Any, bias: Any) -> np.ndarray:
    mean = x.mean()
    variance = ((x - mean) ** 2).mean()
    return (x - mean) / np.sqrt(variance + eps) * weight + bias


def group_norm_reference(
    x: np.ndarray, groups: int, eps: float, weight: Any, bias: Any
) -> np.ndarray:
    channels = x.shape[0]
    size = channels // groups
    out = np.empty_like(x)
    for g in range(groups):
        block = x[g * size : (g + 1) * size]
        mean = block.mean()
        variance = ((block - mean) ** 2).mean()
        out[g * size : (g + 1) * size] = (block - mean) / np.sqrt(variance + eps)
    expand = (channels, *(1,) * (x.ndim - 1))
    weight, bias = (np.broadcast_to(a, (channels,)).reshape(expand) for a in (weight, bias))
    return out * weight + bias


def test_layer_norm_matches_reference_with_trained_affine() -> None:
    rng = np.random.default_rng(7)
    in_shape = (2, 3, 4)
    params = {"l.weight": rng.normal(size=in_shape), "l.bias": rng.normal(size=in_shape)}
    x, y, arrays = run_layer({"type": "layer_norm", "eps": 0.01}, in_shape, params)
    np.testing.assert_array_equal(arrays["weight"], params["l.weight"])
    for t in range(STEPS):
        assert_close(y[t], layer_norm_reference(x[t], 0.01, params["l.weight"], params["l.bias"]))


@pytest.mark.parametrize(
    ("options", "fields"),
    [
        ({"elementwise_affine": False}, set()),
        ({"elementwise_affine": True}, {"weight", "bias"}),
        ({"use_weight": False}, {"bias"}),
        ({"use_bias": False}, {"weight"}),
    ],
)
def test_layer_norm_affine_switches(options: dict[str, Any], fields: set[str]) -> None:
    x, y, arrays = run_layer({"type": "layer_norm", **options}, (5,))
    assert set(arrays) == fields
    for t in range(STEPS):
        assert_close(y[t], layer_norm_reference(x[t], 1e-5, 1.0, 0.0))


def test_layer_norm_rejects_both_affine_switches() -> None:
    error = schema_error({"type": "layer_norm", "elementwise_affine": True, "use_weight": False})
    assert error.path == ("layers", 0)
    assert "give elementwise_affine or use_weight, not both" in error.message


@pytest.mark.parametrize("in_shape", [(6,), (6, 4), (6, 2, 3)])
def test_group_norm_matches_reference(in_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(8)
    params = {"l.weight": rng.normal(size=6), "l.bias": rng.normal(size=6)}
    layer = {"type": "group_norm", "groups": 3, "eps": 0.001}
    x, y, arrays = run_layer(layer, in_shape, params)
    assert {k: v.shape for k, v in arrays.items()} == {"weight": (6,), "bias": (6,)}
    for t in range(STEPS):
        assert_close(
            y[t], group_norm_reference(x[t], 3, 0.001, params["l.weight"], params["l.bias"])
        )


def test_group_norm_without_affine() -> None:
    layer = {"type": "group_norm", "groups": 2, "channelwise_affine": False, "channels": 4}
    x, y, arrays = run_layer(layer, (4, 3))
    assert arrays == {}
    for t in range(STEPS):
        assert_close(y[t], group_norm_reference(x[t], 2, 1e-5, 1.0, 0.0))


def test_norm_modules_are_called_with_a_key_only() -> None:
    """The model calls every stateless layer as ``layer(x, key=k)``: no ``state`` passed."""
    for layer, in_shape in (
        ({"type": "layer_norm"}, (3, 2)),
        ({"type": "group_norm", "groups": 1}, (3, 2)),
    ):
        module = compile_layer(layer, in_shape).layers[0]
        y = module(jnp.arange(6.0).reshape(in_shape), key=jax.random.PRNGKey(0))
        assert isinstance(y, jax.Array)
        assert y.shape == in_shape


# --- scale ---------------------------------------------------------------------------------


@pytest.mark.parametrize("trainable", [True, False])
def test_scale_output_and_gradient(trainable: bool) -> None:
    x, y, arrays = run_layer({"type": "scale", "scale": -0.75, "trainable": trainable}, (2, 3))
    assert {k: v.shape for k, v in arrays.items()} == {"scale": ()}
    assert_close(y, -0.75 * x)
    model = compile_layer({"type": "scale", "scale": -0.75, "trainable": trainable}, (2, 3))

    @eqx.filter_grad
    def grad(m: Any) -> jax.Array:
        _, (out,) = m(m.init_state(), jnp.asarray(x))
        return jnp.sum(out)

    expected = float(np.sum(x)) if trainable else 0.0
    np.testing.assert_allclose(float(grad(model).layers[0].scale), expected, atol=ATOL)


def test_scale_is_loaded_from_params() -> None:
    x, y, _ = run_layer({"type": "scale"}, (4,), params={"l.scale": np.asarray(3.0)})
    assert_close(y, 3.0 * x)


# --- shape and schema errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "in_shape", "path", "message"),
    [
        (
            {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "in_channels": 3},
            (2, 8, 8),
            ("layers", 0, "in_channels"),
            "in_channels is 3 but the input has 2 channels (axis 0 of (C, H, W)); remove "
            "in_channels to infer it or fix the graph",
        ),
        (
            {"type": "conv2d", "out_channels": 4, "kernel_size": 5},
            (2, 4, 8),
            ("layers", 0, "kernel_size"),
            "conv2d: kernel_size 5 is larger than spatial axis 1 of the input, of size 4 + 0 "
            "padding; the output would be empty",
        ),
        (
            {"type": "conv1d", "out_channels": 4, "kernel_size": 3, "dilation": 3},
            (2, 6),
            ("layers", 0, "kernel_size"),
            "conv1d: kernel_size 3 (spanning 7 with dilation 3) is larger than spatial axis 1 "
            "of the input, of size 6 + 0 padding; the output would be empty",
        ),
        (
            {"type": "conv2d", "out_channels": 4, "kernel_size": 1, "groups": 2},
            (3, 4, 4),
            ("layers", 0, "groups"),
            "groups (2) must divide the input channels (3)",
        ),
        (
            {"type": "conv1d", "out_channels": 3, "kernel_size": 1, "groups": 2},
            (4, 4),
            ("layers", 0, "groups"),
            "groups (2) must divide the out_channels (3)",
        ),
        (
            {"type": "conv2d", "out_channels": 4, "kernel_size": 3},
            (64,),
            ("layers", 0),
            "conv2d expects a 3-D input per sample, got shape [64]; it takes channel-first "
            "samples (C, H, W)",
        ),
        (
            {"type": "max_pool2d", "kernel_size": 3},
            (1, 2, 9),
            ("layers", 0, "kernel_size"),
            "max_pool2d: kernel_size 3 is larger than spatial axis 1 of the input, of size 2 + 0 "
            "padding; the output would be empty",
        ),
        (
            {"type": "avg_pool1d", "kernel_size": 3, "padding": 2},
            (1, 9),
            ("layers", 0, "padding"),
            "padding 2 is more than half of kernel_size 3; a window could then hold padding only",
        ),
        (
            {"type": "reshape", "shape": [4, -1]},
            (2, 3),
            ("layers", 0, "shape"),
            "cannot reshape the input of shape [2, 3] (6 elements) to [4, -1]",
        ),
        (
            {"type": "reshape", "shape": [5]},
            (6,),
            ("layers", 0, "shape"),
            "cannot reshape the input of shape [6] (6 elements) to [5]",
        ),
        (
            {"type": "group_norm", "groups": 4},
            (6, 2),
            ("layers", 0, "groups"),
            "groups (4) must divide the input channels (6)",
        ),
        (
            {"type": "group_norm", "groups": 2, "channels": 8},
            (6, 2),
            ("layers", 0, "channels"),
            "channels is 8 but the input has 6 channels (axis 0); remove channels to infer it "
            "or fix the graph",
        ),
    ],
)
def test_shape_errors(
    layer: dict[str, Any], in_shape: tuple[int, ...], path: tuple[Any, ...], message: str
) -> None:
    error = shape_error(layer, in_shape)
    assert error.path == path
    assert error.message == message


@pytest.mark.parametrize(
    ("layer", "fragment"),
    [
        ({"type": "conv2d", "out_channels": 2, "kernel_size": [3, 3, 3]}, "a list of 2"),
        ({"type": "conv1d", "out_channels": 2, "kernel_size": 0}, "greater than or equal to 1"),
        ({"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": "FULL"}, "padding"),
        ({"type": "max_pool1d", "kernel_size": 2, "stride": [1, 1]}, "a list of 1"),
        ({"type": "reshape", "shape": [-1, -1]}, "at most one size can be -1"),
        ({"type": "reshape", "shape": [0, 3]}, "positive or -1"),
        ({"type": "layer_norm", "eps": 0.0}, "greater than or equal to"),
        ({"type": "scale", "scale": "big"}, "scale"),
    ],
)
def test_schema_errors(layer: dict[str, Any], fragment: str) -> None:
    error = schema_error(layer)
    assert error.path[:2] == ("layers", 0)
    assert fragment in str(error)


# --- the N-MNIST example -------------------------------------------------------------------


def test_nmnist_conv_example_shapes() -> None:
    from snnspec.graph.plan import plan_graph

    plan = plan_graph(snnspec.load(ROOT / "configs" / "nmnist_conv.yaml"))
    assert plan.input_shapes == ((2, 34, 34),)
    assert plan.layer_output_shapes == (
        (12, 30, 30),
        (12, 30, 30),
        (12, 15, 15),
        (32, 11, 11),
        (32, 11, 11),
        (32, 5, 5),
        (800,),
        (10,),
        (10,),
    )


@pytest.mark.slow
def test_nmnist_conv_example_spikes() -> None:
    """Driven by Bernoulli(0.1) events like ``snnspec run``, both LIF layers spike."""
    model = snnspec.compile(snnspec.load(ROOT / "configs" / "nmnist_conv.yaml"))
    plan = model.plan
    spiking = [i for i, t in enumerate(plan.layer_types) if t == "lif"]
    assert len(spiking) == 2
    probe = model.with_outputs(spiking)
    events = jax.random.bernoulli(jax.random.PRNGKey(0), 0.1, (20, 2, 34, 34))
    _, outputs = eqx.filter_jit(probe)(probe.init_state(), events.astype(jnp.float32))
    for i, y in zip(spiking, outputs, strict=True):
        rate = spike_rate(np.asarray(y))
        assert 0.01 < rate < 0.5, f"{plan.layer_names[i]} spikes at rate {rate}"
