"""Training at scale: `train --devices`, `train --distributed`, gradient accumulation,
bfloat16 compute and the throughput fields.

Multi-device runs are subprocesses with ``XLA_FLAGS=--xla_force_host_platform_device_count``
(set before JAX starts); everything else runs in-process. The spec has dropout, so equal
results also show that every sample keeps its key when the batch is split over devices or
micro-batches. Equality with one device: every metric within 1e-5 and every parameter within
1e-5 (float32; the differences are the order of float sums), with spikes in the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import run_cli, without_times
from safetensors.numpy import load_file
from test_distributed import DEADLINE, environment, run_processes

from snnspec._errors import SpecError
from snnspec.spec.load import load
from snnspec.training.loop import train

SPEC = """\
snnspec: 1
name: parallel
seed: 3
inputs: [{name: x, shape: [6]}]
layers:
  - {name: fc1, type: linear, out_features: 16}
  - {name: lif1, type: lif, decay_constants: [0.9, 0.8], threshold: 0.1}
  - {name: drop, type: dropout, p: 0.2}
  - {name: fc2, type: linear, out_features: 3}
  - {name: out, type: simple_li, decay_constants: [0.9]}
time: {steps: 10}
train:
  data: {type: synthetic, num_samples: 90, num_classes: 3, segments: 2, rate_high: 0.5,
         validation_fraction: 0.2}
  loss: {type: cross_entropy, readout: max_membrane, scale: 5.0}
  optimizer: {type: adam, learning_rate: 0.01}
  regularizers:
    - {type: sparsity, layers: [lif1], weight: 0.001}
  epochs: 1
  batch_size: 16
  metrics: [accuracy, spike_rate]
"""
TOLERANCE = 1e-5


def quiet(_: str) -> None:
    pass


def records(directory: Path) -> list[dict[str, Any]]:
    lines = (directory / "metrics.jsonl").read_text().splitlines()
    return without_times([json.loads(line) for line in lines])


def flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def assert_same_run(a: Path, b: Path) -> None:
    """Every metric of every epoch and every parameter within TOLERANCE; spikes happened."""
    ra, rb = records(a), records(b)
    assert [r["epoch"] for r in ra] == [r["epoch"] for r in rb]
    assert ra, "no epoch to compare"
    for x, y in zip(ra, rb, strict=True):
        fx, fy = flat(x), flat(y)
        assert sorted(fx) == sorted(fy)
        for key in fx:
            assert abs(fx[key] - fy[key]) <= TOLERANCE, (key, fx[key], fy[key])
    assert all(0 < r["val_spike_rate"]["lif1"] < 1 for r in ra), "no spikes: vacuous"
    pa, pb = load_file(a / "params.safetensors"), load_file(b / "params.safetensors")
    assert sorted(pa) == sorted(pb)
    for key in pa:
        assert pa[key].dtype == pb[key].dtype
        np.testing.assert_allclose(pb[key], pa[key], rtol=0, atol=TOLERANCE, err_msg=key)
    for name in ("results.json",):
        sa = flat(json.loads((a / name).read_text()))
        sb = flat(json.loads((b / name).read_text()))
        for key, value in sa.items():
            if isinstance(value, float) and not key.endswith("_seconds"):
                assert abs(value - sb[key]) <= TOLERANCE, (key, value, sb[key])


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "parallel.yaml"
    path.write_text(SPEC)
    return path


def snnspec_cli(*args: str, devices: int = 4) -> subprocess.CompletedProcess[str]:
    """`snnspec ARGS` in a fresh process that sees ``devices`` CPU devices."""
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    env["JAX_PLATFORMS"] = "cpu"
    command = [sys.executable, "-m", "snnspec", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=DEADLINE
    )


def train_cli(spec: Path, *args: str, devices: int = 4) -> subprocess.CompletedProcess[str]:
    return snnspec_cli("train", str(spec), "--no-progress", *args, devices=devices)


# --- --devices ----------------------------------------------------------------------------


def test_four_devices_with_accumulation_equal_one_device(spec_file: Path, tmp_path: Path) -> None:
    """Batch 16 in 2 micro-batches of 8, each split over 4 devices (2 samples per device)."""
    one, four = tmp_path / "one", tmp_path / "four"
    done = train_cli(spec_file, "-o", str(one))
    assert done.returncode == 0, done.stderr
    assert " on cpu -> " in done.stdout
    done = train_cli(
        spec_file, "-o", str(four), "--devices", "4", "--set", "train.accumulate_steps=2"
    )
    assert done.returncode == 0, done.stderr
    assert " on 4 cpu devices -> " in done.stdout
    assert_same_run(one, four)
    manifest = json.loads((four / "manifest.json").read_text())
    assert manifest["placement"] == {"devices": 4, "processes": 1}


def test_reproduce_replays_a_run_on_its_devices(spec_file: Path, tmp_path: Path) -> None:
    """Bitwise on the run's 4 devices; on a 1-device machine a note, and equal within 1e-5."""
    run = tmp_path / "four"
    done = train_cli(spec_file, "-o", str(run), "--devices", "4")
    assert done.returncode == 0, done.stderr
    again = snnspec_cli("reproduce", str(run), "-o", str(tmp_path / "again"), "--no-progress")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "note:" not in again.stdout
    assert "reproduced bitwise" in again.stdout
    manifest = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert manifest["placement"] == {"devices": 4, "processes": 1}
    one = snnspec_cli(
        "reproduce", str(run), "-o", str(tmp_path / "one"), "--no-progress", devices=1
    )
    assert (
        "note: the run was sharded over 4 devices and this machine has 1, so it is replayed on "
        "one device: float sums run in another order"
    ) in one.stdout
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert manifest["placement"] == {"devices": 1, "processes": 1}
    [device] = manifest["devices"]  # the environment's device list, kept
    assert isinstance(device, str)
    assert_same_run(run, tmp_path / "one")


