"""``snnspec view``: the model page of a spec, a build folder or a training run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import (
    AllowPathOption,
    DataRootOption,
    ForceOption,
    SetOption,
    use_data_root,
    use_dtype,
)


def view(
    target: Annotated[
        Path,
        typer.Argument(metavar="SPEC|DIR", help="Spec file, build folder or training run folder."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The HTML file to write.", show_default=False)
    ],
    overrides: SetOption = None,
    allow_paths: AllowPathOption = None,
    force: ForceOption = False,
    data_root: DataRootOption = None,
) -> None:
    """Write one self-contained HTML page describing a model.

    The page holds the graph (inline SVG: layers, edges, delayed edges dashed), the layer table
    (shapes, parameters) and, for a training run folder, its results, training curves and a
    spike raster of a test sample (read with the run's data, found as `snnspec evaluate`
    finds them: --data-root as there). It needs no server and no network.
    """
    from .._io import write_text_atomic
    from ..bundle.build import load_target
    from ..bundle.folders import TRAIN, check_output_files, made_by
    from ..training.page import model_page

    if output.suffix.lower() not in (".html", ".htm"):
        raise typer.BadParameter(
            f"{output}: view writes HTML; name the file *.html", param_hint="-o"
        )
    check_output_files([("-o", output)], force=force)
    spec = load_target(target, overrides or (), allow_paths or ())
    use_dtype(spec.dtype)
    if data_root is not None and not (target.is_dir() and made_by(target) == TRAIN):
        raise typer.BadParameter(
            "applies to a training run folder (its page shows a sample of the run's data); "
            f"{target} is not one",
            param_hint="--data-root",
        )
    use_data_root(data_root, spec)
    write_text_atomic(output, model_page(target, spec))
    typer.echo(f"wrote {output}")
