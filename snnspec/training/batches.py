"""Training batches gathered in a background thread while the step runs.

The batches are index arrays (the seeded order of :func:`.data.epoch_order`, split into
batches), so the samples read are the same whatever the timing, and a shard of the indices
selects a process's rows just as well. ``take(index)`` gathers one batch (from a memory map
of the preprocessing cache: only the batch is read into memory); the thread keeps up to
``depth`` batches ready. A small thread, not a loader library: gathering rows of a
memory-mapped array is one NumPy call that releases the GIL while it copies, and the order
must stay ours (see docs/datasets.md).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType

import numpy as np

Batch = tuple[np.ndarray, np.ndarray]

DEPTH = 2
"""Batches gathered ahead of the step."""


class Prefetch:
    """Iterate over ``take(index)`` for each of ``batches``, gathered ahead in a thread.

    ``load_time`` is the seconds the thread spent gathering, ``wait_time`` the seconds the
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

    def __enter__(self) -> Prefetch:
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
