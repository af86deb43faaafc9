"""What commands may write where: the rule that no output replaces another's work.

Folder outputs (``build -o``, ``train -o``):

- a missing or empty folder is written;
- a folder that the same command made earlier is replaced only with ``--force``
  (continuing one's own run, ``train DIR --resume``, is not a replacement);
- a folder made by another command, or holding files no snnspec command made, is never
  written into, not even with ``--force``; the message names the command that made it.

File outputs (``run -o/--plot``, ``resolve -o``, ``graph -o``, ``export -o``, ``nir import
-o``, ``nir export -o``, and the ``.safetensors`` files written beside the last two):

- an existing file is replaced only with ``--force``;
- a file is never written inside a build or run folder (its own command writes there).

Which command made a folder is read from ``manifest.json`` (``"made_by"``); folders made
before that key existed are recognised by their manifest's format key.
This module imports neither JAX nor NumPy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .._errors import Hint, InputError, SpecError
from ..spec.loader import load_json_file
from . import MANIFEST

BUILD = "build"
TRAIN = "train"


def made_by(directory: Path) -> str | None:
    """``"build"`` or ``"train"`` when that snnspec command made ``directory``, else None."""
    if not (directory / MANIFEST).is_file():
        return None
    try:
        manifest = load_json_file(directory / MANIFEST)
    except SpecError:
        return None
    if not isinstance(manifest, dict):
        return None
    maker = manifest.get("made_by")
    if maker in (BUILD, TRAIN):
        return maker
    if "snnspec_run" in manifest:  # run folders from before "made_by"
        return TRAIN
    if "snnspec_format" in manifest:  # build folders from before "made_by"
        return BUILD
    return None


_OUTPUT = Hint(options=("force", "output"))


def check_output_folder(
    directory: Path, command: str, *, force: bool, resume: bool = False
) -> bool:
    """Refuse to write ``command``'s output into ``directory`` unless the rule allows it.

    Return True when ``directory`` holds an earlier output of ``command`` that ``--force``
    (or ``resume``) lets it replace or continue.
    """
    if directory.exists() and not directory.is_dir():
        raise InputError(
            f"{directory} exists and is not a folder; choose another `output`", hint=_OUTPUT
        )
    refuse_inside_made_folder("`output`", directory)
    if not directory.is_dir() or not any(directory.iterdir()):
        return False
    maker = made_by(directory)
    if maker is not None and maker != command:
        raise InputError(
            f"{directory} holds the output of `snnspec {maker}`; `snnspec {command}` never "
            "writes into it (not even with `force=True`); choose another `output`",
            hint=_OUTPUT,
        )
    if maker is None:
        raise InputError(
            f"{directory} is not empty and was not made by `snnspec {command}`; snnspec writes "
            "only into an empty folder or its own earlier output (not even `force=True` "
            "changes that); choose another `output`",
            hint=_OUTPUT,
        )
    if resume or force:
        return True
    if command == TRAIN:
        raise InputError(
            f"{directory} holds a `snnspec train` run; pass `resume=True` to continue it, "
            "`force=True` to replace it, or choose another `output`",
            hint=Hint(options=("resume", "force", "output")),
        )
    raise InputError(
        f"{directory} holds an earlier `snnspec {command}` output; pass `force=True` to "
        "replace it or choose another `output`",
        hint=_OUTPUT,
    )


def check_output_files(outputs: Iterable[tuple[str, Path]], *, force: bool) -> None:
    """Refuse to replace an existing file without ``force``, to write into a build or run
    folder, or over a folder. ``outputs`` are ``(what, path)``: the option that names the
    file (``-o``, ``--plot``) or what the file is (``params file``)."""
    seen: dict[Path, str] = {}
    for what, path in outputs:
        refuse_inside_made_folder(what, path)
        same = seen.setdefault(Path(os.path.abspath(path)), what)
        if same != what:
            raise InputError(f"{same} and {what} name the same file {path}; give two paths")
        if path.is_dir():
            raise InputError(f"{what} {path} is a folder; give the path of a file")
        if (path.exists() or path.is_symlink()) and not force:
            raise InputError(
                f"{what} {path} exists; pass `force=True` to replace it or choose another path",
                hint=_OUTPUT,
            )


def refuse_inside_made_folder(what: str, path: Path) -> None:
    """Refuse ``path`` when a folder above it was made by a build or a training run (or
    is a file)."""
    for directory in Path(os.path.abspath(path)).parents:
        if directory.exists() and not directory.is_dir():
            raise InputError(f"{what} {path}: {directory} is a file, not a folder", hint=_OUTPUT)
        maker = made_by(directory)
        if maker is not None:
            raise InputError(
                f"{what} {path}: {directory} is a `snnspec {maker}` folder and only `snnspec "
                f"{maker}` writes into it (not even `force=True` changes that); write elsewhere",
                hint=_OUTPUT,
            )
