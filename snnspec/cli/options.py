"""The options that several commands share, defined once, and their small helpers.

Each option is an ``Annotated`` type for a Typer parameter: a command takes
``overrides: SetOption = None`` and gets ``--set`` with the same name, metavar and help as
every other command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..spec.load import load as load_spec

if TYPE_CHECKING:
    from ..graph.plan import GraphPlan
    from ..spec.model import ModelSpec


def load(
    path: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    *,
    allow_paths: Sequence[str | os.PathLike[str]] = (),
) -> ModelSpec:
    """The one loader (:func:`snnspec.spec.load.load`), then :func:`use_dtype` of the spec."""
    spec = load_spec(path, overrides, allow_paths=allow_paths)
    use_dtype(spec.dtype)
    return spec


def use_dtype(dtype: str) -> None:
    """Turn on JAX's 64-bit mode for ``float64`` before JAX does any work.

    The library refuses a float64 model while the mode is off (``snnspec.compile`` says how to
    turn it on); the command line knows the spec before it starts JAX and turns it on itself:
    through ``JAX_ENABLE_X64``, read when JAX is imported, or JAX's config when it already is.
    """
    if dtype != "float64":
        return
    if "jax" in sys.modules:
        sys.modules["jax"].config.update("jax_enable_x64", True)
    else:
        os.environ["JAX_ENABLE_X64"] = "1"


MaxMemoryOption = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        metavar="SIZE",
        help="Memory budget, e.g. 2GiB or 500MB ('unlimited': no check). "
        "Default: half of the machine's memory.",
        show_default=False,
    ),
]

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="PATH=VALUE",
        help="Override a spec value, e.g. --set train.epochs=3 --set layers.1.threshold=0.5 "
        "(repeatable; the value is YAML; the spec is validated again).",
        show_default=False,
    ),
]

AllowPathOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--allow-path",
        metavar="DIR",
        help="A folder outside the project that `extends:` may read spec files from (repeatable).",
        show_default=False,
    ),
]

ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace this command's earlier output; never another command's folder "
        "(docs/guarantees.md).",
    ),
]


PartialParamsOption = Annotated[
    bool,
    typer.Option(
        "--partial-params",
        help="Allow the params file to leave parameters out: they keep their seeded initial "
        "values and are listed (as `params_partial: true` in the spec).",
    ),
]


def report_partial(spec: ModelSpec, plan: GraphPlan, extra: Path | None = None) -> None:
    """Name, on stderr, the parameters a partial load left at their seeded initial values."""
    from ..model.params import partial_note

    note = partial_note(spec, plan, extra)
    if note is not None:
        typer.echo(note, err=True)


DataRootOption = Annotated[
    Path | None,
    typer.Option(
        "--data-root",
        metavar="DIR",
        exists=True,
        file_okay=False,
        resolve_path=True,
        help="Folder a data source's relative `root:` is relative to, instead of the spec's "
        "(overrides $SNNSPEC_DATA_ROOT).",
        show_default=False,
    ),
]


def use_data_root(root: Path | None, spec: ModelSpec | None) -> None:
    """Make ``--data-root DIR`` the process's ``$SNNSPEC_DATA_ROOT`` (which the data loaders,
    and the trainings a sweep starts, read), after checking the spec's data have a root."""
    if root is None:
        return
    from ..training.data import DATA_ROOT_ENV

    data = None if spec is None or spec.train is None else spec.train.data
    if data is not None and not isinstance(getattr(data, "root", None), str):
        raise typer.BadParameter(
            f"applies to data sources with a `root:` folder; this spec's data are {data.type}",
            param_hint="--data-root",
        )
    os.environ[DATA_ROOT_ENV] = str(root)


StrictEnvOption = Annotated[
    bool,
    typer.Option(
        "--strict-env",
        help="Refuse (exit 1) a folder made in an environment that can compute different "
        "numbers (versions, backend, x64, XLA flags, CPU), instead of warning.",
    ),
]
