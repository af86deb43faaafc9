"""The epoch loop overlaps the host with the steps, and its metrics stay the per-step sums.

The loop dispatches step n+1 before it reads step n's loss, number correct and SynOps, and
the batches reach it already on the device; the epoch's metrics must still be exactly what
reading every step at once gives (a sequential float64 sum of the steps' float32 values in
step order), which a NumPy reference computed step by step pins here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import TINY_MODEL

from snnspec.spec.load import load
from snnspec.training.batches import ALIGNMENT, Spare, gather
from snnspec.training.data import Rows

SPEC = (
    TINY_MODEL
    + """\
train:
  data: {type: synthetic, num_samples: 60, num_classes: 3, segments: 2, rate_high: 0.5,
         validation_fraction: 0.2}
  loss: {type: cross_entropy, readout: max_membrane, scale: 5.0}
  optimizer: {type: adam, learning_rate: 0.01}
  regularizers:
    - {type: synops, target: 1.0, weight: 0.1}
  epochs: 2
  batch_size: 8
"""
)


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    path.write_text(SPEC)
    return path


def _task(spec: Any) -> tuple[Any, Any]:
    from snnspec.model.compile import compile as compile_spec
    from snnspec.training.data import load_data
    from snnspec.training.loop import Task

    data = load_data(spec)
    return Task(spec, compile_spec(spec), data), data


def test_epoch_metrics_equal_the_per_step_sums(spec_path: Path, tmp_path: Path) -> None:
    from snnspec.training.loop import train

    spec = load(spec_path)
    records = train(spec, tmp_path / "run", progress=False, echo=quiet).records
    # the reference: every step run and read at once, on the batches and keys of the loop
    task, data = _task(spec)
    params, opt_state = task.params, task.optimizer.init(task.params)
    for record in records:
        epoch, values, seen = record["epoch"], [], 0
        for step, index in enumerate(task.batches(data, epoch)):
            params, opt_state, *out = task.train_step(
                params,
                opt_state,
                data.x_train[index],
                data.y_train[index],
                task.step_key(epoch, step),
            )
            values.append([np.float32(v) for v in out])
            seen += len(index)
        sums = np.cumsum(np.asarray(values, np.float64), axis=0)[-1]  # sequential, in order
        assert record["train_loss"] == sums[0] / len(values)
        assert record["train_accuracy"] == sums[1] / seen
        assert record["train_synops"] == sums[2] / len(values)


class _Read:
    """A step result that notes when the loop reads it on the host."""

    def __init__(self, value: Any, step: int, events: list[tuple[str, int]]) -> None:
        self.value, self.step, self.events = value, step, events

    def __float__(self) -> float:
        self.events.append(("read", self.step))
        return float(self.value)


def test_the_loop_dispatches_the_next_step_before_reading_one(spec_path: Path) -> None:
    import jax

    from snnspec.training.loop import _epoch
    from snnspec.training.parallel import Placement

    task, data = _task(load(spec_path))
    real = task.train_step
    events: list[tuple[str, int]] = []
    placed: list[bool] = []

    def step(params: Any, opt_state: Any, x: Any, y: Any, key: Any) -> Any:
        n = sum(kind == "dispatch" for kind, _ in events)
        events.append(("dispatch", n))
        placed.append(isinstance(x, jax.Array) and isinstance(y, jax.Array))
        params, opt_state, *values = real(params, opt_state, x, y, key)
        return params, opt_state, *(_Read(v, n, events) for v in values)

    task.train_step = step
    progress: list[tuple[float, float]] = []
    params, opt_state = task.params, task.optimizer.init(task.params)
    spare = Spare()
    handed_back: list[int] = []
    keep = spare.put
    spare.put = lambda array: (handed_back.append(array.ctypes.data), keep(array))[1]
    params, opt_state, record = _epoch(
        task,
        data,
        Placement(),
        params,
        opt_state,
        1,
        False,
        lambda loss, acc, _: progress.append((loss, acc)),
        spare,
    )
    steps = task.steps_per_epoch
    expected = [("dispatch", 0)]
    for n in range(steps):
        if n + 1 < steps:
            expected.append(("dispatch", n + 1))
        expected += [("read", n)] * 3  # loss, number correct, SynOps
    assert events == expected
    assert all(placed)  # the thread put every batch on the device before the step
    assert len(progress) == steps
    assert progress[-1] == (record["train_loss"], record["train_accuracy"])
    assert record["step_time"] <= record["train_time_seconds"]
    # every step's batch memory came back once its step had ended, and is kept for the next
    # epoch (how many distinct arrays that is depends on when the prefetch thread reused one)
    assert len(handed_back) == steps
    kept = {array.ctypes.data for array in spare._free}
    assert kept == set(handed_back)
    events.clear()
    reused: list[int] = []
    spare.put = lambda array: (reused.append(array.ctypes.data), keep(array))[1]
    _epoch(task, data, Placement(), params, opt_state, 2, False, lambda *_: None, spare)
    assert kept <= set(reused)


def test_gather_reads_the_rows_into_aligned_memory() -> None:
    source = np.arange(7 * 3 * 5, dtype=np.float32).reshape(7, 3, 5)
    index = np.array([6, 0, 3, 3])
    for samples, expected in (
        (source, source[index]),
        (Rows(source, np.array([5, 1, 2, 4, 6, 0, 3])), source[[3, 5, 4, 4]]),
    ):
        got = gather(samples, index)
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == source.dtype
        assert got.flags.c_contiguous
        assert got.ctypes.data % ALIGNMENT == 0
    with pytest.raises(IndexError):
        gather(source, np.array([0, 7]))
    with pytest.raises(IndexError):
        gather(source, np.array([-1]))


def test_gather_reuses_spare_memory_of_its_shape_only() -> None:
    source = np.arange(6 * 4, dtype=np.float32).reshape(6, 4)
    spare = Spare(keep=2)
    first = gather(source, np.array([1, 2]), spare)
    spare.put(first)
    second = gather(source, np.array([5, 0]), spare)
    assert second is first  # the same memory, with the new rows
    np.testing.assert_array_equal(second, source[[5, 0]])
    spare.put(second)
    third = gather(source, np.array([3, 3, 4]), spare)  # another shape: new memory
    assert third is not first
    np.testing.assert_array_equal(third, source[[3, 3, 4]])
    assert third.ctypes.data % ALIGNMENT == 0
    for array in (first, third, first):
        spare.put(array)
    assert len(spare) == 2  # at most `keep`


def test_the_cpu_backend_uses_a_gathered_batch_in_place() -> None:
    import jax

    if jax.default_backend() != "cpu":
        pytest.skip("the in-place transfer is the CPU backend's")
    source = np.ones((9, 100, 70), np.float32)
    for _ in range(4):  # whatever address the allocator gives
        batch = gather(source, np.arange(8))
        assert jax.device_put(batch).unsafe_buffer_pointer() == batch.ctypes.data
