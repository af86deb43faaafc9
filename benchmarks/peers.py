"""snnspec against snnTorch and Norse on workload (a) of bench.py, same weights, same spikes.

Usage (from the repository root, in the peers' environment; writes benchmarks/PEERS.md unless
--no-write; 2 to 10 minutes on 2 cores, depending on their load):

    .venv-peers/bin/python benchmarks/peers.py [--repeats 10] [--no-write]

Set-up: the peers need PyTorch, which must not go into snnspec's own environment (nor CI's), so
they live in a separate virtual environment that holds snnspec too, so that one process times
JAX and PyTorch in the same run. ``torch==2.13.0`` exactly (a CPU wheel; plain ``torch`` or an
open range would fetch a multi-GB CUDA build) goes in first and a constraint keeps it pinned;
Norse goes in without its ``torchvision`` dependency, which it only uses for its data sets:

    python3 -m venv .venv-peers
    .venv-peers/bin/pip install torch==2.13.0
    echo torch==2.13.0 > torch-pin.txt
    .venv-peers/bin/pip install -c torch-pin.txt snntorch nir nirtorch numpy
    .venv-peers/bin/pip install --no-deps norse
    .venv-peers/bin/pip install -c torch-pin.txt -e .

SNNAX (for ``tests/test_snnax_compat.py``'s peer tests and to regenerate its goldens with
``tests/snnax_golden.py``) goes into the same environment in one command. The ``snnax`` 0.0.1
wheel on PyPI is broken (its ``snnax/snn/__init__.py`` imports a module the wheel lacks), so it
is installed from its source at the commit the goldens pin; it declares no dependencies but
imports ``chex``:

    .venv-peers/bin/pip install chex "snnax @ git+https://github.com/PGI15/snnax@b7a55c6352303786edd2ac983caa1f802bbe0cc5"

Then ``.venv-peers/bin/python -m pytest tests/test_snnax_compat.py tests/test_nir.py`` runs
the peer tests (elsewhere they are skipped, with the reason).

Workload (a) as bench.py builds it: MLP 700-256-256-20 of spiking neurons with bench.LIF's
decays and threshold, Equinox's default linear init (seed 0), B=32, T=100, Bernoulli(0.03) input,
cross-entropy on the output spike counts; float32 on the CPU. fwd is the forward pass; fwd+bwd
the loss and its gradient (JAX: ``jax.value_and_grad`` of every float array; PyTorch:
``loss.backward()`` into the linear layers). Each peer runs eagerly in two forms: ``step loop``
(the time loop outside, every layer inside, as the libraries' tutorials do) and ``layer loop``
(each linear on the whole (T, B, n) series at once, then the neuron stepped over time:
layer-major, like snnspec's ``auto``), each with ``torch.set_num_threads(os.cpu_count())`` and
with one thread: PyTorch's threads synchronise after every small operation, which on a loaded
machine can make two threads several times slower than one. The summary takes each peer's
fastest variant against snnspec. ``--allocator cli`` (the default) keeps freed heap memory in the
process, as the ``snnspec`` command line does (``snnspec/_allocator.py``); JAX and PyTorch run
in this one process, so both have it; ``--allocator default`` keeps glibc's.

Equation mapping, with a, b = bench.LIF's decay constants (membrane, synaptic), x = W·in + c:

- box model: snnspec ``simple_lif`` v' = a·v + (1-a)·x; s = H(v' - thr); v <- v' - sg(v'·s).
  snnTorch ``Leaky(beta=a, reset_mechanism="zero")`` computes v' = a·(1 - s_prev)·v + x', so its
  input x' = (1-a)·x: the factor (1-a) is folded into its linear weights and biases. Norse
  ``LIFBoxCell`` computes v' = v + dt·tau_mem_inv·((v_leak - v) + x) and resets to v_reset = 0:
  with tau_mem_inv = (1-a)/dt and v_leak = 0 this is a·v + (1-a)·x, the weights unscaled.
- current-based: snnspec ``lif`` (bench.py's neuron) integrates the previous step's current, so
  each layer's spikes come one step later than a peer's that integrates this step's current:
  snnTorch ``Synaptic`` (i' = b·i + x', v' = a·v + i', ``reset_delay=False`` so v' is zeroed
  right after its spike; the default, delayed zero reset drops the whole next step's
  integration, which no snnspec neuron does), x' = (1-a)(1-b)·x; Norse ``LIFCell`` (i_in = i +
  x', v' = v + dt·tau_mem_inv·(i_in - v), i <- (1 - dt·tau_syn_inv)·i_in, reset to 0), x' =
  (1-b)·x. Through three layers snnspec's output at step t is the peers' at t - 3, and that is
  what is compared. A bias would reach snnspec's lagged layers once more (through the zero
  spikes shown before the first step), so this model uses the same weights with zero biases;
  then the mapping is exact.

Spikes can differ only where float32 rounding (products summed in another order, a·v + (1-a)·x
against v + (1-a)·(x - v), snnspec's H(0) = 1 against the peers' strict v > thr) moves a
potential across the threshold; a flipped spike changes what follows it. The peers' surrogate
gradients are their defaults (snnTorch: arctan; Norse: SuperSpike); they do not change spikes.

Timing: every variant is warmed up (JAX: compiled and run once; PyTorch: run once), then
``--repeats`` rounds each run every variant's fwd and fwd+bwd once, in an order rotated by one
each round, so that load from other processes falls on all of them alike. Reported: medians and
minima, and ratios to snnspec ``auto`` of the same neuron model as the median over rounds of
the per-round ratio (as bench.py does), with min / min beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import bench  # benchmarks/bench.py: this script's folder is on sys.path when it runs
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import snnspec
from snnspec._allocator import ALLOCATORS, keep_freed_memory
from snnspec.model.model import simulate_batch

with warnings.catch_warnings():  # the peers' own imports warn (deprecated APIs)
    warnings.simplefilter("ignore")
    import norse.torch as norse  # pyright: ignore[reportMissingImports]
    import snntorch as snn  # pyright: ignore[reportMissingImports]
    import torch  # pyright: ignore[reportMissingImports]

ROOT = Path(__file__).resolve().parent.parent
BATCH, STEPS, N_IN, N_OUT = 32, 100, 700, 20
ALPHA, BETA = bench.LIF["decay_constants"]  # membrane and synaptic decay
THRESHOLD = bench.LIF["threshold"]
NORSE_DT = 1e-3  # Norse's default time step
LAYERS = ("fc1", "fc2", "fc3")
NEURONS = ("lif1", "lif2", "lif3")
MODELS = {  # what replaces bench.LIF in workload (a)'s spec
    "box": {"type": "simple_lif", "decay_constants": [ALPHA]},
    "current": {},  # bench.LIF itself: lif
}
SHIFT = {"box": 0, "current": len(NEURONS)}  # steps by which snnspec's output lags the peers'
TARGETS = {"snnTorch": 5.0, "Norse": 4.0}  # wanted fwd+bwd speed-up of snnspec auto

Weights = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass
class Variant:
    """One framework, neuron model and execution form, warmed up and ready to time."""

    framework: str
    neuron: str
    execution: str
    model: str  # a key of MODELS
    forward: Callable[[], Any]
    train: Callable[[], Any]
    spikes: np.ndarray  # (B, T, n_out) from the warm-up forward
    warmup_s: float
    threads: int | None = None  # PyTorch's intra-op threads (None: JAX)
    fwd_s: list[float] = field(default_factory=list)
    train_s: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        threads = "" if self.threads is None else f", {self.threads} thr"
        return f"{self.framework} {self.neuron} ({self.execution}{threads})"

    @property
    def is_baseline(self) -> bool:
        return self.framework == "snnspec" and self.execution.startswith("auto")

    def prepare(self) -> None:
        """Set PyTorch's thread count for this variant (outside the timed calls)."""
        if self.threads is not None:
            torch.set_num_threads(self.threads)


