"""Generate ``docs/layers.md`` from the registry: every layer type, its fields, equations.

Run ``python -m snnspec.spec.docs > docs/layers.md``; a test fails when the committed file drifts.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .layers.base import LayerSpec
from .layers.neurons import AbstractNeuronSpec, AbstractParametricNeuronSpec
from .registry import LAYER_TYPES, SURROGATE_TYPES

COMMON_FIELDS = ("type", "name", "inputs", "combine")


def layers_markdown() -> str:
    """The layer reference as Markdown."""
    lines = [
        "# Layer reference",
        "",
        "Generated from the layer registry by `python -m snnspec.spec.docs > docs/layers.md`; "
        "do not edit by hand.",
        "",
        "Every layer also takes `name` (default `<type>_<index>`), `inputs` (named form: its "
        "sources in concat order) and `combine` (`concat` along axis 0, the default, or `sum`).",
        "",
        "| type | family | summary |",
        "|---|---|---|",
    ]
    for name, cls in LAYER_TYPES.items():
        family = "neuron" if cls.stateful else "stateless"
        lines.append(f"| [`{name}`](#{name}) | {family} | {cls.summary()} |")
    for name, cls in LAYER_TYPES.items():
        lines += ["", f"## {name}", "", _doc(cls), ""]
        if issubclass(cls, AbstractNeuronSpec):
            lines += [f"Equations: `{cls.equations}`", ""]
            lines += [f"State: {', '.join(f'`{s}`' for s in cls.state_names)}.", ""]
            if cls.parameter_names:
                fields = ", ".join(f"`{name}`" for name in cls.parameter_names)
                lines += [f"Parameters (params-file fields): {fields}.", ""]
            if issubclass(cls, AbstractParametricNeuronSpec) and cls.time_constants:
                taus = ", ".join(
                    f"`{tau}` gives `{field}" + ("`" if index is None else f"[{index}]`")
                    for tau, (field, index) in cls.time_constants.items()
                )
                lines += [
                    f"Time constants (seconds, instead of the decay they give, decay = "
                    f"exp(-dt/τ) with the spec's `dt`): {taus}.",
                    "",
                ]
        fields = [(k, v) for k, v in cls.model_fields.items() if k not in COMMON_FIELDS]
        if fields:
            lines += ["| field | type | default | description |", "|---|---|---|---|"]
            lines += [_field_row(key, info) for key, info in fields]
    lines += [
        "",
        "## Surrogate gradients",
        "",
        "`surrogate: {type: NAME, ...}` on a spiking neuron. The forward pass is always "
        "H(x) with H(0) = 1, at x = v - threshold; the backward pass uses the derivative below.",
        "",
        "| type | parameter (default) | derivative |",
        "|---|---|---|",
    ]
    for name, cls in SURROGATE_TYPES.items():
        params = [
            f"`{key}` ({info.default})" for key, info in cls.model_fields.items() if key != "type"
        ]
        lines.append(f"| `{name}` | {', '.join(params) or '-'} | {cls.formula} |")
    return "\n".join(lines) + "\n"


def _doc(cls: type[LayerSpec]) -> str:
    return " ".join((cls.__doc__ or "").split())


def _field_row(key: str, info: FieldInfo) -> str:
    default = "required" if info.is_required() else _default(info)
    bounds = [
        f"{name} {getattr(meta, name)}"
        for meta in info.metadata
        for name in ("gt", "ge", "lt", "le")
        if getattr(meta, name, None) is not None
    ]
    description = (info.description or "") + (f" ({', '.join(bounds)})" if bounds else "")
    return f"| `{key}` | {_type_name(info.annotation)} | {default} | {description} |"


def _default(info: FieldInfo) -> str:
    value = info.get_default(call_default_factory=True)
    if value is PydanticUndefined:
        return "required"
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return f"`{value}`" if value is not None else "none"


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is tuple:
        return f"list of {_type_name(args[0])}"
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(names) + (" \\| none" if type(None) in args else "")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        tag = annotation.model_fields.get("type")
        return f"`{{type: {tag.default}}}`" if tag is not None else annotation.__name__
    return getattr(annotation, "__name__", str(annotation))


if __name__ == "__main__":
    print(layers_markdown(), end="")
