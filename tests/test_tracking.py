"""Tracking: the tags a record becomes, and TensorBoard's and MLflow's logs read back with
their own readers (skipped where the extras are not installed; CI installs them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli

import snnspec
from snnspec.training.tracking import scalars

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "synthetic_recurrent.yaml"
SMALL = {"train.epochs": 2, "train.data.num_samples": 64, "train.batch_size": 16, "time.steps": 16}

TAGS = {
    "train/loss",
    "train/accuracy",
    "lr",
    "train/synops",
    "throughput/samples_per_second",
    "throughput/step_time",
}  # and val/* where the records have val_* keys


def expected_tags(records: list[dict[str, Any]]) -> set[str]:
    val = {"val/loss", "val/accuracy"} if "val_loss" in records[0] else set()
    return TAGS | val


def test_a_record_becomes_the_documented_tags() -> None:
    record = {
        "epoch": 3,
        "train_loss": 0.5,
        "train_accuracy": 0.75,
        "val_loss": 0.625,
        "val_accuracy": 0.5,
        "learning_rate": 0.001,
        "train_synops": 12.5,
        "step_time": 0.25,
        "samples_per_second": 64.0,
        "train_time_seconds": 1.0,
        "test_loss": 9.0,  # never a per-epoch scalar
    }
    assert scalars(record) == {
        "train/loss": 0.5,
        "train/accuracy": 0.75,
        "val/loss": 0.625,
        "val/accuracy": 0.5,
        "lr": 0.001,
        "train/synops": 12.5,
        "throughput/samples_per_second": 64.0,
        "throughput/step_time": 0.25,
    }
    without_val = {
        k: v for k, v in record.items() if not k.startswith("val_") and k != "train_synops"
    }
    assert scalars(without_val) == {
        "train/loss": 0.5,
        "train/accuracy": 0.75,
        "lr": 0.001,
        "throughput/samples_per_second": 64.0,
        "throughput/step_time": 0.25,
    }


def stop_after_first(epoch: int, record: dict[str, Any]) -> None:
    raise RuntimeError("stop")


def interrupted_then_resumed(directory: Path, log: list[str], log_on_resume: list[str]) -> None:
    with pytest.raises(RuntimeError, match="stop"):
        snnspec.train(CONFIG, directory, SMALL, [stop_after_first], log=log, echo=None)
    snnspec.train(directory, resume=True, log=log_on_resume, echo=None)


# --- TensorBoard ------------------------------------------------------------------------------


def tensorboard_scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of every event file in ``logdir``: tag -> [(step, value)] by step."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    multiplexer = EventMultiplexer().AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    found: dict[str, list[tuple[int, float]]] = {}
    for run in multiplexer.Runs():
        accumulator = multiplexer.GetAccumulator(run)
        for tag in accumulator.Tags()["scalars"]:
            found.setdefault(tag, []).extend((e.step, e.value) for e in accumulator.Scalars(tag))
    return {tag: sorted(points) for tag, points in found.items()}


def test_tensorboard_logs_every_epoch_once_across_a_resume(tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    directory = tmp_path / "run"
    interrupted_then_resumed(directory, ["tensorboard"], ["tensorboard"])
    run = snnspec.open_run(directory)
    logged = tensorboard_scalars(directory / "tensorboard")
    assert set(logged) == expected_tags(run.metrics) | {"test/loss", "test/accuracy"}
    for tag, key in [("train/loss", "train_loss"), ("lr", "learning_rate")]:
        want = [(r["epoch"], pytest.approx(r[key], rel=1e-6)) for r in run.metrics]
        assert logged[tag] == want
    results = run.results
    assert logged["test/accuracy"] == [(results["epoch"], pytest.approx(results["test_accuracy"]))]
    assert run.manifest["tracking"]["tensorboard"] == {"logdir": "tensorboard", "epoch": 2}


def test_a_resume_in_the_same_second_keeps_the_earlier_event_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tensorboardX names event files by the second: each session's file must stay its own."""
    event_file_writer = pytest.importorskip("tensorboardX.event_file_writer")
    monkeypatch.setattr(event_file_writer.time, "time", lambda: 1_700_000_000.0)
    directory = tmp_path / "run"
    interrupted_then_resumed(directory, ["tensorboard"], ["tensorboard"])
    assert len(list((directory / "tensorboard").iterdir())) == 2
    logged = tensorboard_scalars(directory / "tensorboard")
    assert [step for step, _ in logged["train/loss"]] == [1, 2]


