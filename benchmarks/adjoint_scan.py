"""Does the backward pass of the neuron scans pay for a custom adjoint? (issues 18 and 19)

Usage (from the repository root; prints, writes nothing):

    python benchmarks/adjoint_scan.py                 # (a) at B=32 and B=64, then (d)
    python benchmarks/adjoint_scan.py --configs a32 --rounds 10

On the hand-written layer-major model of ``bench.py`` (each linear on the whole (T*B, N)
block, one plain ``lax.scan`` per ``lif`` layer), fwd+bwd of the same loss with the neuron
scan's backward computed four ways, all on the same weights and data:

- ``autodiff``: JAX's transpose of the forward scan (a reverse scan of the linearised body);
- ``reverse scan``: a ``jax.custom_vjp`` whose backward is the adjoint recurrence of the
  ``lif`` neuron written by hand: with the reset's gradient stopped, the adjoints of (v, i)
  obey lambda_t = c_t + A^T lambda_{t+1} with a constant 2x2 A per neuron and c_t the output
  cotangent times the surrogate derivative (computed for all steps at once), one sequential
  ``lax.scan`` of a few multiply-adds per step; input and decay gradients are then
  vectorised over time;
- ``associative``: the same recurrence solved by ``jax.lax.associative_scan`` over the
  affine maps (A, c), O(log T) depth, fully vectorised over time;
- ``associative, derived``: as a compiler would build it for any elementwise neuron: A_t
  (k x k per element, k = 3 state variables v, i, s) from k ``jax.jvp`` of the step over all
  steps at once, c_t and all parameter and input gradients from one ``jax.vjp`` of the step
  over all steps, the recurrence by ``associative_scan``.

Plus ``GEMMs only``: the same linears with each neuron scan replaced by a stateless spike of
the current (the matrix products of fwd+bwd with no time scan), so 1 - its time / autodiff's
bounds what any change to the scans can gain. And where the time goes: the model's neuron
scans alone (on the currents they see in the model, with fixed random output cotangents),
fwd+bwd per variant and forward only. All programs run in interleaved rounds; ratios are
medians of per-round ratios to ``autodiff`` in the same group, and to the model's autodiff
fwd+bwd (the share). Gradients of every variant are compared with autodiff in float64 first
(the script turns 64-bit mode on; timing runs in float32).

With the reset's gradient stopped (``stop_reset_grad``, the default), ``lif``'s adjoint
recurrence does not depend on the spikes at all: A is the constant [[a, 1-a], [0, b]] on
(v, i) and the spike state has no gradient path into the next step; ``simple_lif``'s is the
scalar a. Measured result and conclusion: ``docs/performance.md``, "Measured and not kept".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

import snnspec  # noqa: E402

Neuron = Callable[[dict[str, Any], jax.Array], jax.Array]
"""A neuron layer over a window: (its parameters, currents (T, B, N)) -> spikes (T, B, N)."""

# --- the lif neuron of bench.py, its forward scan storing what the backward needs -------------


def _decays(p: dict[str, Any]) -> tuple[jax.Array, jax.Array]:
    return jnp.clip(p["decay"][0], 0.5, 1.0), jnp.clip(p["decay"][1], 0.5, 1.0)


def autodiff(p: dict[str, Any], currents: jax.Array) -> jax.Array:
    zeros = jnp.zeros(currents.shape[1:], currents.dtype)
    _, out = jax.lax.scan(lambda c, x: bench.lif_step(p, c, x), (zeros, zeros, zeros), currents)
    return out


def _forward_with_states(p: dict[str, Any], currents: jax.Array) -> tuple[jax.Array, tuple]:
    """Spikes (T, B, N) and the states before each step ((T, B, N) each, v i s)."""
    zeros = jnp.zeros(currents.shape[1:], currents.dtype)

    def step(state: tuple, x: jax.Array) -> tuple[tuple, tuple]:
        new, s = bench.lif_step(p, state, x)
        return new, (s, state)

    _, (out, before) = jax.lax.scan(step, (zeros, zeros, zeros), currents)
    return out, before


def _surrogate(x: jax.Array) -> jax.Array:
    """bench.spike's derivative (SuperSpike, beta 10)."""
    return 1.0 / (1.0 + 10.0 * jnp.abs(x))


