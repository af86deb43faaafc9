"""Graph analysis: sources, the timing rule, shape inference, the execution plan.

Both graph forms (index lists or names) lower to one :class:`GraphPlan`: for every layer the
ordered list of its sources, each marked as read at the same step or at the previous step.
The model's forward pass walks this plan and nothing else.

Timing rule (``causal``, the default): at step t layer i reads layer j's output of step t
when j < i, and of step t-1 when j >= i (a back edge or a self loop). ``pipelined`` reads the
previous step on every layer-to-layer edge. External inputs are always read at step t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ._errors import GraphError, PathElement, ShapeError, format_path
from ._spec import ModelSpec
from .layers.base import LayerSpec, Shape

SourceKind = Literal["input", "layer"]

DTYPE_BYTES = {"float32": 4, "float64": 8, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class Source:
    """One incoming edge of a layer: an external input or a layer, maybe read one step late."""

    kind: SourceKind
    index: int
    delayed: bool = False


@dataclass(frozen=True)
class GraphStructure:
    """The graph in SNNAX's index form (kept for interoperability and inspection)."""

    num_layers: int
    input_layer_ids: tuple[tuple[int, ...], ...]
    input_connectivity: tuple[tuple[int, ...], ...]
    final_layer_ids: tuple[int, ...]


@dataclass(frozen=True)
class GraphPlan:
    """Everything the forward pass needs to know about the graph; hashable (static)."""

    structure: GraphStructure
    timing: str
    input_names: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    layer_names: tuple[str, ...]
    layer_types: tuple[str, ...]
    sources: tuple[tuple[Source, ...], ...]
    combine: tuple[str, ...]
    layer_input_shapes: tuple[Shape, ...]
    layer_output_shapes: tuple[Shape, ...]

    @property
    def final_layer_ids(self) -> tuple[int, ...]:
        return self.structure.final_layer_ids

    def source_name(self, source: Source) -> str:
        """Readable name of a source; a delayed one is marked ``name@t-1``."""
        names = self.input_names if source.kind == "input" else self.layer_names
        return names[source.index] + ("@t-1" if source.delayed else "")


@dataclass(frozen=True)
class LayerReport:
    """Per-layer facts for ``validate``'s table and the memory estimate."""

    name: str
    type: str
    sources: tuple[str, ...]
    output_shape: Shape
    parameter_count: int
    step_bytes: int


def plan_graph(spec: ModelSpec) -> GraphPlan:
    """Check the graph of ``spec`` and infer every shape; raise a located SpecError if not."""
    names = spec.layer_names()
    _check_names(spec, names)
    if spec.uses_named_form:
        structure, sources = _named_sources(spec, names)
    else:
        structure, sources = _index_sources(spec)
    timing = spec.graph.timing if spec.graph is not None else "causal"
    sources = tuple(
        tuple(
            Source(s.kind, s.index, s.kind == "layer" and (timing == "pipelined" or s.index >= i))
            for s in layer_sources
        )
        for i, layer_sources in enumerate(sources)
    )
    _check_inputs_used(spec, sources)
    input_shapes = tuple(tuple(item.shape) for item in spec.inputs)
    in_shapes, out_shapes = _infer_shapes(spec, sources, input_shapes)
    return GraphPlan(
        structure=structure,
        timing=timing,
        input_names=tuple(item.name for item in spec.inputs),
        input_shapes=input_shapes,
        layer_names=names,
        layer_types=tuple(layer.type for layer in spec.layers),
        sources=sources,
        combine=tuple(layer.combine for layer in spec.layers),
        layer_input_shapes=in_shapes,
        layer_output_shapes=out_shapes,
    )


def resolved_layers(spec: ModelSpec, plan: GraphPlan) -> tuple[LayerSpec, ...]:
    """The layer specs with names and inferred fields written out."""
    return tuple(
        layer.resolve(plan.layer_input_shapes[i]).model_copy(update={"name": plan.layer_names[i]})
        for i, layer in enumerate(spec.layers)
    )


def layer_reports(spec: ModelSpec, plan: GraphPlan) -> tuple[LayerReport, ...]:
    """Name, type, sources, output shape, parameter count and bytes per step of each layer."""
    itemsize = DTYPE_BYTES[spec.dtype]
    reports = []
    for i, layer in enumerate(spec.layers):
        in_shape, out_shape = plan.layer_input_shapes[i], plan.layer_output_shapes[i]
        parameters = sum(math.prod(s) for s in layer.parameter_shapes(in_shape).values())
        state = sum(math.prod(s) for s in layer.state_shapes(in_shape).values())
        reports.append(
            LayerReport(
                name=plan.layer_names[i],
                type=layer.type,
                sources=tuple(plan.source_name(source) for source in plan.sources[i]),
                output_shape=out_shape,
                parameter_count=parameters,
                step_bytes=itemsize * (parameters + state + math.prod(out_shape)),
            )
        )
    return tuple(reports)


