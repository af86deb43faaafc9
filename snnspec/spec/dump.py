"""Spec -> text: the normalised spec that ``snnspec build`` writes.

The normalised form is the named form with everything explicit: every layer has its name,
its inferred fields (``in_features``...) and its ``inputs:`` in concat order, and
``outputs:`` lists the final layers. It always reproduces the same model, including concat
orders that the index form cannot express (an input listed before a layer).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from .._io import write_text_atomic
from ..graph.plan import GraphPlan, plan_graph, resolved_layers
from .model import ModelSpec


def normalized_data(spec: ModelSpec, plan: GraphPlan | None = None) -> dict[str, Any]:
    """The spec as plain data in the explicit named form."""
    plan = plan or plan_graph(spec)
    data = spec.model_dump(mode="json", exclude={"layers", "graph", "outputs"}, exclude_none=True)
    layers = []
    for layer, sources in zip(resolved_layers(plan), plan.sources, strict=True):
        entry = layer.model_dump(mode="json")  # defaults and nulls; unset time constants out
        entry["inputs"] = [plan.source_name(s).removesuffix("@t-1") for s in sources]
        entry["feedback"] = False  # a feedback edge is now listed in `inputs`
        layers.append(entry)
    data["layers"] = layers
    data["outputs"] = [plan.layer_names[i] for i in plan.final_layer_ids]
    if plan.timing != "causal" or spec.compat is not None:  # compat changes the default
        data["graph"] = {"timing": plan.timing}
    return data


def dumps(data: dict[str, Any], fmt: str = "yaml") -> str:
    """Plain spec data as YAML, JSON or TOML text."""
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "toml":
        return _toml(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def dump(spec: ModelSpec, path: str | os.PathLike[str]) -> None:
    """Write the normalised ``spec`` to ``path`` (.yaml/.yml, .json or .toml), atomically."""
    fmt = {".json": "json", ".toml": "toml"}.get(Path(path).suffix.lower(), "yaml")
    write_text_atomic(path, dumps(normalized_data(spec), fmt))


def _toml(data: dict[str, Any]) -> str:
    """Minimal TOML writer for spec data (tables, arrays of tables, inline values)."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in _without_nulls(data).items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables:
        lines += ["", f"[{key}]", *(f"{k} = {_toml_value(v)}" for k, v in table.items())]
    for key, items in arrays:
        for item in items:
            lines += ["", f"[[{key}]]", *(f"{k} = {_toml_value(v)}" for k, v in item.items())]
    return "\n".join(lines) + "\n"


def _without_nulls(value: Any) -> Any:
    """`value` without its null entries: TOML has no null, and a key left out means null."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
