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
from .layers.weights import BIAS_INIT_TYPES, WEIGHT_INIT_TYPES, AbstractWeightInitSpec
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
    lines += ["", "## Weight and bias initialisation", "", _doc_text(WEIGHTS_DOC), ""]
    lines += ["| scheme | options (default) | distribution | bias |", "|---|---|---|---|"]
    for name, cls in WEIGHT_INIT_TYPES.items():
        params = [f"`{key}` ({_default(info)})" for key, info in cls.model_fields.items()]
        options = ", ".join(params[1:]) or "-"
        bias = "yes" if name in BIAS_INIT_TYPES else "no"
        lines.append(f"| `{name}` | {options} | {cls.formula} | {bias} |")
    return "\n".join(lines) + "\n"


WEIGHTS_DOC = """
`weight_init` and `bias_init` on `linear` and `conv1d|2d|3d`: a scheme's name
(`weight_init: kaiming_uniform`) or a mapping with its options (`weight_init: {type: normal,
std: 0.01}`); neurons keep `init` for their initial state. n_in (fan_in) is `in_features`, or
for a convolution in_channels / groups times the kernel size; n_out (fan_out) is `out_features`,
or out_channels times the kernel size; g is `gain`, which multiplies the standard deviation.
Where `jax.nn.initializers` has the scheme, it draws the values, on Equinox's (out, in) and
(out, in / groups, *kernel) layouts (`in_axis=1`, `out_axis=0`; `orthogonal`: `column_axis=0`).
Layer i's key is `fold_in(PRNGKey(seed), i)`; split in two as Equinox splits it, the first half
draws the weight and the second the bias, so changing `weight_init` leaves the bias unchanged.
`default` is Equinox's own initialisation, value for value. A bias takes only the schemes not
defined by a matrix's fans; its `default` uses the layer's n_in.
"""


def _doc(cls: type[LayerSpec]) -> str:
    return _doc_text(cls.__doc__ or "")


def _doc_text(text: str) -> str:
    return " ".join(text.split())


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
        if all(isinstance(a, type) and issubclass(a, AbstractWeightInitSpec) for a in args):
            return "scheme"
        names = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(names) + (" \\| none" if type(None) in args else "")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        tag = annotation.model_fields.get("type")
        return f"`{{type: {tag.default}}}`" if tag is not None else annotation.__name__
    return getattr(annotation, "__name__", str(annotation))


if __name__ == "__main__":
    print(layers_markdown(), end="")
