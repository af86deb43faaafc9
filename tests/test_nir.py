"""NIR import and export: graphs built with NIR's own API against an independent NumPy
simulation of NIR's equations (float64, explicit Euler with step dt), round trips, errors.

The reference below is written from NIR's documented ODEs and the timing rule of
``docs/nir.md`` (an edge reads the previous step when it closes a cycle, given the order),
never by calling snnspec.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import example_input, example_spec, run_cli

import snnspec
from snnspec.interop.nir import EXPORTERS
from snnspec.spec.registry import LAYER_TYPES

pytestmark = pytest.mark.usefixtures("x64")  # float64 specs

nir = pytest.importorskip("nir")

DT = 1e-3
STEPS = 30
RNG = np.random.default_rng(1234)


# --- the reference: NIR's equations, explicit Euler, in NumPy ------------------------------


def _shape(node: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in np.ravel(node.input_type["input"]))


def _conv2d(x: np.ndarray, node: Any) -> np.ndarray:
    w = np.asarray(node.weight, float)
    (sh, sw), (ph, pw) = node.stride, node.padding
    x = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    kh, kw = w.shape[2:]
    out_h = (x.shape[1] - kh) // sh + 1
    out_w = (x.shape[2] - kw) // sw + 1
    y = np.zeros((w.shape[0], out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            patch = x[:, i * sh : i * sh + kh, j * sw : j * sw + kw]
            y[:, i, j] = np.tensordot(w, patch, axes=([1, 2, 3], [0, 1, 2]))
    return y + np.asarray(node.bias, float)[:, None, None]


def _sum_pool(x: np.ndarray, node: Any) -> np.ndarray:
    kh, kw = (int(k) for k in node.kernel_size)
    sh, sw = (int(s) for s in node.stride)
    out_h, out_w = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    y = np.zeros((x.shape[0], out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            y[:, i, j] = x[:, i * sh : i * sh + kh, j * sw : j * sw + kw].sum(axis=(1, 2))
    return y


@dataclass
class RefNode:
    """One NIR node: ``step(x) -> y`` advancing its own state; ``rest`` before t = 0."""

    node: Any
    current: str = "previous"  # CubaLI(F) under Euler: v from i[t-1] or from the new i[t]

    def __post_init__(self) -> None:
        n = self.node
        self.kind = type(n).__name__
        self.v: Any = None
        self.i: Any = None
        self.spikes: Any = None
        if self.kind in ("LIF", "LI", "CubaLIF", "CubaLI"):
            self.v = np.array(n.v_leak, float)
            self.i = np.zeros_like(self.v)
            self.spikes = np.zeros_like(self.v)
        elif self.kind in ("IF", "I"):
            self.v = np.zeros_like(np.asarray(n.r, float))
            self.spikes = np.zeros_like(self.v)
        elif self.kind == "Delay":
            self.steps = np.rint(np.asarray(n.delay, float) / DT).astype(int)
            self.history: list[np.ndarray] = []

    def rest(self, in_shape: tuple[int, ...]) -> np.ndarray:
        if self.kind in ("LIF", "CubaLIF", "IF"):
            return self.spikes
        if self.kind in ("LI", "CubaLI", "I"):
            return self.v
        if self.kind == "Delay":
            return np.zeros(in_shape)
        return self._static(np.zeros(in_shape))

    def _static(self, x: np.ndarray) -> np.ndarray:
        n = self.node
        if self.kind == "Affine":
            return np.asarray(n.weight, float) @ x + np.asarray(n.bias, float)
        if self.kind == "Linear":
            return np.asarray(n.weight, float) @ x
        if self.kind == "Scale":
            return np.asarray(n.scale, float) * x
        if self.kind == "Threshold":
            return (x >= np.asarray(n.threshold, float)).astype(float)
        if self.kind == "Conv2d":
            return _conv2d(x, n)
        if self.kind == "SumPool2d":
            return _sum_pool(x, n)
        if self.kind == "Flatten":
            return x.reshape(-1)
        raise NotImplementedError(self.kind)

    def _fire(self, v: np.ndarray) -> np.ndarray:
        n = self.node
        s = (v >= np.asarray(n.v_threshold, float)).astype(float)
        self.spikes = s
        return np.where(s > 0, np.asarray(n.v_reset, float), v)

    def step(self, x: np.ndarray) -> np.ndarray:
        n = self.node
        if self.kind in ("LIF", "LI"):
            v = self.v + DT / n.tau * (n.v_leak - self.v + n.r * x)
            self.v = self._fire(v) if self.kind == "LIF" else v
            return self.spikes if self.kind == "LIF" else self.v
        if self.kind in ("CubaLIF", "CubaLI"):
            # Explicit Euler of the coupled system: v uses the previous current
            # (NIR's reference), or the current just computed (snnTorch, Norse).
            i = self.i + DT / n.tau_syn * (n.w_in * x - self.i)
            drive = i if self.current == "updated" else self.i
            v = self.v + DT / n.tau_mem * (n.v_leak - self.v + n.r * drive)
            self.i = i
            self.v = self._fire(v) if self.kind == "CubaLIF" else v
            return self.spikes if self.kind == "CubaLIF" else self.v
        if self.kind in ("IF", "I"):
            v = self.v + DT * n.r * x
            self.v = self._fire(v) if self.kind == "IF" else v
            return self.spikes if self.kind == "IF" else self.v
        if self.kind == "Delay":
            self.history.append(x)
            t = len(self.history) - 1
            out = np.zeros_like(x)
            for k in np.ndindex(x.shape):
                past = t - self.steps[k]
                out[k] = self.history[past][k] if past >= 0 else 0.0
            return out
        return self._static(x)


def reference(
    graph: Any, order: Sequence[str], xs: dict[str, np.ndarray], current: str = "previous"
) -> dict[str, np.ndarray]:
    """Simulate ``graph`` (flat, Input/Output nodes by name) in ``order``; edges sum.

    An edge s -> t reads s at the same step when s comes before t in ``order`` (or s is an
    Input), else at the previous step (its resting output before t = 0).
    """
    nodes = graph.nodes
    position = {name: k for k, name in enumerate(order)}
    refs = {name: RefNode(nodes[name], current) for name in order}
    sources = {name: [s for s, t in graph.edges if t == name] for name in nodes}
    in_shapes: dict[str, tuple[int, ...]] = {}
    last: dict[str, np.ndarray] = {}
    steps = next(iter(xs.values())).shape[0]
    for name in order:
        first = sources[name][0]
        in_shapes[name] = (
            _shape(nodes[first]) if first in xs else tuple(np.shape(_probe(graph, first, xs)))
        )
    for name in order:
        last[name] = refs[name].rest(in_shapes[name])
    outputs: dict[str, list[np.ndarray]] = {
        n: [] for n, node in nodes.items() if type(node).__name__ == "Output"
    }
    for t in range(steps):
        now: dict[str, np.ndarray] = {}
        for name in order:
            total = 0.0
            for s in sources[name]:
                if s in xs:
                    total = total + xs[s][t]
                elif position[s] < position[name]:
                    total = total + now[s]
                else:
                    total = total + last[s]
            now[name] = refs[name].step(np.asarray(total, float))
        last = now
        for out in outputs:
            outputs[out].append(np.sum([now[s] for s in sources[out]], axis=0))
    return {name: np.stack(values) for name, values in outputs.items()}


def _probe(graph: Any, name: str, xs: dict[str, np.ndarray]) -> np.ndarray:
    """Output of node ``name`` for zero inputs in a fresh copy (used for its shape only)."""
    node = graph.nodes[name]
    declared = node.output_type.get("output") if node.output_type else None
    if declared is not None:
        return np.zeros(tuple(int(s) for s in np.ravel(declared)))
    source = next(s for s, t in graph.edges if t == name)
    x = np.zeros(_shape(graph.nodes[source])) if source in xs else _probe(graph, source, xs)
    return RefNode(node).step(x)


def run_snnspec(
    graph: Any, xs: dict[str, np.ndarray], dt: float = DT, **options: Any
) -> dict[str, np.ndarray]:
    """Import ``graph`` in float64 and run it on one sample; outputs by final layer name."""
    spec, params = snnspec.from_nir(graph, dt=dt, dtype="float64", **options)
    model = snnspec.compile(spec, params=params)
    inputs = [xs[name][None] for name in model.plan.input_names]
    outs = snnspec.simulate(model, inputs)
    names = [model.plan.layer_names[i] for i in model.plan.final_layer_ids]
    return {name: np.asarray(out[0]) for name, out in zip(names, outs, strict=True)}


def check(graph: Any, order: Sequence[str], xs: dict[str, np.ndarray]) -> None:
    expected = reference(graph, order, xs)
    got = run_snnspec(graph, xs)
    assert len(got) == len(expected)
    for (name, want), have in zip(expected.items(), got.values(), strict=True):
        np.testing.assert_allclose(have, want, rtol=0, atol=1e-6, err_msg=name)


def affine(n_out: int, n_in: int, scale: float = 1.0, bias: bool = True) -> Any:
    weight = RNG.normal(size=(n_out, n_in)) * scale
    if not bias:
        return nir.Linear(weight=weight)
    return nir.Affine(weight=weight, bias=RNG.normal(size=n_out) * 0.1)


def lif(n: int, **overrides: Any) -> Any:
    values = {
        "tau": RNG.uniform(2e-3, 8e-3, n),
        "r": RNG.uniform(1.0, 3.0, n),
        "v_leak": RNG.uniform(-0.1, 0.2, n),
        "v_threshold": RNG.uniform(0.5, 1.0, n),
        "v_reset": RNG.uniform(-0.2, 0.0, n),
    }
    return nir.LIF(**{**values, **overrides})


def io(shape: Sequence[int]) -> tuple[Any, Any]:
    return nir.Input(input_type={"input": np.array(shape)}), nir.Output(
        output_type={"output": np.array(shape)}
    )


def drive(*shape: int, scale: float = 2.0) -> np.ndarray:
    return RNG.normal(size=(STEPS, *shape)) * scale + 0.5


# --- a single LIF against the closed-form Euler solution -------------------------------------


@pytest.mark.parametrize("discretization", ["euler", "exact"])
def test_single_lif_step_current_matches_closed_form(discretization: str) -> None:
    tau, r, v_leak, current = 5e-3, 2.0, 0.3, 0.4
    inp, out = io([1])
    node = nir.LIF(
        tau=np.array([tau]),
        r=np.array([r]),
        v_leak=np.array([v_leak]),
        v_threshold=np.array([10.0]),
        v_reset=np.array([0.0]),
    )
    graph = nir.NIRGraph(
        nodes={"input": inp, "lif": node, "output": out},
        edges=[("input", "lif"), ("lif", "output")],
    )
    spec, _ = snnspec.from_nir(graph, dt=DT, dtype="float64", discretization=discretization)
    module = snnspec.compile(spec).layers[0]
    state = module.init_state((1,), jnp.dtype("float64"))
    start = 10
    x = np.where(np.arange(STEPS) >= start, current, 0.0)
    trace = []
    for t in range(STEPS):
        state, _ = module(state, jnp.asarray([x[t]]))
        trace.append(float(state.v[0]))
    # Before the step the neuron rests at v_leak; from the step on, v relaxes to u = v_leak +
    # R·I geometrically: by (1 - dt/τ) per step (Euler) or exp(-dt/τ) (exact).
    u = v_leak + r * current
    factor = 1 - DT / tau if discretization == "euler" else np.exp(-DT / tau)
    k = np.arange(STEPS) - start + 1
    closed = np.where(k > 0, u + (v_leak - u) * factor ** np.maximum(k, 0), v_leak)
    np.testing.assert_allclose(trace, closed, rtol=0, atol=1e-12)


def test_single_lif_spikes_and_resets() -> None:
    inp, out = io([3])
    graph = nir.NIRGraph(
        nodes={"input": inp, "lif": lif(3), "output": out},
        edges=[("input", "lif"), ("lif", "output")],
    )
    check(graph, ["lif"], {"input": drive(3)})
    assert reference(graph, ["lif"], {"input": drive(3)})["output"].sum() > 0


# --- graph shapes ------------------------------------------------------------------------


def test_sequential() -> None:
    inp, out = io([2])
    nodes = {
        "input": inp,
        "fc1": affine(5, 4),
        "lif1": lif(5),
        "fc2": affine(2, 5, bias=False),
        "li": nir.LI(tau=np.full(2, 4e-3), r=np.full(2, 1.5), v_leak=np.array([0.1, -0.1])),
        "output": out,
    }
    nodes["input"] = nir.Input(input_type={"input": np.array([4])})
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names)))
    check(graph, names[1:-1], {"input": drive(4)})


def test_self_recurrent() -> None:
    inp, _ = io([3])
    out = nir.Output(output_type={"output": np.array([4])})
    graph = nir.NIRGraph(
        nodes={
            "input": inp,
            "fc": affine(4, 3),
            "lif": lif(4),
            "rec": affine(4, 4, 0.5),
            "output": out,
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
    )
    check(graph, ["fc", "lif", "rec"], {"input": drive(3)})


def test_self_loop_on_a_neuron() -> None:
    inp, out = io([3])
    graph = nir.NIRGraph(
        nodes={"input": inp, "lif": lif(3), "output": out},
        edges=[("input", "lif"), ("lif", "lif"), ("lif", "output")],
    )
    check(graph, ["lif"], {"input": drive(3)})


def test_feedback() -> None:
    inp, _ = io([2])
    nodes = {
        "input": inp,
        "fc1": affine(4, 2),
        "lif1": lif(4),
        "fc2": affine(3, 4),
        "lif2": lif(3),
        "back": affine(4, 3, 0.7, bias=False),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    edges = [
        ("input", "fc1"),
        ("fc1", "lif1"),
        ("lif1", "fc2"),
        ("fc2", "lif2"),
        ("lif2", "back"),
        ("back", "lif1"),
        ("lif2", "output"),
    ]
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    check(graph, ["fc1", "lif1", "fc2", "lif2", "back"], {"input": drive(2)})


def test_branching_and_merging() -> None:
    inp, _ = io([3])
    nodes = {
        "input": inp,
        "a": affine(4, 3),
        "left": lif(4),
        "right": nir.CubaLIF(
            tau_syn=np.full(4, 2e-3),
            tau_mem=RNG.uniform(3e-3, 6e-3, 4),
            r=np.full(4, 2.0),
            v_leak=np.zeros(4),
            v_threshold=np.full(4, 0.3),
            v_reset=np.zeros(4),
            w_in=RNG.uniform(0.5, 2.0, 4),
        ),
        "l2": affine(2, 4),
        "r2": affine(2, 4),
        "merge": lif(2),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [
        ("input", "a"),
        ("a", "left"),
        ("a", "right"),
        ("left", "l2"),
        ("right", "r2"),
        ("l2", "merge"),
        ("r2", "merge"),
        ("merge", "output"),
    ]
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    check(graph, ["a", "left", "right", "l2", "r2", "merge"], {"input": drive(3)})


def test_residual() -> None:
    inp, _ = io([3])
    nodes = {
        "input": inp,
        "a": affine(3, 3),
        "b": lif(3),
        "c": affine(2, 3),
        "d": lif(2),
        "e": affine(2, 2),
        "f": nir.LI(tau=np.full(2, 3e-3), r=np.ones(2), v_leak=np.zeros(2)),
        "skip": affine(2, 3),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [
        ("input", "a"),
        ("a", "b"),
        ("b", "c"),
        ("c", "d"),
        ("d", "e"),
        ("a", "skip"),
        ("skip", "f"),
        ("e", "f"),
        ("f", "output"),
    ]
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    check(graph, ["a", "b", "c", "d", "e", "skip", "f"], {"input": drive(3)})


def test_multi_input_and_every_neuron_primitive() -> None:
    nodes = {
        "x1": nir.Input(input_type={"input": np.array([3])}),
        "x2": nir.Input(input_type={"input": np.array([2])}),
        "a1": affine(4, 3),
        "a2": affine(4, 2),
        "cuba": nir.CubaLI(
            tau_syn=np.full(4, 3e-3),
            tau_mem=np.full(4, 5e-3),
            r=np.full(4, 2.0),
            v_leak=np.full(4, 0.1),
            w_in=np.array([1.0, 0.5, 2.0, 1.5]),
        ),
        "integ": nir.I(r=np.array([50.0, 80.0, 100.0, 20.0])),
        "thr": nir.Threshold(threshold=np.array([0.0, 0.05, -0.05, 0.1])),
        "delay": nir.Delay(delay=np.array([0.0, 1e-3, 3e-3, 5e-3])),
        "iff": nir.IF(r=np.full(4, 400.0), v_threshold=np.full(4, 0.5), v_reset=np.full(4, -0.1)),
        "scale": nir.Scale(scale=np.full(4, 0.5)),
        "o1": nir.Output(output_type={"output": np.array([4])}),
        "o2": nir.Output(output_type={"output": np.array([4])}),
    }
    edges = [
        ("x1", "a1"),
        ("x2", "a2"),
        ("a1", "cuba"),
        ("a2", "cuba"),
        ("cuba", "integ"),
        ("cuba", "thr"),
        ("thr", "delay"),
        ("delay", "scale"),
        ("a2", "iff"),
        ("iff", "o2"),
        ("scale", "o1"),
        ("integ", "o1"),
    ]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    xs = {"x1": drive(3), "x2": drive(2)}
    check(graph, ["a1", "a2", "cuba", "integ", "thr", "delay", "scale", "iff"], xs)


def test_conv_net() -> None:
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 6, 6])}),
        "conv": nir.Conv2d(
            input_shape=(6, 6),
            weight=RNG.normal(size=(3, 2, 3, 3)),
            stride=1,
            padding=1,
            dilation=1,
            groups=1,
            bias=RNG.normal(size=3) * 0.1,
        ),
        "lif": nir.LIF(
            tau=np.full((3, 6, 6), 4e-3),
            r=np.full((3, 6, 6), 2.0),
            v_leak=np.zeros((3, 6, 6)),
            v_threshold=np.full((3, 6, 6), 0.5),
            v_reset=np.zeros((3, 6, 6)),
        ),
        "pool": nir.SumPool2d(
            kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])
        ),
        "flat": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0, end_dim=-1),
        "fc": affine(4, 27),
        "out_li": nir.LI(tau=np.full(4, 5e-3), r=np.ones(4), v_leak=np.zeros(4)),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names)), type_check=False)
    check(graph, names[1:-1], {"input": drive(2, 6, 6)})


def test_nested_graphs_are_flattened() -> None:
    inner = nir.NIRGraph.from_list(affine(3, 2), lif(3))
    inp = nir.Input(input_type={"input": np.array([2])})
    tail = affine(2, 3)
    graph = nir.NIRGraph(
        nodes={
            "input": inp,
            "block": inner,
            "tail": tail,
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "block"), ("block", "tail"), ("tail", "output")],
        type_check=False,
    )
    flat_nodes = {
        "input": inp,
        "block.affine": inner.nodes["affine"],
        "block.lif": inner.nodes["lif"],
        "tail": tail,
        "output": graph.nodes["output"],
    }
    names = list(flat_nodes)
    flat = nir.NIRGraph(nodes=flat_nodes, edges=list(itertools.pairwise(names)), type_check=False)
    spec, _ = snnspec.from_nir(graph, dt=DT)
    assert spec.layer_names() == ("block.affine", "block.lif", "tail")
    xs = {"input": drive(2)}
    np.testing.assert_allclose(
        run_snnspec(graph, xs)["tail"], reference(flat, names[1:-1], xs)["output"], atol=1e-6
    )


# --- round trips ---------------------------------------------------------------------------


def _snnax_spec() -> snnspec.ModelSpec:
    return snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "roundtrip",
            "dtype": "float64",
            "dt": DT,
            "inputs": [{"name": "x", "shape": [3]}],
            "layers": [
                {"name": "fc1", "type": "linear", "out_features": 5},
                {
                    "name": "lif1",
                    "type": "simple_lif",
                    "decay_constants": [0.8],
                    "threshold": 0.4,
                    "inputs": ["fc1", "rec"],
                    "combine": "sum",
                },
                {
                    "name": "rec",
                    "type": "linear",
                    "out_features": 5,
                    "use_bias": False,
                    "inputs": ["lif1"],
                },
                {"name": "fc2", "type": "linear", "out_features": 4, "inputs": ["lif1"]},
                {"name": "cuba", "type": "lif", "decay_constants": [0.85, 0.7], "threshold": 0.2},
                {"name": "fc3", "type": "linear", "out_features": 2},
                {
                    "name": "iaf",
                    "type": "simple_iaf",
                    "threshold": 0.05,
                    "reset_val": -0.2,
                    "reset": "value",
                    "inputs": ["fc2"],
                },
                {"name": "li", "type": "simple_li", "decay_constants": [0.9], "inputs": ["fc3"]},
                {
                    "name": "lif",
                    "type": "nir_lif",
                    "tau": [0.004, 0.006],
                    "r": 8.0,
                    "v_leak": 0.4,
                    "v_threshold": 0.3,
                    "inputs": ["li"],
                },
            ],
            "outputs": ["lif", "iaf", "li"],
        }
    )


def test_spec_to_nir_to_spec_gives_the_same_outputs() -> None:
    spec = _snnax_spec()
    model = snnspec.compile(spec)
    graph = snnspec.to_nir(spec)
    assert {type(n).__name__ for n in graph.nodes.values()} >= {"LIF", "CubaLIF", "IF", "LI"}
    back, params = snnspec.from_nir(graph, dt=DT, dtype="float64")
    again = snnspec.compile(back, params=params)
    x = RNG.normal(size=(2, STEPS, 3)) * 2.0
    spikes = snnspec.simulate(model, x)
    for a, b in zip(spikes, snnspec.simulate(again, x), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-9)
    assert np.asarray(spikes[0]).sum() > 0
    assert np.asarray(spikes[1]).sum() > 0


def test_pipelined_edges_become_explicit_delays() -> None:
    data = _snnax_spec().model_dump(exclude_none=True)
    data["graph"] = {"timing": "pipelined"}
    # NIR's Delay starts from zero: the delayed sources must rest at zero (no biases).
    for layer in data["layers"]:
        if layer["type"] == "linear":
            layer["use_bias"] = False
    spec = snnspec.ModelSpec.model_validate(data)
    graph = snnspec.to_nir(spec)
    assert any(type(n).__name__ == "Delay" for n in graph.nodes.values())
    back, params = snnspec.from_nir(graph, dt=DT, dtype="float64")
    x = RNG.normal(size=(1, STEPS, 3)) * 2.0
    original = snnspec.simulate(snnspec.compile(spec), x)
    again = snnspec.simulate(snnspec.compile(back, params=params), x)
    for a, b in zip(original, again, strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-9)


def _fields(node: Any) -> dict[str, Any]:
    skip = {"input_type", "output_type", "metadata"}
    return {k: v for k, v in vars(node).items() if k not in skip}


def test_nir_to_spec_to_nir_keeps_every_parameter(tmp_path: Path) -> None:
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([3])}),
            "fc": affine(4, 3),
            "lif": lif(4),
            "rec": affine(4, 4, bias=False),
            "cuba": nir.CubaLIF(
                tau_syn=RNG.uniform(1e-3, 3e-3, 4),
                tau_mem=RNG.uniform(3e-3, 6e-3, 4),
                r=RNG.uniform(1, 2, 4),
                v_leak=RNG.uniform(0, 0.1, 4),
                v_threshold=RNG.uniform(0.5, 1, 4),
                v_reset=RNG.uniform(-0.1, 0, 4),
                w_in=RNG.uniform(0.5, 1.5, 4),
            ),
            "delay": nir.Delay(delay=np.array([0.0, 1e-3, 2e-3, 4e-3])),
            "thr": nir.Threshold(threshold=RNG.uniform(0, 1, 4)),
            "scale": nir.Scale(scale=np.full(4, 0.25)),
            "output": nir.Output(output_type={"output": np.array([4])}),
        },
        edges=[
            ("input", "fc"),
            ("fc", "lif"),
            ("lif", "rec"),
            ("rec", "lif"),
            ("lif", "cuba"),
            ("cuba", "delay"),
            ("delay", "thr"),
            ("thr", "scale"),
            ("scale", "output"),
        ],
        type_check=False,
    )
    path = tmp_path / "graph.nir"
    nir.write(path, graph)
    spec, params = snnspec.from_nir(path, dt=DT, dtype="float64")
    exported = snnspec.to_nir(spec, params=params)
    for name, node in graph.nodes.items():
        if type(node).__name__ in ("Input", "Output"):
            continue
        other = exported.nodes[name]
        assert type(other) is type(node)
        for key, value in _fields(node).items():
            np.testing.assert_allclose(
                np.asarray(getattr(other, key), float),
                np.asarray(value, float),
                err_msg=f"{name}.{key}",
            )
    assert sorted(e for e in exported.edges if "output" not in e[1]) == sorted(
        e for e in graph.edges if e[1] != "output"
    )


# --- errors --------------------------------------------------------------------------------


@dataclass(eq=False)
class Mystery(nir.NIRNode):
    """A node type NIR does not define."""

    value: np.ndarray

    def __post_init__(self) -> None:
        self.input_type = {"input": np.array(self.value.shape)}
        self.output_type = {"output": np.array(self.value.shape)}


def test_unsupported_node_is_a_clear_error() -> None:
    inp, out = io([2])
    graph = nir.NIRGraph(
        nodes={"input": inp, "odd": Mystery(value=np.zeros(2)), "output": out},
        edges=[("input", "odd"), ("odd", "output")],
        type_check=False,
    )
    with pytest.raises(snnspec.SpecError, match=r"NIR node 'odd' has type Mystery"):
        snnspec.from_nir(graph, dt=DT)


def test_per_neuron_scale_is_a_clear_error() -> None:
    inp, out = io([2])
    graph = nir.NIRGraph(
        nodes={"input": inp, "s": nir.Scale(scale=np.array([1.0, 2.0])), "output": out},
        edges=[("input", "s"), ("s", "output")],
    )
    with pytest.raises(snnspec.SpecError, match=r"NIR node 's' \(Scale\)"):
        snnspec.from_nir(graph, dt=DT)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"type": "adaptive_lif", "decay_constants": [0.8]}, r"layer 'bad' has type adaptive_lif"),
        (
            {"type": "lif_soft_reset", "decay_constants": [0.8, 0.8]},
            r"layer 'bad' has type lif_soft_reset",
        ),
        (
            {"type": "simple_lif", "decay_constants": [0.8], "reset": "subtract"},
            r"layer 'bad' \(simple_lif\) resets by 'subtract'",
        ),
        (
            {"type": "simple_li", "decay_constants": [1.0]},
            r"layer 'bad' \(simple_li\) has a membrane decay of 1",
        ),
        ({"type": "simple_iaf", "leak": 0.1}, r"layer 'bad' \(simple_iaf\) has a constant leak"),
    ],
)
def test_layers_without_an_exact_nir_equivalent_are_clear_errors(
    layer: dict[str, Any], message: str
) -> None:
    spec = snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "bad",
            "inputs": [{"name": "x", "shape": [3]}],
            "layers": [{"name": "bad", **layer}],
        }
    )
    with pytest.raises(snnspec.SpecError, match=message):
        snnspec.to_nir(spec)


def test_delayed_edge_from_a_biased_layer_is_a_clear_export_error() -> None:
    data = _snnax_spec().model_dump(exclude_none=True)
    data["graph"] = {"timing": "pipelined"}
    spec = snnspec.ModelSpec.model_validate(data)
    with pytest.raises(snnspec.SpecError, match=r"shows a non-zero resting output"):
        snnspec.to_nir(spec)


def test_concatenation_is_a_clear_export_error() -> None:
    spec = snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "cat",
            "inputs": [{"name": "a", "shape": [2]}, {"name": "b", "shape": [2]}],
            "layers": [{"name": "fc", "type": "linear", "out_features": 2, "inputs": ["a", "b"]}],
        }
    )
    with pytest.raises(snnspec.SpecError, match=r"layer 'fc' concatenates 2 sources"):
        snnspec.to_nir(spec)


def test_per_neuron_list_must_match_the_layer() -> None:
    spec = snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "bad",
            "inputs": [{"name": "x", "shape": [3]}],
            "layers": [{"type": "nir_lif", "tau": [0.01, 0.02]}],
        }
    )
    with pytest.raises(snnspec.ShapeError, match=r"tau lists 2 values but the layer has 3 neurons"):
        snnspec.compile(spec)


# --- command line ------------------------------------------------------------------------


def test_cli_import_and_export(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from snnspec.cli import app

    inp, out = io([3])
    graph = nir.NIRGraph(
        nodes={"input": inp, "fc": affine(3, 3), "lif": lif(3), "output": out},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
    )
    source = tmp_path / "net.nir"
    nir.write(source, graph)
    runner = CliRunner()
    result = runner.invoke(app, ["nir", "import", str(source), "-o", str(tmp_path / "net.yaml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "net.safetensors").is_file()
    spec = snnspec.load(tmp_path / "net.yaml")
    assert spec.params == "net.safetensors"
    result = runner.invoke(
        app, ["nir", "export", str(tmp_path / "net.yaml"), "-o", str(tmp_path / "back.nir")]
    )
    assert result.exit_code == 0, result.output
    back = nir.read(tmp_path / "back.nir")
    np.testing.assert_allclose(back.nodes["fc"].weight, graph.nodes["fc"].weight, rtol=1e-6)


# --- peers (optional: needs torch, snnTorch, Norse) ------------------------------------------

# The peers are an optional extra, absent where pyright runs: their imports carry
# `pyright: ignore[reportMissingImports]`.
PEERS = all(importlib.util.find_spec(name) for name in ("torch", "snntorch", "norse"))


@pytest.mark.skipif(not PEERS, reason="needs the peers extra: torch==2.13.0, snntorch, norse")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the peers' own imports warn
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_snntorch_export_matches_its_own_simulation() -> None:
    import snntorch as snn  # pyright: ignore[reportMissingImports]
    import torch  # pyright: ignore[reportMissingImports]
    from snntorch import utils  # pyright: ignore[reportMissingImports]
    from snntorch.export_nir import export_to_nir  # pyright: ignore[reportMissingImports]

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 4),
        snn.Leaky(
            beta=torch.tensor([0.8, 0.9, 0.7, 0.85]),
            threshold=torch.full((4,), 0.5),
            init_hidden=True,
            reset_mechanism="subtract",
            reset_delay=False,
        ),
    )
    x = torch.rand(STEPS, 3) * 2
    utils.reset(net)
    with torch.no_grad():
        expected = np.stack([net(x[t]).numpy() for t in range(STEPS)])
    graph = export_to_nir(net, x[0])
    # snnTorch's documented discretisation: v[t] = beta·v[t-1] + x[t], spike, subtract the
    # threshold at once (reset_delay=False). It exports LIF(tau = dt/(1-beta), r = tau/dt)
    # with dt = 1e-4, which is that update under snnspec's euler rule with dt = 1e-4.
    got = run_snnspec(graph, {"input": x.numpy().astype(float)}, dt=1e-4, reset="subtract")
    assert expected.sum() > 0
    np.testing.assert_array_equal(next(iter(got.values())), expected)


@pytest.mark.skipif(not PEERS, reason="needs the peers extra: torch==2.13.0, snntorch, norse")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the peers' own imports warn
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_norse_export_matches_its_own_simulation() -> None:
    import norse.torch as norse  # pyright: ignore[reportMissingImports]
    import torch  # pyright: ignore[reportMissingImports]

    torch.manual_seed(0)
    params = norse.LIFBoxParameters(v_th=torch.tensor(0.3), tau_mem_inv=torch.tensor(200.0))
    net = norse.SequentialState(torch.nn.Linear(3, 4), norse.LIFBoxCell(params))
    x = torch.rand(STEPS, 3) * 4
    state = None
    expected = []
    with torch.no_grad():
        for t in range(STEPS):
            y, state = net(x[t], state)
            expected.append(y.numpy())
    graph = norse.to_nir(net, x[0])
    # Norse steps v += dt·tau_mem_inv·((v_leak - v) + x) with dt = 1e-3 and resets to v_reset,
    # but writes NIR's tau as dt/tau_mem_inv (dt·τ, not τ): importing with dt' = dt² gives the
    # same dt'/tau = dt·tau_mem_inv per step.
    got = run_snnspec(graph, {"input": x.numpy().astype(float)}, dt=1e-6)
    assert np.stack(expected).sum() > 0
    np.testing.assert_array_equal(next(iter(got.values())), np.stack(expected))


def test_exact_cuba_update_is_the_exact_solution() -> None:
    """``exact`` against a fine explicit Euler (10 000 substeps) of the coupled ODEs."""
    tau_syn, tau_mem, r, v_leak, w_in = 2e-3, 5e-3, 1.5, 0.2, 0.8
    inp, out = io([2])
    node = nir.CubaLI(
        tau_syn=np.array([tau_syn, tau_mem]),
        tau_mem=np.array([tau_mem, tau_mem]),
        r=np.full(2, r),
        v_leak=np.full(2, v_leak),
        w_in=np.full(2, w_in),
    )
    graph = nir.NIRGraph(
        nodes={"input": inp, "cuba": node, "output": out},
        edges=[("input", "cuba"), ("cuba", "output")],
    )
    x = drive(2)[:10]
    got = run_snnspec(graph, {"input": x}, discretization="exact")["cuba"]
    substeps = 10_000
    h = DT / substeps
    v, i = np.full(2, v_leak), np.zeros(2)
    want = []
    for t in range(len(x)):
        for _ in range(substeps):
            v, i = (
                v + h / node.tau_mem * (v_leak - v + r * i),
                i + h / node.tau_syn * (w_in * x[t] - i),
            )
        want.append(v)
    np.testing.assert_allclose(got, np.stack(want), rtol=0, atol=1e-4)


# --- CubaLIF update order (``current``) and lenient reading ----------------------------------


def cuba_lif(n: int, **overrides: Any) -> Any:
    values = {
        "tau_syn": RNG.uniform(2e-3, 6e-3, n),
        "tau_mem": RNG.uniform(4e-3, 9e-3, n),
        "r": RNG.uniform(2.0, 4.0, n),
        "v_leak": np.zeros(n),
        "v_threshold": RNG.uniform(0.1, 0.3, n),
        "v_reset": np.zeros(n),
        "w_in": RNG.uniform(0.8, 1.2, n),
    }
    return nir.CubaLIF(**{**values, **overrides})


def recurrent_cuba_graph(metadata: dict[str, Any] | None = None) -> Any:
    """The Braille network's shape: input, fc, recurrent CubaLIF hidden layer, fc, CubaLIF."""
    inp, _ = io([6])
    _, out = io([3])
    graph = nir.NIRGraph(
        nodes={
            "input": inp,
            "fc1": affine(8, 6, scale=1.5),
            "hidden": cuba_lif(8),
            "rec": affine(8, 8, scale=0.5, bias=False),
            "fc2": nir.Affine(weight=np.abs(RNG.normal(size=(3, 8))), bias=np.zeros(3)),
            "readout": cuba_lif(3),
            "output": out,
        },
        edges=[
            ("input", "fc1"),
            ("fc1", "hidden"),
            ("hidden", "rec"),
            ("rec", "hidden"),
            ("hidden", "fc2"),
            ("fc2", "readout"),
            ("readout", "output"),
        ],
    )
    graph.metadata = metadata or {}
    return graph


