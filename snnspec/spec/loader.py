"""Spec text -> plain data plus source positions, read safely.

A :class:`Document` holds the data of a YAML, TOML or JSON file as plain Python values
(dict, list, str, int, float, bool, None) and the 1-based ``(line, column)`` of every mapping
key and sequence item, so later stages can report ``FILE:LINE:COL: path: message``.

Everything a hostile or broken file can do ends in a :class:`LoadError`: files that are not
regular files or too large, bad UTF-8, NUL bytes, nesting deeper than :data:`MAX_DEPTH`, more
than :data:`MAX_NODES` values (YAML aliases expanded), duplicate keys, YAML tags beyond the
core schema, and YAML 1.1 scalars whose meaning differs under YAML 1.2.

YAML is read from PyYAML's event stream rather than its composer: the composer recurses (in C
with libyaml, which crashes on ~50,000 nested brackets), while the parser is an iterative state
machine that looks only a bounded distance ahead. Depth and size are therefore checked exactly,
event by event, before anything recursive runs, and a megabyte of ``[`` is refused after
reading its first few hundred bytes. Plain scalars are resolved by YAML 1.2 core-schema rules
here, not by PyYAML's YAML 1.1 resolver, and no Python object is ever constructed.

libyaml (PyYAML's C parser, used when installed because it is ~15x faster) has limits of its
own that can fire first: since 0.2.5 its scanner refuses 1,000 flow levels while looking ahead
up to 1,024 characters, before it has sent the events our depth check counts. So libyaml only
ever accepts: when it refuses a text, PyYAML's pure-Python parser (which has no limits and the
same event stream) reads it again from the start, and its first problem, ours or a syntax error,
is the one reported. The message therefore never depends on whether libyaml is installed or
which release it is, and a refused text costs at most the pure-Python parse up to the problem
(under a second for a 1 MiB file).
"""

from __future__ import annotations

import bisect
import codecs
import copy
import functools
import json
import math
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import PurePath
from types import MappingProxyType
from typing import Any, Literal

import yaml

from .._errors import LoadError, SpecError

Format = Literal["yaml", "toml", "json"]
Position = tuple[int, int]
PathKey = tuple[str | int, ...]

MAX_SPEC_BYTES: int = 1 << 20
MAX_DEPTH: int = 64
MAX_NODES: int = 20_000
MAX_INT_DIGITS: int = 30

_SUFFIXES: dict[str, Format] = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".json": "json"}
_EMPTY = "empty file: expected a spec document"
_NEWLINE = re.compile("\n")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Document:
    """A parsed spec: plain data plus where each key and item was written.

    A spec built with ``extends`` (:mod:`snnspec.spec.compose`) merges several files: ``origins``
    names the file of every path set outside ``source``, and ``files`` lists every file read
    (path relative to ``source``'s folder, sha256).
    """

    source: str
    format: Format
    data: Any
    positions: Mapping[PathKey, Position]
    origins: Mapping[PathKey, str] = field(default_factory=lambda: MappingProxyType({}))
    files: tuple[tuple[str, str], ...] = ()

    def locate(self, path: Sequence[str | int]) -> tuple[int | None, int | None]:
        """Position of `path`, else of its nearest ancestor that has one, else (None, None)."""
        return _locate(self.positions, tuple(path)) or (None, None)

    def file_of(self, path: Sequence[str | int]) -> str:
        """The file that wrote `path` (or its nearest located ancestor)."""
        key = tuple(path)
        for end in range(len(key), -1, -1):
            if key[:end] in self.positions:
                return self.origins.get(key[:end], self.source)
        return self.source

    def error(
        self, path: Sequence[str | int], message: str, kind: type[SpecError] = SpecError
    ) -> SpecError:
        """Build (not raise) a `kind` error located at `path` in the file that wrote it."""
        line, column = self.locate(path)
        return kind(message, file=self.file_of(path), line=line, column=column, path=path)


def format_for(path: str | os.PathLike[str]) -> Format:
    """The format of a spec file, from its suffix."""
    suffix = PurePath(os.fspath(path)).suffix
    fmt = _SUFFIXES.get(suffix.lower())
    if fmt is None:
        found = f"unsupported file suffix '{suffix}'" if suffix else "no file suffix"
        raise LoadError(
            f"{found}: name the file *.yaml, *.yml, *.toml or *.json", file=os.fspath(path)
        )
    return fmt


def load_document(path: str | os.PathLike[str]) -> Document:
    """Read a spec file safely and parse it by its suffix."""
    source = os.fspath(path)
    text = _read(source)  # a folder or a missing file is named as such, whatever its suffix
    return parse_document(text, format_for(source), source)


def load_json_file(path: str | os.PathLike[str]) -> Any:
    """The data of a JSON file snnspec wrote (a build or run manifest), read with the same
    limits as a spec: a file swapped for a huge or hostile one is a LoadError, not a hang."""
    source = os.fspath(path)
    return parse_document(_read(source), "json", source).data


