"""Commands ``train``, ``evaluate``, ``reproduce``, ``env``, ``resolve`` and ``graph``.

They are registered in :mod:`.cli`. JAX is imported inside ``train``, ``evaluate``,
``reproduce`` and ``env`` only; ``resolve`` and ``graph`` work on the spec and its graph plan.
"""

from __future__ import annotations

import contextlib
import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .._errors import InputError, SpecError, printable
from .._io import sha256_text
from ..bundle import MANIFEST, RESOLVED
from ..spec.overrides import resolved_text
from .options import (
    AllowPathOption,
    CoordinatorOption,
    DataRootOption,
    DevicesOption,
    DistributedOption,
    ForceOption,
    MaxMemoryOption,
    NumProcessesOption,
    PartialParamsOption,
    ProcessIdOption,
    SetOption,
    StrictEnvOption,
    check_distributed,
    initialize_distributed,
    load,
    use_data_root,
)

if TYPE_CHECKING:
    pass


class DiagramFormat(enum.StrEnum):
    mermaid = "mermaid"
    dot = "dot"


class LogTarget(enum.StrEnum):
    tensorboard = "tensorboard"
    mlflow = "mlflow"


def train(
    spec_path: Annotated[
        Path, typer.Argument(metavar="SPEC|DIR", help="Spec file, or a run folder to resume.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Run folder; default runs/<name>-<timestamp>."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue the run in the folder from its last checkpoint."),
    ] = False,
    overrides: SetOption = None,
    allow_paths: AllowPathOption = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on terminals.")
    ] = True,
    log: Annotated[
        list[LogTarget] | None,
        typer.Option(
            "--log",
            metavar="tensorboard|mlflow",
            help="Also log to TensorBoard (DIR/tensorboard/) or MLflow ($MLFLOW_TRACKING_URI, "
            "else DIR/mlflow.db); repeatable. Needs snnspec's extra of that name.",
            show_default=False,
        ),
    ] = None,
    max_memory: MaxMemoryOption = None,
    force: ForceOption = False,
    partial_params: PartialParamsOption = False,
    strict_env: StrictEnvOption = False,
    data_root: DataRootOption = None,
    devices: DevicesOption = None,
    distributed: DistributedOption = False,
    coordinator: CoordinatorOption = None,
    num_processes: NumProcessesOption = None,
    process_id: ProcessIdOption = None,
) -> None:
    """Train a spec's model with its `train:` section; write a reproducible run folder.

    The folder holds metrics.jsonl, checkpoints (every epoch and the best), the resolved
    spec, the trained model (`snnspec run DIR` runs it), results.json and manifest.json.
    Ctrl-C keeps the last finished epoch's checkpoint; continue with --resume, which warns
    (--strict-env: refuses) when the environment differs from the run's. The folder must be
    new or empty; --force replaces an earlier training run in it; `--resume --set
    train.epochs=N` extends a finished or interrupted run (no other --set applies). The Python API
    `snnspec.train` does the same.

    With --devices every batch (train.batch_size, the global batch) is split over a device
    mesh, parameters and optimizer state replicated; the results equal the one-device run up
    to float rounding. With --distributed every process runs the same command (with the same
    -o DIR, which every process must see for --resume), reads only its rows of each batch,
    and only process 0 writes DIR.
    """
    from ..training.api import train as train_run

    check_distributed(distributed, coordinator, num_processes, process_id)
    if distributed and devices is None:
        devices = "all"
    if distributed and output is None and not spec_path.is_dir():
        raise typer.BadParameter(
            "every process of a --distributed run needs the same run folder; pass -o DIR",
            param_hint="-o",
        )
    spec = None
    if spec_path.is_dir():  # a run folder: its resolved spec (overrides add epochs only)
        if (spec_path / RESOLVED).is_file():
            spec = load(spec_path / RESOLVED)  # turns on JAX's 64-bit mode for a float64 run
    elif spec_path.exists():
        spec = load(spec_path, overrides or (), allow_paths=allow_paths or ())  # and here
    use_data_root(data_root, spec)
    if distributed:
        initialize_distributed(coordinator, num_processes, process_id)
    train_run(  # its UsageError is a usage error on its flag (the commands' wrapper)
        spec_path,
        output,
        overrides or (),
        resume=resume,
        force=force,
        progress=progress,
        allow_paths=allow_paths or (),
        log=[target.value for target in log or ()],
        partial_params=partial_params,
        max_memory=max_memory,
        strict_env=strict_env,
        devices=devices,
        echo=typer.echo,
        warn=_warn,
    )


