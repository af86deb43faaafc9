"""``snnspec nir import|export``: NIR files to specs and back (JAX and nir imported lazily)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

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
        str | None,
        typer.Option(
            "--reset",
            help="value (NIR's) or subtract. Default: the reset snnspec's export recorded on "
            "each node, else value.",
            show_default=False,
        ),
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="Spec dtype.")] = "float32",
) -> None:
    """Write SPEC (.yaml/.json/.toml) and its params file SPEC.safetensors beside it.

    The spec names the params file; both are written atomically. The import is checked by
    compiling the spec with its parameters before anything is written.
    """
    from ._compiler import compile as compile_spec
    from ._dump import dumps, normalized_data
    from ._io import write_text_atomic
    from ._nir import from_nir

    if not source.is_file():
        raise typer.BadParameter(f"{source} is not a file", param_hint="FILE.nir")
    spec, arrays = from_nir(
        source,
        dt,
        name=_spec_name(output),
        dtype=dtype,
        discretization=discretization,
        reset=reset,
    )
    compile_spec(spec, params=arrays)
    params_path = output.with_suffix(".safetensors")
    data = normalized_data(spec)
    data["params"] = params_path.name
    fmt = {".json": "json", ".toml": "toml"}.get(output.suffix.lower(), "yaml")
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
) -> None:
    """Write the NIR graph of SPEC (with its params file) to FILE.nir, atomically."""
    import nir

    from ._io import write_atomic
    from ._nir import to_nir
    from ._spec import load

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
