"""One full training step (forward, surrogate backward, Adam update): snnspec against
hand-written JAX+optax steps, Spyx, snnTorch and Norse; and a `snnspec train` epoch with its
data loading against the pure step time.

Usage (from the repository root, with snnspec's own environment; writes
benchmarks/TRAINING.md unless --no-write; about 10 to 15 minutes on 2 loaded cores):

    python benchmarks/train_step.py [--rounds 20] [--no-write] \\
        [--spyx-python .venv-spyx/bin/python] [--peers-python .venv-peers/bin/python] \\
        [--torch-threads 1,2] [--networks mlp,recurrent] [--frameworks jax,spyx,torch]
    python benchmarks/train_step.py --epoch-only [--rounds 5]

``--networks`` and ``--frameworks`` (worker environments: ``jax`` is snnspec with the
hand-written steps and always runs, ``spyx``, ``torch``) narrow a quick re-measurement, e.g.
``--networks recurrent --frameworks jax,spyx --rounds 8 --no-write``; a narrowed run prints
its tables and targets but does not write TRAINING.md (it needs ``--no-write``).
``--epoch-only`` runs only the epoch comparison below (snnspec's step and its epoch, no
hand-written steps, no peers) and prints its lines without writing TRAINING.md: a quick check
of the data-loading overhead.

Networks (float32, CPU, batch 64, T=100, Bernoulli(0.03) input, cross-entropy on the output
spike counts, Adam with learning rate 1e-3 on every float array):
  mlp        the SHD MLP 700-256-256-20
  recurrent  700-256(recurrent)-20: lif1 reads fc1 plus rec1 (a bias-free linear on lif1's
             spikes of the previous step)
Every neuron is bench.py's with the box model of peers.py: snnspec ``simple_lif`` (decay 0.9,
threshold 0.02, zero reset), the one neuron that snnTorch and Norse match exactly, also with
recurrence (the current-based ``lif`` maps to them only through a one-step lag per layer,
which a recurrent loop does not preserve).

Variants, all on the same weights (snnspec's initialisation of the spec, seed 0) and data:
  snnspec train step  ``Task.train_step`` from snnspec/training/loop.py, the jitted step
                      ``snnspec train`` runs, built by the same ``Task`` the loop builds (no
                      re-implementation); schedule ``auto``
  hand step-major     JAX+optax written here: one ``lax.scan`` over time, every layer in its
                      body (batch inside each product)
  hand layer-major    JAX+optax written here: each linear on the (T*B, n) block, one plain
                      ``lax.scan`` per neuron layer; in the recurrent net fc1 is hoisted and
                      only the recurrent product stays in the scan
  Spyx                Spyx 1.0 (flax nnx) ``spyx.nn.LIF`` / ``RLIF``, split into a pure
                      function and ``jax.jit``-ed with optax: step-major (``spyx.nn.run`` of a
                      ``Sequential``) and layer-major (``nnx.Linear`` on the whole series,
                      ``spyx.nn.run`` per neuron); the summary takes the faster
  snnTorch, Norse     peers.py's mapped neurons (snnTorch ``Leaky``, Norse ``LIFBoxCell``),
                      step loop and layer loop as there, eager PyTorch, ``torch.optim.Adam``,
                      with each thread count of --torch-threads (on a loaded machine two
                      threads can be many times slower than one); the summary takes each
                      one's fastest form

Equation mapping: see peers.py (box model): snnTorch's linear weights carry the factor
(1 - 0.9), Norse's do not; the recurrent product is added to the input current of the same
step in every framework (snnspec: rec1 at t-1 into lif1 at t). Spikes agree exactly up to
float32 rounding at the threshold for snnspec, the hand-written steps, snnTorch and Norse.
Spyx's ``LIF`` has no exact counterpart: it fires on the previous step's potential
(s_t = H(V_{t-1} - thr)) and subtracts the threshold without decaying it (V_t = b V_{t-1} +
x_t - thr s_t), so its spikes are not compared (its weights carry the factor 1 - 0.9 as
snnTorch's, and its rates are shown). Surrogates are each one's default (snnspec and the
hand-written steps SuperSpike 1/(1+10|x|), Spyx SuperSpike 1/(1+25|x|)^2, snnTorch arctan,
Norse SuperSpike); they change no spike and cost the same elementwise work.

Design (separate environments, one honest comparison): Spyx and the PyTorch peers cannot share
snnspec's environment, so this driver starts one worker process per environment (snnspec's:
snnspec and the hand-written steps; Spyx's; the peers'), each with PYTHONPATH set to this
checkout. Workers build and warm up their variants (compile, one step), write their output
spikes for the check, then stay alive and time one step when the driver asks (a line on
stdin; the answer a line on stdout). Only one variant runs at any moment; the others' workers
wait on a pipe. Round r asks for every variant once in an order rotated by r, so the load of
other processes falls on all alike; every ratio is the median over rounds of the per-round
ratio (min/min beside it). A JAX step is timed from the call until its outputs are ready, on
the same parameters and optimizer state each time (the step's cost does not depend on them);
PyTorch steps update their weights in place as training does.

Epoch with data loading: the snnspec worker also runs a real ``snnspec train`` (the library
function the command calls, ``snnspec.training.loop.train``) on an npz file of the same
shape (512 training samples: 8 steps of 64), one epoch per round: the epoch's callback blocks
until the driver asks for the next epoch, so the epochs interleave with the other variants.
The epoch time is the run's own ``train_time_seconds`` in metrics.jsonl (indexing the host
arrays, the transfer, the steps, reading the loss); it is compared with 8 times the pure
snnspec step of the same round. Epoch 1 (compilation) is not counted.

Set-up of the two peer environments (not snnspec's own: neither PyTorch nor flax belongs in
it). The PyTorch peers' environment is peers.py's (its docstring has the commands):

    python3 -m venv .venv-peers
    .venv-peers/bin/pip install torch==2.13.0
    echo torch==2.13.0 > torch-pin.txt
    .venv-peers/bin/pip install -c torch-pin.txt snntorch nir nirtorch numpy
    .venv-peers/bin/pip install --no-deps norse
    .venv-peers/bin/pip install -c torch-pin.txt -e .

Spyx 1.0 needs flax nnx; it installs with snnspec's JAX pinned so that both share one JAX:

    python3 -m venv .venv-spyx
    echo jax==0.10.2 > jax-pin.txt
    .venv-spyx/bin/pip install -c jax-pin.txt spyx==1.0.0 flax==0.12.8 -e .
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from queue import Queue
from typing import Any

import numpy as np

from snnspec._allocator import ALLOCATORS, keep_freed_memory

ROOT = Path(__file__).resolve().parent.parent
BATCH, STEPS, N_IN, HIDDEN, N_OUT = 64, 100, 700, 256, 20
ALPHA, THRESHOLD = 0.9, 0.02  # bench.LIF's membrane decay and threshold (peers.py's box model)
LEARNING_RATE = 1e-3
EPOCH_STEPS = 8  # optimizer steps in one epoch of the data-loading measurement
TEST_SAMPLES = 64
NETWORKS = {
    "mlp": "SHD MLP 700-256-256-20",
    "recurrent": "recurrent SHD 700-256(recurrent)-20",
}
NEURON = {"type": "simple_lif", "decay_constants": [ALPHA], "threshold": THRESHOLD, "reset": "zero"}
TARGETS = {  # network -> wanted snnspec / hand step-major
    "mlp": 0.6,
    "recurrent": 0.85,
}
LAYER_MAJOR_MARGIN = 1.10  # snnspec within 10% of the hand-written layer-major step
PEER_TARGETS = {"Spyx": 1.0, "snnTorch": 5.0, "Norse": 4.0}  # wanted peer / snnspec
EPOCH_MARGIN = 1.10  # epoch with data within 10% of the pure step time
HAND = "JAX+optax, hand-written"


# --- the networks as snnspec specs ------------------------------------------------------------


def spec_dict(network: str, data: str | None = None) -> dict[str, Any]:
    """The spec of ``network``, with a `train:` section reading ``data`` (an npz path)."""
    if network == "mlp":
        layers: list[dict[str, Any]] = [
            {"type": "linear", "out_features": HIDDEN, "name": "fc1"},
            {**NEURON, "name": "lif1"},
            {"type": "linear", "out_features": HIDDEN, "name": "fc2"},
            {**NEURON, "name": "lif2"},
            {"type": "linear", "out_features": N_OUT, "name": "fc3"},
            {**NEURON, "name": "lif3"},
        ]
        output = "lif3"
    else:
        layers = [
            {"type": "linear", "out_features": HIDDEN, "name": "fc1"},
            {**NEURON, "name": "lif1", "combine": "sum", "inputs": ["fc1", "rec1"]},
            {"type": "linear", "out_features": HIDDEN, "name": "rec1", "inputs": ["lif1"]},
            {"type": "linear", "out_features": N_OUT, "name": "fc2", "inputs": ["lif1"]},
            {**NEURON, "name": "lif2"},
        ]
        layers[2]["use_bias"] = False  # a bias would reach lif1 at t=0 in one framework only
        output = "lif2"
    spec: dict[str, Any] = {
        "snnspec": 1,
        "name": f"train-step-{network}",
        "seed": 0,
        "inputs": [{"name": "x", "shape": [N_IN]}],
        "layers": layers,
        "outputs": [output],
    }
    if data is not None:
        spec["train"] = {
            "data": {
                "type": "npz",
                "path": data,
                "test_fraction": TEST_SAMPLES / (EPOCH_STEPS * BATCH + TEST_SAMPLES),
            },
            "loss": {"type": "cross_entropy", "readout": "spike_count"},
            "optimizer": {"type": "adam", "learning_rate": LEARNING_RATE},
            "batch_size": BATCH,
            "epochs": 1,
        }
    return spec


def linear_names(network: str) -> tuple[str, ...]:
    return ("fc1", "fc2", "fc3") if network == "mlp" else ("fc1", "rec1", "fc2")


def make_shared(folder: Path) -> dict[str, Any]:
    """Write the weights (snnspec's init), the timed batch and the epoch's npz into ``folder``."""
    import snnspec

    arrays: dict[str, Any] = {}
    for network in NETWORKS:
        model = snnspec.compile(snnspec.ModelSpec.model_validate(spec_dict(network)))
        for name in linear_names(network):
            layer = model.layers[model.plan.layer_names.index(name)]
            arrays[f"{network}.{name}.w"] = np.asarray(layer.weight)
            bias = layer.bias if layer.bias is not None else np.zeros(layer.weight.shape[0])
            arrays[f"{network}.{name}.b"] = np.asarray(bias, np.float32)
    rng = np.random.default_rng(0)
    arrays["xs"] = (rng.random((BATCH, STEPS, N_IN)) < 0.03).astype(np.float32)
    arrays["labels"] = rng.integers(0, N_OUT, BATCH).astype(np.int32)
    np.savez(folder / "shared.npz", **arrays)
    samples = EPOCH_STEPS * BATCH + TEST_SAMPLES
    np.savez(
        folder / "data.npz",
        inputs=(rng.random((samples, STEPS, N_IN)) < 0.03).astype(np.float32),
        labels=np.arange(samples) % N_OUT,
    )
    return arrays


# --- variants (in the workers) ----------------------------------------------------------------


@dataclass
class Variant:
    """One framework's step for one network, warmed up: ``run`` times one step."""

    network: str
    framework: str
    execution: str
    run: Callable[[], float]
    spikes: np.ndarray | None  # (B, T, n_out) of the initial weights; None: not compared
    rate: float  # output spikes per neuron per step
    warmup_s: float
    times: list[float] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.network}/{self.framework}/{self.execution}"


