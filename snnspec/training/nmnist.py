"""N-MNIST (Orchard et al. 2015): the distributed ``.bin`` recordings, binned to frames.

``root`` holds ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin`` as distributed (or tonic's
layout, ``root/NMNIST/Train/...``). Each file is one recording of the 34x34 ATIS sensor: a
sequence of 40-bit events, 5 bytes each, as the data set's page describes them
(https://www.garrickorchard.com/datasets/n-mnist): bits 39-32 the x address, bits 31-24 the
y address, bit 23 the polarity (0 OFF, 1 ON) and bits 22-0 the timestamp in microseconds.
So byte 0 is x, byte 1 is y, the top bit of byte 2 the polarity and the low 7 bits of byte 2
with bytes 3 and 4 the big-endian 23-bit timestamp (tonic's ``tonic.io.read_mnist_file``
decodes the same layout).

The files are read with NumPy directly: tonic's ``NMNIST`` class checks the md5 of the
downloaded archives, so it refuses a folder holding only the unpacked files and small test
fixtures; ``tonic.io.read_mnist_file`` is the same five lines of byte arithmetic as below,
without the checks. The frames are made by the event-camera transforms shared with DVS
Gesture (:func:`.events.bin_recordings`).

Every file and event is checked: a problem is a located error naming the file, the split
folder, the 0-based sample index in the sorted order (digit, then file name) and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._errors import InputError
from ..spec.train import NMNIST_CLASSES, NMNIST_SENSOR
from . import datasets, events

if TYPE_CHECKING:
    from ..spec.model import ModelSpec
    from ..spec.train import NmnistDataSpec
    from .cache import EventSource

PAGE = "https://www.garrickorchard.com/datasets/n-mnist"
"""Where the authors distribute N-MNIST."""

SPLITS = {"Train": True, "Test": False}
"""The folders of the official training and test sets (and tonic's ``train`` argument)."""

TONIC_FOLDER = "NMNIST"
"""Where tonic's ``NMNIST(save_to=root)`` unpacks the folders."""

EVENT_BYTES = 5
"""One 40-bit event."""


def event_source(spec: ModelSpec, data: NmnistDataSpec, steps: int, folder: Path) -> EventSource:
    """The official training and test folders of ``data`` under ``folder / data.root``, each
    binned as one split (:mod:`.cache` keeps the result)."""
    base = locate(spec, data, folder)
    return events.event_source(spec, data, steps, base, SPLITS, list_split, read_events)


def locate(spec: ModelSpec, data: NmnistDataSpec, folder: Path) -> Path:
    """The folder holding ``Train/`` and ``Test/``: ``root`` itself or tonic's layout below it."""

    def fetch(split: str, base: Path) -> str:
        return f"download {split}.zip from {PAGE} and unpack it into {base}"

    return events.locate_splits(spec, data, folder, SPLITS, TONIC_FOLDER, fetch)


def list_split(split: Path) -> tuple[list[Path], np.ndarray]:
    """The ``.bin`` files of a split folder in sorted order (digit, then file name) and
    their labels; anything else in the folder is an error."""
    where = str(split)
    entries = {entry.name: entry for entry in split.iterdir()}
    for name in sorted(entries):
        if not (entries[name].is_dir() and len(name) == 1 and name.isdigit()):
            raise InputError(
                f"'{name}' is not a digit folder; {split.name}/ holds the folders 0 to 9 (one "
                "per digit) of .bin files; remove it",
                file=where,
            )
    files: list[Path] = []
    labels: list[int] = []
    for digit in range(NMNIST_CLASSES):
        if str(digit) not in entries:
            raise InputError(
                f"no folder {digit}/; N-MNIST has the digits 0 to 9, each with its recordings",
                file=where,
            )
        found = sorted(entries[str(digit)].iterdir())
        for path in found:
            if not (path.is_file() and path.suffix == ".bin"):
                raise InputError(
                    "not a .bin recording; a digit folder holds only .bin files; remove it",
                    file=str(path),
                )
        if not found:
            raise InputError(
                f"the folder of digit {digit} holds no .bin recordings",
                file=str(split / str(digit)),
            )
        files.extend(found)
        labels.extend([digit] * len(found))
    return files, np.array(labels, np.int32)


def read_events(path: Path, split: str, index: int) -> events.Events:
    """The checked events of one file: x, y, polarity (0/1) and time (microseconds), int64."""
    source = str(path)
    raw = np.fromfile(path, np.uint8)
    if len(raw) % EVENT_BYTES:
        raise InputError(
            f"{len(raw)} bytes are not a whole number of 40-bit (5-byte) events; the file is "
            "truncated or not an N-MNIST recording",
            file=source,
            path=(split, index),
        )
    fields = raw.reshape(-1, EVENT_BYTES).astype(np.int64)
    x, y = fields[:, 0], fields[:, 1]
    polarity = fields[:, 2] >> 7
    t = ((fields[:, 2] & 0x7F) << 16) | (fields[:, 3] << 8) | fields[:, 4]
    for name, address in (("x", x), ("y", y)):
        bad = np.flatnonzero(address >= NMNIST_SENSOR)
        if len(bad):
            e = int(bad[0])
            raise InputError(
                f"event {e}: {name} {address[e]} is outside the {NMNIST_SENSOR}x"
                f"{NMNIST_SENSOR} sensor ([0, {NMNIST_SENSOR}))",
                file=source,
                path=(split, index, name),
            )
    e = datasets.first_decrease(t, np.zeros(len(t), np.int64))
    if e is not None:
        raise InputError(
            f"event {e}: timestamp {t[e]} us comes after {t[e - 1]} us; timestamps must not "
            "decrease",
            file=source,
            path=(split, index, "timestamp"),
        )
    return x, y, polarity, t
