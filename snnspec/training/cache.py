"""The preprocessing cache: an event data set's binned tensors, written once, memory-mapped after.

Every event source (SHD, SSC, N-MNIST, ...) declares an :class:`EventSource`: its source
files, its preprocessing section and a function that bins one split. :func:`open_entry` is
the one code path that wraps them all: it looks the entry up by its key and bins only on a
miss.

Key: the sha256 of the cache format, the preprocessing section (canonical JSON) and each
source file's name (relative to the data set's folder) and content sha256. A file's sha256 is
memoised in ``index.json`` by path, size and modification time, so a warm run hashes nothing.

Folder: ``$SNNSPEC_CACHE_DIR``, else ``$XDG_CACHE_HOME/snnspec``, else ``~/.cache/snnspec``.
An entry is ``<folder>/<key>/`` with one ``.npy`` file per array (``train_x``, ``train_y``,
...) and ``entry.json`` (format, key, section, and each array's file, shape, dtype and the
sha256 of its ``.npy`` file), written last. The entry is built in a temporary folder beside
it and renamed into place, so a reader never sees a partial entry under its final name; of
two runs building the same entry at once, the first rename wins and the other uses it.

Checked on every use, before anything is read: ``entry.json`` parses and names this key and
format, every array file exists, its ``.npy`` header gives the recorded shape and dtype, and
its size is exactly header plus data. Then each file's sha256 is compared with the recorded
one: one sequential read of the entry (about as long as one epoch reads the training data),
so a file changed in place (bit rot, an edit) is never used either. A failed check is a
one-line notice on stderr and a rebuild. Within one process an entry that passed is not
hashed again while its files' inode, size, modification and change times stay the same
(``snnspec data`` reports the entry, then reads it).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._errors import InputError
from .._io import sha256_file, sha256_text, write_text_atomic

FORMAT = "snnspec-cache-1"
"""The layout of an entry; part of every key, so a new layout never reads an old entry."""
ENTRY = "entry.json"
_VERIFIED: dict[Path, tuple[object, ...]] = {}
"""Entries that passed :func:`_check` in this process: folder -> (key, files' identities)."""
INDEX = "index.json"
CACHE_ENV = "SNNSPEC_CACHE_DIR"

Status = Literal["hit", "missing", "corrupt"]
Allocate = Callable[[tuple[int, ...]], np.ndarray]
"""Zeros of a shape (float32), for a split's samples."""


@dataclass(frozen=True)
class EventSource:
    """What the cache needs of an event data set.

    ``files`` are every file the binned tensors are computed from, ``base`` the folder their
    names are recorded relative to, ``section`` the preprocessing settings (JSON values) and
    ``bin(split)`` the samples ``(N, T, *shape)`` (float32) and labels (int32) of one of
    ``splits`` (``train``, ``test`` and ``val`` when the data set has an official one; the
    file or folder each is read from in ``origins``; ``classes`` labels). ``bin(split,
    allocate)`` writes the samples into ``allocate(shape)`` (a float32 array backed by the
    entry's file, so a split larger than memory can be binned) and returns it with the
    labels; it raises a located error for hostile data, and nothing is cached then.
    """

    files: tuple[Path, ...]
    base: Path
    section: Mapping[str, Any]
    origins: Mapping[str, Path]
    classes: int
    bin: Callable[[str, Allocate], tuple[np.ndarray, np.ndarray]]

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.origins)


@dataclass(frozen=True)
class Entry:
    """A cache entry's arrays (read-only memory maps), its key, folder and arrays' sha256."""

    key: str
    folder: Path
    arrays: dict[str, np.ndarray]
    sha256: dict[str, str]

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self.arrays[f"{name}_x"], self.arrays[f"{name}_y"]


def preprocessing(data: Any, steps: int) -> dict[str, Any]:
    """The settings that determine an event source's binned tensors: the data section
    without where the files are and how the samples are split, and ``time.steps``."""
    section = data.model_dump(mode="json")
    for name in ("root", "download", "test_fraction", "validation_fraction"):
        section.pop(name, None)
    return {**section, "steps": steps}


