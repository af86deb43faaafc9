"""Training batches gathered (and sent to the device) in a background thread while the step
runs.

The batches are index arrays (the seeded order of :func:`.data.epoch_order`, split into
batches), so the samples read are the same whatever the timing, and a shard of the indices
selects a process's rows just as well. ``take(index)`` gathers one batch (from a memory map
of the preprocessing cache: only the batch is read into memory, by :func:`gather`) and
places it on the device; the thread keeps up to ``depth`` batches ready. A small thread, not
a loader library: gathering rows of a memory-mapped array is one NumPy call that releases
the GIL while it copies, and the order must stay ours (see docs/datasets.md).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Generic, TypeVar

import numpy as np

from .data import Rows, Samples

Batch = TypeVar("Batch")

DEPTH = 2
"""Batches gathered ahead of the step."""

ALIGNMENT = 64
"""Bytes a gathered batch's memory is aligned to. JAX's CPU backend uses host memory so
aligned in place (a zero-copy ``device_put``) and copies any other array, which for an
SHD-sized batch (64 x 100 x 700 float32, 18 MB) cost from a few percent to a tenth of the
SHD MLP's training step on the 2-core machine this was measured on."""


class Spare:
    """Memory of gathered batches whose steps have finished, for the next batches of the run
    to reuse: new memory costs a page fault per page on first touch, which on a loaded
    machine made a gather up to 30 times slower than the copy itself. The loop hands a
    batch's array back only once the step that read it has finished (nothing reads it
    after that, also when the device uses it in place). Thread-safe; keeps at most ``keep``.
    """

    def __init__(self, keep: int = 2 * DEPTH + 2) -> None:
        self._free: deque[np.ndarray] = deque(maxlen=keep)

    def __len__(self) -> int:
        return len(self._free)

    def put(self, array: np.ndarray) -> None:
        self._free.append(array)

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
        """A kept array of ``shape`` and ``dtype`` (None if the first kept one is not)."""
        try:
            array = self._free.popleft()
        except IndexError:
            return None
        return array if array.shape == shape and array.dtype == dtype else None


def gather(samples: Samples, index: np.ndarray, spare: Spare | None = None) -> np.ndarray:
    """The rows ``index`` of ``samples`` (an array, a memory map or :class:`.data.Rows`) in
    memory aligned to :data:`ALIGNMENT` bytes (from ``spare`` when it has some, else new);
    only these rows are read.

    NumPy's bounds-checking ``take`` into an ``out`` array copies twice, so the bounds are
    checked here and ``take`` wraps (which never applies).
    """
    source, rows = samples, index
    if isinstance(samples, Rows):
        source, rows = samples.source, samples.rows[index]
    if len(rows) and (rows.min() < 0 or rows.max() >= len(source)):
        raise IndexError(f"rows {rows.min()}..{rows.max()} of {len(source)} samples")
    shape = (len(rows), *source.shape[1:])
    dtype = np.dtype(source.dtype)
    out = spare.take(shape, dtype) if spare is not None else None
    if out is None:
        size = math.prod(shape) * dtype.itemsize
        raw = np.empty(size + ALIGNMENT, np.uint8)
        start = -raw.ctypes.data % ALIGNMENT
        out = raw[start : start + size].view(dtype).reshape(shape)
    return np.take(source, rows, axis=0, out=out, mode="wrap")


class Prefetch(Generic[Batch]):
    """Iterate over ``take(index)`` for each of ``batches``, gathered ahead in a thread.

    ``load_time`` is the seconds the thread spent in ``take``, ``wait_time`` the seconds the
    consumer waited for a batch (near 0 when the step is slower than loading). An error in
    ``take`` is raised in the consumer; leaving the ``with`` block early stops the thread.
    """

    def __init__(
        self,
        take: Callable[[np.ndarray], Batch],
        batches: Sequence[np.ndarray],
        depth: int = DEPTH,
    ) -> None:
        self.take, self.batches = take, batches
        self.load_time = self.wait_time = 0.0
        self._ready: queue.Queue[Batch | BaseException] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="snnspec-prefetch", daemon=True)

    def __enter__(self) -> Prefetch[Batch]:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a thread waiting to put
            try:
                self._ready.get_nowait()
            except queue.Empty:
                self._thread.join(0.01)

    def __iter__(self) -> Iterator[Batch]:
        for _ in self.batches:
            start = time.perf_counter()
            item = self._ready.get()
            self.wait_time += time.perf_counter() - start
            if isinstance(item, BaseException):
                raise item
            yield item

    def _work(self) -> None:
        for index in self.batches:
            start = time.perf_counter()
            item: Batch | BaseException
            try:
                item = self.take(index)
            except BaseException as error:  # raised in the consumer
                item = error
            self.load_time += time.perf_counter() - start
            while not self._stop.is_set():
                try:
                    self._ready.put(item, timeout=0.05)
                    break
                except queue.Full:
                    continue
            if self._stop.is_set() or isinstance(item, BaseException):
                return
