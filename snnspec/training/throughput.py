"""Timings in a run's records: which fields are timings, and an epoch's throughput.

A field is a timing when its name ends in ``_time``, ``_seconds`` or ``_per_second``
(:func:`is_timing`): ``train_time_seconds``, ``eval_time_seconds``, ``step_time``,
``samples_per_second``, ``data_load_time``, ``data_wait_time``, a manifest's
``wall_time_seconds``. Timings differ from run to run,
so every equality check of two runs (``snnspec reproduce``, the tests of reruns and resumes)
leaves out exactly these fields, through this one function; every other field is compared.
"""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

TIMING = re.compile(r".*(_time|_seconds|_per_second)")


def is_timing(name: str) -> bool:
    """Whether the field ``name`` holds a timing (never compared between runs)."""
    return TIMING.fullmatch(name) is not None


def without_timings(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` without its timing fields (at the top level)."""
    return {key: value for key, value in record.items() if not is_timing(key)}


class EpochTimer:
    """The optimizer steps of one epoch: ``step_time`` (the median seconds per step) and
    ``samples_per_second`` (samples trained over the whole training part of the epoch,
    first-step compilation and data reading included).

    A step's time is the time between the host receiving its results and receiving the
    previous step's (the first step's: from the start of the epoch). The loop dispatches the
    next step before it reads one's results, so this is the time per step at which the epoch
    advances when the steps overlap with gathering batches and reading results, not the
    device time of one step alone.
    """

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.steps: list[float] = []
        self.samples = 0

    def step(self, samples: int) -> None:
        """One step of ``samples`` samples has finished (its results are on the host)."""
        now = time.perf_counter()
        self.steps.append(now - self.last)
        self.last = now
        self.samples += samples

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    @property
    def samples_per_second(self) -> float:
        return self.samples / max(self.seconds, 1e-9)

    def fields(self) -> dict[str, float]:
        """The epoch's ``train_time_seconds``, ``step_time`` and ``samples_per_second``."""
        seconds = max(self.last - self.started, 1e-9)
        return {
            "train_time_seconds": seconds,
            "step_time": statistics.median(self.steps) if self.steps else 0.0,
            "samples_per_second": self.samples / seconds,
        }