# --- snnspec -----------------------------------------------------------------------------------


def build_model(model: str, weights: Weights | None, outputs: tuple[str, ...] = ("lif3",)) -> Any:
    """Workload (a) (bench.mlp_spec) with the neurons of ``model`` and the given linear arrays."""
    spec = bench.mlp_spec("mlp", (N_IN, 256, 256, N_OUT))
    for layer in spec["layers"]:
        if layer["name"] in NEURONS:
            layer.update(MODELS[model])
    spec["outputs"] = list(outputs)
    compiled = snnspec.compile(snnspec.ModelSpec.model_validate(spec))
    for name, (w, b) in (weights or {}).items():
        i = compiled.plan.layer_names.index(name)
        compiled = eqx.tree_at(
            lambda m, i=i: (m.layers[i].weight, m.layers[i].bias),
            compiled,
            (jnp.asarray(w), jnp.asarray(b)),
        )
    return compiled


def make_weights() -> dict[str, Weights]:
    """Each model's linear arrays: bench.py's (the current-based model with zero biases)."""
    reference = build_model("current", None)
    box: Weights = {}
    for name in LAYERS:
        layer = reference.layers[reference.plan.layer_names.index(name)]
        box[name] = (np.asarray(layer.weight), np.asarray(layer.bias))
    current = {name: (w, np.zeros_like(b)) for name, (w, b) in box.items()}
    return {"box": box, "current": current}


