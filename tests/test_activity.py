"""Activity diagnostics: ``validate --activity`` and the start of ``train`` report every
spiking layer's spike rate on one batch and warn about silent and saturated layers;
``run --record`` writes chosen layers' outputs; ``with_outputs`` takes layer names."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import run_cli

import snnspec
from snnspec.training.activity import (
    SATURATED,
    activity_batch,
    activity_warnings,
    measure_activity,
)

SILENT = """\
snnspec: 1
name: silent
seed: 0
time: {steps: 20}
inputs: [{name: x, shape: [8]}]
layers:
  - {name: fc1, type: linear, out_features: 16}
  - {name: lif1, type: lif, decay_constants: [0.9, 0.8], threshold: 5.0}
"""
"""One LIF layer whose threshold its input never reaches (silent at initialisation)."""

TRAIN = """\
train:
  data: {type: synthetic, num_samples: 24, num_classes: 2, segments: 2, rate_high: 0.5}
  loss: {type: cross_entropy, readout: spike_count}
  optimizer: {type: adam, learning_rate: 0.01}
  epochs: 1
  batch_size: 12
"""


@pytest.fixture
def silent(tmp_path: Path) -> Path:
    path = tmp_path / "silent.yaml"
    path.write_text(SILENT)
    return path


def test_validate_activity_warns_about_a_silent_layer_and_the_fix_silences_the_warning(
    silent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli("validate", silent, "--activity", capsys=capsys)
    assert code == 0
    assert "activity (seeded Bernoulli(0.1) input, 1 sample x 20 steps" in out
    assert "  lif1  0.0000           0 spikes  silent" in out
    assert err == (
        f"warning: {silent}:8:5: layers[1]: layer 'lif1' (lif) is silent: not one spike on "
        "seeded Bernoulli(0.1) input, 1 sample x 20 steps; lower its `threshold` (now 5), "
        "raise the `gain` of `weight_init` of 'fc1', or scale the input up\n"
    )
    gain = "layers.0.weight_init={type: kaiming_uniform, gain: 30}"
    for fix in ("layers.1.threshold=0.05", gain):  # each suggested fix alone
        code, out, err = run_cli("validate", silent, "--activity", "--set", fix, capsys=capsys)
        assert (code, err) == (0, "")
        rate = float(out.rsplit("  lif1  ", 1)[1].split()[0])  # the report's row
        assert rate > 0


def test_validate_activity_warns_about_a_saturated_layer(
    silent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        "validate", silent, "--activity", "-q", "--set", "layers.1.threshold=-1.0", capsys=capsys
    )
    assert code == 0
    assert "layer 'lif1' (lif) is saturated: it spikes at 100% of its neuron-steps" in err
    assert "raise its `threshold` (now -1), lower the `gain` of `weight_init` of 'fc1'" in err


def test_validate_without_activity_runs_no_batch(
    silent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli("validate", silent, capsys=capsys)
    assert (code, err) == (0, "")
    assert "activity (" not in out


def test_train_reports_the_initial_activity_and_warns_at_its_start(
    silent: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "train.yaml"
    spec.write_text(SILENT.replace("out_features: 16", "out_features: 2") + TRAIN)
    code, out, _ = run_cli("train", spec, "-o", tmp_path / "run", "--no-progress", capsys=capsys)
    assert code == 0
    assert "activity (the first training batch, 12 samples x 20 steps" in out
    assert f"warning: {spec}:8:5: layers[1]: layer 'lif1' (lif) is silent" in out
    assert out.index("activity (") < out.index("epoch   1")


def test_the_batch_is_trainings_first_batch(silent: Path, tmp_path: Path) -> None:
    from snnspec.training.data import epoch_order, load_data, train_seed

    path = tmp_path / "train.yaml"
    path.write_text(SILENT.replace("out_features: 16", "out_features: 2") + TRAIN)
    spec = snnspec.load(path)
    batch = activity_batch(spec, snnspec.compile(spec).plan)
    data = load_data(spec)
    first = epoch_order(len(data.y_train), train_seed(spec), 1)[:12]
    assert len(batch.inputs) == 1
    np.testing.assert_array_equal(batch.inputs[0], data.x_train[first])


def test_rates_and_counts_equal_the_layer_outputs(silent: Path) -> None:
    spec = snnspec.load(silent, ["layers.1.threshold=0.05"])
    model = snnspec.compile(spec)
    batch = activity_batch(spec, model.plan)
    activity = measure_activity(model, batch, jax.random.PRNGKey(0), extra=[0])
    (lif1,) = activity.layers
    spikes = snnspec.simulate(model.with_outputs(["lif1"]), batch.inputs, key=jax.random.PRNGKey(0))
    values = np.asarray(spikes[0])
    assert lif1.spikes == int(values.sum()) > 0
    assert lif1.rate == pytest.approx(values.mean(), rel=1e-12)
    assert lif1.status == "ok"
    assert lif1.rate <= SATURATED
    assert set(activity.outputs) == {0, 1}  # the extra layer's output too
    assert activity_warnings(spec, model.plan, activity) == []


# --- run --record and with_outputs by name -------------------------------------------------


def test_run_record_writes_the_layers_outputs(
    silent: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(3)
    x = (rng.random((2, 20, 8)) < 0.3).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    output = tmp_path / "out.npz"
    code, _, err = run_cli(
        "run",
        silent,
        "--set",
        "layers.1.threshold=0.05",
        "--input",
        tmp_path / "in.npz",
        "--record",
        "fc1,lif1",
        "-o",
        output,
        capsys=capsys,
    )
    assert (code, err) == (0, ""), err
    spec = snnspec.load(silent, ["layers.1.threshold=0.05"])
    model = snnspec.compile(spec)
    expected = snnspec.simulate(
        model.with_outputs(["fc1", "lif1"]), x, key=jax.random.PRNGKey(spec.seed)
    )
    with np.load(output) as result:
        assert sorted(result.files) == ["fc1", "lif1"]  # lif1 is also the final layer
        np.testing.assert_allclose(result["fc1"], np.asarray(expected[0]), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(result["lif1"], np.asarray(expected[1]))
        assert result["lif1"].sum() > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--record", "lif2", "-o", "out.npz"), "unknown layer 'lif2' (did you mean 'lif1'?)"),
        (("--record", "fc1"), "the recorded outputs go to --output or --plot; give one"),
    ],
)
def test_run_record_refusals_are_usage_errors(
    silent: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("run", silent, *args, capsys=capsys)
    assert code == 2
    assert "--record" in err
    assert message in " ".join(err.replace("│", " ").split())
    assert not (tmp_path / "out.npz").exists()


def test_with_outputs_takes_names_and_ids(silent: Path) -> None:
    model = snnspec.compile(snnspec.load(silent))
    assert model.with_outputs(["lif1", 0]).plan.final_layer_ids == (1, 0)
    assert model.with_outputs(["fc1"]) == model.with_outputs([0])
    with pytest.raises(snnspec.InputError, match=r"unknown layer 'lif' \(did you mean 'lif1'\?\)"):
        model.with_outputs(["lif"])
    with pytest.raises(snnspec.InputError, match=r"layer id 2 is out of range \(0-1\)"):
        model.with_outputs([2])


def test_run_record_draws_the_layers_in_the_plot(
    silent: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import snnspec.training.plots as plots

    drawn: list[tuple[int, ...]] = []
    draw = plots.plot_run

    def spy(path: Path, model: snnspec.StatefulModel, *args: object) -> None:
        drawn.append(model.plan.final_layer_ids)
        draw(path, model, *args)  # pyright: ignore[reportArgumentType]

    monkeypatch.setattr(plots, "plot_run", spy)
    plot = tmp_path / "run.png"
    code, _, err = run_cli("run", silent, "--record", "fc1", "--plot", plot, capsys=capsys)
    assert (code, err) == (0, "")
    assert drawn == [(1, 0)]  # the final layer lif1, then the recorded fc1
    assert plot.read_bytes().startswith(b"\x89PNG")
