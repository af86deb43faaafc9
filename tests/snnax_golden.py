"""Golden outputs of SNNAX's own code, for ``tests/test_snnax_compat.py``.

CI cannot reach SNNAX's repository, so this script runs SNNAX (PGI15/snnax, MIT) at the
pinned commit below and writes what it computes to ``tests/data/snnax/*.npz`` (a few KB each);
the tests compare snnspec's ``compat: snnax`` against those files, and, where SNNAX is
importable, against SNNAX itself (``test_snnax_compat.py``'s peer tests import this module).
It imports neither snnspec nor anything but NumPy, JAX, Equinox and SNNAX. Regenerate with
(in the peers' environment, ``benchmarks/peers.py`` has its set-up):

    .venv-peers/bin/python tests/snnax_golden.py

Cases: every SNNAX neuron class, with and without ``reset_val`` where it has one, driven
directly by a fixed input for ``STEPS`` steps (outputs, every state array at every step,
and the gradients of sum(output·c) w.r.t. the input and every array parameter), and two
graphs run by SNNAX's ``StatefulModel``: a feed-forward chain with its default forward
function, and the 5-layer graph of ``configs/snnax_five_layer.yaml`` with its
``delayed_forward_fn`` (the default one cannot run that graph: its ``init_state`` raises
IndexError on the back edges, and it leaves the inputs of a layer with several sources
unconcatenated). Both forward functions read every layer-to-layer edge at the previous step
(snnspec's ``pipelined`` timing). Weights are multiples of 1/64 stored as int8, so that the
files stay small and the float32 values are exact. Each file records the commit, the
versions and the case (``meta``, a JSON string).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

SNNAX_COMMIT = "b7a55c6352303786edd2ac983caa1f802bbe0cc5"
"""PGI15/snnax HEAD (2024-08-29) whose code the goldens hold."""
OUT = Path(__file__).parent / "data" / "snnax"
STEPS = 24
NEURONS = 6
WEIGHT_SCALE = 64


@dataclass(frozen=True)
class NeuronCase:
    """One SNNAX neuron class with arguments, and the snnspec layer that mirrors it.

    ``deviation`` names the documented difference that appears without ``compat: snnax``
    (None: snnspec's default already computes what SNNAX does).
    """

    name: str
    layer: dict[str, Any]
    snnax_class: str
    snnax_args: dict[str, Any]
    states: tuple[str, ...]
    deviation: str | None = None
    input_shape: tuple[int, ...] = (NEURONS,)
    spike_input: bool = False
    params: tuple[str, ...] = field(default=())


SIMPLE_LIF = {"decay_constants": [0.5], "threshold": 0.5}
LIF = {"decay_constants": [0.9, 0.8], "threshold": 0.3}
SOFT = {"decay_constants": [0.9, 0.8], "threshold": 0.4}
ALIF = {
    "decay_constants": [0.85],
    "ada_decay_constant": [0.8],
    "ada_step_val": [0.6],
    "ada_coupling_var": [0.3],
    "threshold": 0.5,
}
IAF = {"decay_constants": [0.8], "leak": 0.05, "threshold": 0.6}
SIMPLE_IAF = {"leak": 0.05, "threshold": 0.8}

NEURON_CASES = (
    NeuronCase(
        "simple_lif", {"type": "simple_lif", **SIMPLE_LIF}, "SimpleLIF", SIMPLE_LIF,
        ("v", "spikes"), params=("decay_constants",),
    ),
    NeuronCase(
        "simple_lif-reset_val", {"type": "simple_lif", **SIMPLE_LIF, "reset_val": 0.2},
        "SimpleLIF", {**SIMPLE_LIF, "reset_val": 0.2}, ("v", "spikes"),
        deviation="reset_val: snnspec sets v to it, SNNAX subtracts softplus(reset_val)",
        params=("decay_constants",),
    ),
    NeuronCase("lif", {"type": "lif", **LIF}, "LIF", LIF, ("v", "i", "spikes"),
               params=("decay_constants",)),
    NeuronCase(
        "lif-reset_val", {"type": "lif", **LIF, "reset_val": 0.1}, "LIF",
        {**LIF, "reset_val": 0.1}, ("v", "i", "spikes"), params=("decay_constants",),
    ),
    NeuronCase(
        "lif_soft_reset", {"type": "lif_soft_reset", **SOFT}, "LIFSoftReset", SOFT,
        ("v", "i", "spikes"),
        deviation="no reset_val: snnspec subtracts the threshold (0.4), SNNAX 1",
        params=("decay_constants",),
    ),
    NeuronCase(
        "lif_soft_reset-reset_val", {"type": "lif_soft_reset", **SOFT, "reset_val": 0.3},
        "LIFSoftReset", {**SOFT, "reset_val": 0.3}, ("v", "i", "spikes"),
        params=("decay_constants",),
    ),
    NeuronCase(
        "adaptive_lif", {"type": "adaptive_lif", **ALIF}, "AdaptiveLIF", ALIF,
        ("v", "a", "spikes"),
        params=("decay_constants", "ada_decay_constant", "ada_step_val", "ada_coupling_var"),
    ),
    NeuronCase(
        "adaptive_lif-reset_val", {"type": "adaptive_lif", **ALIF, "reset_val": 0.2},
        "AdaptiveLIF", {**ALIF, "reset_val": 0.2}, ("v", "a", "spikes"),
        params=("decay_constants", "ada_decay_constant", "ada_step_val", "ada_coupling_var"),
    ),
    NeuronCase("iaf", {"type": "iaf", **IAF}, "IAF", IAF, ("v", "i", "spikes"),
               params=("decay_constants", "leak")),
    NeuronCase(
        "iaf-reset_val", {"type": "iaf", **IAF, "reset_val": 0.3}, "IAF",
        {**IAF, "reset_val": 0.3}, ("v", "i", "spikes"), params=("decay_constants", "leak"),
    ),
    NeuronCase("simple_iaf", {"type": "simple_iaf", **SIMPLE_IAF}, "SimpleIAF", SIMPLE_IAF,
               ("v", "spikes"), params=("leak",)),
    NeuronCase(
        "simple_iaf-reset_val", {"type": "simple_iaf", **SIMPLE_IAF, "reset_val": 0.3},
        "SimpleIAF", {**SIMPLE_IAF, "reset_val": 0.3}, ("v", "spikes"), params=("leak",),
    ),
    NeuronCase("simple_li", {"type": "simple_li", "decay_constants": [0.8]}, "SimpleLI",
               {"decay_constants": [0.8]}, ("v",), params=("decay_constants",)),
    NeuronCase(
        "sigma_delta",
        {"type": "sigma_delta", "decay_constants": [0.7, 0.4, 0.7], "threshold": 0.5},
        "SigmaDelta", {"decay_constants": [0.7, 0.4, 0.7], "threshold": 0.5},
        ("sigma", "error", "membrane", "feedback", "spikes"), params=("decay_constants",),
    ),
    NeuronCase(
        "spike_counter", {"type": "spike_counter"}, "SpikeCounter", {}, ("count", "spikes"),
        deviation="snnspec outputs the running count, SNNAX the input",
        spike_input=True,
    ),
    NeuronCase(
        "spiking_max_pool2d",
        {"type": "spiking_max_pool2d", "kernel_size": 2, "threshold": 0.5},
        "SpikingMaxPool2d", {"kernel_size": 2, "threshold": 0.5}, (),
        deviation="stride: snnspec defaults to kernel_size, SNNAX to 1 (eqx.nn.MaxPool2d)",
        input_shape=(2, 4, 5),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class GraphCase:
    """A graph run by SNNAX's StatefulModel: the snnspec spec, its weights, the forward fn."""

    name: str
    spec: dict[str, Any]
    forward: str  # "default_forward_fn" | "delayed_forward_fn"
    deviation: str


CHAIN = GraphCase(
    "chain",
    {
        "snnspec": 1,
        "name": "snnax-chain",
        "inputs": [{"name": "x", "shape": [6]}],
        "layers": [
            {"name": "fc1", "type": "linear", "out_features": 10},
            {"name": "lif1", "type": "simple_lif", "decay_constants": [0.9], "threshold": 0.3},
            {"name": "fc2", "type": "linear", "out_features": 4},
            {"name": "lif2", "type": "lif", "decay_constants": [0.9, 0.8], "threshold": 0.2},
        ],
    },
    "default_forward_fn",
    "timing: snnspec's default is causal, SNNAX's StatefulModel runs pipelined",
)

FIVE_LAYER = GraphCase(
    "five_layer",
    {
        "snnspec": 1,
        "name": "snnax-five-layer",
        "inputs": [{"name": "events", "shape": [32]}, {"name": "context", "shape": [16]}],
        "layers": [
            {"name": "fc_in", "type": "linear", "out_features": 64},
            {"name": "lif_a", "type": "simple_lif", "decay_constants": [0.9], "threshold": 0.1},
            {"name": "fc_mid", "type": "linear", "out_features": 48},
            {"name": "fc_mix", "type": "linear", "out_features": 20},
            {"name": "lif_out", "type": "lif", "decay_constants": [0.9, 0.8], "threshold": 0.1},
        ],
        "graph": {
            "input_layer_ids": [[0], [], [], [0, 1], []],
            "input_connectivity": [[], [0, 2], [1], [2, 3], [3]],
            "final_layer_ids": [4],
        },
    },
    "delayed_forward_fn",
    "timing: snnspec's default is causal, SNNAX's StatefulModel runs pipelined",
)
"""The graph of configs/snnax_five_layer.yaml (the test checks that they agree)."""

GRAPH_CASES = (CHAIN, FIVE_LAYER)


def _meta(case: Any, kind: str) -> str:
    import equinox
    import jax

    return json.dumps(
        {
            "kind": kind,
            "name": case.name,
            "snnax_commit": SNNAX_COMMIT,
            "versions": {
                "jax": jax.__version__,
                "equinox": equinox.__version__,
                "snnax": metadata.version("snnax"),
            },
            "deviation": case.deviation,
            **(
                {
                    "layer": case.layer,
                    "snnax": {"class": case.snnax_class, "args": case.snnax_args},
                    "states": list(case.states),
                    "params": list(case.params),
                }
                if kind == "neuron"
                else {"spec": case.spec, "forward": case.forward}
            ),
        },
        sort_keys=True,
    )


def _seed(name: str) -> int:
    return sum(ord(c) * (k + 1) for k, c in enumerate(name))


def neuron_input(case: NeuronCase) -> np.ndarray:
    """The input (T, *shape), float32."""
    rng = np.random.default_rng(_seed(case.name))
    shape = (STEPS, *case.input_shape)
    if case.spike_input:
        return (rng.random(shape) < 0.3).astype(np.float32)
    return rng.normal(0.35, 0.6, shape).astype(np.float32)


def output_weights(case: NeuronCase, shape: tuple[int, ...]) -> np.ndarray:
    """The weights c of the loss sum(output·c), float32."""
    return np.random.default_rng(_seed(case.name) + 1).normal(0.0, 1.0, shape).astype(np.float32)


def _snnax_layer(case: NeuronCase) -> Any:
    import snnax.snn as snn  # pyright: ignore[reportMissingImports]
    from snnax.snn.layers.pooling import (  # pyright: ignore[reportMissingImports]
        SpikingMaxPool2d,
    )
    from snnax.snn.layers.spike_counter import (  # pyright: ignore[reportMissingImports]
        SpikeCounter,
    )

    classes: dict[str, Callable[..., Any]] = {
        "SpikeCounter": SpikeCounter,
        "SpikingMaxPool2d": SpikingMaxPool2d,
    }
    cls = classes.get(case.snnax_class) or getattr(snn, case.snnax_class)
    if case.snnax_class == "SpikeCounter":
        return cls(shape=case.input_shape)
    return cls(**case.snnax_args)


def run_neuron(case: NeuronCase) -> dict[str, np.ndarray]:
    """SNNAX's outputs, states per step and gradients for ``case``."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    x = neuron_input(case)
    layer = _snnax_layer(case)
    key = jax.random.PRNGKey(0)

    def simulate(layer: Any, xs: Any) -> tuple[Any, Any]:
        if not case.states:  # stateless (spiking max pool): applied at every step
            return jax.vmap(layer)(xs), ()

        def step(state: Any, xt: Any) -> tuple[Any, Any]:
            state, out = layer(state, xt, key=key)
            return state, (out, state)

        _, (outs, states) = jax.lax.scan(step, layer.init_state(case.input_shape, key), xs)
        return outs, states

    outs, states = simulate(layer, jnp.asarray(x))
    c = output_weights(case, outs.shape)

    def loss(layer: Any, xs: Any) -> Any:
        return jnp.sum(simulate(layer, xs)[0] * c)

    grad_layer = eqx.filter_grad(loss)(layer, jnp.asarray(x))
    grad_x = jax.grad(lambda xs: loss(layer, xs))(jnp.asarray(x))
    arrays = {"x": x, "c": c, "output": np.asarray(outs), "grad.x": np.asarray(grad_x)}
    for name, value in zip(case.states, states, strict=True):
        arrays[f"state.{name}"] = np.asarray(value)
    for name in case.params:
        arrays[f"grad.{name}"] = np.asarray(getattr(grad_layer, name))
    return arrays


def _sizes(spec: dict[str, Any]) -> list[int]:
    """Output size of every layer of ``spec`` (1-D features; a linear's is out_features)."""
    inputs = [item["shape"][0] for item in spec["inputs"]]
    layers = spec["layers"]
    graph = _graph(spec)
    sizes: dict[int, int] = {
        i: layer["out_features"] for i, layer in enumerate(layers) if layer["type"] == "linear"
    }
    for i in range(len(layers)):
        if i not in sizes:
            feeds = [sizes[j] for j in graph["input_connectivity"][i]]
            sizes[i] = sum(feeds) + sum(inputs[k] for k in graph["input_layer_ids"][i])
    return [sizes[i] for i in range(len(layers))]


def _graph(spec: dict[str, Any]) -> dict[str, Any]:
    n = len(spec["layers"])
    return spec.get("graph") or {
        "input_layer_ids": [[0]] + [[]] * (n - 1),
        "input_connectivity": [[]] + [[i] for i in range(n - 1)],
    }


def _linear_shapes(spec: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(out, in) of every linear layer."""
    inputs = [item["shape"][0] for item in spec["inputs"]]
    sizes, graph = _sizes(spec), _graph(spec)
    return {
        layer["name"]: (
            layer["out_features"],
            sum(sizes[j] for j in graph["input_connectivity"][i])
            + sum(inputs[k] for k in graph["input_layer_ids"][i]),
        )
        for i, layer in enumerate(spec["layers"])
        if layer["type"] == "linear"
    }


def graph_weights(case: GraphCase) -> dict[str, np.ndarray]:
    """int8 weights and biases (value = k / WEIGHT_SCALE), keyed as in a params file."""
    rng = np.random.default_rng(_seed(case.name))
    weights = {}
    for name, (n_out, n_in) in _linear_shapes(case.spec).items():
        bound = max(2, round(WEIGHT_SCALE * 1.5 / np.sqrt(n_in)))
        weights[f"{name}.weight"] = rng.integers(-bound, bound + 1, (n_out, n_in), np.int8)
        weights[f"{name}.bias"] = rng.integers(-bound // 2, bound // 2 + 1, (n_out,), np.int8)
    return weights


def graph_inputs(case: GraphCase) -> list[np.ndarray]:
    """Spike inputs (T, n) per input, as uint8."""
    rng = np.random.default_rng(_seed(case.name) + 1)
    return [(rng.random((STEPS, item["shape"][0])) < 0.3).astype(np.uint8)
            for item in case.spec["inputs"]]  # fmt: skip


def run_graph(case: GraphCase) -> dict[str, np.ndarray]:
    """SNNAX's StatefulModel on ``case``: per-step spikes of every neuron, final states."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import snnax.snn as snn  # pyright: ignore[reportMissingImports]
    from snnax.snn.architecture import (  # pyright: ignore[reportMissingImports]
        delayed_forward_fn,
    )

    key = jax.random.PRNGKey(0)
    weights = graph_weights(case)
    layers: list[Any] = []
    shapes = _linear_shapes(case.spec)
    for k, layer in enumerate(case.spec["layers"]):
        if layer["type"] == "linear":
            n_out, n_in = shapes[layer["name"]]
            linear = eqx.nn.Linear(n_in, n_out, key=jax.random.fold_in(key, k))
            w = jnp.asarray(weights[f"{layer['name']}.weight"], jnp.float32) / WEIGHT_SCALE
            b = jnp.asarray(weights[f"{layer['name']}.bias"], jnp.float32) / WEIGHT_SCALE
            layers.append(eqx.tree_at(lambda m: (m.weight, m.bias), linear, (w, b)))
        else:
            cls = {"simple_lif": snn.SimpleLIF, "lif": snn.LIF}[layer["type"]]
            layers.append(cls(layer["decay_constants"], threshold=layer["threshold"]))
    xs = [jnp.asarray(x, jnp.float32) for x in graph_inputs(case)]
    neurons = [k for k, layer in enumerate(case.spec["layers"]) if layer["type"] != "linear"]
    if case.forward == "default_forward_fn":
        model = snn.Sequential(*layers)
        states, (out,) = model(model.init_state((xs[0].shape[1],), key), xs[0], key)
        spikes = {case.spec["layers"][-1]["name"]: out}
        finals = {k: states[k] for k in neurons}
    else:
        graph = case.spec["graph"]
        structure = snn.GraphStructure(
            len(layers), graph["input_layer_ids"], graph["input_connectivity"]
        )
        model = snn.StatefulModel(structure, layers, forward_fn=delayed_forward_fn)
        # SNNAX's init_state raises on back edges; the carry holds what it builds for a
        # chain: a neuron's init_state and zero output, a stateless layer's response to zero.
        carry_states, carry_outs = [], []
        for k, layer in enumerate(layers):
            if k in neurons:
                size = _sizes(case.spec)[k]
                carry_states.append(layer.init_state((size,), key))
                carry_outs.append(layer.init_out((size,)))
            else:
                carry_states.append(None)
                carry_outs.append(layer(jnp.zeros(layer.in_features)))
        (states, _), outs = model((carry_states, carry_outs), xs, key)
        spikes = {case.spec["layers"][k]["name"]: outs[k] for k in neurons}
        finals = {k: states[k] for k in neurons}
    arrays: dict[str, np.ndarray] = {}
    for k, x in enumerate(graph_inputs(case)):
        arrays[f"input.{case.spec['inputs'][k]['name']}"] = x
    arrays.update({f"weights.{key}": value for key, value in weights.items()})
    for name, value in spikes.items():
        arrays[f"spikes.{name}"] = np.asarray(value).astype(np.uint8)
        if not np.array_equal(arrays[f"spikes.{name}"], np.asarray(value)):
            raise ValueError(f"{name} emitted something other than 0/1")
    state_names = {"simple_lif": ("v", "spikes"), "lif": ("v", "i", "spikes")}
    for k, state in finals.items():
        layer = case.spec["layers"][k]
        for name, value in zip(state_names[layer["type"]], state, strict=True):
            arrays[f"final.{layer['name']}.{name}"] = np.asarray(value)
    return arrays


def write_all() -> list[Path]:
    """Run every case with SNNAX and write the goldens; return the files."""
    OUT.mkdir(parents=True, exist_ok=True)
    written = []
    for case in NEURON_CASES:
        path = OUT / f"neuron-{case.name}.npz"
        arrays = {"meta": np.array(_meta(case, "neuron")), **run_neuron(case)}
        np.savez_compressed(path, **arrays)  # pyright: ignore[reportArgumentType]
        written.append(path)
    for case in GRAPH_CASES:
        path = OUT / f"graph-{case.name}.npz"
        arrays = {"meta": np.array(_meta(case, "graph")), **run_graph(case)}
        np.savez_compressed(path, **arrays)  # pyright: ignore[reportArgumentType]
        written.append(path)
    return written


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")  # SNNAX's modules use Equinox's deprecated static_field
    for path in write_all():
        print(f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}: "
              f"{path.stat().st_size} bytes")  # fmt: skip
