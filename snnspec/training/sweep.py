"""Sweeps: one training run per point of a grid of ``--set`` values and per seed.

A sweep folder ``DIR`` holds::

    sweep.json                 the sweep's definition: spec, --set, grid, --random, --seeds,
                               selection metric and every run (folder, overrides, sha256 of
                               its resolved spec); a rerun must match it
    NNN-HASH/seed-I/           one normal `snnspec train` run folder per point and seed
    NNN-HASH/seed-I.log        that run's command line, stdout and stderr (last attempt)
    summary.csv                one row per point and seed
    summary.md                 points ranked by their mean selection metric over the seeds

``NNN`` is the point's index in the grid's cartesian product (the first ``--grid`` varies
slowest), ``HASH`` the first 8 hex digits of the sha256 of the point's values (canonical
JSON of ``[[path, value], ...]``), ``I`` the seed index. Seed ``I`` of a point adds, for
``I > 0``, ``--set seed=S+I --set train.seed=T+I`` (S, T: the point's model and training
seeds), so seed 0 is the point exactly as ``snnspec train SPEC --set ...`` would run it.

Every run is a separate ``python -m snnspec train`` process, so a failing run does not stop
the others. A rerun of the same command skips completed runs, resumes interrupted ones and
starts missing ones. The sweep selects on validation metrics only: it refuses a spec
without a validation split, and its summary reports test metrics for the selected point
alone. This module imports no JAX (the training processes do).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import itertools
import json
import math
import os
import shlex
import signal
import statistics
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import Hint, InputError, SpecError, printable
from .._io import sha256_text, write_text_atomic
from ..bundle import MANIFEST, RESULTS, SUMMARY_CSV, SUMMARY_MD, SWEEP
from ..bundle.folders import TRAIN, made_by, refuse_inside_made_folder
from ..spec.load import load
from ..spec.loader import load_json_file
from ..spec.overrides import override_source, parse_override, resolved_text
from .data import has_validation, train_seed

if TYPE_CHECKING:
    from ..spec.model import ModelSpec

SWEEP_FORMAT = 1
MAX_POINTS = 100_000
"""The largest grid (cartesian product) a sweep enumerates, with or without a ``random`` draw."""

LOWER_IS_BETTER = {"val_loss": True, "val_accuracy": False}
"""The selection metrics a sweep ranks on and their direction."""

_GRID = Hint(options=("grid",))
_OUTPUT = Hint(options=("output", "force"))

COMPLETED, FAILED, INTERRUPTED, PENDING = "completed", "failed", "interrupted", "pending"
"""A run's status in the summary: trained to the end; its process failed (with the error's
last line) or it has no usable results; stopped before its last epoch (a rerun resumes
it); not started yet."""


@dataclasses.dataclass(frozen=True)
class Axis:
    """One ``--grid PATH=VALUES``: the dotted path and the values it takes, in order."""

    path: str
    values: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Point:
    """One point of the grid: its index in the product, its values (one per axis) and name."""

    index: int
    values: tuple[Any, ...]
    name: str


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run: a point and a seed index, its folder (relative to the sweep folder),
    the ``--set`` overrides ``train`` gets and the sha256 of the resolved spec they give."""

    point: Point
    seed: int
    folder: str
    overrides: tuple[str, ...]
    resolved_sha256: str


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A validated sweep: what ``sweep.json`` records and what :func:`run_sweep` launches."""

    spec_path: Path
    axes: tuple[Axis, ...]
    overrides: tuple[str, ...]
    allow_paths: tuple[Path, ...]
    random: int | None
    random_seed: int | None
    seeds: int
    metric: str
    runs: tuple[Run, ...]

    @property
    def points(self) -> list[Point]:
        return list({run.point.name: run.point for run in self.runs}.values())

    def definition(self) -> dict[str, Any]:
        """The JSON of ``sweep.json`` (a rerun compares every key except ``spec``)."""
        return {
            "snnspec_sweep": SWEEP_FORMAT,
            "spec": str(self.spec_path),
            "overrides": list(self.overrides),
            "grid": [{"path": axis.path, "values": list(axis.values)} for axis in self.axes],
            "random": self.random,
            "random_seed": self.random_seed,
            "seeds": self.seeds,
            "metric": self.metric,
            "runs": [
                {
                    "folder": run.folder,
                    "point": run.point.name,
                    "seed": run.seed,
                    "overrides": list(run.overrides),
                    "resolved_spec_sha256": run.resolved_sha256,
                }
                for run in self.runs
            ],
        }


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the summary reports of one run (``value`` is the selection metric's)."""

    run: Run
    status: str
    error: str = ""
    value: float | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    wall_time_seconds: float | None = None


