"""The model page (``snnspec view``): one self-contained HTML file describing a spec, a build
folder or a finished training run.

No server, no network and no script: the graph is inline SVG drawn here (so every layer name
is text in the page), the layer table is HTML, and a run folder adds its training curves and a
spike raster of its first test sample, drawn by matplotlib as inline SVG. The same target
gives the same bytes.

The graph is laid out in columns: a layer's column is one more than the deepest source it
reads in the same step (external inputs are column 0), so every same-step edge runs left to
right; delayed edges (read at ``t - 1``) are dashed arcs below the boxes.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..bundle import MANIFEST, METRICS
from ..bundle.folders import TRAIN, made_by
from ..graph.plan import layer_reports, plan_graph
from ..model.cost import dense_macs, uncounted_layers
from ..spec.loader import load_json_file

if TYPE_CHECKING:
    from ..graph.plan import GraphPlan
    from ..spec.model import ModelSpec

BOX_HEIGHT = 44.0
COLUMN_GAP = 70.0
ROW_GAP = 36.0
MARGIN = 20.0
CHAR_WIDTH = 7.2
"""Width of one character of the boxes' 12 px monospace text, for sizing the boxes."""
LOOP_STEP = 14.0
"""Vertical spacing of the delayed edges' arcs below the boxes."""


def model_page(target: Path, spec: ModelSpec) -> str:
    """The page of ``target``, a spec file, a ``snnspec build`` folder or a finished
    ``snnspec train`` folder, whose spec ``spec`` is (read by
    :func:`snnspec.bundle.build.load_target`, which checks a folder's hashes)."""
    plan = plan_graph(spec)
    run = target.is_dir() and made_by(target) == TRAIN
    kind = "training run" if run else "build folder" if target.is_dir() else "spec file"
    run_sections, synops = _run_sections(target, spec) if run else ([], None)
    sections = [
        _header(spec, target, kind, plan.timing),
        "<h2>Graph</h2>",
        graph_svg(plan),
        _legend(),
        "<h2>Layers</h2>",
        _layer_table(spec, plan, synops),
        *run_sections,
    ]
    title = html.escape(spec.name)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{title} · snnspec</title>'
        f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


# --- the graph ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    key: str
    lines: tuple[str, str]
    column: int
    row: int
    final: bool = False
    external: bool = False


