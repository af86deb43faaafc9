"""Event-camera recordings to frames: one code path for N-MNIST and DVS Gesture.

A reader gives each recording's checked events as int64 arrays x, y, polarity (0 OFF, 1 ON)
and t (microseconds from the recording's start, not decreasing). :func:`bin_recordings`
turns them into float32 frames ``(N, T, P, H, W)`` with the transforms of the spec, named as
tonic names them and applied in this order:

:func:`locate_splits` finds the split folders (as distributed, or in tonic's layout) and
lets tonic download a missing one with ``download: true``; :func:`event_source` hands a
data set's split folders to the preprocessing cache (:mod:`.cache`), which calls
:func:`bin_split` on a miss, so the frames are binned straight into the cache entry's file.

1. ``denoise: {filter_time}`` (tonic's ``Denoise``), per recording at the sensor's
   resolution: :func:`denoise`.
2. The time grid (:func:`.datasets.time_edges`, ``crop_time`` included): bin k holds the
   events with ``edges[k] <= t < edges[k + 1]``; events before the first edge or at or after
   the last are dropped.
3. ``downsample: f``: pixel (x, y) goes to ``[y // f, x // f]`` (integer division; tonic's
   ``Downsample(spatial_factor=1 / f)`` multiplies by the float 1 / f instead).
4. ``polarity``: ``separate`` keeps OFF and ON as two channels, ``merge`` counts both in one.
5. ``values``: ``counts`` or ``binary`` (:func:`.datasets.count_events`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import datasets

if TYPE_CHECKING:
    from ..spec.model import ModelSpec
    from ..spec.train import AbstractCameraDataSpec
    from .cache import Allocate, EventSource

Events = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""x, y, polarity and t (microseconds) of one recording, int64."""

Listing = tuple[list[Path], np.ndarray]
"""A split folder's recordings in their sorted order and their labels (int32)."""

ReadEvents = Callable[[Path, str, int], Events]
"""The checked events of a recording (its file, its split folder's name and its 0-based
index there, for a located error)."""

US = 1e6
"""Microseconds per second."""


def locate_splits(
    spec: ModelSpec,
    data: AbstractCameraDataSpec,
    folder: Path,
    splits: Mapping[str, bool],
    tonic_folder: str,
    fetch: Callable[[str, Path], str],
) -> Path:
    """The folder holding the split folders (``splits``: name -> tonic's ``train``
    argument): ``root`` itself or tonic's layout ``root/<tonic_folder>``; with
    ``download: true`` tonic fetches a missing split into its layout. ``fetch(split,
    folder)`` says how to get a missing split by hand."""
    root = folder / data.root
    candidates = (root, root / tonic_folder)

    def holding() -> list[Path]:
        return [base for base in candidates if any((base / s).is_dir() for s in splits)]

    if data.download:
        partial = [s for s in splits if not (root / s).is_dir()] if holding() == [root] else []
        if partial:
            raise spec.error(
                ("train", "data", "download"),
                f"{partial[0]}/ is missing from {root}, which holds the other split; tonic "
                f"would download it into {candidates[1]} (its own layout), apart from the "
                f"rest: {fetch(partial[0], root)}, or move the split folders into "
                f"{candidates[1]}",
            )
        for split, train in splits.items():
            if not any((base / split).is_dir() for base in candidates):
                datasets.download(spec, root, tonic_folder, f"{data.title} {split}/", train=train)
    bases = holding()
    if len(bases) > 1:
        raise spec.error(
            ("train", "data", "root"),
            f"two copies of {data.title}: in {bases[0]} and in {bases[1]} (tonic's layout); "
            "keep one",
        )
    base = bases[0] if bases else root
    for split in splits:
        if not (base / split).is_dir():
            raise spec.error(
                ("train", "data", "root"),
                f"{data.title} folder {split}/ not found in {base}"
                + ("" if bases else f" (nor in {candidates[1]}, tonic's layout)")
                + f"; {fetch(split, base)}, or set download: true",
            )
    return base


def event_source(
    spec: ModelSpec,
    data: AbstractCameraDataSpec,
    steps: int,
    base: Path,
    splits: Mapping[str, bool],
    list_split: Callable[[Path], Listing],
    read_events: ReadEvents,
) -> EventSource:
    """What the cache needs of an event camera's data set: the official training and test
    folders ``splits`` (folder name -> tonic's ``train`` argument) below ``base`` (from
    :func:`locate_splits`), listed now, each binned as one split on a cache miss. The
    frames' shape is checked against the spec's input first (:func:`check_frames`)."""
    from .cache import EventSource, preprocessing

    check_frames(spec, data)
    folders = {("train" if train else "test"): base / name for name, train in splits.items()}
    listed = {split: list_split(folder) for split, folder in folders.items()}

    def bin_one(split: str, allocate: Allocate) -> tuple[np.ndarray, np.ndarray]:
        return bin_split(folders[split], listed[split], read_events, data, steps, allocate)

    return EventSource(
        files=tuple(path for files, _ in listed.values() for path in files),
        base=base,
        section=preprocessing(data, steps),
        origins=folders,
        classes=data.classes,
        bin=bin_one,
    )