# --- the grid -------------------------------------------------------------------------------


def parse_grid(text: str) -> Axis:
    """``PATH=V1,V2,...`` (each value parsed like a ``--set`` value) or ``PATH=[V1, V2, ...]``
    (a YAML flow sequence, for values that are lists or contain commas)."""
    source = override_source(text, "grid")
    path, sep, raw = text.partition("=")
    if not sep or not path.strip() or not raw.strip():
        raise SpecError(
            "expected PATH=V1,V2,... or PATH=[V1, V2, ...], e.g. train.epochs=5,10",
            file=source,
            hint=_GRID,
        )
    if raw.lstrip().startswith("["):
        parsed = parse_override(text, setting="grid")
        keys, values = parsed.keys, parsed.value
        if not isinstance(values, list):
            raise SpecError(
                "expected a YAML flow sequence of values, e.g. [1, 2]", file=source, hint=_GRID
            )
    else:
        items = [parse_override(f"{path}={item}", setting="grid") for item in raw.split(",")]
        keys, values = items[0].keys, [item.value for item in items]
    if not values:
        raise SpecError("no values to sweep; give at least one", file=source, hint=_GRID)
    seen: set[str] = set()
    for value in values:
        canonical = _value_text(value, source)
        if canonical in seen:
            raise SpecError(f"the value {canonical} is listed twice", file=source, hint=_GRID)
        seen.add(canonical)
    return Axis(".".join(keys), tuple(values))


def grid_points(
    axes: Sequence[Axis], random: int | None = None, random_seed: int = 0
) -> list[Point]:
    """The cartesian product of ``axes`` (the first varies slowest), or ``random`` of its
    points drawn without replacement: the points whose sha256 of ``"SEED:INDEX"`` is
    smallest (reproducible on every platform and Python; a larger N keeps the smaller N's
    points), in product order."""
    total = math.prod(len(axis.values) for axis in axes)
    if total > MAX_POINTS:
        raise InputError(f"the grid has {total:,} points; a sweep takes at most {MAX_POINTS:,}")
    if random is not None and random > total:
        raise InputError(
            f"`random={random}`: the grid has only {total} point{'s' * (total != 1)}; "
            "draw at most that many",
            hint=Hint(options=("random",)),
        )
    chosen = range(total)
    if random is not None:
        chosen = sorted(sorted(chosen, key=lambda i: sha256_text(f"{random_seed}:{i}"))[:random])
    width = max(3, len(str(total - 1)))
    product = list(itertools.product(*(axis.values for axis in axes)))
    return [
        Point(index, product[index], f"{index:0{width}d}-{_point_hash(axes, product[index])}")
        for index in chosen
    ]


def point_overrides(axes: Sequence[Axis], point: Point) -> tuple[str, ...]:
    """The point as override texts, ``PATH=VALUE`` with the value as JSON (valid YAML)."""
    return tuple(
        f"{axis.path}={_value_text(value, override_source(axis.path, 'grid'))}"
        for axis, value in zip(axes, point.values, strict=True)
    )


def _point_hash(axes: Sequence[Axis], values: Sequence[Any]) -> str:
    pairs = [[axis.path, value] for axis, value in zip(axes, values, strict=True)]
    return sha256_text(json.dumps(pairs, sort_keys=True, separators=(",", ":")))[:8]


