"""``snnspec nir import|export``: NIR files to specs and back (JAX and nir imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..spec.model import check_partial
from .options import (
    AllowPathOption,
    ForceOption,
    PartialParamsOption,
    report_partial,
    use_dtype,
)

nir_app = typer.Typer(
    name="nir",
    help="Import NIR graphs (.nir) as specs and export specs as NIR.",
    no_args_is_help=True,
    add_completion=False,
)


@nir_app.command("import")
def import_nir(
    source: Annotated[Path, typer.Argument(metavar="FILE.nir", help="NIR file to read.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Spec file to write.")],
    dt: Annotated[
        float | None, typer.Option("--dt", help="Seconds per step (default 1e-3).")
    ] = None,
    discretization: Annotated[
        str, typer.Option("--discretization", help="euler (default) or exact.")
    ] = "euler",
    reset: Annotated[
        str | None,
        typer.Option(
            "--reset",
            help="value (NIR's) or subtract. Default: the reset snnspec's export recorded on "
            "each node, else value.",
            show_default=False,
        ),
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="Spec dtype.")] = "float32",
    cuba_current: Annotated[
        str | None,
        typer.Option(
            "--cuba-current",
            help="Euler update order of CubaLI/CubaLIF: previous (NIR's reference) or "
            "updated (snnTorch, Norse). Default: from the file's metadata, else previous.",
        ),
    ] = None,
    type_check: Annotated[
        bool,
        typer.Option(
            "--type-check/--no-type-check",
            help="--no-type-check reads a file whose declared node types disagree, infers "
            "the types from the nodes and lists what it ignored.",
        ),
    ] = True,
    force: ForceOption = False,
) -> None:
    """Write SPEC (.yaml/.json/.toml) and its params file SPEC.safetensors beside it.

    The spec names the params file, which holds every parameter of the compiled model in the
    spec's dtype; both are written atomically. The import is checked by compiling the spec
    with its parameters before anything is written. Choices made from the file (the CubaLIF
    update order, ignored types) are printed on stderr.
    """
    from .._errors import SpecError
    from .._io import write_text_atomic
    from ..bundle.folders import check_output_files
    from ..interop.nir import NIRTypeCheckError, from_nir
    from ..model.compile import compile as compile_spec
    from ..model.params import save_params
    from ..spec.dump import dumps, normalized_data
    from ..spec.loader import format_for

    if not source.is_file():
        raise typer.BadParameter(f"{source} is not a file", param_hint="FILE.nir")
    fmt = format_for(output)  # a spec file that `snnspec validate` reads back
    params_path = output.with_suffix(".safetensors")
    check_output_files([("-o", output), ("params file", params_path)], force=force)
    use_dtype(dtype)
    try:
        spec, arrays = from_nir(
            source,
            dt,
            name=_spec_name(output),
            dtype=dtype,
            discretization=discretization,
            reset=reset,
            cuba_current=cuba_current,
            type_check=type_check,
            notes=lambda line: typer.echo(f"note: {line}", err=True),
        )
    except NIRTypeCheckError as error:
        raise SpecError(f"{error.message}: --no-type-check", file=error.file) from None
    model = compile_spec(spec, params=arrays)
    data = normalized_data(spec)
    data["params"] = params_path.name
    save_params(model, params_path)  # every array, in the spec's dtype: a complete params file
    write_text_atomic(output, dumps(data, fmt))
    typer.echo(f"wrote {output} ({len(spec.layers)} layers) and {params_path}")


@nir_app.command("export")
def export_nir(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="Spec file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="NIR file to write.")],
    discretization: Annotated[
        str,
        typer.Option(
            "--discretization",
            help="Rule that turns SNNAX decay constants into time constants: euler or exact.",
        ),
    ] = "euler",
    partial_params: PartialParamsOption = False,
    force: ForceOption = False,
    allow_paths: AllowPathOption = None,
) -> None:
    """Write the NIR graph of SPEC (with its params file) to FILE.nir, atomically."""
    from .._io import write_atomic
    from ..bundle.folders import check_output_files
    from ..graph.plan import plan_graph
    from ..interop.nir import to_nir
    from .options import load

    check_output_files([("-o", output)], force=force)
    spec = load(spec_path, allow_paths=allow_paths or ())
    check_partial(partial_params, spec)
    graph = to_nir(spec, discretization=discretization, partial_params=partial_params or None)
    if partial_params or spec.params_partial:
        report_partial(spec, plan_graph(spec))
    import nir  # imported by to_nir, after the checks that need only the spec

    write_atomic(output, lambda path: nir.write(path, graph))
    typer.echo(f"wrote {output} ({len(graph.nodes)} nodes, {len(graph.edges)} edges)")


def _spec_name(path: Path) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem) or "nir-import"
    return name if name[0].isalpha() or name[0] == "_" else "_" + name
