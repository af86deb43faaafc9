"""Does the training step wait on data? Streaming batches from the preprocessing cache.

Usage (from the repository root; prints a table, writes nothing):

    python benchmarks/data_loading.py                 # 2000 samples, 5 epochs
    python benchmarks/data_loading.py --samples 4000 --epochs 8 --batch 64

An SHD-shaped data set (700 channels, 100 steps, 20 events per sample, float32 frames: 280 kB
a sample) is written in the distributed HDF5 layout to a temporary folder, binned once into
a temporary preprocessing cache, and trained on with the SHD-like MLP 700-128-20 of LIF.
Each epoch is one round; metrics.jsonl gives per epoch the step loop's time
(``train_time_seconds``), the time the prefetch thread spent gathering batches from the
memory map (``data_load_time``: what a loader in the step's thread would add to the epoch)
and the time the step loop waited for a batch (``data_wait_time``). The ratios are per
epoch, to the same epoch's step-loop time, so the machine's changing load hits both alike;
the table gives their medians over the epochs after the first (which compiles). The page
cache is warm after the binning (the cache files were just written); a cold disk adds its
read time to ``data_load_time``, which the prefetch hides the same way while it stays below
the step time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

SPEC = """\
snnspec: 1
name: loading
time: {{steps: 100}}
inputs: [{{name: spikes, shape: [700]}}]
layers:
  - {{name: fc1, type: linear, out_features: 128}}
  - {{name: lif1, type: lif, decay_constants: [0.9, 0.8], threshold: 0.2}}
  - {{name: fc2, type: linear, out_features: 20}}
  - {{name: out, type: simple_li, decay_constants: [0.9]}}
train:
  data: {{type: shd, root: shd, max_duration: 1.0}}
  epochs: {epochs}
  batch_size: {batch}
"""


def write_shd(path: Path, count: int, seed: int) -> None:
    import h5py

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        vlen = h5py.vlen_dtype
        times = file.create_dataset("spikes/times", (count,), dtype=vlen(np.dtype(np.float16)))
        units = file.create_dataset("spikes/units", (count,), dtype=vlen(np.dtype(np.uint16)))
        for i in range(count):
            times[i] = np.sort(rng.uniform(0, 1, 20)).astype(np.float16)
            units[i] = rng.integers(0, 700, 20).astype(np.uint16)
        file.create_dataset("labels", data=(np.arange(count) % 20).astype(np.uint16))


def main() -> None:
    parser = argparse.ArgumentParser(description="Does the training step wait on data?")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        os.environ["SNNSPEC_CACHE_DIR"] = str(folder / "cache")
        write_shd(folder / "shd" / "shd_train.h5", args.samples, 1)
        write_shd(folder / "shd" / "shd_test.h5", 64, 2)
        (folder / "spec.yaml").write_text(SPEC.format(epochs=args.epochs, batch=args.batch))
        import snnspec

        snnspec.train(folder / "spec.yaml", out_dir=folder / "run", echo=None, progress=False)
        lines = (folder / "run" / "metrics.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
    print(
        f"{args.samples} samples x 100 steps x 700 channels float32 "
        f"({args.samples * 280_000 / 1e6:.0f} MB), batch {args.batch}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print("| epoch | step loop s | data load s | data wait s | load / loop | wait / loop |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in records:
        loop = r["train_time_seconds"]
        print(
            f"| {r['epoch']} | {loop:.2f} | {r['data_load_time']:.3f} | "
            f"{r['data_wait_time']:.3f} | {r['data_load_time'] / loop:.3f} | "
            f"{r['data_wait_time'] / loop:.4f} |"
        )
    later = records[1:] or records
    load = statistics.median(r["data_load_time"] / r["train_time_seconds"] for r in later)
    wait = statistics.median(r["data_wait_time"] / r["train_time_seconds"] for r in later)
    print(f"median over epochs 2+: load / loop {load:.3f}, wait / loop {wait:.4f}")


if __name__ == "__main__":
    sys.exit(main())
