"""``snnspec data`` and ``snnspec.load_data``: statistics, export, plots, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli

import snnspec
from snnspec.spec.load import load
from snnspec.training import data as training_data
from snnspec.training.inspection import split_stats

ROOT = Path(__file__).resolve().parent.parent

SPEC = """\
snnspec: 1
name: {name}
seed: 0
time: {{steps: {steps}}}
inputs: [{{name: x, shape: {shape}}}]
layers:
  - {{name: flat, type: flatten}}
  - {{name: fc, type: linear, out_features: 2}}
  - {{name: out, type: simple_li, decay_constants: [0.9]}}
train:
  data: {data}
  epochs: 1
  batch_size: 2
"""

# Hand-checkable data: 4 training samples (2 steps x 2 channels) and 2 test samples.
TRAIN_X = np.array(
    [
        [[1, 0], [0, 0]],  # 1 event
        [[1, 0], [1, 0]],  # 2 events
        [[0, 0], [1, 0]],  # 1 event
        [[0, 0], [0, 0]],  # none
    ],
    np.float32,
)
TRAIN_Y = np.array([0, 1, 1, 1])
TEST_X = np.array([[[0, 1], [0, 1]], [[1, 1], [0, 0]]], np.float32)
TEST_Y = np.array([1, 0])


def write_spec(folder: Path, data: str, *, steps: int = 2, shape: str = "[2]") -> Path:
    path = folder / "spec.yaml"
    path.write_text(SPEC.format(name="data-check", steps=steps, shape=shape, data=data))
    return path


def npz_spec(folder: Path) -> Path:
    np.savez(folder / "data.npz", inputs=TRAIN_X, labels=TRAIN_Y)
    np.savez(folder / "test.npz", inputs=TEST_X, labels=TEST_Y)
    return write_spec(folder, "{type: npz, path: data.npz, test_path: test.npz}")


SYNTHETIC = (
    "{type: synthetic, num_samples: 40, num_classes: 2, test_fraction: 0.25, "
    "validation_fraction: 0.25}"
)


def test_split_stats_match_hand_computed_values() -> None:
    x = np.array([[[1, 0, 0], [2, 0, 0]], [[0, 0, 0], [-1, 1, 0]]], np.float32)
    stats = split_stats(x, np.array([0, 2]), 3)
    # channel sums of |x|: 4, 1, 0 over 2 samples x 2 steps
    assert stats.samples == 2
    assert stats.shape == (2, 2, 3)
    assert stats.dtype == "float32"
    assert stats.class_counts == (1, 0, 1)
    assert stats.events_per_sample == 2.5
    assert (stats.rate_min, stats.rate_median, stats.rate_max) == (0.0, 0.25, 1.0)
    assert (stats.silent_channels, stats.channels) == (1, 3)


def test_split_stats_flatten_image_channels() -> None:
    x = np.zeros((1, 4, 2, 2, 3), np.float32)
    x[0, :, 1, 0, 2] = 1  # one pixel fires every step
    stats = split_stats(x, np.array([0]), 1)
    assert (stats.channels, stats.silent_channels) == (12, 11)
    assert (stats.rate_max, stats.rate_median, stats.events_per_sample) == (1.0, 0.0, 4.0)


def test_data_prints_exact_statistics_of_an_npz_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = npz_spec(tmp_path)
    digest = training_data.load_data(load(spec)).sha256
    code, out, err = run_cli("data", spec, capsys=capsys)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"{spec}: data-check",
        "  source: npz (data.npz, test.npz)",
        "  classes: 2",
        "  train: 4 samples, shape [4, 2, 2] float32",
        "    class balance: 0: 1, 1: 3",
        "    events per sample: 1",
        "    rate per channel (events per step): min 0 / median 0.25 / max 0.5; "
        "silent channels 1 of 2 (50.0%)",
        "  val: none",
        "  test: 2 samples, shape [2, 2, 2] float32",
        "    class balance: 0: 1, 1: 1",
        "    events per sample: 2",
        "    rate per channel (events per step): min 0.25 / median 0.5 / max 0.75; "
        "silent channels 0 of 2 (0.0%)",
        f"  data sha256: {digest}",
    ]


def test_data_prints_every_split_of_the_synthetic_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, SYNTHETIC, steps=5, shape="[6]")
    dataset = training_data.load_data(load(spec))
    code, out, err = run_cli("data", spec, "--set", "train.seed=3", capsys=capsys)
    assert (code, err) == (0, "")
    assert "  source: synthetic\n" in out
    assert "  train: 20 samples, shape [20, 5, 6] float32\n" in out
    assert "  val: 10 samples, shape [10, 5, 6] float32\n" in out
    assert "  test: 10 samples, shape [10, 5, 6] float32\n" in out
    reseeded = training_data.load_data(load(spec, ["train.seed=3"]))
    assert reseeded.sha256 != dataset.sha256  # --set reaches the data
    assert f"  data sha256: {reseeded.sha256}\n" in out


def test_data_names_the_files_of_an_shd_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("h5py", reason="SHD needs the extra: pip install 'snnspec[datasets]'")
    from test_datasets_audio import shd_fixture
    from test_datasets_audio import write_spec as write_audio_spec

    shd_fixture(tmp_path / "shd", train=12, test=5)
    spec = write_audio_spec(tmp_path, "{type: shd, root: shd, max_duration: 1.0, channels: 16}")
    code, out, err = run_cli("data", spec, capsys=capsys)
    assert (code, err) == (0, "")
    assert "  source: shd (shd/shd_train.h5, shd/shd_test.h5)\n" in out
    assert "  classes: 20\n" in out
    assert "  train: 12 samples, shape [12, 10, 16] float32\n" in out
    assert "  test: 5 samples, shape [5, 10, 16] float32\n" in out


def test_export_round_trip_equals_load_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, SYNTHETIC, steps=5, shape="[6]")
    target = tmp_path / "out" / "data.npz"
    target.parent.mkdir()
    code, out, err = run_cli("data", spec, "--export", target, capsys=capsys)
    assert (code, err) == (0, "")
    assert out.endswith(f"wrote {target}\n")
    dataset = snnspec.load_data(spec)
    with np.load(target) as archive:
        assert sorted(archive.files) == sorted(
            f"{split}_{kind}" for split in ("train", "val", "test") for kind in "xy"
        )
        for split, x, y in (
            ("train", dataset.x_train, dataset.y_train),
            ("val", dataset.x_val, dataset.y_val),
            ("test", dataset.x_test, dataset.y_test),
        ):
            np.testing.assert_array_equal(archive[f"{split}_x"], x)
            np.testing.assert_array_equal(archive[f"{split}_y"], y)
            assert archive[f"{split}_x"].dtype == x.dtype


def test_export_leaves_out_an_empty_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "data_out.npz"
    code, _, err = run_cli("data", npz_spec(tmp_path), "--export", target, capsys=capsys)
    assert (code, err) == (0, "")
    with np.load(target) as archive:
        assert sorted(archive.files) == ["test_x", "test_y", "train_x", "train_y"]
        np.testing.assert_array_equal(archive["train_x"], TRAIN_X)
        np.testing.assert_array_equal(archive["test_y"], TEST_Y)


def test_export_refuses_an_existing_file_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = npz_spec(tmp_path)
    target = tmp_path / "old.npz"
    target.write_bytes(b"earlier work")
    code, out, err = run_cli("data", spec, "--export", target, capsys=capsys)
    assert code == 1
    assert f"--export {target} exists; pass --force" in err
    assert target.read_bytes() == b"earlier work"
    assert out == ""  # refused before the data are read
    code, _, err = run_cli("data", spec, "--export", target, "--force", capsys=capsys)
    assert (code, err) == (0, "")
    with np.load(target) as archive:
        np.testing.assert_array_equal(archive["train_y"], TRAIN_Y)


@pytest.mark.parametrize("maker", ["train", "build"])
def test_export_and_plot_never_write_inside_a_run_or_build_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], maker: str
) -> None:
    spec = npz_spec(tmp_path)
    folder = tmp_path / "made"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"made_by": maker}))
    for flag, name in (("--export", "data.npz"), ("--plot", "data.png")):
        code, _, err = run_cli("data", spec, flag, folder / name, "--force", capsys=capsys)
        assert code == 1
        assert f"is a `snnspec {maker}` folder" in err
        assert not (folder / name).exists()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--export", "data.txt"], "--export"),
        (["--samples", "2"], "--samples"),
        (["--force"], "--force"),
    ],
)
def test_data_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], flag: str
) -> None:
    code, _, err = run_cli("data", npz_spec(tmp_path), *args, capsys=capsys)
    assert code == 2
    assert flag in err


def test_data_without_a_train_section_is_a_located_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = ROOT / "configs" / "named_recurrent.yaml"
    code, out, err = run_cli("data", config, capsys=capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"{config}:")
    assert "no `train:` section" in err


def test_plot_draws_a_raster_and_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="plots need the extra: pip install 'snnspec[plot]'")
    raster = tmp_path / "raster.png"
    code, out, err = run_cli("data", npz_spec(tmp_path), "--plot", raster, capsys=capsys)
    assert (code, err) == (0, "")
    assert out.endswith(f"wrote {raster}\n")
    assert raster.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    frames = tmp_path / "frames"
    frames.mkdir()
    x = (np.arange(3 * 4 * 2 * 3 * 3) % 5 == 0).astype(np.float32).reshape(3, 4, 2, 3, 3)
    np.savez(frames / "frames.npz", inputs=x, labels=np.array([0, 1, 0]))
    spec = write_spec(
        frames, "{type: npz, path: frames.npz, test_fraction: 0.34}", steps=4, shape="[2, 3, 3]"
    )
    picture = frames / "frames.png"
    code, _, err = run_cli("data", spec, "--plot", picture, "--samples", "2", capsys=capsys)
    assert (code, err) == (0, "")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run_cli(
        "data", spec, "--plot", picture, "--force", "--samples", "3", capsys=capsys
    )
    assert code == 2
    assert "--samples" in err


def test_load_data_takes_a_path_with_overrides_or_a_model_spec(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SYNTHETIC, steps=5, shape="[6]")
    from_path = snnspec.load_data(spec, {"train.data.num_samples": 60}, allow_paths=())
    assert len(from_path.y_train) + len(from_path.y_val) + len(from_path.y_test) == 60
    reference = training_data.load_data(load(spec, ["train.data.num_samples=60"]))
    assert from_path.sha256 == reference.sha256
    np.testing.assert_array_equal(from_path.x_train, reference.x_train)
    assert snnspec.load_data(load(spec)).sha256 == training_data.load_data(load(spec)).sha256
    with pytest.raises(snnspec.InputError, match="overrides apply to a spec file"):
        snnspec.load_data(load(spec), ["train.seed=1"])
