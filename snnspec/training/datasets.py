"""The Heidelberg spiking data sets, SHD and SSC: HDF5 files as distributed, binned to frames.

Each file holds one sample per row of ``spikes/times`` (variable-length float16 seconds),
``spikes/units`` (variable-length uint16 unit ids in [0, 700)) and ``labels`` (uint16),
plus ``extra/...`` (speakers, keys, metadata) that training does not need. The files are
read with h5py directly: tonic's ``SHD``/``SSC`` classes check the md5 of the downloaded
archives (and download them when absent), so they refuse a folder holding only the
unpacked files, and small test fixtures; what they add over h5py is the per-sample event
array, which the binning below replaces.

Binning is a fixed grid from the recording's time zero (tonic's ``ToFrame`` with
``time_window`` and a fixed start and end, not ``n_time_bins``, which spans each sample's
own first-to-last event): with ``w = max_duration / steps`` (or ``time_window``) bin k
holds the events with ``k·w <= t < (k+1)·w``; events at or after ``steps·w``
(``max_duration``) are dropped. Unit u goes to channel ``u * channels // 700``. The float16
times are converted to float64 before any arithmetic (tonic's issue #321 is the overflow of
scaling them to microseconds in float16).

Every event is checked: a file that does not match the format is a located error naming
the file, the field and the 0-based sample index, before anything trains.

The grid (:func:`time_edges`, ``crop_time`` included), the order check
(:func:`first_decrease`) and the counting (:func:`count_events`) serve every event data set
(the event cameras through :mod:`.events`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import InputError
from ..spec.train import HEIDELBERG_CLASSES, HEIDELBERG_UNITS

if TYPE_CHECKING:
    from ..spec.model import ModelSpec
    from ..spec.train import AbstractEventDataSpec, ShdDataSpec, SscDataSpec
    from .cache import Allocate, EventSource

PAGE = "https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/"
"""Where the authors distribute SHD and SSC."""

FILES = {
    "shd": ("shd_train.h5", None, "shd_test.h5"),
    "ssc": ("ssc_train.h5", "ssc_valid.h5", "ssc_test.h5"),
}
"""The train, validation (None: carved from train) and test files of each data set."""

TONIC_FOLDERS = {"shd": "SHD", "ssc": os.path.join("SSC", "SSC")}
"""Where tonic's ``SHD(save_to=root)`` and ``SSC(save_to=root)`` unpack the files."""

TIMES, UNITS, LABELS = "spikes/times", "spikes/units", "labels"

BIN_BUDGET = 2**22
"""Bins (samples x steps x channels) counted at once: bounds the memory of one chunk."""

Part = tuple[np.ndarray, np.ndarray]

SPLIT_NAMES = ("train", "val", "test")


def event_source(
    spec: ModelSpec, data: ShdDataSpec | SscDataSpec, steps: int, folder: Path
) -> EventSource:
    """The train, validation (SSC) and test files of ``data`` under ``folder / data.root``,
    each binned as one split (:mod:`.cache` keeps the result)."""
    from .cache import EventSource, preprocessing

    classes = HEIDELBERG_CLASSES[data.type]
    paths = {
        split: locate(spec, data, name, folder)
        for split, name in zip(SPLIT_NAMES, FILES[data.type], strict=True)
        if name is not None
    }

    def bin_split(split: str, allocate: Allocate) -> Part:
        return read_file(_h5py(spec), paths[split], data, steps, classes, allocate)

    return EventSource(
        files=tuple(paths.values()),
        base=folder / data.root,
        section=preprocessing(data, steps),
        origins=paths,
        classes=classes,
        bin=bin_split,
    )


def locate(spec: ModelSpec, data: ShdDataSpec | SscDataSpec, name: str, folder: Path) -> Path:
    """The file ``name`` in ``root`` as distributed, or in tonic's download layout below it."""
    root = folder / data.root
    candidates = (root / name, root / TONIC_FOLDERS[data.type] / name)
    if data.download and not any(path.is_file() for path in candidates):
        split = name.removesuffix(".h5").split("_")[1]  # train, valid or test
        tonic_class = data.type.upper()
        if data.type == "shd":
            download(spec, root, tonic_class, name, train=split == "train")
        else:
            download(spec, root, tonic_class, name, split=split)
    found = [path for path in candidates if path.is_file()]
    if len(found) > 1:
        raise spec.error(
            ("train", "data", "root"),
            f"two copies of {name}: {found[0]} and {found[1]} (tonic's layout); keep one",
        )
    if not found:
        raise spec.error(
            ("train", "data", "root"),
            f"{data.type.upper()} file {name} not found in {root} (nor in "
            f"{candidates[1].parent}, tonic's layout); download {name}.zip from {PAGE} and "
            f"unpack it into {root}, or set download: true",
        )
    return found[0]