def evaluate(
    run_dir: Annotated[Path, typer.Argument(metavar="DIR", help="A `snnspec train` folder.")],
    checkpoint: Annotated[
        str,
        typer.Option(help="final (params.safetensors), best, or epoch-N (e.g. epoch-12)."),
    ] = "final",
    max_memory: MaxMemoryOption = None,
    strict_env: StrictEnvOption = False,
    data_root: DataRootOption = None,
) -> None:
    """Rescore a training run on its test set (exit 1 if it differs from the report).

    With the final parameters the test accuracy must equal the one the run reported,
    exactly; --checkpoint best or epoch-N rescores another checkpoint. The memory of a
    forward pass at the training batch size is checked before JAX starts. A run made in
    another environment is a warning (--strict-env: exit 1).
    """
    from ..bundle.environment import check_folder
    from ..graph.plan import plan_graph
    from ..graph.resources import budget, check_run
    from ..training.custom import code_notes
    from ..training.loop import evaluate_run, read_manifest

    manifest = read_manifest(run_dir)
    spec = load(run_dir / RESOLVED)
    use_data_root(data_root, spec)
    if spec.train is not None:
        check_run(spec, plan_graph(spec), budget(max_memory), spec.train.batch_size, None)
    check_folder(run_dir, manifest, strict=strict_env, warn=_warn, dtype=spec.dtype)
    notes, warnings = code_notes(spec, manifest)
    for line in notes:
        _say(line)
    for line in warnings:
        _warn(line)
    scores = evaluate_run(run_dir, checkpoint)
    typer.echo(f"{scores['checkpoint']}")
    selected = (manifest.get("results") or {}).get("selected")
    if checkpoint in ("final", "best") and isinstance(selected, dict):
        typer.echo(f"selected epoch {selected.get('epoch')}: {selected.get('reason')}")
    typer.echo(f"test accuracy {scores['test_accuracy']:.6f}  test loss {scores['test_loss']:.6f}")
    if "test_spike_rate" in scores:
        for name, rate in scores["test_spike_rate"].items():
            typer.echo(f"  spike rate {name}: {rate:.4f}")
    reported = (manifest.get("results") or {}).get("test_accuracy")
    if checkpoint != "final":
        return
    if reported is None:
        typer.echo("the run has not finished: no reported test accuracy to compare with")
    elif reported == scores["test_accuracy"]:
        typer.echo(f"reproduces the reported test accuracy {reported:.6f} exactly")
    else:
        raise InputError(
            f"test accuracy {scores['test_accuracy']!r} differs from the reported {reported!r}"
        )


def reproduce(
    run_dir: Annotated[Path, typer.Argument(metavar="DIR", help="A `snnspec train` folder.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="New run folder; default DIR-reproduce-N."),
    ] = None,
    strict_env: StrictEnvOption = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on terminals.")
    ] = True,
    data_root: DataRootOption = None,
) -> None:
    """Train a run again from its record and compare: exit 0 when bitwise identical, else 1.

    The resolved spec (its sha256 must match the manifest: an edited spec is refused), the
    data (sha256 checked), seed and overrides come from DIR; the new folder is never an
    existing one. A run extended with more epochs is replayed as it ran: the original
    epochs, then each extension. The final parameters, every epoch's metrics and results.json
    (the selected epoch and its test metrics) are compared (timing fields are not): bitwise,
    or the largest difference per parameter and per metric.
    """
    from ..training.reproduce import reproduce as run_reproduction

    spec = None
    if (run_dir / RESOLVED).is_file():  # a float64 run needs JAX's 64-bit mode turned on first
        with contextlib.suppress(SpecError):  # reproduce reports the problem in its own order
            spec = load(run_dir / RESOLVED)
    use_data_root(data_root, spec)
    result = run_reproduction(
        run_dir, output, strict_env=strict_env, progress=progress, echo=_say, warn=_warn
    )
    for line in result.lines:
        _say(line)
    if not result.matched:
        raise InputError(f"{result.directory} does not reproduce {run_dir} bitwise (see above)")
    _say(f"reproduced bitwise: {result.directory} matches {run_dir}")


