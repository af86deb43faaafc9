"""``path=value`` overrides (the command line's ``--set``): edit a parsed spec, validate it again.

A path is dotted: ``train.epochs``, ``layers.1.threshold``; a list item is chosen by its
index (``layers.1``, ``layers[1]``, ``layers.-1``) or by its ``name`` (``layers.lif1``).
Missing mapping keys are created, so ``train.optimizer.clip_norm=1.0`` works when the file
has no ``optimizer:``; the schema then decides whether the key exists. A value is parsed by
the same safe YAML loader as spec files (``0.5`` is a float, ``[0.9, 0.8]`` a list, ``null``
removes a setting) and the whole spec is validated again, so an override can never produce
a spec that a file could not. Errors caused by an override name it instead of the file:
`` `override train.epochs=0`: train.epochs: Input should be greater than or equal to 1``
(a :class:`~snnspec._errors.Hint` lets the command line say ``--set train.epochs=0``).

This module imports no JAX.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from .._errors import Hint, PathElement, SpecError
from .loader import parse_document
from .model import ModelSpec

_INDEX = re.compile(r"\[(-?\d+)\]")


@dataclasses.dataclass(frozen=True)
class Override:
    """One parsed override: the text as given, the key path and the parsed value."""

    text: str
    keys: tuple[str, ...]
    value: Any


def parse_override(text: str, *, setting: str = "override") -> Override:
    """Split ``path=value`` and parse the value with the safe YAML loader.

    ``setting`` names what gave ``text`` (``override``, a sweep's ``grid``); problems are
    located at `` `setting text` `` and hint at that setting.
    """
    hint = Hint(options=(setting,))
    source = override_source(text, setting)
    path, sep, raw = text.partition("=")
    path = _INDEX.sub(r".\1", path.strip())
    if not sep or not path:
        raise SpecError("expected PATH=VALUE, e.g. train.epochs=3", file=source, hint=hint)
    keys = tuple(path.split("."))
    if any(not key for key in keys):
        raise SpecError(f"empty key in path '{path}'", file=source, hint=hint)
    if not raw.strip():
        raise SpecError(
            "no value after '='; write null to remove a setting", file=source, hint=hint
        )
    try:
        value = parse_document(raw, "yaml", source=source).data
    except SpecError as error:
        raise error.with_hint(hint) from None
    return Override(text, keys, value)


def override_text(path: str, value: Any) -> str:
    """The ``PATH=VALUE`` text that sets ``path`` to the Python ``value``.

    The value is written as one line of YAML and read back by :func:`parse_override`, so a
    mapping of overrides is applied (and recorded) exactly as the same override text would be; a
    value that does not come back unchanged (a tuple, an array, NaN) is an error.
    """
    import yaml

    if "=" in path:
        raise SpecError("a path cannot contain '='", file=f"overrides[{path!r}]")
    if _plain(value):
        dumped = yaml.safe_dump(value, default_flow_style=True, width=float("inf"), sort_keys=False)
        dumped = dumped.removesuffix("\n").removesuffix("\n...").strip()
        text = f"{path}={dumped}"
        if "\n" not in dumped and _same(parse_override(text).value, value):
            return text
    raise SpecError(
        f"{value!r} cannot be given as an override; give a str of one line, an int, a float, "
        "a bool, None, or a list or dict (str keys) of them",
        file=f"overrides[{path!r}]",
    )


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    return value is None or type(value) in (str, int, float, bool)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 is not True, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


_HINT = Hint(options=("override",))


def override_source(text: str, setting: str = "override") -> str:
    """Where a problem an override causes is: the override itself, `` `override text` ``
    (``setting``: what gave it, e.g. a sweep's ``grid``)."""
    return f"`{setting} {text}`"


def apply_overrides(
    data: Any, overrides: Sequence[Override]
) -> tuple[Any, list[tuple[Override, tuple[PathElement, ...]]]]:
    """A copy of ``data`` with every override applied in order, and the path each one set."""
    data = copy.deepcopy(data)
    applied = []
    for override in overrides:
        applied.append((override, _set(data, override)))
    return data, applied


def resolved_text(spec: ModelSpec) -> str:
    """The final spec as YAML: the normalised named form with every default written out.

    Resolving this text again gives the same text (so its hash identifies the spec).
    """
    from .dump import dumps, normalized_data

    data = normalized_data(spec)
    for layer in data.get("layers", ()):
        if isinstance(layer, dict) and "inputs" in layer:
            layer["inputs"] = layer.pop("inputs")  # one key order, wherever inputs came from
    return dumps(data)


def _set(data: Any, override: Override) -> tuple[PathElement, ...]:
    source = override_source(override.text)
    node = data
    path: list[PathElement] = []
    keys = list(override.keys)
    while keys:
        key = keys.pop(0)
        last = not keys
        if isinstance(node, list):
            index = _list_index(node, key, keys, path, source)
            path.append(index)
            if last:
                node[index] = override.value
            else:
                node = node[index]
        elif isinstance(node, dict):
            path.append(key)
            if last:
                if override.value is None:
                    node.pop(key, None)
                else:
                    node[key] = override.value
            else:
                if node.get(key) is None:
                    node[key] = {}
                node = node[key]
        else:
            where = _show(path) or "the document"
            raise SpecError(
                f"cannot set '{key}' inside {where}: it is a {type(node).__name__}, "
                "not a mapping or a list",
                file=source,
                hint=_HINT,
            )
    return tuple(path)


def _list_index(
    node: list[Any], key: str, rest: list[str], path: list[PathElement], source: str
) -> int:
    """The index a path element names in a list: a number, or an item's ``name``."""
    if re.fullmatch(r"-?\d+", key):
        index = int(key)
        if not -len(node) <= index < len(node):
            raise SpecError(
                f"{_show(path)} has {len(node)} items; index {index} is out of range",
                file=source,
                hint=_HINT,
            )
        return index % len(node)
    names = [item.get("name") if isinstance(item, dict) else None for item in node]
    # Names may contain dots: take the longest run of path elements that is a name.
    for length in range(len(rest), -1, -1):
        candidate = ".".join([key, *rest[:length]])
        if candidate in names:
            del rest[:length]
            return names.index(candidate)
    known = ", ".join(str(n) for n in names if n is not None)
    raise SpecError(
        f"{_show(path)} has no item named '{key}'"
        + (f"; names: {known}" if known else "; use an index"),
        file=source,
        hint=_HINT,
    )


def _show(path: Sequence[PathElement]) -> str:
    from .._errors import format_path

    return format_path(path)


def blame(error: SpecError, applied: list[tuple[Override, tuple[PathElement, ...]]]) -> SpecError:
    """Attribute each problem at, inside or around an overridden path to its override."""
    blamed = error
    for override, path in reversed(applied):
        common = min(len(path), len(error.path))
        if error.path and tuple(error.path[:common]) == path[:common]:
            blamed = type(error)(
                error.message, file=override_source(override.text), path=error.path, hint=_HINT
            )
            break
    blamed.more = tuple(blame(problem, applied) for problem in error.more)
    return blamed