ORDER = ["fc1", "hidden", "rec", "fc2", "readout"]


@pytest.mark.parametrize("current", ["previous", "updated"])
def test_cuba_current_matches_the_reference_update_order(current: str) -> None:
    graph = recurrent_cuba_graph()
    xs = {"input": drive(6)}
    expected = reference(graph, ORDER, xs, current=current)["output"]
    got = run_snnspec(graph, xs, cuba_current=current)["readout"]
    assert expected.sum() > 0
    np.testing.assert_array_equal(got, expected)
    other_order = "updated" if current == "previous" else "previous"
    other = reference(graph, ORDER, xs, current=other_order)["output"]
    assert not np.array_equal(other, expected)  # the two orders differ on this graph


def test_cuba_current_defaults_to_nir_reference_and_follows_the_producer() -> None:
    lines: list[str] = []
    spec, _ = snnspec.from_nir(recurrent_cuba_graph(), notes=lines.append)
    assert [layer.current for layer in spec.layers if layer.type == "nir_cuba_lif"] == [
        "previous",
        "previous",
    ]
    assert len(lines) == 2
    assert all("'previous'" in line and "names no producer" in line for line in lines)
    lines.clear()
    spec, _ = snnspec.from_nir(
        recurrent_cuba_graph({"source": "snnTorch 0.9.4"}), notes=lines.append
    )
    assert {layer.current for layer in spec.layers if layer.type == "nir_cuba_lif"} == {"updated"}
    assert all("'updated'" in line and "snntorch" in line for line in lines)
    spec, _ = snnspec.from_nir(
        recurrent_cuba_graph({"source": "snnTorch"}), cuba_current="previous"
    )
    assert {layer.current for layer in spec.layers if layer.type == "nir_cuba_lif"} == {"previous"}