def jax_timer(step: Callable[[], Any]) -> Callable[[], float]:
    import jax

    def run() -> float:
        start = time.perf_counter()
        jax.block_until_ready(step())
        return time.perf_counter() - start

    return run


def _weights(shared: Any, network: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        n: (shared[f"{network}.{n}.w"], shared[f"{network}.{n}.b"]) for n in linear_names(network)
    }


def snnspec_variant(network: str, shared: Any, data: Path) -> tuple[Variant, Any]:
    """``snnspec train``'s own jitted step, from the Task the training loop builds."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    import snnspec
    from snnspec.model.model import simulate_batch
    from snnspec.training.data import load_data
    from snnspec.training.loop import Task

    spec = snnspec.ModelSpec.model_validate(spec_dict(network, str(data)))
    model = snnspec.compile(spec)  # the loop's initial model (seed 0): the shared weights
    task = Task(spec, model, load_data(spec, data.parent))
    params, opt_state = task.params, task.optimizer.init(task.params)
    xs, labels = jnp.asarray(shared["xs"]), jnp.asarray(shared["labels"])
    key = task.step_key(1, 0)
    start = time.perf_counter()
    jax.block_until_ready(task.train_step(params, opt_state, xs, labels, key))
    warmup = time.perf_counter() - start
    forward = eqx.filter_jit(lambda m, x: simulate_batch(m, (x,), None, 0)[0])
    spikes = np.asarray(forward(task.model(params).with_outputs([task.readout]), xs))
    variant = Variant(
        network,
        "snnspec",
        f"train step ({model.execution.name})",
        jax_timer(lambda: task.train_step(params, opt_state, xs, labels, key)),
        spikes,
        float(spikes.mean()),
        warmup,
    )
    return variant, spec


def box_neuron(p: dict[str, Any], v: Any, x: Any) -> tuple[Any, Any]:
    """snnspec's ``simple_lif`` with zero reset, written out: (v, x) -> (v after reset, s)."""
    import bench  # benchmarks/bench.py: its SuperSpike spike function
    import jax
    import jax.numpy as jnp

    alpha = jnp.clip(p["decay"][0], 0.5, 1.0)
    v = alpha * v + (1.0 - alpha) * x
    s = bench.spike(v - jax.lax.stop_gradient(p["threshold"]))
    return v - jax.lax.stop_gradient(v * s), s