def _check_names(spec: ModelSpec, names: tuple[str, ...]) -> None:
    seen: dict[str, tuple[PathElement, ...]] = {}
    for k, item in enumerate(spec.inputs):
        if item.name in seen:
            raise spec.error(
                ("inputs", k, "name"), f"duplicate input name '{item.name}'", GraphError
            )
        seen[item.name] = ("inputs", k, "name")
    for i, name in enumerate(names):
        if name in seen:
            first = format_path(seen[name][:2])
            raise spec.error(
                ("layers", i, "name") if spec.layers[i].name else ("layers", i),
                f"name '{name}' is already used by {first}; names of inputs and layers "
                "must be unique",
                GraphError,
            )
        seen[name] = ("layers", i)


def _index_sources(
    spec: ModelSpec,
) -> tuple[GraphStructure, tuple[tuple[Source, ...], ...]]:
    """Sources from the index form (or the default chain when ``graph`` is omitted)."""
    n = len(spec.layers)
    graph = spec.graph
    if graph is None or graph.input_connectivity is None or graph.input_layer_ids is None:
        input_ids = tuple((0,) if i == 0 else () for i in range(n))
        connectivity = tuple(() if i == 0 else (i - 1,) for i in range(n))
    else:
        input_ids, connectivity = graph.input_layer_ids, graph.input_connectivity
        for key, lists in (("input_layer_ids", input_ids), ("input_connectivity", connectivity)):
            if len(lists) != n:
                raise spec.error(
                    ("graph", key),
                    f"has {len(lists)} entries but there are {n} layers; give one list per layer",
                    GraphError,
                )
        for i in range(n):
            _check_ids(
                spec, ("graph", "input_layer_ids", i), input_ids[i], len(spec.inputs), "input"
            )
            _check_ids(spec, ("graph", "input_connectivity", i), connectivity[i], n, "layer")
    finals = graph.final_layer_ids if graph is not None else None
    if finals is None:
        finals = (n - 1,)
    else:
        if not finals:
            raise spec.error(
                ("graph", "final_layer_ids"), "must name at least one layer", GraphError
            )
        _check_ids(spec, ("graph", "final_layer_ids"), finals, n, "layer")
    structure = GraphStructure(n, tuple(input_ids), tuple(connectivity), tuple(finals))
    sources = tuple(
        tuple(Source("layer", j) for j in connectivity[i])
        + tuple(Source("input", k) for k in input_ids[i])
        for i in range(n)
    )
    return structure, sources


def _check_ids(
    spec: ModelSpec, path: tuple[PathElement, ...], ids: tuple[int, ...], count: int, what: str
) -> None:
    for position, index in enumerate(ids):
        if not 0 <= index < count:
            valid = f"the only {what} id is 0" if count == 1 else f"{what} ids are 0 to {count - 1}"
            raise spec.error(
                (*path, position), f"{what} id {index} is out of range; {valid}", GraphError
            )
        if index in ids[:position]:
            raise spec.error((*path, position), f"{what} id {index} is listed twice", GraphError)


def _named_sources(
    spec: ModelSpec, names: tuple[str, ...]
) -> tuple[GraphStructure, tuple[tuple[Source, ...], ...]]:
    """Sources from ``inputs:`` on layers and top-level ``outputs:``.

    A layer without ``inputs:`` reads the previous layer (the first input for layer 0).
    """
    if spec.graph is not None and spec.graph.has_index_form:
        raise spec.error(
            ("graph",),
            "the graph is given twice: use either the index lists under `graph` or the "
            "`inputs:`/`outputs:` names, not both",
            GraphError,
        )
    layer_ids = {name: i for i, name in enumerate(names)}
    input_ids = {item.name: k for k, item in enumerate(spec.inputs)}
    known = [*input_ids, *layer_ids]
    sources = []
    for i, layer in enumerate(spec.layers):
        if layer.inputs is None:
            sources.append((Source("input", 0),) if i == 0 else (Source("layer", i - 1),))
            continue
        if not layer.inputs:
            raise spec.error(("layers", i, "inputs"), "must name at least one source", GraphError)
        resolved = []
        for position, name in enumerate(layer.inputs):
            path = ("layers", i, "inputs", position)
            if name in layer.inputs[:position]:
                raise spec.error(path, f"'{name}' is listed twice", GraphError)
            if name in input_ids:
                resolved.append(Source("input", input_ids[name]))
            elif name in layer_ids:
                resolved.append(Source("layer", layer_ids[name]))
            else:
                raise spec.error(path, _unknown_name(name, known), GraphError)
        sources.append(tuple(resolved))
    finals = []
    for position, name in enumerate(spec.outputs or (names[-1],)):
        if name not in layer_ids:
            raise spec.error(
                ("outputs", position), _unknown_name(name, list(layer_ids)), GraphError
            )
        if layer_ids[name] in finals:
            raise spec.error(("outputs", position), f"'{name}' is listed twice", GraphError)
        finals.append(layer_ids[name])
    if spec.outputs is not None and not spec.outputs:
        raise spec.error(("outputs",), "must name at least one layer", GraphError)
    structure = GraphStructure(
        len(names),
        tuple(tuple(s.index for s in layer if s.kind == "input") for layer in sources),
        tuple(tuple(s.index for s in layer if s.kind == "layer") for layer in sources),
        tuple(finals),
    )
    return structure, tuple(sources)