def parse_document(text: str | bytes, format: Format, source: str = "<string>") -> Document:
    """Parse spec text in `format`; `source` names it in messages."""
    if format not in ("yaml", "toml", "json"):
        raise LoadError(
            f"unknown format {format!r}: expected 'yaml', 'toml' or 'json'", file=source
        )
    ctx = _Context(_decode(text, source), source)
    ctx.check_characters(format)
    if format == "yaml":
        data = _parse_yaml(ctx)
    elif format == "json":
        data = _JsonParser(ctx).parse()
    else:
        data = _parse_toml(ctx)
    return Document(source, format, data, MappingProxyType(ctx.positions))


def _locate(positions: Mapping[PathKey, Position], path: PathKey) -> Position | None:
    for end in range(len(path), -1, -1):
        position = positions.get(path[:end])
        if position is not None:
            return position
    return None


# --- reading and decoding ---------------------------------------------------------------

_FILE_KINDS = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _not_regular(source: str, mode: int) -> LoadError:
    if stat.S_ISDIR(mode):
        return LoadError(
            "is a folder, not a spec file: give the spec files in it (e.g. "
            f"{os.path.join(source, '*.yaml')})",
            file=source,
        )
    kind = _FILE_KINDS.get(stat.S_IFMT(mode), "a special file")
    return LoadError(
        f"not a regular file (it is {kind}): give the path of a spec file", file=source
    )


def _too_large(source: str, size: int | None) -> LoadError:
    found = f"{size} bytes" if size is not None else f"more than {MAX_SPEC_BYTES} bytes"
    return LoadError(
        f"file is too large ({found}; the limit is {MAX_SPEC_BYTES} bytes): "
        "specs and manifests hold no weights or data; keep those in separate files",
        file=source,
    )


def _read(source: str) -> bytes:
    """The bytes of a regular file of at most MAX_SPEC_BYTES; never blocks on a FIFO."""
    try:
        info = os.stat(source)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(source, info.st_mode)
        if info.st_size > MAX_SPEC_BYTES:
            raise _too_large(source, info.st_size)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(source, flags)
        try:
            mode = os.fstat(fd).st_mode  # the path may have been swapped since the stat
            if not stat.S_ISREG(mode):
                raise _not_regular(source, mode)
            chunks: list[bytes] = []
            remaining = MAX_SPEC_BYTES + 1  # one byte more tells a file that grew
            while remaining > 0 and (chunk := os.read(fd, min(remaining, 1 << 16))):
                chunks.append(chunk)
                remaining -= len(chunk)
            if remaining <= 0:
                raise _too_large(source, None)
            return b"".join(chunks)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise LoadError("file not found: check the path", file=source) from None
    except OSError as exc:
        raise LoadError(f"cannot read the file: {exc.strerror}", file=source) from None


def _decode(text: str | bytes, source: str) -> str:
    """Text checked for size and UTF-8, without a byte order mark."""
    if isinstance(text, str):
        if len(text) > MAX_SPEC_BYTES:
            raise _too_large(source, None)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise LoadError(
                f"invalid character U+{ord(text[exc.start]):04X} (a lone surrogate): remove it",
                file=source,
                line=text.count("\n", 0, exc.start) + 1,
                column=exc.start - text.rfind("\n", 0, exc.start),
            ) from None
    else:
        data = bytes(text)
    if len(data) > MAX_SPEC_BYTES:
        raise _too_large(source, len(data))
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        raise LoadError(
            f"invalid UTF-8 (byte 0x{data[exc.start]:02X}): save the file as UTF-8",
            file=source,
            line=data.count(b"\n", 0, exc.start) + 1,
            column=len(data[line_start : exc.start].decode("utf-8")) + 1,
        ) from None


# --- shared parsing state ---------------------------------------------------------------