def hand_params(network: str, shared: Any) -> dict[str, Any]:
    """The arrays snnspec trains: linears (W, b; rec1 has no b) and neurons (decay, threshold)."""
    import jax.numpy as jnp

    params: dict[str, Any] = {}
    for name, (w, b) in _weights(shared, network).items():
        params[name] = {"w": jnp.asarray(w)} | ({} if name == "rec1" else {"b": jnp.asarray(b)})
    neurons = (HIDDEN, HIDDEN, N_OUT) if network == "mlp" else (HIDDEN, N_OUT)
    for k, n in enumerate(neurons, 1):
        params[f"lif{k}"] = {
            "decay": jnp.full((1, n), ALPHA, jnp.float32),
            "threshold": jnp.full((n,), THRESHOLD, jnp.float32),
        }
    return params


def step_major(network: str, params: dict[str, Any], xs: Any) -> Any:
    """(B, T, n_in) -> output spikes (B, T, n_out): one scan over time, the layers inside."""
    import jax
    import jax.numpy as jnp

    def dense(name: str, h: Any) -> Any:
        p = params[name]
        return h @ p["w"].T + p["b"] if "b" in p else h @ p["w"].T

    neurons = [k for k in params if k.startswith("lif")]
    sizes = [params[k]["threshold"].shape[0] for k in neurons]
    batch = xs.shape[0]
    zeros = tuple(jnp.zeros((batch, n), xs.dtype) for n in sizes)

    def body(carry: Any, x: Any) -> Any:
        if network == "mlp":
            v1, v2, v3 = carry
            v1, s1 = box_neuron(params["lif1"], v1, dense("fc1", x))
            v2, s2 = box_neuron(params["lif2"], v2, dense("fc2", s1))
            v3, s3 = box_neuron(params["lif3"], v3, dense("fc3", s2))
            return (v1, v2, v3), s3
        (v1, v2), s1 = carry
        v1, s1 = box_neuron(params["lif1"], v1, dense("fc1", x) + dense("rec1", s1))
        v2, s2 = box_neuron(params["lif2"], v2, dense("fc2", s1))
        return ((v1, v2), s1), s2

    init = zeros if network == "mlp" else (zeros, zeros[0])
    _, out = jax.lax.scan(body, init, jnp.swapaxes(xs, 0, 1))
    return jnp.swapaxes(out, 0, 1)


