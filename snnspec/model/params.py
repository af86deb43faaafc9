"""Parameters files: ``.safetensors`` or ``.npz`` (never pickle).

Keys are ``<layer name>.<field>`` (``fc1.weight``, ``lif1.decay_constants``); members of
nested blocks add their index (``block.0.weight``). A model's params file gives every
parameter: a missing key is an error naming it unless the load is partial by choice (the
spec's ``params_partial: true`` or ``partial_params=True``), and then the keys left at their
seeded initial values are reported. An unknown key, an array whose shape does not fit or
whose dtype is not the spec's ``dtype`` (float64 arrays are not cast to float32), and a value
outside the bounds the spec puts on its field (a decay constant below 0.5) are errors naming
the key.

A params file is untrusted input, so it is read in two passes. First its structure, read by
this module rather than by a library: the safetensors header (an 8-byte little-endian length,
then JSON) or the npz zip directory and the header of every ``.npy`` member. Every key,
dtype, shape and byte range is checked, the declared sizes must account for the file exactly
(truncation and trailing data are errors), object arrays (which need pickle) are refused, and
the shapes must fit the model and the total the memory budget. Only then is data read, and
every value must be finite. The reading half imports NumPy only, never JAX, so ``snnspec
validate`` checks the spec's params file too.
"""

from __future__ import annotations

import json
import math
import os
import stat
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from .._errors import Hint, ParamsError, suggest
from .._io import write_atomic

if TYPE_CHECKING:
    from ..graph.plan import GraphPlan
    from ..spec.layers.base import LayerSpec
    from ..spec.model import ModelSpec
    from .model import StatefulModel

Shape = tuple[int, ...]

SUFFIXES = (".safetensors", ".npz")
MAX_HEADER_BYTES = 8 << 20
"""Largest safetensors JSON header read (about 100,000 arrays); the library's own is 100 MB."""
MAX_RANK = 32
"""Most axes an array may declare (NumPy's own limit is 64)."""
_NPY_HEADER_BYTES = 10_000  # NumPy's default cap on a .npy header
_SAFETENSORS_FLOATS = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "BF16": "bfloat16"}
_SAFETENSORS_OTHERS = {
    "BOOL": "|b1",
    "U8": "|u1",
    "I8": "|i1",
    "U16": "<u2",
    "I16": "<i2",
    "U32": "<u4",
    "I32": "<i4",
    "U64": "<u8",
    "I64": "<i8",
}


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


def read_params(
    path: str | os.PathLike[str],
    expected: Mapping[str, Shape] | None = None,
    *,
    dtype: str | None = None,
    limit: int | None = None,
    display: str | None = None,
) -> dict[str, np.ndarray]:
    """Read a params file into NumPy arrays, checking everything before trusting anything.

    The header (safetensors) or zip directory and array headers (npz) are read and checked
    first: every key, dtype and shape, and that the declared sizes account for the file
    exactly (no truncation, no trailing data). With ``expected`` (key -> shape) keys and
    shapes are checked against the model too, with ``dtype`` every array's dtype; the
    declared bytes must fit ``limit`` (default: the memory budget). Only then is data read;
    pickled objects are never loaded and every value must be finite. ``display`` names the
    file in messages (default: ``path``).
    """
    from ..graph.resources import default_budget

    source = display if display is not None else os.fspath(path)
    entries, handle = _inspect(path, source)
    try:
        budget = default_budget() if limit is None else limit
        _check_entries(entries, expected, dtype, source, budget)
        return {entry.key: _read_entry(handle, entry, source) for entry in entries}
    finally:
        handle.close()


def inspect_arrays(path: str | os.PathLike[str], *, limit: int | None = None) -> dict[str, Shape]:
    """The shapes an npz or safetensors file declares, its structure checked; data unread.

    Any dtype but Python objects is accepted (run inputs may be integers or booleans); the
    declared bytes must fit ``limit``.
    """
    source = os.fspath(path)
    entries, reader = _inspect(path, source, "input file")
    reader.close()
    _check_budget(entries, source, limit)
    return {entry.key: entry.shape for entry in entries}


