"""Honest model selection: the validation split, the selected epoch, early stopping, and a
test set that is scored once and never chooses the parameters."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import run_cli, without_times
from safetensors import safe_open
from safetensors.numpy import load_file

from snnspec._io import sha256_file
from snnspec.spec.load import load
from snnspec.spec.train import SyntheticDataSpec
from snnspec.training.data import _digest, has_validation, load_data, synthetic_task
from snnspec.training.loop import RunResult, evaluate_run, select_epoch, train

SPEC = """\
snnspec: 1
name: val
seed: 2
time: {steps: 40}
inputs: [{name: spikes, shape: [32]}]
layers:
  - {name: fc1, type: linear, out_features: 64, inputs: [spikes, lif1]}
  - {name: lif1, type: lif, decay_constants: [0.9, 0.8], threshold: 0.2}
  - {name: fc2, type: linear, out_features: 4}
  - {name: out, type: simple_li, decay_constants: [0.95]}
outputs: [out]
train:
  data: {type: synthetic, num_samples: 256, validation_fraction: 0.25}
  loss: {type: cross_entropy, readout: max_membrane, scale: 10.0}
  optimizer: {type: adamw, learning_rate: 0.005, clip_norm: 1.0}
  selection: {metric: val_loss}
  early_stopping: {patience: 2}
  epochs: 30
  batch_size: 32
  keep_checkpoints: 1
  metrics: [accuracy, spike_rate]
"""


NO_VALIDATION = (
    "train.data.validation_fraction=null",
    "train.selection=null",
    "train.early_stopping=null",
)


def quiet(_: str) -> None:
    pass


def records_of(**metrics: list[float]) -> list[dict[str, Any]]:
    (name, values), *_ = metrics.items()
    return [{"epoch": e, name: v} for e, v in enumerate(values, 1)]


def stop_epoch(values: list[float], patience: int, min_delta: float = 0.0) -> int | None:
    """The epoch after which a run with these val_loss values stops (None: it never does)."""
    records = records_of(val_loss=values)
    for end in range(1, len(records) + 1):
        if select_epoch(records[:end], "val_loss", patience, min_delta).stop:
            return end
    return None


# --- the pure selection function ----------------------------------------------------------


def test_selection_takes_the_best_validation_epoch_and_the_earliest_on_a_tie() -> None:
    chosen = select_epoch(records_of(val_loss=[0.5, 0.3, 0.3, 0.4]), "val_loss")
    assert (chosen.epoch, chosen.metric, chosen.value) == (2, "val_loss", 0.3)
    assert chosen.reason == "lowest val_loss"
    chosen = select_epoch(records_of(val_accuracy=[0.5, 0.7, 0.7, 0.6]), "val_accuracy")
    assert (chosen.epoch, chosen.value, chosen.reason) == (2, 0.7, "highest val_accuracy")
    assert select_epoch(records_of(val_loss=[math.nan, 0.4, math.nan]), "val_loss").epoch == 2


def test_selection_without_validation_is_the_last_epoch() -> None:
    chosen = select_epoch(records_of(train_loss=[0.5, 0.3, 0.4]), None)
    assert chosen.record() == {
        "epoch": 3,
        "metric": None,
        "value": None,
        "reason": "last epoch: no validation split",
    }
    assert not chosen.stop


def test_early_stopping_stops_after_patience_epochs_without_improvement() -> None:
    values = [1.0, 0.9, 0.95, 0.92, 0.91, 0.5]
    assert stop_epoch(values, patience=1) == 3
    assert stop_epoch(values, patience=3) == 5
    assert stop_epoch(values, patience=4) is None
    # min_delta: 0.97, 0.95 and 0.94 improve on 1.0, but by less than 0.1
    assert stop_epoch([1.0, 0.97, 0.95, 0.94], patience=3, min_delta=0.1) == 4
    assert stop_epoch([1.0, 0.97, 0.95, 0.94], patience=3, min_delta=0.0) is None
    # the kept epoch is still the best one, also when the improvement was too small to count
    chosen = select_epoch(records_of(val_loss=[1.0, 0.97, 0.95, 0.94]), "val_loss", 3, 0.1)
    assert (chosen.epoch, chosen.stop) == (4, True)


# --- a run with a validation split and early stopping -------------------------------------


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "val.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def run(spec_path: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    directory = tmp_path_factory.mktemp("runs") / "val"
    return train(load(spec_path), directory, progress=False, echo=quiet)


def same_checkpoint(a: Path, b: Path) -> bool:
    """The two run folders' best.safetensors hold the same epoch and bitwise the same arrays
    (the files' bytes may differ: safetensors writes its metadata in hash order)."""
    first, second = a / "checkpoints" / "best.safetensors", b / "checkpoints" / "best.safetensors"
    x, y = load_file(first), load_file(second)
    return (
        checkpoint_epoch(first) == checkpoint_epoch(second)
        and x.keys() == y.keys()
        and all(x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k]) for k in x)
    )