class _Context:
    """What every parser shares: the text, the positions found so far, the value count."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.restart()

    def restart(self) -> None:
        """Forget the positions and values found so far, to read the text again."""
        self.positions: dict[PathKey, Position] = {(): (1, 1)}
        self.nodes = 0

    @functools.cached_property
    def _line_starts(self) -> list[int]:
        return [0, *(match.end() for match in _NEWLINE.finditer(self.text))]

    def position(self, offset: int) -> Position:
        """1-based (line, column) of a character offset."""
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def error(self, message: str, where: Position | None, path: PathKey = ()) -> LoadError:
        line, column = where if where is not None else (None, None)
        return LoadError(message, file=self.source, line=line, column=column, path=path)

    def where(self, path: PathKey) -> Position | None:
        """Position of `path` or of its nearest ancestor, from the positions recorded so far."""
        return _locate(self.positions, path)

    def check_characters(self, fmt: Format) -> None:
        match = _CONTROL.search(self.text)
        if match is None and fmt == "yaml":
            match = _YAML_UNPRINTABLE.search(self.text)
        if match is None:
            return
        char = match.group()
        if char == "\0":
            message = "NUL byte found: this is a binary file, not a text spec"
        elif _CONTROL.match(char):
            message = f"control character U+{ord(char):04X} found: remove it"
        else:
            message = (
                f"character U+{ord(char):04X} is not allowed in YAML: remove it, "
                "or write it as an escape in a double-quoted string"
            )
        raise self.error(message, self.position(match.start()))

    def count(self, size: int, where: Position | None, path: PathKey) -> None:
        """Add `size` values to the document's budget."""
        self.nodes += size
        if self.nodes > MAX_NODES:
            raise self.error(
                f"too many values (more than {MAX_NODES} lists, mappings and scalars, "
                "counting every alias expansion): a spec should be small, "
                "keep weights and data in separate files",
                where,
                path,
            )

    def too_deep(self, where: Position | None, path: PathKey) -> LoadError:
        return self.error(
            f"nesting deeper than {MAX_DEPTH} levels of lists and mappings: flatten the structure",
            where,
            path,
        )

    def integer(self, digits: str, base: int, where: Position | None, path: PathKey) -> int:
        """Parse `digits` (optionally signed) in `base`, refusing absurdly long ones."""
        count = len(digits.lstrip("+-"))
        if count > MAX_INT_DIGITS:
            raise self.error(
                f"integer too large ({count} digits; the limit is {MAX_INT_DIGITS}): "
                "write it as a float or quote it",
                where,
                path,
            )
        return int(digits, base)

    def real(self, text: str, where: Position | None, path: PathKey) -> float:
        """Parse a finite float literal, refusing one that overflows to infinity."""
        value = float(text)
        if math.isinf(value):
            raise self.error(
                f"number too large: {text[:40]!r} is beyond the float range: "
                "write a smaller number",
                where,
                path,
            )
        return value


# --- YAML ---------------------------------------------------------------------------------

# libyaml's parser when PyYAML was built with it; it only accepts (see the module docstring)
_YAML_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_UNPRINTABLE = re.compile(
    "[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_CORE_PREFIX = "tag:yaml.org,2002:"
_CORE_TAGS = {
    "scalar": ("str", "null", "bool", "int", "float"),
    "list": ("seq",),
    "mapping": ("map",),
}
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_YAML11_BOOLS = frozenset({"yes", "no", "on", "off"})
"""YAML 1.1 booleans refused as ambiguous. `y`/`n` are not among them: YAML 1.2, PyYAML and
yamllint's `truthy` rule read them as strings, so a layer may be named `n`."""
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")
_INT = re.compile(r"[-+]?[0-9]+")
_OCTAL = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF = re.compile(r"([-+]?)\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")


def _mark(mark: Any) -> Position:
    return mark.line + 1, mark.column + 1


def _indented_with_tab(text: str, offset: int) -> bool:
    """Whether `offset` is a tab in the leading white space of its line."""
    start = text.rfind("\n", 0, offset) + 1
    return text[offset : offset + 1] == "\t" and not text[start:offset].strip(" \t")


def _show_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE_PREFIX) if tag.startswith(_CORE_PREFIX) else tag


def _describe(value: Any) -> str:
    """What a non-string YAML key reads as."""
    if value is None:
        return "null"
    if isinstance(value, bool | list | dict | str):
        return {bool: "a boolean", list: "a list", dict: "a mapping", str: "a string"}[type(value)]
    return "an integer" if isinstance(value, int) else "a number"


@dataclass
class _Open:
    """A YAML collection whose end event has not come yet."""

    value: dict[str, Any] | list[Any]
    path: PathKey
    anchor: str | None
    nodes_before: int
    key: str | None = None  # a mapping's key still waiting for its value
    height: int = 1  # levels of collections from this one down, itself included
    merges: list[tuple[Any, Position]] = field(default_factory=list)  # values of '<<' keys
    merge_pending: Position | None = None  # a '<<' key waiting for its value


