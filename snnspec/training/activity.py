"""Activity of one short batch: every spiking layer's spike count and rate, and which are
silent or saturated, with the usual fixes named on the spec's fields.

``snnspec validate --activity`` and the start of ``snnspec train`` run the same check
(:func:`check_activity`): one batch of the training data (its first batch, as training
draws it) when the spec has a ``train:`` section, else seeded Bernoulli spikes
(:data:`~snnspec.model.run.DEMO_SPIKE_RATE`) of ``time.steps`` steps. A layer without a
single spike (silent) or spiking at more than :data:`SATURATED` of its neuron-steps
(saturated) is a warning located at the layer, which names the threshold, the initial
weights of the layers that feed it and the input: on stderr for ``validate``, in the
progress output (``warning: ...``) for ``train``.

:func:`batch_outputs` is the one-batch forward (any layers' outputs, after the burn-in) the
report is computed from; other per-layer counts of the same batch reuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._errors import InputError
from ..graph.plan import GraphPlan, layer_origin
from ..spec.layers.neurons import AbstractFiringNeuronSpec

if TYPE_CHECKING:
    from ..model.model import StatefulModel
    from ..spec.model import ModelSpec
    from .data import Dataset

SATURATED = 0.9
"""A layer spiking at more than this fraction of its neuron-steps is saturated."""

WEIGHTED = ("linear", "conv1d", "conv2d", "conv3d")
"""Layer types whose initial weights set the input current of the layers they feed."""


class ActivityBatch(NamedTuple):
    """The batch a check runs: ``(B, T, *shape)`` arrays per input, the burn-in, and what
    they are (for the report)."""

    inputs: list[np.ndarray]
    burnin: int
    description: str


class LayerActivity(NamedTuple):
    """One spiking layer over a batch (after the burn-in): spikes in total, spikes per
    neuron per step, and ``silent``, ``saturated`` or ``ok``."""

    index: int
    name: str
    spikes: int
    rate: float
    status: str


class Activity(NamedTuple):
    """What one batch did: the batch, every recorded layer's output ``(B, T - burnin,
    *shape)`` by layer id, and each spiking layer's :class:`LayerActivity`."""

    batch: ActivityBatch
    outputs: dict[int, np.ndarray]
    layers: tuple[LayerActivity, ...]


def activity_batch(spec: ModelSpec, plan: GraphPlan, data: Dataset | None = None) -> ActivityBatch:
    """The batch of the check: training's first batch (epoch 1's order) when the spec has a
    ``train:`` section (``data``: its loaded data set, else loaded here), else seeded demo
    spikes of ``time.steps`` steps, batch size 1."""
    from ..model.run import DEMO_SPIKE_RATE, demo_inputs

    if spec.train is None:
        inputs = demo_inputs(plan, 1, spec.time.steps, spec.seed)
        burnin = spec.time.burnin
        text = f"seeded Bernoulli({DEMO_SPIKE_RATE}) input, 1 sample x {spec.time.steps} steps"
    else:
        from .data import epoch_order, load_data, train_seed

        data = load_data(spec) if data is None else data
        size = min(spec.train.batch_size, len(data.y_train))
        first = epoch_order(len(data.y_train), train_seed(spec), 1)[:size]
        inputs = [data.x_train[first]]
        burnin = spec.time.burnin if spec.train.burnin is None else spec.train.burnin
        text = f"the first training batch, {size} samples x {data.steps} steps"
    steps = inputs[0].shape[1]
    if burnin >= steps:
        raise spec.error(
            ("train", "burnin") if spec.train is not None else ("time", "burnin"),
            f"burn-in ({burnin}) must be smaller than the {steps} steps of the batch",
            InputError,
        )
    return ActivityBatch(inputs, burnin, text)


def batch_outputs(
    model: StatefulModel, batch: ActivityBatch, layer_ids: Sequence[int], key: Any = None
) -> dict[int, np.ndarray]:
    """The outputs ``(B, T - burnin, *shape)`` of ``layer_ids`` on ``batch`` (inference
    mode; ``key``: the run's key, default ``PRNGKey(0)``), as NumPy arrays by layer id."""
    import equinox as eqx
    import jax

    from ..model.model import simulate, to_host

    ids = list(dict.fromkeys(layer_ids))
    recording = eqx.nn.inference_mode(model.with_outputs(ids))
    arrays = [jax.numpy.asarray(x, dtype=model.dtype) for x in batch.inputs]
    key = jax.random.PRNGKey(0) if key is None else key
    results = simulate(recording, arrays, key=key, burnin=batch.burnin)
    as_float = np.float32 if model.dtype == "bfloat16" else None
    return {i: np.asarray(to_host(r), dtype=as_float) for i, r in zip(ids, results, strict=True)}


