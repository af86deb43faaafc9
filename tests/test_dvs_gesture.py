"""DVS Gesture: fixture folders in tonic's exact layout, the event-camera transforms, splits,
download and hostile data.

The fixtures are written as tonic's preprocessed archives unpack:
``ibmGestureTrain/user<NN>_<lighting>/<label>.npy``, each an ``(events, 4)`` int64 array of
x, y, polarity and time in milliseconds (as tonic's own test suite writes them). The
reference binning below is independent of the reader: a Python loop for the denoising and
``np.add.at`` for the counting.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from camera_fixtures import SPEC, bin_reference, conv_layers, linear_layers, write_camera_spec

from snnspec._errors import SpecError
from snnspec.spec.load import load
from snnspec.spec.model import ModelSpec
from snnspec.training import dvs_gesture, events
from snnspec.training.data import load_data

TONIC_PAGE = (
    "https://tonic.readthedocs.io/en/latest/reference/generated/tonic.datasets.DVSGesture.html"
)
PAGE = "https://research.ibm.com/interactive/dvsgesture/"
NEEDS_TONIC = "the check needs tonic (pip install 'snnspec[datasets]'), which is not installed"

Events = np.ndarray  # (n, 4) int64 columns x, y, polarity, time (milliseconds)

LINEAR = linear_layers(11)
CONV = conv_layers(11)

EDGES = np.array(
    [
        [0, 0, 0, 0],  # the first bin's start
        [127, 127, 1, 150],  # a bin edge of the 150 ms grid
        [5, 6, 1, 299],
        [5, 6, 1, 300],  # a bin edge of the 150 and 300 ms grids
        [6, 6, 0, 300],
        [1, 2, 1, 1499],  # the last millisecond of 1.5 s
        [1, 2, 1, 1500],  # dropped at max_duration 1.5
        [3, 4, 0, 6000],
    ]
)


def random_events(rng: np.random.Generator) -> Events:
    """Events clustered in a small patch (so denoising keeps some) and spread over the
    sensor, times sorted over 2 s."""
    n = int(rng.integers(0, 120))
    near = rng.random(n) < 0.7
    x = np.where(near, rng.integers(60, 66, n), rng.integers(0, 128, n))
    y = np.where(near, rng.integers(30, 36, n), rng.integers(0, 128, n))
    return np.stack([x, y, rng.integers(0, 2, n), np.sort(rng.integers(0, 2000, n))], axis=1)


def write_split(folder: Path, sessions: tuple[str, ...], seed: int) -> list[Events]:
    """``folder/<session>/<label>.npy`` for the 11 labels; the events in the sorted order
    (session, then label)."""
    rng = np.random.default_rng(seed)
    samples: list[Events] = []
    for session in sessions:
        (folder / session).mkdir(parents=True)
        for label in range(11):
            sample = EDGES if (seed, session, label) == (1, sessions[0], 2) else random_events(rng)
            np.save(folder / session / f"{label}.npy", sample.astype(np.int64))
            samples.append(sample)
    return samples


def fixture(root: Path) -> tuple[list[Events], list[Events]]:
    train = write_split(root / "ibmGestureTrain", ("user01_fluorescent", "user02_led"), 1)
    test = write_split(root / "ibmGestureTest", ("user24_natural",), 2)
    return train, test


def reference_denoise(sample: Events, filter_time: int) -> Events:
    """tonic's documented rule, event by event: kept when a 4-neighbour (inside the
    recording's extent) saw its last event less than filter_time before, a pixel without
    events counting as one at time 0."""
    if not len(sample):
        return sample
    width, height = sample[:, 0].max() + 1, sample[:, 1].max() + 1
    last = np.zeros((width, height))
    kept = []
    for x, y, p, t in sample:
        last[x, y] = t
        neighbours = [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
        if any(
            0 <= a < width and 0 <= b < height and last[a, b] + filter_time > t
            for a, b in neighbours
        ):
            kept.append((x, y, p, t))
    return np.array(kept, np.int64).reshape(-1, 4)


def reference(
    samples: list[Events],
    window: int,
    steps: int,
    polarity: str,
    f: int,
    binary: bool,
    start: int = 0,
    filter_time: int | None = None,
) -> np.ndarray:
    """The independent binning of the 128x128 sensor's events (given in milliseconds, binned
    in microseconds), after :func:`reference_denoise` with ``filter_time``."""
    converted = []
    for sample in samples:
        sample = sample.copy()
        sample[:, 3] *= 1000
        converted.append(sample if filter_time is None else reference_denoise(sample, filter_time))
    return bin_reference(converted, 128, window, steps, polarity, f, binary, start)


def write_spec(
    folder: Path, data: str, *, shape: str = "[2, 128, 128]", steps: int = 10, layers: str = LINEAR
) -> Path:
    return write_camera_spec(folder, "gestures", data, shape=shape, steps=steps, layers=layers)


# --- binning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "window", "start", "polarity", "f", "binary", "filter_time"),
    [
        ("max_duration: 1.5", 150_000, 0, "separate", 1, False, None),
        ("time_window: 0.3, polarity: merge, downsample: 4", 300_000, 0, "merge", 4, False, None),
        ("max_duration: 1.5, downsample: 3, values: binary", 150_000, 0, "separate", 3, True, None),
        (
            "max_duration: 1.0, crop_time: {min: 0.25}, downsample: 8",
            100_000,
            250_000,
            "separate",
            8,
            False,
            None,
        ),
        (
            "time_window: 0.15, denoise: {filter_time: 0.05}, downsample: 2",
            150_000,
            0,
            "separate",
            2,
            False,
            50_000,
        ),
        (
            "max_duration: 1.5, denoise: {filter_time: 0.2}, polarity: merge, values: binary",
            150_000,
            0,
            "merge",
            1,
            True,
            200_000,
        ),
    ],
)
def test_binning_matches_a_numpy_reference_exactly(
    tmp_path: Path,
    options: str,
    window: int,
    start: int,
    polarity: str,
    f: int,
    binary: bool,
    filter_time: int | None,
) -> None:
    train, test = fixture(tmp_path / "dvs")
    side = -(-128 // f)
    shape = f"[{2 if polarity == 'separate' else 1}, {side}, {side}]"
    spec = load(write_spec(tmp_path, f"{{type: dvs_gesture, root: dvs, {options}}}", shape=shape))
    dataset = load_data(spec)
    args = (window, 10, polarity, f, binary, start, filter_time)
    expected_train = reference(train, *args)
    assert np.array_equal(dataset.x_train, expected_train)
    assert np.array_equal(dataset.x_test, reference(test, *args))
    assert expected_train.sum() > 0
    assert dataset.x_train.dtype == np.float32
    assert np.array_equal(dataset.y_train, np.tile(np.arange(11), 2))
    assert np.array_equal(dataset.y_test, np.arange(11))
    assert dataset.num_classes == 11


def test_denoising_drops_events_and_binning_drops_the_end_of_the_grid(tmp_path: Path) -> None:
    """The fixture is not trivially kept whole by the denoising, and the EDGES sample lands
    where the documented grid puts it: H is y, W is x, channel 0 is OFF and 1 is ON."""
    train, _ = fixture(tmp_path / "dvs")
    kept = sum(len(reference_denoise(s * [1, 1, 1, 1000], 50_000)) for s in train)
    assert 0 < kept < sum(len(s) for s in train)
    spec = load(write_spec(tmp_path, "{type: dvs_gesture, root: dvs, max_duration: 1.5}"))
    first = load_data(spec).x_train[2]
    expected = np.zeros((10, 2, 128, 128))
    for step, p, y, x in [(0, 0, 0, 0), (1, 1, 127, 127), (1, 1, 6, 5), (2, 1, 6, 5), (2, 0, 6, 6)]:
        expected[step, p, y, x] += 1
    expected[9, 1, 2, 1] += 1  # 1499 ms; 1500 ms and 6000 ms are dropped
    assert np.array_equal(first, expected)


def test_denoise_agrees_with_tonic() -> None:
    """tonic's own ``Denoise`` keeps the same events (random streams, several filter times)."""
    functional = pytest.importorskip("tonic.functional", reason=NEEDS_TONIC)
    from tonic.datasets import DVSGesture

    rng = np.random.default_rng(3)
    for filter_time in (1_000, 20_000, 300_000):
        for _ in range(5):
            n = int(rng.integers(1, 400))
            x, y = rng.integers(10, 20, n), rng.integers(100, 110, n)
            p, t = rng.integers(0, 2, n), np.sort(rng.integers(0, 1_000_000, n))
            structured = np.zeros(n, DVSGesture.dtype)
            structured["x"], structured["y"], structured["p"], structured["t"] = x, y, p, t
            theirs = functional.denoise_numpy(structured, filter_time=filter_time)
            keep = events.denoise(x, y, t, float(filter_time))
            assert np.array_equal(t[keep], theirs["t"])
            assert np.array_equal(x[keep], theirs["x"])
            assert np.array_equal(y[keep], theirs["y"])