def _value_text(value: Any, source: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except ValueError:
        raise SpecError(
            f"cannot sweep the non-finite value {value}", file=source, hint=_GRID
        ) from None


# --- planning and validation ----------------------------------------------------------------


def plan_sweep(
    spec_path: Path,
    axes: Sequence[Axis],
    *,
    overrides: Sequence[str] = (),
    allow_paths: Sequence[Path] = (),
    random: int | None = None,
    random_seed: int | None = None,
    seeds: int = 1,
) -> Sweep:
    """Validate every run of the sweep (the spec loaded with its overrides) before any runs.

    Raise a located :class:`SpecError` for the first run that does not load, has no
    validation split, or selects on another metric than the others.
    """
    _check_paths(axes, overrides)
    if seeds < 1:
        raise InputError(f"`seeds={seeds}`: give at least 1", hint=Hint(options=("seeds",)))
    if random is not None and random < 1:
        raise InputError(f"`random={random}`: give at least 1", hint=Hint(options=("random",)))
    if random_seed is not None and random is None:
        raise InputError(
            "`random_seed` seeds the draw of `random=N`; add `random=N` or leave out `random_seed`",
            hint=Hint(options=("random_seed", "random")),
        )
    if random is not None and random_seed is None:
        random_seed = 0
    points = grid_points(axes, random, random_seed or 0)
    runs: list[Run] = []
    metric: str | None = None
    for point in points:
        grid = point_overrides(axes, point)
        spec = _load_run(spec_path, [*overrides, *grid], allow_paths, grid)
        base = (spec.seed, train_seed(spec))
        for seed in range(seeds):
            extra = (f"seed={base[0] + seed}", f"train.seed={base[1] + seed}") if seed else ()
            texts = (*overrides, *grid, *extra)
            if seed:
                spec = _load_run(spec_path, texts, allow_paths, grid)
            metric = _check_selection(spec, metric, grid)
            runs.append(
                Run(
                    point,
                    seed,
                    f"{point.name}/seed-{seed}",
                    texts,
                    sha256_text(resolved_text(spec)),
                )
            )
    return Sweep(
        spec_path,
        tuple(axes),
        tuple(overrides),
        tuple(allow_paths),
        random,
        random_seed,
        seeds,
        metric or "val_loss",
        tuple(runs),
    )


def _check_paths(axes: Sequence[Axis], overrides: Sequence[str]) -> None:
    """Refuse a path swept twice, or swept and also set: one would silently win."""
    swept: list[tuple[str, tuple[str, ...]]] = []
    for axis in axes:
        keys = tuple(axis.path.split("."))
        for other, known in swept:
            if _overlap(keys, known):
                raise InputError(
                    f"`grid {axis.path}` and `grid {other}` set the same value; sweep it once",
                    hint=_GRID,
                )
        swept.append((axis.path, keys))
    for text in overrides:
        keys = parse_override(text).keys
        for other, known in swept:
            if _overlap(keys, known):
                raise InputError(
                    f"`override {text}` and `grid {other}` set the same value; the grid would "
                    "replace it: leave one out",
                    hint=Hint(options=("override", "grid")),
                )


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return a[: len(b)] == b or b[: len(a)] == a


def _load_run(
    spec_path: Path, texts: Sequence[str], allow_paths: Sequence[Path], grid: Sequence[str]
) -> ModelSpec:
    """The run's spec; an error caused by a grid value names its ``grid``."""
    try:
        spec = load(spec_path, texts, allow_paths=allow_paths)
    except SpecError as error:
        raise _name_grid(error, grid) from None
    if spec.train is None:
        raise spec.error((), "the spec has no `train:` section; a sweep trains it (add one)")
    return spec


def _name_grid(error: SpecError, grid: Sequence[str]) -> SpecError:
    renamed = error
    sources = {override_source(text): override_source(text, "grid") for text in grid}
    if error.file in sources:
        renamed = type(error)(
            error.message,
            file=sources[error.file],
            line=error.line,
            column=error.column,
            path=error.path,
            hint=_GRID,
        )
    renamed.more = tuple(_name_grid(problem, grid) for problem in error.more)
    return renamed


def _check_selection(spec: ModelSpec, metric: str | None, grid: Sequence[str]) -> str:
    where = f" (with `grid` values {', '.join(grid)})" if grid else ""
    if not has_validation(spec):
        raise spec.error(
            ("train", "data"),
            "a sweep selects its best point on validation metrics, and this spec has no "
            f"validation split{where}; set train.data.validation_fraction "
            "(e.g. `override train.data.validation_fraction=0.2`)",
            InputError,
        ).with_hint(Hint(options=("grid", "override")))
    assert spec.train is not None  # has_validation says so
    own = spec.train.selection_metric
    if own not in LOWER_IS_BETTER:
        raise spec.error(
            ("train", "selection", "metric"),
            f"a sweep ranks on {' or '.join(LOWER_IS_BETTER)}, not {own}",
            InputError,
        )
    if metric is not None and own != metric:
        raise spec.error(
            ("train", "selection", "metric"),
            f"the point {', '.join(grid)} selects on {own}, earlier points on {metric}; a sweep "
            "compares its points on one metric (do not sweep train.selection)",
            InputError,
        )
    return own


# --- the sweep folder -----------------------------------------------------------------------


def open_sweep_folder(directory: Path, sweep: Sweep) -> None:
    """Check that ``directory`` is new, empty or this same sweep's folder; write sweep.json.

    A folder made by anything else, or holding another sweep (other grid, overrides, seeds
    or spec), is refused: a sweep never writes over what it did not make.
    """
    if directory.exists() and not directory.is_dir():
        raise InputError(
            f"{directory} exists and is not a folder; choose another `output`", hint=_OUTPUT
        )
    refuse_inside_made_folder("`output`", directory)
    maker = made_by(directory)
    if maker is not None:
        raise InputError(
            f"{directory} holds the output of `snnspec {maker}`; a sweep never writes into "
            "it; choose another `output`",
            hint=_OUTPUT,
        )
    new = json.loads(json.dumps(sweep.definition()))
    record = directory / SWEEP
    if record.is_file():
        old = load_json_file(record)
        if not isinstance(old, dict) or old.get("snnspec_sweep") != SWEEP_FORMAT:
            raise InputError(
                f"{record} is not an snnspec sweep record; choose another `output`",
                hint=_OUTPUT,
            )
        differing = [what for key, what in _DEFINING.items() if old.get(key) != new.get(key)]
        if differing:
            raise InputError(
                f"{directory} holds another sweep: its {differing[0]} differ from this one's "
                f"({record}); rerun the same command to continue it, or choose another `output`",
                hint=Hint(options=("override", "grid", "random", "random_seed", "seeds", "output")),
            )
    elif directory.is_dir() and any(directory.iterdir()):
        raise InputError(
            f"{directory} is not empty and holds no {SWEEP}; a sweep writes only into a new or "
            "empty folder or its own earlier sweep; choose another `output`",
            hint=_OUTPUT,
        )
    write_text_atomic(record, json.dumps(new, indent=2) + "\n")


_DEFINING = {
    "overrides": "`override` values",
    "grid": "`grid` values",
    "random": "`random`",
    "random_seed": "`random_seed`",
    "seeds": "`seeds`",
    "metric": "selection metric",
    "runs": "runs (the spec's resolved text)",
}
"""The keys of sweep.json that a rerun must match, and what the message calls them."""


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold a lock on ``directory`` (released when the process ends, however it ends)."""
    import fcntl

    handle = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                f"{directory}: another sweep is running in this folder; wait for it to end"
            ) from None
        yield
    finally:
        os.close(handle)


def run_state(folder: Path) -> str:
    """What a rerun does with a run folder: ``skip`` (completed), ``resume`` (interrupted or
    stopped while running) or ``start`` (missing, or anything else: ``train`` then decides)."""
    if made_by(folder) != TRAIN:
        return "start"
    status = load_json_file(folder / MANIFEST).get("status")
    if status == COMPLETED:
        return "skip"
    if status in ("running", INTERRUPTED):
        return "resume"
    return "start"


# --- running --------------------------------------------------------------------------------


TrainCommand = Callable[[Sweep, Run, Path, bool], list[str]]
"""The command line of one training process: ``(sweep, run, run folder, resume) -> argv``.

The front end that runs the sweep gives it in its own terms (the command line's:
``python -m snnspec train SPEC -o FOLDER ...``); the process trains into the run folder,
resuming it when asked, exits 0 on success and ends its stderr with its error's one line.
"""


def run_sweep(
    sweep: Sweep,
    directory: Path,
    command: TrainCommand,
    *,
    jobs: int = 1,
    echo: Callable[[str], Any] = print,
) -> list[Outcome]:
    """Run every run of ``sweep`` not completed yet in ``directory``, ``jobs`` at a time,
    each as its own process (``command``).

    Writes summary.csv and summary.md after every run and at the end; returns the outcomes.
    Ctrl-C stops the running processes (they keep their last checkpoint), writes the summary
    and raises KeyboardInterrupt: a rerun of the same command continues.
    """
    if jobs < 1:
        raise InputError(f"`jobs={jobs}`: give at least 1", hint=Hint(options=("jobs",)))
    open_sweep_folder(directory, sweep)
    with _exclusive(directory):
        plan = {run.folder: run_state(directory / run.folder) for run in sweep.runs}
        todo = [run for run in sweep.runs if plan[run.folder] != "skip"]
        counts = {action: list(plan.values()).count(action) for action in ("skip", "resume")}
        echo(
            f"sweep: {len(sweep.points)} point{'s' * (len(sweep.points) != 1)} x {sweep.seeds} "
            f"seed{'s' * (sweep.seeds != 1)} = {len(sweep.runs)} runs in {directory}: "
            f"{counts['skip']} completed earlier, {counts['resume']} to resume, "
            f"{len(todo) - counts['resume']} to start"
        )
        failures: dict[str, str] = {}
        launcher = _Launcher(sweep, directory, command)

        def report() -> list[Outcome]:
            outcomes = [read_outcome(directory, run, sweep.metric, failures) for run in sweep.runs]
            write_summary(directory, sweep, outcomes)
            return outcomes

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures: dict[Future[str | None], Run] = {
                pool.submit(launcher.run, run, plan[run.folder] == "resume"): run for run in todo
            }
            try:
                for done, future in enumerate(as_completed(futures), 1):
                    run = futures[future]
                    failure = future.result()
                    if failure is not None:
                        failures[run.folder] = failure
                    outcome = report()[sweep.runs.index(run)]
                    echo(f"[{done}/{len(todo)}] {run.folder}: {_describe(outcome, sweep.metric)}")
            except KeyboardInterrupt:
                launcher.stop()
                pool.shutdown(wait=True, cancel_futures=True)
                report()
                echo(
                    f"sweep interrupted: runs keep their last checkpoint; rerun the same "
                    f"command to continue; summary in {directory / SUMMARY_MD}"
                )
                raise
        return report()


class _Launcher:
    """Starts training processes (each in its own session, so a Ctrl-C reaches the sweep
    alone, which then stops them once) and stops them all on request."""

    def __init__(self, sweep: Sweep, directory: Path, command: TrainCommand) -> None:
        self.sweep, self.directory, self.command = sweep, directory, command
        self.lock = threading.Lock()
        self.running: set[subprocess.Popen[str]] = set()
        self.stopped = False

    def run(self, run: Run, resume: bool) -> str | None:
        """Train ``run``; None when its process succeeds, else its error's one line."""
        command = self.command(self.sweep, run, self.directory / run.folder, resume)
        with self.lock:
            if self.stopped:
                return None
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                start_new_session=True,
            )
            self.running.add(process)
        try:
            out, err = process.communicate()
        finally:
            with self.lock:
                self.running.discard(process)
        code = process.returncode
        log = f"$ {shlex.join(command)}\n{out}--- stderr ---\n{err}--- exit code {code}\n"
        write_text_atomic(self.directory / f"{run.folder}.log", log)
        if process.returncode == 0 or self.stopped:
            return None
        lines = [line.strip() for line in err.splitlines() if line.strip()]
        if lines:
            return lines[-1]
        if process.returncode < 0:
            return f"killed by {signal.Signals(-process.returncode).name}"
        return f"exit code {process.returncode}"

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            for process in self.running:
                process.send_signal(signal.SIGINT)