def layer_major(network: str, params: dict[str, Any], xs: Any) -> Any:
    """The same, layer-major: each linear on the (T*B, n) block, one scan per neuron layer;
    in the recurrent net only the recurrent product stays inside lif1's scan."""
    import jax
    import jax.numpy as jnp

    def dense(name: str, h: Any) -> Any:  # (T, B, n) as one (T*B, n) product
        t, b, n = h.shape
        y = h.reshape(t * b, n) @ params[name]["w"].T + params[name]["b"]
        return y.reshape(t, b, -1)

    def neuron(name: str, currents: Any, recurrent: str | None = None) -> Any:
        p = params[name]
        zeros = jnp.zeros(currents.shape[1:], currents.dtype)

        def body(carry: Any, x: Any) -> Any:
            v, s = carry
            if recurrent is not None:
                x = x + s @ params[recurrent]["w"].T
            v, s = box_neuron(p, v, x)
            return (v, s), s

        return jax.lax.scan(body, (zeros, zeros), currents)[1]

    h = jnp.swapaxes(xs, 0, 1)
    if network == "mlp":
        s1 = neuron("lif1", dense("fc1", h))
        s2 = neuron("lif2", dense("fc2", s1))
        out = neuron("lif3", dense("fc3", s2))
    else:
        s1 = neuron("lif1", dense("fc1", h), recurrent="rec1")
        out = neuron("lif2", dense("fc2", s1))
    return jnp.swapaxes(out, 0, 1)


def optax_variant(
    network: str,
    framework: str,
    execution: str,
    forward: Callable[[Any, Any], Any],
    params: Any,
    shared: Any,
    compare: bool = True,
) -> Variant:
    """A jitted optax Adam step of ``forward(params, xs)`` under bench.py's loss."""
    import bench
    import jax
    import jax.numpy as jnp
    import optax

    optimizer = optax.adam(LEARNING_RATE)
    opt_state = optimizer.init(params)
    xs, labels = jnp.asarray(shared["xs"]), jnp.asarray(shared["labels"])

    def loss(params: Any) -> Any:
        return bench.loss_of(forward(params, xs), labels, "ce")

    @jax.jit
    def step(params: Any, opt_state: Any) -> Any:
        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    start = time.perf_counter()
    jax.block_until_ready(step(params, opt_state))
    warmup = time.perf_counter() - start
    spikes = np.asarray(jax.jit(forward)(params, xs))
    return Variant(
        network,
        framework,
        execution,
        jax_timer(lambda: step(params, opt_state)),
        spikes if compare else None,
        float(spikes.mean()),
        warmup,
    )


def jax_variants(
    shared: Any, folder: Path, networks: list[str], hand: bool = True
) -> tuple[list[Variant], dict[str, Any]]:
    """snnspec's steps of ``networks`` (and the specs of their epochs), and unless not
    ``hand`` the hand-written steps."""
    variants, specs = [], {}
    for network in networks:
        variant, specs[network] = snnspec_variant(network, shared, folder / "data.npz")
        variants.append(variant)
        if not hand:
            continue
        params = hand_params(network, shared)
        for execution, fn in (("step-major", step_major), ("layer-major", layer_major)):
            forward = partial(fn, network)
            variants.append(optax_variant(network, HAND, execution, forward, params, shared))
    return variants, specs


def spyx_variants(shared: Any, networks: list[str]) -> list[Variant]:
    """Spyx 1.0: step-major (spyx.nn.run of a Sequential) and layer-major, per network."""
    import jax.numpy as jnp
    import spyx  # pyright: ignore[reportMissingImports]
    from flax import nnx  # pyright: ignore[reportMissingImports]

    scale = np.float32(1.0 - ALPHA)  # spyx's LIF adds x unscaled, as snnTorch's Leaky does

    def linear(w: np.ndarray, b: np.ndarray | None, rngs: Any) -> Any:
        layer = nnx.Linear(w.shape[1], w.shape[0], use_bias=b is not None, rngs=rngs)
        layer.kernel[...] = jnp.asarray((w * scale).T)
        if b is not None:
            layer.bias[...] = jnp.asarray(b * scale)
        return layer

    def lif(n: int, rngs: Any) -> Any:
        return spyx.nn.LIF((n,), beta=ALPHA, threshold=THRESHOLD, rngs=rngs)

    def build(network: str) -> tuple[list[Any], Any]:
        """(linears, neurons) with the shared weights; the recurrent neuron is spyx's RLIF."""
        rngs = nnx.Rngs(0)
        weights = _weights(shared, network)
        if network == "mlp":
            linears = [linear(*weights[n], rngs) for n in ("fc1", "fc2", "fc3")]
            neurons = [lif(HIDDEN, rngs), lif(HIDDEN, rngs), lif(N_OUT, rngs)]
        else:
            linears = [linear(*weights[n], rngs) for n in ("fc1", "fc2")]
            recurrent = spyx.nn.RLIF((HIDDEN,), beta=ALPHA, threshold=THRESHOLD, rngs=rngs)
            recurrent.recurrent_w[...] = jnp.asarray((weights["rec1"][0] * scale).T)
            neurons = [recurrent, lif(N_OUT, rngs)]
        return linears, neurons

    class StepMajor(nnx.Module):
        def __init__(self, network: str) -> None:
            linears, neurons = build(network)
            layers = [m for pair in zip(linears, neurons, strict=True) for m in pair]
            self.net = spyx.nn.Sequential(*layers)

        def __call__(self, xs: Any) -> Any:
            return spyx.nn.run(self.net, xs, batch_major=True)[0]

    class LayerMajor(nnx.Module):
        def __init__(self, network: str) -> None:
            self.linears, self.neurons = (nnx.List(m) for m in build(network))

        def __call__(self, xs: Any) -> Any:
            h = jnp.swapaxes(xs, 0, 1)
            for linear, neuron in zip(self.linears, self.neurons, strict=True):
                h = spyx.nn.run(neuron, linear(h))[0]
            return jnp.swapaxes(h, 0, 1)

    variants = []
    for network in networks:
        for execution, cls in (("step-major", StepMajor), ("layer-major", LayerMajor)):
            graphdef, params = nnx.split(cls(network))
            forward = partial(apply_split, graphdef)
            variants.append(
                optax_variant(network, "Spyx", execution, forward, params, shared, compare=False)
            )
    return variants


