"""NIR (Neuromorphic Intermediate Representation) import and export.

:func:`from_nir` turns a ``nir.NIRGraph`` into a spec plus the arrays it cannot hold (weights,
biases); :func:`to_nir` turns a spec (or a compiled model) into a ``nir.NIRGraph``. The
mapping of every primitive, the discretisation rules and the timing conventions are in
``docs/nir.md``. Both directions dispatch on type names through tables, never on
``isinstance`` chains; anything without an exact counterpart is a :class:`SpecError` naming
the node or layer, never a silent skip.

Graph semantics of an import: several edges into a node are summed (``combine: sum``);
nested graphs are flattened (their nodes are named ``<graph>.<node>``; an edge to or from a
subgraph goes through its single Input or Output node, or names one as ``<graph>.<node>``);
Input nodes become the spec's inputs and Output nodes its outputs. Layers are ordered so that
every edge that is not on a cycle runs forward (read at the same step): the strongly
connected components are ordered topologically (ties by their first node in the file) and
the nodes inside a component keep the file's order; an edge to the same node or to an earlier
node of its own component reads the previous step. An export writes the nodes in layer
order, so importing it again reproduces the same timing; an edge that reads the previous step
without lying on a cycle (``graph.timing: pipelined``, or a back edge that closes no cycle)
is written as an explicit NIR ``Delay`` of one step (dt).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import SpecError
from ..graph.order import layer_successors, strongly_connected_components, topological_components
from ..spec.layers.neurons import AbstractSpikingNeuronSpec

if TYPE_CHECKING:
    import nir

    from ..graph.plan import GraphPlan, Source
    from ..model.model import StatefulModel
    from ..spec.model import ModelSpec

DEFAULT_DT = 1e-3
"""dt used by :func:`from_nir` when none is given (NIR graphs carry no time step)."""

_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def _require_nir() -> Any:
    try:
        import nir
    except ImportError:  # pragma: no cover - depends on the environment
        raise SpecError("NIR support needs the `nir` package: pip install 'snnspec[nir]'") from None
    return nir


# =============================================================================================
# Import
# =============================================================================================


@dataclass
class _FlatGraph:
    """A NIR graph with nested graphs flattened: nodes in file order, edges in file order."""

    nodes: dict[str, Any] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # input | output | pass | node
    edges: list[tuple[str, str]] = field(default_factory=list)


def _flatten(graph: Any, prefix: str, flat: _FlatGraph, top: bool) -> None:
    for name, node in graph.nodes.items():
        full = prefix + name
        kind = type(node).__name__
        if kind == "NIRGraph":
            _flatten(node, full + ".", flat, top=False)
            continue
        flat.nodes[full] = node
        if kind in ("Input", "Output"):
            flat.kinds[full] = kind.lower() if top else "pass"
        elif kind == "Identity":
            flat.kinds[full] = "pass"
        else:
            flat.kinds[full] = "node"
    for source, target in graph.edges:
        flat.edges.append(
            (_endpoint(graph, prefix, source, "Output"), _endpoint(graph, prefix, target, "Input"))
        )


def _endpoint(graph: Any, prefix: str, name: str, side: str) -> str:
    """The flat name an edge end refers to; a subgraph resolves to its Input/Output node."""
    name = str(name.decode() if isinstance(name, bytes) else name)
    node = graph.nodes.get(name)
    if node is None and "." in name:
        head, rest = name.split(".", 1)
        sub = graph.nodes.get(head)
        if sub is not None and type(sub).__name__ == "NIRGraph":
            return _endpoint(sub, prefix + head + ".", rest, side)
    if node is None:
        raise SpecError(
            f"NIR edge refers to unknown node '{prefix}{name}'; known: "
            f"{', '.join(prefix + k for k in graph.nodes)}"
        )
    if type(node).__name__ != "NIRGraph":
        return prefix + name
    ports = [k for k, n in node.nodes.items() if type(n).__name__ == side]
    if len(ports) != 1:
        raise SpecError(
            f"NIR edge to subgraph '{prefix}{name}' is ambiguous: it has {len(ports)} "
            f"{side} nodes; name one as '{name}.<node>'"
        )
    return _endpoint(node, prefix + name + ".", ports[0], side)


def _remove_pass_nodes(flat: _FlatGraph) -> None:
    """Connect every source of a pass-through node (inner Input/Output) to its targets."""
    for name in [n for n, kind in flat.kinds.items() if kind == "pass"]:
        sources = [s for s, t in flat.edges if t == name and s != name]
        targets = [t for s, t in flat.edges if s == name and t != name]
        kept = [(s, t) for s, t in flat.edges if name not in (s, t)]
        for target in targets:
            for source in sources:
                if (source, target) not in kept:
                    kept.append((source, target))
        flat.edges = kept
        del flat.nodes[name], flat.kinds[name]


def execution_order(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[str]:
    """Components in topological order (ties: first in ``nodes``), file order inside each."""
    position = {n: i for i, n in enumerate(nodes)}
    successors: list[list[int]] = [[] for _ in nodes]
    for s, t in edges:
        successors[position[s]].append(position[t])
    return [nodes[i] for members in topological_components(successors) for i in members]


def _safe_names(raw: Sequence[str]) -> dict[str, str]:
    """NIR node name -> a valid, unique snnspec name (``[A-Za-z_][A-Za-z0-9_.-]*``, ≤ 64)."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for name in raw:
        safe = _NAME_BAD.sub("_", name) or "_"
        if not (safe[0].isalpha() or safe[0] == "_"):
            safe = "_" + safe
        safe = safe[:64]
        candidate, k = safe, 2
        while candidate in used:
            candidate = f"{safe[: 60 - len(str(k))]}_{k}"
            k += 1
        used.add(candidate)
        names[name] = candidate
    return names


