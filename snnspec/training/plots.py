"""Pictures: spike rasters and membrane traces of a run, training curves, data samples,
graph diagrams.

matplotlib is an optional extra (``pip install 'snnspec[plot]'``) imported only when a plot
is drawn; figures are rendered by the Agg canvas without pyplot, so no global backend is
changed. Graph diagrams (Mermaid or Graphviz dot text) need neither matplotlib nor JAX.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import SpecError
from .._io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..graph.plan import GraphPlan
    from ..model.model import StatefulModel

MAX_TRACES = 4
"""Membrane traces drawn per layer: the neurons whose potential varies most."""


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise SpecError(
            "plotting needs matplotlib, which is not installed: pip install 'snnspec[plot]'"
        ) from None
    return Figure(figsize=(width, height), layout="constrained")


def image_format(path: str | os.PathLike[str]) -> str:
    """``png``, ``pdf`` or ``svg`` from the file's suffix; checked before a run starts."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".pdf", ".svg"):
        raise SpecError(
            f"unsupported image type '{suffix}'; use .png, .pdf or .svg", file=str(path)
        )
    return suffix[1:]


def _save(figure: Figure, path: str | os.PathLike[str]) -> None:
    fmt = image_format(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format=fmt, dpi=100)


# --- training curves ------------------------------------------------------------------------


def plot_training(
    path: str | os.PathLike[str], records: Sequence[dict[str, Any]], selected: int | None = None
) -> None:
    """Draw :func:`training_figure` to ``path``."""
    _save(training_figure(records, selected), path)


def training_figure(records: Sequence[dict[str, Any]], selected: int | None = None) -> Figure:
    """Loss and accuracy per epoch (train and validation) from ``metrics.jsonl`` records,
    with a dashed line at the ``selected`` epoch."""
    figure = _figure(9.0, 3.5)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    epochs = [r["epoch"] for r in records]
    for key, label, axes in (
        ("train_loss", "train", loss_axes),
        ("val_loss", "validation", loss_axes),
        ("train_accuracy", "train", accuracy_axes),
        ("val_accuracy", "validation", accuracy_axes),
    ):
        values = [r.get(key) for r in records]
        if all(v is not None for v in values):
            axes.plot(epochs, values, marker="o", markersize=3, label=label)
    loss_axes.set(title="loss", xlabel="epoch")
    accuracy_axes.set(title="accuracy", xlabel="epoch", ylim=(0, 1.02))
    for axes in (loss_axes, accuracy_axes):
        if selected is not None:
            axes.axvline(selected, color="gray", linestyle="--", linewidth=1, label="selected")
        axes.grid(alpha=0.3)
        axes.xaxis.get_major_locator().set_params(integer=True)
        if axes.get_lines():
            axes.legend()
    return figure


# --- data samples -------------------------------------------------------------------------


def plot_samples(
    path: str | os.PathLike[str], x: np.ndarray, y: np.ndarray, title: str = "sample"
) -> None:
    """Samples ``x`` ``(n, T, *shape)`` with labels ``y``, one panel each: a raster (time x
    channel) for 1-D inputs ``[C]``, else the time-summed frame of ``[H, W]`` or
    ``[P, H, W]`` (polarities summed too)."""
    image_format(path)
    if x.ndim not in (3, 4, 5):
        raise SpecError(
            f"cannot draw samples of input shape {list(x.shape[2:])}: only [C] (a raster), "
            "[H, W] or [P, H, W] (frames)"
        )
    count = len(x)
    figure = _figure(min(3.2 * count, 16.0), 3.0)
    axes_list = np.atleast_1d(figure.subplots(1, count, squeeze=False)[0])
    for n, axes in enumerate(axes_list):
        sample = np.asarray(x[n], np.float64)
        if sample.ndim == 2:
            t, c = np.nonzero(sample)
            axes.scatter(t, c, marker="|", s=12, linewidths=0.8, color="black")
            axes.set(xlim=(-0.5, sample.shape[0] - 0.5), ylim=(-0.5, sample.shape[1] - 0.5))
            axes.set(xlabel="step", ylabel="channel")
        else:
            frame = np.abs(sample).sum(axis=0)
            if frame.ndim == 3:
                frame = frame.sum(axis=0)
            image = axes.imshow(frame, interpolation="nearest", cmap="gray_r")
            figure.colorbar(image, ax=axes, shrink=0.8)
            axes.set(xlabel="x", ylabel="y")
        axes.set_title(f"{title} {n}: class {int(y[n])}", fontsize="small")
    _save(figure, path)