def test_binning_in_chunks_gives_the_same_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from snnspec.training import datasets

    fixture(tmp_path / "dvs")
    data = (
        "{type: dvs_gesture, root: dvs, time_window: 0.2, downsample: 4, "
        "denoise: {filter_time: 0.1}}"
    )
    spec = load(write_spec(tmp_path, data, shape="[2, 32, 32]"))
    whole = load_data(spec)
    monkeypatch.setattr(datasets, "BIN_BUDGET", 3 * 10 * 2 * 32 * 32)  # three files a chunk
    monkeypatch.setenv("SNNSPEC_CACHE_DIR", str(tmp_path / "fresh"))  # bin again: no cache hit
    chunked = load_data(spec)
    assert np.array_equal(whole.x_train, chunked.x_train)
    assert whole.sha256 == chunked.sha256


def test_the_reader_agrees_with_tonic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tonic's ``DVSGesture`` (told the small fixture is complete) reads the same events,
    in microseconds, and the same labels from the same files."""
    datasets_module = pytest.importorskip("tonic.datasets", reason=NEEDS_TONIC)
    cls = datasets_module.DVSGesture
    fixture(tmp_path / "DVSGesture")
    monkeypatch.setattr(cls, "_check_exists", lambda self: True)
    split = tmp_path / "DVSGesture" / "ibmGestureTrain"
    files, labels = dvs_gesture.list_split(split)
    theirs = cls(save_to=str(tmp_path), train=True)
    assert sorted(map(Path, theirs.data)) == sorted(files)
    for index in range(len(theirs)):
        path = Path(theirs.data[index])
        sample, target = theirs[index]
        ours = dvs_gesture.read_events(path, split.name, files.index(path))
        assert target == labels[files.index(path)]
        for mine, name in zip(ours, ("x", "y", "p", "t"), strict=True):
            assert np.array_equal(mine, np.asarray(sample[name], np.int64))


# --- splits and layout --------------------------------------------------------------------


def test_validation_is_carved_from_train_and_the_order_is_sorted(tmp_path: Path) -> None:
    train, _ = fixture(tmp_path / "dvs")
    data = "{type: dvs_gesture, root: dvs, max_duration: 1.5, validation_fraction: 0.25}"
    dataset = load_data(load(write_spec(tmp_path, data)))
    assert (len(dataset.y_train), len(dataset.y_val), len(dataset.y_test)) == (16, 6, 11)
    parts = dataset.indices
    assert sorted([*parts["train"], *parts["val"]]) == list(range(22))
    frames = reference(train, 150_000, 10, "separate", 1, False)
    assert np.array_equal(dataset.x_val, frames[parts["val"]])
    record = dataset.split_record(0)
    assert record["test_file"] == "dvs/ibmGestureTest"
    # 10.npy sorts after 9.npy (by label, not by name)
    files, labels = dvs_gesture.list_split(tmp_path / "dvs" / "ibmGestureTrain")
    assert [path.name for path in files[9:12]] == ["9.npy", "10.npy", "0.npy"]
    assert labels.tolist() == list(range(11)) * 2


def test_tonic_layout_and_two_copies_refused(tmp_path: Path) -> None:
    fixture(tmp_path / "data" / "DVSGesture")
    spec = load(write_spec(tmp_path, "{type: dvs_gesture, root: data, max_duration: 1.5}"))
    assert load_data(spec).split_record(0)["test_file"] == "data/DVSGesture/ibmGestureTest"
    fixture(tmp_path / "data")
    with pytest.raises(SpecError) as error:
        load_data(spec)
    assert error.value.path == ("train", "data", "root")
    assert error.value.message == (
        f"two copies of DVS Gesture: in {tmp_path / 'data'} and in "
        f"{tmp_path / 'data' / 'DVSGesture'} (tonic's layout); keep one"
    )


# --- download -----------------------------------------------------------------------------


def _fake_download(calls: list[tuple[str, str]]) -> Callable[..., None]:
    """Stands in for tonic's download entry point: records the folder and the archive, and
    unpacks a fixture split where the archive would unpack."""

    def download(url: str, download_root: str, filename: str, md5: str) -> None:
        calls.append((download_root, filename))
        split = filename.removesuffix(".tar.gz")
        sessions = ("user01_led",) if split == "ibmGestureTrain" else ("user24_led",)
        write_split(Path(download_root) / split, sessions, 7)

    return download


def test_download_true_lets_tonic_fetch_the_missing_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tonic", reason=NEEDS_TONIC)
    import tonic.dataset

    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(tonic.dataset, "download_and_extract_archive", _fake_download(calls))
    data = "{type: dvs_gesture, root: dvs, max_duration: 1.5, download: true}"
    spec = load(write_spec(tmp_path, data))
    dataset = load_data(spec)
    target = str(tmp_path / "dvs" / "DVSGesture")
    assert calls == [(target, "ibmGestureTrain.tar.gz"), (target, "ibmGestureTest.tar.gz")]
    assert (len(dataset.y_train), len(dataset.y_test)) == (11, 11)
    # present now: nothing is downloaded again
    load_data(spec)
    assert len(calls) == 2


def test_without_download_nothing_is_fetched_and_the_error_names_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import run_cli

    tonic_dataset = pytest.importorskip("tonic.dataset", reason=NEEDS_TONIC)
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(tonic_dataset, "download_and_extract_archive", _fake_download(calls))
    monkeypatch.chdir(tmp_path)
    write_split(tmp_path / "dvs" / "ibmGestureTrain", ("user01_led",), 1)
    spec = write_spec(tmp_path, "{type: dvs_gesture, root: dvs, max_duration: 1.5}")
    code, _, err = run_cli("train", spec, "-o", "run", "--no-progress", capsys=capsys)
    assert code == 1
    folder = tmp_path / "dvs"
    assert err == (
        f"{spec}:13:29: train.data.root: DVS Gesture folder ibmGestureTest/ not found in "
        f"{folder}; download ibmGestureTest.tar.gz from tonic's page {TONIC_PAGE} and unpack "
        f"it into {folder} (the data set's page: {PAGE}), or set download: true\n"
    )
    assert calls == []
    assert not (tmp_path / "run").exists()


def test_download_refuses_to_split_a_copy_across_two_layouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One split unpacked in root itself: tonic would put the other in its own layout, so
    the spec is refused and nothing is downloaded."""
    tonic_dataset = pytest.importorskip("tonic.dataset", reason=NEEDS_TONIC)
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(tonic_dataset, "download_and_extract_archive", _fake_download(calls))
    write_split(tmp_path / "dvs" / "ibmGestureTrain", ("user01_led",), 1)
    data = "{type: dvs_gesture, root: dvs, max_duration: 1.5, download: true}"
    with pytest.raises(SpecError) as error:
        load_data(load(write_spec(tmp_path, data)))
    root = tmp_path / "dvs"
    assert error.value.path == ("train", "data", "download")
    assert error.value.message == (
        f"ibmGestureTest/ is missing from {root}, which holds the other split; tonic would "
        f"download it into {root / 'DVSGesture'} (its own layout), apart from the rest: "
        f"download ibmGestureTest.tar.gz from tonic's page {TONIC_PAGE} and unpack it into "
        f"{root} (the data set's page: {PAGE}), or move the split folders into "
        f"{root / 'DVSGesture'}"
    )
    assert calls == []


