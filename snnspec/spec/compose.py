"""``extends:``: a spec built on other spec files, merged into one document (no JAX).

A spec may name one base file or a list, ``extends: base.yaml`` or ``extends: [a.yaml,
b.yaml]``, each path relative to the file that names it; bases may extend others in turn.
The list is applied in order (``b`` onto ``a``), then the file itself onto the result:

- mappings merge key by key, deeply; any other value (lists included) replaces the base's;
- ``layers`` merge by ``name``: a layer whose name a base already has updates that layer (a
  deep merge, in the base's position), a new name is appended. Both sides must name every
  layer, and the merged files must use the named graph form (an index ``graph`` would
  point at shifted layers);
- top-level ``x-*`` keys hold YAML anchors for reuse inside one file and are dropped before
  validation (any other unknown key stays an error);
- a relative ``params``, ``train.data.path``, ``test_path`` or ``root`` set in a base file
  is rewritten to stay relative to the top-level file, so it still names the same file.

Every file must lie inside the project: the nearest folder above the top-level file that
holds ``.git``, ``pyproject.toml`` or ``snnspec.toml`` (else the top-level file's folder),
or inside a folder given in ``allow_paths``. Missing files, paths that leave the project and
cycles are :class:`SpecError` located at the ``extends`` entry that names them.

The merged :class:`Document` keeps, for every key and item, the file and position that set
it, so a later error points into the right file through any depth of ``extends``; its
``files`` lists every file read (path relative to the top-level file's folder, sha256).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .._errors import SpecError
from .._io import sha256_file
from .loader import Document, PathKey, Position, load_document

EXTENDS = "extends"
ANCHOR_PREFIX = "x-"
PROJECT_MARKERS = (".git", "pyproject.toml", "snnspec.toml")
PATH_FIELDS: tuple[PathKey, ...] = (
    ("params",),
    ("train", "data", "path"),
    ("train", "data", "test_path"),
    ("train", "data", "root"),
)
"""Fields holding a path relative to the spec file (rewritten when a base file sets them)."""

Located = tuple[str, Position]
"""(file, (line, column)) where a key or item was written."""


@dataclass
class _Tree:
    """Data plus the file and position of every key and item, by path below the root."""

    data: Any
    where: dict[PathKey, Located]

    def sub(self, key: str | int) -> _Tree:
        """The tree below ``key``."""
        return _Tree(
            self.data[key],
            {path[1:]: loc for path, loc in self.where.items() if path[:1] == (key,)},
        )


def load_composed(
    path: str | os.PathLike[str], allow_paths: Sequence[str | os.PathLike[str]] = ()
) -> Document:
    """The document of ``path`` with its ``extends`` chain merged and ``x-*`` keys dropped."""
    top = Path(path)
    document = load_document(top)
    data = document.data
    if not isinstance(data, dict) or (
        EXTENDS not in data and not any(_is_anchor_key(key) for key in data)
    ):
        return document
    composer = _Composer(top.resolve(), allow_paths)
    tree = composer.compose(document, top.resolve(), chain=())
    for key in [k for k in tree.data if _is_anchor_key(k)]:
        del tree.data[key]
        tree.where = {p: loc for p, loc in tree.where.items() if p[:1] != (key,)}
    positions = {p: loc[1] for p, loc in tree.where.items()}
    positions[()] = (1, 1)
    origins = {p: loc[0] for p, loc in tree.where.items() if loc[0] != document.source}
    composed = Document(
        document.source,
        document.format,
        tree.data,
        MappingProxyType(positions),
        origins=MappingProxyType(origins),
        files=tuple(composer.files.items()),
    )
    if composer.merged_layers:
        _check_named_graph(composed)
    return composed


def _is_anchor_key(key: Any) -> bool:
    return isinstance(key, str) and key.startswith(ANCHOR_PREFIX)


def _project_root(top: Path) -> Path:
    """The nearest folder above ``top`` holding a project marker, else ``top``'s folder."""
    for folder in top.parents:
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return top.parent


