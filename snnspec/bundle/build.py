"""Build folders (``snnspec build``): writing one, and reading a spec from a file or a folder.

A build folder holds the normalised spec (every name, inferred size and source explicit), a
params file with every array and a manifest with the sha256 of both and the versions used;
reading it back verifies the hashes first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import InputError
from .._io import sha256_file, write_text_atomic
from ..spec.load import load
from ..spec.loader import load_json_file
from . import MANIFEST, PARAMS, SPEC

if TYPE_CHECKING:
    from ..graph.plan import GraphPlan
    from ..model.model import StatefulModel
    from ..spec.model import ModelSpec


def write_build(
    output: Path, source: Path, spec: ModelSpec, plan: GraphPlan, model: StatefulModel
) -> None:
    """Write ``model`` of ``spec`` (read from ``source``) as a build folder ``output``."""
    from ..model.params import save_params
    from ..spec.compose import spec_files
    from ..spec.dump import dumps, normalized_data
    from .environment import manifest_fields
    from .folders import BUILD

    data = normalized_data(spec, plan)
    data.update(params=PARAMS, params_partial=False)  # the built file has every array
    save_params(model, output / PARAMS)
    write_text_atomic(output / SPEC, dumps(data))
    manifest = {
        "snnspec_format": 1,
        "made_by": BUILD,
        "name": spec.name,
        "source": str(source),
        "spec": SPEC,
        "spec_sha256": sha256_file(output / SPEC),
        "params": PARAMS,
        "params_sha256": sha256_file(output / PARAMS),
        "spec_files": spec_files(spec.document),
        **manifest_fields(),
    }
    write_text_atomic(output / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def load_target(
    target: Path, overrides: Sequence[str] = (), allow_paths: Sequence[Path] = ()
) -> ModelSpec:
    """A spec file, or a build or finished run folder whose manifest hashes are verified
    first; ``overrides`` apply to the folder's spec.yaml as to a spec file."""
    if not target.is_dir():
        if not target.exists() and not target.suffix:
            raise InputError(f"{target}: no such spec file or build folder; check the path")
        return load(target, overrides, allow_paths=allow_paths)
    return trained_spec(target, overrides)


def trained_spec(folder: Path, overrides: Sequence[str] = ()) -> ModelSpec:
    """The trained model's spec of a build or finished run folder (``spec.yaml``, whose
    ``params:`` is the folder's params file), after checking both against the sha256 the
    manifest records; ``overrides`` apply to it as to a spec file."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise InputError(
            f"{folder} is a folder without {MANIFEST}; pass a spec file or a `snnspec build` folder"
        )
    manifest = load_json_file(manifest_path)
    from ..training.loop import unfinished_run

    unfinished_run(folder, manifest)
    try:
        expected = {SPEC: manifest["spec_sha256"], PARAMS: manifest["params_sha256"]}
    except (KeyError, TypeError) as error:
        raise InputError(f"{manifest_path}: not a valid snnspec manifest ({error})") from None
    for name, digest in expected.items():
        path = folder / name
        if not path.is_file():
            raise InputError(f"{path}: missing; rebuild with `snnspec build`")
        if sha256_file(path) != digest:
            raise InputError(
                f"{path}: sha256 does not match {MANIFEST}; the build was modified, rebuild it"
            )
    return load(folder / SPEC, overrides)