def snnspec_variant(model: str, weights: Weights, schedule: str, xs: Any, labels: Any) -> Variant:
    compiled = build_model(model, weights).with_schedule(schedule)
    params, static = eqx.partition(compiled, eqx.is_inexact_array)

    def fwd(params: Any, xs: jax.Array) -> jax.Array:
        return simulate_batch(eqx.combine(params, static), (xs,), None, 0)[0]

    def loss(params: Any, xs: jax.Array, labels: jax.Array) -> jax.Array:
        return bench.loss_of(fwd(params, xs), labels, "ce")

    forward, fwd_s = bench.compiled(fwd, (params, xs))
    train, train_s = bench.compiled(jax.value_and_grad(loss), (params, xs, labels))
    name = f"auto ({compiled.execution.name})" if schedule == "auto" else schedule
    return Variant(
        framework="snnspec",
        neuron=MODELS[model].get("type", bench.LIF["type"]),
        execution=name,
        model=model,
        forward=lambda: forward(params, xs),
        train=lambda: train(params, xs, labels),
        spikes=np.asarray(forward(params, xs)),
        warmup_s=fwd_s + train_s,
    )


def spike_rates(model: str, weights: Weights, xs: Any) -> list[float]:
    """Spikes per neuron per step of each spiking layer (snnspec, same weights)."""
    probe = build_model(model, weights, NEURONS)
    outs = jax.jit(lambda m, x: simulate_batch(m, (x,), None, 0))(probe, xs)
    return [float(jnp.mean(o)) for o in outs]


# --- the peers ---------------------------------------------------------------------------------

# one layer's neurons: (input of one step, state or None at the start) -> (spikes, state)
Step = Callable[[Any, Any], tuple[Any, Any]]


def snntorch_leaky() -> Step:
    neuron = snn.Leaky(beta=ALPHA, threshold=THRESHOLD, reset_mechanism="zero")

    def step(x: Any, mem: Any) -> tuple[Any, Any]:  # the module keeps its last state: pass it
        return neuron(x, torch.zeros_like(x) if mem is None else mem)

    return step


def snntorch_synaptic() -> Step:
    neuron = snn.Synaptic(
        alpha=BETA, beta=ALPHA, threshold=THRESHOLD, reset_mechanism="zero", reset_delay=False
    )

    def step(x: Any, state: Any) -> tuple[Any, Any]:
        syn, mem = (torch.zeros_like(x), torch.zeros_like(x)) if state is None else state
        spikes, syn, mem = neuron(x, syn, mem)
        return spikes, (syn, mem)

    return step


def norse_lif_box() -> Step:
    p = norse.LIFBoxParameters(
        tau_mem_inv=torch.tensor((1.0 - ALPHA) / NORSE_DT), v_th=torch.tensor(THRESHOLD)
    )
    return norse.LIFBoxCell(p, dt=NORSE_DT)


