"""SHD and SSC: fixture files in the exact on-disk format, binning, splits and hostile data.

The fixtures are written like the distributed files: ``spikes/times`` variable-length
float16 seconds, ``spikes/units`` variable-length uint16, ``labels`` uint16 and ``extra/...``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from snnspec._errors import SpecError
from snnspec.spec.load import load
from snnspec.training import datasets
from snnspec.training.data import load_data

h5py = pytest.importorskip("h5py", reason="SHD/SSC need the extra: pip install 'snnspec[datasets]'")

PAGE = "https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/"

Sample = tuple[np.ndarray, np.ndarray]

SPEC = """\
snnspec: 1
name: audio
seed: 0
time: {{steps: {steps}}}
inputs: [{{name: spikes, shape: [{channels}]}}]
layers:
  - {{name: fc1, type: linear, out_features: 8}}
  - {{name: lif1, type: lif, decay_constants: [0.9, 0.8], threshold: 0.2}}
  - {{name: fc2, type: linear, out_features: {classes}}}
  - {{name: out, type: simple_li, decay_constants: [0.9]}}
train:
  data: {data}
  epochs: 1
  batch_size: 4
"""


def random_samples(count: int, seed: int, duration: float = 1.4) -> list[Sample]:
    """Samples of sorted float16 times in [0, duration) and uint16 units in [0, 700)."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(count):
        n = int(rng.integers(0, 60))
        times = np.sort(rng.uniform(0.0, duration, n)).astype(np.float16)  # rounding keeps order
        samples.append((times, rng.integers(0, 700, n).astype(np.uint16)))
    return samples


