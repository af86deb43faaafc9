"""Resume with more epochs: `snnspec train DIR --resume --set train.epochs=N`, its refusals,
the manifest's record of each extension, and `reproduce` replaying an extended run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import TINY_MODEL, run_cli, without_times

from snnspec._errors import SpecError
from snnspec._io import sha256_text
from snnspec.spec.load import load
from snnspec.spec.overrides import resolved_text
from snnspec.training.loop import train

SPEC = (
    TINY_MODEL
    + """\
train:
  data: {type: synthetic, num_samples: 48, num_classes: 3, segments: 2, rate_high: 0.5}
  optimizer: {type: adam, learning_rate: 0.01, schedule: SCHEDULE}
  epochs: 1
  batch_size: 12
"""
)


def quiet(_: str) -> None:
    pass


def records(directory: Path) -> list[dict[str, Any]]:
    lines = (directory / "metrics.jsonl").read_text().splitlines()
    return without_times([json.loads(line) for line in lines])


def params(directory: Path) -> dict[str, np.ndarray]:
    from snnspec.model.params import read_params

    return read_params(directory / "params.safetensors")


def same_params(a: Path, b: Path) -> bool:
    first, second = params(a), params(b)
    return first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)


def manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "manifest.json").read_text())


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("specs")
    found = {}
    for schedule in ("constant", "exponential", "cosine"):
        path = root / f"{schedule}.yaml"
        path.write_text(SPEC.replace("SCHEDULE", schedule))
        found[schedule] = path
    return found


@pytest.fixture(scope="module")
def one_epoch(specs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished 1-epoch run per schedule (tests extend copies of them)."""
    root = tmp_path_factory.mktemp("runs")
    runs = {}
    for schedule, spec in specs.items():
        runs[schedule] = train(load(spec), root / schedule, progress=False, echo=quiet).directory
    return runs


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