def apply_split(graphdef: Any, params: Any, xs: Any) -> Any:
    """A flax nnx module split into (graphdef, state), applied as a pure function."""
    from flax import nnx  # pyright: ignore[reportMissingImports]

    return nnx.merge(graphdef, params)(xs)


def torch_variants(shared: Any, threads: list[int], networks: list[str]) -> list[Variant]:
    """snnTorch Leaky and Norse LIFBoxCell (peers.py's box mapping), step and layer loop."""
    import peers  # benchmarks/peers.py: the mapped neurons
    import torch  # pyright: ignore[reportMissingImports]

    x = torch.from_numpy(np.ascontiguousarray(shared["xs"].transpose(1, 0, 2)))  # (T, B, n)
    y = torch.from_numpy(shared["labels"]).long()

    def network_of(network: str, framework: str) -> tuple[dict[str, Any], list[Any]]:
        _, factory, scale = peers.PEERS[framework, "box"]
        linears = {}
        for name, (w, b) in _weights(shared, network).items():
            layer = torch.nn.Linear(w.shape[1], w.shape[0], bias=name != "rec1")
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(w * np.float32(scale)))
                if name != "rec1":
                    layer.bias.copy_(torch.from_numpy(b * np.float32(scale)))
            linears[name] = layer
        steps = [factory() for _ in range(3 if network == "mlp" else 2)]
        return linears, steps

    def step_loop(network: str, linears: dict[str, Any], steps: list[Any]) -> Any:
        states: list[Any] = [None] * len(steps)
        s1, outputs = None, []
        for t in range(x.shape[0]):
            h = linears["fc1"](x[t])
            if network == "recurrent" and s1 is not None:
                h = h + linears["rec1"](s1)
            s1, states[0] = steps[0](h, states[0])
            h = s1
            for k, name in enumerate(("fc2", "fc3") if network == "mlp" else ("fc2",), 1):
                h, states[k] = steps[k](linears[name](h), states[k])
            outputs.append(h)
        return torch.stack(outputs, dim=1)

    def layer_loop(network: str, linears: dict[str, Any], steps: list[Any]) -> Any:
        h = x
        names = ("fc1", "fc2", "fc3") if network == "mlp" else ("fc1", "fc2")
        for k, name in enumerate(names):
            currents = linears[name](h)
            state, s, spikes = None, None, []
            for t in range(currents.shape[0]):
                c = currents[t]
                if network == "recurrent" and k == 0 and s is not None:
                    c = c + linears["rec1"](s)
                s, state = steps[k](c, state)
                spikes.append(s)
            h = torch.stack(spikes)
        return h.transpose(0, 1)

    variants = []
    for network in networks:
        for framework in ("snnTorch", "Norse"):
            for count in threads:
                for form, loop in (("step loop", step_loop), ("layer loop", layer_loop)):
                    torch.set_num_threads(count)
                    linears, steps = network_of(network, framework)
                    parameters = [p for m in linears.values() for p in m.parameters()]
                    optimizer = torch.optim.Adam(parameters, lr=LEARNING_RATE)

                    def forward(network=network, linears=linears, steps=steps, loop=loop) -> Any:
                        return loop(network, linears, steps)

                    def run(forward=forward, optimizer=optimizer, count=count) -> float:
                        torch.set_num_threads(count)  # outside the timed part
                        start = time.perf_counter()
                        optimizer.zero_grad(set_to_none=True)
                        loss = torch.nn.functional.cross_entropy(forward().sum(dim=1), y)
                        loss.backward()
                        optimizer.step()
                        return time.perf_counter() - start

                    with torch.no_grad():
                        spikes = forward().numpy()
                    start = time.perf_counter()
                    run()
                    variants.append(
                        Variant(
                            network,
                            framework,
                            f"{form}, {count} thr",
                            run,
                            spikes,
                            float(spikes.mean()),
                            time.perf_counter() - start,
                        )
                    )
    return variants


