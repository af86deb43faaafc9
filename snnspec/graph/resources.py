"""Memory estimates from shapes alone, checked against a budget before anything is allocated.

A spec can describe a model far larger than the machine (a ``linear`` of 10^6 x 10^6, a run
of 10^9 steps). Every command estimates what it is about to allocate from the spec's shapes
(no JAX, no arrays) and refuses, in one line, anything over the budget: by default half of the
machine's memory (the smaller of the physical RAM and a cgroup limit), or a given ``max_memory``.

The estimates, in bytes, with ``d`` the bytes of the spec's dtype:

- parameters: ``d`` x the number of parameters;
- a run of batch ``B`` and ``T`` steps: :data:`SAFETY_FACTOR` x (parameters + the inputs,
  ``B x T x`` input features x (13 bytes on the host: the demo input's float64 draws, boolean
  mask and float32 spikes, + ``d`` on the device) + the recorded outputs, ``B x T x`` the
  features of the final and spiking layers ``x 2d`` (device and host copies) + the scan's
  carry, ``2 x B x`` every layer's state and output ``x d``);
- ``build``: :data:`SAFETY_FACTOR` x parameters (the device arrays and the host copy written
  to the file).

The safety factor covers XLA's temporaries (intermediate activations inside a step, buffers
it does not donate); an estimate is an upper bound in spirit, not a measurement.

This module imports no JAX.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._errors import Hint, InputError, SpecError

if TYPE_CHECKING:
    from ..spec.model import ModelSpec
    from .plan import GraphPlan

SAFETY_FACTOR = 2
"""Multiplies every run and build estimate, for XLA's temporaries."""
FALLBACK_MEMORY = 8 << 30
"""Assumed machine memory when neither /proc/meminfo nor sysconf tell it (budget: half)."""
HOST_INPUT_BYTES = 13
"""Host bytes per input value: float64 draws + boolean mask + float32 spikes (demo input)."""

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "m": 1 << 20,
    "g": 1 << 30,
    "t": 1 << 40,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*")
