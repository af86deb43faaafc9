"""Training data: sources (synthetic, digits, npz; SHD and SSC in :mod:`.datasets`, N-MNIST
in :mod:`.nmnist`, DVS Gesture in :mod:`.dvs_gesture`, their binned tensors kept by
:mod:`.cache`), spike encoders and the seeded split.

Everything here is NumPy and a pure function of the spec and its ``train.seed``: the same
spec gives the same arrays, bit for bit, on every run (the manifest records their sha256).
The random streams are independent: ``default_rng([seed, 0])`` splits, ``[seed, 1, epoch]``
orders an epoch's batches, ``[seed, 2]`` encodes (``[seed, 2, 1]`` an npz ``test_path``
file), ``[seed, 3]`` draws the synthetic task.
No loader downloads anything, except an event data set's with ``download: true`` (through
tonic).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._errors import Hint, InputError
from .._io import sha256
from ..spec.train import AbstractEventDataSpec, DvsGestureDataSpec, NmnistDataSpec

if TYPE_CHECKING:
    from ..spec.model import ModelSpec
    from ..spec.train import (
        DeltaEncoderSpec,
        DigitsDataSpec,
        LatencyEncoderSpec,
        NpzDataSpec,
        RateEncoderSpec,
        SyntheticDataSpec,
    )
    from .cache import EventSource

    EncoderSpec = RateEncoderSpec | LatencyEncoderSpec | DeltaEncoderSpec

SPLIT, ORDER, ENCODE, SYNTHETIC = 0, 1, 2, 3
"""Stream ids of the seeded generators (``default_rng([seed, stream, ...])``)."""

DATA_ROOT_ENV = "SNNSPEC_DATA_ROOT"
"""The folder a data source's relative ``root`` resolves against, instead of the spec's."""


class Rows:
    """Some rows of a source array (a read-only memory map of the cache), gathered only when
    indexed: a part of an event data set is never held in memory as a whole.

    Indexing (an int, a slice or an index array, positions in the part) returns an ndarray;
    ``np.asarray(rows)`` gathers every row.
    """

    def __init__(self, source: np.ndarray, rows: np.ndarray) -> None:
        self.source, self.rows = source, rows
        self.shape = (len(rows), *source.shape[1:])
        self.dtype = source.dtype
        self.ndim = source.ndim

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.source[self.rows[key]])

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return np.asarray(self.source[self.rows], dtype)


Samples = np.ndarray | Rows
"""A part's samples ``(N, T, *shape)``: an array (maybe a read-only memory map) or rows of one."""


@dataclass(frozen=True)
class Dataset:
    """Encoded samples ``(N, T, *shape)`` (float32) and integer labels in three parts: train,
    validation (empty when the spec has no validation split) and test.

    An event data set's samples are memory-mapped from the preprocessing cache (an array,
    or :class:`Rows` of one): index them to read a batch, ``np.asarray`` to read them all.
    ``indices`` holds each part's indices into its source's samples (the test part's into
    ``test_file`` when the test set is a file of its own, the validation part's into
    ``val_file`` likewise); ``digests`` holds each part's sha256 and ``sha256`` covers every
    part; ``cache`` is the preprocessing cache entry's key and arrays' sha256, if any.
    """

    x_train: Samples
    y_train: np.ndarray
    x_val: Samples
    y_val: np.ndarray
    x_test: Samples
    y_test: np.ndarray
    num_classes: int
    sha256: str
    indices: dict[str, np.ndarray]
    digests: dict[str, str]
    test_file: str | None = None
    val_file: str | None = None
    cache: dict[str, Any] | None = None

    @property
    def steps(self) -> int:
        return int(self.x_train.shape[1])

    def split_record(self, seed: int) -> dict[str, Any]:
        """What ``split.json`` records: per part its sample count, indices and sha256."""
        record: dict[str, Any] = {"seed": seed, "test_file": self.test_file}
        if self.val_file is not None:
            record["val_file"] = self.val_file
        for name, y in (("train", self.y_train), ("val", self.y_val), ("test", self.y_test)):
            record[name] = {
                "samples": len(y),
                "sha256": self.digests[name],
                "indices": self.indices[name].tolist(),
            }
        return record


