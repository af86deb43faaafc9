"""N-MNIST: fixture folders in the exact on-disk format, binning, splits and hostile data.

The fixtures are written like the distributed files: ``Train/<digit>/*.bin`` and
``Test/<digit>/*.bin``, each a sequence of 40-bit events (x, y, polarity bit, 23-bit
timestamp in microseconds), encoded here with NumPy bit operations independently of the
reader.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from camera_fixtures import bin_reference, conv_layers, linear_layers, write_camera_spec

from snnspec._errors import SpecError
from snnspec.spec.load import load
from snnspec.training import datasets, nmnist
from snnspec.training.data import load_data
from snnspec.training.events import bin_split

PAGE = "https://www.garrickorchard.com/datasets/n-mnist"

Events = np.ndarray  # (n, 4) int64 columns x, y, polarity, timestamp (microseconds)

LINEAR = linear_layers(10)
CONV = conv_layers(10)


def encode(events: Events) -> bytes:
    """The 5-byte events: x, y, polarity in bit 7 of byte 2, then the 23-bit timestamp
    big-endian over the low 7 bits of byte 2 and bytes 3 and 4."""
    x, y, p, t = (np.asarray(events[:, i], np.int64) for i in range(4))
    raw = np.empty((len(events), 5), np.uint8)
    raw[:, 0] = x
    raw[:, 1] = y
    raw[:, 2] = (p << 7) | (t >> 16)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    return raw.tobytes()


def random_events(rng: np.random.Generator, end: int = 400_000) -> Events:
    n = int(rng.integers(0, 80))
    return np.stack(
        [
            rng.integers(0, 34, n),
            rng.integers(0, 34, n),
            rng.integers(0, 2, n),
            np.sort(rng.integers(0, end, n)),
        ],
        axis=1,
    )


EDGES = np.array(
    [
        [0, 0, 0, 0],  # the first bin's start
        [33, 33, 1, 25_000],  # a bin edge of the 25 ms grid
        [5, 6, 1, 29_999],
        [5, 6, 1, 30_000],  # a bin edge of the 30 ms grid
        [7, 8, 0, 30_000],
        [1, 2, 1, 299_999],  # the last microsecond of 0.3 s
        [1, 2, 1, 300_000],  # dropped at max_duration 0.3
        [3, 4, 0, 2**23 - 1],  # the largest timestamp
    ]
)


def write_split(
    folder: Path, per_digit: int, seed: int, names: tuple[str, ...] = ("00010", "00002", "01000")
) -> list[Events]:
    """``folder/<digit>/<name>.bin``; the events in the sorted order (digit, file name)."""
    rng = np.random.default_rng(seed)
    samples: list[Events] = []
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True)
        written = {name: random_events(rng) for name in names[:per_digit]}
        if digit == 0 and seed == 1:
            written[names[0]] = EDGES
        for name in sorted(written):
            (folder / str(digit) / f"{name}.bin").write_bytes(encode(written[name]))
            samples.append(written[name])
    return samples


def fixture(root: Path, train: int = 2, test: int = 1) -> tuple[list[Events], list[Events]]:
    return write_split(root / "Train", train, 1), write_split(root / "Test", test, 2)


def reference(
    samples: list[Events], window: int, steps: int, polarity: str, f: int, binary: bool
) -> np.ndarray:
    """The independent binning of the 34x34 sensor's events (microseconds)."""
    return bin_reference(samples, 34, window, steps, polarity, f, binary)


def write_spec(
    folder: Path, data: str, *, shape: str = "[2, 34, 34]", steps: int = 10, layers: str = LINEAR
) -> Path:
    return write_camera_spec(folder, "nmnist", data, shape=shape, steps=steps, layers=layers)