def _lif_adjoint(solve: Callable[..., tuple[jax.Array, jax.Array]]) -> Neuron:
    """The lif neuron with a custom VJP whose recurrence over time is ``solve``: given the
    per-neuron decays (a, b) and c_t (T, B, N), the adjoints (lv_t, li_t) of (v_t, i_t)."""

    def bwd(residuals: Any, g: jax.Array) -> tuple[dict[str, Any], jax.Array]:
        p, currents, (v_prev, i_prev, s_prev) = residuals
        a, b = _decays(p)
        v_reset = v_prev - v_prev * s_prev  # reset zero; its gradient is stopped
        v = a * v_reset + (1.0 - a) * i_prev
        c = g * _surrogate(v - p["threshold"])
        lv, li = solve(a, b, c)
        d_x = (1.0 - b) * li
        inside = (p["decay"] >= 0.5) & (p["decay"] <= 1.0)  # the clip (decays 0.9, 0.8 here)
        d_a = _sum_to(lv * (v_reset - i_prev), a.shape)
        d_b = _sum_to(li * (i_prev - currents), b.shape)
        d_decay = jnp.stack([d_a, d_b]) * inside
        grads = {"decay": d_decay, "threshold": jnp.zeros_like(p["threshold"])}
        return grads, d_x

    return _with_backward(bwd)


def _with_backward(bwd: Callable[[Any, jax.Array], tuple[dict[str, Any], jax.Array]]) -> Neuron:
    """The lif neuron, forward as :func:`autodiff`, with ``bwd`` as its VJP; the residuals
    are (parameters, currents, the states before each step)."""

    @jax.custom_vjp
    def neuron(p: dict[str, Any], currents: jax.Array) -> jax.Array:
        return autodiff(p, currents)

    def fwd(p: dict[str, Any], currents: jax.Array) -> tuple[jax.Array, Any]:
        out, before = _forward_with_states(p, currents)
        return out, (p, currents, before)

    neuron.defvjp(fwd, bwd)
    return neuron


