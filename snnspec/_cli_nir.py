"""``snnspec nir import|export``: NIR files to specs and back (JAX and nir imported lazily)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._cli_train import ForceOption

if TYPE_CHECKING:
    import numpy as np

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
        str, typer.Option("--reset", help="value (NIR's, default) or subtract.")
    ] = "value",
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

    The spec names the params file; both are written atomically. The import is checked by
    compiling the spec with its parameters before anything is written. Choices made from the
    file (the CubaLIF update order, ignored types) are printed on stderr.
    """
    from ._compiler import compile as compile_spec
    from ._dump import dumps, normalized_data
    from ._errors import SpecError
    from ._folders import check_output_files
    from ._io import write_text_atomic
    from ._loader import format_for
    from ._nir import NIRTypeCheckError, from_nir

    if not source.is_file():
        raise typer.BadParameter(f"{source} is not a file", param_hint="FILE.nir")
    fmt = format_for(output)  # a spec file that `snnspec validate` reads back
    params_path = output.with_suffix(".safetensors")
    check_output_files([("-o", output), ("params file", params_path)], force=force)
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
    compile_spec(spec, params=arrays)
    data = normalized_data(spec)
    data["params"] = params_path.name
    _save_arrays(params_path, arrays, dtype)
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
    force: ForceOption = False,
) -> None:
    """Write the NIR graph of SPEC (with its params file) to FILE.nir, atomically."""
    import nir

    from ._folders import check_output_files
    from ._io import write_atomic
    from ._nir import to_nir
    from ._spec import load

    check_output_files([("-o", output)], force=force)
    graph = to_nir(load(spec_path), discretization=discretization)
    write_atomic(output, lambda path: nir.write(path, graph))
    typer.echo(f"wrote {output} ({len(graph.nodes)} nodes, {len(graph.edges)} edges)")


def _spec_name(path: Path) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem) or "nir-import"
    return name if name[0].isalpha() or name[0] == "_" else "_" + name


def _save_arrays(path: Path, arrays: Mapping[str, np.ndarray], dtype: str) -> None:
    """Arrays in the spec's dtype (float32 for bfloat16, which NumPy lacks), atomically."""
    import numpy as np
    from safetensors.numpy import save_file

    from ._io import write_atomic

    stored = dtype if dtype in ("float16", "float32", "float64") else "float32"
    cast = {key: np.ascontiguousarray(value, dtype=stored) for key, value in arrays.items()}
    write_atomic(path, lambda tmp: save_file(cast, str(tmp)))