def _unknown_name(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else f"; known: {', '.join(known)}"
    return f"unknown input or layer '{name}'{hint}"


def _check_inputs_used(spec: ModelSpec, sources: tuple[tuple[Source, ...], ...]) -> None:
    used = {s.index for layer in sources for s in layer if s.kind == "input"}
    for k, item in enumerate(spec.inputs):
        if k not in used:
            raise spec.error(
                ("inputs", k),
                f"input '{item.name}' feeds no layer; connect it or remove it",
                GraphError,
            )
    for i, layer_sources in enumerate(sources):
        if not layer_sources:
            raise spec.error(
                _sources_path(spec, i), "this layer has no sources; give it an input", GraphError
            )


def _sources_path(spec: ModelSpec, i: int) -> tuple[PathElement, ...]:
    if spec.uses_named_form:
        return ("layers", i, "inputs")
    if spec.graph is not None and spec.graph.input_connectivity is not None:
        return ("graph", "input_connectivity", i)
    return ("layers", i)


def _combined_shape(
    spec: ModelSpec, i: int, shapes: list[Shape | None], *, partial: bool
) -> Shape | None:
    """Input shape of layer i from its source shapes (None while a needed one is unknown).

    ``concat`` joins along axis 0 and needs every source; ``sum`` needs one known source
    when ``partial`` (during the fixed point), and all of them to agree otherwise.
    """
    layer = spec.layers[i]
    known = [s for s in shapes if s is not None]
    if len(known) < len(shapes) and (layer.combine == "concat" or not partial or not known):
        return None
    if len(known) == 1:
        return known[0]
    path = _combine_path(spec, i)
    if layer.combine == "sum":
        if any(s != known[0] for s in known):
            raise spec.error(
                path,
                f"combine: sum needs equal source shapes, got {[list(s) for s in known]}",
                ShapeError,
            )
        return known[0]
    trailing = {s[1:] for s in known}
    if len(trailing) > 1 or any(len(s) == 0 for s in known):
        raise spec.error(
            path,
            "combine: concat joins sources along axis 0, so all other axes must agree; got "
            f"{[list(s) for s in known]} (use combine: sum, or reshape a source)",
            ShapeError,
        )
    return (sum(s[0] for s in known), *known[0][1:])


def _combine_path(spec: ModelSpec, i: int) -> tuple[PathElement, ...]:
    return ("layers", i, "combine") if spec.layers[i].combine == "sum" else _sources_path(spec, i)


def _infer_shapes(
    spec: ModelSpec,
    sources: tuple[tuple[Source, ...], ...],
    input_shapes: tuple[Shape, ...],
) -> tuple[tuple[Shape, ...], tuple[Shape, ...]]:
    """Fixed-point shape inference through the graph, cycles included.

    Each pass computes every layer whose output shape is still unknown, from its input when
    that is known, or from the layer alone when its output does not depend on the input
    (``linear``). A final pass checks every layer against its complete input.
    """
    n = len(spec.layers)
    out: list[Shape | None] = [None] * n

    def source_shapes(i: int) -> list[Shape | None]:
        return [input_shapes[s.index] if s.kind == "input" else out[s.index] for s in sources[i]]

    def infer(i: int, in_shape: Shape | None) -> Shape | None:
        try:
            return spec.layers[i].infer_output_shape(in_shape)
        except ShapeError as error:
            raise spec.error(("layers", i, *error.path), error.message, ShapeError) from None

    changed = True
    while changed:
        changed = False
        for i in range(n):
            if out[i] is None:
                out[i] = infer(i, _combined_shape(spec, i, source_shapes(i), partial=True))
                changed = changed or out[i] is not None
    unknown = [spec.layer_names()[i] for i in range(n) if out[i] is None]
    if unknown:
        first = out.index(None)
        raise spec.error(
            ("layers", first),
            f"cannot infer the shapes of {', '.join(unknown)}: they sit on a cycle whose "
            "size depends on itself (e.g. a concat that includes the layer's own output); "
            "use combine: sum or put a layer of fixed size (linear) on the cycle",
            ShapeError,
        )
    in_shapes = []
    for i in range(n):
        in_shape = _combined_shape(spec, i, source_shapes(i), partial=False)
        assert in_shape is not None, "every source shape is known after the fixed point"
        final = infer(i, in_shape)
        if final != out[i]:
            raise spec.error(
                ("layers", i),
                f"output shape {list(final or ())} disagrees with {list(out[i] or ())}, the "
                "shape its cycle needs; check the sizes around the cycle",
                ShapeError,
            )
        in_shapes.append(in_shape)
    return tuple(in_shapes), tuple(s for s in out if s is not None)