def download(spec: ModelSpec, root: Path, tonic_class: str, what: str, **split: object) -> None:
    """tonic's ``<tonic_class>(save_to=root, **split)``, which downloads one split's archive
    and unpacks it into ``root/<tonic_class>`` (``download: true``); ``what`` names the
    files for a message."""
    where = ("train", "data", "download")
    try:
        import tonic.datasets
    except ImportError:
        raise spec.error(
            where,
            "download: true fetches the files with tonic, which is not installed: "
            "pip install 'snnspec[datasets]'",
        ) from None
    root.mkdir(parents=True, exist_ok=True)
    try:
        getattr(tonic.datasets, tonic_class)(save_to=str(root), **split)
    except (OSError, RuntimeError) as error:  # no network, or an archive that does not check
        raise spec.error(
            where,
            f"tonic could not download {what} into {root / tonic_class}: {error}; retry where "
            "a network is available, or get the files yourself (without download: true the "
            "error names them and their page)",
        ) from None


def read_file(
    h5py: Any,
    path: Path,
    data: ShdDataSpec | SscDataSpec,
    steps: int,
    classes: int,
    allocate: Allocate | None = None,
) -> Part:
    """The binned samples (in ``allocate(shape)``, default new zeros) and the labels of one
    file, every event checked."""
    source = str(path)
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise InputError(f"cannot read the HDF5 file: {error}", file=source) from None
    with file:
        times, units, labels = (
            _dataset(h5py, file, name, source) for name in (TIMES, UNITS, LABELS)
        )
        _check_dtype(h5py, times, TIMES, "f", "floating-point seconds", source)
        _check_dtype(h5py, units, UNITS, "ui", "integer unit ids", source)
        if labels.ndim != 1 or labels.dtype.kind not in "ui":
            raise InputError(
                f"expected a 1-D integer array, got {labels.dtype} of shape {list(labels.shape)}",
                file=source,
                path=(LABELS,),
            )
        count = len(labels)
        for dataset, name in ((times, TIMES), (units, UNITS)):
            if len(dataset) != count:
                raise InputError(
                    f"{len(dataset)} samples but {count} labels", file=source, path=(name,)
                )
        if count == 0:
            raise InputError("the file holds no samples", file=source, path=(LABELS,))
        y = np.asarray(labels[()], np.int64)
        wrong = np.flatnonzero(y >= classes)
        if len(wrong):
            raise InputError(
                f"label {y[wrong[0]]} is outside [0, {classes}) ({data.type.upper()} has "
                f"{classes} classes)",
                file=source,
                path=(LABELS, int(wrong[0])),
            )
        shape = (count, steps, data.channels)
        x = np.zeros(shape, np.float32) if allocate is None else allocate(shape)
        chunk = max(1, BIN_BUDGET // (steps * data.channels))
        edges = time_edges(data, steps)
        for start in range(0, count, chunk):
            stop = min(start + chunk, count)
            x[start:stop] = _bin_chunk(
                times[start:stop], units[start:stop], start, edges, data, source
            )
    return x, y.astype(np.int32)


def time_edges(data: AbstractEventDataSpec, steps: int) -> np.ndarray:
    """The ``steps + 1`` bin edges in seconds: ``start + k·w``, the last one ``start +
    max_duration`` (``start``: ``crop_time.min``, default 0)."""
    width = data.time_window if data.max_duration is None else data.max_duration / steps
    assert width is not None  # the spec gives exactly one of the two
    start = 0.0 if data.crop_time is None else data.crop_time.min
    edges = start + np.arange(steps + 1) * width
    if data.max_duration is not None:
        edges[-1] = start + data.max_duration
    return edges


def _bin_chunk(
    times: np.ndarray,
    units: np.ndarray,
    start: int,
    edges: np.ndarray,
    data: ShdDataSpec | SscDataSpec,
    source: str,
) -> np.ndarray:
    """Check the events of the samples ``start, start + 1, ...`` and count them per bin."""
    count, channels = len(times), data.channels
    lengths = np.array([len(sample) for sample in times], np.int64)
    for i, (sample_times, sample_units) in enumerate(zip(times, units, strict=True)):
        if len(sample_units) != len(sample_times):
            raise InputError(
                f"{len(sample_units)} units but {len(sample_times)} times",
                file=source,
                path=(UNITS, start + i),
            )
    # float16 seconds -> float64 before any arithmetic (no precision is lost)
    t = np.concatenate([np.asarray(sample, np.float64) for sample in times])
    u = np.concatenate([np.asarray(sample, np.int64) for sample in units])
    sample = np.repeat(np.arange(count), lengths)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])

    def fail(field: str, event: int, message: str) -> InputError:
        s = int(sample[event])
        return InputError(
            f"event {event - int(first[s])}: {message}", file=source, path=(field, start + s)
        )

    bad = np.flatnonzero(~np.isfinite(t) | (t < 0))
    if len(bad):
        e = int(bad[0])
        raise fail(TIMES, e, f"time {t[e]:g} s is not a finite time >= 0")
    e = first_decrease(t, sample)
    if e is not None:
        raise fail(TIMES, e, f"time {t[e]:g} s comes after {t[e - 1]:g} s; times must not decrease")
    bad = np.flatnonzero((u < 0) | (u >= HEIDELBERG_UNITS))
    if len(bad):
        e = int(bad[0])
        raise fail(UNITS, e, f"unit {u[e]} is outside [0, {HEIDELBERG_UNITS})")
    channel = u * channels // HEIDELBERG_UNITS
    return count_events(sample, t, channel, count, edges, channels, data.values == "binary")