def train_seed(spec: ModelSpec) -> int:
    """The seed of data and training randomness: ``train.seed``, else the spec's seed."""
    if spec.train is None or spec.train.seed is None:
        return spec.seed
    return spec.train.seed


def has_validation(spec: ModelSpec) -> bool:
    """Whether the spec's data have a validation split (which selection and early stopping
    need; without one a run keeps its last epoch)."""
    return spec.train is not None and spec.train.has_validation


def load_data(spec: ModelSpec, root: Path | None = None) -> Dataset:
    """The encoded data set of ``spec.train.data``, split into train, validation and test.

    ``root`` is the folder an ``npz`` path is relative to (default: the spec's folder), and a
    data ``root`` too unless ``$SNNSPEC_DATA_ROOT`` names another (:func:`data_folder`).
    """
    if spec.train is None:
        raise spec.error((), "the spec has no `train:` section; add one to train or evaluate")
    if len(spec.inputs) != 1:
        raise spec.error(
            ("inputs",),
            f"training data feeds a single input, but this spec has {len(spec.inputs)}",
        )
    data = spec.train.data
    seed = train_seed(spec)
    shape = tuple(spec.inputs[0].shape)
    steps = spec.time.steps
    folder = root or spec.base_dir
    if isinstance(data, AbstractEventDataSpec):
        return _event_data(spec, data, steps, seed, folder)
    test_file, given = None, None  # given: the test set of a file of its own
    if data.type == "synthetic":
        x, y, num_classes = synthetic_task(data, shape, steps, seed)
    elif data.type == "digits":
        x, y, num_classes = _digits(spec, data, shape, steps, seed)
    else:
        x, y, num_classes = _npz(spec, data, "path", shape, steps, seed, folder)
        if data.test_path is not None:
            test_file = data.test_path
            x_test, y_test, test_classes = _npz(spec, data, "test_path", shape, steps, seed, folder)
            given = (x_test.astype(np.float32, copy=False), y_test.astype(np.int32, copy=False))
            num_classes = max(num_classes, test_classes)
    train_index, val_index, test_index = split_indices(
        len(y), None if given else data.test_fraction, data.validation_fraction, seed
    )
    x = x.astype(np.float32, copy=False)
    y = y.astype(np.int32, copy=False)
    if given is not None:
        test_index = np.arange(len(given[1]))
    x_test, y_test = given or (x[test_index], y[test_index])
    arrays = (x[train_index], y[train_index], x[val_index], y[val_index], x_test, y_test)
    # Without a validation split the digest is the one of a train/test split (earlier runs).
    digested = arrays if len(val_index) else arrays[:2] + arrays[4:]
    return Dataset(
        *arrays,
        num_classes=num_classes,
        sha256=_digest(digested),
        indices={"train": train_index, "val": val_index, "test": test_index},
        digests={
            name: _digest(arrays[2 * i : 2 * i + 2])
            for i, name in enumerate(("train", "val", "test"))
        },
        test_file=test_file,
    )


def data_folder(folder: Path) -> Path:
    """The folder a data source's relative ``root`` resolves against: ``$SNNSPEC_DATA_ROOT``
    when set (the command line's data-root option sets it), else ``folder`` (the spec's)."""
    value = os.environ.get(DATA_ROOT_ENV)
    if not value:
        return folder
    path = Path(value)
    if not path.is_dir():
        raise InputError(
            f"{DATA_ROOT_ENV}={value}: no such folder; set it to the folder your data "
            "sets' `root:` folders are relative to, or unset it"
        )
    return path


def event_source(
    spec: ModelSpec, data: AbstractEventDataSpec, steps: int, folder: Path
) -> EventSource:
    """What the cache needs of the event data set ``data`` (its ``root`` resolved against
    :func:`data_folder` of ``folder``); its files are located (downloaded first with
    ``download: true``), not read."""
    from . import datasets, dvs_gesture, nmnist

    base = data_folder(folder)
    if isinstance(data, NmnistDataSpec):
        return nmnist.event_source(spec, data, steps, base)
    if isinstance(data, DvsGestureDataSpec):
        return dvs_gesture.event_source(spec, data, steps, base)
    return datasets.event_source(spec, data, steps, base)  # pyright: ignore[reportArgumentType]