def read_outcome(
    directory: Path, run: Run, metric: str, failures: dict[str, str] | None = None
) -> Outcome:
    """A run's status and numbers from its folder (``failures``: this sweep's failed
    processes, by folder, with their error line)."""
    folder = directory / run.folder
    manifest: Any = None
    if made_by(folder) == TRAIN:
        manifest = load_json_file(folder / MANIFEST)
    seconds = _number(manifest.get("wall_time_seconds")) if isinstance(manifest, dict) else None
    if failures and run.folder in failures:
        return Outcome(run, FAILED, failures[run.folder], wall_time_seconds=seconds)
    status = manifest.get("status") if isinstance(manifest, dict) else None
    if status in ("running", INTERRUPTED):
        return Outcome(run, INTERRUPTED, wall_time_seconds=seconds)
    if status != COMPLETED:
        return Outcome(run, PENDING)
    try:
        value, test_accuracy, test_loss = _scores(folder / RESULTS, metric)
    except SpecError as error:
        return Outcome(run, FAILED, error.lines()[0], wall_time_seconds=seconds)
    return Outcome(run, COMPLETED, "", value, test_accuracy, test_loss, seconds)


def _scores(path: Path, metric: str) -> tuple[float, float, float]:
    """``selected.value`` (checked to be ``metric``'s), ``test_accuracy`` and ``test_loss``
    of a run's results.json."""
    results = load_json_file(path)
    selected = results.get("selected") if isinstance(results, dict) else None
    if not isinstance(selected, dict) or selected.get("metric") != metric:
        raise InputError(f"reports no selected {metric} (`selected.metric`)", file=str(path))
    scores = []
    for key, value in (
        ("selected.value", selected.get("value")),
        ("test_accuracy", results.get("test_accuracy")),
        ("test_loss", results.get("test_loss")),
    ):
        number = _number(value)
        if number is None:
            raise InputError(f"{key} is not a finite number: {value!r}", file=str(path))
        scores.append(number)
    return scores[0], scores[1], scores[2]


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a finite JSON number, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _describe(outcome: Outcome, metric: str) -> str:
    if outcome.status == COMPLETED:
        return f"completed, {metric} {outcome.value:.4f} ({outcome.wall_time_seconds or 0:.1f} s)"
    if outcome.status == FAILED:
        return f"failed: {printable(outcome.error)} (log: {outcome.run.folder}.log)"
    return outcome.status