def _array(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _value(value: Any) -> float | list[float]:
    """A number when all entries are equal, else the row-major list."""
    array = _array(value)
    if array.size == 0:
        raise SpecError("empty parameter array")
    flat = array.ravel()
    if np.all(flat == flat[0]):
        return float(flat[0])
    return [float(v) for v in flat]


def _ints(value: Any, count: int) -> list[int]:
    array = np.atleast_1d(np.asarray(value)).astype(int).ravel()
    if array.size == 1:
        return [int(array[0])] * count
    if array.size != count:
        raise SpecError(f"expected {count} values, got {array.size}")
    return [int(v) for v in array]


@dataclass(frozen=True)
class ImportOptions:
    """Choices NIR leaves to the backend (see ``docs/nir.md``).

    ``cuba_current`` is the Euler update order of the current-based neurons; ``None`` picks
    it per node from the file's metadata (:func:`cuba_current_of`). ``producer`` is the
    library the graph's own metadata names, if any.
    """

    discretization: str = "euler"
    reset: str | None = None
    """``value`` or ``subtract``; None: the node's recorded reset (RESET_METADATA), else value."""
    cuba_current: str | None = None
    producer: str | None = None


CUBA_CURRENT_KEY = "snnspec.cuba_current"
"""Node metadata key under which an export records a current-based node's update order."""

CUBA_CURRENT_OF_PRODUCER = {"snntorch": "updated", "norse": "updated"}
"""Libraries whose CubaLIF advances the potential with the current just computed
(snnTorch's ``Synaptic``, Norse's ``from_nir``); NIR's reference Euler uses the previous one."""

_PRODUCER_KEYS = ("producer", "source", "library", "framework", "exported_by", "generator")


def _producer(metadata: Mapping[str, Any] | None) -> str | None:
    """The library of :data:`CUBA_CURRENT_OF_PRODUCER` that ``metadata`` names, if any."""
    for key, value in (metadata or {}).items():
        if str(key).lower() not in _PRODUCER_KEYS:
            continue
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        for library in CUBA_CURRENT_OF_PRODUCER:
            if library in text.lower():
                return library
    return None


def cuba_current_of(node: Any, options: ImportOptions) -> tuple[str, str]:
    """(update order, why) of a current-based node: the caller's choice, the order an
    snnspec export recorded, the producing library's, else NIR's reference (``previous``)."""
    if options.cuba_current is not None:
        return options.cuba_current, "as asked"
    metadata = getattr(node, "metadata", None) or {}
    recorded = metadata.get(CUBA_CURRENT_KEY)
    recorded = recorded.decode() if isinstance(recorded, bytes) else recorded
    if recorded in ("previous", "updated"):
        return str(recorded), "recorded in the node's metadata by snnspec"
    library = _producer(metadata) or options.producer
    if library is not None:
        return CUBA_CURRENT_OF_PRODUCER[library], f"the file's metadata names {library}"
    return "previous", "NIR's reference Euler; the file's metadata names no producer"


RESET_METADATA = "snnspec.reset"
"""Node metadata key under which export records a ``subtract`` reset (NIR's nodes reset to
v_reset); import reads it back unless a reset is chosen explicitly."""


Importer = Callable[[Any, ImportOptions], tuple[dict[str, Any], dict[str, np.ndarray]]]


def _import_affine(node: Any, options: ImportOptions) -> tuple[dict[str, Any], dict[str, Any]]:
    weight = _array(node.weight)
    if weight.ndim != 2:
        raise SpecError(f"only 2-D weights are supported, got shape {list(weight.shape)}")
    bias = np.broadcast_to(_array(node.bias), (weight.shape[0],))
    layer = {"type": "linear", "out_features": weight.shape[0], "in_features": weight.shape[1]}
    return layer, {"weight": weight, "bias": np.array(bias)}


def _import_linear(node: Any, options: ImportOptions) -> tuple[dict[str, Any], dict[str, Any]]:
    weight = _array(node.weight)
    if weight.ndim != 2:
        raise SpecError(f"only 2-D weights are supported, got shape {list(weight.shape)}")
    layer = {
        "type": "linear",
        "out_features": weight.shape[0],
        "in_features": weight.shape[1],
        "use_bias": False,
    }
    return layer, {"weight": weight}


def _import_scale(node: Any, options: ImportOptions) -> tuple[dict[str, Any], dict[str, Any]]:
    value = _value(node.scale)
    if isinstance(value, list):
        raise SpecError(
            "a Scale with different factors per neuron has no snnspec layer yet (`scale` holds "
            "one factor)"
        )
    return {"type": "scale", "scale": value, "trainable": False}, {}


def _conv_importer(dims: int) -> Importer:
    def convert(node: Any, options: ImportOptions) -> tuple[dict[str, Any], dict[str, Any]]:
        weight = _array(node.weight)
        if weight.ndim != dims + 2:
            raise SpecError(f"expected a {dims + 2}-D weight, got shape {list(weight.shape)}")
        padding = node.padding
        if isinstance(padding, bytes):
            padding = padding.decode()
        if isinstance(padding, np.ndarray) and padding.dtype.kind in "SUO":
            padding = str(padding.item())
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise SpecError(f"unsupported padding {padding!r}")
            padding_value: Any = padding.upper()
        else:
            padding_value = _ints(padding, dims)
        out_channels = weight.shape[0]
        bias = np.broadcast_to(_array(node.bias), (out_channels,))
        layer = {
            "type": f"conv{dims}d",
            "out_channels": out_channels,
            "kernel_size": list(weight.shape[2:]),
            "stride": _ints(node.stride, dims),
            "padding": padding_value,
            "dilation": _ints(node.dilation, dims),
            "groups": int(np.asarray(node.groups).item()),
        }
        return layer, {"weight": weight, "bias": np.array(bias).reshape(-1, *(1,) * dims)}

    return convert


def _pool_importer(type_name: str) -> Importer:
    def convert(node: Any, options: ImportOptions) -> tuple[dict[str, Any], dict[str, Any]]:
        layer = {
            "type": type_name,
            "kernel_size": _ints(node.kernel_size, 2),
            "stride": _ints(node.stride, 2),
            "padding": _ints(node.padding, 2),
        }
        return layer, {}

    return convert


def _import_flatten(node: Any, options: ImportOptions) -> tuple[dict[str, Any], dict[str, Any]]:
    start, end = int(node.start_dim), int(node.end_dim)
    if start == 0 and end == -1:
        return {"type": "flatten"}, {}
    shape = node.input_type.get("input") if node.input_type else None
    if shape is None:
        raise SpecError(
            f"Flatten with start_dim={start}, end_dim={end} needs its input_type to know the "
            "result's shape"
        )
    shape = [int(s) for s in np.asarray(shape).ravel()]
    stop = len(shape) if end == -1 else end + 1
    result = [*shape[:start], math.prod(shape[start:stop]), *shape[stop:]]
    if len(result) == 1:
        return {"type": "flatten"}, {}
    return {"type": "reshape", "shape": result}, {}


def _neuron_importer(type_name: str, fields: Sequence[str], leaky: bool, firing: bool) -> Importer:
    def convert(node: Any, options: ImportOptions) -> tuple[dict[str, Any], dict[str, Any]]:
        layer: dict[str, Any] = {"type": type_name}
        for name in fields:
            value = getattr(node, name)
            if value is None and name == "v_reset":
                value = 0.0
            layer[name] = _value(value)
        if leaky:
            layer["discretization"] = options.discretization
        if firing:
            recorded = (getattr(node, "metadata", None) or {}).get(RESET_METADATA, "value")
            layer["reset"] = options.reset or recorded
        if type_name in CUBA_TYPES and options.discretization == "euler":
            layer["current"] = cuba_current_of(node, options)[0]
        return layer, {}

    return convert


def _import_threshold(node: Any, options: ImportOptions) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"type": "nir_threshold", "threshold": _value(node.threshold)}, {}