def test_cuba_current_survives_export_and_import() -> None:
    spec, params = snnspec.from_nir(recurrent_cuba_graph(), cuba_current="updated")
    model = snnspec.compile(spec, params=params)
    back, _ = snnspec.from_nir(snnspec.to_nir(model))
    assert {layer.current for layer in back.layers if layer.type == "nir_cuba_lif"} == {"updated"}


def test_cuba_current_updated_with_exact_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(snnspec.SpecError, match="euler"):
        snnspec.from_nir(recurrent_cuba_graph(), discretization="exact", cuba_current="updated")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "snnspec: 1\nname: x\ninputs: [{name: x, shape: [2]}]\nlayers:\n"
        "  - {type: nir_cuba_lif, tau_syn: 0.002, tau_mem: 0.004, discretization: exact,"
        " current: updated}\n"
    )
    with pytest.raises(snnspec.SpecError, match="current: updated applies to the euler"):
        snnspec.load(spec)


def _mistyped_graph() -> Any:
    """Rockpool's ``lif_rockpool.nir`` defect: an Output typed [1, 1, 1] after a [1] neuron."""
    inp, _ = io([1])
    return nir.NIRGraph(
        nodes={
            "input": inp,
            "lif": lif(1),
            "output": nir.Output(output_type={"output": np.array([1, 1, 1])}),
        },
        edges=[("input", "lif"), ("lif", "output")],
        type_check=False,
    )