# --- binning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grid", "window", "polarity", "f", "values"),
    [
        ("max_duration: 0.3", 30_000, "separate", 1, "counts"),
        ("time_window: 0.025", 25_000, "merge", 2, "counts"),
        ("max_duration: 0.3", 30_000, "separate", 2, "binary"),
        ("time_window: 0.03", 30_000, "merge", 1, "counts"),
        ("max_duration: 0.25", 25_000, "separate", 3, "counts"),
    ],
)
def test_binning_matches_a_numpy_reference_exactly(
    tmp_path: Path, grid: str, window: int, polarity: str, f: int, values: str
) -> None:
    train, test = fixture(tmp_path / "nmnist")
    side = -(-34 // f)
    shape = f"[{2 if polarity == 'separate' else 1}, {side}, {side}]"
    data = (
        f"{{type: nmnist, root: nmnist, {grid}, polarity: {polarity}, downsample: {f}, "
        f"values: {values}}}"
    )
    dataset = load_data(load(write_spec(tmp_path, data, shape=shape)))
    binary = values == "binary"
    assert np.array_equal(dataset.x_train, reference(train, window, 10, polarity, f, binary))
    assert np.array_equal(dataset.x_test, reference(test, window, 10, polarity, f, binary))
    assert dataset.x_train.dtype == np.float32
    assert dataset.x_train.shape[2:] == (2 if polarity == "separate" else 1, side, side)
    assert np.array_equal(dataset.y_train, np.repeat(np.arange(10), 2))
    assert np.array_equal(dataset.y_test, np.arange(10))
    assert dataset.num_classes == 10


def test_edges_axes_and_the_end_of_the_grid(tmp_path: Path) -> None:
    """Bin k holds k·w <= t < (k+1)·w; H is y, W is x; channel 0 is OFF, 1 is ON."""
    fixture(tmp_path / "nmnist")
    data = "{type: nmnist, root: nmnist, max_duration: 0.3}"
    # Train/0/00010.bin is the second sample: sorted by file name
    first = load_data(load(write_spec(tmp_path, data))).x_train[1]
    expected = np.zeros((10, 2, 34, 34))
    for step, p, y, x in [(0, 0, 0, 0), (0, 1, 33, 33), (0, 1, 6, 5), (1, 1, 6, 5), (1, 0, 8, 7)]:
        expected[step, p, y, x] += 1
    expected[9, 1, 2, 1] += 1  # 299 999 us; 300 000 us and 2**23 - 1 us are dropped
    assert np.array_equal(first, expected)


def test_an_event_on_every_edge_lands_in_the_bin_it_starts(tmp_path: Path) -> None:
    """k·w in float64 is often an ulp off a whole microsecond (0.001 · 1e6 · k for 37 of
    k <= 300): an event at exactly k·w microseconds still opens bin k."""
    from snnspec.spec.train import NmnistDataSpec

    for digit in range(10):
        (tmp_path / "Train" / str(digit)).mkdir(parents=True)
        events = np.array([[0, 0, 1, k * 1000] for k in range(301)])  # 300 000 us: dropped
        (tmp_path / "Train" / str(digit) / "a.bin").write_bytes(encode(events))
    data = NmnistDataSpec(root="r", time_window=0.001, polarity="merge", downsample=34)
    split = tmp_path / "Train"
    frames, labels = bin_split(split, nmnist.list_split(split), nmnist.read_events, data, 300)
    assert np.array_equal(frames.reshape(10, 300), np.ones((10, 300)))
    assert labels.tolist() == list(range(10))


def test_binning_in_chunks_gives_the_same_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture(tmp_path / "nmnist")
    spec = load(write_spec(tmp_path, "{type: nmnist, root: nmnist, time_window: 0.03}"))
    whole = load_data(spec)
    monkeypatch.setattr(datasets, "BIN_BUDGET", 3 * 10 * 2 * 34 * 34)  # three files a chunk
    monkeypatch.setenv("SNNSPEC_CACHE_DIR", str(tmp_path / "fresh"))  # bin again: no cache hit
    chunked = load_data(spec)
    assert np.array_equal(whole.x_train, chunked.x_train)
    assert whole.sha256 == chunked.sha256


def test_the_reader_agrees_with_tonic(tmp_path: Path) -> None:
    """tonic's ``tonic.io.read_mnist_file`` decodes the same events from the same bytes."""
    tonic_io = pytest.importorskip(
        "tonic.io",
        reason="the cross-check needs tonic (pip install 'snnspec[datasets]')",
    )
    path = tmp_path / "sample.bin"
    events = np.concatenate([EDGES, random_events(np.random.default_rng(5))])
    events[:, 3] = np.sort(events[:, 3])
    path.write_bytes(encode(events))
    ours = nmnist.read_events(path, "Train", 0)
    theirs = tonic_io.read_mnist_file(str(path), dtype=tonic_io.events_struct)
    for mine, name in zip(ours, ("x", "y", "p", "t"), strict=True):
        assert np.array_equal(mine, np.asarray(theirs[name], np.int64))


# --- splits and layout --------------------------------------------------------------------


def test_validation_is_carved_from_train_by_the_seeded_split(tmp_path: Path) -> None:
    train, _ = fixture(tmp_path / "nmnist")
    data = "{type: nmnist, root: nmnist, max_duration: 0.3, validation_fraction: 0.25}"
    dataset = load_data(load(write_spec(tmp_path, data)))
    assert (len(dataset.y_train), len(dataset.y_val), len(dataset.y_test)) == (15, 5, 10)
    parts = dataset.indices
    assert sorted([*parts["train"], *parts["val"]]) == list(range(20))
    frames = reference(train, 30_000, 10, "separate", 1, False)
    assert np.array_equal(dataset.x_val, frames[parts["val"]])
    assert np.array_equal(dataset.y_val, np.repeat(np.arange(10), 2)[parts["val"]])
    record = dataset.split_record(0)
    assert record["test_file"] == "nmnist/Test"
    assert record["test"]["indices"] == list(range(10))


def test_tonic_layout_and_two_copies_refused(tmp_path: Path) -> None:
    fixture(tmp_path / "data" / "NMNIST")
    spec = load(write_spec(tmp_path, "{type: nmnist, root: data, max_duration: 0.3}"))
    dataset = load_data(spec)
    assert dataset.split_record(0)["test_file"] == "data/NMNIST/Test"
    fixture(tmp_path / "data")
    with pytest.raises(SpecError) as error:
        load_data(spec)
    assert error.value.path == ("train", "data", "root")
    assert error.value.message == (
        f"two copies of N-MNIST: in {tmp_path / 'data'} and in {tmp_path / 'data' / 'NMNIST'} "
        "(tonic's layout); keep one"
    )


def test_a_missing_split_folder_names_the_folder_and_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import run_cli

    monkeypatch.chdir(tmp_path)
    write_split(tmp_path / "nmnist" / "Train", 1, 1)
    spec = write_spec(tmp_path, "{type: nmnist, root: nmnist, max_duration: 0.3}")
    code, _, err = run_cli("train", spec, "-o", "run", "--no-progress", capsys=capsys)
    assert code == 1
    folder = tmp_path / "nmnist"
    assert err == (
        f"{spec}:13:24: train.data.root: N-MNIST folder Test/ not found in {folder}; download "
        f"Test.zip from {PAGE} and unpack it into {folder}, or set download: true\n"
    )
    assert not (tmp_path / "run").exists()


def test_download_true_lets_tonic_fetch_the_missing_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tonic's download entry point gets the folder of tonic's layout below root, once per
    missing split, never for a split already there."""
    tonic_dataset = pytest.importorskip(
        "tonic.dataset", reason="the check needs tonic (pip install 'snnspec[datasets]')"
    )
    calls: list[tuple[str, str]] = []

    def fetch(url: str, download_root: str, filename: str, md5: str) -> None:
        calls.append((download_root, filename))
        write_split(Path(download_root) / filename.removesuffix(".zip").title(), 1, 3)

    monkeypatch.setattr(tonic_dataset, "download_and_extract_archive", fetch)
    write_split(tmp_path / "data" / "NMNIST" / "Train", 2, 1)
    data = "{type: nmnist, root: data, max_duration: 0.3, download: true}"
    dataset = load_data(load(write_spec(tmp_path, data)))
    assert calls == [(str(tmp_path / "data" / "NMNIST"), "test.zip")]
    assert (len(dataset.y_train), len(dataset.y_test)) == (20, 10)


# --- validation without the data ------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "options", "key"),
    [
        ("[1, 34, 34]", "", "polarity"),
        ("[2, 34, 34]", ", downsample: 2", "downsample"),
        ("[2312]", "", "downsample"),
    ],
)
def test_the_input_shape_is_checked_without_reading_the_data(
    tmp_path: Path, shape: str, options: str, key: str
) -> None:
    data = f"{{type: nmnist, root: nowhere, max_duration: 0.3{options}}}"
    with pytest.raises(SpecError) as error:
        load(write_spec(tmp_path, data, shape=shape))
    assert error.value.path == ("train", "data", key)
    frame = "[2, 17, 17]" if "downsample" in options else "[2, 34, 34]"
    assert f"gives frames of shape {frame} ([polarities, height, width])" in error.value.message
    assert f"but the input 'events' has shape {shape}" in error.value.message


def test_validate_passes_without_the_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import run_cli

    data = "{type: nmnist, root: nowhere, max_duration: 0.3, polarity: merge, downsample: 2}"
    spec = write_spec(tmp_path, data, shape="[1, 17, 17]")
    code, _, err = run_cli("validate", spec, capsys=capsys)
    assert (code, err) == (0, "")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (", test_fraction: 0.2", "test_fraction does not apply: N-MNIST's test set is the"),
        (", time_window: 0.01", "give exactly one of max_duration"),
        (", downsample: 0", "downsample"),
        (", polarity: both", "polarity"),
    ],
)
def test_invalid_settings_are_refused(tmp_path: Path, options: str, message: str) -> None:
    data = f"{{type: nmnist, root: nowhere, max_duration: 0.3{options}}}"
    with pytest.raises(SpecError, match=message):
        load(write_spec(tmp_path, data))


def test_the_readout_must_have_ten_neurons(tmp_path: Path) -> None:
    layers = LINEAR.replace("out_features: 10", "out_features: 9")
    data = "{type: nmnist, root: nowhere, max_duration: 0.3}"
    with pytest.raises(SpecError, match="N-MNIST has 10 classes") as error:
        load(write_spec(tmp_path, data, layers=layers))
    assert error.value.path == ("train", "loss")


# --- hostile data -------------------------------------------------------------------------


def _bad_file(root: Path, content: bytes) -> Path:
    """Replace the sample at index 3 (Train/1/00010.bin)."""
    path = root / "Train" / "1" / "00010.bin"
    path.write_bytes(content)
    return path


def _event(x: int, y: int, p: int, t: int) -> list[int]:
    return [x, y, p, t]


HOSTILE: list[tuple[str, Callable[[Path], Path], str]] = [
    (
        "truncated",
        lambda r: _bad_file(r, encode(np.array([_event(1, 2, 0, 5)] * 2)) + b"\x01\x02"),
        "Train[3]: 12 bytes are not a whole number of 40-bit (5-byte) events; the file is "
        "truncated or not an N-MNIST recording",
    ),
    (
        "x",
        lambda r: _bad_file(r, encode(np.array([_event(1, 2, 0, 5), _event(34, 2, 0, 6)]))),
        "Train[3].x: event 1: x 34 is outside the 34x34 sensor ([0, 34))",
    ),
    (
        "y",
        lambda r: _bad_file(r, encode(np.array([_event(1, 240, 1, 5)]))),
        "Train[3].y: event 0: y 240 is outside the 34x34 sensor ([0, 34))",
    ),
    (
        "decreasing",
        lambda r: _bad_file(
            r, encode(np.array([_event(1, 2, 0, 5), _event(1, 2, 0, 90), _event(3, 3, 1, 80)]))
        ),
        "Train[3].timestamp: event 2: timestamp 80 us comes after 90 us; timestamps must not "
        "decrease",
    ),
]


def _empty_class(root: Path) -> Path:
    for path in (root / "Train" / "3").iterdir():
        path.unlink()
    return root / "Train" / "3"


def _non_digit_folder(root: Path) -> Path:
    (root / "Test" / "extra").mkdir()
    (root / "Test" / "extra" / "00001.bin").write_bytes(
        encode(random_events(np.random.default_rng(0)))
    )
    return root / "Test"


def _not_a_recording(root: Path) -> Path:
    path = root / "Train" / "7" / "notes.txt"
    path.write_text("not a recording")
    return path


def _missing_digit(root: Path) -> Path:
    for path in (root / "Test" / "9").iterdir():
        path.unlink()
    (root / "Test" / "9").rmdir()
    return root / "Test"


LAYOUT: list[tuple[str, Callable[[Path], Path], str]] = [
    ("empty_class", _empty_class, "the folder of digit 3 holds no .bin recordings"),
    (
        "non_digit_folder",
        _non_digit_folder,
        "'extra' is not a digit folder; Test/ holds the folders 0 to 9 (one per digit) of .bin "
        "files; remove it",
    ),
    (
        "not_a_recording",
        _not_a_recording,
        "not a .bin recording; a digit folder holds only .bin files; remove it",
    ),
    (
        "missing_digit",
        _missing_digit,
        "no folder 9/; N-MNIST has the digits 0 to 9, each with its recordings",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"),
    [case[1:] for case in HOSTILE + LAYOUT],
    ids=[case[0] for case in HOSTILE + LAYOUT],
)
def test_hostile_files_and_folders_are_located_errors_at_the_cli(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[Path], Path],
    message: str,
) -> None:
    """A bad recording (file, split folder, 0-based sample index, field) or a folder that is
    not the distributed layout: one located line, exit 1, nothing trained."""
    from helpers import run_cli

    monkeypatch.chdir(tmp_path)
    fixture(tmp_path / "nmnist")
    where = change(tmp_path / "nmnist")
    spec = write_spec(tmp_path, "{type: nmnist, root: nmnist, max_duration: 0.3}")
    code, _, err = run_cli("train", spec, "-o", "run", "--no-progress", capsys=capsys)
    assert code == 1
    assert err == f"{where}: {message}\n"
    assert not (tmp_path / "run" / "params.safetensors").exists()


def test_an_empty_recording_gives_empty_frames(tmp_path: Path) -> None:
    fixture(tmp_path / "nmnist")
    _bad_file(tmp_path / "nmnist", b"")
    spec = load(write_spec(tmp_path, "{type: nmnist, root: nmnist, max_duration: 0.3}"))
    dataset = load_data(spec)
    assert not dataset.x_train[3].any()
    assert dataset.y_train[3] == 1


# --- training -----------------------------------------------------------------------------


def test_train_one_epoch_on_nmnist_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import run_cli

    monkeypatch.chdir(tmp_path)
    fixture(tmp_path / "nmnist")
    data = (
        "{type: nmnist, root: nmnist, max_duration: 0.3, downsample: 2, validation_fraction: 0.2}"
    )
    spec = write_spec(tmp_path, data, shape="[2, 17, 17]", steps=5, layers=CONV)
    code, out, err = run_cli("train", spec, "-o", "run", "--no-progress", capsys=capsys)
    assert (code, err) == (0, "")
    assert "16 train / 4 validation / 10 test samples" in out
    run = tmp_path / "run"
    assert (run / "params.safetensors").is_file()
    manifest = json.loads((run / "manifest.json").read_text())
    assert set(manifest["data"].pop("cache")) == {"key", "sha256"}  # tests/test_data_cache.py
    assert manifest["data"] == {
        "train_samples": 16,
        "val_samples": 4,
        "test_samples": 10,
        "steps": 5,
        "classes": 10,
    }
    assert json.loads((run / "split.json").read_text())["test_file"] == "nmnist/Test"
    code, out, _ = run_cli("evaluate", run, capsys=capsys)
    assert code == 0
    assert "reproduces the reported test accuracy" in out
