"""Parameters files: ``.safetensors`` or ``.npz`` (never pickle).

Keys are ``<layer name>.<field>`` (``fc1.weight``, ``lif1.decay_constants``); members of
nested blocks add their index (``block.0.weight``). Missing keys keep their seeded
initialisation; an unknown key, or an array whose shape or dtype does not fit, is an error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._errors import ParamsError
from ._io import write_atomic

if TYPE_CHECKING:
    from ._model import StatefulModel

SUFFIXES = (".safetensors", ".npz")


def parameter_arrays(model: StatefulModel) -> dict[str, np.ndarray]:
    """Every array of the model keyed ``<layer>.<field>``, as NumPy arrays."""
    return {key: np.asarray(leaf) for key, (_, _, leaf) in _parameter_entries(model).items()}


def save_params(model: StatefulModel, path: str | os.PathLike[str]) -> None:
    """Write the model's arrays to ``path`` (.safetensors or .npz), atomically."""
    arrays = {key: np.asarray(value, order="C") for key, value in parameter_arrays(model).items()}
    suffix = _suffix(path)
    if suffix == ".safetensors":
        from safetensors.numpy import save_file

        write_atomic(path, lambda tmp: save_file(arrays, str(tmp)))
    else:
        write_atomic(path, lambda tmp: np.savez(tmp, **arrays))  # type: ignore[arg-type]


def read_params(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a params file into NumPy arrays; pickled objects are refused."""
    suffix = _suffix(path)
    if not Path(path).is_file():
        raise ParamsError(f"params file not found: {path}", file=str(path))
    try:
        if suffix == ".safetensors":
            from safetensors.numpy import load_file

            return dict(load_file(str(path)))
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except Exception as error:
        raise ParamsError(f"cannot read params file: {error}", file=str(path)) from None


def load_params(model: StatefulModel, path: str | os.PathLike[str]) -> StatefulModel:
    """``model`` with the arrays of the params file at ``path`` put in place."""
    return apply_params(model, read_params(path), source=str(path))


def apply_params(
    model: StatefulModel, arrays: dict[str, np.ndarray], source: str = "<params>"
) -> StatefulModel:
    """``model`` with the given arrays replacing the ones of the same key."""
    import equinox as eqx
    import jax.numpy as jnp

    entries = _parameter_entries(model)
    leaves = {key: leaf for key, (_, _, leaf) in entries.items()}
    keys, values = [], []
    for key, value in arrays.items():
        if key not in leaves:
            raise ParamsError(_unknown_key(key, list(leaves)), file=source, path=(key,))
        expected = leaves[key]
        if tuple(value.shape) != tuple(expected.shape):
            raise ParamsError(
                f"shape {list(value.shape)} does not fit the model's {list(expected.shape)}",
                file=source,
                path=(key,),
            )
        if not np.issubdtype(value.dtype, np.floating):
            raise ParamsError(
                f"dtype {value.dtype} is not a floating-point type (expected {expected.dtype})",
                file=source,
                path=(key,),
            )
        keys.append(key)
        values.append(jnp.asarray(value, dtype=expected.dtype))
    if not keys:
        return model

    def where(m: StatefulModel) -> list[Any]:
        return [_select(m.layers[entries[k][0]], entries[k][1]) for k in keys]

    return eqx.tree_at(where, model, values)


def _suffix(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ParamsError(
            f"unsupported params file type '{suffix}'; use .safetensors or .npz", file=str(path)
        )
    return suffix


def _unknown_key(key: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown parameter key{hint}; the model has: {', '.join(known) or 'no parameters'}"


def _key(layer_name: str, path: tuple[Any, ...]) -> str:
    """``fc1`` + ``.weight`` -> ``fc1.weight``; ``.layers[0].weight`` -> ``.0.weight``."""
    import jax

    parts = [layer_name]
    for element in path:
        if isinstance(element, jax.tree_util.GetAttrKey):
            parts.append(element.name)
        elif isinstance(element, jax.tree_util.SequenceKey):
            if parts[-1] == "layers" and len(parts) > 1:
                parts.pop()
            parts.append(str(element.idx))
        elif isinstance(element, jax.tree_util.DictKey):
            parts.append(str(element.key))
    return ".".join(parts)


def _parameter_entries(model: StatefulModel) -> dict[str, tuple[int, tuple[Any, ...], Any]]:
    """Key -> (layer index, path of the array inside the layer, the array).

    The initial values inside an ``eqx.nn.StateIndex`` (``batch_norm``'s running statistics)
    are state, not parameters, and are left out.
    """
    import equinox as eqx
    import jax

    def is_state(node: Any) -> bool:
        return isinstance(node, eqx.nn.StateIndex)

    entries = {}
    for index, (name, layer) in enumerate(zip(model.plan.layer_names, model.layers, strict=True)):
        arrays = eqx.filter(layer, eqx.is_array)
        flat, _ = jax.tree_util.tree_flatten_with_path(arrays, is_leaf=is_state)
        for path, leaf in flat:
            if not is_state(leaf):
                entries[_key(name, path)] = (index, tuple(path), leaf)
    return entries


def _select(node: Any, path: tuple[Any, ...]) -> Any:
    """The node at a ``tree_flatten_with_path`` path."""
    import jax

    for element in path:
        if isinstance(element, jax.tree_util.GetAttrKey):
            node = getattr(node, element.name)
        elif isinstance(element, jax.tree_util.SequenceKey):
            node = node[element.idx]
        else:
            node = node[element.key]
    return node