def check_params_file(
    spec: ModelSpec, plan: GraphPlan, limit: int | None = None, *, partial: bool | None = None
) -> list[str]:
    """Check the spec's ``params`` file against its layers without JAX (for ``validate``).

    Returns the keys the file leaves at their initial values (only a partial load, the
    spec's ``params_partial`` or ``partial``, may leave any).
    """
    files = params_files(spec)
    if not files:
        return []
    partial = spec.params_partial if partial is None else partial
    return read_model_params(plan, files, spec.dtype, partial=partial, limit=limit)[1]


def params_files(
    spec: ModelSpec, extra: str | os.PathLike[str] | None = None
) -> list[tuple[Path, str]]:
    """The params files a model of ``spec`` loads, in order, each with the name messages use:
    the spec's ``params`` (relative to the spec's folder), then ``extra`` (a command's)."""
    files = []
    if spec.params is not None:
        folder = os.path.dirname(spec.document.source) if spec.document is not None else ""
        files.append((spec.base_dir / spec.params, os.path.join(folder, spec.params)))
    if extra is not None:
        files.append((Path(extra), os.fspath(extra)))
    return files


def unloaded_keys(
    spec: ModelSpec, plan: GraphPlan, extra: str | os.PathLike[str] | None = None
) -> list[str]:
    """The parameters none of the params files of ``spec`` (and ``extra``) gives: the keys a
    partial load leaves at their seeded initial values (read from the files' headers only)."""
    given: set[str] = set()
    for path, display in params_files(spec, extra):
        entries, reader = _inspect(path, display)
        reader.close()
        given.update(entry.key for entry in entries)
    return [key for key in expected_shapes(plan) if key not in given]


def partial_note(
    spec: ModelSpec, plan: GraphPlan, extra: str | os.PathLike[str] | None = None
) -> str | None:
    """The note naming the parameters a partial load leaves at their seeded initial values."""
    left = unloaded_keys(spec, plan, extra)
    if len(left) == 1:
        return f"note: partial params: 1 parameter keeps its seeded initial value: {left[0]}"
    if left:
        return (
            f"note: partial params: {len(left)} parameters keep their seeded initial values: "
            + ", ".join(left)
        )
    return None