def write_h5(
    path: Path,
    samples: Sequence[Sample],
    labels: Sequence[int] | np.ndarray,
    *,
    times_dtype: Any = np.float16,
    units_dtype: Any = np.uint16,
    labels_dtype: Any = np.uint16,
) -> Path:
    """A file in the distributed SHD/SSC layout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        times = file.create_dataset(
            "spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.dtype(times_dtype))
        )
        units = file.create_dataset(
            "spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.dtype(units_dtype))
        )
        for i, (t, u) in enumerate(samples):
            times[i] = np.asarray(t, times_dtype)
            units[i] = np.asarray(u, units_dtype)
        file.create_dataset("labels", data=np.asarray(labels, labels_dtype))
        file.create_dataset("extra/speaker", data=np.arange(len(samples), dtype=np.uint16) % 3)
        file.create_dataset("extra/keys", data=np.array([b"english-zero", b"english-one"]))
        file.create_dataset("extra/meta_info/gender", data=np.array([b"female", b"male"]))
    return path


def write_spec(
    folder: Path, data: str, *, steps: int = 10, channels: int = 16, classes: int = 20
) -> Path:
    path = folder / "spec.yaml"
    path.write_text(SPEC.format(data=data, steps=steps, channels=channels, classes=classes))
    return path


def reference(
    samples: Sequence[Sample], edges: np.ndarray, channels: int, binary: bool = False
) -> np.ndarray:
    """Independent binning: one histogram2d per sample over the time edges and channels."""
    out = np.zeros((len(samples), len(edges) - 1, channels))
    for i, (times, units) in enumerate(samples):
        t = np.asarray(times, np.float64)
        c = np.asarray(units, np.int64) * channels // 700
        keep = t < edges[-1]  # histogram2d's last bin is closed: drop the end first
        out[i], _, _ = np.histogram2d(t[keep], c[keep], bins=[edges, np.arange(channels + 1)])
    return np.minimum(out, 1) if binary else out


def shd_fixture(folder: Path, train: int = 12, test: int = 5) -> tuple[list[Sample], ...]:
    train_samples = random_samples(train, 1)
    # events on bin edges, at the end (dropped) and after it, and unit 699
    train_samples[0] = (
        np.array([0.0, 0.25, 0.5, 0.5, 0.999, 1.0, 1.25], np.float16),
        np.array([0, 43, 44, 699, 350, 10, 10], np.uint16),
    )
    test_samples = random_samples(test, 2)
    write_h5(folder / "shd_train.h5", train_samples, np.arange(train) % 20)
    write_h5(folder / "shd_test.h5", test_samples, (np.arange(test) * 7) % 20)
    return train_samples, test_samples


# --- binning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grid", "channels", "values", "edges"),
    [
        ("max_duration: 1.0", 16, "counts", np.linspace(0.0, 1.0, 11)),
        ("time_window: 0.05", 16, "counts", np.linspace(0.0, 0.5, 11)),
        ("max_duration: 1.3", 700, "counts", np.linspace(0.0, 1.3, 11)),
        ("max_duration: 1.0", 7, "binary", np.linspace(0.0, 1.0, 11)),
    ],
)
def test_binning_matches_a_numpy_reference_exactly(
    tmp_path: Path, grid: str, channels: int, values: str, edges: np.ndarray
) -> None:
    train, test = shd_fixture(tmp_path / "shd")
    data = f"{{type: shd, root: shd, {grid}, channels: {channels}, values: {values}}}"
    dataset = load_data(load(write_spec(tmp_path, data, channels=channels)))
    binary = values == "binary"
    assert np.array_equal(dataset.x_train, reference(train, edges, channels, binary))
    assert np.array_equal(dataset.x_test, reference(test, edges, channels, binary))
    assert dataset.x_train.dtype == np.float32
    assert np.array_equal(dataset.y_train, np.arange(12) % 20)
    assert np.array_equal(dataset.y_test, (np.arange(5) * 7) % 20)
    assert dataset.num_classes == 20


def test_edges_and_the_end_of_the_grid(tmp_path: Path) -> None:
    """Bin k holds k·w <= t < (k+1)·w; events at or after max_duration are dropped."""
    shd_fixture(tmp_path / "shd")
    data = "{type: shd, root: shd, max_duration: 1.0, channels: 700}"
    first = load_data(load(write_spec(tmp_path, data, channels=700))).x_train[0]
    expected = np.zeros((10, 700))
    for step, unit in [(0, 0), (2, 43), (5, 44), (5, 699), (9, 350)]:
        expected[step, unit] += 1  # 1.0 s and 1.25 s are dropped
    assert np.array_equal(first, expected)


def test_binning_in_chunks_gives_the_same_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shd_fixture(tmp_path / "shd")
    spec = load(write_spec(tmp_path, "{type: shd, root: shd, max_duration: 1.0, channels: 16}"))
    whole = load_data(spec)
    monkeypatch.setattr(datasets, "BIN_BUDGET", 2 * 10 * 16)  # two samples per chunk
    chunked = load_data(spec)
    assert np.array_equal(whole.x_train, chunked.x_train)
    assert whole.sha256 == chunked.sha256


def test_float16_times_are_widened_before_any_arithmetic() -> None:
    """A float16 time near its maximum bins correctly (tonic's issue #321 overflowed)."""
    from snnspec.spec.train import ShdDataSpec

    spec = ShdDataSpec(root="r", time_window=10_000.0, channels=1)
    times = np.array([np.array([60_000.0, 65_504.0], np.float16)], dtype=object)
    units = np.array([np.array([3, 4], np.uint16)], dtype=object)
    edges = datasets.time_edges(spec, 7)
    frames = datasets._bin_chunk(times, units, 0, edges, spec, "f.h5")
    assert frames[0, :, 0].tolist() == [0, 0, 0, 0, 0, 0, 2]


# --- splits -------------------------------------------------------------------------------


def test_shd_validation_is_carved_from_train_by_the_seeded_split(tmp_path: Path) -> None:
    train, _ = shd_fixture(tmp_path / "shd")
    data = "{type: shd, root: shd, max_duration: 1.0, channels: 16, validation_fraction: 0.25}"
    dataset = load_data(load(write_spec(tmp_path, data)))
    assert (len(dataset.y_train), len(dataset.y_val), len(dataset.y_test)) == (9, 3, 5)
    parts = dataset.indices
    assert sorted([*parts["train"], *parts["val"]]) == list(range(12))
    assert parts["test"].tolist() == list(range(5))
    frames = reference(train, np.linspace(0.0, 1.0, 11), 16)
    assert np.array_equal(dataset.x_val, frames[parts["val"]])
    assert np.array_equal(dataset.x_train, frames[parts["train"]])
    record = dataset.split_record(0)
    assert record["test_file"] == "shd/shd_test.h5"
    assert "val_file" not in record


def test_ssc_uses_its_official_validation_and_test_files(tmp_path: Path) -> None:
    """Read from tonic's download layout (ROOT/SSC/SSC/ssc_*.h5)."""
    folder = tmp_path / "data" / "SSC" / "SSC"
    files = {}
    for split, count, seed in (("train", 7, 3), ("valid", 4, 4), ("test", 3, 5)):
        samples = random_samples(count, seed)
        write_h5(folder / f"ssc_{split}.h5", samples, (np.arange(count) * 5) % 35)
        files[split] = samples
    data = "{type: ssc, root: data, time_window: 0.1, channels: 16}"
    dataset = load_data(load(write_spec(tmp_path, data, classes=35)))
    edges = np.linspace(0.0, 1.0, 11)
    assert np.array_equal(dataset.x_train, reference(files["train"], edges, 16))
    assert np.array_equal(dataset.x_val, reference(files["valid"], edges, 16))
    assert np.array_equal(dataset.x_test, reference(files["test"], edges, 16))
    assert np.array_equal(dataset.y_val, (np.arange(4) * 5) % 35)
    assert dataset.num_classes == 35
    record = dataset.split_record(0)
    assert (record["val_file"], record["test_file"]) == (
        "data/SSC/SSC/ssc_valid.h5",
        "data/SSC/SSC/ssc_test.h5",
    )
    assert record["val"]["indices"] == [0, 1, 2, 3]


def test_tonic_layout_for_shd_and_two_copies_refused(tmp_path: Path) -> None:
    shd_fixture(tmp_path / "data" / "SHD")
    spec = load(write_spec(tmp_path, "{type: shd, root: data, max_duration: 1.0, channels: 16}"))
    assert load_data(spec).indices["test"].tolist() == list(range(5))
    shd_fixture(tmp_path / "data")
    with pytest.raises(SpecError) as error:
        load_data(spec)
    assert error.value.path == ("train", "data", "root")
    assert error.value.message == (
        f"two copies of shd_train.h5: {tmp_path / 'data' / 'shd_train.h5'} and "
        f"{tmp_path / 'data' / 'SHD' / 'shd_train.h5'} (tonic's layout); keep one"
    )


# --- errors -------------------------------------------------------------------------------


def test_a_missing_file_names_the_file_the_folder_and_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import run_cli

    monkeypatch.chdir(tmp_path)
    write_h5(tmp_path / "shd" / "shd_train.h5", random_samples(4, 0), [0, 1, 2, 3])
    spec = write_spec(tmp_path, "{type: shd, root: shd, max_duration: 1.0, channels: 16}")
    code, _, err = run_cli("train", spec, "-o", "run", "--no-progress", capsys=capsys)
    assert code == 1
    folder = tmp_path / "shd"
    assert err == (
        f"{spec}:12:21: train.data.root: SHD file shd_test.h5 not found in {folder} (nor in "
        f"{folder / 'SHD'}, tonic's layout); download shd_test.h5.zip from {PAGE} and unpack "
        f"it into {folder}, or set download: true\n"
    )
    assert not (tmp_path / "run" / "params.safetensors").exists()


def test_download_true_lets_tonic_fetch_a_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tonic's download entry point is called with the folder of tonic's layout below
    ``root`` for the missing file only; without ``download`` it is never called."""
    tonic_dataset = pytest.importorskip(
        "tonic.dataset", reason="the check needs tonic (pip install 'snnspec[datasets]')"
    )
    calls: list[tuple[str, str]] = []

    def fetch(url: str, download_root: str, filename: str, md5: str) -> None:
        calls.append((download_root, filename))
        write_h5(Path(download_root) / filename.removesuffix(".zip"), random_samples(5, 2), [1] * 5)

    monkeypatch.setattr(tonic_dataset, "download_and_extract_archive", fetch)
    write_h5(tmp_path / "shd" / "shd_train.h5", random_samples(4, 0), [0, 1, 2, 3])
    data = "{type: shd, root: shd, max_duration: 1.0, channels: 16}"
    with pytest.raises(SpecError, match=r"SHD file shd_test\.h5 not found"):
        load_data(load(write_spec(tmp_path, data)))
    assert calls == []
    dataset = load_data(load(write_spec(tmp_path, data[:-1] + ", download: true}")))
    assert calls == [(str(tmp_path / "shd" / "SHD"), "shd_test.h5.zip")]
    assert (len(dataset.y_train), len(dataset.y_test)) == (4, 5)


def test_a_missing_extra_names_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Binning needs h5py (a cached entry of the same files would not)."""
    import sys

    monkeypatch.setenv("SNNSPEC_CACHE_DIR", str(tmp_path / "cache"))
    shd_fixture(tmp_path / "shd")
    spec = load(write_spec(tmp_path, "{type: shd, root: shd, max_duration: 1.0, channels: 16}"))
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(SpecError, match=r"pip install 'snnspec\[datasets\]'") as error:
        load_data(spec)
    assert error.value.path == ("train", "data", "type")


def _unsorted(samples: list[Sample]) -> None:
    samples[3] = (np.array([0.1, 0.3, 0.2], np.float16), np.array([1, 2, 3], np.uint16))


def _negative(samples: list[Sample]) -> None:
    samples[2] = (np.array([-0.5, 0.1], np.float16), np.array([1, 2], np.uint16))


def _nan(samples: list[Sample]) -> None:
    samples[1] = (np.array([0.1, np.nan], np.float16), np.array([1, 2], np.uint16))


def _unit_range(samples: list[Sample]) -> None:
    samples[4] = (np.array([0.1, 0.2], np.float16), np.array([5, 700], np.uint16))


def _short_units(samples: list[Sample]) -> None:
    samples[5] = (np.array([0.1, 0.2], np.float16), np.array([5], np.uint16))


HOSTILE: list[tuple[str, Callable[[list[Sample]], None], dict[str, Any], str]] = [
    ("unsorted", _unsorted, {}, "spikes/times[3]: event 2: time 0.199951 s comes after 0.300049 s"),
    ("negative", _negative, {}, "spikes/times[2]: event 0: time -0.5 s is not a finite time"),
    ("nan", _nan, {}, "spikes/times[1]: event 1: time nan s is not a finite time >= 0"),
    ("unit", _unit_range, {}, "spikes/units[4]: event 1: unit 700 is outside [0, 700)"),
    ("lengths", _short_units, {}, "spikes/units[5]: 1 units but 2 times"),
    ("label", lambda s: None, {"label": 20}, "labels[6]: label 20 is outside [0, 20)"),
    (
        "labels_dtype",
        lambda s: None,
        {"labels_dtype": np.float32},
        "labels: expected a 1-D integer array, got float32 of shape [8]",
    ),
    (
        "times_dtype",
        lambda s: None,
        {"times_dtype": np.int32},
        "spikes/times: expected variable-length arrays of floating-point seconds (one per "
        "sample), got variable-length int32 of shape [8]",
    ),
    (
        "units_dtype",
        lambda s: None,
        {"units_dtype": np.float32},
        "spikes/units: expected variable-length arrays of integer unit ids (one per sample), "
        "got variable-length float32 of shape [8]",
    ),
]


@pytest.mark.parametrize(
    ("change", "options", "message"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_hostile_data_is_a_located_error_at_the_cli(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[list[Sample]], None],
    options: dict[str, Any],
    message: str,
) -> None:
    """File, field, 0-based sample index; exit 1; nothing trained."""
    from helpers import run_cli

    monkeypatch.chdir(tmp_path)
    samples = random_samples(8, 0)
    change(samples)
    labels = np.arange(8) % 20
    if "label" in options:
        labels[6] = options.pop("label")
    bad = write_h5(tmp_path / "shd" / "shd_train.h5", samples, labels, **options)
    write_h5(tmp_path / "shd" / "shd_test.h5", random_samples(3, 1), [0, 1, 2])
    spec = write_spec(tmp_path, "{type: shd, root: shd, max_duration: 1.0, channels: 16}")
    code, _, err = run_cli("train", spec, "-o", "run", "--no-progress", capsys=capsys)
    assert code == 1
    assert err.startswith(f"{bad}: {message}")
    assert err.count("\n") == 1
    assert not (tmp_path / "run" / "params.safetensors").exists()


def test_errors_count_samples_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = random_samples(8, 0)
    _unit_range(samples)
    write_h5(tmp_path / "shd" / "shd_train.h5", samples, np.arange(8) % 20)
    write_h5(tmp_path / "shd" / "shd_test.h5", random_samples(3, 1), [0, 1, 2])
    spec = load(write_spec(tmp_path, "{type: shd, root: shd, max_duration: 1.0, channels: 16}"))
    monkeypatch.setattr(datasets, "BIN_BUDGET", 3 * 10 * 16)  # sample 4 is the second chunk's
    with pytest.raises(SpecError) as error:
        load_data(spec)
    assert error.value.path == ("spikes/units", 4)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda f: f.create_dataset("labels", data=np.zeros(2, np.uint16)),
            "spikes/times: missing",
        ),
        (lambda f: f.create_group("spikes/times"), "spikes/times: not a dataset"),
    ],
    ids=["missing", "group"],
)
def test_a_file_without_the_datasets(
    tmp_path: Path, build: Callable[[Any], Any], message: str
) -> None:
    path = tmp_path / "shd" / "shd_train.h5"
    path.parent.mkdir()
    with h5py.File(path, "w") as file:
        build(file)
    write_h5(tmp_path / "shd" / "shd_test.h5", random_samples(3, 1), [0, 1, 2])
    spec = load(write_spec(tmp_path, "{type: shd, root: shd, max_duration: 1.0, channels: 16}"))
    with pytest.raises(SpecError) as error:
        load_data(spec)
    assert str(error.value).startswith(f"{path}: {message}")


