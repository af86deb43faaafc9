"""Peak memory of backprop through T=10,000 steps of workload (d) at N=512, B=16, by remat.

Usage (from the repository root): ``python benchmarks/remat_memory.py [--steps 10000]``.
Writes benchmarks/remat_results.md (included in RESULTS.md by bench.py).

For each ``remat`` setting the fwd+bwd of the mean spike rate is compiled and XLA's
``memory_analysis()`` read (arguments + outputs + temporaries); then each setting is also
*run* once in a fresh subprocess under ``/usr/bin/time -v`` (when present) to record the
process's maximum resident set size, which includes the Python/JAX runtime (~0.3 GiB).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
N, BATCH = 512, 16
SETTINGS = (0, 1, 100)


def build(steps: int, remat: int, schedule: str) -> tuple[Any, tuple]:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import numpy as np

    import snnspec
    from snnspec.model.model import simulate_batch

    sys.path.insert(0, str(Path(__file__).parent))
    from bench import dense_spec

    spec = snnspec.ModelSpec.model_validate({**dense_spec(N), "schedule": schedule, "remat": remat})
    model = snnspec.compile(spec)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    rng = np.random.default_rng(0)
    xs = jnp.asarray((rng.random((BATCH, steps, N)) < 0.03).astype(np.float32))

    def loss(params: Any, xs: jax.Array) -> jax.Array:
        return jnp.mean(simulate_batch(eqx.combine(params, static), (xs,), None, 0)[0])

    return jax.jit(jax.value_and_grad(loss)), (params, xs)


def analyse(steps: int, remat: int, schedule: str) -> dict[str, float]:
    fn, args = build(steps, remat, schedule)
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - start
    m = compiled.memory_analysis()
    total = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
    return {"xla_bytes": float(total - m.alias_size_in_bytes), "compile_s": compile_s}


def child(steps: int, remat: int, schedule: str) -> None:
    import jax

    fn, args = build(steps, remat, schedule)
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    print(f"RUN_SECONDS {time.perf_counter() - start:.2f}")


def measured_rss(steps: int, remat: int, schedule: str) -> tuple[float | None, float | None]:
    timer = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    if timer is None:
        return None, None
    command = [timer, "-v", sys.executable, __file__, "--child", str(remat), "--steps", str(steps)]
    command += ["--schedule", schedule]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    seconds = re.search(r"RUN_SECONDS ([\d.]+)", done.stdout)
    return (
        float(rss.group(1)) * 1024 if rss else None,
        float(seconds.group(1)) if seconds else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--schedule", default="auto")
    parser.add_argument("--child", type=int, default=None)
    parser.add_argument("--no-run", action="store_true", help="XLA's analysis only")
    args = parser.parse_args()
    if args.child is not None:
        child(args.steps, args.child, args.schedule)
        return
    gib = 2**30
    lines = [
        f"## remat: backprop through T={args.steps:,} steps of workload (d) at N={N}, B={BATCH}",
        "",
        f"schedule {args.schedule}; load average at start {os.getloadavg()[0]:.2f}. XLA is "
        "`memory_analysis()` of the compiled fwd+bwd; RSS is the measured maximum resident set "
        "of a fresh process running it once (`/usr/bin/time -v`, includes the runtime).",
        "",
        "| remat | XLA peak GiB | measured max RSS GiB | run s | compile s |",
        "|---|---:|---:|---:|---:|",
    ]
    for remat in SETTINGS:
        result = analyse(args.steps, remat, args.schedule)
        rss, seconds = (
            (None, None) if args.no_run else measured_rss(args.steps, remat, args.schedule)
        )
        label = {0: "0 (plain BPTT)", 1: "1 (every step)"}.get(remat, f"{remat} (chunks)")
        lines.append(
            f"| {label} | {result['xla_bytes'] / gib:.2f} | "
            f"{'n/a' if rss is None else f'{rss / gib:.2f}'} | "
            f"{'n/a' if seconds is None else f'{seconds:.1f}'} | {result['compile_s']:.1f} |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "remat_results.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
