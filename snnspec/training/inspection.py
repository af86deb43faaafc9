"""What a spec's training data hold: per split the class balance and spike statistics, and the
files the data come from (``snnspec data``; NumPy only, no JAX).

A sample's *events* are the sum of its absolute values (a count frame's events; a delta
code's off spikes count as events too). A channel is one element of the input shape; its
*rate* is its mean absolute value per time step over the split's samples, and it is *silent*
when it holds no event in any of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .cache import Status, status
from .data import data_folder, event_source, relative_path

if TYPE_CHECKING:
    from ..spec.model import ModelSpec
    from .data import Dataset

SPLITS = ("train", "val", "test")
"""The parts of a :class:`~snnspec.training.data.Dataset`, as ``split.json`` names them."""


@dataclass(frozen=True)
class SplitStats:
    """One split's size, class balance and spike statistics."""

    samples: int
    shape: tuple[int, ...]
    """``(N, T, *input shape)``."""
    dtype: str
    class_counts: tuple[int, ...]
    """Samples per class, classes 0 to ``num_classes - 1``."""
    events_per_sample: float
    rate_min: float
    rate_median: float
    rate_max: float
    """Over channels: mean events per step of each channel."""
    silent_channels: int
    channels: int


def split_arrays(data: Dataset) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (x, y)}`` of the splits that hold samples, in the order train, val, test
    (an event data set's samples read from the cache)."""
    parts = {
        "train": (np.asarray(data.x_train), data.y_train),
        "val": (np.asarray(data.x_val), data.y_val),
        "test": (np.asarray(data.x_test), data.y_test),
    }
    return {name: part for name, part in parts.items() if len(part[1])}


def split_stats(x: np.ndarray, y: np.ndarray, num_classes: int) -> SplitStats:
    """The statistics of samples ``x`` ``(N, T, *shape)`` with labels ``y`` (N > 0)."""
    n, steps = x.shape[:2]
    channels = math.prod(x.shape[2:])
    magnitude = np.abs(x.reshape(n, steps, channels), dtype=np.float64)
    per_channel = magnitude.sum(axis=(0, 1))
    rates = per_channel / (n * steps)
    counts = np.bincount(y, minlength=num_classes)
    return SplitStats(
        samples=n,
        shape=tuple(int(d) for d in x.shape),
        dtype=str(x.dtype),
        class_counts=tuple(int(c) for c in counts),
        events_per_sample=float(per_channel.sum() / n),
        rate_min=float(rates.min()),
        rate_median=float(np.median(rates)),
        rate_max=float(rates.max()),
        silent_channels=int(np.count_nonzero(per_channel == 0)),
        channels=channels,
    )


def source(spec: ModelSpec, root: Path | None = None) -> str:
    """The data source's type and its files: ``npz (data.npz, test.npz)``."""
    if spec.train is None:
        return "none (the spec has no `train:` section)"
    files = source_files(spec, root)
    return spec.train.data.type + (f" ({', '.join(files)})" if files else "")


def source_files(spec: ModelSpec, root: Path | None = None) -> list[str]:
    """The files the spec's data are read from (none for the synthetic and digits sources;
    the folder of a data set read from a folder of many files), relative to ``root``
    (default: the spec's folder) where they lie below it."""
    if spec.train is None:
        return []
    data = spec.train.data
    folder = root or spec.base_dir
    if data.type == "npz":
        paths = [folder / data.path]
        if data.test_path is not None:
            paths.append(folder / data.test_path)
    elif data.type == "shd" or data.type == "ssc":
        from .datasets import FILES, locate

        base = data_folder(folder)
        paths = [locate(spec, data, name, base) for name in FILES[data.type] if name]
    else:
        root_folder = getattr(data, "root", None)  # a data set read from a folder of files
        if not isinstance(root_folder, str):
            return []
        paths = [data_folder(folder) / root_folder]
    return [relative_path(path, folder) for path in paths]


def cache_status(spec: ModelSpec, root: Path | None = None) -> tuple[Status, Path, str] | None:
    """The preprocessing cache's entry of the spec's event data (hit, missing or corrupt,
    its folder, what is wrong), found without binning; None for data that are not cached."""
    from ..spec.train import AbstractEventDataSpec

    if spec.train is None or not isinstance(spec.train.data, AbstractEventDataSpec):
        return None
    source = event_source(spec, spec.train.data, spec.time.steps, root or spec.base_dir)
    return status(source)
