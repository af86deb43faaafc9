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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .._errors import (
    GraphError,
    InputError,
    PathElement,
    SchemaError,
    ShapeError,
    SpecError,
    SpecWarning,
    format_path,
    suggest,
)
from ..spec.layers.base import LayerSpec, Shape
from ..spec.layers.composite import AbstractCompositeSpec
from ..spec.layers.elementwise import IdentitySpec
from ..spec.model import ModelSpec

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
    """Everything the forward pass needs to know about the graph; hashable (static).

    ``layers`` are the layer specs after compositions are lowered, with their names set; layer
    i of the model is built from ``layers[i]``.
    """

    structure: GraphStructure
    timing: str
    input_names: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    layers: tuple[LayerSpec, ...]
    sources: tuple[tuple[Source, ...], ...]
    layer_input_shapes: tuple[Shape, ...]
    layer_output_shapes: tuple[Shape, ...]

    @property
    def final_layer_ids(self) -> tuple[int, ...]:
        return self.structure.final_layer_ids

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name or "" for layer in self.layers)

    @property
    def layer_types(self) -> tuple[str, ...]:
        return tuple(layer.type for layer in self.layers)

    @property
    def combine(self) -> tuple[str, ...]:
        return tuple(layer.combine for layer in self.layers)

    @property
    def parameter_counts(self) -> tuple[int, ...]:
        """Number of trainable values of each layer."""
        return tuple(
            sum(math.prod(s) for s in layer.parameter_shapes(in_shape).values())
            for layer, in_shape in zip(self.layers, self.layer_input_shapes, strict=True)
        )

    def layer_ids(self, layers: Sequence[int | str]) -> tuple[int, ...]:
        """The ids of ``layers``, each a layer id or a layer name: an unknown name (a close
        one is suggested) or an id out of range is an InputError."""
        names = self.layer_names
        ids = []
        for layer in layers:
            if isinstance(layer, str):
                if layer not in names:
                    raise InputError(_unknown_name(layer, list(names), "layer"))
                ids.append(names.index(layer))
            elif not 0 <= layer < len(names):
                raise InputError(f"layer id {layer} is out of range (0-{len(names) - 1})")
            else:
                ids.append(layer)
        return tuple(ids)

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


@dataclass(frozen=True)
class _Lowered:
    """The layer list after compositions are expanded.

    ``origins[i]`` is where layer i is written in the file (for error locations);
    ``inputs`` holds every layer's sources by name when the graph is given by names.
    """

    layers: tuple[LayerSpec, ...]
    origins: tuple[tuple[PathElement, ...], ...]
    inputs: tuple[tuple[str, ...] | None, ...] | None
    outputs: tuple[str, ...] | None


class _Context:
    """The spec being analysed and where each lowered layer came from."""

    def __init__(self, spec: ModelSpec, origins: tuple[tuple[PathElement, ...], ...]) -> None:
        self.spec = spec
        self.origins = origins

    def error(
        self, path: tuple[PathElement, ...], message: str, kind: type[SpecError]
    ) -> SpecError:
        """A located error; ``("layers", i, ...)`` of a lowered layer maps to its origin."""
        if len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int):
            path = (*self.origins[path[1]], *path[2:])
        return self.spec.error(path, message, kind)


def plan_graph(spec: ModelSpec) -> GraphPlan:
    """Check the graph of ``spec`` and infer every shape; raise a located SpecError if not."""
    lowered = _lower(spec)
    context = _Context(spec, lowered.origins)
    layers = lowered.layers
    if spec.compat == "snnax":
        layers = tuple(layer.snnax_compatible() for layer in layers)
    layers = _with_time_step(context, layers, spec.dt)
    _check_names(context, spec, layers)
    if lowered.inputs is not None:
        sources, finals = _named_sources(context, lowered)
    else:
        sources, finals = _index_sources(context, spec)
    sources = [
        (*layer_sources, Source("layer", i)) if layers[i].feedback else layer_sources
        for i, layer_sources in enumerate(sources)
    ]
    timing = spec.timing
    planned = tuple(
        tuple(
            Source(s.kind, s.index, s.kind == "layer" and (timing == "pipelined" or s.index >= i))
            for s in layer_sources
        )
        for i, layer_sources in enumerate(sources)
    )
    _check_inputs_used(context, planned)
    input_shapes = tuple(tuple(item.shape) for item in spec.inputs)
    in_shapes, out_shapes = _infer_shapes(context, layers, planned, input_shapes)
    if lowered.inputs is not None:
        _warn_previous_is_feedback(context, lowered, planned, in_shapes)
    structure = GraphStructure(
        len(layers),
        tuple(tuple(s.index for s in layer if s.kind == "input") for layer in planned),
        tuple(tuple(s.index for s in layer if s.kind == "layer") for layer in planned),
        finals,
    )
    return GraphPlan(
        structure=structure,
        timing=timing,
        input_names=tuple(item.name for item in spec.inputs),
        input_shapes=input_shapes,
        layers=layers,
        sources=planned,
        layer_input_shapes=in_shapes,
        layer_output_shapes=out_shapes,
    )


