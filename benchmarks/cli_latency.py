"""Wall time of the command line as a user meets it: a tiny ``run`` and the refusals.

Usage (from the repository root): ``python benchmarks/cli_latency.py [--rounds 7]
[--compare OTHER_CHECKOUT]``. Prints a Markdown table; nothing is written.

Each case is one fresh process (``python -m snnspec ...``), so the time includes the
interpreter, every import and the exit. The cases run in interleaved rounds (each round runs
every case once, in order), so a shared machine's changing load hits all of them alike; the
table shows the median wall time, the median of the per-round ratio to ``python -c pass``
(the interpreter alone) and to ``import jax`` (the floor of any command that runs a model).
For the tiny ``run`` the times it prints (start-up, build, XLA compile, run) are summed and
set beside its wall time: the difference is the interpreter's start and the process's end.
With ``--compare DIR`` every snnspec case also runs from the checkout DIR (another branch,
e.g. before a change), interleaved in the same rounds, and the table adds the median of the
per-round ratio this checkout / DIR.

Targets (issue 18): the tiny ``run`` < 1.5 s wall; every refusal that the spec alone decides
< 1 s, without building a layer (tests/test_cli_fast_paths.py holds the structural part).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TINY = """\
snnspec: 1
name: tiny
time: {steps: 20}
inputs: [{name: x, shape: [8]}]
layers:
  - {name: fc1, type: linear, out_features: 16}
  - {name: lif1, type: lif, decay_constants: [0.9, 0.8]}
  - {name: fc2, type: linear, out_features: 4}
  - {name: lif2, type: lif, decay_constants: [0.9, 0.8]}
"""

RESHAPE = """\
snnspec: 1
name: reshaped
time: {steps: 5}
inputs: [{name: x, shape: [4, 6]}]
layers:
  - {name: r, type: reshape, shape: [6, 4]}
  - {name: lif1, type: simple_lif, decay_constants: [0.9]}
"""

DROPOUT = TINY.replace(
    "  - {name: lif1,", "  - {name: drop, type: dropout, p: 0.1}\n  - {name: lif1,"
)


def cases(folder: Path) -> dict[str, list[str]]:
    """Name -> command line (after ``python``)."""
    tiny, reshape, dropout = folder / "tiny.yaml", folder / "reshape.yaml", folder / "drop.yaml"
    tiny.write_text(TINY)
    reshape.write_text(RESHAPE)
    dropout.write_text(DROPOUT)
    out = str(folder / "out.nir")
    snnspec = ["-m", "snnspec"]
    return {
        "python -c pass": ["-c", "pass"],
        "import jax": ["-c", "import jax, jax.numpy as jnp; jnp.zeros(1).block_until_ready()"],
        "validate tiny": [*snnspec, "validate", str(tiny)],
        "run tiny": [*snnspec, "run", str(tiny)],
        "refuse: run --burnin 30 (20 steps)": [*snnspec, "run", str(tiny), "--burnin", "30"],
        "refuse: run --devices 3": [*snnspec, "run", str(tiny), "--devices", "3"],
        "refuse: nir export (reshape)": [*snnspec, "nir", "export", str(reshape), "-o", out],
        "refuse: nir export (dropout)": [*snnspec, "nir", "export", str(dropout), "-o", out],
        "refuse: train (no train: section)": [
            *snnspec,
            "train",
            str(tiny),
            "-o",
            str(folder / "run"),
        ],
    }


PRINTED = re.compile(r"^(start-up|build time|compile time|run time)\s+([\d.]+) s", re.M)


def timed(command: list[str], root: Path = ROOT) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    start = time.perf_counter()
    done = subprocess.run(  # in root: `python -m` puts the working folder first on the path
        [sys.executable, *command], capture_output=True, text=True, env=env, cwd=root, check=False
    )
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description="Wall time of a tiny run and the refusals.")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--compare", type=Path, help="another checkout to time alike")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        commands = cases(Path(tmp))
        walls: dict[str, list[float]] = {name: [] for name in commands}
        other: dict[str, list[float]] = {
            name: [] for name in commands if "snnspec" in commands[name]
        }
        printed: list[float] = []
        load_start = os.getloadavg()[0]
        for _ in range(args.rounds):
            for name, command in commands.items():
                seconds, out = timed(command)
                walls[name].append(seconds)
                if name == "run tiny":
                    printed.append(sum(float(v) for _, v in PRINTED.findall(out)))
                if args.compare is not None and name in other:
                    other[name].append(timed(command, args.compare.resolve())[0])
        load_end = os.getloadavg()[0]
    base, jax_floor = walls["python -c pass"], walls["import jax"]
    print(
        f"{args.rounds} interleaved rounds; load average {load_start:.2f} at the start, "
        f"{load_end:.2f} at the end ({os.cpu_count()} cores). Timing on a shared machine is "
        "noisy: compare the ratios, not the seconds.\n"
    )
    compared = f" x {args.compare} |" if args.compare is not None else ""
    print(f"| case | median wall (s) | x python -c pass | x import jax |{compared}")
    print("|---|---:|---:|---:|" + ("---:|" if compared else ""))
    for name, values in walls.items():
        to_base = statistics.median(v / b for v, b in zip(values, base, strict=True))
        to_jax = statistics.median(v / j for v, j in zip(values, jax_floor, strict=True))
        row = f"| {name} | {statistics.median(values):.3f} | {to_base:.1f} | {to_jax:.2f} |"
        if compared:
            ratios = [v / o for v, o in zip(values, other.get(name, []), strict=False)]
            row += f" {statistics.median(ratios):.2f} |" if ratios else " |"
        print(row)
    gaps = [w - p for w, p in zip(walls["run tiny"], printed, strict=True)]
    print(
        f"\nrun tiny: printed times sum to a median {statistics.median(printed):.3f} s; wall "
        f"minus printed (interpreter start, output, exit) median {statistics.median(gaps):.3f} s "
        f"(python -c pass: {statistics.median(base):.3f} s)"
    )


if __name__ == "__main__":
    main()