def test_a_tracker_added_on_resume_logs_the_earlier_epochs_too(tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    directory = tmp_path / "run"
    interrupted_then_resumed(directory, [], ["tensorboard"])
    logged = tensorboard_scalars(directory / "tensorboard")
    assert [step for step, _ in logged["train/loss"]] == [1, 2]


# --- MLflow -----------------------------------------------------------------------------------


def mlflow_client(uri: str) -> Any:
    mlflow = pytest.importorskip("mlflow")
    return mlflow.MlflowClient(uri)


def test_mlflow_logs_scalars_params_and_the_resolved_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    directory = tmp_path / "run"
    interrupted_then_resumed(directory, ["mlflow"], ["mlflow"])
    run = snnspec.open_run(directory)
    state = run.manifest["tracking"]["mlflow"]
    assert (state["store"], state["epoch"]) == ("mlflow.db", 2)
    client = mlflow_client(f"sqlite:///{directory / 'mlflow.db'}")
    logged = client.get_run(state["run_id"])  # the same MLflow run, continued
    assert logged.info.status == "FINISHED"
    assert logged.data.tags["snnspec.spec_sha256"] == run.manifest["resolved_spec_sha256"]
    assert logged.data.params["seed"] == str(run.manifest["seed"])
    assert logged.data.params["spec_name"] == "synthetic-recurrent"
    assert logged.data.params["set.train.epochs"] == "2"
    assert set(logged.data.metrics) == expected_tags(run.metrics) | {"test/loss", "test/accuracy"}
    for tag, key in [("train/accuracy", "train_accuracy"), ("lr", "learning_rate")]:
        history = client.get_metric_history(state["run_id"], tag)
        got = sorted((m.step, m.value) for m in history)
        assert got == [(r["epoch"], pytest.approx(r[key])) for r in run.metrics]
    artifacts = Path(client.download_artifacts(state["run_id"], "resolved.yaml", str(tmp_path)))
    assert artifacts.read_text() == (directory / "resolved.yaml").read_text()
    assert (directory / "mlartifacts").is_dir()  # inside the run folder, not the working dir


def test_mlflow_uses_the_tracking_uri_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)  # MLflow puts this store's artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "sweep")
    directory = tmp_path / "run"
    with pytest.raises(RuntimeError, match="stop"):
        snnspec.train(CONFIG, directory, SMALL, [stop_after_first], log=["mlflow"], echo=None)
    assert not (directory / "mlflow.db").exists()
    state = snnspec.open_run(directory).manifest["tracking"]["mlflow"]
    client = mlflow_client(uri)
    logged = client.get_run(state["run_id"])
    assert logged.info.status == "KILLED"
    assert client.get_experiment(logged.info.experiment_id).name == "sweep"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # resuming against another store is refused
    with pytest.raises(snnspec.InputError, match=r"now the store is the run folder's mlflow.db"):
        snnspec.train(directory, resume=True, log=["mlflow"], echo=None)
    assert json.loads((directory / "manifest.json").read_text())["status"] == "interrupted"


def test_cli_logs_to_both_and_force_replaces_the_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tensorboardX")
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    directory = tmp_path / "run"
    sets = [arg for path, value in SMALL.items() for arg in ("--set", f"{path}={value}")]
    args = ("train", CONFIG, "-o", directory, *sets, "--log", "tensorboard", "--log", "mlflow")
    assert run_cli(*args, capsys=capsys)[0] == 0
    first = snnspec.open_run(directory).manifest["tracking"]
    assert set(first) == {"tensorboard", "mlflow"}
    assert run_cli(*args, "--force", capsys=capsys)[0] == 0
    second = snnspec.open_run(directory).manifest["tracking"]
    new, old = second["mlflow"]["run_id"], first["mlflow"]["run_id"]
    client = mlflow_client(f"sqlite:///{directory / 'mlflow.db'}")
    # the store keeps the earlier run as an earlier MLflow run; the manifest names the new one
    runs = client.search_runs([second["mlflow"]["experiment_id"]])
    assert sorted(r.info.run_id for r in runs) == sorted([new, old])
    history = client.get_metric_history(new, "train/loss")
    assert sorted(m.step for m in history) == [1, 2]
    logged = tensorboard_scalars(directory / "tensorboard")
    assert [step for step, _ in logged["train/loss"]] == [1, 2]


def test_the_same_tracker_twice_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    with pytest.raises(snnspec.InputError, match="two tensorboard trackers"):
        snnspec.train(CONFIG, tmp_path / "run", log=["tensorboard", "tensorboard"], echo=None)
    assert not (tmp_path / "run").exists()
