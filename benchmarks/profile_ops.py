"""Where the fwd+bwd time of a bench.py workload goes, per HLO operation (issue 18).

Usage (from the repository root; prints, writes nothing):

    python benchmarks/profile_ops.py                     # B=32, 5 rounds of 3 traced runs
    python benchmarks/profile_ops.py --batch 64 --rounds 3 --runs 2
    python benchmarks/profile_ops.py --workload c        # (c): auto against step-major

For snnspec ``auto``, the hand-written layer-major (graphs without a cycle: (a), (d)) and
the hand-written step-major model of ``bench.py`` (same weights, same loss), the compiled
``jax.value_and_grad`` program runs under ``jax.profiler.trace``; the trace (its Perfetto
JSON) gives every executed HLO operation with its thread and duration, and the optimised HLO
text (``compiled.as_text()``) says what each operation is. Each operation is put in one
category by what it computes (a fusion by the operations it fuses):

- GEMM: a ``dot`` or ``convolution`` (XLA's YNNPACK fusions of one included);
- reduction: a ``reduce`` (the readout over time, bias and decay gradients);
- scan slicing: ``dynamic-slice`` / ``dynamic-update-slice`` (reading step t of a series,
  writing step t of a stacked output or residual);
- buffer fill: a broadcast of a constant and its copies (the zeros a scan's stacked
  outputs start from);
- transpose / copy: any other ``copy`` or ``transpose`` (layout changes);
- elementwise: the rest (the neuron maths, bias adds, the loss);
- loop runtime: a ``while``'s own time, less the operations of its body (dispatching the
  body's thunks, the trip counter);
- idle: wall time in which no thread runs any HLO operation (waiting for a thread to be
  scheduled, hand-offs between threads, and the work of a plain ``dot`` that Eigen runs
  asynchronously: its event covers only its launch).

Operations inside a scan's loop body are counted apart from those outside (``in loop``).
The profiler's own cost per operation inflates the traced runs (most for the many small
operations of loop bodies), so the table gives each category's share of the traced wall
time, and untraced wall times are measured in the same interleaved rounds: per-round ratios
to the step-major model, as in ``bench.py``. On a machine shared with other processes a
thread can lose its core for milliseconds at any point: that lands in whatever operation
(or idle gap) it hit, so read medians over runs and report the load.

Around the untraced calls the process's minor page faults and kernel CPU time are counted
(``resource.getrusage``), beside XLA's temporary buffer size. That is where the time the
categories cannot name goes: the CPU runtime allocates each call's temporary buffer afresh,
glibc's ``malloc`` serves an allocation above its ``mmap`` threshold (at most 32 MiB) with
fresh pages from the kernel, and the kernel zeroes every 4 KiB page on first touch, inside
whichever operation touches it first (a GEMM writing its output, a scan's zero fill). A
program whose temporary buffer stays under the threshold reuses freed heap memory and pays
nothing. The allocator is the command line's (``snnspec._allocator.keep_freed_memory``), as
in ``bench.py``. Findings and the measured remedy: ``docs/performance.md``, "Where the time
of (a) goes"; for (c), "Recurrent scans".
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import re
import resource
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

GEMMS_ONLY = "layer-major, GEMMs only"
MODELS = {
    "snnspec auto": "auto",
    bench.LAYER_MAJOR: "layer-major",
    bench.BASELINE: "step-major",
    GEMMS_ONLY: "GEMMs only",
}
"""The programs profiled (bench.py labels) and their column names."""

CATEGORIES = (
    "GEMM",
    "reduction",
    "scan slicing",
    "buffer fill",
    "transpose / copy",
    "elementwise",
)

# --- the optimised HLO: what each operation is -------------------------------------------------

_COMPUTATION = re.compile(r"^(ENTRY )?%?([\w.\-]+) \(.*\{$")
_INSTRUCTION = re.compile(r"^\s+(?:ROOT )?%([\w.\-]+) = (.*)$")
_OPCODE = re.compile(r"\s([a-z][a-z0-9\-]*)\(")
_OPERANDS = re.compile(r"%([\w.\-]+)")


class Hlo:
    """The instructions of an optimised HLO module: for each, its computation, opcode,
    operands and called computations."""

    def __init__(self, text: str) -> None:
        self.computation: dict[str, str] = {}
        self.opcode: dict[str, str] = {}
        self.operands: dict[str, list[str]] = {}
        self.calls: dict[str, list[str]] = {}
        self.op_name: dict[str, str] = {}
        self.body: dict[str, list[str]] = collections.defaultdict(list)
        self.entry = ""
        current = ""
        for line in text.splitlines():
            if (m := _COMPUTATION.match(line)) and not line.startswith(" "):
                current = m.group(2)
                self.entry = current if m.group(1) else self.entry
                continue
            if not (m := _INSTRUCTION.match(line)) or not current:
                continue
            name, rest = m.groups()
            opcode = _OPCODE.search(rest)
            head, _, attributes = rest.partition("), ")
            self.computation[name] = current
            self.opcode[name] = opcode.group(1) if opcode else ""
            self.operands[name] = _OPERANDS.findall(head)
            self.calls[name] = re.findall(
                r"(?:calls|body|condition|to_apply)=%([\w.\-]+)", attributes
            )
            self.body[current].append(name)
            op_name = re.search(r'op_name="([^"]*)"', attributes)
            self.op_name[name] = op_name.group(1) if op_name else ""
        self._fills: set[str] = set()
        for computation in list(self.body):
            for name in self.body[computation]:  # definitions precede uses
                if self._is_fill(name):
                    self._fills.add(name)

    def fused_opcodes(self, name: str) -> set[str]:
        """The opcodes an operation computes: its own, and for a fusion those of its body."""
        if self.opcode.get(name) != "fusion":
            return {self.opcode.get(name, "")}
        found: set[str] = set()
        for computation in self.calls[name]:
            for inner in self.body[computation]:
                found |= self.fused_opcodes(inner)
        return found

    def _is_fill(self, name: str) -> bool:
        if self.opcode.get(name) == "parameter":
            return False
        opcodes = self.fused_opcodes(name) - {"parameter", "bitcast"}
        if not opcodes <= {"constant", "broadcast", "copy"}:
            return False
        return all(
            self.opcode.get(o) == "constant" or o in self._fills for o in self.operands[name]
        )

    def category(self, name: str) -> str:
        opcodes = self.fused_opcodes(name)
        if opcodes & {"dot", "convolution"}:
            return "GEMM"
        if "reduce" in opcodes:
            return "reduction"
        if opcodes & {"dynamic-slice", "dynamic-update-slice"}:
            return "scan slicing"
        if name in self._fills:
            return "buffer fill"
        if opcodes & {"copy", "transpose"}:
            return "transpose / copy"
        return "elementwise"

    def in_loop(self, name: str) -> bool:
        return self.computation.get(name, self.entry) != self.entry


# --- the trace: what each operation took ---------------------------------------------------


def traced_runs(program: Any, args: tuple, runs: int) -> list[dict[str, Any]]:
    """Trace ``runs`` calls of ``program``; for each call its HLO operation events
    (name, thread, start, duration in microseconds) and the wall time the caller waited."""
    with tempfile.TemporaryDirectory() as folder:
        options = jax.profiler.ProfileOptions()
        options.python_tracer_level = 0
        with jax.profiler.trace(folder, create_perfetto_trace=True, profiler_options=options):
            for _ in range(runs):
                jax.block_until_ready(program(*args))
        (path,) = Path(folder).glob("**/perfetto_trace.json.gz")
        with gzip.open(path) as f:
            events = json.load(f)["traceEvents"]
    by_run: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "hlo_op" in e.get("args", {}):
            by_run[e["args"].get("run_id", "")].append(e)
    waits = [e for e in events if e.get("name") == "ThunkExecutor::Execute (wait for completion)"]
    if len(by_run) != runs:
        raise RuntimeError(f"expected {runs} executions in the trace, found {len(by_run)}")
    result = []
    for ops in sorted(by_run.values(), key=lambda ops: min(e["ts"] for e in ops)):
        start = min(e["ts"] for e in ops)
        end = max(e["ts"] + e["dur"] for e in ops)
        for wait in waits:  # the caller's wait, when the program ran on other threads
            if wait["ts"] <= end and start <= wait["ts"] + wait["dur"]:
                start, end = min(start, wait["ts"]), max(end, wait["ts"] + wait["dur"])
        result.append({"ops": ops, "wall": end - start})
    return result


def _union(intervals: list[tuple[float, float]]) -> float:
    total, current = 0.0, None
    for a, b in sorted(intervals):
        if current is None or a > current[1]:
            total += 0.0 if current is None else current[1] - current[0]
            current = [a, b]
        else:
            current[1] = max(current[1], b)
    return total + (0.0 if current is None else current[1] - current[0])


def breakdown(hlo: Hlo, run: dict[str, Any]) -> dict[str, float]:
    """Microseconds per row (category, inside or outside loop bodies; loop runtime; idle)
    of one traced run, and its wall time."""
    rows: dict[str, float] = collections.defaultdict(float)
    ops = run["ops"]
    for e in ops:
        name = e["name"]
        if hlo.opcode.get(name) == "while":
            inside = [
                (o["ts"], o["ts"] + o["dur"])
                for o in ops
                if o is not e
                and hlo.in_loop(o["name"])
                and e["ts"] <= o["ts"] <= e["ts"] + e["dur"]
                and o["tid"] == e["tid"]
            ]
            rows["loop runtime"] += e["dur"] - _union(inside)
            continue
        where = " (in loop)" if hlo.in_loop(name) else ""
        if name in hlo.opcode:
            rows[hlo.category(name) + where] += e["dur"]
    busy = _union([(e["ts"], e["ts"] + e["dur"]) for e in ops])
    rows["idle"] = run["wall"] - busy
    rows["wall"] = run["wall"]
    return rows


def operation_times(run: dict[str, Any]) -> dict[str, float]:
    """Microseconds per HLO operation of one traced run (a loop body's summed over steps)."""
    times: dict[str, float] = collections.defaultdict(float)
    for e in run["ops"]:
        times[e["name"]] += e["dur"]
    return times


def slowest(hlo: Hlo, runs: list[dict[str, float]], top: int) -> list[str]:
    """The ``top`` operations by median time over ``runs``, one line each."""
    names = set().union(*runs)
    medians = {n: statistics.median(r.get(n, 0.0) for r in runs) for n in names}
    lines = []
    for name in sorted(names, key=lambda n: -medians[n])[:top]:
        kind = "while" if hlo.opcode.get(name) == "while" else hlo.category(name)
        where = "loop body" if hlo.in_loop(name) else "entry"
        lines.append(
            f"  {medians[name] / 1e3:7.2f} ms  {name:36s} {kind:17s} {where:9s} "
            f"{hlo.op_name.get(name, '')[-60:]}"
        )
    return lines


def row_names() -> list[str]:
    names = []
    for category in CATEGORIES:
        names += [category, category + " (in loop)"]
    return [*names, "loop runtime", "idle"]


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--workload", default="a", choices=sorted(bench.WORKLOADS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--runs", type=int, default=3, help="traced calls per model per round")
    parser.add_argument("--timed", type=int, default=3, help="untraced calls per round")
    parser.add_argument("--top", type=int, default=12, help="slowest operations listed per model")
    args = parser.parse_args()
    if not bench.keep_freed_memory():  # as the command line and bench.py do
        raise SystemExit("profile_ops.py: could not keep freed memory (glibc's mallopt)")
    load_start = os.getloadavg()
    model, xs, labels, kind = bench.workload(args.workload, args.batch)
    loss = bench.WORKLOADS[args.workload]["loss"]
    all_models = bench.variants(model, kind, loss)

    def gemms_only(params: Any, xs: jax.Array, labels: jax.Array) -> jax.Array:
        spikes = bench.handwritten_layer_major(kind, params, xs, bench.spike_of_current)
        return bench.loss_of(spikes, labels, loss)

    if bench.LAYER_MAJOR in all_models:  # graphs without a cycle
        hand = bench.handwritten_params(model)
        all_models[GEMMS_ONLY] = (hand, None, jax.value_and_grad(gemms_only))
    models = {label: column for label, column in MODELS.items() if label in all_models}
    programs, hlos = {}, {}
    for label in models:
        params, _, grad = all_models[label]
        program, _ = bench.compiled(grad, (params, xs, labels))
        programs[label] = (program, (params, xs, labels))
        hlos[label] = Hlo(program.as_text())
    rows: dict[str, list[dict[str, float]]] = {label: [] for label in models}
    kernel: dict[str, list[tuple[float, float]]] = {label: [] for label in models}
    per_op: dict[str, list[dict[str, float]]] = {label: [] for label in models}
    walls: dict[str, list[float]] = {label: [] for label in models}
    for _ in range(args.rounds):
        for label, (program, call_args) in programs.items():
            before = resource.getrusage(resource.RUSAGE_SELF)
            walls[label].append(min(bench.timed(program, *call_args) for _ in range(args.timed)))
            after = resource.getrusage(resource.RUSAGE_SELF)
            kernel[label].append(
                (
                    (after.ru_minflt - before.ru_minflt) / args.timed,
                    (after.ru_stime - before.ru_stime) / args.timed,
                )
            )
            for run in traced_runs(program, call_args, args.runs):
                rows[label].append(breakdown(hlos[label], run))
                per_op[label].append(operation_times(run))
    load_end = os.getloadavg()
    print(
        f"workload ({args.workload}), B={args.batch}, T={xs.shape[1]}, fwd+bwd; "
        f"{args.rounds} interleaved rounds of {args.timed} untraced calls (the fastest kept) "
        f"and {args.runs} traced calls per model; load average {load_start[0]:.1f} at start, "
        f"{load_end[0]:.1f} at end, on {os.cpu_count()} CPUs; GLIBC_TUNABLES: "
        f"{os.environ.get('GLIBC_TUNABLES') or 'none'}"
    )
    base = walls[bench.BASELINE]
    header = "| | " + " | ".join(models.values()) + " |"
    print("\n" + header + "\n|---|" + "---:|" * len(models))
    print(
        "| untraced ms (median) | "
        + " | ".join(f"{1e3 * statistics.median(walls[label]):.1f}" for label in models)
        + " |"
    )
    print(
        "| untraced / step-major (median of rounds) | "
        + " | ".join(
            f"{statistics.median(m / b for m, b in zip(walls[label], base, strict=True)):.2f}"
            for label in models
        )
        + " |"
    )
    print(
        "| traced ms (median) | "
        + " | ".join(
            f"{statistics.median(r['wall'] for r in rows[label]) / 1e3:.1f}" for label in models
        )
        + " |"
    )
    print(
        "| XLA temp buffer MiB | "
        + " | ".join(
            f"{programs[label][0].memory_analysis().temp_size_in_bytes / 2**20:.1f}"
            for label in models
        )
        + " |"
    )
    print(
        "| page faults per untraced call (median) | "
        + " | ".join(f"{statistics.median(f for f, _ in kernel[label]):.0f}" for label in models)
        + " |"
    )
    print(
        "| kernel CPU ms per untraced call (median) | "
        + " | ".join(
            f"{1e3 * statistics.median(t for _, t in kernel[label]):.1f}" for label in models
        )
        + " |"
    )
    print("\nShare of the traced wall time, ms in parentheses (medians over traced runs):\n")
    print(header + "\n|---|" + "---:|" * len(models))
    for name in row_names():
        cells = []
        for label in models:
            values = [r.get(name, 0.0) for r in rows[label]]
            shares = [r.get(name, 0.0) / r["wall"] for r in rows[label]]
            cells.append(
                f"{100 * statistics.median(shares):.1f}% ({statistics.median(values) / 1e3:.2f})"
            )
        if any(not c.startswith("0.0% (0.00)") for c in cells):
            print(f"| {name} | " + " | ".join(cells) + " |")
    for label, column in models.items():
        print(f"\n{column}: slowest operations (median ms per traced run, a while with its body)")
        print("\n".join(slowest(hlos[label], per_op[label], args.top)))


if __name__ == "__main__":
    main()