def resolved_layers(plan: GraphPlan) -> tuple[LayerSpec, ...]:
    """The (lowered) layer specs with every inferred field written out."""
    return tuple(
        layer.resolve(shape)
        for layer, shape in zip(plan.layers, plan.layer_input_shapes, strict=True)
    )


def layer_reports(spec: ModelSpec, plan: GraphPlan) -> tuple[LayerReport, ...]:
    """Name, type, sources, output shape, parameter count and bytes per step of each layer."""
    itemsize = DTYPE_BYTES[spec.dtype]
    reports = []
    for i, (layer, parameters) in enumerate(zip(plan.layers, plan.parameter_counts, strict=True)):
        in_shape, out_shape = plan.layer_input_shapes[i], plan.layer_output_shapes[i]
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


def layer_origin(spec: ModelSpec, index: int) -> tuple[PathElement, ...]:
    """Where layer ``index`` of the spec's plan is written in the file (for located
    messages about a layer: a member of a block points into the block)."""
    return _lower(spec).origins[index]


def _lower(spec: ModelSpec) -> _Lowered:
    """Name every layer and expand ``residual``/``parallel`` blocks into plain layers.

    A block ``b`` becomes ``b.input`` (an identity holding the block's sources and
    ``combine``), its members ``b.<i>`` (or ``b.<branch>.<i>``) chained from it, and ``b``
    itself, an identity summing the branch ends (and the input, for ``residual``).
    """
    names = spec.layer_names()
    named = spec.uses_named_form
    if not any(layer.composite for layer in spec.layers):
        layers = tuple(
            layer.model_copy(update={"name": name})
            for layer, name in zip(spec.layers, names, strict=True)
        )
        origins = tuple(("layers", i) for i in range(len(layers)))
        inputs = tuple(layer.inputs for layer in spec.layers) if named else None
        return _Lowered(layers, origins, inputs, spec.outputs)
    if spec.graph is not None and spec.graph.has_index_form:
        first = next(i for i, layer in enumerate(spec.layers) if layer.composite)
        raise spec.error(
            ("layers", first),
            f"a {spec.layers[first].type} block needs the named form (`inputs:`/`outputs:`) "
            "or no graph: expanding it would shift the layer ids of an index graph",
            GraphError,
        )
    out: list[tuple[LayerSpec, tuple[PathElement, ...], tuple[str, ...]]] = []
    for i, (layer, name) in enumerate(zip(spec.layers, names, strict=True)):
        if layer.inputs is not None:
            sources = tuple(layer.inputs)
        else:
            sources = (spec.inputs[0].name,) if i == 0 else (names[i - 1],)
        _expand(layer, name, sources, ("layers", i), out)
    return _Lowered(
        tuple(layer for layer, _, _ in out),
        tuple(origin for _, origin, _ in out),
        tuple(inputs for _, _, inputs in out),
        spec.outputs or (names[-1],),
    )


def _expand(
    layer: LayerSpec,
    name: str,
    sources: tuple[str, ...],
    origin: tuple[PathElement, ...],
    out: list[tuple[LayerSpec, tuple[PathElement, ...], tuple[str, ...]]],
) -> None:
    if not layer.composite:
        out.append((layer.model_copy(update={"name": name, "inputs": None}), origin, sources))
        return
    entry = f"{name}.input"
    out.append((IdentitySpec(name=entry, combine=layer.combine), origin, sources))
    assert isinstance(layer, AbstractCompositeSpec)
    ends = []
    for b, branch in enumerate(layer.branches_of()):
        previous = entry
        for j, member in enumerate(branch):
            member_path = layer.member_path(b, j)
            member_name = ".".join([name, *map(str, member_path[1:])])
            _expand(member, member_name, (previous,), (*origin, *member_path), out)
            previous = member_name
        ends.append(previous)
    if layer.includes_skip():
        ends.append(entry)
    out.append((IdentitySpec(name=name, combine="sum"), origin, tuple(ends)))


def _with_time_step(
    context: _Context, layers: tuple[LayerSpec, ...], dt: float
) -> tuple[LayerSpec, ...]:
    """The layers with what follows from ``dt`` written out (decays from time constants)."""
    out = []
    for i, layer in enumerate(layers):
        try:
            out.append(layer.with_time_step(dt))
        except SchemaError as error:
            raise context.error(("layers", i, *error.path), error.message, SchemaError) from None
    return tuple(out)