def cache_folder() -> Path:
    """``$SNNSPEC_CACHE_DIR``, else ``$XDG_CACHE_HOME/snnspec``, else ``~/.cache/snnspec``
    (an empty variable counts as unset; a relative one is an error)."""
    for name, below in ((CACHE_ENV, ""), ("XDG_CACHE_HOME", "snnspec")):
        value = os.environ.get(name)
        if value:
            path = Path(value)
            if not path.is_absolute():
                raise InputError(
                    f"{name}={value} is a relative path; the cache folder must be absolute "
                    f"(e.g. {Path(value).absolute()})"
                )
            if path.exists() and not path.is_dir():
                raise InputError(f"{name}={value} is not a folder; name a folder for the cache")
            return path / below
    return Path.home() / ".cache" / "snnspec"


def entry_key(source: EventSource, folder: Path) -> str:
    """The sha256 of the format, the preprocessing section and the source files."""
    digests = _file_digests(source.files, folder)
    files = [
        [Path(os.path.relpath(path, source.base)).as_posix(), digest]
        for path, digest in zip(source.files, digests, strict=True)
    ]
    return sha256_text(_canonical({"format": FORMAT, "section": source.section, "files": files}))


def status(source: EventSource, folder: Path | None = None) -> tuple[Status, Path, str]:
    """Whether the entry of ``source`` is in the cache, without building it: (status, the
    entry's folder, what is wrong when it is corrupt)."""
    folder = cache_folder() if folder is None else folder
    key = entry_key(source, folder)
    path = folder / key
    if not path.exists():
        return "missing", path, ""
    problem = _check(path, key)
    return ("hit", path, "") if problem is None else ("corrupt", path, problem)


def open_entry(source: EventSource, folder: Path | None = None) -> Entry:
    """The binned arrays of ``source``: from the cache, else binned and cached first."""
    folder = cache_folder() if folder is None else folder
    key = entry_key(source, folder)
    path = folder / key
    if path.exists():
        problem = _check(path, key)
        if problem is None:
            return _open(path, key)
        print(f"note: rebuilding the cache entry {path}: {problem}", file=sys.stderr)
    _build(source, path, key)
    return _open(path, key)