def _event_data(
    spec: ModelSpec, data: AbstractEventDataSpec, steps: int, seed: int, folder: Path
) -> Dataset:
    """An event data set from the preprocessing cache (binned first on a miss), memory-mapped.

    The test set (and a validation set) are the data set's official splits; without an
    official validation split, ``validation_fraction`` carves one from the training split
    by the seeded split. The digests are computed from the cache's checked array digests
    and the split's indices, so nothing is read twice (the cache compares every array with
    its digest on use).
    """
    from .cache import open_entry

    source = event_source(spec, data, steps, folder)
    entry = open_entry(source)
    x, y = entry.split("train")
    official = "val" in source.splits
    fraction = None if official else getattr(data, "validation_fraction", None)
    train_index, val_index, _ = split_indices(len(y), None, fraction, seed)
    train = x if len(val_index) == 0 else Rows(x, train_index)
    parts: dict[str, tuple[Samples, np.ndarray, np.ndarray, str]] = {
        "train": (train, np.asarray(y[train_index]), train_index, "train")
    }
    if official:
        x_val, y_val = entry.split("val")
        val_index = np.arange(len(y_val))
        parts["val"] = (x_val, np.asarray(y_val), val_index, "val")
    else:
        parts["val"] = (Rows(x, val_index), np.asarray(y[val_index]), val_index, "train")
    x_test, y_test = entry.split("test")
    parts["test"] = (x_test, np.asarray(y_test), np.arange(len(y_test)), "test")
    digests = {
        name: sha256(
            chunk.encode() if isinstance(chunk, str) else chunk
            for chunk in (
                entry.sha256[f"{origin}_x"],
                entry.sha256[f"{origin}_y"],
                np.ascontiguousarray(index, np.int64).tobytes(),
            )
        )
        for name, (_, _, index, origin) in parts.items()
    }
    digested = [name for name in ("train", "val", "test") if len(parts[name][2])]
    # relative to the data's folder: the same wherever a data root puts them
    base = data_folder(folder)
    origins = {split: relative_path(path, base) for split, path in source.origins.items()}
    return Dataset(
        parts["train"][0],
        parts["train"][1],
        parts["val"][0],
        parts["val"][1],
        parts["test"][0],
        parts["test"][1],
        num_classes=source.classes,
        sha256=sha256(f"{name}:{digests[name]}\n".encode() for name in digested),
        indices={name: part[2] for name, part in parts.items()},
        digests=digests,
        test_file=origins["test"],
        val_file=origins.get("val"),
        cache={"key": entry.key, "sha256": entry.sha256},
    )


