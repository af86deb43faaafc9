"""Training from Python: snnspec.train, Run, snnspec.evaluate, overrides, callbacks, and the
CLI's `train` as a layer over them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import run_cli, without_times

import snnspec
from snnspec._errors import UsageError
from snnspec.model.params import parameter_arrays, read_params
from snnspec.spec.overrides import resolved_text
from snnspec.training.api import override_texts

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "synthetic_recurrent.yaml"
SMALL = {"train.epochs": 2, "train.data.num_samples": 64, "train.batch_size": 16, "time.steps": 16}
"""The synthetic example made small, as a mapping of Python values."""
SMALL_SET = [f"{path}={value}" for path, value in SMALL.items()]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> snnspec.Run:
    return snnspec.train(CONFIG, tmp_path_factory.mktemp("api") / "run", SMALL, echo=None)


def test_train_returns_a_view_of_the_run_folder(run: snnspec.Run) -> None:
    lines = (run.dir / "metrics.jsonl").read_text().splitlines()
    assert run.metrics == [json.loads(line) for line in lines]
    assert [r["epoch"] for r in run.metrics] == [1, 2]
    results = json.loads((run.dir / "results.json").read_text())
    assert run.test_metrics == {
        k: v for k, v in results.items() if k.startswith("test_") and k != "test_samples"
    }
    assert {"test_loss", "test_accuracy"} <= set(run.test_metrics)
    assert run.selected == results.get("selected")
    assert run.manifest == json.loads((run.dir / "manifest.json").read_text())
    assert snnspec.Run.open(run.dir) == run == snnspec.open_run(str(run.dir))


def test_the_run_gives_the_trained_parameters_and_model(run: snnspec.Run) -> None:
    stored = read_params(run.dir / "params.safetensors")
    params = run.params
    assert params.keys() == stored.keys()
    assert all(np.array_equal(params[k], stored[k]) for k in stored)
    model = run.model()
    assert isinstance(model, snnspec.StatefulModel)
    arrays = parameter_arrays(model)
    assert all(np.array_equal(np.asarray(arrays[k]), stored[k]) for k in stored)


def test_evaluate_returns_the_test_metrics_results_json_reports(run: snnspec.Run) -> None:
    for target in (run, run.dir, str(run.dir)):
        scores = snnspec.evaluate(target)
        assert {k: scores[k] for k in run.test_metrics} == run.test_metrics


def test_a_mapping_of_overrides_is_the_same_as_the_set_strings(run: snnspec.Run) -> None:
    assert override_texts(SMALL) == SMALL_SET
    assert run.manifest["overrides"] == SMALL_SET
    mapped = {"train.optimizer": {"type": "sgd", "momentum": 0.9}, "layers.lif1.threshold": 0.5}
    as_set = ["train.optimizer={type: sgd, momentum: 0.9}", "layers.lif1.threshold=0.5"]
    assert override_texts(mapped) == as_set
    from_mapping = snnspec.load(CONFIG, override_texts(mapped))
    assert resolved_text(from_mapping) == resolved_text(snnspec.load(CONFIG, as_set))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"train.epochs": (1, 2)}, r"overrides\['train.epochs'\]: \(1, 2\) cannot be given"),
        ({"train.epochs": np.int64(3)}, "cannot be given as an override"),
        ("train.epochs=3", r"write \['train.epochs=3'\]"),
        ({"train.epochs=3": 3}, r"overrides\['train.epochs=3'\]: a path cannot contain '='"),
    ],
)
def test_overrides_that_cannot_apply_are_refused(
    overrides: Any, message: str, tmp_path: Path
) -> None:
    with pytest.raises(snnspec.SpecError, match=message):
        snnspec.train(CONFIG, tmp_path / "run", overrides, echo=None)
    assert not (tmp_path / "run").exists()


def test_overrides_with_a_modelspec_are_refused(tmp_path: Path) -> None:
    spec = snnspec.load(CONFIG, SMALL_SET)
    with pytest.raises(snnspec.InputError, match="overrides apply to a spec file: pass its path"):
        snnspec.train(spec, tmp_path / "run", {"train.epochs": 1}, echo=None)
    assert not (tmp_path / "run").exists()


def test_callbacks_see_each_record_once_it_is_on_disk(run: snnspec.Run, tmp_path: Path) -> None:
    seen: list[tuple[int, dict[str, Any], list[dict[str, Any]], bool]] = []
    directory = tmp_path / "run"

    class Recorder:  # an object with the method works like a function
        def __call__(self, epoch: int, record: dict[str, Any]) -> None:
            lines = (directory / "metrics.jsonl").read_text().splitlines()
            checkpoint = directory / "checkpoints" / f"epoch-{epoch:04d}.safetensors"
            seen.append((epoch, record, [json.loads(x) for x in lines], checkpoint.is_file()))

    again = snnspec.train(CONFIG, directory, SMALL, [Recorder()], echo=None)
    assert [epoch for epoch, *_ in seen] == [1, 2]
    for epoch, record, on_disk, checkpointed in seen:
        assert on_disk[-1] == record
        assert (on_disk[-1]["epoch"], checkpointed) == (epoch, True)
    assert without_times(again.metrics) == without_times(run.metrics)


def test_a_raising_callback_stops_the_run_and_it_resumes(run: snnspec.Run, tmp_path: Path) -> None:
    directory = tmp_path / "run"
    lines: list[str] = []

    def stop_after_first(epoch: int, record: dict[str, Any]) -> None:
        raise ValueError(f"enough after epoch {epoch}")

    with pytest.raises(ValueError, match="enough after epoch 1"):
        snnspec.train(CONFIG, directory, SMALL, [stop_after_first], echo=lines.append)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert (manifest["status"], manifest["epochs_completed"]) == ("interrupted", 1)
    assert manifest["interrupted_by"] == (
        "callback test_a_raising_callback_stops_the_run_and_it_resumes.<locals>."
        "stop_after_first: ValueError: enough after epoch 1"
    )
    assert lines[-1].startswith("stopped by callback ")
    assert lines[-1].endswith(
        f"the last checkpoint is epoch 1. Continue with `snnspec train {directory} --resume`"
    )
    with pytest.raises(snnspec.InputError, match="training was interrupted after epoch 1"):
        _ = snnspec.open_run(directory).test_metrics
    resumed = snnspec.train(directory, resume=True, echo=None)  # the folder, in place
    assert resumed.dir == directory
    assert without_times(resumed.metrics) == without_times(run.metrics)
    assert resumed.test_metrics == run.test_metrics
    manifest = resumed.manifest
    assert (manifest["status"], manifest["resumed"]) == ("completed", 1)
    assert "interrupted_by" not in manifest


def test_cli_train_is_the_api(run: snnspec.Run, tmp_path: Path, capsys: Any) -> None:
    sets = [arg for text in SMALL_SET for arg in ("--set", text)]
    code, out, err = run_cli("train", CONFIG, "-o", tmp_path / "cli", *sets, capsys=capsys)
    assert (code, err) == (0, ""), err
    assert "done: test accuracy" in out
    cli = snnspec.open_run(tmp_path / "cli")
    assert without_times(cli.metrics) == without_times(run.metrics)
    assert cli.manifest["overrides"] == run.manifest["overrides"]
    assert cli.manifest["resolved_spec_sha256"] == run.manifest["resolved_spec_sha256"]


def test_unknown_log_target_is_a_usage_error(tmp_path: Path, capsys: Any) -> None:
    code, _, err = run_cli("train", CONFIG, "-o", tmp_path / "run", "--log", "wandb", capsys=capsys)
    assert code == 2
    assert "--log" in err
    assert "wandb" in err
    assert not (tmp_path / "run").exists()
    with pytest.raises(snnspec.InputError, match="unknown tracker 'tensorbord' \\(did you mean"):
        snnspec.train(CONFIG, tmp_path / "run", log=["tensorbord"], echo=None)


@pytest.mark.parametrize(
    ("extra", "module", "library"),
    [("tensorboard", "tensorboardX", "tensorboardX"), ("mlflow", "mlflow", "mlflow-skinny")],
)
def test_a_missing_extra_names_the_pip_command(
    extra: str,
    module: str,
    library: str,
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    code, _, err = run_cli("train", CONFIG, "-o", tmp_path / "run", "--log", extra, capsys=capsys)
    assert (code, err) == (1, f"--log {extra} needs {library}: pip install 'snnspec[{extra}]'\n")
    assert not (tmp_path / "run").exists()


def test_usage_errors_of_the_api_are_usage_errors_on_the_command_line(
    run: snnspec.Run, tmp_path: Path, capsys: Any
) -> None:
    code, _, err = run_cli("train", run.dir, "--resume", "--partial-params", capsys=capsys)
    assert code == 2
    assert "--partial-params" in " ".join(err.split())  # rich draws a box around it
    with pytest.raises(UsageError) as caught:
        snnspec.train(run.dir, resume=True, partial_params=True, echo=None)
    assert str(caught.value) == (
        "`partial_params`: a run folder resumes with the settings it was started with"
    )


def test_refusals_of_the_api_name_its_arguments_and_the_command_line_its_flags(
    run: snnspec.Run, tmp_path: Path, capsys: Any
) -> None:
    new = tmp_path / "new"
    cases = [
        (
            ("train", run.dir),
            {},
            f"{run.dir} is a run folder; pass --resume to continue it",
            f"{run.dir} is a run folder; pass `resume=True` to continue it",
        ),
        (
            ("train", run.dir, "--resume", "-o", new),
            {"resume": True, "out_dir": new},
            "a run folder resumes in place; leave out -o",
            "a run folder resumes in place; leave out `out_dir`",
        ),
        (
            ("train", CONFIG, "--resume"),
            {"resume": True},
            "--resume needs the run folder: pass -o DIR (or the run folder as the spec)",
            "`resume=True` needs the run folder: pass `out_dir=DIR` (or the run folder as the "
            "spec)",
        ),
        (
            ("train", CONFIG, "-o", new, "--strict-env"),
            {"out_dir": new, "strict_env": True},
            "--strict-env applies to --resume (a run folder), not to a new run",
            "`strict_env=True` applies to `resume=True` (a run folder), not to a new run",
        ),
    ]
    for args, arguments, cli, api in cases:
        assert run_cli(*args, capsys=capsys)[::2] == (1, cli + "\n")
        with pytest.raises(snnspec.InputError) as caught:
            snnspec.train(args[1], **arguments, echo=None)
        assert str(caught.value) == api
    assert not new.exists()