def _sum_to(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``x`` summed over the leading axes a parameter of ``shape`` was broadcast along."""
    x = jnp.sum(x, axis=tuple(range(x.ndim - len(shape))))
    return jnp.sum(x, axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


def _reverse_scan(a: jax.Array, b: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """lv_t = c_t + a lv_{t+1};  li_t = (1-a) lv_{t+1} + b li_{t+1}  (zero after T)."""

    def step(carry: tuple, c_t: jax.Array) -> tuple[tuple, tuple]:
        lv, li = carry
        new = (c_t + a * lv, (1.0 - a) * lv + b * li)
        return new, new

    zeros = jnp.zeros(c.shape[1:], c.dtype)
    _, (lv, li) = jax.lax.scan(step, (zeros, zeros), c, reverse=True)
    return lv, li


def _compose(later: tuple, earlier: tuple) -> tuple:
    """Affine maps m -> M m + d on k-vectors per element, as nested tuples of arrays (no
    dot_general): ``later`` (P, q) has been applied first (it is later in time), ``earlier``
    (M, d) after it; the result is m -> M (P m + q) + d."""
    p_mat, q = later
    m_mat, d = earlier
    k = len(d)
    mat = tuple(
        tuple(sum(m_mat[i][j] * p_mat[j][col] for j in range(k)) for col in range(k))
        for i in range(k)
    )
    vec = tuple(sum((m_mat[i][j] * q[j] for j in range(k)), d[i]) for i in range(k))
    return mat, vec


def _solve_affine(mats: tuple, vecs: tuple) -> tuple:
    """mu_t = vecs_t + mats_t mu_{t+1} for all t (mu after the last step 0), by an
    associative scan from the end."""

    # reverse=True calls fn(later steps' accumulated map, an earlier step's map)
    _, mu = jax.lax.associative_scan(_compose, (mats, vecs), reverse=True)
    return mu


def _associative(a: jax.Array, b: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The recurrence of :func:`_reverse_scan` by ``associative_scan``: (lv, li)_t =
    (c_t, 0) + A^T (lv, li)_{t+1} with A^T = [[a, 0], [1-a, b]]."""
    full = jnp.ones_like(c)
    zero = jnp.zeros_like(c)
    mats = ((a * full, zero), ((1.0 - a) * full, b * full))
    lv, li = _solve_affine(mats, (c, zero))
    return lv, li


def derived() -> Neuron:
    """The lif neuron with a custom VJP derived from its step alone (k = 3 state variables):
    what a compiler would do for every elementwise neuron."""

    def step(p: dict[str, Any], state: tuple, x: jax.Array) -> tuple[tuple, jax.Array]:
        return bench.lif_step(p, state, x)

    def bwd(residuals: Any, g: jax.Array) -> tuple[dict[str, Any], jax.Array]:
        p, currents, before = residuals
        every = jax.vmap(lambda state, x: step(p, state, x))
        k = len(before)
        # column j of A_t: the tangent of the new state for a unit tangent on state variable j
        columns = []
        for j in range(k):
            tangent = tuple(
                jnp.ones_like(s) if i == j else jnp.zeros_like(s) for i, s in enumerate(before)
            )
            _, (d_state, _) = jax.jvp(
                every, (before, currents), (tangent, jnp.zeros_like(currents))
            )
            columns.append(d_state)
        # mu_{t-1} = A_t^T mu_t + B_t^T g_t: row i of A_t^T is column i of A_t
        transposed = tuple(tuple(columns[i][j] for j in range(k)) for i in range(k))
        _, pull = jax.vjp(every, before, currents)
        zero_state = tuple(jnp.zeros_like(s) for s in before)
        c_prev, _ = pull((zero_state, g))  # B_t^T g_t, the adjoint of state_{t-1} from out_t

        # mu_t, the adjoint of the state after step t, is A_{t+1}^T mu_{t+1} + c_prev[t+1]
        # (0 after the last step: no final-state cotangent): shift both by one step
        def shifted(e: jax.Array) -> jax.Array:
            return jnp.concatenate([e[1:], jnp.zeros_like(e[:1])])

        mats = tuple(tuple(shifted(e) for e in row) for row in transposed)
        vecs = tuple(shifted(c) for c in c_prev)
        mu = _solve_affine(mats, vecs)  # adjoint of state_t (after step t)
        _, pull_p = jax.vjp(
            lambda p, s, x: jax.vmap(lambda s, x: step(p, s, x))(s, x), p, before, currents
        )
        d_p, _, d_x = pull_p((mu, g))
        return d_p, d_x

    return _with_backward(bwd)


VARIANTS: dict[str, Neuron] = {
    "autodiff": autodiff,
    "reverse scan": _lif_adjoint(_reverse_scan),
    "associative": _lif_adjoint(_associative),
    "associative, derived": derived(),
    "GEMMs only": bench.spike_of_current,
}

# --- the model, its loss, and the measurements -------------------------------------------------


CONFIGS = {
    "a32": ("a", 32, 100),
    "a64": ("a", 64, 100),
    "d": ("d", 16, 500),
}


def problem(config: str, dtype: Any) -> tuple[Any, ...]:
    name, batch, steps = CONFIGS[config]
    info = bench.WORKLOADS[name]
    spec = snnspec.ModelSpec.model_validate(info["spec"]())
    model = snnspec.compile(spec)
    params = jax.tree.map(lambda a: a.astype(dtype), bench.handwritten_params(model))
    n_in = spec.inputs[0].shape[0]
    rng = np.random.default_rng(0)
    xs = jnp.asarray((rng.random((batch, steps, n_in)) < 0.03).astype(dtype))
    n_out = model.plan.layer_output_shapes[model.plan.final_layer_ids[0]][0]
    labels = jnp.asarray(rng.integers(0, n_out, batch))
    kind = "dense" if name == "d" else "mlp"

    def grad_of(neuron: Neuron) -> Any:
        def loss(params: Any, xs: jax.Array, labels: jax.Array) -> jax.Array:
            return bench.loss_of(
                bench.handwritten_layer_major(kind, params, xs, neuron), labels, info["loss"]
            )

        return jax.jit(jax.value_and_grad(loss))

    return params, xs, labels, grad_of


def check_gradients(config: str) -> dict[str, float]:
    """Largest relative difference of each variant's gradients from autodiff's, float64
    (with the (T, B) sizes of ``config`` and workload (d) shrunk to N=256, T=100)."""
    params, xs, labels, grad_of = problem(config, jnp.float64)
    if config == "d":  # the float64 check needs no 2048-wide layer
        params = {
            "fc": {k: v[:256, :256] if k == "w" else v[:256] for k, v in params["fc"].items()},
            "lif": params["lif"],  # scalar threshold, shared decays
        }
        xs = xs[:, :100, :256]
    _, reference = grad_of(autodiff)(params, xs, labels)
    worst = {}
    for label, neuron in VARIANTS.items():
        if label in ("autodiff", "GEMMs only"):
            continue
        _, grads = grad_of(neuron)(params, xs, labels)
        diffs = jax.tree.map(
            lambda g, r: float(jnp.max(jnp.abs(g - r)) / (jnp.max(jnp.abs(r)) + 1e-300)),
            grads,
            reference,
        )
        worst[label] = max(jax.tree.leaves(diffs))
    return worst


def scan_problem(params: Any, xs: jax.Array, kind: str) -> tuple[list, list, list]:
    """The neuron layers' parameters, their input currents in the model (from the autodiff
    forward) and fixed random output cotangents, to time the scans alone."""
    steps, batch = xs.shape[1], xs.shape[0]
    h = jnp.swapaxes(xs, 0, 1)
    names = (
        (("fc", "lif"),) if kind == "dense" else (("fc1", "lif1"), ("fc2", "lif2"), ("fc3", "lif3"))
    )
    lifs, currents, cotangents = [], [], []
    key = jax.random.PRNGKey(0)
    for fc, lif in names:
        w, b = params[fc]["w"], params[fc]["b"]
        y = (h.reshape(steps * batch, -1) @ w.T + b).reshape(steps, batch, -1)
        h = autodiff(params[lif], y)
        lifs.append(params[lif])
        currents.append(y)
        cotangents.append(jax.random.normal(jax.random.fold_in(key, len(lifs)), y.shape, y.dtype))
    return lifs, currents, cotangents


def scans_only(neuron: Neuron, backward: bool) -> Any:
    """The neuron scans of the model alone: forward, or forward and backward."""

    def run(lifs: list, currents: list, cotangents: list) -> Any:
        def total(lifs: list, currents: list) -> jax.Array:
            outs = [neuron(p, c) for p, c in zip(lifs, currents, strict=True)]
            return jnp.sum(
                jnp.stack([jnp.sum(o * g) for o, g in zip(outs, cotangents, strict=True)])
            )

        return (
            jax.grad(total, argnums=(0, 1))(lifs, currents) if backward else total(lifs, currents)
        )

    return jax.jit(run)


def time_config(config: str, rounds: int) -> dict[str, dict[str, dict[str, float]]]:
    """Interleaved rounds of three groups of programs, each with its own baseline: the
    model's fwd+bwd per variant, the scans alone fwd+bwd per variant, the scans alone fwd."""
    params, xs, labels, grad_of = problem(config, jnp.float32)
    kind = "dense" if CONFIGS[config][0] == "d" else "mlp"
    scan_args = scan_problem(params, xs, kind)
    groups: dict[str, dict[str, tuple[Any, tuple]]] = {"model fwd+bwd": {}, "scans fwd+bwd": {}}
    for label, neuron in VARIANTS.items():
        if config == "d" and label == "associative, derived":
            continue  # ~5x autodiff on (a) already; on (d) it would hold GBs of k x k maps
        args = (params, xs, labels)
        groups["model fwd+bwd"][label] = (bench.compiled(grad_of(neuron), args)[0], args)
        if label != "GEMMs only":
            program = bench.compiled(scans_only(neuron, backward=True), scan_args)[0]
            groups["scans fwd+bwd"][label] = (program, scan_args)
    fwd = bench.compiled(scans_only(autodiff, backward=False), scan_args)[0]
    groups["scans fwd"] = {"autodiff": (fwd, scan_args)}
    times = {g: {label: [] for label in programs} for g, programs in groups.items()}
    for _ in range(rounds):
        for g, programs in groups.items():
            for label, (program, args) in programs.items():
                times[g][label].append(bench.timed(program, *args))
    model_base = times["model fwd+bwd"]["autodiff"]
    result = {}
    for g, by_label in times.items():
        base = by_label["autodiff"]
        result[g] = {
            label: {
                "ms": 1e3 * statistics.median(mine),
                "ratio": statistics.median(m / b for m, b in zip(mine, base, strict=True)),
                "share": statistics.median(m / b for m, b in zip(mine, model_base, strict=True)),
            }
            for label, mine in by_label.items()
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--configs", default="a32,a64,d")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--rounds-d", type=int, default=5)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    for config in args.configs.split(","):
        name, batch, steps = CONFIGS[config]
        worst = check_gradients(config)
        print(f"{config}: float64 gradients, max |diff| / max |autodiff| per variant: {worst}")
        rounds = args.rounds_d if config == "d" else args.rounds
        groups = time_config(config, rounds)
        print(f"{config} ({bench.DESCRIPTIONS[name]}, B={batch}, T={steps}), {rounds} rounds:")
        for group, rows in groups.items():
            for label, row in rows.items():
                print(
                    f"  {group:14s} {label:22s} {row['ms']:8.1f} ms  ratio to autodiff "
                    f"{row['ratio']:.2f}  / model fwd+bwd (autodiff) {row['share']:.2f}"
                )
        print(f"load average: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
