"""Data-parallel scaling of `snnspec train`'s step: one device against a 4-device mesh.

Usage (from the repository root; writes benchmarks/SCALING.md unless --no-write):

    python benchmarks/scaling.py                 # 4 forced CPU devices, 20 rounds
    python benchmarks/scaling.py --devices 8 --rounds 10 --no-write

The script sets ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` before JAX starts, so
N "devices" share this machine's CPU cores. It times ``Task.train_step`` (forward, surrogate
backward, Adam update) of an SHD-like MLP of LIF neurons, 700-256-256-20, T=50, in three
placements, in interleaved rounds (so a shared machine's changing load hits all alike):

- ``1 device, B``: no mesh, global batch B (the baseline);
- ``N devices, B``: the same global batch sharded over N devices (strong scaling:
  speedup = t(1, B) / t(N, B), efficiency = speedup / N);
- ``N devices, N B``: N times the batch, B per device (weak scaling: efficiency =
  t(1, B) / t(N, N B)).

Ratios are medians of per-round ratios. On CPU the forced devices are threads of one
process competing for the same cores: efficiency is bounded by cores / N (0.5 for 4 devices
on 2 cores) before any communication cost; see docs/performance.md for what to expect on GPUs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32, help="global batch of the baseline")
    parser.add_argument("--steps", type=int, default=50, help="time steps per sample")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="steps per timing in a round")
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args()


ARGS = parse()
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={ARGS.devices}"
)
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402  (after XLA_FLAGS)

from snnspec.spec.load import load  # noqa: E402
from snnspec.training.data import load_data  # noqa: E402
from snnspec.training.loop import Task  # noqa: E402
from snnspec.training.parallel import Placement  # noqa: E402

SPEC = """\
snnspec: 1
name: scaling
inputs: [{{name: spikes, shape: [700]}}]
layers:
  - {{name: fc1, type: linear, out_features: 256}}
  - {{name: lif1, type: lif, decay_constants: [0.9, 0.8], threshold: 0.02}}
  - {{name: fc2, type: linear, out_features: 256}}
  - {{name: lif2, type: lif, decay_constants: [0.9, 0.8], threshold: 0.02}}
  - {{name: fc3, type: linear, out_features: 20}}
  - {{name: out, type: simple_li, decay_constants: [0.9]}}
time: {{steps: {steps}}}
train:
  data: {{type: synthetic, num_samples: {samples}, num_classes: 20, segments: 5,
         rate_high: 0.05, rate_low: 0.01, test_fraction: 0.1}}
  loss: {{type: cross_entropy, readout: max_membrane}}
  batch_size: {batch}
"""


def variant(batch: int, devices: int | None) -> tuple[Task, Any, Any, Placement, np.ndarray]:
    text = SPEC.format(steps=ARGS.steps, samples=ARGS.batch * ARGS.devices * 2, batch=batch)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scaling.yaml"
        path.write_text(text, encoding="utf-8")
        spec = load(path)
    data = load_data(spec)
    from snnspec.model.compile import compile as compile_spec

    task = Task(spec, compile_spec(spec), data)
    placement = Placement.of(spec, devices)
    params, opt_state = placement.replicate((task.params, task.optimizer.init(task.params)))
    return task, params, opt_state, placement, task.batches(data, 1)[0]


def timed(task: Task, params: Any, opt_state: Any, placement: Placement, x: Any, y: Any) -> float:
    key = placement.replicate(task.step_key(1, 0))
    start = time.perf_counter()
    for _ in range(ARGS.repeats):
        params, opt_state, loss, *_ = task.train_step(params, opt_state, x, y, key)
        float(loss)
    return (time.perf_counter() - start) / ARGS.repeats


def main() -> None:
    from importlib import metadata

    n, b = ARGS.devices, ARGS.batch
    labels = {"1 device, B": (b, None), f"{n} devices, B": (b, n), f"{n} devices, {n}B": (n * b, n)}
    load_start = os.getloadavg()
    runs = {}
    for label, (batch, devices) in labels.items():
        task, params, opt_state, placement, index = variant(batch, devices)
        data = load_data(task.spec)
        x, y = placement.batch(data.x_train[index], data.y_train[index])
        timed(task, params, opt_state, placement, x, y)  # compile
        runs[label] = (task, params, opt_state, placement, x, y)
    times: dict[str, list[float]] = {label: [] for label in labels}
    for _ in range(ARGS.rounds):
        for label, run in runs.items():
            times[label].append(timed(*run))
    base = times["1 device, B"]
    strong = [a / c for a, c in zip(base, times[f"{n} devices, B"], strict=True)]
    weak = [a / c for a, c in zip(base, times[f"{n} devices, {n}B"], strict=True)]
    lines = [
        "# Data-parallel scaling of the training step on CPU",
        "",
        f"Written by `python benchmarks/scaling.py --devices {n} --batch {b} --steps "
        f"{ARGS.steps} --rounds {ARGS.rounds}`.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}; JAX {metadata.version('jax')}, Python "
        f"{platform.python_version()}; load average "
        f"{' '.join(f'{v:.2f}' for v in load_start)} at the start, "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end (a shared machine: "
        "noisy).",
        "",
        f"Workload: SHD-like MLP 700-256-256-20 of LIF, T={ARGS.steps}, one optimizer step "
        "(forward, surrogate backward, Adam), float32. "
        f"{n} forced host devices share the CPUs.",
        "",
        "| placement | median step time (ms) |",
        "|---|---|",
        *(f"| {label} | {statistics.median(ts) * 1e3:.1f} |" for label, ts in times.items()),
        "",
        f"- strong scaling (global batch {b}): speedup {statistics.median(strong):.2f}x, "
        f"efficiency {statistics.median(strong) / n:.0%}",
        f"- weak scaling ({b} samples per device): efficiency {statistics.median(weak):.0%} "
        f"(throughput {statistics.median(weak) * n:.2f}x the one-device step's)",
        "",
        "Medians of per-round ratios. On this machine the devices are threads competing for "
        f"{os.cpu_count()} cores, so {n} devices cannot be more than {os.cpu_count()}x faster "
        "than one, and one device's XLA CPU code already uses the cores (intra-op threads).",
    ]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if not ARGS.no_write:
        (ROOT / "benchmarks" / "SCALING.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