def test_batch_that_does_not_divide_over_devices(spec_file: Path, tmp_path: Path) -> None:
    done = train_cli(
        spec_file, "-o", str(tmp_path / "r"), "--devices", "4", "--set", "train.accumulate_steps=8"
    )
    assert done.returncode == 1
    line = SPEC.splitlines().index("  batch_size: 16") + 1
    assert done.stderr == (
        f"{spec_file}:{line}:3: train.batch_size: batch_size 16 in micro-batches of 2 "
        "(accumulate_steps 8) does not divide over 4 devices; use a batch_size that is a "
        "multiple of 32 or fewer devices\n"
    )
    assert not (tmp_path / "r").exists(), "nothing is written before training"


def test_more_devices_than_there_are(
    spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        "train", spec_file, "-o", tmp_path / "r", "--devices", "64", capsys=capsys
    )
    assert (code, out) == (1, "")
    assert err.startswith("--devices 64: there are 1 cpu device(s)")
    assert not (tmp_path / "r").exists()


# --- --distributed ------------------------------------------------------------------------


def distributed_train(
    spec: Path, outputs: list[Path], *args: str
) -> Any:  # the make_command of run_processes
    def make_command(tmp_path: Path, port: int, count: int, i: int) -> list[str]:
        return [
            sys.executable,
            *("-m", "snnspec", "train", str(spec), "-o", str(outputs[i]), "--no-progress"),
            *("--distributed", "--coordinator", f"127.0.0.1:{port}"),
            *("--num-processes", str(count), "--process-id", str(i), *args),
        ]

    return make_command


def test_two_processes_then_resume_equal_one_device(spec_file: Path, tmp_path: Path) -> None:
    """Two processes with 2 CPU devices each (4 in the mesh) train one epoch into A (process 1
    is given B: it must create nothing), then both resume A for a second epoch; the result
    equals a one-process, one-device run of two epochs."""
    run, other = tmp_path / "A", tmp_path / "B"
    results = run_processes(tmp_path, 2, distributed_train(spec_file, [run, other]))
    for i, (code, stdout, stderr) in enumerate(results):
        assert code == 0, f"process {i} exited with {code}:\n{stdout}\n{stderr}"
    assert "on 4 cpu devices (2 processes)" in results[0][1]
    said = [line for line in results[1][1].splitlines() if not line.startswith("[Gloo]")]
    assert said == [], "process 1 reports nothing (jaxlib's gloo prints its connections)"
    assert not other.exists(), "process 1 created its output folder"
    assert json.loads((run / "manifest.json").read_text())["epochs_completed"] == 1

    results = run_processes(
        tmp_path, 2, distributed_train(run, [run, run], "--resume", "--set", "train.epochs=2")
    )
    for i, (code, stdout, stderr) in enumerate(results):
        assert code == 0, f"process {i} exited with {code}:\n{stdout}\n{stderr}"
    assert f"resuming {run} after epoch 1" in results[0][1]
    manifest = json.loads((run / "manifest.json").read_text())
    assert (manifest["status"], manifest["resumed"]) == ("completed", 1)
    assert manifest["placement"] == {"devices": 4, "processes": 2}
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["best.safetensors", "epoch-0001.safetensors", "epoch-0002.safetensors"]

    reference = tmp_path / "one"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "snnspec",
            "train",
            str(spec_file),
            "-o",
            str(reference),
            "--no-progress",
            "--set",
            "train.epochs=2",
        ],
        capture_output=True,
        text=True,
        env=environment(tmp_path),
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert_same_run(reference, run)