def test_a_file_that_is_not_hdf5(tmp_path: Path) -> None:
    shd_fixture(tmp_path / "shd")
    (tmp_path / "shd" / "shd_test.h5").write_bytes(b"not an HDF5 file")
    spec = load(write_spec(tmp_path, "{type: shd, root: shd, max_duration: 1.0, channels: 16}"))
    with pytest.raises(SpecError) as error:
        load_data(spec)
    assert error.value.file == str(tmp_path / "shd" / "shd_test.h5")
    assert error.value.message.startswith("cannot read the HDF5 file")


def test_mismatched_sample_counts(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "shd" / "shd_train.h5", random_samples(4, 0), [0, 1, 2])
    write_h5(tmp_path / "shd" / "shd_test.h5", random_samples(3, 1), [0, 1, 2])
    spec = load(write_spec(tmp_path, "{type: shd, root: shd, max_duration: 1.0, channels: 16}"))
    with pytest.raises(SpecError) as error:
        load_data(spec)
    assert str(error.value) == f"{path}: spikes/times: 4 samples but 3 labels"


def test_a_file_without_samples(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "shd" / "shd_train.h5", [], [])
    write_h5(tmp_path / "shd" / "shd_test.h5", random_samples(3, 1), [0, 1, 2])
    spec = load(write_spec(tmp_path, "{type: shd, root: shd, max_duration: 1.0, channels: 16}"))
    with pytest.raises(SpecError) as error:
        load_data(spec)
    assert str(error.value) == f"{path}: labels: the file holds no samples"