def norse_lif() -> Step:
    p = norse.LIFParameters(
        tau_syn_inv=torch.tensor((1.0 - BETA) / NORSE_DT),
        tau_mem_inv=torch.tensor((1.0 - ALPHA) / NORSE_DT),
        v_th=torch.tensor(THRESHOLD),
    )
    return norse.LIFCell(p, dt=NORSE_DT)


# framework, model -> (neuron name, one layer's step factory, factor folded into the linears)
PEERS: dict[tuple[str, str], tuple[str, Callable[[], Step], float]] = {
    ("snnTorch", "box"): ("Leaky", snntorch_leaky, 1.0 - ALPHA),
    ("snnTorch", "current"): ("Synaptic", snntorch_synaptic, (1.0 - ALPHA) * (1.0 - BETA)),
    ("Norse", "box"): ("LIFBoxCell", norse_lif_box, 1.0),
    ("Norse", "current"): ("LIFCell", norse_lif, 1.0 - BETA),
}
# (PyTorch threads, execution form) of every peer variant: the machine's cores, then one thread
PEER_FORMS = [
    (threads, execution)
    for threads in dict.fromkeys((os.cpu_count() or 1, 1))
    for execution in ("step loop", "layer loop")
]


def torch_linears(weights: Weights, scale: float) -> list[Any]:
    layers = []
    for name in LAYERS:
        w, b = weights[name]
        linear = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w * np.float32(scale)))
            linear.bias.copy_(torch.from_numpy(b * np.float32(scale)))
        layers.append(linear)
    return layers


def step_loop(linears: list[Any], steps: list[Step], x: Any) -> Any:
    """x (T, B, n_in) -> spikes (B, T, n_out): the time loop outside, the layers inside."""
    states: list[Any] = [None] * len(linears)
    outputs = []
    for t in range(x.shape[0]):
        h = x[t]
        for k, (linear, step) in enumerate(zip(linears, steps, strict=True)):
            h, states[k] = step(linear(h), states[k])
        outputs.append(h)
    return torch.stack(outputs, dim=1)


def layer_loop(linears: list[Any], steps: list[Step], x: Any) -> Any:
    """The same, layer-major: each linear on the whole (T, B, n) series, then its neurons."""
    h = x
    for linear, step in zip(linears, steps, strict=True):
        currents = linear(h)
        state, spikes = None, []
        for t in range(currents.shape[0]):
            s, state = step(currents[t], state)
            spikes.append(s)
        h = torch.stack(spikes)
    return h.transpose(0, 1)


def peer_variant(
    framework: str,
    model: str,
    form: tuple[int, str],
    weights: Weights,
    xs: np.ndarray,
    labels: np.ndarray,
) -> Variant:
    threads, execution = form
    torch.set_num_threads(threads)
    neuron, factory, scale = PEERS[framework, model]
    linears = torch_linears(weights, scale)
    steps = [factory() for _ in linears]
    run = {"step loop": step_loop, "layer loop": layer_loop}[execution]
    x = torch.from_numpy(np.ascontiguousarray(xs.transpose(1, 0, 2)))  # (T, B, n_in)
    y = torch.from_numpy(labels).long()
    parameters = [p for linear in linears for p in linear.parameters()]

    def forward() -> Any:
        with torch.no_grad():
            return run(linears, steps, x)

    def train() -> Any:
        for p in parameters:
            p.grad = None
        loss = torch.nn.functional.cross_entropy(run(linears, steps, x).sum(dim=1), y)
        loss.backward()
        return loss

    start = time.perf_counter()
    spikes = forward().numpy()
    train()
    warmup_s = time.perf_counter() - start
    return Variant(framework, neuron, execution, model, forward, train, spikes, warmup_s, threads)


# --- the run -----------------------------------------------------------------------------------


def mismatches(variant: Variant, reference: Variant) -> tuple[int, int]:
    """Output spikes differing from snnspec auto's (a peer shifted by the model's lag)."""
    shift = 0 if variant.framework == "snnspec" else SHIFT[variant.model]
    ours = reference.spikes[:, shift:]
    theirs = variant.spikes[:, : STEPS - shift]
    return int(np.sum(ours != theirs)), ours.size


