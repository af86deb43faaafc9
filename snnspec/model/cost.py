"""What a model costs per time step: dense MACs from shapes, SynOps from activity, energy.

The weighted layers are the ``linear`` and ``conv1d/2d/3d`` layers of the graph plan. The
**fan-out** of an element of a weighted layer's input is the number of outputs it reaches:
``out_features`` for a ``linear``; for a convolution, the output positions whose receptive field
holds the element (borders, stride, padding, dilation counted exactly) times the output
channels of its group (``out_channels / groups``).

- **Dense MACs** per step (:func:`dense_macs`, shapes only): the sum of the fan-outs over every
  input element, i.e. one multiply-accumulate per weight and real input value
  (``in_features x out_features`` for a ``linear``); the products with a convolution's zero
  padding are not counted. It is the SynOps count of an input of all ones.
- **SynOps** per sample per step (:func:`with_synops`, :func:`measure_synops`): the sum over a
  weighted layer's input at each step of ``x * fan-out`` (for spikes: each spike's fan-out),
  external inputs included, attributed to that layer; averaged over samples and the steps
  after burn-in. This is sinabs' definition (``sinabs.hooks``' ``linear_layer_synops_hook`` and
  ``conv_layer_synops_hook``, whose connection map is the fan-out above); being a linear
  function of the input it is differentiable wherever the input is.
- **Energy** (:func:`energy_pj`): SynOps x one 32-bit float addition, dense MACs x one 32-bit
  float multiplication plus addition, at the costs of :data:`ENERGY_SOURCE`.

SynOps are measured by the model's own forward pass: :func:`with_synops` appends to the plan
one :class:`~snnspec.nn.probes.SynOpsProbe` per weighted layer, reading the same sources with
the same timing and ``combine``, so delayed edges, burn-in and every schedule count exactly
as the layer sees them. This module imports JAX only inside the functions that run a model
(``snnspec validate`` reports the dense MACs without it).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..graph.plan import GraphPlan, GraphStructure
from ..spec.layers.base import LayerSpec, Shape
from ..spec.layers.conv import AbstractConvSpec, per_axis
from ..spec.layers.dense import LinearSpec
from ..spec.layers.elementwise import IdentitySpec
from ..spec.layers.sequential import SequentialSpec

if TYPE_CHECKING:
    import numpy as np

    from .model import StatefulModel

ENERGY_PJ = {"add": 0.9, "mult": 3.7}
"""Energy of one 32-bit floating-point addition and multiplication, in picojoules."""
ENERGY_SOURCE = "Horowitz, ISSCC 2014, 45 nm, 0.9 V; arithmetic only, no memory access"
"""Where :data:`ENERGY_PJ` comes from, printed beside every energy estimate."""
CostKind = Literal["macs", "synops"]
"""What a cost counts: dense multiply-accumulates or synaptic operations."""
PROBE_SUFFIX = ":synops"
"""Name of the probe of layer ``x``: ``x:synops`` (a name no spec can give a layer)."""


@dataclass(frozen=True)
class Fanout:
    """Fan-out of the input elements of a weighted layer.

    Element ``(c, p_1, ..., p_n)`` reaches ``channel * axes[0][p_1] * ... * axes[n-1][p_n]``
    outputs (the same for every channel ``c``); ``axes`` is empty for a ``linear``.
    """

    channel: int
    axes: tuple[tuple[int, ...], ...]

    def total(self, channels: int) -> int:
        """The sum of the fan-outs over an input of ``channels`` channels: the dense MACs."""
        return channels * self.channel * math.prod(sum(counts) for counts in self.axes)


def weighted_layers(plan: GraphPlan) -> tuple[int, ...]:
    """Ids of the weighted layers of ``plan``, in index order."""
    return tuple(i for i, layer in enumerate(plan.layers) if layer.weighted)


def uncounted_layers(plan: GraphPlan) -> tuple[str, ...]:
    """Names of ``sequential`` blocks holding a weighted member: the graph does not see their
    members' inputs step by step, so their cost is not counted (the reports say so)."""
    return tuple(
        plan.layer_names[i]
        for i, layer in enumerate(plan.layers)
        if isinstance(layer, SequentialSpec) and _holds_weights(layer)
    )