def _check_names(context: _Context, spec: ModelSpec, layers: tuple[LayerSpec, ...]) -> None:
    seen: dict[str, tuple[PathElement, ...]] = {}
    for k, item in enumerate(spec.inputs):
        if item.name in seen:
            raise spec.error(
                ("inputs", k, "name"), f"duplicate input name '{item.name}'", GraphError
            )
        seen[item.name] = ("inputs", k)
    for i, layer in enumerate(layers):
        name = layer.name or ""
        if name in seen:
            origin = context.origins[i]
            top_level = len(origin) == 2 and isinstance(origin[1], int)
            written = top_level and spec.layers[origin[1]].name is not None  # type: ignore[index]
            raise context.error(
                ("layers", i, "name") if written else ("layers", i),
                f"name '{name}' is already used by {format_path(seen[name])}; names of inputs "
                "and layers must be unique",
                GraphError,
            )
        seen[name] = context.origins[i]


def _index_sources(
    context: _Context, spec: ModelSpec
) -> tuple[list[tuple[Source, ...]], tuple[int, ...]]:
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
    sources = [
        tuple(Source("layer", j) for j in connectivity[i])
        + tuple(Source("input", k) for k in input_ids[i])
        for i in range(n)
    ]
    return sources, tuple(finals)


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
    context: _Context, lowered: _Lowered
) -> tuple[list[tuple[Source, ...]], tuple[int, ...]]:
    """Sources from names (``inputs:`` on layers, top-level ``outputs:``).

    A layer without ``inputs:`` reads the previous layer (the first input for layer 0).
    """
    spec = context.spec
    if spec.graph is not None and spec.graph.has_index_form:
        raise spec.error(
            ("graph",),
            "the graph is given twice: use either the index lists under `graph` or the "
            "`inputs:`/`outputs:` names, not both",
            GraphError,
        )
    assert lowered.inputs is not None
    names = [layer.name or "" for layer in lowered.layers]
    layer_ids = {name: i for i, name in enumerate(names)}
    input_ids = {item.name: k for k, item in enumerate(spec.inputs)}
    known = [*input_ids, *layer_ids]
    sources = []
    for i, inputs in enumerate(lowered.inputs):
        if inputs is None:
            sources.append((Source("input", 0),) if i == 0 else (Source("layer", i - 1),))
            continue
        if not inputs:
            raise context.error(
                ("layers", i, "inputs"), "must name at least one source", GraphError
            )
        resolved = []
        for position, name in enumerate(inputs):
            path = ("layers", i, "inputs", position)
            if name in inputs[:position]:
                raise context.error(path, f"'{name}' is listed twice", GraphError)
            if name in input_ids:
                resolved.append(Source("input", input_ids[name]))
            elif name in layer_ids:
                resolved.append(Source("layer", layer_ids[name]))
            else:
                raise context.error(path, _unknown_name(name, known), GraphError)
        sources.append(tuple(resolved))
    if spec.outputs is not None and not spec.outputs:
        raise spec.error(("outputs",), "must name at least one layer", GraphError)
    finals: list[int] = []
    for position, name in enumerate(lowered.outputs or (names[-1],)):
        if name in input_ids and name not in layer_ids:
            raise spec.error(
                ("outputs", position),
                f"'{name}' is an input, and inputs cannot be outputs: outputs name layers "
                f"(to return the input, add a layer `{{type: identity, inputs: [{name}]}}`)",
                GraphError,
            )
        if name not in layer_ids:
            raise spec.error(
                ("outputs", position), _unknown_name(name, list(layer_ids), "layer"), GraphError
            )
        if layer_ids[name] in finals:
            raise spec.error(("outputs", position), f"'{name}' is listed twice", GraphError)
        finals.append(layer_ids[name])
    return sources, tuple(finals)


def _warn_previous_is_feedback(
    context: _Context,
    lowered: _Lowered,
    sources: tuple[tuple[Source, ...], ...],
    in_shapes: tuple[Shape, ...],
) -> None:
    """Warn where a layer without ``inputs:`` reads a feedback projection by default.

    The named form's default source is the layer above. When that layer is stateless (a
    projection such as a ``linear``) and every other layer reads it one step late (back edges
    only), it is a recurrent projection, and reading it at the same step is rarely meant.
    """
    assert lowered.inputs is not None
    layers = lowered.layers
    for i in range(1, len(layers)):
        previous = i - 1
        if lowered.inputs[i] is not None or layers[previous].state_shapes(in_shapes[previous]):
            continue
        readers = [
            k
            for k in range(len(layers))
            if k != i and any(s.kind == "layer" and s.index == previous for s in sources[k])
        ]
        if not readers or any(k > previous for k in readers):
            continue
        name, fed = layers[i].name, layers[previous].name
        fed_by = [layers[s.index].name for s in sources[previous] if s.kind == "layer"]
        intended = fed_by[0] if fed_by else context.spec.inputs[sources[previous][0].index].name
        back = ", ".join(f"'{layers[k].name}'" for k in readers)
        message = (
            f"'{name}' has no `inputs:`, so it reads the layer above it, '{fed}', which "
            f"otherwise only feeds back into {back} (one step late); to read '{intended}' "
            f"write `inputs: [{intended}]`, to keep reading '{fed}' write `inputs: [{fed}]`"
        )
        error = context.error(("layers", i), message, SpecError)
        warnings.warn(SpecWarning(error.located()), stacklevel=2)