def _merged_mappings(value: Any) -> list[dict[str, Any]] | None:
    """The mappings a '<<' value names (a mapping or a list of mappings), else None."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return value
    return None


def _parse_yaml(ctx: _Context) -> Any:
    """Plain data from the fast parser, or else the first problem the pure-Python one meets."""
    try:
        return _YamlBuilder(ctx).build(_YAML_LOADER)
    except yaml.YAMLError as exc:
        if _YAML_LOADER is yaml.SafeLoader:
            raise _yaml_error(ctx, exc) from None
    ctx.restart()
    try:
        return _YamlBuilder(ctx).build(yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(ctx, exc) from None


def _yaml_error(ctx: _Context, exc: yaml.YAMLError) -> LoadError:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return ctx.error(" ".join(f"invalid YAML: {exc}".split()), None)
    mark = exc.problem_mark or exc.context_mark
    if mark is not None and _indented_with_tab(ctx.text, mark.index):
        return ctx.error(
            "tabs are not allowed in YAML indentation: indent with spaces", _mark(mark)
        )
    message = f"invalid YAML: {exc.problem or exc.context}"
    if exc.problem and exc.context:
        message += f" ({exc.context})"
    return ctx.error(" ".join(message.split()), _mark(mark) if mark else None)


class _YamlBuilder:
    """Plain data from PyYAML's event stream, checked node by node."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[Any, int, int] | _Open] = {}  # value, size, height
        self.root: Any = None

    def build(self, loader_class: type[Any]) -> Any:
        """The document's data; the parser's own errors pass through as yaml.YAMLError."""
        loader = loader_class(self.ctx.text)
        documents = 0
        try:
            while loader.check_event():
                event = loader.get_event()
                if isinstance(event, yaml.DocumentStartEvent):
                    documents += 1
                    if documents > 1:
                        where = _mark(event.start_mark)
                        raise self.ctx.error(
                            f"a second YAML document starts at line {where[0]}: "
                            "a spec file holds exactly one document",
                            where,
                        )
                elif isinstance(event, yaml.ScalarEvent):
                    self._scalar(event)
                elif isinstance(event, yaml.AliasEvent):
                    self._alias(event)
                elif isinstance(event, yaml.SequenceStartEvent):
                    self._open(event, [], "list")
                elif isinstance(event, yaml.MappingStartEvent):
                    self._open(event, {}, "mapping")
                elif isinstance(event, yaml.CollectionEndEvent):
                    self._close()
        finally:
            loader.dispose()
        if documents == 0:
            raise self.ctx.error(_EMPTY, None)
        return self.root

    def _next_path(self) -> PathKey | None:
        """Path of the next node, or None when the next node is a mapping key.

        The value of a merge key '<<' has the mapping's own path: it is merged into it."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.path, len(top.value))
        if top.merge_pending is not None:
            return top.path
        return None if top.key is None else (*top.path, top.key)

    def _place(self, value: Any, where: Position) -> None:
        """Put a node into its parent: as an item, a key or a value."""
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        if top.merge_pending is not None:
            top.merges.append((value, top.merge_pending))
            top.merge_pending = None
        elif isinstance(top.value, list):
            self.ctx.positions[(*top.path, len(top.value))] = where
            top.value.append(value)
        elif top.key is not None:
            top.value[top.key] = value
            top.key = None
        elif not isinstance(value, str):
            raise self.ctx.error(
                f"mapping key {value!r} is not a string (it reads as {_describe(value)}): quote it",
                where,
                top.path,
            )
        else:
            path = (*top.path, value)
            if value in top.value:
                first = self.ctx.positions[path][0]
                raise self.ctx.error(
                    f"duplicate key {value!r} (first defined at line {first})", where, path
                )
            self.ctx.positions[path] = where
            top.key = value

    def _check_tag(self, tag: str | None, kind: str, where: Position, path: PathKey) -> str | None:
        """The core tag name of an explicit tag (None for no tag or '!'); others are errors."""
        if tag is None or tag == "!":
            return None
        name = tag.removeprefix(_CORE_PREFIX)
        if tag.startswith(_CORE_PREFIX) and name in _CORE_TAGS[kind]:
            return name
        if tag.startswith(_CORE_PREFIX) and any(name in names for names in _CORE_TAGS.values()):
            message = f"tag !!{name} cannot be used on a {kind}: remove the tag"
        else:
            message = (
                f"unsupported YAML tag '{_show_tag(tag)}': only the core tags !!str, !!int, "
                "!!float, !!bool, !!null, !!seq and !!map are allowed; remove the tag"
            )
        raise self.ctx.error(message, where, path)

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        where = _mark(event.start_mark)
        path = self._next_path()
        error_path = path if path is not None else self.stack[-1].path
        text: str = event.value
        plain = event.tag is None and not event.style
        tag = self._check_tag(event.tag, "scalar", where, error_path)
        if plain and path is None and text == "<<":
            top = self.stack[-1]
            if top.merge_pending is not None or top.merges:
                raise self.ctx.error(
                    "a second merge key '<<' in one mapping: list the merged mappings in "
                    "one '<<: [*a, *b]'",
                    where,
                    error_path,
                )
            self.ctx.count(1, where, error_path)
            top.merge_pending = where
            return
        if plain or tag in ("null", "bool", "int", "float"):
            value = self._resolve(text, where, error_path)
        else:
            value = text
        if tag == "float" and type(value) is int:
            value = float(value)
        expected = {"null": type(None), "bool": bool, "int": int, "float": float}.get(tag or "")
        if expected is not None and type(value) is not expected:
            raise self.ctx.error(f"{text!r} is not a valid !!{tag}", where, error_path)
        self.ctx.count(1, where, error_path)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1, 0)
        self._place(value, where)

    def _resolve(self, text: str, where: Position, path: PathKey) -> Any:
        """A plain scalar by the YAML 1.2 core schema, refusing YAML 1.1 look-alikes."""
        if text in _NULLS:
            return None
        if text in _BOOLS:
            return _BOOLS[text]
        if text.lower() in _YAML11_BOOLS:
            raise self.ctx.error(
                f"ambiguous YAML 1.1 boolean {text!r}: write true or false "
                "(or quote it for a string)",
                where,
                path,
            )
        if _LEADING_ZERO.fullmatch(text):
            raise self.ctx.error(
                f"ambiguous integer {text!r} (octal in YAML 1.1, decimal in YAML 1.2): "
                "remove the leading zeros, use the 0o prefix for octal, or quote it for a string",
                where,
                path,
            )
        if _INT.fullmatch(text):
            return self.ctx.integer(text, 10, where, path)
        if _OCTAL.fullmatch(text) or _HEX.fullmatch(text):
            return self.ctx.integer(text[2:], 8 if text[1] == "o" else 16, where, path)
        if _FLOAT.fullmatch(text):
            return self.ctx.real(text, where, path)
        if match := _INF.fullmatch(text):
            return -math.inf if match.group(1) == "-" else math.inf
        if _NAN.fullmatch(text):
            return math.nan
        return text

    def _alias(self, event: yaml.AliasEvent) -> None:
        where = _mark(event.start_mark)
        path = self._next_path()
        error_path = path if path is not None else self.stack[-1].path
        target = self.anchors.get(event.anchor)
        if target is None:
            raise self.ctx.error(
                f"undefined alias '*{event.anchor}': define '&{event.anchor}' before using it",
                where,
                error_path,
            )
        if isinstance(target, _Open):
            raise self.ctx.error(
                f"recursive alias '*{event.anchor}': a node cannot contain itself",
                where,
                error_path,
            )
        value, size, height = target
        if len(self.stack) + height > MAX_DEPTH:
            raise self.ctx.too_deep(where, error_path)
        self.ctx.count(size, where, error_path)
        if self.stack:
            self.stack[-1].height = max(self.stack[-1].height, height + 1)
        self._place(copy.deepcopy(value), where)

    def _open(
        self,
        event: yaml.SequenceStartEvent | yaml.MappingStartEvent,
        value: dict[str, Any] | list[Any],
        kind: str,
    ) -> None:
        where = _mark(event.start_mark)
        path = self._next_path()
        if path is None:
            raise self.ctx.error(
                f"a {kind} cannot be a mapping key: keys must be plain strings",
                where,
                self.stack[-1].path,
            )
        self._check_tag(event.tag, kind, where, path)
        if len(self.stack) >= MAX_DEPTH:
            raise self.ctx.too_deep(where, path)
        frame = _Open(value, path, event.anchor, self.ctx.nodes)
        self.ctx.count(1, where, path)
        self._place(value, where)
        if event.anchor is not None:
            self.anchors[event.anchor] = frame
        self.stack.append(frame)

    def _close(self) -> None:
        frame = self.stack.pop()
        if frame.merges and isinstance(frame.value, dict):
            self._merge(frame, frame.value)
        if self.stack:
            self.stack[-1].height = max(self.stack[-1].height, frame.height + 1)
        if frame.anchor is not None and self.anchors.get(frame.anchor) is frame:
            size = self.ctx.nodes - frame.nodes_before
            self.anchors[frame.anchor] = (frame.value, size, frame.height)

    def _merge(self, frame: _Open, target: dict[str, Any]) -> None:
        """YAML's merge key: add the keys of the '<<' mappings that ``target`` (the frame's
        mapping) does not set itself; its own keys win, among merged ones the earlier."""
        for value, where in frame.merges:
            mappings = _merged_mappings(value)
            if mappings is None:
                raise self.ctx.error(
                    "merge key '<<' takes a mapping or a list of mappings (e.g. *base or "
                    f"[*a, *b]), got {_describe(value)}",
                    where,
                    frame.path,
                )
            for mapping in mappings:
                for key, item in mapping.items():
                    if key not in target:
                        target[key] = item
                        self.ctx.positions[(*frame.path, key)] = where


# --- JSON ---------------------------------------------------------------------------------

_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_JSON_NONFINITE = re.compile(r"-?(?:NaN|Infinity)")
_JSON_CONSTANTS = {"true": True, "false": False, "null": None}
_SURROGATE = re.compile("[\ud800-\udfff]")
# the stdlib's string scanner (C-accelerated); the type stubs do not declare it
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # pyright: ignore[reportAttributeAccessIssue]


class _JsonParser:
    """A strict recursive-descent JSON parser that records positions."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        self.text = ctx.text

    def parse(self) -> Any:
        start = self._skip(0)
        if start == len(self.text):
            raise self.ctx.error(_EMPTY, None)
        value, end = self._value(start, (), 0)
        end = self._skip(end)
        if end < len(self.text):
            raise self._error("unexpected data after the JSON value: a file holds one value", end)
        return value

    def _skip(self, pos: int) -> int:
        match = _JSON_SPACE.match(self.text, pos)
        return match.end() if match else pos

    def _error(self, message: str, pos: int, path: PathKey = ()) -> LoadError:
        return self.ctx.error(message, self.ctx.position(pos), path)

    def _value(self, pos: int, path: PathKey, depth: int) -> tuple[Any, int]:
        self.ctx.count(1, self.ctx.position(pos), path)
        char = self.text[pos : pos + 1]
        if char in ("{", "["):
            if depth >= MAX_DEPTH:
                raise self.ctx.too_deep(self.ctx.position(pos), path)
            if char == "{":
                return self._object(pos, path, depth + 1)
            return self._array(pos, path, depth + 1)
        if char == '"':
            return self._string(pos, path)
        if number := _JSON_NUMBER.match(self.text, pos):
            where = self.ctx.position(pos)
            if number.group(1) or number.group(2):
                return self.ctx.real(number.group(), where, path), number.end()
            return self.ctx.integer(number.group(), 10, where, path), number.end()
        for word, constant in _JSON_CONSTANTS.items():
            if self.text.startswith(word, pos):
                return constant, pos + len(word)
        if nonfinite := _JSON_NONFINITE.match(self.text, pos):
            raise self._error(
                f"{nonfinite.group()} is not valid JSON: write a finite number", pos, path
            )
        if pos == len(self.text):
            raise self._error("invalid JSON: unexpected end of file, expected a value", pos, path)
        raise self._error(f"invalid JSON: expected a value, found {char!r}", pos, path)

    def _string(self, pos: int, path: PathKey) -> tuple[str, int]:
        try:
            value, end = _scanstring(self.text, pos + 1, True)
        except json.JSONDecodeError as exc:
            reason = re.sub(r"(?: starting)? at$", "", exc.msg)
            raise self._error(
                f"invalid JSON string: {reason[:1].lower()}{reason[1:]}", exc.pos, path
            ) from None
        if _SURROGATE.search(value):
            raise self._error("invalid JSON string: an unpaired surrogate escape", pos, path)
        return value, end

    def _object(self, pos: int, path: PathKey, depth: int) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        pos = self._skip(pos + 1)
        if self.text.startswith("}", pos):
            return result, pos + 1
        while True:
            if not self.text.startswith('"', pos):
                raise self._error("invalid JSON: expected a key in double quotes", pos, path)
            key, end = self._string(pos, path)
            key_path = (*path, key)
            where = self.ctx.position(pos)
            if key in result:
                first = self.ctx.positions[key_path][0]
                raise self.ctx.error(
                    f"duplicate key {key!r} (first defined at line {first})", where, key_path
                )
            self.ctx.positions[key_path] = where
            pos = self._skip(end)
            if not self.text.startswith(":", pos):
                raise self._error("invalid JSON: expected ':' after the key", pos, key_path)
            result[key], pos = self._value(self._skip(pos + 1), key_path, depth)
            pos = self._skip(pos)
            if self.text.startswith("}", pos):
                return result, pos + 1
            if not self.text.startswith(",", pos):
                raise self._error("invalid JSON: expected ',' or '}' after a value", pos, path)
            pos = self._skip(pos + 1)

    def _array(self, pos: int, path: PathKey, depth: int) -> tuple[list[Any], int]:
        result: list[Any] = []
        pos = self._skip(pos + 1)
        if self.text.startswith("]", pos):
            return result, pos + 1
        while True:
            item_path = (*path, len(result))
            self.ctx.positions[item_path] = self.ctx.position(pos)
            value, pos = self._value(pos, item_path, depth)
            result.append(value)
            pos = self._skip(pos)
            if self.text.startswith("]", pos):
                return result, pos + 1
            if not self.text.startswith(",", pos):
                raise self._error("invalid JSON: expected ',' or ']' after an item", pos, path)
            pos = self._skip(pos + 1)