def time_rounds(variants: list[Variant], repeats: int) -> None:
    """Round r runs every variant's fwd and fwd+bwd once, starting at variant r (rotated)."""
    for r in range(repeats):
        for k in range(len(variants)):
            v = variants[(r + k) % len(variants)]
            v.prepare()
            v.fwd_s.append(bench.timed(v.forward))
            v.train_s.append(bench.timed(v.train))
        print(f"  round {r + 1}/{repeats}, load {os.getloadavg()[0]:.2f}", flush=True)


def run(repeats: int) -> dict[str, Any]:
    env = bench.environment(rounds=repeats, rounds_d=0)  # machine, JAX's versions, load
    del env["rounds_d"]
    env.update({p: metadata.version(p) for p in ("torch", "snntorch", "norse")})
    torch.manual_seed(0)
    rng = np.random.default_rng(0)  # bench.run_workload's draws
    xs = (rng.random((BATCH, STEPS, N_IN)) < 0.03).astype(np.float32)
    labels = rng.integers(0, N_OUT, BATCH)
    weights = make_weights()
    variants: list[Variant] = []
    rates = {}
    for model in MODELS:
        rates[model] = spike_rates(model, weights[model], jnp.asarray(xs))
        for schedule in ("auto", "stepwise"):
            variants.append(
                snnspec_variant(
                    model, weights[model], schedule, jnp.asarray(xs), jnp.asarray(labels)
                )
            )
            print(f"  ready: {variants[-1].label}", flush=True)
        for framework in TARGETS:
            for form in PEER_FORMS:
                variants.append(peer_variant(framework, model, form, weights[model], xs, labels))
                print(f"  ready: {variants[-1].label}", flush=True)
    time_rounds(variants, repeats)
    env["load_end"] = tuple(round(x, 2) for x in os.getloadavg())
    return {"environment": env, "variants": variants, "rates": rates}


# --- report ------------------------------------------------------------------------------------


def ratios(times: list[float], base: list[float]) -> tuple[float, float]:
    """(median over rounds of times / base in the same round, min / min)."""
    per_round = statistics.median(t / b for t, b in zip(times, base, strict=True))
    return per_round, min(times) / min(base)


def _ms(times: list[float]) -> str:
    return f"{1e3 * statistics.median(times):.1f} ({1e3 * min(times):.1f})"


def _shown(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.2f} ({pair[1]:.2f})"


