"""snnspec against a hand-written step-major JAX model (SNNAX's style), same weights.

Usage (from the repository root; writes benchmarks/RESULTS.md unless --no-write):

    python benchmarks/bench.py                  # workloads a-d, compile/validate, remat memory
    python benchmarks/bench.py --workloads a,d --rounds 5 --skip-extras --no-write

Workloads (float32, CPU):
  a  SHD-like MLP 700-256-256-20 of LIF, B=32, T=100, Bernoulli(0.03) input,
     cross-entropy on the output layer's spike counts
  b  a with a self-recurrent linear on each hidden layer (lif_k reads rec_k@t-1, summed)
  c  a with a feedback linear from hidden 2 to hidden 1 (lif1 reads fb@t-1, summed)
  d  Linear(N, N) + LIF, B=16, T=500, N=2048 (the Open Neuromorphic benchmark shape);
     loss: mean spike count

Each workload is timed for snnspec ``auto`` and ``stepwise`` and a hand-written step-major
model (one ``lax.scan`` over time whose body walks the layers, vmapped over the batch, as
SNNAX does), and for the graphs without a cycle (a, d) a hand-written layer-major model too
(each linear on the whole (T*B, N) block, then one plain ``lax.scan`` per neuron layer, the
same maths), all on the same weights; the forward spikes are checked to agree. After
compilation every program runs in interleaved rounds (a 2048^3 float32 GEMM, then each
variant's forward and forward+backward), so a shared machine's changing load hits all of them
alike; ratios are medians of per-round ratios. Memory is XLA's compiled ``memory_analysis()``
(arguments + outputs + temporaries). GFLOP/s counts the matrix products only (see
``matmul_flops``), and % GEMM divides it by the GEMM's rate in the same round.
``--allocator cli`` (the default) keeps freed heap memory in the process, as the ``snnspec``
command line does (``snnspec/_allocator.py``); ``--allocator default`` keeps glibc's, as a
program that imports snnspec has it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import snnspec
from snnspec._allocator import ALLOCATORS, keep_freed_memory
from snnspec.model.model import simulate_batch

ROOT = Path(__file__).resolve().parent.parent
LIF = {"type": "lif", "decay_constants": [0.9, 0.8], "threshold": 0.02, "reset": "zero"}
"""Every neuron of the workloads. With the default linear init and Bernoulli(0.03) input this
threshold makes the layers fire at 3-30% per step (a threshold of 0.5 leaves them silent, and a
spike comparison between models vacuous)."""

# --- workloads as specs -----------------------------------------------------------------------


def mlp_spec(kind: str, sizes: tuple[int, ...] = (700, 256, 256, 20)) -> dict[str, Any]:
    """kind: "mlp" (a), "recurrent" (b), "feedback" (c)."""
    n_in, h1, h2, n_out = sizes
    layers: list[dict[str, Any]] = [{"type": "linear", "out_features": h1, "name": "fc1"}]
    lif1 = {"mlp": ["fc1"], "recurrent": ["fc1", "rec1"], "feedback": ["fc1", "fb"]}[kind]
    layers.append({**LIF, "name": "lif1", "combine": "sum", "inputs": lif1})
    if kind == "recurrent":
        layers.append({"type": "linear", "out_features": h1, "name": "rec1", "inputs": ["lif1"]})
    layers.append({"type": "linear", "out_features": h2, "name": "fc2", "inputs": ["lif1"]})
    lif2 = ["fc2", "rec2"] if kind == "recurrent" else ["fc2"]
    layers.append({**LIF, "name": "lif2", "combine": "sum", "inputs": lif2})
    if kind == "recurrent":
        layers.append({"type": "linear", "out_features": h2, "name": "rec2", "inputs": ["lif2"]})
    if kind == "feedback":
        layers.append({"type": "linear", "out_features": h1, "name": "fb", "inputs": ["lif2"]})
    layers.append({"type": "linear", "out_features": n_out, "name": "fc3", "inputs": ["lif2"]})
    layers.append({**LIF, "name": "lif3"})
    return _spec(f"shd-{kind}", layers, n_in, ["lif3"])


def dense_spec(n: int) -> dict[str, Any]:
    layers = [{"type": "linear", "out_features": n, "name": "fc"}, {**LIF, "name": "lif"}]
    return _spec("onb-dense", layers, n, ["lif"])


def _spec(name: str, layers: list[dict[str, Any]], n_in: int, outputs: list[str]) -> dict:
    return {
        "snnspec": 1,
        "name": name,
        "inputs": [{"name": "x", "shape": [n_in]}],
        "layers": layers,
        "outputs": outputs,
    }


WORKLOADS: dict[str, dict[str, Any]] = {
    "a": {"spec": lambda: mlp_spec("mlp"), "batch": 32, "steps": 100, "loss": "ce"},
    "b": {"spec": lambda: mlp_spec("recurrent"), "batch": 32, "steps": 100, "loss": "ce"},
    "c": {"spec": lambda: mlp_spec("feedback"), "batch": 32, "steps": 100, "loss": "ce"},
    "d": {"spec": lambda: dense_spec(2048), "batch": 16, "steps": 500, "loss": "rate"},
}
DESCRIPTIONS = {
    "a": "SHD MLP 700-256-256-20, B=32, T=100",
    "b": "a + self-recurrent hidden layers",
    "c": "a + feedback hidden 2 -> hidden 1",
    "d": "Linear(2048,2048)+LIF, B=16, T=500",
}

# --- the hand-written step-major model ---------------------------------------------------------


@jax.custom_jvp
def spike(x: jax.Array) -> jax.Array:
    return (x >= 0).astype(x.dtype)


@spike.defjvp
def _spike_jvp(primals: Any, tangents: Any) -> Any:
    (x,), (dx,) = primals, tangents
    return spike(x), dx / (1.0 + 10.0 * jnp.abs(x))


def handwritten_params(model: Any) -> dict[str, Any]:
    """The compiled model's arrays by layer name: linear (W, b), LIF (decays, threshold)."""
    params = {}
    for name, layer in zip(model.plan.layer_names, model.layers, strict=True):
        if hasattr(layer, "weight"):
            params[name] = {"w": layer.weight, "b": layer.bias}
        else:
            params[name] = {"decay": layer.decay_constants, "threshold": layer.threshold}
    return params


