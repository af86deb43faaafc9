"""`snnspec run --devices`: the batch sharded over 4 CPU devices gives the single-device result.

The runs are subprocesses with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (the
flag must be set before JAX starts). The float64 model has a recurrent block and a
sequential holding batch_norm (``run`` uses inference mode). Spikes must be identical and
the other outputs equal to 1e-12.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

SPEC = {
    "snnspec": 1,
    "name": "sharded",
    "dtype": "float64",
    "inputs": [{"name": "x", "shape": [5]}],
    "layers": [
        {"type": "linear", "out_features": 8, "name": "fc"},
        {
            "type": "lif",
            "name": "lif",
            "decay_constants": [0.8, 0.7],
            "threshold": 0.05,
            "inputs": ["fc", "rec"],
            "combine": "sum",
        },
        {"type": "linear", "out_features": 8, "name": "rec", "inputs": ["lif"]},
        {
            "type": "sequential",
            "name": "norm",
            "inputs": ["lif"],
            "layers": [{"type": "linear", "out_features": 4}, {"type": "batch_norm"}],
        },
        {"type": "simple_li", "name": "out", "decay_constants": [0.8]},
    ],
    "outputs": ["lif", "out"],
}


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    env["JAX_PLATFORMS"] = "cpu"
    command = [sys.executable, "-m", "snnspec", "run", str(tmp_path / "spec.yaml"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    tmp_path = tmp_path_factory.mktemp("devices")
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC), encoding="utf-8")
    results = {}
    for label, extra in (("one", ["--devices", "1"]), ("four", ["--devices", "all"])):
        out = tmp_path / f"{label}.npz"
        done = run_cli(tmp_path, "--batch", "8", "--steps", "12", "-o", str(out), *extra)
        assert done.returncode == 0, done.stderr
        with np.load(out) as archive:
            results[label] = {"stdout": done.stdout, **{k: archive[k] for k in archive.files}}
    return tmp_path, results


def test_four_devices_equal_one(runs: tuple[Path, dict[str, dict]]) -> None:
    _, results = runs
    one, four = results["one"], results["four"]
    assert "on 1 cpu devices" in one["stdout"]
    assert "on 4 cpu devices" in four["stdout"]
    assert one["lif"].shape == (8, 12, 8)
    rate = float(np.mean(one["lif"]))
    assert 0.0 < rate < 1.0, f"spike rate {rate}: the comparison would be vacuous"
    assert np.array_equal(four["lif"], one["lif"]), "spikes differ"
    np.testing.assert_allclose(four["out"], one["out"], rtol=0, atol=1e-12)


def test_batch_must_divide(runs: tuple[Path, dict[str, dict]]) -> None:
    tmp_path, _ = runs
    done = run_cli(tmp_path, "--batch", "6", "--steps", "4", "--devices", "4")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "batch size 6 does not divide over 4 devices; use a batch that is a multiple of 4 or "
        "fewer devices"
    )
    done = run_cli(tmp_path, "--batch", "8", "--steps", "4", "--devices", "5")
    assert done.returncode == 1
    assert "there are 4 cpu device(s)" in done.stderr