# --- the summary ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Ranked:
    """A point whose every seed completed: the mean and sample standard deviation (None for
    one seed) of the selection metric and of the test metrics over its seeds."""

    point: Point
    mean: float
    sd: float | None
    test_accuracy: tuple[float, float | None]
    test_loss: tuple[float, float | None]


def rank(sweep: Sweep, outcomes: Sequence[Outcome]) -> list[Ranked]:
    """The points whose seeds all completed, best mean selection metric first (ties: the
    lower point index first). Points with a failed or unfinished seed are not ranked."""
    by_point: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_point.setdefault(outcome.run.point.name, []).append(outcome)
    ranked = []
    for point in sweep.points:
        group = by_point.get(point.name, [])
        if len(group) != sweep.seeds or any(o.status != COMPLETED for o in group):
            continue
        values = [o.value for o in group if o.value is not None]
        ranked.append(
            Ranked(
                point,
                *_mean_sd(values),
                _mean_sd([o.test_accuracy for o in group if o.test_accuracy is not None]),
                _mean_sd([o.test_loss for o in group if o.test_loss is not None]),
            )
        )
    sign = 1.0 if LOWER_IS_BETTER[sweep.metric] else -1.0
    return sorted(ranked, key=lambda r: (sign * r.mean, r.point.index))