def _import_delay(node: Any, options: ImportOptions) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"type": "nir_delay", "delay": _value(node.delay)}, {}


CUBA_TYPES = ("nir_cuba_li", "nir_cuba_lif")
"""The current-based layer types, whose Euler update order is the ``current`` field."""

IMPORTERS: dict[str, Importer] = {
    "Affine": _import_affine,
    "Linear": _import_linear,
    "Scale": _import_scale,
    "Conv1d": _conv_importer(1),
    "Conv2d": _conv_importer(2),
    "SumPool2d": _pool_importer("sum_pool2d"),
    "AvgPool2d": _pool_importer("avg_pool2d"),
    "Flatten": _import_flatten,
    "LI": _neuron_importer("nir_li", ("tau", "r", "v_leak"), leaky=True, firing=False),
    "LIF": _neuron_importer(
        "nir_lif", ("tau", "r", "v_leak", "v_threshold", "v_reset"), leaky=True, firing=True
    ),
    "CubaLI": _neuron_importer(
        "nir_cuba_li", ("tau_syn", "tau_mem", "r", "v_leak", "w_in"), leaky=True, firing=False
    ),
    "CubaLIF": _neuron_importer(
        "nir_cuba_lif",
        ("tau_syn", "tau_mem", "r", "v_leak", "w_in", "v_threshold", "v_reset"),
        leaky=True,
        firing=True,
    ),
    "IF": _neuron_importer("nir_if", ("r", "v_threshold", "v_reset"), leaky=False, firing=True),
    "I": _neuron_importer("nir_i", ("r",), leaky=False, firing=False),
    "Threshold": _import_threshold,
    "Delay": _import_delay,
}
"""NIR node type name -> converter to (layer entry, arrays keyed by field)."""


class NIRTypeCheckError(SpecError):
    """A NIR file that reads without NIR's type check but fails it: the declared node types
    disagree. ``from_nir(..., type_check=False)`` imports it with the types inferred."""