def test_cli_no_type_check_reads_a_mistyped_file_and_says_what_it_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "mistyped.nir"
    graph = _mistyped_graph()
    nir.write(source, graph)
    target = tmp_path / "net.yaml"
    code, _, err = run_cli("nir", "import", source, "-o", target, capsys=capsys)
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith(f"{source}: ")
    assert err.rstrip().endswith("--no-type-check")
    assert not target.exists()
    code, _, err = run_cli("nir", "import", source, "-o", target, "--no-type-check", capsys=capsys)
    assert code == 0, err
    assert "type check skipped: node 'output' declares output type [1, 1, 1]; inferred [1]" in err
    x = drive(1)
    got = run_snnspec(nir.read(source, type_check=False), {"input": x}, type_check=False)
    want = reference(graph, ["lif"], {"input": x})["output"]
    np.testing.assert_array_equal(next(iter(got.values())), want)


def test_cli_cuba_current_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "rsnn.nir"
    nir.write(source, recurrent_cuba_graph())
    target = tmp_path / "a.yaml"
    code, _, err = run_cli(
        "nir", "import", source, "-o", target, "--cuba-current", "updated", capsys=capsys
    )
    assert code == 0, err
    assert "update order 'updated' (as asked)" in err
    spec = snnspec.load(tmp_path / "a.yaml")
    assert {layer.current for layer in spec.layers if layer.type == "nir_cuba_lif"} == {"updated"}