def test_distributed_needs_the_run_folder(
    spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli("train", spec_file, "--distributed", "--process-id", "0", capsys=capsys)
    assert code == 2
    words = " ".join(err.replace("│", " ").split())  # the usage box wraps the message
    assert "every process of a --distributed run needs the same run folder; pass -o DIR" in words


def test_inconsistent_distributed_options(
    spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        "train", spec_file, "-o", tmp_path / "r", "--process-id", "0", capsys=capsys
    )
    assert (code, out, err) == (1, "", "--process-id needs --distributed\n")


# --- gradient accumulation and precision --------------------------------------------------


def test_accumulation_equals_one_big_batch(spec_file: Path, tmp_path: Path) -> None:
    one = train(load(spec_file), tmp_path / "one", progress=False, echo=quiet)
    spec = load(spec_file, ["train.accumulate_steps=4"])
    four = train(spec, tmp_path / "four", progress=False, echo=quiet)
    assert_same_run(one.directory, four.directory)


def test_accumulation_runs_micro_batches_with_the_batch_keys() -> None:
    """The objective sees batch_size / K samples at a time, sample i of the batch keeps its
    place i (its key), and the gradient is the whole batch's (NumPy reference)."""
    import jax.numpy as jnp

    from snnspec.training.step import gradients

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)).astype(np.float32)
    y = rng.normal(size=12).astype(np.float32)
    w = rng.normal(size=3).astype(np.float32)
    seen: list[tuple[tuple[int, ...], Any]] = []

    def objective(p: Any, xb: Any, yb: Any, indices: Any) -> tuple[Any, Any]:
        seen.append((tuple(xb.shape), indices))
        loss = jnp.mean((xb @ p["w"] - yb) ** 2)
        return loss, (jnp.sum(xb[:, 0] > 0).astype(jnp.float32), jnp.mean(xb[:, 1]))

    params = {"w": jnp.asarray(w)}
    loss, (correct, mean), grads = gradients(objective, params, jnp.asarray(x), jnp.asarray(y), 4)
    assert [shape for shape, _ in seen] == [(3, 3)]  # traced once, inside the scan
    error = x @ w - y
    np.testing.assert_allclose(float(loss), np.mean(error**2), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grads["w"]), 2 * x.T @ error / 12, rtol=1e-5)
    assert float(correct) == float(np.sum(x[:, 0] > 0))  # a count: summed
    np.testing.assert_allclose(float(mean), np.mean(x[:, 1]), rtol=1e-6)  # a mean: averaged

    places: list[np.ndarray] = []

    def record(p: Any, xb: Any, yb: Any, indices: Any) -> tuple[Any, Any]:
        import jax

        jax.debug.callback(lambda i: places.append(np.asarray(i)), indices)
        return jnp.mean(xb @ p["w"]), (jnp.zeros(()), jnp.zeros(()))

    gradients(record, params, jnp.asarray(x), jnp.asarray(y), 4)
    assert sorted(np.concatenate(places).tolist()) == list(range(12))
    assert [p.tolist() for p in places] == [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]


def test_bfloat16_computes_in_bfloat16_and_keeps_float32_parameters(
    spec_file: Path, tmp_path: Path
) -> None:
    import jax

    from snnspec.model.compile import compile as compile_spec
    from snnspec.training.data import load_data
    from snnspec.training.loop import Task
    from snnspec.training.step import compute_copy

    spec = load(spec_file, ["train.precision=bfloat16"])
    data = load_data(spec)
    task = Task(spec, compile_spec(spec), data)
    copy = compute_copy(task.params, "bfloat16")
    x = jax.numpy.asarray(data.x_train[:4])
    outputs = task._outputs(copy, x, jax.random.PRNGKey(0), False, None, "bfloat16")
    computed = {str(out.dtype) for i, out in outputs.items() if i not in task.probes.values()}
    assert computed == {"bfloat16"}
    # SynOps are counts, summed in float32 whatever the compute dtype
    assert {str(outputs[i].dtype) for i in task.probes.values()} == {"float32"}

    run = train(spec, tmp_path / "bf16", progress=False, echo=quiet)
    reference = train(load(spec_file), tmp_path / "f32", progress=False, echo=quiet)
    params = load_file(run.directory / "params.safetensors")
    assert {str(a.dtype) for a in params.values()} == {"float32"}
    a, b = records(run.directory)[0], records(reference.directory)[0]
    assert a["train_loss"] != b["train_loss"], "bfloat16 changed nothing"
    assert abs(a["train_loss"] - b["train_loss"]) < 0.05


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ("  accumulate_steps: 3",),
            "train.accumulate_steps: batch_size 16 does not split into 3 micro-batches; use a "
            "batch_size that is a multiple of 3",
        ),
        (
            ("  precision: bfloat16", "dtype: float64"),
            "train.precision: bfloat16 computes a float64 model at less than a quarter of its "
            "precision; use precision: float32 with dtype: float64, or dtype: float32 with "
            "bfloat16",
        ),
    ],
)
def test_located_spec_errors(tmp_path: Path, lines: tuple[str, ...], message: str) -> None:
    """The line is the last of the file (a train key) or before it (the top-level dtype)."""
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC + "\n".join(lines) + "\n")
    with pytest.raises(SpecError) as caught:
        load(path)
    line = len(SPEC.splitlines()) + 1
    assert str(caught.value) == f"{path}:{line}:3: {message}"


def test_each_process_reads_its_block_of_a_batch() -> None:
    from snnspec.training.parallel import Placement

    index = np.array([7, 3, 9, 1, 4, 8])
    assert Placement().rows(index).tolist() == [7, 3, 9, 1, 4, 8]
    assert Placement(None, 0, 2).rows(index).tolist() == [7, 3, 9]
    assert Placement(None, 1, 2).rows(index).tolist() == [1, 4, 8]
