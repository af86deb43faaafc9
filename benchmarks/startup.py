"""Time ``snnspec.compile`` (spec -> model, initial parameters included) of a conv net.

Usage (from the repository root):

    python benchmarks/startup.py               # 5 interleaved rounds
    python benchmarks/startup.py --rounds 9 --spec tests/data/dvs_gesture_conv.yaml
    python benchmarks/startup.py --jax-cache   # also a repeat run with JAX's persistent cache

The spec is the DVS Gesture-sized conv net of ``tests/data/dvs_gesture_conv.yaml`` (input
[2, 128, 128], three conv + LIF + pool stages, linear 8192 -> 256 -> 11). Each round starts
four fresh processes, because what a user meets is the first compile in a process (JAX caches
compiled programs within one), and times in each, after ``import snnspec`` and loading the
spec:

  jit       ``snnspec.compile(spec)``: every initial array from one jitted program, cached by
            the architecture, its draws merged into one threefry hash per depth
            (``snnspec.model.merged_draws``), compiled on CPU with ``INIT_COMPILER_OPTIONS``
            (what snnspec does)
  unmerged  the same without merging the draws: a hash per draw
  defaults  the same as jit with XLA's default options
  eager     the same modules built eagerly, layer by layer (``layer.build`` outside ``jit``,
            as ``snnspec.compile`` did before it moved under ``jit``): every operation
            dispatches, and compiles, on its own. The layers' ``build`` draws every array over
            its flattened shape (cheaper for XLA to compile than a 4-D draw, same values), so
            this baseline is already faster than the code before that change

and, for each, the wall time of the whole process (interpreter start to exit, as a user's
script meets it). A third number in the jit process: a second ``snnspec.compile`` with
another seed (the program is cached). With ``--jax-cache`` each round also runs the jit
process twice more with JAX's persistent compilation cache on (``JAX_COMPILATION_CACHE_DIR``
a fresh temporary folder, ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0``): the first fills
it, the second (``warm``) loads the compiled program, as a repeat run of the same spec does.
The processes rotate their order from round to round, so a shared machine's changing load
hits all alike; the ratios are medians of the per-round ratios. Wall and process CPU time
are both given: on a loaded machine the CPU time is the steadier one. The load average is
printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT / "tests" / "data" / "dvs_gesture_conv.yaml"
KINDS = ("jit", "unmerged", "defaults", "eager")

CHILD = r"""
import json, sys, time
import jax
import snnspec
from snnspec.graph.plan import plan_graph
from snnspec.model import compile as model_compile

spec = snnspec.load(sys.argv[2])
if sys.argv[1] == "defaults":
    model_compile._TUNED.clear()
if sys.argv[1] == "unmerged":
    model_compile.merged_draws = lambda function: function
wall, cpu = time.perf_counter(), time.process_time()
if sys.argv[1] != "eager":
    model = snnspec.compile(spec)
else:
    plan = plan_graph(spec)
    root = jax.random.PRNGKey(spec.seed)
    model = tuple(
        layer.build(
            plan.layer_input_shapes[i], spec.dtype, jax.random.fold_in(root, i),
            **({"dt": spec.dt} if layer.uses_dt else {}),
        )
        for i, layer in enumerate(plan.layers)
    )
jax.block_until_ready(model)
result = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
if sys.argv[1] == "jit":
    wall = time.perf_counter()
    jax.block_until_ready(snnspec.compile(spec.model_copy(update={"seed": spec.seed + 1})))
    result["again"] = time.perf_counter() - wall
print(json.dumps(result))
"""


def run(kind: str, spec: Path, jax_cache: str | None = None) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if jax_cache is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = jax_cache
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(spec)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    process = time.perf_counter() - start
    return {**json.loads(out.strip().splitlines()[-1]), "process": process}


def main() -> None:
    parser = argparse.ArgumentParser(description="Time snnspec.compile of a conv net.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument(
        "--jax-cache", action="store_true", help="also time a warm persistent JAX cache"
    )
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    rows: list[dict[str, dict[str, float]]] = []
    for index in range(args.rounds):
        order = KINDS[index % len(KINDS) :] + KINDS[: index % len(KINDS)]
        timed = {kind: run(kind, args.spec) for kind in order}
        if args.jax_cache:
            with tempfile.TemporaryDirectory() as folder:
                run("jit", args.spec, folder)
                timed["warm"] = run("jit", args.spec, folder)
        rows.append(timed)
        print(
            f"round {index + 1}: "
            + " | ".join(
                f"{kind} {timed[kind]['wall']:.2f} s wall {timed[kind]['cpu']:.2f} s cpu "
                f"(process {timed[kind]['process']:.2f} s)"
                for kind in KINDS
            )
            + f" | jit again, other seed: {timed['jit']['again']:.3f} s"
        )
        if args.jax_cache:
            warm = timed["warm"]
            print(
                f"  warm JAX cache: {warm['wall']:.2f} s wall {warm['cpu']:.2f} s cpu "
                f"(process {warm['process']:.2f} s)"
            )
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    kinds = (*KINDS, "warm") if args.jax_cache else KINDS
    for measure in ("wall", "cpu", "process"):
        medians = ", ".join(
            f"{kind} {statistics.median(row[kind][measure] for row in rows):.2f} s"
            for kind in kinds
        )
        ratios = ", ".join(
            f"{top}/{kind} "
            f"{statistics.median(row[top][measure] / row[kind][measure] for row in rows):.2f}"
            for top, kind in (
                ("jit", "unmerged"),
                ("jit", "defaults"),
                ("jit", "eager"),
                ("warm", "jit"),
            )
            if kind in kinds and top in kinds
        )
        print(f"median {measure}: {medians}; {ratios} (medians of per-round ratios)")
    again = statistics.median(row["jit"]["again"] for row in rows)
    print(f"median second compile (cached program, other seed): {again:.3f} s")


if __name__ == "__main__":
    main()