class _Composer:
    """One composition: the allowed folders, the files read, whether layers were merged."""

    def __init__(self, top: Path, allow_paths: Sequence[str | os.PathLike[str]]) -> None:
        self.top_folder = top.parent
        self.roots = [_project_root(top), *(Path(p).resolve() for p in allow_paths)]
        self.files: dict[str, str] = {}
        self.merged_layers = False

    def compose(self, document: Document, file: Path, chain: tuple[Path, ...]) -> _Tree:
        """The tree of ``document`` (read from ``file``) merged onto the files it extends."""
        relative = os.path.relpath(file, self.top_folder)
        self.files[relative] = sha256_file(file)
        tree = _Tree(
            document.data,
            {path: (document.source, where) for path, where in document.positions.items()},
        )
        if not isinstance(tree.data, dict) or EXTENDS not in tree.data:
            return tree
        names = tree.data.pop(EXTENDS)
        tree.where = {p: loc for p, loc in tree.where.items() if p[:1] != (EXTENDS,)}
        entries = [names] if isinstance(names, str) else names
        if (
            not entries
            or not isinstance(entries, list)
            or not all(isinstance(entry, str) and entry for entry in entries)
        ):
            raise document.error(
                (EXTENDS,), "expected a file path or a list of file paths, e.g. extends: base.yaml"
            )
        base: _Tree | None = None
        for index, entry in enumerate(entries):
            where = (EXTENDS,) if isinstance(names, str) else (EXTENDS, index)
            target = (file.parent / entry).resolve()
            self._check_target(document, where, entry, target, (*chain, file))
            parsed = load_document(target)
            if not isinstance(parsed.data, dict):
                raise parsed.error((), "an extended file must hold a mapping, like any spec")
            loaded = self.compose(parsed, target, (*chain, file))
            _rebase_paths(loaded, target.parent, self.top_folder)
            base = loaded if base is None else self.merge(base, loaded, ())
        return self.merge(base, tree, ()) if base is not None else tree

    def _check_target(
        self,
        document: Document,
        where: tuple[str | int, ...],
        entry: str,
        target: Path,
        chain: tuple[Path, ...],
    ) -> None:
        if target in chain:
            cycle = " -> ".join(str(p) for p in (*chain[chain.index(target) :], target))
            raise document.error(where, f"extends cycle: {cycle}")
        if not any(target == root or root in target.parents for root in self.roots):
            raise document.error(
                where,
                f"'{entry}' is outside the project ({self.roots[0]}): a spec may extend files "
                "inside it only, unless their folder is allowed explicitly",
            )
        if not target.is_file():
            raise document.error(where, f"extended file '{entry}' not found ({target})")

    def merge(self, base: _Tree, child: _Tree, path: PathKey) -> _Tree:
        """``child`` merged onto ``base`` (see the module docstring for the rules)."""
        if not isinstance(base.data, dict) or not isinstance(child.data, dict):
            return child
        data = dict(base.data)
        where = dict(base.where)
        for key, value in child.data.items():
            sub = child.sub(key)
            if key in data and path == () and key == "layers":
                merged = self.merge_layers(base.sub(key), sub)
            elif key in data and isinstance(data[key], dict) and isinstance(value, dict):
                merged = self.merge(base.sub(key), sub, (*path, key))
            else:
                merged = sub
            data[key] = merged.data
            where = {p: loc for p, loc in where.items() if p[:1] != (key,)}
            where.update({(key, *p): loc for p, loc in merged.where.items()})
        return _Tree(data, where)

    def merge_layers(self, base: _Tree, child: _Tree) -> _Tree:
        """Layers by name: a known name updates the base's layer, a new one is appended."""
        if not isinstance(base.data, list) or not isinstance(child.data, list):
            return child
        self.merged_layers = True
        for side in (base, child):
            for index, layer in enumerate(side.data):
                if not isinstance(layer, dict) or not isinstance(layer.get("name"), str):
                    file, (line, column) = side.where[(index,)]
                    raise SpecError(
                        "layers merged through extends need a name: on every layer (a layer "
                        "whose name a base has updates it, a new name is appended)",
                        file=file,
                        line=line,
                        column=column,
                        path=("layers", index),
                    )
        names = [layer["name"] for layer in base.data]
        layers = list(base.data)
        where = dict(base.where)
        for index, layer in enumerate(child.data):
            item = child.sub(index)
            if layer["name"] in names:
                at = names.index(layer["name"])
                item = self.merge(base.sub(at), item, ("layers", at))
            else:
                at = len(layers)
                names.append(layer["name"])
                layers.append(None)
            layers[at] = item.data
            where = {p: loc for p, loc in where.items() if p[:1] != (at,)}
            where.update({(at, *p): loc for p, loc in item.where.items()})
        return _Tree(layers, where)


def _rebase_paths(tree: _Tree, folder: Path, top_folder: Path) -> None:
    """Make relative path fields set in a base file relative to the top-level file."""
    for path in PATH_FIELDS:
        node = tree.data
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        value = node.get(path[-1]) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(value, str) and not os.path.isabs(value):
            node[path[-1]] = os.path.relpath(folder / value, top_folder)


def _check_named_graph(document: Document) -> None:
    """Refuse an index ``graph`` in a spec whose layers were merged through ``extends``."""
    graph = document.data.get("graph")
    if isinstance(graph, Mapping) and any(key != "timing" for key in graph):
        raise document.error(
            ("graph",),
            "a spec whose layers are merged through extends must use the named graph form "
            "(inputs: on layers, outputs: at the top): an index graph would point at "
            "shifted layers",
        )


def spec_files(document: Document | None) -> list[dict[str, str]]:
    """The files a spec was merged from through ``extends`` (its own first), each as
    ``{"path": relative to the top-level file's folder, "sha256": ...}``; [] for one file."""
    if document is None:
        return []
    return [{"path": path, "sha256": digest} for path, digest in document.files]