def _build(source: EventSource, path: Path, key: str) -> None:
    """Bin every split into a temporary folder beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{key}.{secrets.token_hex(6)}.tmp")
    temporary.mkdir()
    try:
        arrays: dict[str, dict[str, Any]] = {}
        for split in source.splits:
            samples = temporary / f"{split}_x.npy"

            def allocate(shape: tuple[int, ...], file: Path = samples) -> np.ndarray:
                return np.lib.format.open_memmap(file, "w+", np.float32, shape)

            x, y = source.bin(split, allocate)
            if isinstance(x, np.memmap) and Path(str(x.filename)) == samples:
                x.flush()
            else:
                np.save(samples, np.ascontiguousarray(x, np.float32))
            np.save(temporary / f"{split}_y.npy", np.ascontiguousarray(y, np.int32))
            del x
            for kind, array in zip("xy", (np.load(samples, mmap_mode="r"), y), strict=True):
                name = f"{split}_{kind}"
                file = temporary / f"{name}.npy"
                arrays[name] = {
                    "file": file.name,
                    "shape": list(array.shape),
                    "dtype": np.dtype(np.float32 if kind == "x" else np.int32).str,
                    "sha256": sha256_file(file),
                }
        metadata = {"format": FORMAT, "key": key, "section": source.section, "arrays": arrays}
        write_text_atomic(temporary / ENTRY, json.dumps(metadata, indent=2) + "\n")
        _replace(temporary, path, key)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _replace(temporary: Path, path: Path, key: str) -> None:
    """Rename the built entry into place; a valid entry another run put there first stays,
    a corrupt one is moved aside and removed."""
    for _ in range(3):
        try:
            os.rename(temporary, path)
            return
        except OSError:  # the name exists (a folder that is not empty)
            if _check(path, key) is None:
                return  # another run built it first: use theirs
            aside = path.with_name(f".{key}.{secrets.token_hex(6)}.old")
            with contextlib.suppress(FileNotFoundError):
                os.rename(path, aside)
            shutil.rmtree(aside, ignore_errors=True)
    raise InputError(f"cannot put the cache entry in place: {path}; check the cache folder")


def _check(path: Path, key: str) -> str | None:
    """What is wrong with the entry at ``path`` (None: nothing); see the module docstring."""
    try:
        metadata = json.loads((path / ENTRY).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no {ENTRY} (an interrupted build)"
    except (OSError, ValueError) as error:
        return f"{ENTRY} cannot be read ({error})"
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        return f"{ENTRY} is not a {FORMAT} entry"
    if metadata.get("key") != key or not isinstance(metadata.get("arrays"), dict):
        return f"{ENTRY} does not describe this key"
    identity = (key, *_identities(path))
    if _VERIFIED.get(path) == identity:
        return None
    for name, record in metadata["arrays"].items():
        problem = _check_array(path, name, record)
        if problem is not None:
            return problem
    _VERIFIED[path] = identity
    return None


def _identities(path: Path) -> tuple[tuple[str, int, int, int, int], ...]:
    """Each file of the entry folder with its inode, size, modification and change times."""
    found = []
    for file in sorted(path.iterdir()):
        stat = file.stat()
        found.append((file.name, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
    return tuple(found)


def _check_array(path: Path, name: str, record: Any) -> str | None:
    try:
        file = path / str(record["file"])
        shape, dtype, digest = tuple(record["shape"]), np.dtype(record["dtype"]), record["sha256"]
    except (KeyError, TypeError, ValueError):
        return f"{ENTRY}: the record of {name} is malformed"
    try:
        with file.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(handle)
            else:
                header = np.lib.format.read_array_header_2_0(handle)
            offset = handle.tell()
        size = file.stat().st_size
    except FileNotFoundError:
        return f"{file.name} is missing"
    except (OSError, ValueError) as error:
        return f"{file.name} is not a .npy file ({error})"
    found_shape, fortran, found_dtype = header
    if tuple(found_shape) != shape or found_dtype != dtype or fortran:
        return (
            f"{file.name} holds {found_dtype} {list(found_shape)}, the entry records {dtype} "
            f"{list(shape)}"
        )
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    if size != expected:
        return f"{file.name} has {size} bytes, expected {expected} (truncated or extended)"
    if sha256_file(file) != digest:
        return f"{file.name} does not match its recorded sha256 (changed since it was written)"
    return None


def _open(path: Path, key: str) -> Entry:
    metadata = json.loads((path / ENTRY).read_text(encoding="utf-8"))
    records = metadata["arrays"]
    arrays = {name: np.load(path / r["file"], mmap_mode="r") for name, r in records.items()}
    return Entry(key, path, arrays, {name: r["sha256"] for name, r in records.items()})


def _file_digests(files: tuple[Path, ...], folder: Path) -> list[str]:
    """Each file's sha256, memoised in the index by (absolute path, size, mtime)."""
    index_path = folder / INDEX
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if not isinstance(index, dict):
            index = {}
    except (OSError, ValueError):  # missing, or half-written by an older crash: start again
        index = {}
    digests, changed = [], False
    for file in files:
        identity = os.stat(file)
        name = str(Path(file).resolve())
        stamp = [identity.st_size, identity.st_mtime_ns]
        known = index.get(name)
        if isinstance(known, list) and len(known) == 3 and known[:2] == stamp:
            digests.append(str(known[2]))
            continue
        digest = sha256_file(file)
        index[name] = [*stamp, digest]
        digests.append(digest)
        changed = True
    if changed:  # a lost update (two runs at once) only costs a later run a re-hash
        write_text_atomic(index_path, json.dumps(index, sort_keys=True) + "\n")
    return digests


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
