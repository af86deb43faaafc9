"""``snnspec export``: write a spec as a self-contained Python module (no JAX at import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._errors import InputError
from ..spec.model import check_partial
from .options import (
    AllowPathOption,
    ForceOption,
    PartialParamsOption,
    report_partial,
)


def export(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="Spec file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Python file to write.")],
    python: Annotated[
        bool, typer.Option("--python", help="Write a Python module (the only format so far).")
    ] = False,
    params: Annotated[
        Path | None,
        typer.Option("--params", help="Params file whose arrays the module loads (.safetensors)."),
    ] = None,
    partial_params: PartialParamsOption = False,
    force: ForceOption = False,
    allow_paths: AllowPathOption = None,
) -> None:
    """Write a Python module that rebuilds the spec's Equinox model without the spec file.

    The module builds every layer with snnspec's layer classes and the graph as a literal
    plan; parameters follow the spec's seed rule. With a params file (the spec's `params:`
    or --params) its arrays are written beside the module as <name>.safetensors and loaded.
    """
    from ..bundle.folders import check_output_files
    from ..interop.python import export_files, export_python
    from .options import load

    if not python:
        raise InputError("choose an export format: --python")
    if output.suffix != ".py":
        raise InputError(f"--output must be a .py file, got {output}")
    spec = load(spec_path, allow_paths=allow_paths or ())
    check_partial(partial_params, spec, params)
    module, *companion = export_files(spec, output, params=params)
    check_output_files(
        [("-o", module), *(("params file", path) for path in companion)], force=force
    )
    written = export_python(
        spec, output, params=params, source=spec_path.name, partial_params=partial_params or None
    )
    if partial_params or spec.params_partial:
        from ..graph.plan import plan_graph

        report_partial(spec, plan_graph(spec), params)
    typer.echo("wrote " + ", ".join(str(path) for path in written))