def test_a_failed_download_is_a_located_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tonic_dataset = pytest.importorskip("tonic.dataset", reason=NEEDS_TONIC)

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(tonic_dataset, "download_and_extract_archive", offline)
    data = "{type: dvs_gesture, root: dvs, max_duration: 1.5, download: true}"
    with pytest.raises(SpecError) as error:
        load_data(load(write_spec(tmp_path, data)))
    assert error.value.path == ("train", "data", "download")
    assert error.value.message.startswith(
        "tonic could not download DVS Gesture ibmGestureTrain/ into "
        f"{tmp_path / 'dvs' / 'DVSGesture'}: network unreachable; retry where"
    )


# --- validation without the data ------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "options", "key", "frame"),
    [
        ("[1, 128, 128]", "", "polarity", "[2, 128, 128]"),
        ("[2, 128, 128]", ", downsample: 4", "downsample", "[2, 32, 32]"),
        ("[32768]", "", "downsample", "[2, 128, 128]"),
    ],
)
def test_the_input_shape_is_checked_without_reading_the_data(
    tmp_path: Path, shape: str, options: str, key: str, frame: str
) -> None:
    data = f"{{type: dvs_gesture, root: nowhere, max_duration: 1.5{options}}}"
    with pytest.raises(SpecError) as error:
        load(write_spec(tmp_path, data, shape=shape))
    assert error.value.path == ("train", "data", key)
    message = error.value.message
    assert "DVS Gesture with polarity: separate and downsample: " in message
    assert f"gives frames of shape {frame} ([polarities, height, width])" in message
    assert f"but the input 'events' has shape {shape}" in message
    assert "ceil(128 / f) pixels a side" in message