NORSE = importlib.util.find_spec("norse") is not None


@pytest.mark.skipif(not NORSE, reason="needs the peers extra: torch==2.13.0, snntorch, norse")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the peers' own imports warn
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_norse_from_nir_matches_cuba_current_updated() -> None:
    """Norse's ``from_nir`` of a recurrent CubaLIF graph (the Braille task's shape) against
    ``--cuba-current updated``: the hidden and output spikes agree."""
    import norse.torch as norse  # pyright: ignore[reportMissingImports]
    import torch  # pyright: ignore[reportMissingImports]

    graph = recurrent_cuba_graph()
    x = (RNG.uniform(size=(STEPS, 6)) < 0.3).astype(float) * 2.0
    module = norse.from_nir(graph, dt=DT)
    state = None
    expected = []
    with torch.no_grad():
        for t in range(STEPS):
            y, state = module(torch.as_tensor(x[t], dtype=torch.float32), state)
            expected.append(y.numpy())
    expected_spikes = np.stack(expected)
    got = run_snnspec(graph, {"input": x}, cuba_current="updated")["readout"]
    assert expected_spikes.sum() > 0
    assert np.mean(got != expected_spikes) <= 0.005
    # NIR's reference order (the default) is visibly different from Norse's.
    previous = run_snnspec(graph, {"input": x}, cuba_current="previous")["readout"]
    assert np.mean(previous != expected_spikes) > 0.05