def lif_step(p: dict[str, Any], state: tuple, x: jax.Array) -> tuple[tuple, jax.Array]:
    """snnspec's ``lif`` (reset zero, stopped reset gradient), written out."""
    v, i, s = state
    alpha = jnp.clip(p["decay"][0], 0.5, 1.0)
    beta = jnp.clip(p["decay"][1], 0.5, 1.0)
    v = v - jax.lax.stop_gradient(v * s)
    v = alpha * v + (1.0 - alpha) * i
    i = beta * i + (1.0 - beta) * x
    s = spike(v - jax.lax.stop_gradient(p["threshold"]))
    return (v, i, s), s


def dense(p: dict[str, Any], x: jax.Array) -> jax.Array:
    return p["w"] @ x + p["b"]


def handwritten_forward(kind: str, params: dict[str, Any], xs: jax.Array) -> jax.Array:
    """One sample (T, n_in) -> output spikes (T, n_out): one scan, the layers in its body."""
    if kind == "dense":
        n = params["fc"]["w"].shape[0]
        zeros = jnp.zeros(n, xs.dtype)

        def step(carry: Any, x: jax.Array) -> Any:
            return lif_step(params["lif"], carry, dense(params["fc"], x))

        _, out = jax.lax.scan(step, (zeros, zeros, zeros), xs)
        return out
    h1, h2 = params["fc1"]["w"].shape[0], params["fc2"]["w"].shape[0]
    n_out = params["fc3"]["w"].shape[0]

    def rest(n: int) -> tuple:
        zeros = jnp.zeros(n, xs.dtype)
        return (zeros, zeros, zeros)

    def step(carry: Any, x: jax.Array) -> Any:
        l1, l2, l3 = carry
        a1 = dense(params["fc1"], x)
        if kind == "recurrent":
            a1 = a1 + dense(params["rec1"], l1[2])
        elif kind == "feedback":
            a1 = a1 + dense(params["fb"], l2[2])
        l1, s1 = lif_step(params["lif1"], l1, a1)
        a2 = dense(params["fc2"], s1)
        if kind == "recurrent":
            a2 = a2 + dense(params["rec2"], l2[2])
        l2, s2 = lif_step(params["lif2"], l2, a2)
        l3, s3 = lif_step(params["lif3"], l3, dense(params["fc3"], s2))
        return (l1, l2, l3), s3

    _, out = jax.lax.scan(step, (rest(h1), rest(h2), rest(n_out)), xs)
    return out