# --- a run: rasters and membrane traces -----------------------------------------------------


def record_sample(
    model: StatefulModel, inputs: Sequence[np.ndarray], key: Any, burnin: int
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Outputs of the final layers and membrane potentials of sample 0, step by step.

    Uses the keys :func:`snnspec.simulate` gives sample 0, so the picture shows the same
    run. Returns ``({layer: (T - burnin, n)}, {layer: (T - burnin, n)})`` flattened.
    """
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    model = eqx.nn.inference_mode(model)
    plan = model.plan
    sample = tuple(jnp.asarray(x[0], model.dtype) for x in inputs)
    sample_key = None if key is None else jax.random.fold_in(key, 0)
    states = model.init_state()
    traced = [i for i, state in enumerate(states) if hasattr(state, "v")]

    def body(carry: Any, tx: Any) -> Any:
        t, x = tx
        step_key = None if sample_key is None else jax.random.fold_in(sample_key, t)
        carry, outputs = model.step(carry, x, step_key)
        return carry, (outputs, tuple(carry[i].v for i in traced))

    steps = sample[0].shape[0]
    _, (outputs, potentials) = jax.jit(lambda s, xs: jax.lax.scan(body, s, xs))(
        states, (jnp.arange(steps), sample)
    )

    def flat(array: Any) -> np.ndarray:
        values = np.asarray(array, np.float32)[burnin:]
        return values.reshape(values.shape[0], -1)

    finals = {i: flat(o) for i, o in zip(plan.final_layer_ids, outputs, strict=True)}
    membranes = {i: flat(v) for i, v in zip(traced, potentials, strict=True)}
    return finals, membranes


def plot_run(
    path: str | os.PathLike[str],
    model: StatefulModel,
    inputs: Sequence[np.ndarray],
    key: Any,
    burnin: int,
) -> None:
    """Draw :func:`run_figure` to ``path``."""
    _save(run_figure(model, inputs, key, burnin), path)


def run_figure(model: StatefulModel, inputs: Sequence[np.ndarray], key: Any, burnin: int) -> Figure:
    """A spike raster per final layer and membrane traces of a few neurons (sample 0)."""
    _figure(1.0, 1.0)  # fail before running anything when matplotlib is missing

    plan = model.plan
    finals, membranes = record_sample(model, inputs, key, burnin)
    traced = [i for i in plan.final_layer_ids if i in membranes] or list(membranes)[-1:]
    rows = len(finals) + len(traced)
    figure = _figure(9.0, 2.4 * rows)
    axes_list = np.atleast_1d(figure.subplots(rows, 1, squeeze=False)[:, 0])
    start = burnin
    for axes, (i, values) in zip(axes_list, finals.items(), strict=False):
        name, kind = plan.layer_names[i], plan.layer_types[i]
        steps = np.arange(start, start + values.shape[0])
        if plan.layers[i].spiking:
            t, n = np.nonzero(values)
            axes.scatter(steps[t], n, marker="|", s=40, linewidths=1, color="black")
            axes.set_ylim(-0.5, values.shape[1] - 0.5)
            axes.set_xlim(start - 0.5, start + values.shape[0] - 0.5)  # also when silent
            axes.set_title(f"{name} ({kind}): spikes, sample 0 ({int(values.sum())} in total)")
        else:
            extent = (start - 0.5, start + values.shape[0] - 0.5, values.shape[1] - 0.5, -0.5)
            image = axes.imshow(values.T, aspect="auto", interpolation="nearest", extent=extent)
            figure.colorbar(image, ax=axes)
            axes.set_title(f"{name} ({kind}): output, sample 0")
        axes.set(xlabel="step", ylabel="neuron")
    for axes, i in zip(axes_list[len(finals) :], traced, strict=True):
        values = membranes[i]
        chosen = np.argsort(-values.var(axis=0), kind="stable")[:MAX_TRACES]
        steps = np.arange(start, start + values.shape[0])
        for n in sorted(chosen):
            axes.plot(steps, values[:, n], label=f"neuron {n}", linewidth=1)
        axes.set_title(f"{plan.layer_names[i]}: membrane potential v, sample 0")
        axes.set(xlabel="step", ylabel="v")
        axes.legend(fontsize="small", loc="upper right")
    return figure


def svg_text(figure: Figure) -> str:
    """``figure`` as an ``<svg>`` element to inline in a page: text kept as text, no date
    (so the same figure gives the same bytes), no XML prolog."""
    import io

    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "snnspec"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


# --- graph diagrams (text) ------------------------------------------------------------------

SAME_STEP, DELAYED = "same step", "delayed (t-1)"


def graph_diagram(plan: GraphPlan, fmt: str, title: str = "snnspec") -> str:
    """The graph as Mermaid or Graphviz dot text; edges labelled same step or delayed."""
    if fmt == "mermaid":
        return _mermaid(plan)
    if fmt == "dot":
        return _dot(plan, title)
    raise SpecError(f"unknown diagram format '{fmt}'; use mermaid or dot")


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _edges(plan: GraphPlan) -> list[tuple[str, str, bool]]:
    edges = []
    for i, sources in enumerate(plan.sources):
        for source in sources:
            start = f"in{source.index}" if source.kind == "input" else f"l{source.index}"
            edges.append((start, f"l{i}", source.delayed))
    return edges


def _mermaid(plan: GraphPlan) -> str:
    lines = ["flowchart LR"]
    for k, (name, shape) in enumerate(zip(plan.input_names, plan.input_shapes, strict=True)):
        lines.append(f'  in{k}(["{name}<br/>input {_shape(shape)}"])')
    for i, name in enumerate(plan.layer_names):
        out = _shape(plan.layer_output_shapes[i])
        lines.append(f'  l{i}["{name}<br/>{plan.layer_types[i]} {out}"]')
    for start, end, delayed in _edges(plan):
        arrow = f'-.->|"{DELAYED}"|' if delayed else f'-->|"{SAME_STEP}"|'
        lines.append(f"  {start} {arrow} {end}")
    lines.append("  classDef final stroke-width:3px")
    lines.append("  class " + ",".join(f"l{i}" for i in plan.final_layer_ids) + " final")
    return "\n".join(lines) + "\n"


def _dot(plan: GraphPlan, title: str) -> str:
    lines = [f'digraph "{title}" {{', "  rankdir=LR;", "  node [shape=box];"]
    for k, (name, shape) in enumerate(zip(plan.input_names, plan.input_shapes, strict=True)):
        lines.append(f'  in{k} [shape=ellipse, label="{name}\\ninput {_shape(shape)}"];')
    finals = set(plan.final_layer_ids)
    for i, name in enumerate(plan.layer_names):
        label = f"{name}\\n{plan.layer_types[i]} {_shape(plan.layer_output_shapes[i])}"
        extra = ", peripheries=2" if i in finals else ""
        lines.append(f'  l{i} [label="{label}"{extra}];')
    for start, end, delayed in _edges(plan):
        style = (
            f'label="{DELAYED}", style=dashed, constraint=false'
            if delayed
            else f'label="{SAME_STEP}"'
        )
        lines.append(f"  {start} -> {end} [{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