class EpochRun:
    """A real ``snnspec train`` run in a thread, one epoch per :meth:`next` call.

    Its epoch callback hands the epoch's record over and then waits until the next epoch is
    wanted, so the epochs interleave with the other variants' steps (the waiting is outside
    ``train_time_seconds``, which covers only the epoch's batches).
    """

    def __init__(self, spec: Any, folder: Path, epochs: int) -> None:
        from snnspec.training.loop import train

        spec = spec.model_copy(update={"train": spec.train.model_copy(update={"epochs": epochs})})
        self.epochs = epochs
        self.go: Queue[bool] = Queue()
        self.records: Queue[dict[str, Any]] = Queue()

        def callback(epoch: int, record: dict[str, Any]) -> None:
            self.records.put(record)
            if epoch < epochs:
                self.go.get()

        self.thread = threading.Thread(
            target=train,
            args=(spec, folder),
            kwargs={"progress": False, "echo": lambda _: None, "callbacks": [callback]},
            daemon=True,
        )
        self.thread.start()
        self.records.get()  # epoch 1: compilation

    def next(self) -> float:
        self.go.put(True)
        return float(self.records.get()["train_time_seconds"])


# --- the worker process -----------------------------------------------------------------------


def worker(
    kind: str, folder: Path, threads: list[int], rounds: int, networks: list[str], hand: bool
) -> None:
    """Build ``kind``'s variants, report them, then answer the driver's commands."""
    shared = np.load(folder / "shared.npz")
    epochs: dict[str, EpochRun] = {}
    if kind == "jax":
        variants, specs = jax_variants(shared, folder, networks, hand)
        for network, spec in specs.items():
            epochs[network] = EpochRun(spec, folder / f"run-{network}", rounds + 1)
    elif kind == "spyx":
        variants = spyx_variants(shared, networks)
    else:
        variants = torch_variants(shared, threads, networks)
    described = []
    for k, v in enumerate(variants):
        path = None
        if v.spikes is not None:
            path = str(folder / f"spikes-{kind}-{k}.npy")
            np.save(path, v.spikes)
        described.append(
            {
                "key": v.key,
                "network": v.network,
                "framework": v.framework,
                "execution": v.execution,
                "spikes": path,
                "rate": v.rate,
                "warmup_s": v.warmup_s,
            }
        )
    print(json.dumps({"variants": described, "versions": versions(kind)}), flush=True)
    by_key = {v.key: v for v in variants}
    for line in sys.stdin:
        command, _, what = line.strip().partition(" ")
        if command == "step":
            answer: Any = by_key[what].run()
        elif command == "epoch":
            answer = epochs[what].next()
        else:
            break
        print(json.dumps(answer), flush=True)
    for epoch_run in epochs.values():  # the runs' last epochs finish on their own
        epoch_run.thread.join()


def versions(kind: str) -> dict[str, str]:
    from importlib import metadata

    names = {
        "jax": ("jax", "jaxlib", "equinox", "optax", "snnspec"),
        "spyx": ("spyx", "flax", "jax", "optax"),
        "torch": ("torch", "snntorch", "norse"),
    }[kind]
    label = {"jax": "", "spyx": " (Spyx env)", "torch": ""}[kind]
    return {f"{name}{label}": metadata.version(name) for name in names}


# --- the driver -------------------------------------------------------------------------------


class Worker:
    def __init__(self, kind: str, python: str, folder: Path, args: argparse.Namespace) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [
            python,
            str(Path(__file__).resolve()),
            "--worker",
            kind,
            "--folder",
            str(folder),
            "--rounds",
            str(args.rounds),
            "--torch-threads",
            args.torch_threads,
            "--networks",
            args.networks,
            "--allocator",
            args.allocator,
            *(["--epoch-only"] if args.epoch_only else []),
        ]
        self.kind = kind
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.kind} worker stopped (exit {self.process.wait()})")
        return json.loads(line)

    def ask(self, command: str) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        self.process.wait()


def run(args: argparse.Namespace) -> dict[str, Any]:
    import bench

    env = bench.environment(rounds=args.rounds, rounds_d=0)
    del env["rounds_d"]
    env["allocator"] = args.allocator
    with tempfile.TemporaryDirectory(prefix="snnspec-train-step-") as tmp:
        folder = Path(tmp)
        make_shared(folder)
        pythons = {"jax": sys.executable, "spyx": args.spyx_python, "torch": args.peers_python}
        networks = args.networks.split(",")
        if args.epoch_only:
            pythons = {"jax": sys.executable}
        workers, variants = {}, []
        for kind, python in pythons.items():
            if kind not in args.frameworks.split(","):
                continue  # one at a time: compilation is not timed
            workers[kind] = worker_process = Worker(kind, python, folder, args)
            ready = worker_process.read()
            env.update(ready["versions"])
            for v in ready["variants"]:
                v["worker"], v["times"] = kind, []
                if v["spikes"] is not None:
                    v["spikes"] = np.load(v["spikes"])
                variants.append(v)
                print(f"  ready: {v['key']} (warm-up {v['warmup_s']:.1f} s)", flush=True)
        epochs = {network: [] for network in networks}
        jobs = [("step", v) for v in variants] + [("epoch", n) for n in networks]
        for r in range(args.rounds):
            for k in range(len(jobs)):
                what, item = jobs[(r + k) % len(jobs)]
                if what == "step":
                    item["times"].append(workers[item["worker"]].ask(f"step {item['key']}"))
                else:
                    epochs[item].append(workers["jax"].ask(f"epoch {item}"))
            print(f"  round {r + 1}/{args.rounds}, load {os.getloadavg()[0]:.2f}", flush=True)
        for w in workers.values():
            w.close()
    env["load_end"] = tuple(round(x, 2) for x in os.getloadavg())
    return {"environment": env, "variants": variants, "epochs": epochs, "networks": networks}