def report(results: dict[str, Any]) -> str:
    env, variants = results["environment"], results["variants"]
    base = {v.model: v for v in variants if v.is_baseline}
    threads = " and ".join(str(t) for t in dict.fromkeys(t for t, _ in PEER_FORMS))
    lines = [
        "# snnspec, snnTorch and Norse",
        "",
        "Generated by `python benchmarks/peers.py`, run in the peers' virtual environment (its",
        "docstring has the set-up and the equation mapping). Workload (a) of bench.py: MLP",
        f"700-256-256-20 of spiking neurons, B={BATCH}, T={STEPS}, Bernoulli(0.03) input,",
        "cross-entropy on the output spike counts, float32 on the CPU; every framework on the",
        "same weights (bench.py's). Times in ms, median (min). Ratios: a variant's time over",
        "snnspec `auto`'s for the same neuron model, median over rounds of the per-round ratio",
        "(min / min); above 1, snnspec is faster.",
        "",
        f"- machine: {env['machine']}, {env['cpus']} CPUs, {env['platform']}",
        f"- versions: python {env['python']}, jax {env['jax']}, jaxlib {env['jaxlib']}, "
        f"equinox {env['equinox']}, snnspec {env['snnspec']}, torch {env['torch']}, "
        f"snntorch {env['snntorch']}, norse {env['norse']}",
        bench.load_line(env),
        f"- {env['rounds']} rounds, each running every variant's fwd and fwd+bwd once (rotated"
        " order), after warm-up (JAX: compiled and run once; PyTorch: run once); PyTorch with"
        f" {threads} threads",
        f"- neurons: decays {ALPHA} (membrane), {BETA} (synaptic), threshold {THRESHOLD}",
        f"- allocator (this one process, JAX and PyTorch alike): "
        f"{ALLOCATORS[env.get('allocator', 'default')]}",
    ]
    for model, rates in results["rates"].items():
        shown = ", ".join(f"{name} {rate:.3f}" for name, rate in zip(NEURONS, rates, strict=True))
        lines.append(f"- spike rates (per neuron per step), {model} model: {shown}")
    lines += [
        "",
        "| framework | neuron | execution | torch threads | fwd ms | fwd+bwd ms | fwd ratio "
        "| fwd+bwd ratio | spike mismatches |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v in variants:
        ref = base[v.model]
        wrong, total = mismatches(v, ref)
        lines.append(
            f"| {v.framework} | {v.neuron} | {v.execution} | {v.threads or '-'} | "
            f"{_ms(v.fwd_s)} | {_ms(v.train_s)} | {_shown(ratios(v.fwd_s, ref.fwd_s))} | "
            f"{_shown(ratios(v.train_s, ref.train_s))} | {wrong} / {total:,} |"
        )
    lines += [
        "",
        "## Summary",
        "",
        "snnspec `auto` against each peer's fastest variant (form and threads chosen per pass:",
        "the lowest ratio); ratios are medians over rounds of per-round ratios:",
        "",
    ]
    for model in MODELS:
        for framework, target in TARGETS.items():
            peer = [v for v in variants if v.framework == framework and v.model == model]
            ref = base[model]
            fwd = min(peer, key=lambda v: ratios(v.fwd_s, ref.fwd_s))
            train = min(peer, key=lambda v: ratios(v.train_s, ref.train_s))
            fwd_ratio, train_ratio = (
                ratios(fwd.fwd_s, ref.fwd_s),
                ratios(train.train_s, ref.train_s),
            )
            met = "met" if train_ratio[0] >= target else "not met"
            lines.append(
                f"- {model} model, {framework} {train.neuron}: fwd {fwd_ratio[0]:.2f}x "
                f"(min/min {fwd_ratio[1]:.2f}x; {fwd.execution}, {fwd.threads} thr), fwd+bwd "
                f"{train_ratio[0]:.2f}x (min/min {train_ratio[1]:.2f}x; {train.execution}, "
                f"{train.threads} thr); target {target:g}x on fwd+bwd: {met}"
            )
    warmups = ", ".join(f"{v.label} {v.warmup_s:.1f} s" for v in variants)
    lines += [
        "",
        "## Notes",
        "",
        "- spike mismatches: output spikes (B x T x n_out) differing from snnspec `auto`'s for"
        " the same model; for the current-based model snnspec's steps 3..T-1 against the peers'"
        " 0..T-4 (snnspec's `lif` integrates the previous step's current: one step per layer)."
        " Float32 rounding can move a potential across the threshold, and a flipped spike"
        " changes what follows it.",
        "- current-based model: zero biases (with a bias, snnspec's lagged layers would see it"
        " once more before the first spike arrives, and the mapping would not be exact).",
        "- fwd+bwd: JAX differentiates every float array (weights, biases, decay constants,"
        " thresholds with a stopped gradient), PyTorch the linear weights and biases. Surrogates:"
        " snnspec SuperSpike, snnTorch arctan, Norse SuperSpike (each one's default).",
        "- PyTorch runs eagerly (no `torch.compile`), as the libraries' tutorials do. Its"
        " threads synchronise after every small operation: under load, two threads can be"
        " several times slower than one, hence both. JAX uses XLA's default CPU threading.",
        f"- warm-up (JAX: compile and one run of fwd and fwd+bwd; PyTorch: one run of each):"
        f" {warmups}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repeats", "--rounds", type=int, default=10, help="timing rounds")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--allocator",
        choices=sorted(ALLOCATORS),
        default="cli",
        help="keep freed heap memory as the command line does (cli), or glibc's default; "
        "one process: JAX and PyTorch alike",
    )
    args = parser.parse_args()
    if args.allocator == "cli" and not keep_freed_memory():  # before JAX starts its threads
        parser.error("--allocator cli needs Linux with glibc and no glibc.malloc tunable set")
    results = run(args.repeats)
    results["environment"]["allocator"] = args.allocator
    text = report(results)
    print(text)
    if not args.no_write:
        (ROOT / "benchmarks" / "PEERS.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