def _mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def summary_csv(sweep: Sweep, outcomes: Sequence[Outcome]) -> str:
    """One row per point and seed; test metrics are left out (the sweep never shows them
    beside the selection metric of every point)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    paths = [axis.path for axis in sweep.axes]
    writer.writerow(
        ["point", "seed", *paths, "metric", "value", "status", "wall_time_seconds", "error"]
    )
    for outcome in outcomes:
        run = outcome.run
        writer.writerow(
            [
                run.point.name,
                run.seed,
                *(_show(value) for value in run.point.values),
                sweep.metric,
                "" if outcome.value is None else repr(outcome.value),
                outcome.status,
                "" if outcome.wall_time_seconds is None else f"{outcome.wall_time_seconds:.3f}",
                outcome.error,
            ]
        )
    return buffer.getvalue()


def summary_markdown(sweep: Sweep, outcomes: Sequence[Outcome]) -> str:
    """The ranked points, the ones not ranked, and the selected point's test metrics."""
    metric, paths = sweep.metric, [axis.path for axis in sweep.axes]
    better = "lower" if LOWER_IS_BETTER[metric] else "higher"
    ranked = rank(sweep, outcomes)
    lines = [
        f"# Sweep of {sweep.spec_path}",
        "",
        f"{len(sweep.points)} points x {sweep.seeds} seed{'s' * (sweep.seeds != 1)}. Points "
        f"are ranked by their mean {metric} ({better} is better) on the validation split, "
        "over their seeds (mean ± sample standard deviation).",
        "",
    ]
    if sweep.overrides:
        overrides = f"override{'s' * (len(sweep.overrides) > 1)}"
        lines += [f"Every run has the {overrides} " + ", ".join(sweep.overrides) + ".", ""]
    header = ["rank", "point", *paths, f"{metric} (mean ± sd)"]
    lines += _table(
        header,
        [
            [str(n), r.point.name, *map(_show, r.point.values), _pm((r.mean, r.sd))]
            for n, r in enumerate(ranked, 1)
        ],
    )
    left = [p for p in sweep.points if p.name not in {r.point.name for r in ranked}]
    if left:
        status: dict[str, list[str]] = {}
        for outcome in outcomes:
            status.setdefault(outcome.run.point.name, []).append(
                f"seed {outcome.run.seed}: {outcome.status}"
                + (f" ({outcome.error})" if outcome.error else "")
            )
        lines += ["", "Not ranked (a seed has not completed):", ""]
        lines += _table(
            ["point", *paths, "seeds"],
            [[p.name, *map(_show, p.values), "; ".join(status.get(p.name, ()))] for p in left],
        )
    lines += ["", "## Selected point", ""]
    if ranked:
        best = ranked[0]
        where = ", ".join(
            f"{path}={_show(value)}" for path, value in zip(paths, best.point.values, strict=True)
        )
        lines += [
            f"{best.point.name}" + (f" ({where})" if where else "") + f": {metric} "
            f"{_pm((best.mean, best.sd))}.",
            "",
            f"Test metrics of the selected point alone, over its {sweep.seeds} "
            f"seed{'s' * (sweep.seeds != 1)} (scored once per run, never used to select): "
            f"test accuracy {_pm(best.test_accuracy)}, test loss {_pm(best.test_loss)}.",
        ]
    else:
        lines.append("None yet: no point has completed all its seeds.")
    return "\n".join(lines) + "\n"


def write_summary(directory: Path, sweep: Sweep, outcomes: Sequence[Outcome]) -> None:
    write_text_atomic(directory / SUMMARY_CSV, summary_csv(sweep, outcomes))
    write_text_atomic(directory / SUMMARY_MD, summary_markdown(sweep, outcomes))


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _pm(pair: tuple[float, float | None]) -> str:
    mean, sd = pair
    return f"{mean:.4f}" if sd is None else f"{mean:.4f} ± {sd:.4f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(printable(c).replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *map(line, rows)]