# --- composition and training ---------------------------------------------------------------


def test_root_set_in_a_base_file_stays_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "snnspec.toml").touch()  # the project holding both folders
    shd_fixture(tmp_path / "base" / "shd")
    write_spec(tmp_path / "base", "{type: shd, root: shd, max_duration: 1.0, channels: 16}")
    (tmp_path / "exp").mkdir()
    child = tmp_path / "exp" / "child.yaml"
    child.write_text("extends: ../base/spec.yaml\nname: child\n")
    spec = load(child)
    assert spec.train is not None
    assert spec.train.data.type == "shd"
    assert spec.train.data.root == "../base/shd"
    assert len(load_data(spec).y_train) == 12


def test_train_one_epoch_on_shd_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import run_cli

    monkeypatch.chdir(tmp_path)
    shd_fixture(tmp_path / "shd", train=16, test=4)
    data = "{type: shd, root: shd, max_duration: 1.0, channels: 16, validation_fraction: 0.25}"
    spec = write_spec(tmp_path, data)
    code, out, err = run_cli("train", spec, "-o", "run", "--no-progress", capsys=capsys)
    assert (code, err) == (0, "")
    assert "12 train / 4 validation / 4 test samples" in out
    run = tmp_path / "run"
    assert (run / "params.safetensors").is_file()
    manifest = json.loads((run / "manifest.json").read_text())
    assert set(manifest["data"].pop("cache")) == {"key", "sha256"}  # tests/test_data_cache.py
    assert manifest["data"] == {
        "train_samples": 12,
        "val_samples": 4,
        "test_samples": 4,
        "steps": 10,
        "classes": 20,
    }
    split = json.loads((run / "split.json").read_text())
    assert split["test_file"] == "shd/shd_test.h5"
    code, out, _ = run_cli("evaluate", run, capsys=capsys)
    assert code == 0
    assert "reproduces the reported test accuracy" in out
