"""Time ``snnspec.compile`` (spec -> model, initial parameters included) of a conv net.

Usage (from the repository root):

    python benchmarks/startup.py               # 5 interleaved rounds
    python benchmarks/startup.py --rounds 9 --spec tests/data/dvs_gesture_conv.yaml

The spec is the DVS Gesture-sized conv net of ``tests/data/dvs_gesture_conv.yaml`` (input
[2, 128, 128], three conv + LIF + pool stages, linear 8192 -> 256 -> 11). Each round starts
two fresh processes, because what a user meets is the first compile in a process (JAX caches
compiled programs within one), and times in each, after ``import snnspec`` and loading the
spec:

  jit    ``snnspec.compile(spec)``: every initial array from one jitted program, cached by
         the architecture (what snnspec does)
  eager  the same modules built eagerly, layer by layer (``layer.build`` outside ``jit``,
         as ``snnspec.compile`` did before): every operation dispatches, and compiles, on
         its own. The layers' ``build`` now draws every array over its flattened shape
         (cheaper for XLA to compile than a 4-D draw, same values), so this baseline is
         already faster than the code before the change; the same script run on that code
         gives the old numbers

and a third number in the jit process: a second ``snnspec.compile`` with another seed (the
programs are cached). The two processes alternate in each round, so a shared machine's
changing load hits both alike; the ratio is the median of the per-round ratios. Wall and
process CPU time are both given: on a loaded machine the CPU time is the steadier one. The
load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT / "tests" / "data" / "dvs_gesture_conv.yaml"

CHILD = r"""
import json, sys, time
import jax
import snnspec
from snnspec.graph.plan import plan_graph

spec = snnspec.load(sys.argv[2])
wall, cpu = time.perf_counter(), time.process_time()
if sys.argv[1] == "jit":
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


def run(kind: str, spec: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(spec)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="Time snnspec.compile of a conv net.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    rows: list[tuple[dict[str, float], dict[str, float]]] = []
    for index in range(args.rounds):
        order = ("jit", "eager") if index % 2 == 0 else ("eager", "jit")
        timed = {kind: run(kind, args.spec) for kind in order}
        rows.append((timed["jit"], timed["eager"]))
        jit, eager = timed["jit"], timed["eager"]
        print(
            f"round {index + 1}: jit {jit['wall']:.2f} s wall {jit['cpu']:.2f} s cpu "
            f"(again, other seed: {jit['again']:.3f} s) | eager {eager['wall']:.2f} s wall "
            f"{eager['cpu']:.2f} s cpu"
        )
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for measure in ("wall", "cpu"):
        jit = statistics.median(j[measure] for j, _ in rows)
        eager = statistics.median(e[measure] for _, e in rows)
        ratio = statistics.median(j[measure] / e[measure] for j, e in rows)
        print(
            f"median {measure}: jit {jit:.2f} s, eager {eager:.2f} s, "
            f"jit/eager {ratio:.2f} (median of per-round ratios)"
        )
    again = statistics.median(j["again"] for j, _ in rows)
    print(f"median second compile (cached program, other seed): {again:.3f} s")


if __name__ == "__main__":
    main()