def first_decrease(t: np.ndarray, sample: np.ndarray) -> int | None:
    """The first event whose time is earlier than the one before it in the same sample."""
    later = np.flatnonzero((np.diff(t) < 0) & (sample[1:] == sample[:-1])) + 1
    return int(later[0]) if len(later) else None


def count_events(
    sample: np.ndarray,
    t: np.ndarray,
    channel: np.ndarray,
    count: int,
    edges: np.ndarray,
    channels: int,
    binary: bool,
) -> np.ndarray:
    """Frames ``(count, steps, channels)`` of the events (sample index, time, channel):
    bin k holds ``edges[k] <= t < edges[k + 1]``; events before ``edges[0]`` or at or after
    ``edges[-1]`` are dropped; ``binary`` caps each bin at 1."""
    steps = len(edges) - 1
    kept = (t >= edges[0]) & (t < edges[-1])
    step = np.searchsorted(edges, t[kept], side="right") - 1
    flat = (sample[kept] * steps + step) * channels + channel[kept]
    counts = np.bincount(flat, minlength=count * steps * channels)
    if binary:
        counts = np.minimum(counts, 1)
    return counts.reshape(count, steps, channels)


def _dataset(h5py: Any, file: Any, name: str, source: str) -> Any:
    item = file.get(name)
    if not isinstance(item, h5py.Dataset):
        found = "missing" if item is None else "not a dataset"
        raise InputError(
            f"{found}; an SHD/SSC file has {TIMES}, {UNITS} and {LABELS} (see {PAGE})",
            file=source,
            path=(name,),
        )
    return item


def _check_dtype(h5py: Any, dataset: Any, name: str, kinds: str, what: str, source: str) -> None:
    """A 1-D dataset of variable-length arrays (one per sample) of the right kind."""
    base = h5py.check_vlen_dtype(dataset.dtype)
    if dataset.ndim != 1 or base is None or np.dtype(base).kind not in kinds:
        got = f"{dataset.dtype}" if base is None else f"variable-length {np.dtype(base)}"
        raise InputError(
            f"expected variable-length arrays of {what} (one per sample), got {got} of shape "
            f"{list(dataset.shape)}",
            file=source,
            path=(name,),
        )


def _h5py(spec: ModelSpec) -> Any:
    try:
        import h5py
    except ImportError:
        raise spec.error(
            ("train", "data", "type"),
            "SHD and SSC are HDF5 files, read with h5py, which is not installed: "
            "pip install 'snnspec[datasets]'",
        ) from None
    return h5py
