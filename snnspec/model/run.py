"""Running a compiled model once, as ``snnspec run`` does: its inputs and a timed run.

The inputs are an npz of one ``(B, T, *shape)`` array per input name (checked against the
model), or seeded demo spikes. :func:`timed_run` compiles ahead of time, runs once and returns
the final layers' outputs, the spike rate of every spiking layer, the SynOps of every weighted
layer (:mod:`.cost`) and both times.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._errors import InputError
from ..graph.plan import GraphPlan

if TYPE_CHECKING:
    import jax

    from .model import StatefulModel

DEMO_SPIKE_RATE = 0.1
"""The spike probability per input element and step of the demo input."""


class TimedRun(NamedTuple):
    """What :func:`timed_run` measured: outputs of the final layers (NumPy, in index order),
    spike rates by spiking layer name, the compile and run times in seconds, the outputs of
    the layers asked to be recorded, by layer id, and the SynOps per sample per step by
    weighted layer name."""

    outputs: list[np.ndarray]
    rates: dict[str, float]
    compile_seconds: float
    run_seconds: float
    recorded: dict[int, np.ndarray]
    synops: dict[str, float]


def draws_random_numbers(plan: GraphPlan) -> bool:
    """True when a run of the model uses its key: a layer starts from a random state."""
    return any(
        getattr(getattr(layer, "init", None), "type", "zeros") != "zeros" for layer in plan.layers
    )


def demo_inputs(plan: GraphPlan, batch: int, steps: int, seed: int) -> list[np.ndarray]:
    """Seeded Bernoulli spikes (rate :data:`DEMO_SPIKE_RATE`), ``(batch, steps, *shape)``."""
    generator = np.random.default_rng(seed)
    return [
        (generator.random((batch, steps, *shape)) < DEMO_SPIKE_RATE).astype(np.float32)
        for shape in plan.input_shapes
    ]


def read_inputs(
    path: str | os.PathLike[str],
    plan: GraphPlan,
    spec_steps: int,
    warn: Callable[[str], object],
) -> list[np.ndarray]:
    """Input arrays from an npz (one (B, T, *shape) array per input name), checked.

    An array whose axis 0 is the spec's ``time.steps`` and axis 1 is not looks time-major
    (T, B, ...): ``warn`` gets a line saying so when it still fits, the error says so when it
    does not.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as error:
        raise InputError(f"cannot read input npz: {error}", file=str(path)) from None
    unknown = sorted(set(arrays) - set(plan.input_names))
    if unknown:
        raise InputError(
            f"unknown input '{unknown[0]}'; the spec's inputs are {', '.join(plan.input_names)}",
            file=str(path),
        )
    result = []
    for name, shape in zip(plan.input_names, plan.input_shapes, strict=True):
        dims = ", ".join(map(str, shape))
        if name not in arrays:
            raise InputError(f"missing array '{name}' of shape (B, T, {dims})", file=str(path))
        array = arrays[name]
        swapped = array.ndim >= 2 and array.shape[0] == spec_steps != array.shape[1]
        hint = (
            f"; axis 0 equals the spec's time.steps ({spec_steps}): if the array is time-major "
            "(T, B, ...), write it as (B, T, ...) with np.swapaxes(array, 0, 1)"
            if swapped
            else ""
        )
        if array.ndim != len(shape) + 2 or tuple(array.shape[2:]) != shape or 0 in array.shape[:2]:
            raise InputError(
                f"array shape {list(array.shape)} does not fit (B, T, {dims}){hint}",
                file=str(path),
                path=(name,),
            )
        if swapped:
            warn(
                f"{path}: {name}: warning: shape {list(array.shape)} runs as batch "
                f"{array.shape[0]} of {array.shape[1]} steps (inputs are (B, T, {dims})){hint}"
            )
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise InputError(f"dtype {array.dtype} is not numeric", file=str(path), path=(name,))
        result.append(array)
    if len({a.shape[:2] for a in result}) > 1:
        raise InputError(
            "all input arrays need the same batch size and number of steps", file=str(path)
        )
    return result


def timed_run(
    model: StatefulModel,
    inputs: Sequence[np.ndarray],
    key: Any,
    burnin: int,
    mesh: jax.sharding.Mesh | None = None,
    record: Sequence[int] = (),
) -> TimedRun:
    """Compile ahead of time, run once; outputs of the final layers (and of the ``record``
    layer ids), spike rates and SynOps.

    With a ``mesh`` the batch is sharded over it and the parameters and key replicated.
    """
    import equinox as eqx
    import jax

    from .cost import synops_of, with_synops
    from .model import place, simulate_batch, to_host

    plan = model.plan
    spiking = [i for i, layer in enumerate(plan.layers) if layer.spiking]
    probed, probes = with_synops(model)
    recorded = list(dict.fromkeys([*plan.final_layer_ids, *spiking, *record, *probes.values()]))
    recording = eqx.nn.inference_mode(probed.with_outputs(recorded))
    params, static = eqx.partition(recording, eqx.is_array)

    def forward(params: Any, inputs: Any, key: Any) -> Any:
        return simulate_batch(eqx.combine(params, static), inputs, key, burnin)

    arrays = tuple(jax.numpy.asarray(x, dtype=model.dtype) for x in inputs)
    if mesh is not None:
        arrays = place(arrays, mesh, batch=True)
        params, key = place((params, key), mesh, batch=False)
    start = time.perf_counter()
    compiled = jax.jit(forward).lower(params, arrays, key).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    results = jax.block_until_ready(compiled(params, arrays, key))
    run_seconds = max(time.perf_counter() - start, 1e-9)
    by_layer = dict(zip(recorded, map(to_host, results), strict=True))
    as_float = np.float32 if model.dtype == "bfloat16" else None
    outputs = [np.asarray(by_layer[i], dtype=as_float) for i in plan.final_layer_ids]
    rates = {
        plan.layer_names[i]: float(np.mean(np.asarray(by_layer[i], np.float32))) for i in spiking
    }
    kept = {i: np.asarray(by_layer[i], dtype=as_float) for i in record}
    synops = synops_of(plan, probes, by_layer)
    return TimedRun(outputs, rates, compile_seconds, run_seconds, kept, synops)