# --- TOML ---------------------------------------------------------------------------------

_TOML_SPECIAL = re.compile(r"[\"'#\[\]{}.=,\n]")
_TOML_STRINGS = {
    '"""': re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""(?:"{0,2})', re.S),
    "'''": re.compile(r"'''(?:[^']|'(?!''))*'''(?:'{0,2})"),
    '"': re.compile(r'"(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"'[^'\n]*'"),
}
_TOML_SKIP = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")
_TOML_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_BARE_VALUE = re.compile(r"[^,\]}\n#]*")
_TOML_DECIMAL = re.compile(r"[ \t]*([-+]?[0-9][0-9_]*)[ \t\r]*")
_TOML_ERROR = re.compile(r"(.*) \(at (?:line (\d+), column (\d+)|end of document)\)", re.S)


def _toml_string_end(text: str, pos: int) -> int | None:
    """End offset of the TOML string starting at `pos`, or None when it is not closed."""
    quote = text[pos]
    pattern = _TOML_STRINGS[quote * 3 if text.startswith(quote * 3, pos) else quote]
    match = pattern.match(text, pos)
    return match.end() if match else None


def _parse_toml(ctx: _Context) -> Any:
    _prescan_toml(ctx)
    try:
        raw = tomllib.loads(ctx.text, parse_float=_toml_float)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_ERROR.fullmatch(str(exc))
        if match is None:
            raise ctx.error(f"invalid TOML: {exc}", None) from None
        message, line, column = match.groups()
        where = (int(line), int(column)) if line else ctx.position(len(ctx.text))
        raise ctx.error(f"invalid TOML: {message[:1].lower()}{message[1:]}", where) from None
    if not raw:
        raise ctx.error(_EMPTY, None)
    _TomlPositions(ctx).scan()
    return _toml_plain(ctx, raw, (), 0)


@dataclass(frozen=True)
class _Overflow:
    """A TOML float literal beyond the float range, reported once positions are known."""

    text: str


def _toml_float(text: str) -> float | _Overflow:
    value = float(text)
    return _Overflow(text) if math.isinf(value) and "inf" not in text else value


def _prescan_toml(ctx: _Context) -> None:
    """Refuse, before tomllib sees the text, what tomllib would choke on or refuse with its own
    unlocated message: deep nesting of arrays and inline tables (tomllib recurses into them),
    dotted keys with too many parts (tomllib's cost grows with the square of their length:
    20,000 parts take seconds), and decimal integers longer than MAX_INT_DIGITS (Python's
    int() refuses 4,300 digits, and takes quadratic time below that).

    A dotted key lies on one line, between a line start, ``[``, ``{`` or ``,`` and the next
    ``=`` or ``]``; a value has at most one dot (``1.5``, ``12:30:00.5``). So any run of more
    than MAX_DEPTH dots outside strings and comments, with none of ``= , [ ] { }`` or a newline
    in between, is a key nested too deeply. A decimal integer is the whole stretch between
    ``=``, or ``[``/``,`` inside an array value, and the next ``, ] } #``, newline or end.
    """
    text, dots, pos = ctx.text, 0, 0
    key_start = part_start = 0
    opened: list[str] = []  # "[" array, "{" inline table, "h" a table header's bracket
    before = "\n"  # the special character before the current stretch
    while match := _TOML_SPECIAL.search(text, pos):
        pos, char = match.start(), match.group()
        if char not in ".=" and (
            before == "=" or (before in "[," and opened and opened[-1] == "[")
        ):
            _check_toml_integer(ctx, key_start, pos)
        header = char == "[" and not opened and before == "\n" and not text[key_start:pos].strip()
        if char not in "\n#" or not opened or opened[-1] != "[":  # arrays span lines
            before = char
        if char == ".":
            dots += 1
            if dots >= MAX_DEPTH:
                segment = text[key_start:pos]
                parts = [part.strip() for part in segment.split(".")]
                path = () if any(q in segment for q in "\"'") else tuple(parts)
                raise ctx.too_deep(ctx.position(part_start), path)
            pos += 1
            part_start = pos + len(text[pos : pos + 64]) - len(text[pos : pos + 64].lstrip(" \t"))
            continue
        if char == "#":
            pos = text.find("\n", pos)
            if pos < 0:
                return
            continue
        if char in "\"'":
            end = _toml_string_end(text, pos)
            if end is None:  # tomllib stops at the unclosed string
                return
            pos = end
            continue
        dots = 0
        key_start = part_start = pos + 1
        if char in "[{":
            opened.append("h" if header or opened[-1:] == ["h"] else char)
            if len(opened) > MAX_DEPTH:
                raise ctx.too_deep(ctx.position(pos), ())
        elif char in "]}" and opened:
            opened.pop()
        pos += 1
    if before == "=":
        _check_toml_integer(ctx, key_start, len(text))


def _check_toml_integer(ctx: _Context, start: int, end: int) -> None:
    """Refuse text[start:end] when it is a decimal integer of too many digits."""
    match = _TOML_DECIMAL.fullmatch(ctx.text, start, end)
    if match is not None:
        digits = match.group(1).replace("_", "")
        ctx.integer(digits, 10, ctx.position(match.start(1)), ())


def _toml_plain(ctx: _Context, value: Any, path: PathKey, depth: int) -> Any:
    """tomllib's result as plain data: dates and times become ISO strings."""
    ctx.count(1, ctx.where(path), path)
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            raise ctx.too_deep(ctx.where(path), path)
        if isinstance(value, dict):
            return {k: _toml_plain(ctx, v, (*path, k), depth + 1) for k, v in value.items()}
        return [_toml_plain(ctx, v, (*path, i), depth + 1) for i, v in enumerate(value)]
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, _Overflow):
        return ctx.real(value.text, ctx.where(path), path)  # raises: the literal overflows
    if isinstance(value, int) and len(str(abs(value))) > MAX_INT_DIGITS:
        raise ctx.error(
            f"integer too large ({len(str(abs(value)))} digits; the limit is {MAX_INT_DIGITS}): "
            "write it as a float or quote it",
            ctx.where(path),
            path,
        )
    return value


class _TomlPositions:
    """Record the position of every key and array item of a text tomllib has accepted.

    The text is known to be valid TOML, so a light scan suffices; every step still advances
    at least one character, so an unforeseen construct costs positions, never a hang.
    """

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        self.text = ctx.text
        self.table_arrays: dict[PathKey, int] = {}  # array-of-tables path -> tables so far

    def scan(self) -> None:
        table: PathKey = ()
        pos = self._skip(0)
        while pos < len(self.text):
            if self.text.startswith("[", pos):
                is_array = self.text.startswith("[[", pos)
                parts, end = self._key(pos + (2 if is_array else 1))
                table = self._header(parts, is_array, pos)
                pos = end + (2 if is_array else 1)
            else:
                parts, end = self._key(pos)
                pos = self._value(self._skip(end + 1), self._dotted(table, parts))
            pos = self._skip(pos)

    def _skip(self, pos: int) -> int:
        match = _TOML_SKIP.match(self.text, pos)
        return match.end() if match else pos

    def _key(self, pos: int) -> tuple[list[tuple[str, int]], int]:
        """The parts of a (dotted) key with their offsets, and the offset after it."""
        parts: list[tuple[str, int]] = []
        while True:
            start = self._skip(pos)
            if self.text.startswith(("'", '"'), start):
                end = _toml_string_end(self.text, start) or len(self.text)
                raw = self.text[start:end]
                name = raw[1:-1] if raw[0] == "'" else tomllib.loads(f"k = {raw}")["k"]
            else:
                match = _TOML_BARE_KEY.match(self.text, start)
                end = match.end() if match else start
                name = self.text[start:end]
            parts.append((name, start))
            pos = self._skip(end)
            if not self.text.startswith(".", pos):
                return parts, pos
            pos += 1

    def _place(self, path: PathKey, offset: int) -> None:
        self.ctx.positions.setdefault(path, self.ctx.position(offset))

    def _dotted(self, table: PathKey, parts: list[tuple[str, int]]) -> PathKey:
        path = table
        for name, offset in parts:
            path = (*path, name)
            self._place(path, offset)
        return path

    def _header(self, parts: list[tuple[str, int]], is_array: bool, offset: int) -> PathKey:
        """The table a `[a.b]` or `[[a.b]]` header opens, array indices included."""
        path: PathKey = ()
        for number, (name, name_offset) in enumerate(parts, 1):
            path = (*path, name)
            self._place(path, name_offset)
            if is_array and number == len(parts):
                index = self.table_arrays.get(path, 0)
                self.table_arrays[path] = index + 1
                path = (*path, index)
                self.ctx.positions[path] = self.ctx.position(offset)
            elif path in self.table_arrays:
                path = (*path, self.table_arrays[path] - 1)
        return path

    def _value(self, pos: int, path: PathKey) -> int:
        """Record the items and keys inside the value at `pos`; return the offset after it."""
        char = self.text[pos : pos + 1]
        if char == "[":
            pos = self._skip(pos + 1)
            index = 0
            while pos < len(self.text) and not self.text.startswith("]", pos):
                item = (*path, index)
                self.ctx.positions[item] = self.ctx.position(pos)
                pos = self._skip(self._value(pos, item))
                if self.text.startswith(",", pos):
                    pos = self._skip(pos + 1)
                index += 1
            return pos + 1
        if char == "{":
            pos = self._skip(pos + 1)
            while pos < len(self.text) and not self.text.startswith("}", pos):
                parts, end = self._key(pos)
                pos = self._skip(self._value(self._skip(end + 1), self._dotted(path, parts)))
                if self.text.startswith(",", pos):
                    pos = self._skip(pos + 1)
            return pos + 1
        if char in ("'", '"'):
            return _toml_string_end(self.text, pos) or len(self.text)
        match = _TOML_BARE_VALUE.match(self.text, pos)
        return max(match.end() if match else pos, pos + 1)
