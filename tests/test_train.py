"""Training: determinism, resume after Ctrl-C, the run folder, evaluate, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import TINY_MODEL, run_cli, without_times
from safetensors.numpy import load_file

from snnspec._errors import SpecError
from snnspec._io import sha256_file, sha256_text
from snnspec.model.params import read_params
from snnspec.spec.load import load
from snnspec.spec.overrides import resolved_text
from snnspec.training.loop import RunResult, evaluate_run, train
from snnspec.training.throughput import without_timings

ROOT = Path(__file__).resolve().parent.parent

TINY = (
    TINY_MODEL
    + """\
train:
  data: {type: synthetic, num_samples: 48, num_classes: 3, segments: 2, rate_high: 0.5}
  loss: {type: cross_entropy, readout: max_membrane, scale: 5.0}
  optimizer: {type: adamw, learning_rate: 0.01, schedule: cosine, clip_norm: 1.0}
  regularizers:
    - {type: firing_rate, layers: [lif1], target: 0.1, weight: 0.5}
    - {type: sparsity, layers: [lif1], weight: 0.001}
  epochs: 2
  batch_size: 12
  metrics: [accuracy, spike_rate]
"""
)


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def tiny_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def baseline(tiny_spec: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    directory = tmp_path_factory.mktemp("runs") / "baseline"
    return train(load(tiny_spec), directory, progress=False, echo=quiet)


def test_run_folder_contents(baseline: RunResult, tiny_spec: Path) -> None:
    d = baseline.directory
    names = {p.name for p in d.iterdir()}
    assert {"resolved.yaml", "spec.yaml", "params.safetensors", "manifest.json"} <= names
    assert {"metrics.jsonl", "results.json", "split.json", "checkpoints", "curves.png"} <= names
    checkpoints = sorted(p.name for p in (d / "checkpoints").iterdir())
    assert checkpoints == ["best.safetensors", "epoch-0001.safetensors", "epoch-0002.safetensors"]
    lines = (d / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        # no validation split: training metrics only; never a test metric in an epoch record
        assert set(record) == {
            "epoch",
            "train_loss",
            "train_accuracy",
            "train_synops",
            "learning_rate",
            "train_time_seconds",
            "step_time",
            "samples_per_second",
            "data_load_time",
            "data_wait_time",
            "eval_time_seconds",
        }
        assert all(
            isinstance(record[k], float) for k in ("train_loss", "train_accuracy", "train_synops")
        )
        # every timing (reproduce and reruns leave these out) and nothing else
        assert set(without_timings(record)) == {
            "epoch",
            "train_loss",
            "train_accuracy",
            "train_synops",
            "learning_rate",
        }
        # the epoch's time covers its steps, of 12 samples each (the last partial one skipped)
        assert 0 < record["step_time"] <= record["train_time_seconds"]
        trained = json.loads((d / "manifest.json").read_text())["data"]["train_samples"] // 12 * 12
        samples = record["samples_per_second"] * record["train_time_seconds"]
        assert samples == pytest.approx(trained)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["seed"] == 1
    assert manifest["overrides"] == []
    assert manifest["resolved_spec_sha256"] == sha256_text((d / "resolved.yaml").read_text())
    assert manifest["resolved_spec_sha256"] == sha256_text(resolved_text(load(tiny_spec)))
    assert len(manifest["data_sha256"]) == 64
    assert {"jax", "equinox", "snnspec"} <= set(manifest["versions"])
    assert manifest["backend"] == "cpu"
    assert manifest["wall_time_seconds"] > 0
    results = json.loads((d / "results.json").read_text())
    assert results == manifest["results"]
    assert results["selected"] == {
        "epoch": 2,
        "metric": None,
        "value": None,
        "reason": "last epoch: no validation split",
    }
    assert (results["epoch"], results["epochs_completed"], results["early_stopped"]) == (
        2,
        2,
        False,
    )
    assert set(results["test_spike_rate"]) == {"lif1"}
    assert 0.0 <= results["test_accuracy"] <= 1.0
    assert results["test_samples"] == 12
    assert manifest["split_sha256"] == sha256_file(d / "split.json")
    best = load_file(d / "checkpoints" / "best.safetensors")
    last = load_file(d / "checkpoints" / "epoch-0002.safetensors")
    assert all(np.array_equal(best[k], last[k]) for k in last)


def test_two_runs_are_bitwise_identical(
    baseline: RunResult, tiny_spec: Path, tmp_path: Path
) -> None:
    again = train(load(tiny_spec), tmp_path / "again", progress=False, echo=quiet)
    assert without_times(again.records) == without_times(baseline.records)
    first = read_params(baseline.directory / "params.safetensors")
    second = read_params(again.directory / "params.safetensors")
    assert first.keys() == second.keys()
    assert all(
        np.array_equal(first[k], second[k]) and first[k].dtype == second[k].dtype for k in first
    )
    for name in ("epoch-0001.safetensors", "epoch-0002.safetensors"):
        a = load_file(baseline.directory / "checkpoints" / name)
        b = load_file(again.directory / "checkpoints" / name)
        assert a.keys() == b.keys()
        assert any(k.startswith("opt/") for k in a)
        assert all(np.array_equal(a[k], b[k]) and a[k].shape == b[k].shape for k in a)


def test_resume_after_interrupt_matches_uninterrupted(
    baseline: RunResult, tiny_spec: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "interrupted"

    def interrupt(epoch: int, record: dict[str, Any]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(load(tiny_spec), directory, progress=False, echo=quiet, callbacks=[interrupt])
    manifest = json.loads((directory / "manifest.json").read_text())
    assert (manifest["status"], manifest["epochs_completed"]) == ("interrupted", 1)
    assert not (directory / "params.safetensors").exists()
    with pytest.raises(SpecError, match="holds a `snnspec train` run; pass `resume=True`"):
        train(load(tiny_spec), directory, progress=False, echo=quiet)
    resumed = train(load(tiny_spec), directory, resume=True, progress=False, echo=quiet)
    assert without_times(resumed.records) == without_times(baseline.records)
    first = read_params(baseline.directory / "params.safetensors")
    second = read_params(directory / "params.safetensors")
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert json.loads((directory / "manifest.json").read_text())["resumed"] == 1


def test_resume_refuses_a_different_spec(baseline: RunResult, tiny_spec: Path) -> None:
    spec = load(tiny_spec, ["train.optimizer.learning_rate=0.02"])
    with pytest.raises(SpecError, match="holds a run of a different spec"):
        train(spec, baseline.directory, resume=True, progress=False, echo=quiet)


def test_evaluate_reproduces_reported_accuracy(
    baseline: RunResult, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = evaluate_run(baseline.directory)
    assert scores["test_accuracy"] == baseline.results["test_accuracy"]
    assert scores["test_loss"] == baseline.results["test_loss"]
    code, out, err = run_cli("evaluate", baseline.directory, capsys=capsys)
    assert (code, err) == (0, "")
    assert "reproduces the reported test accuracy" in out
    code, out, _ = run_cli("evaluate", baseline.directory, "--checkpoint", "best", capsys=capsys)
    assert code == 0
    assert "best.safetensors" in out
    code, _, err = run_cli("evaluate", baseline.directory, "--max-memory", "1KB", capsys=capsys)
    assert code == 1
    assert "over the memory budget" in err
    assert err.count("\n") == 1


def test_run_folder_runs_as_a_build(
    baseline: RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        "run", baseline.directory, "--steps", "6", "-o", tmp_path / "o.npz", capsys=capsys
    )
    assert (code, err) == (0, "")
    assert np.load(tmp_path / "o.npz")["out"].shape == (1, 6, 3)


def test_cli_train_with_overrides_and_resume_by_folder(
    tiny_spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "cli"
    args = ("--set", "train.epochs=1", "--set", "train.optimizer.type=sgd", "--no-progress")
    code, out, err = run_cli("train", tiny_spec, "-o", directory, *args, capsys=capsys)
    assert (code, err) == (0, ""), err
    assert "epoch   1" in out
    assert "done: test accuracy" in out
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["overrides"] == ["train.epochs=1", "train.optimizer.type=sgd"]
    assert "type: sgd" in (directory / "resolved.yaml").read_text()
    code, out, err = run_cli("train", directory, "--resume", capsys=capsys)
    assert (code, err) == (0, ""), err
    assert "resuming" in out
    code, _, err = run_cli("train", directory, capsys=capsys)
    assert code == 1
    assert "pass --resume" in err


def test_recurrent_example_beats_chance(tmp_path: Path) -> None:
    spec = load(ROOT / "configs" / "synthetic_recurrent.yaml")
    result = train(spec, tmp_path / "rec", progress=False, echo=quiet)
    assert result.results["test_accuracy"] >= 0.6  # chance: 0.25


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.data.num_classes=4"], "the data has 4 classes but the readout layer 'out'"),
        (["train.batch_size=100"], "batch_size 100 is larger than the 36 training samples"),
    ],
)
def test_errors(tiny_spec: Path, tmp_path: Path, overrides: list[str], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        train(load(tiny_spec, overrides), tmp_path / "x", progress=False, echo=quiet)


def test_train_without_train_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        "train", ROOT / "configs" / "shd_mlp.yaml", "-o", tmp_path, capsys=capsys
    )
    assert code == 1
    assert "has no `train:` section" in err


def with_spiking_readout(tmp_path: Path, loss: str, epochs: int = 1) -> Path:
    """The tiny spec plus a spiking layer lif2 (3 neurons) as its output and readout."""
    text = TINY.replace(
        "outputs: [out]",
        "  - {name: lif2, type: simple_lif, decay_constants: [0.9], threshold: 0.2, "
        "inputs: [fc2]}\noutputs: [lif2]",
    )
    text = text.replace("{type: cross_entropy, readout: max_membrane, scale: 5.0}", loss)
    text = text.replace("epochs: 2", f"epochs: {epochs}").replace(", spike_rate]", "]")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_spiking_readout_trains(tmp_path: Path) -> None:
    path = with_spiking_readout(tmp_path, "{type: mse_rate, layer: lif2}")
    result = train(load(path), tmp_path / "run", progress=False, echo=quiet)
    assert np.isfinite(result.records[0]["train_loss"])
    assert "test_spike_rate" not in result.records[0]


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    return logits - np.log(np.exp(logits).sum(1, keepdims=True))


@pytest.mark.parametrize(
    ("loss", "reference"),
    [
        ("{type: cross_entropy, readout: spike_count, scale: 0.5}", "count"),
        ("{type: cross_entropy, readout: max_membrane}", "max"),
        ("{type: mse_rate, on_rate: 0.8, off_rate: 0.1}", "mse"),
    ],
)
def test_losses_match_numpy(tmp_path: Path, loss: str, reference: str) -> None:
    import jax.numpy as jnp

    from snnspec.model.compile import compile as compile_spec
    from snnspec.training.data import load_data
    from snnspec.training.loop import Task

    if reference == "max":  # max_membrane needs the non-spiking readout
        spec = load(tiny_spec_path(tmp_path), [f"train.loss={loss}"])
    else:
        spec = load(with_spiking_readout(tmp_path, loss))
    task = Task(spec, compile_spec(spec), load_data(spec))
    out = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1])
    per_sample, correct = task._task_loss(jnp.asarray(out), jnp.asarray(y))
    x = out.astype(np.float64)
    if reference == "mse":
        scores = x.mean(1)
        target = np.where(np.eye(3)[y] == 1, 0.8, 0.1)
        expected = ((scores - target) ** 2).mean(1)
    else:
        scores = 0.5 * x.sum(1) if reference == "count" else x.max(1)
        expected = -_log_softmax(scores)[np.arange(5), y]
    np.testing.assert_allclose(np.asarray(per_sample), expected, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(correct), (scores.argmax(1) == y).astype(np.float32))


def tiny_spec_path(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_train_refuses_a_run_over_the_memory_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Path(__file__).resolve().parent.parent / "configs" / "digits.yaml"
    output = tmp_path / "run"
    code, _, err = run_cli("train", config, "--max-memory", "1MB", "-o", output, capsys=capsys)
    assert code == 1
    assert "over the memory budget of 976.6 KiB" in err
    assert err.count("\n") == 1
    assert not output.exists()


def test_partial_initial_params_are_a_recorded_choice(
    tiny_spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--partial-params is recorded (overrides, resolved.yaml), so evaluate and resume agree."""
    from safetensors.numpy import save_file

    assert run_cli("build", tiny_spec, "-o", tmp_path / "b", capsys=capsys)[0] == 0
    arrays = load_file(str(tmp_path / "b" / "params.safetensors"))
    del arrays["fc2.weight"]
    save_file(arrays, str(tmp_path / "init.safetensors"))
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY + "params: init.safetensors\n")
    run = tmp_path / "run"
    args = ("-o", run, "--set", "train.epochs=1", "--no-progress")
    code, _, err = run_cli("train", spec, *args, capsys=capsys)
    assert code == 1
    assert "missing parameter fc2.weight" in err
    code, _, err = run_cli("train", spec, *args, "--partial-params", capsys=capsys)
    assert (code, err) == (
        0,
        "note: partial params: 1 parameter keeps its seeded initial value: fc2.weight\n",
    )
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["overrides"] == ["train.epochs=1", "params_partial=true"]
    assert "params_partial: true" in (run / "resolved.yaml").read_text()
    assert "params_partial: false" in (run / "spec.yaml").read_text()
    assert run_cli("evaluate", run, capsys=capsys)[0] == 0
    code, _, err = run_cli("train", run, "--resume", capsys=capsys)
    assert (code, err) == (0, "")