def handwritten_layer_major(
    kind: str, params: dict[str, Any], xs: jax.Array, neuron: Any = None
) -> jax.Array:
    """A batch (B, T, n_in) -> output spikes (B, T, n_out), layer-major: each linear on the
    whole (T*B, n) block at once, then one plain ``lax.scan`` over time per neuron layer (the
    same maths as :func:`handwritten_forward`; only the MLP (a) and the dense (d) workloads,
    whose graphs have no cycle through a linear). ``neuron`` replaces that scan: a function
    (LIF parameters, currents (T, B, n)) -> spikes (T, B, n)."""
    steps, batch = xs.shape[1], xs.shape[0]

    def linear(p: dict[str, Any], x: jax.Array) -> jax.Array:
        y = x.reshape(steps * batch, -1) @ p["w"].T + p["b"]
        return y.reshape(steps, batch, -1)

    def scan(p: dict[str, Any], currents: jax.Array) -> jax.Array:
        zeros = jnp.zeros(currents.shape[1:], currents.dtype)
        _, out = jax.lax.scan(lambda c, x: lif_step(p, c, x), (zeros, zeros, zeros), currents)
        return out

    h = jnp.swapaxes(xs, 0, 1)
    mlp = (("fc1", "lif1"), ("fc2", "lif2"), ("fc3", "lif3"))
    layers = (("fc", "lif"),) if kind == "dense" else mlp
    for fc, lif in layers:
        h = (neuron or scan)(params[lif], linear(params[fc], h))
    return jnp.swapaxes(h, 0, 1)


def spike_of_current(p: dict[str, Any], currents: jax.Array) -> jax.Array:
    """No neuron state: a stateless spike of the current, for a layer-major model with the
    same matrix products and no time scan ("GEMMs only")."""
    return spike(currents - jax.lax.stop_gradient(p["threshold"]))


# --- losses and timing -------------------------------------------------------------------------