def read_nir(path: str | os.PathLike[str], *, type_check: bool = True) -> Any:
    """``nir.read`` with a located error; a failed type check is a :class:`NIRTypeCheckError`."""
    nir = _require_nir()
    try:
        return nir.read(path, type_check=type_check)
    except Exception as error:
        failure = error
    if type_check:
        try:
            nir.read(path, type_check=False)
        except Exception:
            pass
        else:
            raise NIRTypeCheckError(
                f"the node types declared in the file do not agree (NIR's type check: "
                f"{failure}); import it without the type check to infer the types from the "
                "nodes",
                file=str(path),
            ) from None
    raise SpecError(f"cannot read NIR file: {failure}", file=str(path)) from None


def _read_graph(graph: Any, type_check: bool) -> Any:
    if isinstance(graph, str) or hasattr(graph, "__fspath__"):
        return read_nir(graph, type_check=type_check)
    return graph


def _declared_type_mismatches(
    flat: _FlatGraph, names: Mapping[str, str], sources: Mapping[str, list[str]], plan: Any
) -> list[str]:
    """The file's declared node types that disagree with the shapes snnspec inferred."""
    pairs = zip(plan.layer_names, plan.layer_output_shapes, strict=True)
    shapes = {layer: tuple(shape) for layer, shape in pairs}
    shapes.update(zip(plan.input_names, map(tuple, plan.input_shapes), strict=True))
    found = []
    for node_name, node in flat.nodes.items():
        kind = flat.kinds[node_name]
        if kind == "output":
            feeds = sources[node_name]
            inferred = shapes.get(names[feeds[0]]) if len(feeds) == 1 else None
            declared = (getattr(node, "output_type", None) or {}).get("output")
        elif kind == "node":
            inferred = shapes.get(names[node_name])
            declared = next(iter((getattr(node, "output_type", None) or {}).values()), None)
        else:
            continue
        if declared is None or inferred is None:
            continue
        declared_shape = tuple(int(d) for d in np.ravel(declared))
        if declared_shape != inferred:
            found.append(
                f"node '{node_name}' declares output type {list(declared_shape)}; "
                f"inferred {list(inferred)}"
            )
    return found


def from_nir(
    graph: nir.NIRGraph | str | Any,
    dt: float | None = None,
    *,
    name: str = "nir-import",
    dtype: str = "float32",
    discretization: str = "euler",
    reset: str | None = None,
    cuba_current: str | None = None,
    type_check: bool = True,
    notes: Callable[[str], object] | None = None,
) -> tuple[ModelSpec, dict[str, np.ndarray]]:
    """A spec and its arrays (``<layer>.<field>``) from a NIR graph or ``.nir`` file.

    ``dt`` (seconds per step, default 1e-3) discretises the continuous-time nodes with
    ``discretization`` (``euler`` or ``exact``); ``reset`` (``value``, NIR's definition, or
    ``subtract``) is the reset of the spiking nodes, by default each node's reset as snnspec's
    export recorded it (``subtract``), else ``value``; ``cuba_current`` (``previous`` or
    ``updated``; default: per node from the file's metadata, see :func:`cuba_current_of`)
    the Euler update order of the current-based nodes. ``type_check=False`` reads a file
    whose declared node types disagree and infers the types from the nodes. Weights and
    biases are returned as arrays; neuron constants are written into the spec (a number, or a
    per-neuron list). ``notes`` receives one line per choice made from the file (the update
    order picked, each declared type that was ignored).
    """
    from ..graph.plan import plan_graph
    from ..spec.model import ModelSpec

    if discretization not in ("euler", "exact"):
        raise SpecError(f"discretization must be euler or exact, got {discretization!r}")
    if reset not in (None, "value", "subtract"):
        raise SpecError(f"reset must be value or subtract, got {reset!r}")
    if cuba_current not in (None, "previous", "updated"):
        raise SpecError(f"cuba_current must be previous or updated, got {cuba_current!r}")
    if cuba_current == "updated" and discretization == "exact":
        raise SpecError(
            "the current-based update order 'updated' applies to the euler discretisation "
            "only (exact solves the coupled system over the step)"
        )
    graph = _read_graph(graph, type_check)
    if type(graph).__name__ != "NIRGraph":
        raise SpecError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    options = ImportOptions(
        discretization, reset, cuba_current, _producer(getattr(graph, "metadata", None))
    )
    note = notes or (lambda line: None)
    flat = _FlatGraph()
    _flatten(graph, "", flat, top=True)
    _remove_pass_nodes(flat)
    names = _safe_names(list(flat.nodes))
    sources: dict[str, list[str]] = {n: [] for n in flat.nodes}
    for s, t in flat.edges:
        if flat.kinds[t] == "input":
            raise SpecError(f"NIR Input node '{t}' has an incoming edge from '{s}'")
        if flat.kinds[s] == "output":
            raise SpecError(f"NIR Output node '{s}' has an outgoing edge to '{t}'")
        if s not in sources[t]:
            sources[t].append(s)

    inputs = []
    for node_name, kind in flat.kinds.items():
        if kind != "input":
            continue
        if not any(s == node_name for s, _ in flat.edges):
            raise SpecError(f"NIR Input node '{node_name}' feeds no node")
        shape = flat.nodes[node_name].input_type["input"]
        if shape is None:
            raise SpecError(f"NIR Input node '{node_name}' has no shape")
        inputs.append({"name": names[node_name], "shape": [int(s) for s in np.ravel(shape)]})
    if not inputs:
        raise SpecError("the NIR graph has no Input node")

    compute = [n for n, kind in flat.kinds.items() if kind == "node"]
    inner_edges = [(s, t) for s, t in flat.edges if s in compute and t in compute]
    layers: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for node_name in execution_order(compute, inner_edges):
        node = flat.nodes[node_name]
        kind = type(node).__name__
        converter = IMPORTERS.get(kind)
        if converter is None:
            raise SpecError(
                f"NIR node '{node_name}' has type {kind}, which snnspec cannot import; "
                f"supported: {', '.join(sorted(IMPORTERS))}"
            )
        if not sources[node_name]:
            raise SpecError(f"NIR node '{node_name}' ({kind}) has no incoming edge")
        try:
            layer, node_arrays = converter(node, options)
        except SpecError as error:
            raise SpecError(f"NIR node '{node_name}' ({kind}): {error.message}") from None
        layer = {
            "name": names[node_name],
            **layer,
            "inputs": [names[s] for s in sources[node_name]],
        }
        if len(sources[node_name]) > 1:
            layer["combine"] = "sum"
        if "current" in layer:
            order, why = cuba_current_of(node, options)
            note(f"NIR node '{node_name}' ({kind}): current-based update order '{order}' ({why})")
        layers.append(layer)
        arrays.update({f"{names[node_name]}.{k}": v for k, v in node_arrays.items()})

    outputs = _import_outputs(flat, sources, names, layers)
    data = {
        "snnspec": 1,
        "name": name,
        "description": "Imported from NIR.",
        "dtype": dtype,
        "dt": DEFAULT_DT if dt is None else float(dt),
        "inputs": inputs,
        "layers": layers,
        "outputs": outputs,
    }
    spec = _validate(data, ModelSpec)
    plan = plan_graph(spec)
    if not type_check:
        for line in _declared_type_mismatches(flat, names, sources, plan) or [
            "every declared node type agrees with the inferred shapes"
        ]:
            note(f"type check skipped: {line}")
    return spec, arrays