def test_trained_values_past_a_clamp_are_saved_at_its_end(tiny_spec: Path) -> None:
    """Training can move a decay constant past 1, where the neuron clamps it: the run's params
    file holds 1 (within the spec's bounds, so `snnspec run DIR` loads it) and computes the same.
    """
    import jax

    import snnspec
    from snnspec.model.params import apply_params, clamp_parameters

    model = snnspec.compile(load(tiny_spec))
    drifted = apply_params(model, {"out.decay_constants": np.array([1.2], np.float32)})
    clamped, keys = clamp_parameters(drifted)
    assert keys == ["out.decay_constants"]
    assert snnspec.parameter_arrays(clamped)["out.decay_constants"].tolist() == [1.0]
    assert clamp_parameters(clamped)[1] == []
    x = jax.random.bernoulli(jax.random.PRNGKey(0), 0.3, (2, 10, 8)).astype(np.float32)
    key = jax.random.PRNGKey(1)
    for a, b in zip(
        snnspec.simulate(drifted, x, key=key), snnspec.simulate(clamped, x, key=key), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_progress_bar_shows_no_metrics_before_the_first_batch_ends() -> None:
    from rich.progress import TextColumn

    from snnspec.training.loop import _Progress

    progress = _Progress(enabled=False, echo=lambda line: None)
    progress.start("epoch 1", total=3)

    def shown() -> str:
        task = progress.progress.tasks[0]
        columns = [c for c in progress.progress.columns if isinstance(c, TextColumn)]
        return " ".join(column.render(task).plain for column in columns)

    assert "nan" not in shown()
    assert "0.000" not in shown()
    assert "loss —  acc —  — samples/s" in shown()
    progress.advance(0.5, 0.25, 1234.4)
    assert "loss 0.5000  acc 0.250  1234 samples/s" in shown()
