"""The pydantic models of a spec file, and the translation of validation errors.

``ModelSpec`` mirrors SPEC section 1. The layer union is built from the registry, so a new
layer type is picked up here, in the JSON Schema and in the docs without edits to this file.
"""

import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from .._errors import PathElement, SchemaError, SpecError, UsageError, did_you_mean, suggest
from .layers.base import Bool, Count, Float, Int, Name, SpecModel
from .layers.composite import ParallelSpec, ResidualSpec
from .layers.sequential import SequentialSpec
from .loader import Document
from .registry import LAYER_TYPES, suggested_layer_type
from .train import TrainSpec

FORMAT_VERSION = 1

Layer = Annotated[
    Union[tuple(LAYER_TYPES.values())],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="type"),
]
"""Any registered layer, chosen by its ``type`` tag."""

for _block in (SequentialSpec, ResidualSpec, ParallelSpec):
    _block.model_rebuild(_types_namespace={"Layer": Layer})

DType = Literal["float32", "float64", "bfloat16", "float16"]
Timing = Literal["causal", "pipelined"]
Compat = Literal["snnax"]
Schedule = Literal["auto", "stepwise", "layerwise"]


class InputSpec(SpecModel):
    """An external input stream: its name and per-sample shape (no batch, no time axis)."""

    name: Name
    shape: tuple[Count, ...] = Field(max_length=8)


class TimeSpec(SpecModel):
    """Defaults for ``run`` when the input does not fix them."""

    steps: Count = Field(default=100, description="Number of time steps.")
    burnin: Annotated[int, Field(ge=0, strict=True)] = Field(
        default=0,
        description="Leading steps whose outputs are dropped and whose state is detached.",
    )

    @model_validator(mode="after")
    def _burnin_below_steps(self) -> "TimeSpec":
        if self.burnin >= self.steps:
            raise ValueError(f"burnin ({self.burnin}) must be smaller than steps ({self.steps})")
        return self


class GraphSpec(SpecModel):
    """The SNNAX graph: per layer, its external inputs and its source layers."""

    input_layer_ids: tuple[tuple[Int, ...], ...] | None = Field(
        default=None, description="Per layer: the external inputs that feed it."
    )
    input_connectivity: tuple[tuple[Int, ...], ...] | None = Field(
        default=None, description="Per layer: the layers that feed it."
    )
    final_layer_ids: tuple[Int, ...] | None = Field(
        default=None, description="Layers whose outputs are returned; default: the last layer."
    )
    timing: Timing = Field(
        default="causal",
        description="causal: an edge from a later layer (or a self loop) reads the previous "
        "step; pipelined: every layer-to-layer edge reads the previous step (SNNAX's code). "
        "Default: causal, or pipelined under `compat: snnax`.",
    )

    @model_validator(mode="after")
    def _both_lists_or_neither(self) -> "GraphSpec":
        if (self.input_layer_ids is None) != (self.input_connectivity is None):
            raise ValueError("give both input_layer_ids and input_connectivity, or neither")
        return self

    @property
    def has_index_form(self) -> bool:
        """True when the graph is given as index lists (rather than by names)."""
        return self.input_connectivity is not None or self.final_layer_ids is not None