# --- everything import makes, export writes back ----------------------------------------------


def _every_importer_graph() -> Any:
    """One graph with a node of every type ``from_nir`` imports (a partial Flatten too)."""
    n = 5
    nodes = {
        "image": nir.Input(input_type={"input": np.array([2, 4, 4])}),
        "conv2": nir.Conv2d(
            input_shape=(4, 4),
            weight=RNG.normal(size=(3, 2, 3, 3)),
            stride=1,
            padding=1,
            dilation=1,
            groups=1,
            bias=RNG.normal(size=3) * 0.1,
        ),
        "sum": nir.SumPool2d(
            kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])
        ),
        "avg": nir.AvgPool2d(
            kernel_size=np.array([1, 1]), stride=np.array([1, 1]), padding=np.array([0, 0])
        ),
        "rows": nir.Flatten(input_type={"input": np.array([3, 2, 2])}, start_dim=1, end_dim=2),
        "flat": nir.Flatten(input_type={"input": np.array([3, 4])}, start_dim=0, end_dim=-1),
        "signal": nir.Input(input_type={"input": np.array([2, 6])}),
        "conv1": nir.Conv1d(
            input_shape=6,
            weight=RNG.normal(size=(2, 2, 3)),
            stride=1,
            padding=1,
            dilation=1,
            groups=1,
            bias=RNG.normal(size=2) * 0.1,
        ),
        "flat1": nir.Flatten(input_type={"input": np.array([2, 6])}, start_dim=0, end_dim=-1),
        "fc": affine(n, 12),
        "lif": lif(n),
        "rec": affine(n, n, bias=False),
        "cuba": nir.CubaLIF(
            tau_syn=RNG.uniform(1e-3, 3e-3, n),
            tau_mem=RNG.uniform(3e-3, 6e-3, n),
            r=RNG.uniform(1, 2, n),
            v_leak=RNG.uniform(0, 0.1, n),
            v_threshold=RNG.uniform(0.5, 1, n),
            v_reset=RNG.uniform(-0.1, 0, n),
            w_in=RNG.uniform(0.5, 1.5, n),
        ),
        "delay": nir.Delay(delay=np.array([0.0, 2e-3, 4e-3, 6e-3, 2e-3])),  # whole steps of dt
        "thr": nir.Threshold(threshold=RNG.uniform(0, 1, n)),
        "scale": nir.Scale(scale=np.full(n, 0.5)),
        "if": nir.IF(r=RNG.uniform(1, 2, n), v_threshold=np.full(n, 0.5), v_reset=np.zeros(n)),
        "li": nir.LI(tau=np.full(n, 5e-3), r=np.ones(n), v_leak=np.zeros(n)),
        "i": nir.I(r=np.full(n, 0.5)),
        "cubali": nir.CubaLI(
            tau_syn=np.full(n, 2e-3),
            tau_mem=np.full(n, 4e-3),
            r=np.ones(n),
            v_leak=np.zeros(n),
            w_in=np.ones(n),
        ),
        "output": nir.Output(output_type={"output": np.array([n])}),
    }
    chain = ["image", "conv2", "sum", "avg", "rows", "flat", "fc", "lif", "cuba", "delay"]
    chain += ["thr", "scale", "if", "li", "i", "cubali", "output"]
    edges = [*itertools.pairwise(chain), ("signal", "conv1"), ("conv1", "flat1")]
    edges += [("flat1", "fc"), ("lif", "rec"), ("rec", "lif")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


IMPORT_OPTIONS = [
    [],
    ["--discretization", "exact"],
    ["--reset", "subtract"],
    ["--reset", "value"],
    ["--dtype", "float64"],
    ["--dtype", "float16"],
    ["--dtype", "bfloat16"],
    ["--dt", "2e-3"],
]
"""Every value of every ``nir import`` option, one at a time."""


@pytest.mark.parametrize("options", IMPORT_OPTIONS, ids=lambda o: " ".join(o) or "defaults")
def test_export_writes_back_whatever_import_makes(
    options: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """nir import -> nir export -> nir import gives the same spec and arrays; the second
    import needs no --reset (a subtract reset is recorded in the node's metadata)."""
    import yaml
    from helpers import run_cli
    from safetensors.numpy import load_file

    from snnspec.interop.nir import IMPORTERS

    graph = _every_importer_graph()
    assert {type(node).__name__ for node in graph.nodes.values()} >= set(IMPORTERS)
    nir.write(tmp_path / "a.nir", graph)
    code, _, err = run_cli(
        "nir", "import", tmp_path / "a.nir", "-o", tmp_path / "a.yaml", *options, capsys=capsys
    )
    assert code == 0
    assert all(line.startswith("note: ") for line in err.splitlines())  # the CubaLIF order
    code, _, err = run_cli(
        "nir", "export", tmp_path / "a.yaml", "-o", tmp_path / "b.nir", capsys=capsys
    )
    assert (code, err) == (0, "")
    again = [o for o in options if o not in ("--reset", "value", "subtract")]
    code, _, err = run_cli(
        "nir", "import", tmp_path / "b.nir", "-o", tmp_path / "c.yaml", *again, capsys=capsys
    )
    assert code == 0
    assert all(line.startswith("note: ") for line in err.splitlines())

    def spec(name: str) -> dict[str, Any]:
        data = yaml.safe_load((tmp_path / f"{name}.yaml").read_text(encoding="utf-8"))
        return {k: v for k, v in data.items() if k not in ("name", "params")}

    first, second = spec("a"), spec("c")
    # the export writes the compiled model's values: equal up to the spec's dtype
    rtol = {"float64": 1e-12, "float16": 1e-3, "bfloat16": 1e-2}.get(first["dtype"], 1e-6)

    def numbers(value: Any) -> Any:
        """`value` with its floats replaced by a marker (compared apart, with rtol)."""
        if isinstance(value, dict):
            return {k: numbers(v) for k, v in value.items()}
        if isinstance(value, list):
            return [numbers(v) for v in value]
        return "<float>" if isinstance(value, float) else value

    def floats(value: Any) -> list[float]:
        if isinstance(value, dict):
            return [x for v in value.values() for x in floats(v)]
        if isinstance(value, list):
            return [x for v in value for x in floats(v)]
        return [value] if isinstance(value, float) else []

    assert numbers(second) == numbers(first)
    np.testing.assert_allclose(floats(second), floats(first), rtol=rtol)
    resets = {layer["reset"] for layer in first["layers"] if "reset" in layer}
    assert resets == {"subtract" if "subtract" in options else "value"}
    a, c = load_file(tmp_path / "a.safetensors"), load_file(tmp_path / "c.safetensors")
    assert sorted(a) == sorted(c)
    for key in a:
        np.testing.assert_allclose(c[key], a[key], rtol=rtol, err_msg=key)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"type": "adaptive_lif", "decay_constants": [0.8]}, r"layer 'bad' has type adaptive_lif"),
        (
            {"type": "simple_lif", "decay_constants": [0.8], "reset": "subtract"},
            r"layer 'bad' \(simple_lif\) resets by 'subtract'",
        ),
        (
            {"type": "simple_lif", "decay_constants": [0.8], "init": {"type": "normal"}},
            r"layer 'bad' \(simple_lif\) starts from a random membrane state",
        ),
        (
            {"type": "conv1d", "out_channels": 2, "kernel_size": 3, "padding": "SAME", "stride": 2},
            r"layer 'bad': padding SAME with a stride > 1",
        ),
        ({"type": "lif", "decay_constants": [0.8, 0.8]}, r"layer 'bad' \(lif\) matches NIR's"),
    ],
    ids=["type", "reset", "init", "same-stride", "exact-lif"],
)
def test_export_refusals_decided_by_the_spec_come_before_any_weight(
    layer: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import snnspec.model.compile

    def no_compile(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the spec was compiled (weights initialised) before refusing")

    monkeypatch.setattr(snnspec.model.compile, "compile", no_compile)
    spec = snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "bad",
            "inputs": [{"name": "x", "shape": [2, 6] if layer["type"] == "conv1d" else [3]}],
            "layers": [{"name": "bad", **layer}],
        }
    )
    with pytest.raises(snnspec.SpecError, match=message):
        snnspec.to_nir(spec, discretization="exact")


