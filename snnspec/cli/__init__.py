"""The ``snnspec`` command line (Typer).

JAX is imported inside the commands that run a model, never at module level, so
``snnspec validate`` and ``snnspec schema`` start fast. Every user error is one line per
problem on stderr (``FILE:LINE:COL: path: message``) and exit code 1; ``--debug``, before or
after the command name, shows the traceback.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._clock import STARTED
from .._errors import InputError, SpecError, SpecWarning, UsageError
from .._errors import printable as _plain
from ..bundle import MANIFEST, PARAMS, SPEC
from ..graph.plan import GraphPlan, layer_reports, plan_graph
from ..graph.resources import budget, build_check, check_parameters, check_run, format_bytes
from ..model.cost import cost_lines, dense_macs
from ..spec.loader import load_json_file
from ..spec.model import ModelSpec, check_partial
from .data import data
from .export import export
from .hints import bad_parameter, phrased
from .nir import nir_app
from .options import (
    AllowPathOption,
    CoordinatorOption,
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
    report_partial,
    use_dtype,
)
from .sweep import sweep
from .train import env, evaluate, graph, reproduce, resolve, train
from .view import view

if TYPE_CHECKING:
    from ..model.model import StatefulModel
    from ..model.run import TimedRun

app = typer.Typer(
    name="snnspec",
    help="Validate, build and run spiking neural network specs (YAML, TOML or JSON).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_options = {"debug": False}

DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]


@app.callback()
def _root(debug: DebugOption = False) -> None:
    """snnspec: a declarative model spec compiler for spiking neural networks in JAX."""
    _options["debug"] = debug


def _with_debug_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`command` that also takes ``--debug`` after the subcommand (``snnspec run X --debug``)
    and reports the library's :class:`UsageError` as a usage error (exit 2) on its flag."""

    @functools.wraps(command)
    def wrapper(*args: Any, debug: bool = False, **kwargs: Any) -> Any:
        _options["debug"] = _options["debug"] or debug
        try:
            return command(*args, **kwargs)
        except UsageError as error:
            raise bad_parameter(app, error) from None

    signature = inspect.signature(command, eval_str=True)
    option = inspect.Parameter(
        "debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=DebugOption
    )
    wrapper.__signature__ = signature.replace(  # pyright: ignore[reportAttributeAccessIssue]
        parameters=[*signature.parameters.values(), option]
    )
    wrapper.__annotations__ = {
        **{name: p.annotation for name, p in signature.parameters.items()},
        "debug": DebugOption,
        "return": signature.return_annotation,
    }
    return wrapper