class ModelSpec(SpecModel):
    """A whole model: inputs, layers, graph and run defaults (SPEC section 1)."""

    snnspec: Literal[1] = Field(description="Format version.")
    name: Name
    description: Annotated[str, Field(max_length=10_000, strict=True)] = ""
    seed: Annotated[int, Field(ge=0, le=2**32 - 1, strict=True)] = Field(
        default=0, description="Parameter init: key = PRNGKey(seed), layer i uses fold_in(key, i)."
    )
    dtype: DType = "float32"
    dt: Annotated[Float, Field(gt=0, le=1e6)] = Field(
        default=1e-3, description="Seconds per step (for layers parameterised by time constants)."
    )
    time: TimeSpec = TimeSpec()
    inputs: tuple[InputSpec, ...] = Field(min_length=1, max_length=1024)
    layers: tuple[Layer, ...] = Field(min_length=1, max_length=10_000)  # pyright: ignore[reportInvalidTypeForm]
    graph: GraphSpec | None = None
    outputs: tuple[Name, ...] | None = Field(
        default=None, description="Named form: the layers whose outputs are returned."
    )
    compat: Compat | None = Field(
        default=None,
        description="snnax: compute exactly what SNNAX's code does (its resets, its "
        "StatefulModel's pipelined timing...); options written in the spec are kept. The "
        "switches are listed in docs/extensions.md.",
    )
    params: Annotated[str, Field(strict=True, min_length=1)] | None = Field(
        default=None,
        description="Parameters file relative to the spec: .safetensors or .npz; it gives "
        "every parameter (a missing key is an error unless params_partial).",
    )
    params_partial: Bool = Field(
        default=False,
        description="Allow the params file to leave parameters out: they keep their seeded "
        "initial values, and the commands list them.",
    )
    schedule: Schedule = Field(
        default="auto",
        description="How the forward pass orders its work (never what it computes): "
        "stepwise scans all layers together step by step; layerwise runs the graph's strongly "
        "connected components in order, applying every stateless layer that is not on a cycle "
        "to all steps at once (one large matrix product); auto is layerwise except that a scan "
        "already running a matrix product per step keeps the stateless layers reading from it, "
        "and stepwise when nothing is left to apply at once.",
    )
    remat: Annotated[int, Field(ge=0, le=1_000_000, strict=True)] = Field(
        default=0,
        description="Rematerialisation of the time scans for backprop: 0 stores every step "
        "(fastest); 1 recomputes each step's body; K > 1 checkpoints every K steps, keeping "
        "about T/K states plus one chunk of K steps (K near sqrt(T) uses the least memory).",
    )
    train: TrainSpec | None = Field(
        default=None, description="Training recipe and data for `snnspec train`."
    )

    _document: Document | None = PrivateAttr(None)

    @field_validator("params_partial")
    @classmethod
    def _partial_needs_params(cls, partial: bool, info: Any) -> bool:
        if partial and info.data.get("params") is None:
            raise ValueError("a partial load needs a params file: add `params:` or remove this")
        return partial

    @property
    def document(self) -> Document | None:
        """The parsed file this spec came from (None when built in Python)."""
        return self._document

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the spec (``params``) are resolved against."""
        if self._document is None:
            return Path.cwd()
        return Path(self._document.source).resolve().parent

    @property
    def timing(self) -> str:
        """The graph timing: as written, else pipelined under ``compat: snnax``, else causal."""
        if self.graph is not None and "timing" in self.graph.model_fields_set:
            return self.graph.timing
        return "pipelined" if self.compat == "snnax" else "causal"

    @property
    def uses_named_form(self) -> bool:
        """True when the graph is given by ``inputs:`` on layers and top-level ``outputs:``."""
        return self.outputs is not None or any(layer.inputs is not None for layer in self.layers)

    def layer_names(self) -> tuple[str, ...]:
        """Layer names, with the default ``<type>_<index>`` where none is given."""
        return tuple(layer.name or f"{layer.type}_{i}" for i, layer in enumerate(self.layers))

    def error(
        self, path: Sequence[PathElement], message: str, kind: type[SpecError] = SpecError
    ) -> SpecError:
        """A ``kind`` error located at ``path`` of the source file when there is one."""
        if self._document is None:
            return kind(message, path=path)
        return self._document.error(path, message, kind)


SCHEMA_ID = "https://snnspec.dev/schemas/snnspec.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of spec files (``schemas/snnspec.schema.json`` is this, committed)."""
    schema = ModelSpec.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "snnspec model spec",
        **{key: value for key, value in schema.items() if key != "title"},
    }


def spec_from_document(document: Document) -> ModelSpec:
    """Validate a parsed document against the schema (no graph analysis)."""
    try:
        spec = ModelSpec.model_validate(document.data)
    except ValidationError as error:
        raise _schema_error(error, document) from None
    spec._document = document
    return spec


def _schema_error(error: ValidationError, document: Document) -> SpecError:
    """Every problem of a pydantic error as one located line each, the likeliest cause first."""
    problems = []
    for detail in error.errors(include_url=False):
        path = _data_path(detail["loc"], document.data)
        problems.append((document.locate(path), path, detail))
    # An error on a container that also has errors inside it (a tuple "too short" because its
    # items failed) only repeats them; an unknown key usually explains a missing one.
    paths = [path for _, path, _ in problems]
    problems = [p for p in problems if not any(q[: len(p[1])] == p[1] and q != p[1] for q in paths)]
    problems.sort(key=lambda p: (p[2]["type"] != "extra_forbidden", p[0][0] or 0, p[0][1] or 0))
    if any(path == ("snnspec",) for _, path, _ in problems):  # another format: nothing else counts
        problems = [p for p in problems if p[1] == ("snnspec",)]
    errors = []
    for path in dict.fromkeys(path for _, path, _ in problems):
        details = [d for _, p, d in problems if p == path]
        # A value that fits no member of a union fails once per member, all at the same path.
        alternatives = [d for d in details if d["type"] != "extra_forbidden"]
        if len(alternatives) > 1:
            options = dict.fromkeys(
                str(d["msg"]).removeprefix("Input should be ").removeprefix("Value error, ")
                for d in alternatives
            )
            message = f"expected {' or '.join(options)}, got {details[0]['input']!r}"
        else:
            message = _message(details[0], path, document.data)
        errors.append(document.error(path, message, SchemaError))
    first, *more = errors
    first.more = tuple(more)
    return first


