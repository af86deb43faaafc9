"""Printing the cost report: dense MACs (``validate``) and SynOps (``run``) per step."""

from __future__ import annotations

from collections.abc import Mapping

from ..graph.plan import GraphPlan
from ..model.cost import ENERGY_PJ, ENERGY_SOURCE, CostKind, energy_pj, uncounted_layers

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