def _unknown_name(name: str, known: list[str], what: str = "input or layer") -> str:
    hint = suggest(name, known, f"; known: {', '.join(known)}")
    return f"unknown {what} '{name}'{hint}"


def _check_inputs_used(context: _Context, sources: tuple[tuple[Source, ...], ...]) -> None:
    spec = context.spec
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
            raise context.error(
                _sources_path(spec, i), "this layer has no sources; give it an input", GraphError
            )


def _sources_path(spec: ModelSpec, i: int) -> tuple[PathElement, ...]:
    if spec.uses_named_form:
        return ("layers", i, "inputs")
    if spec.graph is not None and spec.graph.input_connectivity is not None:
        return ("graph", "input_connectivity", i)
    return ("layers", i)


def _combined_shape(
    context: _Context,
    layer: LayerSpec,
    i: int,
    shapes: list[Shape | None],
    *,
    partial: bool,
) -> Shape | None:
    """Input shape of layer i from its source shapes (None while a needed one is unknown).

    ``concat`` joins along axis 0 and needs every source; ``sum`` needs one known source
    when ``partial`` (during the fixed point), and all of them to agree otherwise.
    """
    known = [s for s in shapes if s is not None]
    if len(known) < len(shapes) and (layer.combine == "concat" or not partial or not known):
        return None
    if len(known) == 1:
        return known[0]
    if layer.combine == "sum":
        if any(s != known[0] for s in known):
            raise context.error(
                ("layers", i, "combine"),
                f"combine: sum needs equal source shapes, got {[list(s) for s in known]}",
                ShapeError,
            )
        return known[0]
    trailing = {s[1:] for s in known}
    if len(trailing) > 1 or any(len(s) == 0 for s in known):
        raise context.error(
            _sources_path(context.spec, i),
            "combine: concat joins sources along axis 0, so all other axes must agree; got "
            f"{[list(s) for s in known]} (use combine: sum, or reshape a source)",
            ShapeError,
        )
    return (sum(s[0] for s in known), *known[0][1:])


def _infer_shapes(
    context: _Context,
    layers: tuple[LayerSpec, ...],
    sources: tuple[tuple[Source, ...], ...],
    input_shapes: tuple[Shape, ...],
) -> tuple[tuple[Shape, ...], tuple[Shape, ...]]:
    """Fixed-point shape inference through the graph, cycles included.

    Each pass computes every layer whose output shape is still unknown, from its input when
    that is known, or from the layer alone when its output does not depend on the input
    (``linear``). A final pass checks every layer against its complete input.
    """
    n = len(layers)
    out: list[Shape | None] = [None] * n

    def source_shapes(i: int) -> list[Shape | None]:
        return [input_shapes[s.index] if s.kind == "input" else out[s.index] for s in sources[i]]

    def combined(i: int, *, partial: bool) -> Shape | None:
        return _combined_shape(context, layers[i], i, source_shapes(i), partial=partial)

    def infer(i: int, in_shape: Shape | None) -> Shape | None:
        try:
            return layers[i].infer_output_shape(in_shape)
        except ShapeError as error:
            raise context.error(("layers", i, *error.path), error.message, ShapeError) from None

    changed = True
    while changed:
        changed = False
        for i in range(n):
            if out[i] is None:
                out[i] = infer(i, combined(i, partial=True))
                changed = changed or out[i] is not None
    unknown = [layers[i].name or "" for i in range(n) if out[i] is None]
    if unknown:
        raise context.error(
            ("layers", out.index(None)),
            f"cannot infer the shapes of {', '.join(unknown)}: they sit on a cycle whose "
            "size depends on itself (e.g. a concat that includes the layer's own output); "
            "use combine: sum or put a layer of fixed size (linear) on the cycle",
            ShapeError,
        )
    in_shapes = []
    for i in range(n):
        in_shape = combined(i, partial=False)
        assert in_shape is not None, "every source shape is known after the fixed point"
        final = infer(i, in_shape)
        if final != out[i]:
            raise context.error(
                ("layers", i),
                f"output shape {list(final or ())} disagrees with {list(out[i] or ())}, the "
                "shape its cycle needs; check the sizes around the cycle",
                ShapeError,
            )
        in_shapes.append(in_shape)
    return tuple(in_shapes), tuple(s for s in out if s is not None)