def test_the_first_batch_is_checked_for_a_spec_built_in_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ModelSpec built without ``snnspec.load`` skips the graph checks: the frames read are
    checked against the input, and the error names the transform to change."""
    import snnspec

    fixture(tmp_path / "dvs")
    monkeypatch.chdir(tmp_path)
    text = SPEC.format(
        name="gestures",
        data="{type: dvs_gesture, root: dvs, max_duration: 1.5, downsample: 4}",
        shape="[2, 64, 64]",
        steps=10,
        layers=LINEAR,
    )
    spec = ModelSpec.model_validate(yaml.safe_load(text))
    with pytest.raises(SpecError) as error:
        snnspec.load_data(spec)
    assert error.value.path == ("train", "data", "downsample")
    assert "gives frames of shape [2, 32, 32]" in error.value.message
    assert "but the input 'events' has shape [2, 64, 64]" in error.value.message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (", test_fraction: 0.2", "test_fraction does not apply: DVS Gesture's test set is"),
        (", crop_time: {min: 0.1, max: 0.5}", "max does not apply: the crop ends where"),
        (", denoise: {filter_time: 0}", "filter_time"),
        (", downsample: 0", "downsample"),
        (", polarity: both", "polarity"),
        (", download: maybe", "download"),
    ],
)
def test_invalid_settings_are_refused(tmp_path: Path, options: str, message: str) -> None:
    data = f"{{type: dvs_gesture, root: nowhere, max_duration: 1.5{options}}}"
    with pytest.raises(SpecError, match=message):
        load(write_spec(tmp_path, data))


def test_the_readout_must_have_eleven_neurons(tmp_path: Path) -> None:
    layers = LINEAR.replace("out_features: 11", "out_features: 10")
    data = "{type: dvs_gesture, root: nowhere, max_duration: 1.5}"
    with pytest.raises(SpecError, match="DVS Gesture has 11 classes") as error:
        load(write_spec(tmp_path, data, layers=layers))
    assert error.value.path == ("train", "loss")


# --- hostile data -------------------------------------------------------------------------

SAMPLE = Path("ibmGestureTrain") / "user01_fluorescent" / "3.npy"
"""The sample at index 3 of the training split."""


def _save(root: Path, array: np.ndarray) -> Path:
    np.save(root / SAMPLE, array)
    return root / SAMPLE


def _truncated(root: Path) -> Path:
    path = root / SAMPLE
    path.write_bytes(path.read_bytes()[:-7])
    return path


def _label(root: Path) -> Path:
    path = root / "ibmGestureTrain" / "user02_led" / "11.npy"
    np.save(path, EDGES)
    return path


HOSTILE: list[tuple[str, Callable[[Path], Path], str]] = [
    (
        "x",
        lambda r: _save(r, np.array([[1, 2, 0, 5], [128, 2, 0, 6]])),
        "ibmGestureTrain[3].x: event 1: x 128 is outside the 128x128 sensor ([0, 128))",
    ),
    (
        "y",
        lambda r: _save(r, np.array([[1, -1, 1, 5]])),
        "ibmGestureTrain[3].y: event 0: y -1 is outside the 128x128 sensor ([0, 128))",
    ),
    (
        "polarity",
        lambda r: _save(r, np.array([[1, 1, 2, 5]])),
        "ibmGestureTrain[3].p: event 0: polarity 2 is neither 0 (OFF) nor 1 (ON)",
    ),
    (
        "negative",
        lambda r: _save(r, np.array([[1, 1, 0, -3]])),
        "ibmGestureTrain[3].t: event 0: time -3 ms is negative",
    ),
    (
        "unsorted",
        lambda r: _save(r, np.array([[1, 1, 0, 5], [1, 1, 0, 90], [2, 2, 1, 80]])),
        "ibmGestureTrain[3].t: event 2: time 80 ms comes after 90 ms; times must not decrease",
    ),
    (
        "fraction",
        lambda r: _save(r, np.array([[1.0, 1.5, 0.0, 5.0]])),
        "ibmGestureTrain[3].y: event 0: y 1.5 is not a whole number",
    ),
    (
        "dtype",
        lambda r: _save(r, np.array([["1", "1", "0", "5"]])),
        "ibmGestureTrain[3].dtype: expected numbers (integers, or floats holding whole "
        "numbers), got <U1",
    ),
    (
        "columns",
        lambda r: _save(r, np.zeros((4, 3), np.int64)),
        "ibmGestureTrain[3].shape: expected an (events, 4) array of x, y, p, t, got shape [4, 3]",
    ),
    (
        "label",
        _label,
        "ibmGestureTrain[22].label: label 11 (the file's name) is outside [0, 11) (DVS Gesture "
        "has 11 classes)",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE]
)
def test_hostile_files_are_located_errors_at_the_cli(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[Path], Path],
    message: str,
) -> None:
    """A bad recording: one line naming the file, the split folder, the 0-based sample index
    and the field; exit 1, nothing trained."""
    from helpers import run_cli

    monkeypatch.chdir(tmp_path)
    fixture(tmp_path / "dvs")
    where = change(tmp_path / "dvs")
    spec = write_spec(tmp_path, "{type: dvs_gesture, root: dvs, max_duration: 1.5}")
    code, _, err = run_cli("train", spec, "-o", "run", "--no-progress", capsys=capsys)
    assert code == 1
    assert err == f"{where}: {message}\n"
    assert not (tmp_path / "run" / "params.safetensors").exists()


def test_a_truncated_file_is_a_located_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import run_cli

    monkeypatch.chdir(tmp_path)
    fixture(tmp_path / "dvs")
    where = _truncated(tmp_path / "dvs")
    spec = write_spec(tmp_path, "{type: dvs_gesture, root: dvs, max_duration: 1.5}")
    code, _, err = run_cli("train", spec, "-o", "run", "--no-progress", capsys=capsys)
    assert code == 1
    prefix = f"{where}: ibmGestureTrain[3]: cannot read the .npy array (truncated or not "
    assert err.startswith(prefix + "an .npy file): ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: (r / "ibmGestureTest" / "notes.txt").write_text("x") and r / "ibmGestureTest",
            "'notes.txt' is not a session folder; ibmGestureTest/ holds one folder "
            "user<NN>_<lighting> per recording session; remove it",
        ),
        (
            lambda r: (r / SAMPLE.parent / "3.csv").write_text("x") and r / SAMPLE.parent / "3.csv",
            "not a gesture recording; a session folder holds only <label>.npy files; remove it",
        ),
    ],
    ids=["not_a_session", "not_a_recording"],
)
def test_a_folder_not_in_the_layout_is_refused(
    tmp_path: Path, change: Callable[[Path], Path], message: str
) -> None:
    fixture(tmp_path / "dvs")
    where = change(tmp_path / "dvs")
    spec = load(write_spec(tmp_path, "{type: dvs_gesture, root: dvs, max_duration: 1.5}"))
    with pytest.raises(SpecError) as error:
        load_data(spec)
    assert str(error.value) == f"{where}: {message}"


# --- training -----------------------------------------------------------------------------


def test_train_one_epoch_on_dvs_gesture_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import run_cli

    monkeypatch.chdir(tmp_path)
    fixture(tmp_path / "dvs")
    data = (
        "{type: dvs_gesture, root: dvs, max_duration: 1.5, downsample: 8, polarity: merge, "
        "denoise: {filter_time: 0.1}, crop_time: {min: 0.1}, validation_fraction: 0.2}"
    )
    spec = write_spec(tmp_path, data, shape="[1, 16, 16]", steps=5, layers=CONV)
    code, out, err = run_cli("train", spec, "-o", "run", "--no-progress", capsys=capsys)
    assert (code, err) == (0, "")
    assert "18 train / 4 validation / 11 test samples" in out
    run = tmp_path / "run"
    assert (run / "params.safetensors").is_file()
    manifest = json.loads((run / "manifest.json").read_text())
    assert set(manifest["data"].pop("cache")) == {"key", "sha256"}  # tests/test_data_cache.py
    assert manifest["data"] == {
        "train_samples": 18,
        "val_samples": 4,
        "test_samples": 11,
        "steps": 5,
        "classes": 11,
    }
    assert json.loads((run / "split.json").read_text())["test_file"] == "dvs/ibmGestureTest"
    code, out, _ = run_cli("evaluate", run, capsys=capsys)
    assert code == 0
    assert "reproduces the reported test accuracy" in out


def test_dvs_gesture_is_binned_once_into_the_cache_keyed_by_crop_time_not_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from snnspec.training import cache

    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    fixture(tmp_path / "dvs")
    into: list[object] = []  # where each split's frames were binned
    bin_recordings = events.bin_recordings

    def counting(*args: Any, **kwargs: Any) -> np.ndarray:
        out = bin_recordings(*args, **kwargs)
        into.append(type(out))
        return out

    monkeypatch.setattr(events, "bin_recordings", counting)

    def data(options: str) -> Any:
        text = f"{{type: dvs_gesture, root: dvs, max_duration: 1.5, downsample: 8{options}}}"
        return load_data(load(write_spec(tmp_path, text, shape="[2, 16, 16]")))

    first = data("")
    assert into == [np.memmap, np.memmap]  # train and test, binned into the entry's files
    assert isinstance(first.x_test, np.memmap)
    again = data(", download: true")  # the files are there: nothing fetched, the same entry
    assert len(into) == 2
    assert again.cache == first.cache
    assert again.sha256 == first.sha256
    cropped = data(", crop_time: {min: 0.1}")  # other tensors: another entry
    assert len(into) == 4
    assert cropped.cache["key"] != first.cache["key"]