_UNLIMITED = frozenset({"unlimited", "none"})


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes needed by the parameters and by a run of ``batch`` x ``steps``."""

    parameters: int
    run: int
    batch: int
    steps: int

    def summary(self, budget: int | None) -> str:
        """One line for ``validate``: the estimates and the budget they are checked against."""
        if budget is None:
            limit = "no limit"
        elif self.run > budget:
            limit = f"over the budget of {format_bytes(budget)}: `run` refuses it at this size"
        else:
            limit = f"budget {format_bytes(budget)}"
        return (
            f"memory: parameters {format_bytes(self.parameters)}; a run of batch {self.batch} "
            f"x {self.steps:,} steps about {format_bytes(self.run)} ({limit})"
        )


def format_bytes(count: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            return f"{value:,.1f} {unit}"
    return f"{count} B"  # pragma: no cover


def parse_size(text: str) -> int | None:
    """``2GiB``, ``500MB``, ``1.5G`` or ``1000000`` (bytes) -> bytes; ``unlimited`` -> None.

    KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB and the bare K, M, G, T are
    powers of 1024.
    """
    if text.strip().lower() in _UNLIMITED:
        return None
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS or len(match.group(1)) > 20:
        raise InputError(
            f"`max_memory={text[:40]!r}`: expected a size such as 2GiB, 500MB or 1000000 "
            "(bytes), or 'unlimited'",
            hint=Hint(options=("max_memory",)),
        )
    return int(float(match.group(1)) * _UNITS[unit])


def machine_memory() -> int | None:
    """Physical memory, lowered to the cgroup limit when one is set; None when unknown."""
    sizes = [size for size in (_meminfo() or _sysconf(), _cgroup_limit()) if size]
    return min(sizes) if sizes else None


def default_budget() -> int:
    """Half of :func:`machine_memory`, or half of :data:`FALLBACK_MEMORY` when unknown."""
    return (machine_memory() or FALLBACK_MEMORY) // 2


def budget(max_memory: str | None) -> int | None:
    """The budget of a command: ``max_memory`` if given (None = unlimited), else default."""
    return default_budget() if max_memory is None else parse_size(max_memory)


def estimate(
    spec: ModelSpec,
    plan: GraphPlan,
    batch: int = 1,
    steps: int | None = None,
    backprop: bool = False,
) -> MemoryEstimate:
    """Parameter and run memory of ``spec`` from shapes alone (see the module docstring).

    ``backprop`` (training) adds every step's carried state, which BPTT keeps for the
    backward pass, and the gradients and two optimiser moments of the parameters.
    """
    itemsize = _itemsize(spec.dtype)
    steps = spec.time.steps if steps is None else steps
    parameters = itemsize * sum(plan.parameter_counts)
    input_values = sum(math.prod(shape) for shape in plan.input_shapes)
    recorded = {*plan.final_layer_ids, *(i for i, layer in enumerate(plan.layers) if layer.spiking)}
    recorded_values = sum(math.prod(plan.layer_output_shapes[i]) for i in recorded)
    carry_values = sum(
        math.prod(plan.layer_output_shapes[i])
        + sum(math.prod(s) for s in layer.state_shapes(plan.layer_input_shapes[i]).values())
        for i, layer in enumerate(plan.layers)
    )
    run = SAFETY_FACTOR * (
        parameters
        + batch * steps * input_values * (HOST_INPUT_BYTES + itemsize)
        + batch * steps * recorded_values * 2 * itemsize
        + 2 * batch * carry_values * itemsize
        + backprop * (batch * steps * carry_values * itemsize + 3 * parameters)
    )
    return MemoryEstimate(parameters=parameters, run=run, batch=batch, steps=steps)


def check_parameters(
    spec: ModelSpec, plan: GraphPlan, limit: int | None, factor: int = 1
) -> MemoryEstimate:
    """The estimate of ``spec``; a SpecError when ``factor`` x its parameters exceed ``limit``.

    ``validate`` uses factor 1 (the parameters alone cannot fit), ``build`` the safety factor.
    """
    result = estimate(spec, plan)
    if limit is not None and factor * result.parameters > limit:
        raise _parameters_error(spec, plan, factor * result.parameters, limit)
    return result


def check_run(
    spec: ModelSpec,
    plan: GraphPlan,
    limit: int | None,
    batch: int,
    steps: int | None,
    from_spec: bool = False,
    backprop: bool = False,
) -> MemoryEstimate:
    """The estimate of a run; a SpecError (before anything is allocated) when over ``limit``."""
    check_parameters(spec, plan, limit)
    result = estimate(spec, plan, batch, steps, backprop)
    if limit is not None and result.run > limit:
        message = (
            f"a run of batch {batch:,} x {result.steps:,} steps needs about "
            f"{format_bytes(result.run)}, over the memory budget of {format_bytes(limit)}"
            f"{_budget_origin(limit)}; use fewer `steps` or a smaller `batch`"
        )
        hint = Hint(options=("steps", "batch"), advice="or_max_memory")
        document = spec.document
        if from_spec and document is not None and ("time", "steps") in document.positions:
            raise spec.error(("time", "steps"), message, InputError).with_hint(hint)
        source = document.source if document is not None else None
        raise InputError(message, file=source, hint=hint)
    return result


def build_check(spec: ModelSpec, plan: GraphPlan, limit: int | None) -> MemoryEstimate:
    """``build``'s check: the parameters, on the device and copied to the host."""
    return check_parameters(spec, plan, limit, factor=SAFETY_FACTOR)


def _parameters_error(spec: ModelSpec, plan: GraphPlan, need: int, limit: int) -> SpecError:
    counts = plan.parameter_counts
    biggest = max(range(len(counts)), key=counts.__getitem__)
    name = plan.layer_names[biggest]
    message = (
        f"the parameters need {format_bytes(need)} ({sum(counts):,} {spec.dtype} values; "
        f"the largest layer, '{name}', has {counts[biggest]:,}), over the memory budget of "
        f"{format_bytes(limit)}{_budget_origin(limit)}; make the layers smaller"
    )
    names = spec.layer_names()
    path = ("layers", names.index(name)) if name in names else ()
    return spec.error(path, message).with_hint(Hint(advice="or_max_memory"))


def _budget_origin(limit: int) -> str:
    return " (half of this machine's memory)" if limit == default_budget() else ""


def _itemsize(dtype: str) -> int:
    from .plan import DTYPE_BYTES

    return DTYPE_BYTES[dtype]


def _meminfo() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _sysconf() -> int | None:
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None


def _cgroup_limit() -> int | None:
    """The memory limit of this process's cgroup (v2 ``memory.max`` or v1), if any."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as handle:
                text = handle.read(64).strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < 1 << 60:  # v1 writes a huge number for no limit
            return int(text)
    return None