def measure_activity(
    model: StatefulModel, batch: ActivityBatch, key: Any = None, extra: Sequence[int] = ()
) -> Activity:
    """Run ``batch``; the spike count and rate of every spiking layer (and the outputs of
    those layers and of the ``extra`` layer ids)."""
    plan = model.plan
    spiking = [i for i, layer in enumerate(plan.layers) if layer.spiking]
    outputs = batch_outputs(model, batch, [*spiking, *extra], key)
    layers = []
    for i in spiking:
        values = outputs[i]
        spikes = int(np.count_nonzero(values))
        rate = float(np.mean(values, dtype=np.float64)) if values.size else 0.0
        status = "silent" if spikes == 0 else "saturated" if rate > SATURATED else "ok"
        layers.append(LayerActivity(i, plan.layer_names[i], spikes, rate, status))
    return Activity(batch, outputs, tuple(layers))


def activity_lines(activity: Activity) -> list[str]:
    """The report: a title line, then one line per spiking layer (rate, spikes, status)."""
    lines = [f"activity ({activity.batch.description}; spikes per neuron per step):"]
    if not activity.layers:
        return [*lines, "  no spiking layer"]
    width = max(len(layer.name) for layer in activity.layers)
    for layer in activity.layers:
        status = "" if layer.status == "ok" else f"  {layer.status}"
        lines.append(
            f"  {layer.name:<{width}}  {layer.rate:.4f}  {layer.spikes:>10,} spikes{status}"
        )
    return lines


def activity_warnings(spec: ModelSpec, plan: GraphPlan, activity: Activity) -> list[str]:
    """One located line (``FILE:LINE:COL: path: message``) per silent or saturated layer,
    naming the fixes: its ``threshold``, the initial weights of the weighted layers that
    feed it (their ``weight_init`` gain when the spec has that field), the input's scale."""
    lines = []
    for layer in activity.layers:
        if layer.status == "ok":
            continue
        silent = layer.status == "silent"
        what = (
            "is silent: not one spike"
            if silent
            else f"is saturated: it spikes at {layer.rate:.0%} of its neuron-steps (more than "
            f"{SATURATED:.0%})"
        )
        fixes = []
        spec_layer = plan.layers[layer.index]
        if isinstance(spec_layer, AbstractFiringNeuronSpec):
            threshold = spec_layer.threshold
            fixes.append(f"{'lower' if silent else 'raise'} its `threshold` (now {threshold:g})")
        feeding = _feeding_weights(plan, layer.index)
        if feeding:
            names = ", ".join(f"'{plan.layer_names[i]}'" for i in feeding)
            gain = all("weight_init" in type(plan.layers[i]).model_fields for i in feeding)
            how = "the `gain` of `weight_init`" if gain else "the initial weights"
            fixes.append(f"{'raise' if silent else 'lower'} {how} of {names}")
        fixes.append(f"scale the input {'up' if silent else 'down'}")
        message = (
            f"layer '{layer.name}' ({spec_layer.type}) {what} on "
            f"{activity.batch.description}; {_either(fixes)}"
        )
        lines.append(spec.error(layer_origin(spec, layer.index), message).located())
    return lines


def check_activity(
    spec: ModelSpec,
    model: StatefulModel,
    batch: ActivityBatch,
    echo: Callable[[str], object],
    warn: Callable[[str], object],
    key: Any = None,
) -> Activity:
    """Measure ``batch`` (``key``: default ``PRNGKey(spec.seed)``, as ``snnspec run``),
    ``echo`` the report and ``warn`` one located line per silent or saturated layer; the
    :class:`Activity`."""
    import jax

    from ..model.cost import cost_lines, synops_of, with_synops

    key = jax.random.PRNGKey(spec.seed) if key is None else key
    probed, probes = with_synops(model)
    activity = measure_activity(probed, batch, key, extra=tuple(probes.values()))
    for line in activity_lines(activity):
        echo(line)
    synops = synops_of(model.plan, probes, activity.outputs)
    for line in cost_lines(model.plan, synops, "synops", "  "):
        echo(line)
    for line in activity_warnings(spec, model.plan, activity):
        warn(line)
    return activity


def _feeding_weights(plan: GraphPlan, index: int) -> list[int]:
    """The weighted layers whose output reaches layer ``index`` through layers without
    weights or spikes (elementwise, reshapes, pooling), nearest first."""
    found: list[int] = []
    seen: set[int] = set()
    todo = [s.index for s in plan.sources[index] if s.kind == "layer"]
    while todo:
        i = todo.pop(0)
        if i in seen:
            continue
        seen.add(i)
        if plan.layer_types[i] in WEIGHTED:
            found.append(i)
        elif not plan.layers[i].spiking:
            todo += [s.index for s in plan.sources[i] if s.kind == "layer"]
    return found


def _either(fixes: list[str]) -> str:
    return fixes[0] if len(fixes) == 1 else f"{', '.join(fixes[:-1])}, or {fixes[-1]}"