def graph_svg(plan: GraphPlan) -> str:
    """The graph as an inline ``<svg>``: a box per external input and layer (name, type and
    output shape), same-step edges as solid arrows, delayed edges as dashed arcs."""
    nodes = _nodes(plan)
    width = max(150.0, CHAR_WIDTH * max(len(line) for n in nodes.values() for line in n.lines) + 16)
    columns = 1 + max(n.column for n in nodes.values())
    rows = 1 + max(n.row for n in nodes.values())

    def corner(node: _Node) -> tuple[float, float]:
        return (
            MARGIN + node.column * (width + COLUMN_GAP),
            MARGIN + node.row * (BOX_HEIGHT + ROW_GAP),
        )

    same_step, delayed = [], []
    for i, sources in enumerate(plan.sources):
        for source in sources:
            start = nodes[f"in{source.index}" if source.kind == "input" else f"l{source.index}"]
            (delayed if source.delayed else same_step).append((start, nodes[f"l{i}"]))
    bottom = MARGIN + rows * (BOX_HEIGHT + ROW_GAP) - ROW_GAP
    canvas_width = MARGIN * 2 + columns * (width + COLUMN_GAP) - COLUMN_GAP
    canvas_height = bottom + MARGIN + LOOP_STEP * (len(delayed) + 2)
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{canvas_width:.0f}" '
        f'height="{canvas_height:.0f}" viewBox="0 0 {canvas_width:.0f} {canvas_height:.0f}" '
        'role="img" aria-label="model graph">',
        "<defs>"
        + "".join(
            f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{colour}"/></marker>'
            for name, colour in (("arrow", "#333"), ("arrow-delayed", "#b03a2e"))
        )
        + "</defs>",
    ]
    for start, end in same_step:
        (x1, y1), (x2, y2) = corner(start), corner(end)
        x1, y1, y2 = x1 + width, y1 + BOX_HEIGHT / 2, y2 + BOX_HEIGHT / 2
        middle = (x1 + x2) / 2
        parts.append(
            f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{middle:.1f},{y1:.1f} {middle:.1f},'
            f'{y2:.1f} {x2:.1f},{y2:.1f}" marker-end="url(#arrow)">'
            f"<title>{_escape(start.lines[0])} → {_escape(end.lines[0])}: same step</title></path>"
        )
    for k, (start, end) in enumerate(delayed):
        (x1, y1), (x2, y2) = corner(start), corner(end)
        depth = bottom + LOOP_STEP * (k + 1)
        x1, x2 = x1 + width * 0.6, x2 + width * 0.4
        parts.append(
            f'<path class="edge delayed" d="M{x1:.1f},{y1 + BOX_HEIGHT:.1f} C{x1:.1f},{depth:.1f} '
            f'{x2:.1f},{depth:.1f} {x2:.1f},{y2 + BOX_HEIGHT:.1f}" '
            f'marker-end="url(#arrow-delayed)"><title>{_escape(start.lines[0])} → '
            f"{_escape(end.lines[0])}: delayed (t-1)</title></path>"
        )
    for node in nodes.values():
        x, y = corner(node)
        kind = "input" if node.external else "final" if node.final else "layer"
        parts.append(
            f'<g class="node {kind}" data-name="{_escape(node.lines[0])}">'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{BOX_HEIGHT}" '
            f'rx="{14 if node.external else 4}"/>'
            f'<text x="{x + 8:.1f}" y="{y + 18:.1f}" class="name">{_escape(node.lines[0])}</text>'
            f'<text x="{x + 8:.1f}" y="{y + 35:.1f}">{_escape(node.lines[1])}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _nodes(plan: GraphPlan) -> dict[str, _Node]:
    """Every input and layer with its column (same-step depth) and row within the column."""
    columns: dict[str, int] = {f"in{k}": 0 for k in range(len(plan.input_names))}
    for i, sources in enumerate(plan.sources):
        reads = [
            columns[f"in{s.index}" if s.kind == "input" else f"l{s.index}"]
            for s in sources
            if not s.delayed
        ]
        columns[f"l{i}"] = 1 + max(reads, default=0)
    taken: dict[int, int] = {}

    def row(column: int) -> int:
        taken[column] = taken.get(column, -1) + 1
        return taken[column]

    nodes = {}
    for k, (name, shape) in enumerate(zip(plan.input_names, plan.input_shapes, strict=True)):
        key = f"in{k}"
        nodes[key] = _Node(key, (name, f"input {_shape(shape)}"), 0, row(0), external=True)
    finals = set(plan.final_layer_ids)
    for i, name in enumerate(plan.layer_names):
        key = f"l{i}"
        lines = (name, f"{plan.layer_types[i]} {_shape(plan.layer_output_shapes[i])}")
        nodes[key] = _Node(key, lines, columns[key], row(columns[key]), final=i in finals)
    return nodes


def _legend() -> str:
    return (
        '<p class="legend"><span class="solid">──▶</span> same step &nbsp; '
        '<span class="dashed">- -▶</span> delayed (read at t-1) &nbsp; '
        "<b>bold box</b>: final layer (a model output) &nbsp; rounded box: external input</p>"
    )


# --- tables ---------------------------------------------------------------------------------


def _header(spec: ModelSpec, target: Path, kind: str, timing: str) -> str:
    description = f"<p>{_escape(spec.description)}</p>" if spec.description else ""
    facts = [
        ("source", f"{target} ({kind})"),
        ("timing", f"{timing}; {spec.time.steps} steps of dt = {spec.dt} s"),
        ("dtype", spec.dtype),
        ("seed", str(spec.seed)),
        ("made by", f"snnspec {__version__}"),
    ]
    if target.is_dir():
        manifest = load_json_file(target / MANIFEST)
        if isinstance(manifest, dict) and "spec_sha256" in manifest:
            facts.insert(1, ("spec sha256", str(manifest["spec_sha256"])))
    return f"<h1>{_escape(spec.name)}</h1>{description}" + _table(("", ""), facts, head=False)


def _layer_table(
    spec: ModelSpec, plan: GraphPlan, synops: Mapping[str, float] | None = None
) -> str:
    """Shapes and parameters of every layer, the dense MACs per sample per step of the
    weighted ones and, for a run, the SynOps they measured on the shown sample."""
    reports = layer_reports(spec, plan)
    macs = dense_macs(plan)
    rows: list[tuple[str, ...]] = [
        (
            str(i),
            report.name,
            report.type,
            ", ".join(report.sources),
            _shape(plan.layer_input_shapes[i]),
            _shape(report.output_shape),
            f"{report.parameter_count:,}",
            f"{macs[report.name]:,}" if report.name in macs else "",
            *([f"{synops[report.name]:,.2f}" if report.name in synops else ""] if synops else []),
        )
        for i, report in enumerate(reports)
    ]
    total = sum(r.parameter_count for r in reports)
    totals = [f"{sum(macs.values()):,}", *([f"{sum(synops.values()):,.2f}"] if synops else [])]
    rows.append(("", "total", "", "", "", "", f"{total:,}", *totals))
    header = ["#", "layer", "type", "inputs", "input shape", "output shape", "parameters"]
    header += ["dense MACs/step", *(["SynOps/step (sample)"] if synops else [])]
    notes = [f"not counted: weighted layers inside sequential {', '.join(uncounted_layers(plan))}"]
    note = f"<p>{_escape(notes[0])}</p>" if uncounted_layers(plan) else ""
    return _table(header, rows) + note


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], head: bool = True) -> str:
    lines = ["<table>"]
    if head:
        lines.append("<tr>" + "".join(f"<th>{_escape(c)}</th>" for c in header) + "</tr>")
    for row in rows:
        lines.append("<tr>" + "".join(f"<td>{_escape(c)}</td>" for c in row) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


# --- a training run -------------------------------------------------------------------------


def _run_sections(directory: Path, spec: ModelSpec) -> tuple[list[str], dict[str, float]]:
    """Results, training curves and a spike raster of the first test sample; the SynOps per
    step of that sample by weighted layer."""
    import jax

    from ..bundle import RESULTS
    from ..model.compile import compile as compile_spec
    from ..model.cost import measure_synops
    from .data import load_data
    from .loop import _read_records, data_root_of, read_manifest
    from .plots import run_figure, svg_text, training_figure

    results = load_json_file(directory / RESULTS)
    records = _read_records(directory)
    selected = results.get("selected") if isinstance(results, dict) else None
    facts = [
        (key, f"{value:.4f}" if isinstance(value, float) else json.dumps(value))
        for key, value in (results.items() if isinstance(results, dict) else ())
        if key != "selected"
    ]
    if selected:
        facts.insert(0, ("selected epoch", f"{selected['epoch']} ({selected['reason']})"))
    data = load_data(spec, data_root_of(directory, read_manifest(directory)))
    split, x, y = next(
        (name, x, y)
        for name, x, y in (
            ("test", data.x_test, data.y_test),
            ("validation", data.x_val, data.y_val),
            ("train", data.x_train, data.y_train),
        )
        if len(x)
    )
    model = compile_spec(spec)
    plan = model.plan
    spiking = [i for i, layer in enumerate(plan.layers) if layer.spiking]
    shown = [*spiking, *(i for i in plan.final_layer_ids if i not in spiking)]
    key = jax.random.PRNGKey(spec.seed)
    raster = run_figure(model.with_outputs(shown), [x[:1]], key, spec.time.burnin)
    synops = measure_synops(model, [x[:1]], key, spec.time.burnin)
    epoch = selected["epoch"] if selected else None
    sections = [
        "<h2>Results</h2>",
        _table(("", ""), facts, head=False),
        f"<h2>Training curves</h2><p>From {METRICS}; the dashed line is the selected epoch.</p>",
        svg_text(training_figure(records, epoch)),
        f"<h2>Spikes of a {split} sample</h2>",
        f"<p>Sample 0 of the {split} split (class {int(y[0])}) with the trained parameters: "
        "every spiking layer and the model's outputs.</p>",
        svg_text(raster),
    ]
    return sections, synops


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;
color:#222}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-family:monospace}
th{background:#f4f4f4}
svg.graph{display:block;overflow:visible;max-width:100%;height:auto}
svg.graph text{font:12px monospace;fill:#222}svg.graph text.name{font-weight:bold}
.node rect{fill:#fff;stroke:#555;stroke-width:1.2}.node.final rect{stroke-width:3}
.node.input rect{fill:#eef4fb}
.edge{fill:none;stroke:#333;stroke-width:1.3}.edge.delayed{stroke:#b03a2e;stroke-dasharray:5 4}
.legend{color:#555}.legend .dashed{color:#b03a2e}
"""