def loss_of(spikes: jax.Array, labels: jax.Array, loss: str) -> jax.Array:
    """spikes (B, T, n_out): cross-entropy of the spike counts, or the mean rate."""
    if loss == "rate":
        return jnp.mean(spikes)
    logits = jnp.sum(spikes, axis=1)
    log_p = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def median_time(fn: Any, *args: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        times.append(timed(fn, *args))
    return statistics.median(times)


def timed(fn: Any, *args: Any) -> float:
    """Wall time of one call, waiting for the result."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def memory_bytes(compiled: Any) -> int | None:
    try:
        m = compiled.memory_analysis()
        return int(
            m.argument_size_in_bytes
            + m.output_size_in_bytes
            + m.temp_size_in_bytes
            - m.alias_size_in_bytes
        )
    except Exception:  # not every backend reports it
        return None


def compiled(fn: Any, args: tuple) -> tuple[Any, float]:
    """``fn`` jitted and compiled for ``args``, run once (warm-up); and the compile time."""
    start = time.perf_counter()
    program = jax.jit(fn).lower(*args).compile()
    seconds = time.perf_counter() - start
    jax.block_until_ready(program(*args))
    return program, seconds


def matmul_flops(model: Any, batch: int, steps: int) -> dict[str, float]:
    """Flops of the matrix products: forward 2·B·T·in·out per linear layer; backward the same
    again for the weight gradient and once more for the input gradient, which a layer that
    reads only the external input does not need."""
    forward = backward = 0
    for layer, sources in zip(model.layers, model.plan.sources, strict=True):
        if hasattr(layer, "weight"):
            product = 2 * layer.weight.size * batch * steps
            forward += product
            needs_input_gradient = any(s.kind == "layer" for s in sources)
            backward += product * (2 if needs_input_gradient else 1)
    return {"fwd": float(forward), "fwdbwd": float(forward + backward)}


GEMM_N = 2048


def gemm_program() -> tuple[Any, tuple, float]:
    """A float32 GEMM_N^3 matrix product (compiled), its arguments and its flop count."""
    a = jax.random.normal(jax.random.PRNGKey(0), (GEMM_N, GEMM_N), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (GEMM_N, GEMM_N), jnp.float32)
    program, _ = compiled(lambda a, b: a @ b, (a, b))
    return program, (a, b), 2.0 * GEMM_N**3


def workload(name: str, batch: int | None = None) -> tuple[Any, jax.Array, jax.Array, str]:
    """Workload ``name``'s compiled model, input batch (B, T, n_in), labels and graph kind
    ("mlp", "recurrent", "feedback", "dense"); ``batch`` overrides its batch size."""
    info = WORKLOADS[name]
    spec = snnspec.ModelSpec.model_validate(info["spec"]())
    model = snnspec.compile(spec)
    size: int = info["batch"] if batch is None else batch
    n_in = spec.inputs[0].shape[0]
    rng = np.random.default_rng(0)
    xs = jnp.asarray((rng.random((size, info["steps"], n_in)) < 0.03).astype(np.float32))
    n_out = model.plan.layer_output_shapes[model.plan.final_layer_ids[0]][0]
    labels = jnp.asarray(rng.integers(0, n_out, size))
    kind = {"a": "mlp", "b": "recurrent", "c": "feedback", "d": "dense"}[name]
    return model, xs, labels, kind


def variants(model: Any, kind: str, loss: str) -> dict[str, tuple[Any, Any, Any]]:
    """Every timed model of a workload by label: (its parameters, its forward
    ``(params, xs) -> output spikes``, ``jax.value_and_grad`` of its loss
    ``(params, xs, labels)``), all on ``model``'s weights."""

    def snn_variant(schedule: str) -> tuple[Any, Any, Any]:
        m = model.with_schedule(schedule)
        params, static = eqx.partition(m, eqx.is_inexact_array)

        def fwd(params: Any, xs: jax.Array) -> jax.Array:
            return simulate_batch(eqx.combine(params, static), (xs,), None, 0)[0]

        def loss_fn(params: Any, xs: jax.Array, labels: jax.Array) -> jax.Array:
            return loss_of(fwd(params, xs), labels, loss)

        return params, fwd, jax.value_and_grad(loss_fn)

    def hand_variant(layer_major: bool = False) -> tuple[Any, Any, Any]:
        params = handwritten_params(model)

        def fwd(params: Any, xs: jax.Array) -> jax.Array:
            if layer_major:
                return handwritten_layer_major(kind, params, xs)
            return jax.vmap(lambda x: handwritten_forward(kind, params, x))(xs)

        def loss_fn(params: Any, xs: jax.Array, labels: jax.Array) -> jax.Array:
            return loss_of(fwd(params, xs), labels, loss)

        return params, fwd, jax.value_and_grad(loss_fn)

    return {
        BASELINE: hand_variant(),
        **({LAYER_MAJOR: hand_variant(layer_major=True)} if kind in ("mlp", "dense") else {}),
        "snnspec stepwise": snn_variant("stepwise"),
        "snnspec auto": snn_variant("auto"),
    }


def run_workload(name: str, rounds: int) -> dict[str, Any]:
    """Compile every variant, then time them in interleaved rounds.

    Round r runs the GEMM reference and each variant's forward and forward+backward once, so
    all of them see the same machine load; a variant's ratio is the median over rounds of its
    time divided by the hand-written model's time in the same round, and its share of the
    GEMM peak the median of (its flop rate / the GEMM's flop rate) in the same round.
    """
    info = WORKLOADS[name]
    model, xs, labels, kind = workload(name)
    batch, steps = xs.shape[0], xs.shape[1]
    timed_models = variants(model, kind, info["loss"])
    programs: dict[str, dict[str, Any]] = {}
    rows: dict[str, Any] = {}
    spikes: dict[str, np.ndarray] = {}
    for label, (params, fwd, grad) in timed_models.items():
        forward, _ = compiled(fwd, (params, xs))
        backward, compile_s = compiled(grad, (params, xs, labels))
        programs[label] = {
            "fwd": (forward, (params, xs)),
            "fwdbwd": (backward, (params, xs, labels)),
        }
        spikes[label] = np.asarray(forward(params, xs))
        rows[label] = {"compile_fwdbwd_s": compile_s, "memory_fwdbwd": memory_bytes(backward)}
    gemm, gemm_args, gemm_flops = gemm_program()
    flops = matmul_flops(model, batch, steps)
    times: dict[str, dict[str, list[float]]] = {
        label: {"fwd": [], "fwdbwd": []} for label in timed_models
    }
    gemm_times = []
    for _ in range(rounds):
        gemm_times.append(timed(gemm, *gemm_args))
        for label, by_pass in programs.items():
            for which, (program, args) in by_pass.items():
                times[label][which].append(timed(program, *args))
    for label, row in rows.items():
        for which in ("fwd", "fwdbwd"):
            mine, base = times[label][which], times[BASELINE][which]
            row[f"{which}_s"] = statistics.median(mine)
            row[f"{which}_ratio"] = statistics.median(
                m / b for m, b in zip(mine, base, strict=True)
            )
        row["gemm_share_fwdbwd"] = statistics.median(
            (flops["fwdbwd"] / t) / (gemm_flops / g)
            for t, g in zip(times[label]["fwdbwd"], gemm_times, strict=True)
        )
        row["gflops_fwdbwd"] = flops["fwdbwd"] / row["fwdbwd_s"] / 1e9
        if LAYER_MAJOR in rows:
            row["layer_major_ratio_fwd"] = statistics.median(
                m / b for m, b in zip(times[label]["fwd"], times[LAYER_MAJOR]["fwd"], strict=True)
            )
            row["layer_major_ratio_fwdbwd"] = statistics.median(
                m / b
                for m, b in zip(times[label]["fwdbwd"], times[LAYER_MAJOR]["fwdbwd"], strict=True)
            )
        row["spike_mismatches"] = int(np.sum(spikes[label] != spikes[BASELINE]))
        row["spike_rate"] = float(np.mean(spikes[label]))
        print(f"  {name} {label}: {row}", flush=True)
    rows["gemm_gflops"] = gemm_flops / statistics.median(gemm_times) / 1e9
    rows["rounds"] = rounds
    rows["schedule"] = model.execution.name
    return rows


BASELINE = "handwritten step-major"
LAYER_MAJOR = "handwritten layer-major"


# --- compile time of a 20-layer graph, validate time ------------------------------------------


def compile_20_layers() -> dict[str, float]:
    layers = []
    for k in range(10):
        layers.append({"type": "linear", "out_features": 128, "name": f"fc{k}"})
        layers.append({**LIF, "name": f"lif{k}"})
    spec = snnspec.ModelSpec.model_validate(_spec("deep20", layers, 64, ["lif9"]))
    start = time.perf_counter()
    model = snnspec.compile(spec)
    build_s = time.perf_counter() - start
    params, static = eqx.partition(model, eqx.is_inexact_array)
    xs = jnp.zeros((8, 50, 64), jnp.float32)

    def loss(params: Any, xs: jax.Array) -> jax.Array:
        out = simulate_batch(eqx.combine(params, static), (xs,), None, 0)[0]
        return jnp.mean(out)

    start = time.perf_counter()
    jax.jit(lambda p, x: loss(p, x)).lower(params, xs).compile()
    fwd_s = time.perf_counter() - start
    start = time.perf_counter()
    jax.jit(jax.value_and_grad(loss)).lower(params, xs).compile()
    grad_s = time.perf_counter() - start
    return {"build_s": build_s, "compile_fwd_s": fwd_s, "compile_fwdbwd_s": grad_s}


def validate_time(repeats: int = 15) -> dict[str, Any]:
    """Wall time of ``snnspec validate -q`` on the shipped recurrent example, a fresh process
    each time. One untimed run first writes the bytecode caches, as any installed package
    has after its first use (PYTHONDONTWRITEBYTECODE is cleared for the runs)."""
    config = ROOT / "configs" / "shd_recurrent.yaml"
    command = [sys.executable, "-m", "snnspec", "validate", "-q", str(config)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(command, check=True, env=env)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env)
        times.append(time.perf_counter() - start)
    return {
        "validate_s": statistics.median(times),
        "validate_min_s": min(times),
        "repeats": repeats,
        "config": config.name,
    }


# --- report ------------------------------------------------------------------------------------


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:,.0f}"