def _import_outputs(
    flat: _FlatGraph,
    sources: Mapping[str, list[str]],
    names: Mapping[str, str],
    layers: list[dict[str, Any]],
) -> list[str]:
    """Final layers: the single layer feeding each Output node, else a summing identity."""
    layer_names = {layer["name"] for layer in layers}
    outputs: list[str] = []
    output_nodes = [n for n, kind in flat.kinds.items() if kind == "output"]
    if not output_nodes:
        targets = {s for s, _ in flat.edges}
        sinks = [
            layer["name"] for layer in layers if layer["name"] not in {names[t] for t in targets}
        ]
        if not sinks:
            raise SpecError("the NIR graph has no Output node and no layer without successors")
        return sinks
    for node_name in output_nodes:
        feeds = [names[s] for s in sources[node_name]]
        if not feeds:
            raise SpecError(f"NIR Output node '{node_name}' has no incoming edge")
        if len(feeds) == 1 and feeds[0] in layer_names and feeds[0] not in outputs:
            outputs.append(feeds[0])
            continue
        identity: dict[str, Any] = {"name": names[node_name], "type": "identity", "inputs": feeds}
        if len(feeds) > 1:
            identity["combine"] = "sum"
        layers.append(identity)
        outputs.append(names[node_name])
    return outputs


def _validate(data: dict[str, Any], model: Any) -> ModelSpec:
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as error:
        detail = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in detail["loc"])
        raise SpecError(f"the imported spec is invalid at {where}: {detail['msg']}") from None


# =============================================================================================
# Export
# =============================================================================================


@dataclass(frozen=True)
class _Layer:
    """What an exporter sees of one layer."""

    name: str
    type: str
    module: Any
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    dt: float | None
    discretization: str


Exporter = Callable[[_Layer], Any]