def fanout(layer: LayerSpec, input_shape: Shape) -> Fanout:
    """The fan-out of every input element of the weighted ``layer`` (see :class:`Fanout`)."""
    if isinstance(layer, LinearSpec):
        return Fanout(layer.out_features, ())
    if not isinstance(layer, AbstractConvSpec):
        raise TypeError(f"{layer.type} is not a weighted layer")
    n = layer.num_spatial_dims
    spatial = input_shape[1:]
    kernel = per_axis(layer.kernel_size, n)
    stride = per_axis(layer.stride, n)
    dilation = per_axis(layer.dilation, n)
    if layer.padding == "SAME":  # lax.padtype_to_pads: the odd one goes to the end
        spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
        outs = [-(-size // s) for size, s in zip(spatial, stride, strict=True)]
        low = [
            max((o - 1) * s + span - size, 0) // 2
            for o, s, span, size in zip(outs, stride, spans, spatial, strict=True)
        ]
    else:
        low = list(per_axis(0 if layer.padding == "VALID" else layer.padding, n))
        outs = [
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, p, d, k, s in zip(spatial, low, dilation, kernel, stride, strict=True)
        ]
    axes = tuple(
        _axis_fanout(*args)
        for args in zip(spatial, kernel, stride, low, dilation, outs, strict=True)
    )
    return Fanout(layer.out_channels // layer.groups, axes)


def dense_macs(plan: GraphPlan) -> dict[str, int]:
    """Multiply-accumulates per sample per step of every weighted layer, by name."""
    return {
        plan.layer_names[i]: fanout(plan.layers[i], plan.layer_input_shapes[i]).total(
            plan.layer_input_shapes[i][0]
        )
        for i in weighted_layers(plan)
    }


def energy_pj(operations: float | int, kind: CostKind) -> float:
    """Picojoules of ``operations`` SynOps (``kind="synops"``: one addition each) or dense
    MACs (``kind="macs"``: a multiplication and an addition each), from :data:`ENERGY_PJ`."""
    per_op = {"synops": ENERGY_PJ["add"], "macs": ENERGY_PJ["add"] + ENERGY_PJ["mult"]}[kind]
    return operations * per_op


def with_synops(model: StatefulModel) -> tuple[StatefulModel, dict[int, int]]:
    """``model`` with one SynOps probe per weighted layer appended after its layers.

    Returns the probed model (it still returns the original final layers; the original layers
    keep their ids) and ``{weighted layer id: probe id}``. Record a probe with
    ``with_outputs``: its output, shape ``(T - burnin,)`` per sample, is the layer's SynOps
    at every step. The probes hold no arrays: parameters, checkpoints and params files are
    those of ``model``.
    """
    from ..nn.probes import SynOpsProbe

    plan = model.plan
    weighted = weighted_layers(plan)
    n = len(plan.layers)
    probes = {i: n + k for k, i in enumerate(weighted)}
    specs, modules = [], []
    for i in weighted:
        layer, in_shape = plan.layers[i], plan.layer_input_shapes[i]
        fan = fanout(layer, in_shape)
        name = plan.layer_names[i] + PROBE_SUFFIX
        specs.append(IdentitySpec.model_construct(name=name, combine=layer.combine))
        modules.append(SynOpsProbe(fan.channel, fan.axes))
    structure = plan.structure
    sources = plan.sources + tuple(plan.sources[i] for i in weighted)
    probed = dataclasses.replace(
        plan,
        structure=GraphStructure(
            num_layers=n + len(weighted),
            input_layer_ids=structure.input_layer_ids
            + tuple(structure.input_layer_ids[i] for i in weighted),
            input_connectivity=structure.input_connectivity
            + tuple(structure.input_connectivity[i] for i in weighted),
            final_layer_ids=structure.final_layer_ids,
        ),
        layers=plan.layers + tuple(specs),
        sources=sources,
        layer_input_shapes=plan.layer_input_shapes
        + tuple(plan.layer_input_shapes[i] for i in weighted),
        layer_output_shapes=plan.layer_output_shapes + ((),) * len(weighted),
    )
    return dataclasses.replace(model, layers=model.layers + tuple(modules), plan=probed), probes


def synops_of(
    plan: GraphPlan, probes: Mapping[int, int], outputs: Mapping[int, Any]
) -> dict[str, float]:
    """SynOps per sample per step of every weighted layer, by name, from the recorded
    ``outputs`` (by layer id, ``(B, T, ...)``) of one forward pass of a probed model
    (:func:`with_synops`): the mean of each probe's output over samples and steps."""
    import numpy as np

    return {
        plan.layer_names[i]: float(np.mean(np.asarray(outputs[probe], np.float64)))
        for i, probe in probes.items()
    }


def measure_synops(
    model: StatefulModel,
    inputs: Sequence[np.ndarray],
    key: Any,
    burnin: int = 0,
) -> dict[str, float]:
    """Run ``model`` once on ``inputs`` (one ``(B, T, *shape)`` array per input) and return
    the SynOps per sample per step of every weighted layer, by name (see the module
    docstring); ``key`` and ``burnin`` as in :func:`snnspec.simulate`."""
    import equinox as eqx

    from .model import simulate

    probed, probes = with_synops(model)
    if not probes:
        return {}
    recording = eqx.nn.inference_mode(probed.with_outputs(tuple(probes.values())))
    outputs = simulate(recording, list(inputs), key=key, burnin=burnin)
    return synops_of(model.plan, probes, dict(zip(probes.values(), outputs, strict=True)))


def _axis_fanout(
    size: int, kernel: int, stride: int, low: int, dilation: int, outputs: int
) -> tuple[int, ...]:
    """How many of the ``outputs`` positions along one axis read each of its ``size`` inputs.

    Output o reads input ``o * stride + j * dilation - low`` with tap j (one tap per output at
    most, so counting (output, tap) pairs counts outputs); reads of the padding are dropped.
    The outputs whose tap j lands inside the input form a range, so tap j adds 1 to every
    ``stride``-th input of a range: a difference array summed along each residue class mod
    ``stride``, O(kernel + size) however large the axis.
    """
    diff = [0] * (size + stride)
    for j in range(kernel):
        offset = j * dilation - low  # input read by output 0 with tap j
        first = max(0, -(offset // stride))  # ceil(-offset / stride)
        last = min(outputs - 1, (size - 1 - offset) // stride)
        if first <= last:
            diff[first * stride + offset] += 1
            diff[last * stride + offset + stride] -= 1
    for p in range(stride, size):
        diff[p] += diff[p - stride]
    return tuple(diff[:size])


def _holds_weights(layer: SequentialSpec) -> bool:
    return any(
        member.weighted or (isinstance(member, SequentialSpec) and _holds_weights(member))
        for member in layer.layers
    )


# --- the report ------------------------------------------------------------------------------

_KINDS = {
    "macs": (
        "dense MACs",
        f"a MAC = 32-bit float mult {ENERGY_PJ['mult']} pJ + add {ENERGY_PJ['add']} pJ",
    ),
    "synops": ("SynOps", f"a SynOp = 32-bit float add {ENERGY_PJ['add']} pJ"),
}


def cost_lines(
    plan: GraphPlan, counts: Mapping[str, float] | Mapping[str, int], kind: CostKind, indent: str
) -> list[str]:
    """The cost table of ``counts`` (``kind`` ``macs`` or ``synops``, per sample per step, by
    weighted layer) with a total and the energy estimate beside each; [] without weights."""
    label, unit = _KINDS[kind]
    skipped = uncounted_layers(plan)
    note = (
        [f"{indent}  not counted: weighted layers inside sequential {', '.join(skipped)}"]
        if skipped
        else []
    )
    if not counts:
        return note
    rows = [(name, value) for name, value in counts.items()]
    rows.append(("total", sum(counts.values())))
    exact = kind == "macs"
    cells = [(name, f"{value:,.0f}" if exact else f"{value:,.2f}") for name, value in rows]
    energies = [_energy(energy_pj(value, kind)) for _, value in rows]
    widths = [max(len(c[k]) for c in [("layer", label), *cells]) for k in range(2)]
    energy_width = max(len(e) for e in ["energy", *energies])
    lines = [f"{indent}{label} per sample per step:"]
    lines.append(
        f"{indent}  {'layer':<{widths[0]}}  {label:>{widths[1]}}  {'energy':>{energy_width}}"
    )
    for (name, value), energy in zip(cells, energies, strict=True):
        lines.append(
            f"{indent}  {name:<{widths[0]}}  {value:>{widths[1]}}  {energy:>{energy_width}}"
        )
    lines.append(f"{indent}  energy: {unit} ({ENERGY_SOURCE})")
    return lines + note


def _energy(picojoules: float) -> str:
    for unit, scale in (("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if picojoules >= scale:
            return f"{picojoules / scale:.2f} {unit}"
    return f"{picojoules:.2f} pJ"