def report(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python benchmarks/bench.py` (and `benchmarks/remat_memory.py` for the",
        "remat section). Everything in one run on the machine below; ratios are against the",
        "hand-written step-major JAX model measured in the same run (lower is better).",
        "",
        f"- machine: {env['machine']}, {env['cpus']} CPUs, {env['platform']}",
        f"- versions: python {env['python']}, jax {env['jax']}, jaxlib {env['jaxlib']}, "
        f"equinox {env['equinox']}, snnspec {env['snnspec']}",
        load_line(env),
        f"- allocator: {ALLOCATORS[env.get('allocator', 'default')]}; glibc malloc tunables"
        f" (`GLIBC_TUNABLES`): {env.get('glibc_tunables') or 'none'}"
        ' (see docs/performance.md, "Where the time of (a) goes")',
        f"- rounds: {env['rounds']} per workload ({env['rounds_d']} for d); each round times the"
        f" GEMM reference and every variant once, interleaved, so all see the same load",
        f"- float32 GEMM {GEMM_N}^3 in the same rounds (median): "
        + ", ".join(
            f"{name} {rows['gemm_gflops']:.1f} GFLOP/s"
            for name, rows in results["workloads"].items()
        ),
        "",
        "## Workloads",
        "",
        "Ratios and % GEMM are medians over rounds of the per-round ratio (time / hand-written"
        " step-major time in the same round, or / hand-written layer-major time for the"
        " layer-major columns; flop rate / GEMM flop rate in the same round). Times are"
        " medians. The layer-major hand model exists for the graphs without a cycle (a, d).",
        "",
        "| workload | model | fwd ms | fwd ratio | fwd+bwd ms | fwd+bwd ratio | "
        "fwd / layer-major | fwd+bwd / layer-major | GFLOP/s "
        "| % GEMM | compile s | memory MiB | output spike rate | spike mismatches |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows in results["workloads"].items():
        for label in (BASELINE, LAYER_MAJOR, "snnspec stepwise", "snnspec auto"):
            if label not in rows:
                continue
            r = rows[label]
            shown = label + (f" ({rows['schedule']})" if label == "snnspec auto" else "")
            to_layer = (
                f"{r['layer_major_ratio_fwd']:.2f} | {r['layer_major_ratio_fwdbwd']:.2f}"
                if "layer_major_ratio_fwd" in r
                else "n/a | n/a"
            )
            lines.append(
                f"| {name}: {DESCRIPTIONS[name]} | {shown} | {1e3 * r['fwd_s']:.1f} | "
                f"{r['fwd_ratio']:.2f} | {1e3 * r['fwdbwd_s']:.1f} | {r['fwdbwd_ratio']:.2f} | "
                f"{to_layer} | "
                f"{r['gflops_fwdbwd']:.1f} | {100 * r['gemm_share_fwdbwd']:.0f}% | "
                f"{r['compile_fwdbwd_s']:.2f} | {_mib(r['memory_fwdbwd'])} | "
                f"{r['spike_rate']:.3f} | {r['spike_mismatches']} |"
            )
    if "compile20" in results:
        c = results["compile20"]
        lines += [
            "",
            "## Compile and validate times",
            "",
            "20-layer graph (10 x linear(128) + lif, B=8, T=50): "
            f"`snnspec.compile` {c['build_s']:.2f} s, XLA compile of the forward "
            f"{c['compile_fwd_s']:.2f} s, of forward+backward {c['compile_fwdbwd_s']:.2f} s.",
        ]
    if "validate" in results:
        v = results["validate"]
        lines.append(
            f"`snnspec validate -q configs/{v['config']}` (a fresh process each time, "
            f"{v['repeats']} runs): median {v['validate_s']:.2f} s, fastest "
            f"{v['validate_min_s']:.2f} s."
        )
    remat = ROOT / "benchmarks" / "remat_results.md"
    if remat.exists():
        lines += ["", remat.read_text(encoding="utf-8").strip()]
    lines += [
        "",
        "## Notes",
        "",
        "- fwd+bwd is `jax.value_and_grad` of the loss with respect to every float parameter.",
        "- memory is XLA's `memory_analysis()` of the compiled fwd+bwd (arguments + outputs +",
        "  temporaries), not a measured RSS.",
        "- spike mismatches: output spikes (B x T x n_out) differing from the hand-written model;",
        "  float32 matrix products summed in another order may flip a spike at the threshold.",
        "- GFLOP/s counts the matrix products only: 2·B·T·in·out per linear layer forward, the",
        "  same for its weight gradient, and again for its input gradient unless it reads only",
        "  the external input (which needs none).",
        "- snnTorch and Norse: `benchmarks/peers.py`, in a separate environment with PyTorch;",
        "  its results are in `benchmarks/PEERS.md`.",
    ]
    return "\n".join(lines) + "\n"


def load_line(env: dict[str, Any]) -> str:
    """The report's load line: the 1-minute load average against the CPU count."""
    line = f"- load average (1, 5, 15 min) at start: {env['load_start']}, at end: {env['load_end']}"
    if max(env["load_start"][0], env["load_end"][0]) > env["cpus"]:
        return line + (
            f" (above {env['cpus']}: other processes shared the cores, so the absolute times are"
            " inflated and noisy; the per-round ratios are what this measures)"
        )
    return line + f" (below {env['cpus']}: the cores were not shared)"


def environment(rounds: int, rounds_d: int) -> dict[str, Any]:
    from importlib import metadata

    return {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{p: metadata.version(p) for p in ("jax", "jaxlib", "equinox", "snnspec")},
        "load_start": tuple(round(x, 2) for x in os.getloadavg()),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "rounds": rounds,
        "rounds_d": rounds_d,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--workloads", default="a,b,c,d")
    parser.add_argument("--rounds", type=int, default=30, help="timing rounds per workload")
    parser.add_argument("--rounds-d", type=int, default=5, help="timing rounds for workload d")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--skip-extras", action="store_true", help="no compile/validate times")
    parser.add_argument("--report-only", action="store_true", help="rewrite from results.json")
    parser.add_argument(
        "--allocator",
        choices=sorted(ALLOCATORS),
        default="cli",
        help="keep freed heap memory as the command line does (cli), or glibc's default",
    )
    args = parser.parse_args()
    if args.report_only:
        saved = json.loads((ROOT / "benchmarks" / "results.json").read_text(encoding="utf-8"))
        (ROOT / "benchmarks" / "RESULTS.md").write_text(report(saved), encoding="utf-8")
        return
    if args.allocator == "cli" and not keep_freed_memory():  # before JAX starts its threads
        parser.error("--allocator cli needs Linux with glibc and no glibc.malloc tunable set")
    results: dict[str, Any] = {"environment": environment(args.rounds, args.rounds_d)}
    results["environment"]["allocator"] = args.allocator
    results["workloads"] = {}
    for name in args.workloads.split(","):
        rounds = args.rounds_d if name == "d" else args.rounds
        results["workloads"][name] = run_workload(name, rounds)
    if not args.skip_extras:
        results["compile20"] = compile_20_layers()
        results["validate"] = validate_time()
    results["environment"]["load_end"] = tuple(round(x, 2) for x in os.getloadavg())
    text = report(results)
    print(text)
    if not args.no_write:
        out = ROOT / "benchmarks"
        (out / "RESULTS.md").write_text(text, encoding="utf-8")
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