def _full(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.array(np.broadcast_to(np.asarray(value, dtype=np.float64), shape))


def _export_linear(layer: _Layer) -> Any:
    nir = _require_nir()
    weight = np.asarray(layer.module.weight, dtype=np.float64)
    if layer.module.bias is None:
        return nir.Linear(weight=weight)
    return nir.Affine(weight=weight, bias=np.asarray(layer.module.bias, dtype=np.float64))


def _export_scale(layer: _Layer) -> Any:
    nir = _require_nir()
    return nir.Scale(scale=_full(layer.module.scale, layer.input_shape))


def _symmetric(padding: Any, layer: _Layer) -> list[int]:
    values = []
    for low, high in padding:
        if low != high:
            raise SpecError(
                f"layer '{layer.name}' pads {low} before and {high} after; NIR pads symmetrically"
            )
        values.append(int(low))
    return values


def _export_conv(layer: _Layer) -> Any:
    nir = _require_nir()
    module = layer.module
    dims = module.num_spatial_dims
    if isinstance(module.padding, str):
        padding: Any = module.padding.lower()
    else:
        padding = _symmetric(module.padding, layer)
    weight = np.asarray(module.weight, dtype=np.float64)
    bias = (
        np.zeros(weight.shape[0])
        if module.bias is None
        else np.asarray(module.bias, dtype=np.float64).reshape(-1)
    )
    spatial = layer.input_shape[1:]
    if dims == 1:
        return nir.Conv1d(
            input_shape=int(spatial[0]),
            weight=weight,
            stride=int(module.stride[0]),
            padding=padding if isinstance(padding, str) else padding[0],
            dilation=int(module.dilation[0]),
            groups=int(module.groups),
            bias=bias,
        )
    return nir.Conv2d(
        input_shape=tuple(int(s) for s in spatial),
        weight=weight,
        stride=tuple(int(s) for s in module.stride),
        padding=padding if isinstance(padding, str) else tuple(padding),
        dilation=tuple(int(s) for s in module.dilation),
        groups=int(module.groups),
        bias=bias,
    )


def _pool_exporter(kind: str) -> Exporter:
    def export(layer: _Layer) -> Any:
        nir = _require_nir()
        module = layer.module
        padding = module.padding
        if padding and isinstance(padding[0], tuple | list):
            padding = _symmetric(padding, layer)
        node = getattr(nir, kind)(
            kernel_size=np.array(module.kernel_size),
            stride=np.array(module.stride),
            padding=np.array(padding),
        )
        node.input_type = {"input": np.array(layer.input_shape)}
        node.output_type = {"output": np.array(layer.output_shape)}
        return node

    return export


def _export_flatten(layer: _Layer) -> Any:
    nir = _require_nir()
    return nir.Flatten(input_type={"input": np.array(layer.input_shape)}, start_dim=0, end_dim=-1)


def _flattened_axes(name: str, before: tuple[int, ...], after: tuple[int, ...]) -> tuple[int, int]:
    """(start_dim, end_dim) of the NIR Flatten that reshapes ``before`` to ``after``: a
    reshape that merges consecutive axes (what import makes of a partial Flatten), else a
    SpecError naming layer ``name``."""
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    kept = len(after) - start - 1  # axes after the merged one, equal on both sides
    end = len(before) - kept - 1
    if (
        kept < 0
        or end < start
        or before[end + 1 :] != after[start + 1 :]
        or math.prod(before[start : end + 1]) != after[start]
    ):
        raise SpecError(
            f"layer '{name}' reshapes {list(before)} to {list(after)}, which is not a "
            "flattening of consecutive axes (NIR's Flatten)"
        )
    return start, end


def _export_reshape(layer: _Layer) -> Any:
    nir = _require_nir()
    before = layer.input_shape
    start, end = _flattened_axes(layer.name, before, layer.output_shape)
    return nir.Flatten(input_type={"input": np.array(before)}, start_dim=start, end_dim=end)


def _params(layer: _Layer, *names: str) -> dict[str, np.ndarray]:
    return {name: _full(getattr(layer.module, name), layer.input_shape) for name in names}


def _continuous_exporter(kind: str, names: tuple[str, ...], firing: bool) -> Exporter:
    def export(layer: _Layer) -> Any:
        nir = _require_nir()
        node = getattr(nir, kind)(**_params(layer, *names))
        if firing and layer.module.reset == "subtract":  # NIR's nodes reset to v_reset
            node.metadata[RESET_METADATA] = "subtract"
        if layer.type in CUBA_TYPES and layer.module.discretization == "euler":
            node.metadata[CUBA_CURRENT_KEY] = layer.module.current
        return node

    return export


def _export_threshold(layer: _Layer) -> Any:
    nir = _require_nir()
    return nir.Threshold(threshold=_params(layer, "threshold")["threshold"])


def _export_delay(layer: _Layer) -> Any:
    nir = _require_nir()
    module, dt = layer.module, _need_dt(layer)
    steps = np.asarray(module.steps, dtype=np.float64)
    delay = (
        steps.reshape(layer.input_shape)
        if module.per_neuron
        else _full(steps[0], layer.input_shape)
    )
    return nir.Delay(delay=delay * dt)


def _need_dt(layer: _Layer) -> float:
    if layer.dt is None:
        raise SpecError(
            f"layer '{layer.name}' ({layer.type}) needs dt to be written in seconds; pass dt="
        )
    return layer.dt


def _tau(layer: _Layer, decay: np.ndarray, what: str) -> np.ndarray:
    """τ with the same per-step decay: dt/(1-α) (euler) or -dt/ln α (exact)."""
    dt = _need_dt(layer)
    decay = np.clip(decay, 0.5, 1.0)
    if np.any(decay >= 1.0):
        raise SpecError(
            f"layer '{layer.name}' ({layer.type}) has a {what} decay of 1 (no leak): NIR's "
            "time constant would be infinite"
        )
    if layer.discretization == "exact":
        return -dt / np.log(decay)
    return dt / (1.0 - decay)


def _decays(layer: _Layer) -> np.ndarray:
    values = np.asarray(layer.module.decay_constants, dtype=np.float64)
    return np.stack([_full(v, layer.input_shape) for v in values])


def _snnax_reset(layer: _Layer) -> np.ndarray:
    """v_reset of a `zero` or `value` reset (the others are refused by `_check_plan`)."""
    module = layer.module
    if module.reset == "zero":
        return np.zeros(layer.input_shape)
    return _full(module.reset_val, layer.input_shape)


def _export_simple_li(layer: _Layer) -> Any:
    nir = _require_nir()
    shape = layer.input_shape
    tau = _tau(layer, _decays(layer)[0], "membrane")
    return nir.LI(tau=tau, r=np.ones(shape), v_leak=np.zeros(shape))


def _export_simple_lif(layer: _Layer) -> Any:
    nir = _require_nir()
    shape = layer.input_shape
    return nir.LIF(
        tau=_tau(layer, _decays(layer)[0], "membrane"),
        r=np.ones(shape),
        v_leak=np.zeros(shape),
        v_threshold=_full(layer.module.threshold, shape),
        v_reset=_snnax_reset(layer),
    )


def _export_lif(layer: _Layer) -> Any:
    nir = _require_nir()
    shape = layer.input_shape
    decays = _decays(layer)
    return nir.CubaLIF(
        tau_syn=_tau(layer, decays[1], "current"),
        tau_mem=_tau(layer, decays[0], "membrane"),
        r=np.ones(shape),
        v_leak=np.zeros(shape),
        v_threshold=_full(layer.module.threshold, shape),
        v_reset=_snnax_reset(layer),
        w_in=np.ones(shape),
    )


def _export_simple_iaf(layer: _Layer) -> Any:
    nir = _require_nir()
    if np.any(np.asarray(layer.module.leak) != 0):
        raise SpecError(
            f"layer '{layer.name}' (simple_iaf) has a constant leak, which NIR's IF lacks"
        )
    shape = layer.input_shape
    return nir.IF(
        r=np.full(shape, 1.0 / _need_dt(layer)),
        v_threshold=_full(layer.module.threshold, shape),
        v_reset=_snnax_reset(layer),
    )


EXPORTERS: dict[str, Exporter] = {
    "linear": _export_linear,
    "scale": _export_scale,
    "conv1d": _export_conv,
    "conv2d": _export_conv,
    "sum_pool2d": _pool_exporter("SumPool2d"),
    "avg_pool2d": _pool_exporter("AvgPool2d"),
    "flatten": _export_flatten,
    "reshape": _export_reshape,
    "nir_li": _continuous_exporter("LI", ("tau", "r", "v_leak"), firing=False),
    "nir_lif": _continuous_exporter(
        "LIF", ("tau", "r", "v_leak", "v_threshold", "v_reset"), firing=True
    ),
    "nir_cuba_li": _continuous_exporter(
        "CubaLI", ("tau_syn", "tau_mem", "r", "v_leak", "w_in"), firing=False
    ),
    "nir_cuba_lif": _continuous_exporter(
        "CubaLIF",
        ("tau_syn", "tau_mem", "r", "v_leak", "w_in", "v_threshold", "v_reset"),
        firing=True,
    ),
    "nir_if": _continuous_exporter("IF", ("r", "v_threshold", "v_reset"), firing=True),
    "nir_i": _continuous_exporter("I", ("r",), firing=False),
    "nir_threshold": _export_threshold,
    "nir_delay": _export_delay,
    "simple_li": _export_simple_li,
    "simple_lif": _export_simple_lif,
    "lif": _export_lif,
    "simple_iaf": _export_simple_iaf,
}
"""snnspec layer type -> converter to a NIR node (exact mappings only)."""


def to_nir(
    spec_or_model: ModelSpec | StatefulModel,
    *,
    dt: float | None = None,
    params: Any = None,
    discretization: str = "euler",
    partial_params: bool | None = None,
) -> nir.NIRGraph:
    """The NIR graph of a spec (compiled with its params file and ``params``) or a model.

    ``dt`` defaults to the spec's; a model needs it only when it has SNNAX-equation neurons
    (their decay constants become time constants through ``discretization``, which must be
    the rule the graph will be imported with: ``euler``, snnspec's default, or ``exact``).
    ``partial_params`` is passed to :func:`snnspec.compile` with the spec.
    """
    from ..spec.model import ModelSpec

    if discretization not in ("euler", "exact"):
        raise SpecError(f"discretization must be euler or exact, got {discretization!r}")
    if isinstance(spec_or_model, ModelSpec):
        from ..graph.plan import plan_graph

        dt = spec_or_model.dt if dt is None else dt
        _check_plan(plan_graph(spec_or_model), dt, discretization)  # before JAX, before weights
        _require_nir()  # a missing package too
        from ..model.compile import compile as compile_spec

        model = compile_spec(spec_or_model, params=params, partial_params=partial_params)
    else:
        model = spec_or_model
        if dt is None:
            found = {getattr(m, "dt", None) for m in model.layers} - {None}
            dt = found.pop() if len(found) == 1 else None
        _check_plan(model.plan, dt, discretization)
    nir = _require_nir()
    plan = model.plan
    names = plan.layer_names
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for k, input_name in enumerate(plan.input_names):
        nodes[input_name] = nir.Input(input_type={"input": np.array(plan.input_shapes[k])})
    delayed = _delayed_edges(plan)
    resting = _resting_outputs(model)
    for i, name in enumerate(names):
        layer_type = plan.layer_types[i]
        exporter = EXPORTERS[layer_type]
        for source in plan.sources[i]:
            source_name = (plan.input_names if source.kind == "input" else names)[source.index]
            if (i, source) in delayed:
                assert dt is not None, "checked by _check_plan"
                if np.any(resting[source.index] != 0):
                    raise SpecError(
                        f"layer '{name}' reads '{source_name}' one step late outside a cycle, "
                        f"and before the first step '{source_name}' shows a non-zero resting "
                        "output, while NIR's Delay starts from zero"
                    )
                delay = _unique(f"{name}.delay.{source_name}", nodes, names)
                nodes[delay] = nir.Delay(delay=np.full(plan.layer_output_shapes[source.index], dt))
                edges += [(source_name, delay), (delay, name)]
            else:
                edges.append((source_name, name))
        module = model.layers[i]
        layer = _Layer(
            name,
            layer_type,
            module,
            plan.layer_input_shapes[i],
            plan.layer_output_shapes[i],
            dt,
            discretization,
        )
        nodes[name] = exporter(layer)
    for i in plan.final_layer_ids:
        output = _unique(
            "output" if len(plan.final_layer_ids) == 1 else f"output.{names[i]}", nodes, names
        )
        nodes[output] = nir.Output(output_type={"output": np.array(plan.layer_output_shapes[i])})
        edges.append((names[i], output))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _delayed_edges(plan: GraphPlan) -> set[tuple[int, Source]]:
    """(layer, source) edges read one step late outside a cycle: NIR Delay nodes of dt."""
    component = [0] * len(plan.sources)
    for c, members in enumerate(strongly_connected_components(layer_successors(plan))):
        for i in members:
            component[i] = c
    return {
        (i, s)
        for i, sources in enumerate(plan.sources)
        for s in sources
        if s.delayed and not (component[s.index] == component[i] and s.index >= i)
    }


_SNNAX_EXPORTS = ("simple_li", "simple_lif", "lif", "simple_iaf")
"""SNNAX-equation neurons with an exact NIR mapping (no subtract or none reset)."""


def _check_plan(plan: GraphPlan, dt: float | None, discretization: str) -> None:
    """Refuse what the spec alone decides NIR cannot express, before any weight is made.

    What depends on values (a decay of 1, a constant leak, a non-zero resting output read
    one step late) is checked by the exporters on the built model.
    """
    delayed = _delayed_edges(plan)
    for i, (name, layer) in enumerate(zip(plan.layer_names, plan.layers, strict=True)):
        sources = plan.sources[i]
        if layer.combine == "concat" and len(sources) > 1:
            raise SpecError(
                f"layer '{name}' concatenates {len(sources)} sources; NIR sums the edges into a "
                "node (use combine: sum)"
            )
        if layer.type not in EXPORTERS:
            raise SpecError(
                f"layer '{name}' has type {layer.type}, which has no exact NIR equivalent; "
                f"exportable: {', '.join(sorted(EXPORTERS))}"
            )
        late = [s for s in sources if (i, s) in delayed]
        if late and dt is None:
            source = plan.source_name(late[0]).removesuffix("@t-1")
            raise SpecError(
                f"layer '{name}' reads '{source}' one step late outside a cycle, "
                "which NIR writes as a Delay of dt seconds; pass dt="
            )
        if getattr(layer, "init", "zeros") != "zeros":
            raise SpecError(
                f"layer '{name}' ({layer.type}) starts from a random membrane state; NIR "
                "neurons start at rest"
            )
        reset = layer.reset_mode() if isinstance(layer, AbstractSpikingNeuronSpec) else None
        if layer.type in _SNNAX_EXPORTS and reset not in (None, "zero", "value"):
            raise SpecError(
                f"layer '{name}' ({layer.type}) resets by '{reset}', which NIR cannot "
                "express (NIR sets the potential to v_reset)"
            )
        if layer.type == "reshape":
            _flattened_axes(name, plan.layer_input_shapes[i], plan.layer_output_shapes[i])
        if layer.type == "lif" and discretization == "exact":
            raise SpecError(f"layer '{name}' (lif) matches NIR's CubaLIF only under the euler rule")
        padding, stride = getattr(layer, "padding", None), getattr(layer, "stride", 1)
        strides = stride if isinstance(stride, tuple) else (stride,)
        if isinstance(padding, str) and padding.lower() == "same" and any(v != 1 for v in strides):
            raise SpecError(
                f"layer '{name}': padding SAME with a stride > 1 has no NIR equivalent "
                "(NIR's 'same' follows PyTorch, stride 1 only); give the padding in numbers"
            )


def _resting_outputs(model: StatefulModel) -> list[np.ndarray]:
    """What each layer shows before the first step (read by delayed edges)."""
    from ..nn.neurons import AbstractNeuron

    states = model.init_state()
    return [
        np.asarray(layer.output(state) if isinstance(layer, AbstractNeuron) else state.output)
        for layer, state in zip(model.layers, states, strict=True)
    ]


def _unique(name: str, nodes: Mapping[str, Any], reserved: Sequence[str]) -> str:
    candidate, k = name, 2
    while candidate in nodes or candidate in reserved:
        candidate, k = f"{name}_{k}", k + 1
    return candidate