def checkpoint_epoch(path: Path) -> int:
    with safe_open(str(path), framework="numpy") as handle:  # pyright: ignore[reportArgumentType]
        return int((handle.metadata() or {})["epoch"])


def test_run_selects_by_validation_and_stops_early(run: RunResult, spec_path: Path) -> None:
    assert has_validation(load(spec_path))
    records, results = run.records, run.results
    for record in records:
        assert not any(key.startswith("test") for key in record)
        assert {"val_loss", "val_accuracy", "val_spike_rate"} <= set(record)
    stopped = len(records)
    assert stopped < 30
    assert [r["epoch"] for r in records] == list(range(1, stopped + 1))
    # it stopped at the first epoch where the pure function says so, and kept its choice
    chosen = select_epoch(records, "val_loss", patience=2)
    assert chosen.stop
    assert not any(select_epoch(records[:end], "val_loss", 2).stop for end in range(1, stopped))
    assert results["selected"] == chosen.record()
    assert results["selected"]["reason"] == "lowest val_loss"
    assert results["epoch"] == chosen.epoch < stopped
    assert (results["epochs_completed"], results["early_stopped"]) == (stopped, True)
    assert min(r["val_loss"] for r in records) == results["selected"]["value"]
    # best.safetensors is the selected epoch, kept although keep_checkpoints pruned its file
    d = run.directory
    assert checkpoint_epoch(d / "checkpoints" / "best.safetensors") == chosen.epoch
    assert sorted(p.name for p in (d / "checkpoints").iterdir()) == [
        "best.safetensors",
        f"epoch-{stopped:04d}.safetensors",
    ]
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["results"] == results == json.loads((d / "results.json").read_text())
    assert manifest["data"]["val_samples"] == 64


def test_evaluate_scores_the_selected_parameters_as_reported(
    run: RunResult, capsys: pytest.CaptureFixture[str]
) -> None:
    for checkpoint in ("final", "best"):
        scores = evaluate_run(run.directory, checkpoint)
        assert scores["test_accuracy"] == run.results["test_accuracy"]
        assert scores["test_loss"] == run.results["test_loss"]
    code, out, err = run_cli("evaluate", run.directory, capsys=capsys)
    assert (code, err) == (0, "")
    assert f"selected epoch {run.results['epoch']}: lowest val_loss\n" in out
    assert "reproduces the reported test accuracy" in out


def test_split_json_records_disjoint_covering_parts(run: RunResult, spec_path: Path) -> None:
    split = json.loads((run.directory / "split.json").read_text())
    parts = [split[name]["indices"] for name in ("train", "val", "test")]
    assert [len(p) for p in parts] == [128, 64, 64]
    assert [split[name]["samples"] for name in ("train", "val", "test")] == [128, 64, 64]
    assert sorted(i for p in parts for i in p) == list(range(256))
    assert (split["seed"], split["test_file"]) == (2, None)
    data = load_data(load(spec_path))
    for name, x, y in (
        ("train", data.x_train, data.y_train),
        ("val", data.x_val, data.y_val),
        ("test", data.x_test, data.y_test),
    ):
        assert split[name]["sha256"] == _digest((np.asarray(x), y))
    manifest = json.loads((run.directory / "manifest.json").read_text())
    assert manifest["split_sha256"] == sha256_file(run.directory / "split.json")
    arrays = (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test)
    assert manifest["data_sha256"] == data.sha256 == _digest(tuple(map(np.asarray, arrays)))


@pytest.mark.parametrize("where", ["first", "stopping"])
def test_resume_with_early_stopping_equals_uninterrupted(
    run: RunResult, spec_path: Path, tmp_path: Path, where: str
) -> None:
    """Interrupted after epoch 1, or after the epoch that stops the run (before the run
    finished): resuming recomputes the selection and the patience counter from
    metrics.jsonl and ends bitwise where the uninterrupted run ended."""
    directory = tmp_path / "resumed"
    at = 1 if where == "first" else len(run.records)

    def interrupt(epoch: int, record: dict[str, Any]) -> None:
        if epoch == at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(load(spec_path), directory, progress=False, echo=quiet, callbacks=[interrupt])
    resumed = train(load(spec_path), directory, resume=True, progress=False, echo=quiet)
    assert without_times(resumed.records) == without_times(run.records)
    assert resumed.results == run.results
    for name in ("params.safetensors", "split.json"):
        assert (name, sha256_file(directory / name)) == (name, sha256_file(run.directory / name))
    assert same_checkpoint(directory, run.directory)