def _data_path(loc: tuple[int | str, ...], data: Any) -> tuple[PathElement, ...]:
    """The path in the file: ``loc`` without the entries pydantic adds for unions.

    A discriminated union adds the tag (``layers.0.lif.threshold``); a plain union adds the
    member's type (``padding.constrained-int``). Neither is a key of the data.
    """
    path: list[PathElement] = []
    node: Any = data
    tag_seen = None
    for element in loc:
        if isinstance(node, Mapping) and element == node.get("type") and tag_seen is not node:
            tag_seen = node
            continue
        if node is not None and not isinstance(node, Mapping | list):
            break
        if isinstance(node, list) and not isinstance(element, int):
            continue
        path.append(element)
        if (isinstance(node, Mapping) and element in node) or (
            isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node)
        ):
            node = node[element]  # pyright: ignore[reportCallIssue, reportArgumentType]
        else:
            node = None
    return tuple(path)


def _message(detail: Mapping[str, Any], path: Sequence[PathElement], data: Any) -> str:
    kind = detail["type"]
    if kind == "extra_forbidden":
        key = str(path[-1])
        known = _allowed_keys(path[:-1], data)
        return f"unknown key '{key}'" + _hint(key, known)
    if kind == "union_tag_invalid":
        tag = detail["ctx"]["tag"]
        expected = [name.strip(" '") for name in detail["ctx"]["expected_tags"].split(",")]
        alias = suggested_layer_type(str(tag))
        if alias is not None and alias in expected:
            return f"unknown type '{tag}'" + did_you_mean(alias)
        return f"unknown type '{tag}'" + _hint(tag, expected)
    if kind == "union_tag_not_found":
        return "missing key 'type' (the layer or surrogate type)"
    if kind == "missing":
        return f"missing required key '{path[-1]}'"
    if kind == "literal_error" and tuple(path) == ("snnspec",):
        return (
            f"unsupported format version {detail['input']!r}; this snnspec reads "
            f"version {FORMAT_VERSION} (write `snnspec: {FORMAT_VERSION}`)"
        )
    message = str(detail["msg"]).removeprefix("Value error, ")
    if kind in ("string_pattern_mismatch",):
        message = (
            f"{detail['input']!r} is not a valid name: use ASCII letters, digits, '_', '.', '-', "
            "starting with a letter or '_'"
        )
    elif "input" in detail and not isinstance(detail["input"], Mapping | list):
        message += f", got {detail['input']!r}"
    return message


def _allowed_keys(path: Sequence[PathElement], data: Any) -> list[str]:
    """The keys accepted at ``path``, found by walking the model annotations along the data."""
    annotation: Any = ModelSpec
    node: Any = data
    for element in path:
        if isinstance(element, str):
            model = _model_in(annotation, node)
            info = model.model_fields.get(element) if model is not None else None
            if info is None:
                return []
            annotation = info.annotation
        node = node[element] if isinstance(node, Mapping | list) else None  # pyright: ignore[reportCallIssue, reportArgumentType]
    model = _model_in(annotation, node)
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any, node: Any) -> type[BaseModel] | None:
    """The model class an annotation gives to ``node`` (through Optional, tuples, unions)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _model_in(typing.get_args(annotation)[0], node)
    if origin in (Union, types.UnionType, tuple, list):
        candidates = [_model_in(arg, node) for arg in typing.get_args(annotation)]
        models = [model for model in candidates if model is not None]
        if isinstance(node, Mapping):
            tagged = [model for model in models if _tag(model) == node.get("type")]
            if tagged:
                return tagged[0]
        return models[0] if len(models) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _tag(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("type")
    return field.default if field is not None else None


def _hint(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` when a choice is close, else the list of choices."""
    return suggest(word, choices, f"; expected one of: {', '.join(choices)}" if choices else "")


def check_partial(partial: bool, spec: ModelSpec, extra: object = None) -> None:
    """A partial load (``partial_params``) needs a params file to apply to: the spec's
    ``params:`` or an ``extra`` one given beside it."""
    if partial and spec.params is None and extra is None:
        raise UsageError(
            "the spec names no params file (`params:`), so there is nothing to load partially",
            setting="partial_params",
        )