def relative_path(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` where it lies below it, else as it is."""
    relative = os.path.relpath(path, folder)
    return str(path) if relative.startswith("..") else relative


def split_indices(
    count: int, test_fraction: float | None, validation_fraction: float | None, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint sorted train, validation and test indices covering ``range(count)``.

    One seeded permutation: its first ``round(count·test_fraction)`` samples are the test
    set, the next ``round(count·validation_fraction)`` the validation set (each at least
    one sample; a fraction of None: none), the rest the training set.
    """
    order = np.random.default_rng([seed, SPLIT]).permutation(count)
    test = 0 if test_fraction is None else max(round(count * test_fraction), 1)
    val = 0 if validation_fraction is None else max(round(count * validation_fraction), 1)
    if validation_fraction is None and test_fraction is not None and count >= 2:
        test = min(test, count - 1)
    if test + val >= count:
        parts = [f"{n} {name}" for n, name in ((test, "test"), (val, "validation")) if n]
        raise InputError(
            f"{count} samples are too few to hold out {' and '.join(parts)} samples and "
            "train on at least one"
        )
    return (
        np.sort(order[test + val :]),
        np.sort(order[test : test + val]),
        np.sort(order[:test]),
    )


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the training samples in ``epoch``: a function of (seed, epoch) only."""
    return np.random.default_rng([seed, ORDER, epoch]).permutation(count)


# --- sources ------------------------------------------------------------------------------


def synthetic_task(
    data: SyntheticDataSpec, shape: tuple[int, ...], steps: int, seed: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Samples ``(N, T, *shape)`` of the seeded synthetic task and balanced labels."""
    channels = math.prod(shape)
    rng = np.random.default_rng([seed, SYNTHETIC])
    active = max(1, round(channels * data.active_fraction))
    prototypes = np.full((data.num_classes, data.segments, channels), data.rate_low)
    for c in range(data.num_classes):
        for s in range(data.segments):
            prototypes[c, s, rng.choice(channels, active, replace=False)] = data.rate_high
    labels = np.arange(data.num_samples) % data.num_classes
    segment_of_step = np.arange(steps) * data.segments // steps
    rates = prototypes[labels][:, segment_of_step]  # (N, T, channels)
    spikes = rng.random(rates.shape) < rates
    return spikes.reshape(data.num_samples, steps, *shape), labels, data.num_classes


def _digits(
    spec: ModelSpec, data: DigitsDataSpec, shape: tuple[int, ...], steps: int, seed: int
) -> tuple[np.ndarray, np.ndarray, int]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise spec.error(
            ("train", "data", "type"),
            "the digits data set comes with scikit-learn, which is not installed: "
            "pip install 'snnspec[data]' (no download needed after that)",
        ) from None
    if math.prod(shape) != 64:
        raise spec.error(
            ("inputs", 0, "shape"),
            f"the 8x8 digits have 64 values per sample; the input shape {list(shape)} holds "
            f"{math.prod(shape)} (use [64], [8, 8] or [1, 8, 8])",
        )
    images, labels = load_digits(return_X_y=True)  # bundled with scikit-learn: no download
    values = (np.asarray(images, np.float64) / 16.0).reshape(-1, *shape)
    spikes = encode(values, data.encoder, steps, np.random.default_rng([seed, ENCODE]))
    return spikes, np.asarray(labels), 10


def _npz(
    spec: ModelSpec,
    data: NpzDataSpec,
    field: Literal["path", "test_path"],
    shape: tuple[int, ...],
    steps: int,
    seed: int,
    root: Path,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The samples of the file ``data.<field>`` names (static values encoded with their own
    stream: the test file's noise is independent of the data file's)."""
    path = root / str(getattr(data, field))
    source = str(path)
    if not path.is_file():
        raise spec.error(("train", "data", field), f"data file not found: {source}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as error:
        raise InputError(f"cannot read the npz data file: {error}", file=source) from None
    for key in (data.inputs, data.labels):
        if key not in arrays:
            raise InputError(
                f"missing array '{key}'; the file has: {', '.join(sorted(arrays)) or 'none'}",
                file=source,
            )
    x, y = arrays[data.inputs], arrays[data.labels]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise InputError(
            f"labels must be a 1-D integer array, got shape {list(y.shape)} of {y.dtype}",
            file=source,
            path=(data.labels,),
        )
    if len(y) != len(x):
        raise InputError(f"{len(x)} samples but {len(y)} labels", file=source, path=(data.labels,))
    if len(y) and y.min() < 0:
        raise InputError("labels must be >= 0", file=source, path=(data.labels,))
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise InputError(f"dtype {x.dtype} is not numeric", file=source, path=(data.inputs,))
    x = x.astype(np.float64)
    if x.ndim == len(shape) + 2 and tuple(x.shape[2:]) == shape:
        if x.shape[1] < 1:
            raise InputError("the samples have no time steps", file=source, path=(data.inputs,))
        if x.shape[1] != steps:
            raise InputError(
                f"shape {list(x.shape)} has {x.shape[1]} time steps but the spec's time.steps "
                f"is {steps}: the run folder would record the wrong number; set `time: {{steps: "
                f"{x.shape[1]}}}` in the spec (or `override time.steps={x.shape[1]}`), or cut "
                "the arrays to the spec's steps",
                file=source,
                path=(data.inputs,),
                hint=Hint(options=("override",)),
            )
        if data.encoder is not None and data.encoder.type != "delta":
            raise spec.error(
                ("train", "data", "encoder"),
                f"{data.encoder.type} coding turns static samples (N, {_dims(shape)}) into "
                "spikes, but the file already has a time axis; remove the encoder or use delta",
            )
        if data.encoder is not None:
            x = delta_sequence(x, data.encoder.threshold, data.encoder.off_spikes)
        spikes = x
    elif x.ndim == len(shape) + 1 and tuple(x.shape[1:]) == shape:
        if data.encoder is None:
            raise spec.error(
                ("train", "data"),
                f"the samples are static (N, {_dims(shape)}); add an encoder "
                "(rate, latency or delta) to turn them into spikes",
            )
        if x.size and (x.min() < 0 or x.max() > 1) and data.encoder.type != "delta":
            raise InputError(
                f"{data.encoder.type} coding needs values in [0, 1], got "
                f"[{x.min():g}, {x.max():g}]",
                file=source,
                path=(data.inputs,),
            )
        stream = [seed, ENCODE] if field == "path" else [seed, ENCODE, 1]
        spikes = encode(x, data.encoder, steps, np.random.default_rng(stream))
    else:
        raise InputError(
            f"array shape {list(x.shape)} fits neither (N, T, {_dims(shape)}) spikes nor "
            f"(N, {_dims(shape)}) values for the spec's input",
            file=source,
            path=(data.inputs,),
        )
    return spikes, y, int(y.max()) + 1 if len(y) else 0


# --- encoders -----------------------------------------------------------------------------


def encode(
    values: np.ndarray, encoder: EncoderSpec, steps: int, rng: np.random.Generator
) -> np.ndarray:
    """Static values ``(N, *shape)`` in [0, 1] -> spikes ``(N, T, *shape)``."""
    values = np.asarray(values, np.float64)
    n, shape = values.shape[0], values.shape[1:]
    if encoder.type == "rate":
        probability = np.clip(values * encoder.max_rate, 0.0, 1.0)[:, None]
        size = (n, steps, *shape)
        if encoder.distribution == "poisson":
            return rng.poisson(np.broadcast_to(probability, size)).astype(np.float32)
        return (rng.random(size) < probability).astype(np.float32)
    if encoder.type == "latency":
        return latency_code(values, steps, encoder.mode, encoder.threshold, encoder.tau)
    ramp = values[:, None] * (np.arange(1, steps + 1) / steps).reshape(1, steps, *[1] * len(shape))
    return delta_sequence(ramp, encoder.threshold, encoder.off_spikes)


def latency_code(
    values: np.ndarray, steps: int, mode: str, threshold: float, tau: float
) -> np.ndarray:
    """One spike per feature with x >= threshold, earlier for larger x."""
    values = np.asarray(values, np.float64)
    fires = values >= threshold if mode == "linear" else values > threshold
    if mode == "linear":
        times = np.rint((1.0 - np.clip(values, 0.0, 1.0)) * (steps - 1))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            times = np.rint(tau * np.log(values / np.where(fires, values - threshold, 1.0)))
        times = np.where(fires, times, 0)
    times = np.clip(times, 0, steps - 1).astype(np.int64)
    spikes = np.zeros((values.shape[0], steps, *values.shape[1:]), np.float32)
    t = np.arange(steps).reshape(1, steps, *[1] * (values.ndim - 1))
    spikes[...] = (t == times[:, None]) & fires[:, None]
    return spikes


def delta_sequence(signal: np.ndarray, threshold: float, off_spikes: bool) -> np.ndarray:
    """Level-crossing code of ``(N, T, ...)`` signals starting from a reference of 0.

    At each step the reference moves by whole multiples of ``threshold`` towards the signal;
    the number of multiples it rose is the (on) spike count, and with ``off_spikes`` the
    number it fell is emitted as a negative count.
    """
    signal = np.asarray(signal, np.float64)
    reference = np.zeros(signal[:, 0].shape)
    out = np.zeros(signal.shape, np.float32)
    for t in range(signal.shape[1]):
        change = np.floor((signal[:, t] - reference) / threshold + 1e-9)
        if not off_spikes:
            change = np.maximum(change, 0.0)
        else:
            falls = np.floor((reference - signal[:, t]) / threshold + 1e-9)
            change = np.where(change > 0, change, -np.maximum(falls, 0.0))
        reference = reference + change * threshold
        out[:, t] = change
    return out


def _digest(arrays: tuple[np.ndarray, ...]) -> str:
    return sha256(
        chunk
        for array in arrays
        for chunk in (
            f"{array.dtype.str}{list(array.shape)}".encode(),
            np.ascontiguousarray(array).tobytes(),
        )
    )


def _dims(shape: tuple[int, ...]) -> str:
    return ", ".join(map(str, shape))