def test_nir_export_refuses_before_importing_jax(tmp_path: Path) -> None:
    """`snnspec nir export` of a spec NIR cannot express answers without starting JAX."""
    import subprocess
    import sys

    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "snnspec: 1\nname: bad\ninputs:\n  - {name: x, shape: [4]}\nlayers:\n"
        "  - {name: fc, type: linear, out_features: 2000}\n"
        "  - {name: a, type: adaptive_lif, decay_constants: [0.9]}\n",
        encoding="utf-8",
    )
    argv = ["snnspec", "nir", "export", str(spec), "-o", str(tmp_path / "x.nir")]
    code = (
        "import sys\n"
        "from snnspec.cli import main\n"
        f"sys.argv = {argv!r}\n"
        "try:\n    main()\n"
        "except SystemExit as stop:\n    assert stop.code == 1, stop.code\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'equinox')]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("layer 'a' has type adaptive_lif, which has no exact NIR")
    assert not (tmp_path / "x.nir").exists()


# --- every registered layer type, from the registry ------------------------------------------

NIR_EXAMPLE_OPTIONS: dict[str, dict[str, Any]] = {
    "reshape": {"shape": [12]},  # the example's [3, -1] is no flattening (refused by value)
    "simple_iaf": {"leak": 0.0},  # NIR's IF has no constant leak (refused by value)
}
"""Options replacing the registered example where its values, not its type, have no NIR form."""


def test_nir_tables_name_registered_types() -> None:
    assert set(EXPORTERS) <= set(LAYER_TYPES)


@pytest.mark.parametrize("type_name", sorted(LAYER_TYPES))
def test_every_registered_type_round_trips_through_nir_or_is_refused_by_name(
    type_name: str,
) -> None:
    """An exportable type comes back from NIR computing the same outputs; any other type is
    refused naming its layer and type, listing the exportable ones."""
    spec = example_spec(type_name, **NIR_EXAMPLE_OPTIONS.get(type_name, {}))
    if type_name not in EXPORTERS:
        cls = LAYER_TYPES[type_name]
        expected = (
            rf"layer '{type_name}_0\."  # a block: its first lowered layer
            if cls.composite
            else rf"layer '{type_name}_0' has type {type_name}, which has no exact NIR "
            r"equivalent; exportable: "
        )
        with pytest.raises(snnspec.SpecError, match=expected):
            snnspec.to_nir(spec)
        return
    back, params = snnspec.from_nir(snnspec.to_nir(spec), dt=spec.dt, dtype=spec.dtype)
    x = example_input(type_name, steps=STEPS)
    model, again = snnspec.compile(spec), snnspec.compile(back, params=params)
    for got, want in zip(snnspec.simulate(again, x), snnspec.simulate(model, x), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)