def env(
    folder: Annotated[
        Path | None,
        typer.Argument(
            metavar="[DIR]", help="A build or run folder to compare with.", show_default=False
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the full record (every distribution) as JSON.")
    ] = False,
) -> None:
    """Print this environment, or how it differs from the one a build or run folder records.

    The differences that can change numbers (snnspec, JAX, jaxlib, Equinox, optax, NumPy,
    backend, JAX settings, XLA flags, CPU instruction sets and count) come first, then the
    others (Python, platform, other distributions).
    """
    import json

    from ..bundle.environment import (
        NOT_RECORDED,
        current,
        describe,
        differences,
        other_differences,
        recorded,
    )
    from ..spec.loader import load_json_file

    now = current()
    if folder is None:
        if as_json:
            typer.echo(json.dumps(now, indent=2))  # JSON escapes control characters itself
            return
        for line in describe(now).splitlines():
            typer.echo(printable(line))
        return
    if as_json:
        raise InputError("--json prints this environment; leave out DIR")
    path = folder / MANIFEST
    if not path.is_file():
        raise InputError(f"{folder} has no manifest.json; pass a `snnspec build` or `train` folder")
    old, complete = recorded(load_json_file(path))
    if not complete:
        typer.echo(printable(f"{path}: {NOT_RECORDED}; only the versions it lists are compared"))
    numeric = differences(old, now)
    other = other_differences(old, now) if complete else []
    if not numeric and not other:
        same = "recorded in this same environment" if complete else "the versions it lists agree"
        typer.echo(printable(f"{folder}: {same}"))
        return
    typer.echo(printable(f"{folder} (there) against this environment (here):"))
    typer.echo("can change results:" if numeric else "nothing that can change results differs")
    for line in numeric:
        typer.echo(printable(f"  {line}"))
    if other:
        typer.echo("other differences:")
        for line in other:
            typer.echo(printable(f"  {line}"))


def _say(message: str) -> None:
    typer.echo(printable(message))


def _warn(message: str) -> None:
    typer.echo(printable(message), err=True)


def resolve(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="Spec file.")],
    overrides: SetOption = None,
    allow_paths: AllowPathOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the spec text here.")
    ] = None,
    force: ForceOption = False,
) -> None:
    """Print the final spec (overrides applied, every default explicit) and its sha256.

    The hash is that of the printed YAML (without the trailing comment); `snnspec train`
    records it in its manifest as resolved_spec_sha256.
    """
    from .._io import write_text_atomic
    from ..bundle.folders import check_output_files
    from ..spec.loader import format_for

    if output is not None:
        if format_for(output) != "yaml":
            raise InputError(f"-o {output}: resolve writes YAML; name the file *.yaml or *.yml")
        check_output_files([("-o", output)], force=force)
    spec = load(spec_path, overrides or (), allow_paths=allow_paths or ())
    text = resolved_text(spec)
    typer.echo(text, nl=False)
    typer.echo(f"# sha256: {sha256_text(text)}")
    if output is not None:
        write_text_atomic(output, text)


def graph(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="Spec file.")],
    fmt: Annotated[
        DiagramFormat, typer.Option("--format", "-f", help="Diagram language.")
    ] = DiagramFormat.mermaid,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the diagram to a file.")
    ] = None,
    overrides: SetOption = None,
    allow_paths: AllowPathOption = None,
    force: ForceOption = False,
) -> None:
    """Print the graph as a Mermaid or Graphviz dot diagram.

    Edges are labelled `same step` or `delayed (t-1)` (back edges and self loops under causal
    timing, every layer edge under pipelined); final layers are drawn bold.
    """
    from .._io import write_text_atomic
    from ..bundle.folders import check_output_files
    from ..graph.plan import plan_graph
    from ..training.plots import graph_diagram

    if output is not None:
        check_output_files([("-o", output)], force=force)
    spec = load(spec_path, overrides or (), allow_paths=allow_paths or ())
    text = graph_diagram(plan_graph(spec), fmt.value, spec.name)
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_text_atomic(output, text)
        typer.echo(f"wrote {output}")
