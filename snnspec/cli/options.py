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

from .._errors import InputError
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


DevicesOption = Annotated[
    str | None,
    typer.Option(help="Shard the batch over N devices or 'all' (data parallel)."),
]

DistributedOption = Annotated[
    bool,
    typer.Option(
        "--distributed",
        help="Multi-process run: call jax.distributed.initialize() first (implies "
        "--devices all unless given).",
    ),
]

CoordinatorOption = Annotated[
    str | None,
    typer.Option(
        metavar="HOST:PORT",
        help="With --distributed: address of process 0's coordinator, the same for every "
        "process (default: $JAX_COORDINATOR_ADDRESS or the detected cluster's).",
        show_default=False,
    ),
]

NumProcessesOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="With --distributed: number of processes (default: the detected cluster's).",
        show_default=False,
    ),
]

ProcessIdOption = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="With --distributed: this process's id, 0 to N-1 (default: the detected cluster's).",
        show_default=False,
    ),
]


def check_distributed(
    distributed: bool, coordinator: str | None, num_processes: int | None, process_id: int | None
) -> None:
    """Consistent --distributed options, checked before JAX starts."""
    given = {
        "--coordinator": coordinator,
        "--num-processes": num_processes,
        "--process-id": process_id,
    }
    if not distributed:
        for option, value in given.items():
            if value is not None:
                raise InputError(f"{option} needs --distributed")
        return
    if coordinator is not None:
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InputError(f"--coordinator must be HOST:PORT, got {coordinator!r}")
    if num_processes is not None and process_id is not None and process_id >= num_processes:
        raise InputError(
            f"--process-id {process_id} must be smaller than --num-processes {num_processes}"
        )


def initialize_distributed(
    coordinator: str | None, num_processes: int | None, process_id: int | None
) -> None:
    """``jax.distributed.initialize`` with the values given; JAX detects the others."""
    import jax

    try:
        jax.distributed.initialize(coordinator, num_processes, process_id)
    except ValueError as error:  # a value neither given nor detected
        raise InputError(
            f"--distributed: {str(error).rstrip('.')} (no Slurm, Open MPI, Cloud TPU or "
            "Kubernetes cluster was detected to provide it); pass --coordinator HOST:PORT, "
            "--num-processes N and --process-id I"
        ) from None
    except RuntimeError as error:  # the coordinator cannot be started or reached
        address = coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS") or "(detected)"
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(
            f"--distributed: cannot start or reach the coordinator at {address}: {detail}"
        ) from None