def bin_split(
    folder: Path,
    listed: Listing,
    read_events: ReadEvents,
    data: AbstractCameraDataSpec,
    steps: int,
    allocate: Allocate | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The frames ``(N, T, P, H, W)`` (in ``allocate(shape)``, default new zeros) and the
    labels of the split folder ``folder`` whose recordings ``listed`` names."""
    files, labels = listed

    def read(index: int) -> Events:
        return read_events(files[index], folder.name, index)

    return bin_recordings(read, len(files), data, steps, allocate), labels


def bin_recordings(
    read: Callable[[int], Events],
    count: int,
    data: AbstractCameraDataSpec,
    steps: int,
    allocate: Allocate | None = None,
) -> np.ndarray:
    """Frames ``(count, steps, P, H, W)`` (float32, in ``allocate(shape)``, default new
    zeros) of the recordings ``read(0)``, ``read(1)``, ...; a chunk of recordings at a time,
    bounded by ``datasets.BIN_BUDGET``."""
    frame = data.frame_shape
    channels = frame[0] * frame[1] * frame[2]
    # in microseconds; an edge that is a whole microsecond compares exactly with the integer
    # timestamps (k·w in float64 can be off by an ulp)
    edges = np.round(datasets.time_edges(data, steps) * US, 6)
    filter_time = None if data.denoise is None else data.denoise.filter_time * US
    shape = (count, steps, *frame)
    out = np.zeros(shape, np.float32) if allocate is None else allocate(shape)
    chunk = max(1, datasets.BIN_BUDGET // (steps * channels))
    for start in range(0, count, chunk):
        events = []
        for index in range(start, min(start + chunk, count)):
            x, y, p, t = read(index)
            if filter_time is not None:
                keep = denoise(x, y, t, filter_time)
                x, y, p, t = x[keep], y[keep], p[keep], t[keep]
            events.append((x, y, p, t))
        x, y, p, t = (np.concatenate(field) for field in zip(*events, strict=True))
        sample = np.repeat(np.arange(len(events)), [len(e[0]) for e in events])
        if data.polarity == "merge":
            p = np.zeros_like(p)
        f = data.downsample
        channel = (p * frame[1] + y // f) * frame[2] + x // f
        counts = datasets.count_events(
            sample, t.astype(np.float64), channel, len(events), edges, channels,
            data.values == "binary",
        )  # fmt: skip
        out[start : start + len(events)] = counts.reshape(len(events), steps, *frame)
    return out


def denoise(x: np.ndarray, y: np.ndarray, t: np.ndarray, filter_time: float) -> np.ndarray:
    """The events tonic's ``Denoise(filter_time)`` keeps, as a mask (``t`` and
    ``filter_time`` in the same unit).

    An event is kept when one of its 4 neighbouring pixels holds a memory later than its
    time; a pixel's memory is its last earlier event's time plus ``filter_time``, or
    ``filter_time`` before its first event. Neighbours lie inside the recording's own extent
    (up to its largest x and y), as in tonic. Vectorised: for each event and neighbour, the
    neighbour's last earlier event is found by a binary search in the events sorted by
    (pixel, index).
    """
    n = len(t)
    if n == 0:
        return np.zeros(0, bool)
    width, height = int(x.max()) + 1, int(y.max()) + 1
    pixel = x * height + y
    order = np.argsort(pixel, kind="stable")  # by pixel, then by index
    keys = pixel[order] * n + order
    index = np.arange(n)
    t = t.astype(np.float64)
    keep = np.zeros(n, bool)
    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        nx, ny = x + dx, y + dy
        inside = (nx >= 0) & (nx < width) & (ny >= 0) & (ny < height)
        neighbour = nx * height + ny
        before = np.searchsorted(keys, neighbour * n + index, side="left") - 1
        last = order[np.maximum(before, 0)]
        seen = (before >= 0) & (pixel[last] == neighbour)
        memory = np.where(seen, t[last] + filter_time, filter_time)
        keep |= inside & (memory > t)
    return keep


def check_frames(spec: ModelSpec, data: AbstractCameraDataSpec) -> None:
    """The frames ``data.frame_shape`` (the shape :func:`bin_recordings` gives) fit the
    spec's input (checked once more before anything is binned, for a spec that did not go
    through validation): else a located error naming the transform."""
    from ..spec.train import frame_mismatch

    mismatch = frame_mismatch(data, spec.inputs[0].name, spec.inputs[0].shape)
    if mismatch is not None:
        raise spec.error(("train", "data", mismatch[0]), mismatch[1])