def test_cli_train_reports_validation_and_the_selected_epoch(
    spec_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("-o", tmp_path / "run", "--set", "train.epochs=2", "--no-progress")
    code, out, err = run_cli("train", spec_path, *args, capsys=capsys)
    assert (code, err) == (0, "")
    assert "128 train / 64 validation / 64 test samples" in out
    assert "val loss " in out
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2
    assert not any("test" in line for line in epochs)
    assert "of epoch " in out.splitlines()[-1]
    assert "(lowest val_loss) after 2 epochs" in out.splitlines()[-1]


# --- acceptance: test labels never influence the selection --------------------------------

NPZ = (
    SPEC.replace("name: val", "name: npz-selection")
    .replace("seed: 2", "seed: 0")
    .replace(
        "data: {type: synthetic, num_samples: 256,",
        "data: {type: npz, path: train.npz, test_path: test.npz,",
    )
)


def npz_run(folder: Path, test_labels: np.ndarray) -> RunResult:
    """The synthetic task's spikes saved as a data file and a separate test file."""
    x, y, _ = synthetic_task(SyntheticDataSpec(num_samples=256), (32,), 40, seed=5)
    np.savez(folder / "train.npz", inputs=x[:192], labels=y[:192])
    np.savez(folder / "test.npz", inputs=x[192:], labels=test_labels)
    (folder / "spec.yaml").write_text(NPZ)
    return train(load(folder / "spec.yaml"), folder / "run", progress=False, echo=quiet)


def test_permuting_the_test_labels_leaves_the_selected_checkpoint_unchanged(
    tmp_path: Path,
) -> None:
    labels = np.arange(192, 256) % 4
    permuted = np.random.default_rng(1).permutation(labels)
    assert not np.array_equal(labels, permuted)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = npz_run(tmp_path / "a", labels), npz_run(tmp_path / "b", permuted)
    assert first.results["selected"] == second.results["selected"]
    assert first.results["epoch"] < first.results["epochs_completed"]  # not just the last one
    assert without_times(first.records) == without_times(second.records)
    assert sha256_file(first.directory / "params.safetensors") == sha256_file(
        second.directory / "params.safetensors"
    )
    assert same_checkpoint(first.directory, second.directory)
    # the test sets did differ, and each was scored: only the test metrics may differ
    split_a = json.loads((first.directory / "split.json").read_text())
    split_b = json.loads((second.directory / "split.json").read_text())
    assert split_a["test_file"] == "test.npz"
    assert split_a["test"]["indices"] == list(range(64))
    assert split_a["test"]["sha256"] != split_b["test"]["sha256"]
    assert split_a["train"] == split_b["train"]
    assert split_a["val"] == split_b["val"]
    assert first.results["test_samples"] == 64
    assert first.results["test_accuracy"] != second.results["test_accuracy"]


# --- the test file's path and errors ------------------------------------------------------


def test_test_path_set_in_a_base_file_stays_relative_to_it(tmp_path: Path) -> None:
    from snnspec.spec.compose import load_composed

    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "bases").mkdir()
    base = NPZ.replace("validation_fraction: 0.25", "validation_fraction: 0.2")
    (tmp_path / "bases" / "base.yaml").write_text(base)
    (tmp_path / "child.yaml").write_text("extends: bases/base.yaml\nname: child\n")
    composed = load_composed(tmp_path / "child.yaml")
    data = composed.data["train"]["data"]
    assert (data["path"], data["test_path"]) == ("bases/train.npz", "bases/test.npz")


def test_a_missing_test_file_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y, _ = synthetic_task(SyntheticDataSpec(num_samples=64), (32,), 40, seed=5)
    np.savez(tmp_path / "train.npz", inputs=x, labels=y)
    (tmp_path / "spec.yaml").write_text(NPZ)
    code, out, err = run_cli("train", tmp_path / "spec.yaml", "-o", tmp_path / "run", capsys=capsys)
    assert (code, out) == (1, "")
    line = next(n for n, text in enumerate(NPZ.splitlines(), 1) if "test_path" in text)
    column = NPZ.splitlines()[line - 1].index("test_path") + 1
    assert err == (
        f"{tmp_path / 'spec.yaml'}:{line}:{column}: train.data.test_path: data file not found: "
        f"{tmp_path / 'test.npz'}\n"
    )


def test_without_validation_the_data_digest_is_the_train_test_one(spec_path: Path) -> None:
    """Specs without a validation split keep the data sha256 their run folders recorded
    before the split existed, so those runs still resume."""
    spec = load(spec_path, list(NO_VALIDATION))
    data = load_data(spec)
    assert not has_validation(spec)
    assert (len(data.y_val), data.x_val.shape[1:]) == (0, data.x_train.shape[1:])
    x_train, x_test = np.asarray(data.x_train), np.asarray(data.x_test)  # in memory: synthetic
    assert data.sha256 == _digest((x_train, data.y_train, x_test, data.y_test))