def read_model_params(
    plan: GraphPlan,
    files: Sequence[tuple[str | os.PathLike[str], str]],
    dtype: str,
    *,
    partial: bool = False,
    limit: int | None = None,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays of a model's params files (``(path, display name)``, later ones win), and
    the keys none of them gives.

    Every file is read by :func:`read_params` against the model's keys, shapes and
    ``dtype``; every value must fit the bounds its layer's spec puts on the field. A key that
    no file gives is an error unless ``partial``.
    """
    expected = expected_shapes(plan)
    owners = _parameter_owners(plan)
    arrays: dict[str, np.ndarray] = {}
    for path, display in files:
        read = read_params(path, expected, dtype=dtype, limit=limit, display=display)
        for key, array in read.items():
            layer, field = owners[key]
            problem = layer.parameter_problem(field, array)
            if problem is not None:
                raise _error(display, problem, key)
        arrays.update(read)
    missing = [key for key in expected if key not in arrays]
    if missing and not partial:
        names = ", ".join(display for _, display in files)
        shown = ", ".join(missing[:20])
        if len(missing) > 20:
            shown += f" and {len(missing) - 20} more"
        raise ParamsError(
            f"missing parameter{'s' * (len(missing) > 1)} {shown}: a params file gives every "
            "parameter of the model; to keep the missing ones at their seeded initial values "
            "on purpose, set `params_partial: true` in the spec or pass `partial_params=True`",
            file=names,
            hint=Hint(options=("partial_params",)),
        )
    return arrays, missing


def expected_shapes(plan: GraphPlan) -> dict[str, Shape]:
    """Every parameter key of the model of ``plan`` and its shape, from the layer specs."""
    return {
        f"{name}.{field}": tuple(shape)
        for name, layer, in_shape in zip(
            plan.layer_names, plan.layers, plan.layer_input_shapes, strict=True
        )
        for field, shape in layer.parameter_shapes(in_shape).items()
    }


def _parameter_owners(plan: GraphPlan) -> dict[str, tuple[LayerSpec, str]]:
    """Every parameter key -> its layer's spec and the field key within that layer."""
    return {
        f"{name}.{field}": (layer, field)
        for name, layer, in_shape in zip(
            plan.layer_names, plan.layers, plan.layer_input_shapes, strict=True
        )
        for field in layer.parameter_shapes(in_shape)
    }


def load_params(
    model: StatefulModel,
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    partial: bool = False,
) -> StatefulModel:
    """``model`` with the arrays of the params file(s) at ``path`` put in place.

    Several files are applied in order (a later one wins); together they must give every
    parameter unless ``partial``. See :func:`read_model_params` for the checks.
    """
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    files = [(p, os.fspath(p)) for p in paths]
    arrays, _ = read_model_params(model.plan, files, model.dtype, partial=partial)
    return apply_params(model, arrays, source=", ".join(name for _, name in files))


def _is_float(dtype: np.dtype) -> bool:
    """A floating-point dtype, bfloat16 (ml_dtypes, not a NumPy float subtype) included."""
    return dtype.kind == "f" or dtype.name == "bfloat16"


def apply_params(
    model: StatefulModel, arrays: dict[str, np.ndarray], source: str = "<params>"
) -> StatefulModel:
    """``model`` with the given arrays replacing the ones of the same key.

    This is the in-memory overlay of the Python API: it sets the keys it is given (cast to
    the model's dtype) and leaves the others; params files go through :func:`load_params`.
    """
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
        if not _is_float(value.dtype):
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
        return [node_at(m.layers[entries[k][0]], entries[k][1]) for k in keys]

    return eqx.tree_at(where, model, values)


def clamp_parameters(model: StatefulModel) -> tuple[StatefulModel, list[str]]:
    """``model`` with every clamped parameter set to the value it computes with, and the
    keys that changed.

    Neurons clamp some parameters at every step (decay constants to [0.5, 1], as SNNAX
    does); training can move a raw value past the range, where it acts as the range's end.
    Writing that end instead gives a params file within the spec's bounds and the same model.
    """
    import equinox as eqx
    import jax.numpy as jnp

    changed, where, values = [], [], []
    for key, (index, path, leaf) in _parameter_entries(model).items():
        owner = node_at(model.layers[index], path[:-1])
        name = getattr(path[-1], "name", None)
        ranges = getattr(owner, "clamps", {})
        if name not in ranges:
            continue
        clamped = jnp.clip(leaf, *ranges[name])
        if not bool(jnp.array_equal(clamped, leaf)):
            changed.append(key)
            where.append((index, path))
            values.append(clamped)
    if not changed:
        return model, []

    def select(m: StatefulModel) -> list[Any]:
        return [node_at(m.layers[index], path) for index, path in where]

    return eqx.tree_at(select, model, values), changed


def _suffix(path: str | os.PathLike[str], source: str | None = None) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ParamsError(
            f"unsupported params file type '{suffix}'; use .safetensors or .npz",
            file=str(path) if source is None else source,
        )
    return suffix


# --- reading untrusted params files ---------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One array as its file declares it: where its data are and what they should be."""

    key: str
    dtype: np.dtype[Any]
    shape: Shape
    nbytes: int
    location: int | zipfile.ZipInfo  # safetensors: offset in the file; npz: the member


class _Reader:
    """An open params file (and its zip archive for npz), closed together."""

    def __init__(self, handle: IO[bytes], archive: zipfile.ZipFile | None = None) -> None:
        self.handle = handle
        self.archive = archive

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()
        self.handle.close()


def _error(source: str, message: str, key: str | None = None) -> ParamsError:
    return ParamsError(message, file=source, path=() if key is None else (key,))


def _open_regular(
    path: str | os.PathLike[str], source: str, what: str = "params file"
) -> tuple[IO[bytes], int]:
    """A regular file opened for reading, and its size; never blocks on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise _error(source, f"{what} not found: check the path") from None
    except OSError as exc:
        raise _error(source, f"cannot read the {what}: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a special file"
        raise _error(source, f"the {what} is {kind}, not a regular file")
    return os.fdopen(fd, "rb"), info.st_size


def _inspect(
    path: str | os.PathLike[str], source: str, what: str = "params file"
) -> tuple[list[_Entry], _Reader]:
    """The declared arrays of a params file, every structural rule checked; data unread.

    A params file must be named .safetensors or .npz; another ``what`` (run inputs) is read
    as npz unless named .safetensors.
    """
    suffix = _suffix(path, source) if what == "params file" else Path(path).suffix.lower()
    handle, size = _open_regular(path, source, what)
    try:
        if suffix == ".safetensors":
            return _inspect_safetensors(handle, size, source), _Reader(handle)
        archive = _open_zip(handle, size, source)
        reader = _Reader(handle, archive)
        try:
            return _inspect_npz(archive, size, source), reader
        except BaseException:
            archive.close()
            raise
    except BaseException:
        handle.close()
        raise


class _DuplicateKey(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _inspect_safetensors(handle: IO[bytes], size: int, source: str) -> list[_Entry]:
    prefix = handle.read(8)
    if len(prefix) < 8:
        raise _error(
            source,
            f"truncated: a safetensors file starts with an 8-byte header length, "
            f"this file has {size} bytes",
        )
    length = int.from_bytes(prefix, "little")
    if length > MAX_HEADER_BYTES:
        raise _error(
            source,
            f"header length {length:,} bytes is over the limit of {MAX_HEADER_BYTES:,}: "
            "not a safetensors file, or a corrupt one",
        )
    if 8 + length > size:
        raise _error(
            source,
            f"truncated: the header needs {length:,} bytes, only {size - 8:,} follow",
        )
    try:
        header = json.loads(
            handle.read(length).decode("utf-8"),
            object_pairs_hook=_unique,
            parse_constant=_reject_constant,
        )
    except _DuplicateKey as duplicate:
        raise _error(source, "duplicate key in the safetensors header", str(duplicate)) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _error(
            source, "the header is not valid JSON: not a safetensors file, or a corrupt one"
        ) from None
    if not isinstance(header, dict):
        raise _error(source, "the header is not a JSON object: not a safetensors file")
    data_size = size - 8 - length
    entries: list[_Entry] = []
    spans: list[tuple[int, int, str]] = []
    for key, info in header.items():
        if key == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise _error(source, "__metadata__ must map strings to strings")
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise _error(source, "a header entry needs exactly dtype, shape and data_offsets", key)
        dtype = _safetensors_dtype(info["dtype"], key, source)
        shape = _shape(info["shape"], key, source)
        offsets = info["data_offsets"]
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1]
        ):
            raise _error(
                source, "data_offsets must be two integers [begin, end], 0 <= begin <= end", key
            )
        begin, end = offsets
        nbytes = math.prod(shape) * dtype.itemsize
        if end - begin != nbytes:
            raise _error(
                source,
                f"data_offsets [{begin}, {end}] span {end - begin:,} bytes but shape "
                f"{list(shape)} of {info['dtype']} needs {nbytes:,}",
                key,
            )
        if end > data_size:
            raise _error(
                source,
                f"truncated: the array ends at byte {end:,} of the data, "
                f"the file holds {data_size:,} bytes of data",
                key,
            )
        entries.append(_Entry(key, dtype, shape, nbytes, 8 + length + begin))
        spans.append((begin, end, key))
    position = 0
    for begin, end, key in sorted(spans):
        if begin < position:
            raise _error(source, "the array overlaps another one", key)
        if begin > position:
            raise _error(source, f"{begin - position:,} unaccounted bytes before the array", key)
        position = end
    if position < data_size:
        raise _error(source, f"trailing data: {data_size - position:,} bytes after the last array")
    return entries


def _safetensors_dtype(name: Any, key: str, source: str) -> np.dtype[Any]:
    if name == "BF16":
        try:
            import ml_dtypes
        except ImportError:  # pragma: no cover - ml_dtypes comes with JAX
            raise _error(source, "bfloat16 arrays need the ml_dtypes package", key) from None
        return np.dtype(ml_dtypes.bfloat16)
    if isinstance(name, str) and name in _SAFETENSORS_FLOATS:
        return np.dtype(_SAFETENSORS_FLOATS[name])
    if isinstance(name, str) and name in _SAFETENSORS_OTHERS:
        return np.dtype(_SAFETENSORS_OTHERS[name])
    shown = name if isinstance(name, str) else json.dumps(name)
    raise _error(source, f"unknown dtype {shown[:40]!r}; expected one of F16, BF16, F32, F64", key)


def _shape(value: Any, key: str, source: str) -> Shape:
    if not (
        isinstance(value, list)
        and len(value) <= MAX_RANK
        and all(type(n) is int and n >= 0 for n in value)
    ):
        raise _error(
            source, f"shape must be a list of at most {MAX_RANK} non-negative integers", key
        )
    return tuple(value)


def _open_zip(handle: IO[bytes], size: int, source: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError):
        raise _error(
            source, "not a valid npz file (a zip archive of .npy arrays), or a truncated one"
        ) from None
    try:
        infos = archive.infolist()
        if infos and min(info.header_offset for info in infos) != 0:
            raise _error(source, "unexpected data before the zip archive")
        handle.seek(max(size - 22 - len(archive.comment), 0))
        if handle.read(4) != b"PK\x05\x06":
            raise _error(source, "trailing data after the end of the zip archive")
    except BaseException:
        archive.close()
        raise
    return archive


def _inspect_npz(archive: zipfile.ZipFile, size: int, source: str) -> list[_Entry]:
    entries: list[_Entry] = []
    seen: set[str] = set()
    for info in archive.infolist():
        name = info.filename
        if not name.endswith(".npy"):
            raise _error(source, f"member {name[:80]!r} is not a .npy array")
        key = name.removesuffix(".npy")
        if key in seen:
            raise _error(source, "duplicate array in the archive", key)
        seen.add(key)
        if info.flag_bits & 0x1:
            raise _error(source, "encrypted zip members are not supported", key)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _error(
                source,
                f"zip compression method {info.compress_type} is not supported; "
                "write the file with numpy.savez or numpy.savez_compressed",
                key,
            )
        if info.header_offset + info.compress_size > size:
            raise _error(source, "truncated: the member's data run past the end of the file", key)
        try:
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    header = np.lib.format.read_array_header_1_0(
                        member, max_header_size=_NPY_HEADER_BYTES
                    )
                elif version == (2, 0):
                    header = np.lib.format.read_array_header_2_0(
                        member, max_header_size=_NPY_HEADER_BYTES
                    )
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
                header_end = member.tell()
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, SyntaxError):
            raise _error(source, "not a valid .npy array header", key) from None
        shape, _, dtype = header
        if dtype.hasobject:
            raise _error(
                source,
                "the array holds Python objects, which only pickle can read: refused "
                "(save numeric arrays)",
                key,
            )
        if len(shape) > MAX_RANK:
            raise _error(source, f"the array has {len(shape)} axes; the limit is {MAX_RANK}", key)
        nbytes = math.prod(shape) * dtype.itemsize
        held = info.file_size - header_end
        if held < nbytes:
            raise _error(
                source,
                f"truncated: shape {list(shape)} of {dtype} needs {nbytes:,} bytes, "
                f"the member holds {held:,}",
                key,
            )
        if held > nbytes:
            raise _error(source, f"trailing data: {held - nbytes:,} bytes after the array", key)
        entries.append(_Entry(key, dtype, tuple(shape), nbytes, info))
    return entries


def _check_entries(
    entries: list[_Entry],
    expected: Mapping[str, Shape] | None,
    dtype: str | None,
    source: str,
    limit: int | None,
) -> None:
    """Keys, dtypes and shapes against the model; declared bytes against the budget."""
    for entry in entries:
        if expected is not None and entry.key not in expected:
            raise _error(source, _unknown_key(entry.key, list(expected)), entry.key)
        if not _is_float(entry.dtype):
            raise _error(source, f"dtype {entry.dtype} is not a floating-point type", entry.key)
        if dtype is not None and entry.dtype.name != dtype:
            raise _error(
                source,
                f"dtype {entry.dtype.name} differs from the spec's dtype {dtype}; store the "
                f"array as {dtype} (arrays are never cast silently) or change the spec's dtype",
                entry.key,
            )
        if expected is not None and entry.shape != tuple(expected[entry.key]):
            raise _error(
                source,
                f"shape {list(entry.shape)} does not fit the model's {list(expected[entry.key])}",
                entry.key,
            )
    _check_budget(entries, source, limit)


def _check_budget(entries: list[_Entry], source: str, limit: int | None) -> None:
    """The bytes the entries declare must fit ``limit`` (None: no limit)."""
    total = sum(entry.nbytes for entry in entries)
    if limit is not None and total > limit:
        from ..graph.resources import format_bytes

        raise _error(
            source,
            f"the arrays need {format_bytes(total)}, over the memory budget of "
            f"{format_bytes(limit)}",
        ).with_hint(Hint(advice="max_memory"))


def _read_entry(reader: _Reader, entry: _Entry, source: str) -> np.ndarray:
    """The data of a checked entry; every value must be finite."""
    count = math.prod(entry.shape)
    try:
        if isinstance(entry.location, int):
            reader.handle.seek(entry.location)
            array = np.fromfile(reader.handle, dtype=entry.dtype, count=count)
            if array.size != count:
                raise ValueError("the file ended early")
            array = array.reshape(entry.shape)
        else:
            archive = reader.archive
            if archive is None:  # an npz entry always comes with its archive
                raise ValueError("the zip archive is closed")
            with archive.open(entry.location) as member:
                array = np.lib.format.read_array(
                    member, allow_pickle=False, max_header_size=_NPY_HEADER_BYTES
                )
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise _error(source, f"cannot read the array: {error}", entry.key) from None
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    finite = int(np.count_nonzero(np.isfinite(array)))
    if finite != array.size:
        raise _error(
            source,
            f"{array.size - finite:,} of {array.size:,} values are NaN or infinite: "
            "weights must be finite numbers",
            entry.key,
        )
    return array


def _unknown_key(key: str, known: list[str]) -> str:
    hint = suggest(key, known)
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

    entries = {}
    for index, (name, layer) in enumerate(zip(model.plan.layer_names, model.layers, strict=True)):
        arrays = eqx.filter(layer, eqx.is_array)
        flat, _ = jax.tree_util.tree_flatten_with_path(arrays, is_leaf=is_state)
        for path, leaf in flat:
            if not is_state(leaf):
                entries[_key(name, path)] = (index, tuple(path), leaf)
    return entries


def is_state(node: Any) -> bool:
    """An ``eqx.nn.StateIndex``: its initial values are state, not parameters."""
    import equinox as eqx

    return isinstance(node, eqx.nn.StateIndex)


def node_at(node: Any, path: tuple[Any, ...]) -> Any:
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


def check_input_file(path: str | os.PathLike[str], limit: int | None) -> tuple[int, int]:
    """``(batch, steps)`` of a ``run --input`` npz, from its headers alone.

    The archive's structure is checked as a params file's is (no pickle, no truncation, no
    trailing data) and the arrays it declares must fit ``limit`` before any is loaded.
    """
    shapes = inspect_arrays(path, limit=limit)
    extents = [shape[:2] for shape in shapes.values() if len(shape) >= 2]
    if not extents:
        return 1, 1
    return max(e[0] for e in extents), max(e[1] for e in extents)
