"""IBM DVS Gesture (Amir et al. 2017) in tonic's preprocessed layout, binned to frames.

``root`` holds ``ibmGestureTrain/`` and ``ibmGestureTest/`` (or tonic's layout,
``root/DVSGesture/ibmGestureTrain/...``, where tonic's ``DVSGesture(save_to=root)`` unpacks
its archives). Each split folder holds one folder per recording session, ``user<NN>_<lighting>``
(users 1 to 23 train, 24 to 29 test: the official split), and each session folder one file
per gesture, ``<label>.npy``: an ``(events, 4)`` array whose columns are x, y (pixels of the
128x128 DVS128 sensor), polarity (0 OFF, 1 ON) and t (milliseconds; tonic multiplies by 1000
to microseconds). The label is the file name's number, 0 to 10.

The files are read with NumPy directly: tonic's ``DVSGesture`` class reads a folder only
when its downloaded archive lies beside it and it holds at least 100 ``.npy`` files
(otherwise it downloads), so it refuses the unpacked files alone and small fixtures; what it
adds over ``np.load`` is the conversion to microseconds. With ``download: true`` a missing
split folder is fetched by tonic's class.

Every file and event is checked: a problem is a located error naming the file, the split
folder, the 0-based sample index in the sorted order (session folder, then label) and the
field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._errors import InputError
from ..spec.train import DVS_GESTURE_CLASSES, DVS_GESTURE_SENSOR
from . import datasets, events

if TYPE_CHECKING:
    from ..spec.model import ModelSpec
    from ..spec.train import DvsGestureDataSpec
    from .cache import EventSource

PAGE = "https://research.ibm.com/interactive/dvsgesture/"
"""The authors' page of the data set."""

TONIC_PAGE = (
    "https://tonic.readthedocs.io/en/latest/reference/generated/tonic.datasets.DVSGesture.html"
)
"""tonic's preprocessed archives (ibmGestureTrain.tar.gz, ibmGestureTest.tar.gz)."""

SPLITS = {"ibmGestureTrain": True, "ibmGestureTest": False}
"""The folders of the official training and test sets (and tonic's ``train`` argument)."""

TONIC_FOLDER = "DVSGesture"
"""Where tonic's ``DVSGesture(save_to=root)`` unpacks the archives."""

SESSION = re.compile(r"user\d+_\w+", re.ASCII)
"""A recording session's folder: ``user<NN>_<lighting>``."""
SAMPLE = re.compile(r"\d+\.npy", re.ASCII)
"""A gesture's file: ``<label>.npy``."""

FIELDS = ("x", "y", "p", "t")
"""The columns of a file."""


def event_source(
    spec: ModelSpec, data: DvsGestureDataSpec, steps: int, folder: Path
) -> EventSource:
    """The official training and test folders of ``data`` under ``folder / data.root``
    (downloaded first with ``download: true``), each binned as one split (:mod:`.cache`
    keeps the result)."""
    base = locate(spec, data, folder)
    return events.event_source(spec, data, steps, base, SPLITS, list_split, read_events)


def locate(spec: ModelSpec, data: DvsGestureDataSpec, folder: Path) -> Path:
    """The folder holding both split folders: ``root`` itself or tonic's layout below it."""

    def fetch(split: str, base: Path) -> str:
        return (
            f"download {split}.tar.gz from tonic's page {TONIC_PAGE} and unpack it into "
            f"{base} (the data set's page: {PAGE})"
        )

    return events.locate_splits(spec, data, folder, SPLITS, TONIC_FOLDER, fetch)