# --- report -----------------------------------------------------------------------------------


def ratio(times: list[float], base: list[float]) -> tuple[float, float]:
    """(median over rounds of times / base in the same round, min / min)."""
    per_round = statistics.median(t / b for t, b in zip(times, base, strict=True))
    return per_round, min(times) / min(base)


def _ms(times: list[float]) -> str:
    return f"{1e3 * statistics.median(times):.1f} ({1e3 * min(times):.1f})"


def _pair(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.2f} ({pair[1]:.2f})"


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


NOT_VERSIONS = (
    "machine",
    "cpus",
    "platform",
    "load_start",
    "load_end",
    "rounds",
    "glibc_tunables",
    "allocator",
)


def report(results: dict[str, Any]) -> str:
    import bench

    env, variants = results["environment"], results["variants"]
    ours = {v["network"]: v for v in variants if v["framework"] == "snnspec"}
    shown_versions = ", ".join(f"{k} {v}" for k, v in env.items() if k not in NOT_VERSIONS)
    lines = [
        "# Training step: snnspec, hand-written JAX+optax, Spyx, snnTorch and Norse",
        "",
        "Generated by `python benchmarks/train_step.py` (its docstring has the design, the set-up",
        "of the Spyx and PyTorch environments and the equation mapping). One full optimizer step",
        f"(forward, surrogate backward, Adam update) at B={BATCH}, T={STEPS}, Bernoulli(0.03)",
        "input, cross-entropy on the output spike counts, float32 on the CPU, box-model neurons",
        f"(snnspec `simple_lif`, decay {ALPHA}, threshold {THRESHOLD}); every framework on the",
        "same weights and data, each environment in its own worker process, rounds interleaved",
        "across them. Times in ms, median (min). `/ snnspec`: the variant's time over snnspec's",
        "train step, median over rounds of the per-round ratio (min / min); above 1, snnspec is",
        "faster.",
        "",
        f"- machine: {env['machine']}, {env['cpus']} CPUs, {env['platform']}",
        f"- versions: {shown_versions}",
        bench.load_line(env),
        f"- {env['rounds']} rounds, each timing every variant's step once and one `snnspec train`"
        " epoch per network (order rotated by one each round), after warm-up (JAX: compiled and"
        " run once; PyTorch: run once)",
        "- allocator, in every worker (JAX, Spyx and PyTorch alike): "
        + ALLOCATORS[env["allocator"]]
        + f"; glibc malloc tunables (`GLIBC_TUNABLES`): {env['glibc_tunables'] or 'none'}",
        "",
    ]
    networks = {n: NETWORKS[n] for n in results["networks"]}
    for network, title in networks.items():
        base = ours[network]["times"]
        lines += [
            f"## {title}",
            "",
            "| framework | execution | step ms | / snnspec | output spike rate "
            "| spike mismatches |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for v in (v for v in variants if v["network"] == network):
            if v["spikes"] is None:
                wrong = "not compared (no exact map)"
            else:
                reference = ours[network]["spikes"]
                wrong = f"{int(np.sum(v['spikes'] != reference))} / {reference.size:,}"
            lines.append(
                f"| {v['framework']} | {v['execution']} | {_ms(v['times'])} | "
                f"{_pair(ratio(v['times'], base))} | {v['rate']:.3f} | {wrong} |"
            )
        lines.append("")
    lines += ["## Targets (issue 19)", ""]
    for network, title in networks.items():
        mine = ours[network]["times"]

        hand = {
            v["execution"]: v
            for v in variants
            if v["network"] == network and v["framework"] == HAND
        }
        step = ratio(mine, hand["step-major"]["times"])
        layer = ratio(mine, hand["layer-major"]["times"])
        lines += [
            f"- {title}: snnspec / hand step-major {_pair(step)}, target <= {TARGETS[network]}:"
            f" {_met(step[0] <= TARGETS[network])}",
            f"- {title}: snnspec / hand layer-major {_pair(layer)}, target <= "
            f"{LAYER_MAJOR_MARGIN:.2f}: {_met(layer[0] <= LAYER_MAJOR_MARGIN)}",
        ]
        for framework, target in PEER_TARGETS.items():
            peer = [v for v in variants if v["network"] == network and v["framework"] == framework]
            if not peer:  # its worker was left out (--frameworks)
                continue
            best = min(peer, key=lambda v: ratio(v["times"], mine)[0])
            speedup = ratio(best["times"], mine)
            lines.append(
                f"- {title}: {framework} best ({best['execution']}) / snnspec {_pair(speedup)},"
                f" target >= {target:g}: {_met(speedup[0] >= target)}"
            )
        lines.append(epoch_line(results, network))
    warmups = ", ".join(f"{v['key']} {v['warmup_s']:.1f} s" for v in variants)
    lines += [
        "",
        "## Notes",
        "",
        "- snnspec's step is `Task.train_step` of snnspec/training/loop.py, the jitted function"
        " `snnspec train` runs, built by the same `Task`; it trains every float array (weights,"
        " biases, decay constants; thresholds have a stopped gradient), and so do the"
        " hand-written steps and Spyx (its `beta`). PyTorch trains the linear layers.",
        "- spike mismatches: output spikes (B x T x n_out) of the initial weights differing from"
        " snnspec's. Float32 products summed in another order can move a potential across the"
        " threshold (snnspec's H(0) = 1 against the peers' strict v > thr), and a flipped spike"
        " changes what follows it. Spyx's LIF fires on the previous step's potential and"
        " subtracts an undecayed threshold: no exact map, so its spikes are not compared.",
        "- The epoch is a real `snnspec train` run (`snnspec.training.loop.train`) on an npz"
        f" file of {EPOCH_STEPS * BATCH} training samples of the same shape; its time is the"
        " run's own `train_time_seconds` (batch indexing on the host, transfer, steps, reading"
        " the loss), against the pure step of the same round (device-resident inputs) times"
        f" {EPOCH_STEPS}. Epoch 1 (compilation) is not counted, nor are the checkpoint and"
        " metrics written after each epoch (outside `train_time_seconds`).",
        "- PyTorch runs eagerly (no `torch.compile`), as the libraries' tutorials do, with the"
        f" thread counts {torch_threads(variants)}; Spyx and the hand-written steps are"
        " `jax.jit`-ed pure functions.",
        f"- warm-up (JAX: compile and one step; PyTorch: one step): {warmups}.",
    ]
    return "\n".join(lines) + "\n"


def epoch_line(results: dict[str, Any], network: str) -> str:
    """The target line of ``network``'s epoch with data loading against its pure steps."""
    mine = next(
        v["times"]
        for v in results["variants"]
        if v["network"] == network and v["framework"] == "snnspec"
    )
    epoch = results["epochs"][network]
    overhead = ratio(epoch, [EPOCH_STEPS * t for t in mine])
    return (
        f"- {NETWORKS[network]}: `snnspec train` epoch with data loading ({EPOCH_STEPS} steps,"
        f" median {1e3 * statistics.median(epoch):.0f} ms) / {EPOCH_STEPS} x pure step"
        f" {_pair(overhead)}, target <= {EPOCH_MARGIN:.2f}: {_met(overhead[0] <= EPOCH_MARGIN)}"
    )


def epoch_report(results: dict[str, Any]) -> str:
    """``--epoch-only``'s lines: the load and each network's epoch line."""
    env = results["environment"]
    lines = [
        f"load average (1, 5, 15 min) at start: {env['load_start']}, at end: {env['load_end']};"
        f" {env['rounds']} rounds",
        *(epoch_line(results, network) for network in results["networks"]),
    ]
    return "\n".join(lines) + "\n"


def torch_threads(variants: list[dict[str, Any]]) -> str:
    counts = {v["execution"].rsplit(", ", 1)[1] for v in variants if ", " in v["execution"]}
    return " and ".join(sorted(counts)) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="timing rounds")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--spyx-python", default=str(ROOT / ".venv-spyx" / "bin" / "python"))
    parser.add_argument("--peers-python", default=str(ROOT / ".venv-peers" / "bin" / "python"))
    parser.add_argument(
        "--torch-threads", default="1,2", help="PyTorch thread counts, comma-separated (e.g. 1,2)"
    )
    parser.add_argument(
        "--networks", default=",".join(NETWORKS), help="networks to time, comma-separated"
    )
    parser.add_argument(
        "--frameworks",
        default="jax,spyx,torch",
        help="worker environments to run, comma-separated (jax always: snnspec is the base)",
    )
    parser.add_argument(
        "--epoch-only",
        action="store_true",
        help="only the epoch with data loading against snnspec's step; prints, never writes",
    )
    parser.add_argument(
        "--allocator",
        choices=sorted(ALLOCATORS),
        default="cli",
        help="every worker keeps freed heap memory as the command line does (cli), or glibc's "
        "default",
    )
    parser.add_argument("--worker", choices=("jax", "spyx", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    networks, frameworks = args.networks.split(","), args.frameworks.split(",")
    if unknown := sorted(set(networks) - set(NETWORKS)):
        parser.error(f"--networks: unknown {', '.join(unknown)}; choose from {', '.join(NETWORKS)}")
    if unknown := sorted(set(frameworks) - {"jax", "spyx", "torch"}):
        parser.error(f"--frameworks: unknown {', '.join(unknown)}; choose from jax, spyx, torch")
    if "jax" not in frameworks:
        parser.error("--frameworks must include jax (snnspec's step is what every ratio divides)")
    if args.worker:
        if args.allocator == "cli" and not keep_freed_memory():  # before JAX or PyTorch start
            parser.error("--allocator cli needs Linux with glibc and no glibc.malloc tunable set")
        threads = [int(t) for t in args.torch_threads.split(",")]
        worker(args.worker, args.folder, threads, args.rounds, networks, not args.epoch_only)
        return
    if args.epoch_only:
        print(epoch_report(run(args)), end="")
        return
    narrowed = set(networks) != set(NETWORKS) or len(set(frameworks)) < 3
    if narrowed and not args.no_write:
        parser.error(
            "--networks/--frameworks narrow the run: add --no-write (TRAINING.md is whole)"
        )
    text = report(run(args))
    print(text)
    if not args.no_write:
        (ROOT / "benchmarks" / "TRAINING.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
