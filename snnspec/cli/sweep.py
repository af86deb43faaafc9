"""Command ``sweep``: train a spec at every point of a grid of values, with several seeds.

Registered in :mod:`.cli`; the work is done by :mod:`snnspec.training.sweep` (no JAX in
this process: each run is its own ``snnspec train`` process).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .._errors import InputError, printable
from ..bundle import SUMMARY_CSV, SUMMARY_MD
from .options import AllowPathOption, DataRootOption, SetOption, load, use_data_root

if TYPE_CHECKING:
    from ..training.sweep import Run, Sweep


def sweep(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="Spec file.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Sweep folder: sweep.json, one run folder per point and seed "
            "(NNN-HASH/seed-I/), summary.csv and summary.md.",
        ),
    ],
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            metavar="PATH=V1,V2",
            help="Values of one spec path (repeatable; the grid is their cartesian product). "
            "Each value is YAML, as for --set; list values as a YAML flow sequence: "
            "--grid 'PATH=[[1, 2], [3, 4]]'.",
            show_default=False,
        ),
    ] = None,
    overrides: SetOption = None,
    allow_paths: AllowPathOption = None,
    random: Annotated[
        int | None,
        typer.Option(
            "--random",
            metavar="N",
            min=1,
            help="Run N points of the grid drawn without replacement (seeded by --seed).",
            show_default=False,
        ),
    ] = None,
    random_seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            metavar="S",
            min=0,
            help="Seed of the --random draw (default 0).",
            show_default=False,
        ),
    ] = None,
    seeds: Annotated[
        int,
        typer.Option(
            "--seeds",
            metavar="N",
            min=1,
            help="Train each point with N seeds: seed I > 0 adds I to the spec's `seed` and "
            "`train.seed`.",
        ),
    ] = 1,
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", metavar="K", min=1, help="Run K trainings in parallel."),
    ] = 1,
    data_root: DataRootOption = None,
) -> None:
    """Train SPEC at every point of a grid (--grid), each with --seeds seeds; rank the points.

    Every run is a normal run folder made by its own `snnspec train` process, so a failing
    run does not stop the others (its status is `failed` with its error; the whole output is
    in NNN-HASH/seed-I.log). Every point is validated before anything runs. The same command
    again skips completed runs, resumes interrupted ones and starts missing ones; another
    grid, --set or spec in the same folder is refused. Points are ranked on the spec's
    validation metric (`train.selection`): a spec without a validation split is refused,
    and summary.md gives test metrics for the selected point only. Exit 1 when a run failed.
    """
    from ..training.sweep import parse_grid, plan_sweep, rank, run_sweep

    if random_seed is not None and random is None:
        raise typer.BadParameter("seeds the draw of --random N; add --random", param_hint="--seed")
    axes = [parse_grid(text) for text in grid or ()]
    if data_root is not None:
        use_data_root(data_root, load(spec_path, overrides or (), allow_paths=allow_paths or ()))
    plan = plan_sweep(
        spec_path,
        axes,
        overrides=overrides or (),
        allow_paths=allow_paths or (),
        random=random,
        random_seed=random_seed,
        seeds=seeds,
    )
    outcomes = run_sweep(plan, output, train_command, jobs=jobs, echo=_say)
    ranked = rank(plan, outcomes)
    _say(f"wrote {output / SUMMARY_MD} and {output / SUMMARY_CSV}")
    if ranked:
        best = ranked[0]
        spread = "" if best.sd is None else f" ± {best.sd:.4f}"
        _say(f"selected point: {best.point.name} ({plan.metric} {best.mean:.4f}{spread})")
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise InputError(
            f"{len(failed)} of {len(outcomes)} runs failed (see {output / SUMMARY_MD}); "
            "a rerun of the same command retries the runs whose training stopped with an error"
        )


def train_command(sweep: Sweep, run: Run, folder: Path, resume: bool) -> list[str]:
    """A sweep's run as its own ``snnspec train`` process (the sweep's ``TrainCommand``):
    ``python -m snnspec train SPEC -o FOLDER --set ... [--allow-path ...] --no-progress``."""
    command = [sys.executable, "-m", "snnspec", "train", str(sweep.spec_path), "-o", str(folder)]
    for text in run.overrides:
        command += ["--set", text]
    for path in sweep.allow_paths:
        command += ["--allow-path", str(path)]
    return [*command, "--no-progress", *(["--resume"] if resume else [])]


def _say(message: str) -> None:
    typer.echo(printable(message))