@pytest.mark.parametrize("schedule", ["constant", "exponential"])
def test_extending_a_run_equals_the_longer_run_bitwise_unless_the_schedule_needs_epochs(
    schedule: str,
    one_epoch: dict[str, Path],
    specs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """constant and exponential (a factor per epoch) do not depend on train.epochs, and each
    epoch's batches and keys depend on (seed, epoch) only: 1 epoch + 1 = 2 epochs, bitwise."""
    run = copy_run(one_epoch[schedule], tmp_path / "run")
    original = manifest(run)
    code, out, err = run_cli(
        "train", run, "--resume", "--set", "train.epochs=2", "--no-progress", capsys=capsys
    )
    assert (code, err) == (0, ""), err
    assert out.splitlines()[0] == "extending the run from 1 to 2 epochs after epoch 1"
    fresh = train(
        load(specs[schedule], ["train.epochs=2"]), tmp_path / "fresh", progress=False, echo=quiet
    )
    assert records(run) == records(fresh.directory)
    assert same_params(run, fresh.directory)
    after = manifest(run)
    assert after["status"] == "completed"
    assert after["epochs_completed"] == 2
    assert after["overrides"] == original["overrides"] == []
    assert after["original_resolved_spec_sha256"] == original["resolved_spec_sha256"]
    assert after["resolved_spec_sha256"] == sha256_text((run / "resolved.yaml").read_text())
    assert (run / "resolved.yaml").read_text() == (fresh.directory / "resolved.yaml").read_text()
    [extension] = after["extensions"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", extension.pop("at"))
    assert extension == {
        "from_epochs": 1,
        "to_epochs": 2,
        "epochs_completed": 1,
        "overrides": ["train.epochs=2"],
        "resolved_spec_sha256": after["resolved_spec_sha256"],
    }


def test_extending_a_cosine_run_continues_the_longer_curve_and_reproduce_replays_it(
    one_epoch: dict[str, Path],
    specs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """cosine decays over all steps: epoch 1 ran on the 1-epoch curve, epoch 2 on the 2-epoch
    curve, so the extended run is neither the 1- nor the 2-epoch run; reproduce replays it."""
    run = copy_run(one_epoch["cosine"], tmp_path / "run")
    code, out, err = run_cli(
        "train", run, "--resume", "--set", "train.epochs=2", "--no-progress", capsys=capsys
    )
    assert (code, err) == (0, ""), err
    assert out.splitlines()[0] == (
        "extending the run from 1 to 2 epochs after epoch 1; note: the cosine schedule decays "
        "over all epochs, so the remaining epochs follow the 2-epoch curve (the learning rate "
        "rises again) and the result differs from a fresh 2-epoch run; `snnspec reproduce` "
        "replays it as run"
    )
    fresh = train(
        load(specs["cosine"], ["train.epochs=2"]), tmp_path / "fresh", progress=False, echo=quiet
    )
    extended = records(run)
    assert extended[0] == records(one_epoch["cosine"])[0]
    assert extended[0] != records(fresh.directory)[0]
    assert not same_params(run, fresh.directory)
    code, out, err = run_cli(
        "reproduce", run, "-o", tmp_path / "again", "--no-progress", capsys=capsys
    )
    assert (code, err) == (0, ""), err
    assert "parameters: bitwise identical" in out
    assert "metrics: bitwise identical (2 epochs" in out
    assert "resolves the spec to different text" not in out  # each stage's spec is the one run
    assert records(tmp_path / "again") == extended
    assert [e["to_epochs"] for e in manifest(tmp_path / "again")["extensions"]] == [2]


def test_an_interrupted_run_extended_is_replayed_from_the_epoch_it_stopped(
    specs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"

    def interrupt(epoch: int, record: dict[str, Any]) -> None:
        raise KeyboardInterrupt

    spec = load(specs["cosine"], ["train.epochs=2"])
    with pytest.raises(KeyboardInterrupt):
        train(spec, run, progress=False, echo=quiet, callbacks=[interrupt])
    code, out, err = run_cli(
        "train", run, "--resume", "--set", "train.epochs=3", "--no-progress", capsys=capsys
    )
    assert (code, err) == (0, ""), err
    assert out.startswith("extending the run from 2 to 3 epochs after epoch 1;")
    [extension] = manifest(run)["extensions"]
    assert (extension["from_epochs"], extension["to_epochs"]) == (2, 3)
    assert extension["epochs_completed"] == 1
    assert [r["epoch"] for r in records(run)] == [1, 2, 3]
    code, out, err = run_cli(
        "reproduce", run, "-o", tmp_path / "again", "--no-progress", capsys=capsys
    )
    assert (code, err) == (0, ""), err
    assert "reproduced bitwise" in out
    assert same_params(run, tmp_path / "again")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "train.batch_size=6",
            "--set train.batch_size=6: resuming may change only train.epochs (upwards), and "
            "this changes train.batch_size; train the spec with --set into a new folder",
        ),
        (
            "layers.lif1.threshold=0.3",
            "--set layers.lif1.threshold=0.3: resuming may change only train.epochs "
            "(upwards), and this changes layers.lif1.threshold; train the spec with --set "
            "into a new folder",
        ),
        (
            "train.epochs=1",
            "--set train.epochs=1: the run already trains 1 epochs, and resuming can only add "
            "epochs; pass more than 1 (--resume alone continues an interrupted run)",
        ),
    ],
)
def test_resume_refuses_any_other_change(
    override: str,
    message: str,
    one_epoch: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = copy_run(one_epoch["constant"], tmp_path / "run")
    before = (run / "manifest.json").read_text()
    code, out, err = run_cli(
        "train", run, "--resume", "--set", "train.epochs=2", "--set", override, capsys=capsys
    )
    assert (code, out, err) == (1, "", message + "\n")  # train.epochs: the last --set wins
    assert (run / "manifest.json").read_text() == before


def test_resume_refuses_fewer_epochs(
    one_epoch: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_run(one_epoch["constant"], tmp_path / "run")
    code, _, err = run_cli(
        "train", run, "--resume", "--set", "train.epochs=2", "--no-progress", capsys=capsys
    )
    assert code == 0, err
    code, out, err = run_cli("train", run, "--resume", "--set", "train.epochs=1", capsys=capsys)
    assert (code, out) == (1, "")
    assert err == (
        "--set train.epochs=1: the run already trains 2 epochs, and resuming can only add "
        "epochs; pass more than 2 (--resume alone continues an interrupted run)\n"
    )


def test_the_library_names_what_a_resumed_spec_changed(
    one_epoch: dict[str, Path], specs: dict[str, Path], tmp_path: Path
) -> None:
    run = copy_run(one_epoch["constant"], tmp_path / "run")
    spec = load(specs["constant"], ["train.epochs=2", "train.optimizer.learning_rate=0.02"])
    with pytest.raises(SpecError) as caught:
        train(spec, run, resume=True, progress=False, echo=quiet)
    assert caught.value.message == (
        f"{run} holds a run of a different spec (train.optimizer.learning_rate, train.epochs "
        "changed); resuming may change only train.epochs, upwards: resume with the same spec "
        "and `override` values, or `snnspec train DIR --resume [--set train.epochs=N]`"
    )
    assert manifest(run) == manifest(one_epoch["constant"])
    assert (
        sha256_text(resolved_text(load(run / "resolved.yaml")))
        == manifest(run)["resolved_spec_sha256"]
    )


def test_an_edited_resolved_spec_is_not_extended(
    one_epoch: dict[str, Path], specs: dict[str, Path], tmp_path: Path
) -> None:
    run = copy_run(one_epoch["constant"], tmp_path / "run")
    resolved = run / "resolved.yaml"
    resolved.write_text(resolved.read_text().replace("batch_size: 12", "batch_size: 6"))
    with pytest.raises(SpecError) as caught:
        train(load(specs["constant"], ["train.epochs=2"]), run, resume=True, echo=quiet)
    assert str(caught.value) == (
        f"{resolved}: the run's resolved spec differs from its manifest's resolved_spec_sha256 "
        "(edited after the run), so it cannot be extended"
    )


def test_a_run_interrupted_under_a_version_that_wrote_fewer_defaults_resumes_plainly(
    specs: dict[str, Path], tmp_path: Path
) -> None:
    """A newer snnspec writes new defaults into resolved.yaml (here: train.accumulate_steps
    and train.precision, new in 0.4.0); the run's values are unchanged, so --resume continues
    it (no extension) and equals the run never interrupted."""
    run, whole = tmp_path / "run", tmp_path / "whole"
    spec = load(specs["constant"], ["train.epochs=2"])

    def interrupt(epoch: int, record: dict[str, Any]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(spec, run, progress=False, echo=quiet, callbacks=[interrupt])
    resolved = run / "resolved.yaml"
    older = "".join(
        line
        for line in resolved.read_text().splitlines(keepends=True)
        if not line.strip().startswith(("accumulate_steps:", "precision:"))
    )
    assert older != resolved.read_text()
    resolved.write_text(older)
    recorded = manifest(run)
    (run / "manifest.json").write_text(
        json.dumps({**recorded, "resolved_spec_sha256": sha256_text(older)})
    )
    train(load(resolved), run, resume=True, progress=False, echo=quiet)
    train(spec, whole, progress=False, echo=quiet)
    after = manifest(run)
    assert "extensions" not in after
    assert after["original_resolved_spec_sha256"] == sha256_text(older)
    assert after["resolved_spec_sha256"] == sha256_text(resolved.read_text())
    assert resolved.read_text() == resolved_text(spec)
    assert records(run) == records(whole)
    assert same_params(run, whole)


def test_two_extensions_the_first_interrupted_before_its_epochs_are_replayed_bitwise(
    one_epoch: dict[str, Path],
    specs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """1 epoch, extended to 2 but stopped before epoch 2 trained, then extended to 3: the
    2-epoch spec trained no epoch, so the replay is 1 epoch of the first spec, then 2 of the
    last (cosine makes every stage's spec matter)."""
    run = copy_run(one_epoch["cosine"], tmp_path / "run")

    def stop_at_start(line: str) -> None:
        if line.startswith("training"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(load(specs["cosine"], ["train.epochs=2"]), run, resume=True, echo=stop_at_start)
    code, _, err = run_cli(
        "train", run, "--resume", "--set", "train.epochs=3", "--no-progress", capsys=capsys
    )
    assert (code, err) == (0, ""), err
    extensions = manifest(run)["extensions"]
    assert [(e["from_epochs"], e["to_epochs"], e["epochs_completed"]) for e in extensions] == [
        (1, 2, 1),
        (2, 3, 1),
    ]
    code, out, err = run_cli(
        "reproduce", run, "-o", tmp_path / "again", "--no-progress", capsys=capsys
    )
    assert (code, err) == (0, ""), err
    assert "reproduced bitwise" in out
    assert records(tmp_path / "again") == records(run)
