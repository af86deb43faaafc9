"""``snnspec data``: what a spec's training data hold, exported or drawn (NumPy only, no JAX).

The data are read exactly as ``snnspec train`` reads them
(:func:`snnspec.training.data.load_data`); no model is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._errors import printable
from .options import AllowPathOption, DataRootOption, ForceOption, SetOption, load, use_data_root

SAMPLES = 4
"""Samples drawn by ``--plot`` unless ``--samples`` says otherwise."""


def data(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="Spec file.")],
    overrides: SetOption = None,
    allow_paths: AllowPathOption = None,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            metavar="FILE.npz",
            help="Write every split's samples and labels (train_x, train_y, val_x, ...).",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE.png",
            help="Draw training samples: rasters of [C] inputs, time-summed frames of images.",
            show_default=False,
        ),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples",
            min=1,
            help=f"Samples --plot draws (default {SAMPLES}).",
            show_default=False,
        ),
    ] = None,
    force: ForceOption = False,
    data_root: DataRootOption = None,
) -> None:
    """Print a spec's training data: source files, the preprocessing cache's entry, per split
    the samples, class balance, (N, T, *shape) and spike statistics, and the sha256 a run's
    manifest records.

    The data are read as `snnspec train` reads them (an event data set's binned tensors
    from the preprocessing cache, which a miss fills, as training would); no model is built
    and JAX is not imported. Events are summed absolute values; a channel's rate is its mean
    events per step; a silent channel has no event in the split.
    """
    from ..bundle.folders import check_output_files
    from ..training.data import load_data
    from ..training.inspection import SPLITS, cache_status, source, split_arrays, split_stats

    if samples is not None and plot is None:
        raise typer.BadParameter(
            "it sets how many samples --plot draws; add --plot FILE.png", param_hint="--samples"
        )
    if force and export is None and plot is None:
        raise typer.BadParameter(
            "there is no --export or --plot file to replace", param_hint="--force"
        )
    if export is not None and export.suffix != ".npz":
        raise typer.BadParameter(f"must be a .npz file, got {export}", param_hint="--export")
    if plot is not None:
        from ..training.plots import image_format

        image_format(plot)
    check_output_files(
        [(flag, p) for flag, p in (("--export", export), ("--plot", plot)) if p is not None],
        force=force,
    )
    spec = load(spec_path, overrides or (), allow_paths=allow_paths or ())
    use_data_root(data_root, spec)
    cached = cache_status(spec)  # before load_data fills the cache
    dataset = load_data(spec)
    parts = split_arrays(dataset)
    count = SAMPLES if samples is None else samples
    if plot is not None and count > len(dataset.y_train):
        raise typer.BadParameter(
            f"the training split holds {len(dataset.y_train)} samples", param_hint="--samples"
        )
    echo = typer.echo
    echo(f"{printable(str(spec_path))}: {printable(spec.name)}")
    echo(f"  source: {printable(source(spec))}")
    if cached is not None:
        state, entry, problem = cached
        found = {"hit": "hit", "missing": "missing (binned now)", "corrupt": "corrupt (rebuilt)"}
        why = f": {problem}" if problem else ""
        echo(f"  cache: {found[state]}{printable(why)} {printable(str(entry))}")
    echo(f"  classes: {dataset.num_classes}")
    for name in SPLITS:
        if name not in parts:
            echo(f"  {name}: none")
            continue
        stats = split_stats(*parts[name], dataset.num_classes)
        balance = ", ".join(f"{c}: {n}" for c, n in enumerate(stats.class_counts))
        plural = "" if stats.samples == 1 else "s"
        echo(f"  {name}: {stats.samples} sample{plural}, shape {list(stats.shape)} {stats.dtype}")
        echo(f"    class balance: {balance}")
        echo(f"    events per sample: {stats.events_per_sample:.4g}")
        echo(
            f"    rate per channel (events per step): min {stats.rate_min:.4g} / median "
            f"{stats.rate_median:.4g} / max {stats.rate_max:.4g}; silent channels "
            f"{stats.silent_channels} of {stats.channels} "
            f"({100 * stats.silent_channels / stats.channels:.1f}%)"
        )
    echo(f"  data sha256: {dataset.sha256}")
    if export is not None:
        from .._io import write_npz_atomic

        arrays = {
            f"{name}_{kind}": a
            for name, part in parts.items()
            for kind, a in zip("xy", part, strict=True)
        }
        write_npz_atomic(export, arrays)
        echo(f"wrote {printable(str(export))}")
    if plot is not None:
        from ..training.plots import plot_samples

        plot_samples(plot, dataset.x_train[:count], dataset.y_train[:count], "train sample")
        echo(f"wrote {printable(str(plot))}")