@app.command()
def validate(
    specs: Annotated[list[Path], typer.Argument(help="Spec files to check.", show_default=False)],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    overrides: SetOption = None,
    allow_paths: AllowPathOption = None,
    max_memory: MaxMemoryOption = None,
    partial_params: PartialParamsOption = False,
    activity: Annotated[
        bool,
        typer.Option(
            "--activity",
            help="Also build the model and run one batch (the first training batch, else "
            "seeded random spikes): report every spiking layer's spike rate and warn about "
            "silent (no spike) and saturated (>90%) layers, naming the fixes.",
        ),
    ] = False,
) -> None:
    """Parse and check specs: schema, graph, shapes, memory, params file; print a table
    and the dense MACs per step of the weighted layers.

    Exit code 0 when every spec is valid, 1 otherwise (one error line per invalid spec).
    A silent or saturated layer (--activity) is a warning on stderr, not an error.
    """
    limit = budget(max_memory)
    failures = 0
    for path in specs:
        try:
            spec = load(path, overrides or (), allow_paths=allow_paths or ())
            check_partial(partial_params, spec)
            plan = plan_graph(spec)
            memory = check_parameters(spec, plan, limit)
            left: list[str] = []
            if spec.params is not None:  # reading one needs NumPy, which costs ~0.1 s to import
                from ..model.params import check_params_file

                left = check_params_file(spec, plan, limit, partial=partial_params or None)
            if left:
                report_partial(spec, plan)
            if not quiet:
                typer.echo(_describe(spec, plan, _plain(str(path))))
                typer.echo(f"  {memory.summary(limit)}")
                for line in cost_lines(plan, dense_macs(plan), "macs", "  "):
                    typer.echo(line)
            if activity:
                _check_activity(spec, partial_params, quiet)
        except UsageError:
            raise  # the flags do not fit: a usage error (exit 2), not an invalid spec
        except SpecError as error:
            if _options["debug"]:
                raise
            failures += 1
            _report(error)
    if failures:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the JSON Schema of spec files."""
    from ..spec.model import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
def build(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="Spec file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")],
    overrides: SetOption = None,
    allow_paths: AllowPathOption = None,
    max_memory: MaxMemoryOption = None,
    force: ForceOption = False,
    partial_params: PartialParamsOption = False,
) -> None:
    """Compile and initialise a spec; write DIR/spec.yaml, params.safetensors, manifest.json.

    spec.yaml is the normalised spec (every name, inferred size and source explicit);
    manifest.json records the sha256 of both files and the versions used, and ``snnspec
    run DIR`` verifies them. DIR must be empty or new; --force replaces an earlier build.
    """
    from ..bundle.build import write_build
    from ..bundle.folders import BUILD, check_output_folder

    check_output_folder(output, BUILD, force=force)
    spec = load(spec_path, overrides or (), allow_paths=allow_paths or ())
    check_partial(partial_params, spec)
    plan = plan_graph(spec)
    build_check(spec, plan, budget(max_memory))
    write_build(output, spec_path, spec, plan, _compile(spec, partial_params))
    if partial_params or spec.params_partial:
        report_partial(spec, plan)
    typer.echo(_describe(spec, plan, _plain(str(spec_path))))
    typer.echo(_index_form(plan))
    typer.echo(f"wrote {_plain(str(output))}/{{{SPEC}, {PARAMS}, {MANIFEST}}}")


@app.command()
def run(
    target: Annotated[Path, typer.Argument(metavar="SPEC|DIR", help="Spec file or build folder.")],
    input_path: Annotated[
        Path | None, typer.Option("--input", "-i", help="npz: one (B, T, *shape) array per input.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="npz to write, one array per output.")
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(help="Time steps of the demo input (default: the spec's time.steps).", min=1),
    ] = None,
    batch: Annotated[
        int | None, typer.Option(help="Batch size of the demo input (default 1).", min=1)
    ] = None,
    burnin: Annotated[int | None, typer.Option(help="Burn-in steps.", min=0)] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the demo input and of the run's random numbers (random initial "
            "states); default the spec's seed."
        ),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Draw spike rasters and membrane traces (.png).")
    ] = None,
    record: Annotated[
        str | None,
        typer.Option(
            metavar="LAYER,...",
            help="Also write these layers' outputs to --output (under their names) and draw "
            "them in --plot, e.g. --record lif1,lif2.",
            show_default=False,
        ),
    ] = None,
    overrides: SetOption = None,
    allow_paths: AllowPathOption = None,
    max_memory: MaxMemoryOption = None,
    partial_params: PartialParamsOption = False,
    schedule: Annotated[
        str | None,
        typer.Option(help="auto, stepwise or layerwise (default: the spec's `schedule`)."),
    ] = None,
    devices: DevicesOption = None,
    distributed: DistributedOption = False,
    coordinator: CoordinatorOption = None,
    num_processes: NumProcessesOption = None,
    process_id: ProcessIdOption = None,
    force: ForceOption = False,
    strict_env: StrictEnvOption = False,
) -> None:
    """Compile, jit and run a model; print timings, per-layer spike rates and SynOps.

    Without --input the model is driven by seeded random spikes (Bernoulli, rate 0.1).
    The memory the run needs is estimated from shapes and checked before JAX starts.
    With --devices the batch is split over a device mesh (parameters replicated) and the
    results equal the single-device run. With --distributed every process runs the same
    command and the batch is split over the devices of all processes; --coordinator,
    --num-processes and --process-id are detected by JAX (Slurm, Open MPI, Cloud TPU,
    Kubernetes) when not given. Only process 0 writes --output and --plot.
    """
    from ..graph.schedule import SCHEDULES

    if schedule is not None and schedule not in SCHEDULES:
        raise InputError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    check_distributed(distributed, coordinator, num_processes, process_id)
    if distributed and devices is None:
        devices = "all"
    from ..bundle.folders import check_output_files

    folder = target.is_dir()
    if strict_env and not folder:
        raise InputError("--strict-env applies to a build or run folder, not to a spec file")
    if input_path is not None:
        for flag, value in (("--steps", steps), ("--batch", batch)):
            if value is not None:
                raise typer.BadParameter(
                    "the input file fixes the batch size and the number of steps (its arrays "
                    "are (B, T, *shape)); leave it out, or drop --input to run the demo input",
                    param_hint=flag,
                )
    if partial_params and target.is_dir():
        raise typer.BadParameter(
            f"{target} is a build folder, whose params file gives every parameter",
            param_hint="--partial-params",
        )
    if allow_paths and target.is_dir():
        raise typer.BadParameter(
            f"{target} is a build or run folder, whose normalised spec extends no file",
            param_hint="--allow-path",
        )
    if plot is not None:
        from ..training.plots import image_format

        image_format(plot)  # before the run, not after it
    check_output_files(
        [(flag, p) for flag, p in (("-o", output), ("--plot", plot)) if p is not None],
        force=force,
    )
    limit = budget(max_memory)
    from ..bundle.build import load_target

    spec = load_target(target, overrides or (), allow_paths or ())
    use_dtype(spec.dtype)
    check_partial(partial_params, spec)
    batch = 1 if batch is None else batch
    if input_path is not None:
        from ..model.run import draws_random_numbers

        if seed is not None and not draws_random_numbers(plan_graph(spec)):
            raise typer.BadParameter(
                "with --input the seed only draws the model's random numbers (random initial "
                "states, `init: {type: uniform|normal}`), and this model draws none",
                param_hint="--seed",
            )
        from ..model.params import check_input_file

        extent = check_input_file(input_path, limit)
        check_run(spec, plan_graph(spec), limit, *extent)
    else:
        check_run(spec, plan_graph(spec), limit, batch, steps, from_spec=steps is None)

    from ..model.run import demo_inputs, read_inputs

    plan = plan_graph(spec)
    recorded = _recorded_layers(plan, record, output, plot)
    seed = spec.seed if seed is None else seed
    if input_path is not None:
        inputs = read_inputs(input_path, plan, spec.time.steps, warn=_error)
    else:
        inputs = demo_inputs(plan, batch, steps or spec.time.steps, seed)
    num_steps = inputs[0].shape[1]
    if burnin is None and spec.time.burnin >= num_steps:
        raise InputError(
            f"the spec's time.burnin ({spec.time.burnin}) is not smaller than the {num_steps} "
            "time steps; pass a smaller --burnin or more --steps"
        )
    burnin = spec.time.burnin if burnin is None else burnin
    if burnin >= num_steps:
        raise InputError(f"--burnin {burnin} must be smaller than the {num_steps} time steps")

    import jax

    from ..model.run import timed_run

    if folder:
        from ..bundle.environment import check_folder

        manifest = load_json_file(target / MANIFEST)
        check_folder(target, manifest, strict=strict_env, warn=_error, dtype=spec.dtype)
    if distributed:
        initialize_distributed(coordinator, num_processes, process_id)
    from ..model.model import data_mesh

    mesh = data_mesh(devices, inputs[0].shape[0])
    # Every refusal the spec, the options and the input decide came before this line: the
    # model's layers and initial parameters are made only for a run that can go ahead.
    start = time.perf_counter()
    model = _compile(spec, partial_params)
    build_seconds = time.perf_counter() - start
    if partial_params or spec.params_partial:
        report_partial(spec, model.plan)
    if schedule is not None:
        model = model.with_schedule(schedule)
    measured = timed_run(model, inputs, jax.random.PRNGKey(seed), burnin, mesh, recorded)
    where = (
        jax.default_backend() if mesh is None else f"{mesh.size} {jax.default_backend()} devices"
    )
    if jax.process_count() > 1:
        where += f" ({jax.process_count()} processes)"
    typer.echo(
        f"{_plain(spec.name)}: batch {inputs[0].shape[0]}, {num_steps} steps (burn-in {burnin}) "
        f"on {where}; schedule {model.execution.name}"
    )
    _print_run(model.plan, start - STARTED, build_seconds, measured, inputs[0].shape[:2])
    if jax.process_index() != 0:
        return
    if output is not None:
        from .._io import write_npz_atomic

        arrays = {
            plan.layer_names[i]: measured.outputs[n] for n, i in enumerate(plan.final_layer_ids)
        }
        arrays.update((plan.layer_names[i], measured.recorded[i]) for i in recorded)
        write_npz_atomic(output, arrays)
        typer.echo(f"wrote {_plain(str(output))}")
    if plot is not None:
        from ..training.plots import plot_run

        shown = model.with_outputs([*dict.fromkeys([*plan.final_layer_ids, *recorded])])
        plot_run(plot, shown, inputs, jax.random.PRNGKey(seed), burnin)
        typer.echo(f"wrote {_plain(str(plot))}")


def _recorded_layers(
    plan: GraphPlan, record: str | None, output: Path | None, plot: Path | None
) -> tuple[int, ...]:
    """The layer ids ``--record`` names (a usage error for an unknown name, or without
    --output and --plot, which would leave the recorded outputs unused)."""
    if record is None:
        return ()
    if output is None and plot is None:
        raise typer.BadParameter(
            "the recorded outputs go to --output or --plot; give one", param_hint="--record"
        )
    names = [name.strip() for name in record.split(",")]
    try:
        return plan.layer_ids(names)
    except InputError as error:
        raise typer.BadParameter(error.message, param_hint="--record") from None


def _print_run(
    plan: GraphPlan,
    startup_seconds: float,
    build_seconds: float,
    measured: TimedRun,
    extent: tuple[int, ...],
) -> None:
    """What ``run`` measured: the four times (they add up to the wall time from the package's
    import to the run's end), the step rate, the spike rate of every spiking layer and the
    SynOps of every weighted layer."""
    batch_size, num_steps = extent
    typer.echo(f"start-up      {startup_seconds:8.3f} s   (imports, spec, checks, input)")
    typer.echo(f"build time    {build_seconds:8.3f} s   (spec -> model: layers, parameters)")
    typer.echo(f"compile time  {measured.compile_seconds:8.3f} s   (XLA)")
    typer.echo(f"run time      {measured.run_seconds:8.3f} s")
    typer.echo(
        f"steps/s       {num_steps / measured.run_seconds:10.1f}   "
        f"(sample-steps/s {batch_size * num_steps / measured.run_seconds:.1f})"
    )
    if measured.rates:
        typer.echo("spike rates (spikes per neuron per step):")
        width = max(len(name) for name in measured.rates)
        for name, rate in measured.rates.items():
            typer.echo(f"  {name:<{width}}  {rate:.4f}")
    for line in cost_lines(plan, measured.synops, "synops", ""):
        typer.echo(line)


def _check_activity(spec: ModelSpec, partial_params: bool, quiet: bool) -> None:
    """``validate --activity``: build the model, run one batch, print the report (unless
    ``quiet``) and warn about silent and saturated layers."""
    from ..training.activity import activity_batch, check_activity

    batch = activity_batch(spec, plan_graph(spec))  # the data's errors before any weight
    model = _compile(spec, partial_params)
    report = (lambda _: None) if quiet else typer.echo
    check_activity(spec, model, batch, report, lambda line: _error(f"warning: {line}"))


def _compile(spec: ModelSpec, partial_params: bool = False) -> StatefulModel:
    from ..model.compile import compile as compile_spec

    return compile_spec(spec, partial_params=partial_params or None)


def _describe(spec: ModelSpec, plan: GraphPlan, source: str) -> str:
    """The per-layer table of ``validate``: name, type, sources, output shape, parameters."""
    reports = layer_reports(spec, plan)
    rows = [("layer", "type", "inputs", "output", "params")]
    rows += [
        (
            r.name,
            r.type,
            ", ".join(r.sources),
            "x".join(map(str, r.output_shape)) or "()",
            f"{r.parameter_count:,}",
        )
        for r in reports
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(5)]
    lines = [f"{source}: {spec.name} (valid)"]
    for n, row in enumerate(rows):
        cells = [
            cell.ljust(widths[c]) if c < 4 else cell.rjust(widths[c]) for c, cell in enumerate(row)
        ]
        lines.append("  " + "  ".join(cells))
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    total = sum(r.parameter_count for r in reports)
    step_bytes = sum(r.step_bytes for r in reports)
    inputs = ", ".join(
        f"{n} {list(s)}" for n, s in zip(plan.input_names, plan.input_shapes, strict=True)
    )
    lines.append(f"  inputs: {inputs}; timing: {plan.timing}; dtype: {spec.dtype}")
    lines.append(
        f"  parameters: {total:,}; memory for one step of one sample: {format_bytes(step_bytes)}"
    )
    return "\n".join(lines)


def _index_form(plan: GraphPlan) -> str:
    s = plan.structure
    return (
        "graph (index form):\n"
        f"  input_layer_ids:    {json.dumps([list(x) for x in s.input_layer_ids])}\n"
        f"  input_connectivity: {json.dumps([list(x) for x in s.input_connectivity])}\n"
        f"  final_layer_ids:    {json.dumps(list(s.final_layer_ids))}"
    )


def _error(message: str) -> None:
    typer.echo(_plain(message), err=True)


def _report(error: SpecError) -> None:
    """A SpecError on stderr: one located line per problem."""
    for line in error.lines(functools.partial(phrased, app)):
        _error(line)


app.command()(train)
app.command()(evaluate)
app.command()(reproduce)
app.command()(env)
app.command()(resolve)
app.command()(graph)
app.command()(sweep)
app.command()(export)
app.command()(data)
app.command()(view)
app.add_typer(nir_app, name="nir")
_groups = [group.typer_instance for group in app.registered_groups if group.typer_instance]
for _info in [*app.registered_commands, *(c for g in _groups for c in g.registered_commands)]:
    if _info.callback is not None:  # every command takes --debug after its name too
        _info.callback = _with_debug_option(_info.callback)


def main() -> None:
    """Console entry point: SpecError -> one line per problem on stderr and exit 1.

    A SpecWarning is one line on stderr, ``warning: FILE:LINE:COL: path: message``, once.
    When this function is the process's entry point (``snnspec`` or ``python -m snnspec``) the
    process ends as soon as the command has (see :func:`_end_process`), and freed heap
    memory stays in it for reuse (:mod:`snnspec._allocator`).
    """
    entry_point = _is_entry_point()
    if entry_point:
        from .._allocator import keep_freed_memory

        keep_freed_memory()
    try:
        _main()
    except SystemExit as stop:
        if not entry_point:
            raise
        _end_process(stop.code)


def _main() -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", SpecWarning)
            show, shown = warnings.showwarning, set()

            def show_warning(message: Warning | str, category: type[Warning], *args: Any) -> None:
                if not issubclass(category, SpecWarning):
                    show(message, category, *args)
                elif str(message) not in shown:  # the spec is analysed more than once
                    shown.add(str(message))
                    _error(f"warning: {message}")

            warnings.showwarning = show_warning
            app(prog_name="snnspec")
    except SpecError as error:
        if _options["debug"]:
            raise
        _report(error)
        sys.exit(1)
    except KeyboardInterrupt:
        _error("interrupted")
        sys.exit(130)
    except Exception as error:
        if _options["debug"]:
            raise
        _error(f"error: {type(error).__name__}: {error} (rerun with --debug for the traceback)")
        sys.exit(1)


def _is_entry_point() -> bool:
    """True when :func:`main` is the process's entry point: ``python -m snnspec`` or the
    ``snnspec`` console script; not a program (or ``python -c``) that called it itself."""
    entry = sys.modules.get("__main__")
    spec = getattr(entry, "__spec__", None)
    if spec is not None and spec.name == "snnspec.__main__":
        return True
    file = getattr(entry, "__file__", None)
    return (
        file is not None and Path(file).stem == "snnspec" and getattr(entry, "main", None) is main
    )


def _end_process(code: object) -> None:
    """Exit with ``code`` (a SystemExit code) without the interpreter's teardown.

    Freeing every module and JAX's runtime object by object takes 0.2-0.7 s after a command
    that used JAX, and nothing of it is needed: the outputs are written and closed
    (:mod:`snnspec._io`), the exit handlers still run (loggers, trackers,
    ``jax.distributed``), and stdout and stderr are flushed. A non-daemon thread still
    running gets the ordinary exit, which waits for it.
    """
    import atexit
    import os
    import threading

    if isinstance(code, int) or code is None:
        status = code or 0
    else:  # sys.exit("message"): the message on stderr, status 1
        _error(str(code))
        status = 1
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        sys.exit(status)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