def list_split(split: Path) -> tuple[list[Path], np.ndarray]:
    """The ``.npy`` files of a split folder in sorted order (session folder, then label)
    and their labels; anything else in the folder is an error."""
    files: list[Path] = []
    labels: list[int] = []
    sessions = sorted(split.iterdir())
    for session in sessions:
        if not (session.is_dir() and SESSION.fullmatch(session.name)):
            raise InputError(
                f"'{session.name}' is not a session folder; {split.name}/ holds one folder "
                "user<NN>_<lighting> per recording session; remove it",
                file=str(split),
            )
        found = list(session.iterdir())
        for path in found:
            if not (path.is_file() and SAMPLE.fullmatch(path.name)):
                raise InputError(
                    "not a gesture recording; a session folder holds only <label>.npy files; "
                    "remove it",
                    file=str(path),
                )
        if not found:
            raise InputError("the session folder holds no .npy recordings", file=str(session))
        for path in sorted(found, key=lambda path: int(path.stem)):
            files.append(path)
            labels.append(int(path.stem))
    if not files:
        raise InputError(
            "the split folder holds no session folders (user<NN>_<lighting>/<label>.npy)",
            file=str(split),
        )
    for index, (path, label) in enumerate(zip(files, labels, strict=True)):
        if label >= DVS_GESTURE_CLASSES:
            raise InputError(
                f"label {label} (the file's name) is outside [0, {DVS_GESTURE_CLASSES}) (DVS "
                f"Gesture has {DVS_GESTURE_CLASSES} classes)",
                file=str(path),
                path=(split.name, index, "label"),
            )
    return files, np.array(labels, np.int32)


def read_events(path: Path, split: str, index: int) -> events.Events:
    """The checked events of one file: x, y, polarity (0/1) and time (microseconds), int64."""
    source = str(path)

    def fail(message: str, *field: str) -> InputError:
        return InputError(message, file=source, path=(split, index, *field))

    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise fail(f"cannot read the .npy array (truncated or not an .npy file): {error}") from None
    if not isinstance(array, np.ndarray) or array.ndim != 2 or array.shape[1] != 4:
        got = f"shape {list(array.shape)}" if isinstance(array, np.ndarray) else "an archive"
        raise fail(f"expected an (events, 4) array of x, y, p, t, got {got}", "shape")
    if array.dtype.kind not in "biuf":
        raise fail(
            f"expected numbers (integers, or floats holding whole numbers), got {array.dtype}",
            "dtype",
        )
    numbers = array.astype(np.float64 if array.dtype.kind == "f" else np.int64)
    numbers[:, 3] *= 1000  # milliseconds -> microseconds, as tonic does
    if array.dtype.kind == "f":
        for column, name in enumerate(FIELDS):
            bad = np.flatnonzero(~np.isfinite(numbers[:, column]) | (numbers[:, column] % 1 != 0))
            if len(bad):
                e = int(bad[0])
                what = "a whole number of microseconds" if name == "t" else "a whole number"
                raise fail(f"event {e}: {name} {array[e, column]} is not {what}", name)
    columns = [numbers[:, column].astype(np.int64) for column in range(4)]
    x, y, p, t = columns
    for name, address in (("x", x), ("y", y)):
        bad = np.flatnonzero((address < 0) | (address >= DVS_GESTURE_SENSOR))
        if len(bad):
            e = int(bad[0])
            raise fail(
                f"event {e}: {name} {address[e]} is outside the {DVS_GESTURE_SENSOR}x"
                f"{DVS_GESTURE_SENSOR} sensor ([0, {DVS_GESTURE_SENSOR}))",
                name,
            )
    bad = np.flatnonzero((p != 0) & (p != 1))
    if len(bad):
        e = int(bad[0])
        raise fail(f"event {e}: polarity {p[e]} is neither 0 (OFF) nor 1 (ON)", "p")
    bad = np.flatnonzero(t < 0)
    if len(bad):
        e = int(bad[0])
        raise fail(f"event {e}: time {array[e, 3]} ms is negative", "t")
    e = datasets.first_decrease(t, np.zeros(len(t), np.int64))
    if e is not None:
        raise fail(
            f"event {e}: time {array[e, 3]} ms comes after {array[e - 1, 3]} ms; times must "
            "not decrease",
            "t",
        )
    return x, y, p, t
