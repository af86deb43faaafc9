"""Sweeps: grid parsing, point names, the sweep folder, resuming, the ranked summary.

The unit tests build sweeps and run folders by hand in the format of issue 16's contract
(``results.json``: ``selected: {metric, value}``, ``test_accuracy``, ``test_loss``); the
end-to-end tests train on the synthetic task with a validation split.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import shutil
import statistics
from pathlib import Path
from typing import Any

import pytest
from helpers import TINY_MODEL, run_cli

from snnspec._errors import SpecError
from snnspec.cli.sweep import train_command
from snnspec.training import sweep as sweeps
from snnspec.training.sweep import (
    Axis,
    Outcome,
    Run,
    Sweep,
    grid_points,
    open_sweep_folder,
    parse_grid,
    plan_sweep,
    rank,
    read_outcome,
    run_state,
    run_sweep,
    summary_csv,
    summary_markdown,
)

TINY = (
    TINY_MODEL
    + """\
train:
  data: {type: synthetic, num_samples: 48, num_classes: 3, segments: 2, rate_high: 0.5,
         validation_fraction: 0.25}
  loss: {type: cross_entropy, readout: max_membrane, scale: 5.0}
  optimizer: {learning_rate: 0.01}
  epochs: 1
  batch_size: 12
"""
)

NO_VALIDATION = TINY.replace(",\n         validation_fraction: 0.25}", "}")

GRID = (
    "--grid",
    "train.optimizer.learning_rate=1e-3,3e-2",
    "--grid",
    "layers.lif1.threshold=0.2,1.0",
)


def point_hash(pairs: list[list[Any]]) -> str:
    """The documented point hash, computed independently: sha256 of canonical JSON."""
    text = json.dumps(pairs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def hand_made(axes: list[Axis], seeds: int = 1, metric: str = "val_loss") -> Sweep:
    """A sweep built without loading a spec (its runs' hashes are placeholders)."""
    runs = tuple(
        Run(point, seed, f"{point.name}/seed-{seed}", (), "0" * 64)
        for point in grid_points(axes)
        for seed in range(seeds)
    )
    return Sweep(Path("spec.yaml"), tuple(axes), (), (), None, None, seeds, metric, runs)


def write_run(
    folder: Path, status: str, results: dict[str, Any] | None = None, exist_ok: bool = False
) -> None:
    """A run folder as `snnspec train` leaves it (the parts a sweep reads)."""
    folder.mkdir(parents=True, exist_ok=exist_ok)
    manifest = {"snnspec_run": 1, "made_by": "train", "status": status, "wall_time_seconds": 2.5}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "resolved.yaml").write_text("snnspec: 1\n")
    if results is not None:
        (folder / "results.json").write_text(json.dumps(results))


def contract_results(value: float, accuracy: float = 0.5, loss: float = 1.0) -> dict[str, Any]:
    return {
        "epoch": 1,
        "epochs_completed": 1,
        "test_accuracy": accuracy,
        "test_loss": loss,
        "selected": {"epoch": 1, "metric": "val_loss", "value": value, "reason": "lowest val_loss"},
        "early_stopped": False,
    }


@pytest.fixture(scope="module")
def tiny_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep-spec") / "tiny.yaml"
    path.write_text(TINY)
    return path


# --- the grid ---------------------------------------------------------------------------


def test_grid_values_are_parsed_like_set_values() -> None:
    axis = parse_grid("train.optimizer.learning_rate=1e-3,3e-3")
    assert axis == Axis("train.optimizer.learning_rate", (0.001, 0.003))
    assert parse_grid("layers[1].threshold=0.5, 1").values == (0.5, 1)
    assert parse_grid("layers[1].threshold=0.5").path == "layers.1.threshold"
    assert parse_grid("train.optimizer.type=adam,sgd").values == ("adam", "sgd")


def test_grid_list_values_are_a_flow_sequence() -> None:
    axis = parse_grid("layers.lif1.decay_constants=[[0.9, 0.8], [0.5, 0.4]]")
    assert axis.values == ([0.9, 0.8], [0.5, 0.4])
    assert parse_grid("x=[1, 2]").values == (1, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train.epochs", "`grid train.epochs`: expected PATH=V1,V2,... or PATH=[V1, V2, ...]"),
        ("train.epochs=", "`grid train.epochs=`: expected PATH=V1,V2,..."),
        ("train.epochs=[]", "`grid train.epochs=[]`: no values to sweep; give at least one"),
        ("train.epochs=1,2,1", "`grid train.epochs=1,2,1`: the value 1 is listed twice"),
        ("train.epochs=1,yes", "`grid train.epochs=yes`:1:1: ambiguous YAML 1.1 boolean 'yes'"),
        ("x=.inf", "`grid x=.inf`: cannot sweep the non-finite value inf"),
    ],
)
def test_grid_errors_name_the_grid_option(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_grid(text)
    assert str(caught.value).startswith(message)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    code, _, err = run_cli("sweep", spec, "-o", tmp_path / "s", "--grid", text, capsys=capsys)
    cli = message.replace("`grid ", "--grid ", 1).replace("`", "", 1)
    assert (code, err.startswith(cli)) == (1, True), err


def test_points_are_the_product_named_by_index_and_hash() -> None:
    axes = [Axis("a", (1, 2, 3)), Axis("b.c", ([1, 2], "x"))]
    points = grid_points(axes)
    assert [p.values for p in points] == list(itertools.product((1, 2, 3), ([1, 2], "x")))
    assert [p.index for p in points] == list(range(6))
    for point in points:
        pairs = [["a", point.values[0]], ["b.c", point.values[1]]]
        assert point.name == f"{point.index:03d}-{point_hash(pairs)}"
    assert len({p.name.split("-")[1] for p in points}) == 6
    wide = grid_points([Axis("a", tuple(range(1001)))])
    assert (wide[0].name[:5], wide[-1].name[:5]) == ("0000-", "1000-")


def test_random_points_are_a_seeded_draw_without_replacement() -> None:
    axes = [Axis("a", tuple(range(10))), Axis("b", tuple(range(10)))]
    everything = {p.name: p for p in grid_points(axes)}
    draw = grid_points(axes, random=7, random_seed=3)
    assert [p.name for p in draw] == [p.name for p in grid_points(axes, 7, 3)]
    assert len({p.name for p in draw}) == 7
    assert all(everything[p.name] == p for p in draw)
    assert [p.index for p in draw] == sorted(p.index for p in draw)
    assert {p.name for p in grid_points(axes, 7, 4)} != {p.name for p in draw}
    # The draw ranks points by sha256("SEED:INDEX"): a larger N keeps the smaller N's points.
    expected = sorted(range(100), key=lambda i: hashlib.sha256(f"3:{i}".encode()).hexdigest())
    assert {p.index for p in draw} == set(expected[:7])
    assert {p.name for p in draw} <= {p.name for p in grid_points(axes, 20, 3)}
    with pytest.raises(SpecError, match="`random=101`: the grid has only 100 points"):
        grid_points(axes, random=101)


# --- validating every run before anything runs -----------------------------------------


def test_a_typo_in_a_grid_path_fails_before_anything_runs(
    tiny_spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    code, _, err = run_cli(
        "sweep", tiny_spec, "-o", out, "--grid", "layers.lfi1.threshold=0.5,1", capsys=capsys
    )
    assert code == 1
    assert err.splitlines() == [
        "--grid layers.lfi1.threshold=0.5: layers has no item named 'lfi1'; "
        "names: fc1, lif1, fc2, out"
    ]
    assert not out.exists()


def test_a_grid_value_the_schema_refuses_names_the_grid(tiny_spec: Path) -> None:
    with pytest.raises(SpecError) as caught:
        plan_sweep(tiny_spec, [parse_grid("train.epochs=1,0")])
    assert str(caught.value).startswith("`grid train.epochs=0`: train.epochs: ")


def test_a_sweep_refuses_a_spec_without_a_validation_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "plain.yaml"
    spec.write_text(NO_VALIDATION)
    out = tmp_path / "sweep"
    code, _, err = run_cli("sweep", spec, "-o", out, *GRID, capsys=capsys)
    assert code == 1
    assert err.splitlines() == [
        f"{spec}:13:3: train.data: a sweep selects its best point on validation metrics, and "
        "this spec has no validation split (with --grid values "
        "train.optimizer.learning_rate=0.001, layers.lif1.threshold=0.2); set "
        "train.data.validation_fraction (e.g. --set train.data.validation_fraction=0.2)"
    ]
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--grid", "train.epochs=1,2", "--grid", "train=null,null2"],
            "--grid train and --grid train.epochs set the same value; sweep it once",
        ),
        (
            ["--grid", "train.epochs=1,2", "--set", "train.epochs=3"],
            "--set train.epochs=3 and --grid train.epochs set the same value; the grid would "
            "replace it: leave one out",
        ),
        (
            ["--grid", "train.epochs=1,2", "--random", "3"],
            "--random 3: the grid has only 2 points; draw at most that many",
        ),
    ],
)
def test_sweep_option_errors(
    tiny_spec: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    code, _, err = run_cli("sweep", tiny_spec, "-o", tmp_path / "s", *args, capsys=capsys)
    assert (code, err.strip()) == (1, message)


def test_seed_without_random_is_a_usage_error(
    tiny_spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        "sweep", tiny_spec, "-o", tmp_path / "s", "--grid", "train.epochs=1,2", "--seed", "3",
        capsys=capsys,
    )  # fmt: skip
    assert code == 2
    assert "--random" in err


def test_plan_validates_every_run_and_derives_the_seeds(tiny_spec: Path) -> None:
    axes = [parse_grid("train.optimizer.learning_rate=1e-3,3e-2")]
    plan = plan_sweep(tiny_spec, axes, overrides=["train.epochs=2"], seeds=3)
    assert [run.folder for run in plan.runs] == [
        f"{p.name}/seed-{s}" for p in grid_points(axes) for s in range(3)
    ]
    first = plan.runs[0].overrides
    assert first == ("train.epochs=2", "train.optimizer.learning_rate=0.001")
    # Seed I > 0 adds I to the model seed (1 in the spec) and to train.seed (default: seed).
    assert plan.runs[2].overrides == (*first, "seed=3", "train.seed=3")
    assert plan.metric == "val_loss"
    assert len({run.resolved_sha256 for run in plan.runs}) == 6


# --- the sweep folder ------------------------------------------------------------------


def test_sweep_folder_is_new_empty_or_the_same_sweep(tmp_path: Path) -> None:
    sweep = hand_made([Axis("a", (1, 2))])
    out = tmp_path / "sweep"
    open_sweep_folder(out, sweep)
    record = json.loads((out / "sweep.json").read_text())
    assert record["grid"] == [{"path": "a", "values": [1, 2]}]
    assert [r["folder"] for r in record["runs"]] == [r.folder for r in sweep.runs]
    open_sweep_folder(out, sweep)  # the same sweep again
    other = hand_made([Axis("a", (1, 3))])
    with pytest.raises(SpecError, match="holds another sweep: its `grid` values differ"):
        open_sweep_folder(out, other)
    more_seeds = hand_made([Axis("a", (1, 2))], seeds=2)
    with pytest.raises(SpecError, match="holds another sweep: its `seeds` differ"):
        open_sweep_folder(out, more_seeds)
    assert json.loads((out / "sweep.json").read_text()) == record


def test_another_sweep_in_the_folder_is_named_by_the_flags_that_differ(
    tiny_spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    open_sweep_folder(out, hand_made([Axis("train.epochs", (1, 2))]))
    before = (out / "sweep.json").read_bytes()
    args = ("sweep", tiny_spec, "-o", out, "--grid", "train.epochs=1,3")
    assert run_cli(*args, capsys=capsys)[::2] == (
        1,
        f"{out} holds another sweep: its --grid values differ from this one's "
        f"({out / 'sweep.json'}); rerun the same command to continue it, or choose another -o\n",
    )
    assert (out / "sweep.json").read_bytes() == before


def test_sweep_never_writes_into_a_folder_it_did_not_make(tmp_path: Path) -> None:
    sweep = hand_made([Axis("a", (1, 2))])
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(SpecError, match=r"is not empty and holds no sweep\.json"):
        open_sweep_folder(other, sweep)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    run = tmp_path / "run"
    write_run(run, "completed")
    with pytest.raises(SpecError, match="holds the output of `snnspec train`"):
        open_sweep_folder(run, sweep)
    with pytest.raises(SpecError, match="is a `snnspec train` folder"):
        open_sweep_folder(run / "inside", sweep)
    assert not (run / "sweep.json").exists()


def test_rerun_skips_completed_resumes_interrupted_and_starts_missing_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed sweep, simulated: one run completed, one interrupted, one never started."""
    sweep = hand_made([Axis("a", (1, 2, 3))])
    out = tmp_path / "sweep"
    open_sweep_folder(out, sweep)
    done, stopped, missing = sweep.runs
    write_run(out / done.folder, "completed", contract_results(0.4))
    write_run(out / stopped.folder, "interrupted")
    assert [run_state(out / r.folder) for r in sweep.runs] == ["skip", "resume", "start"]
    launched: list[tuple[str, bool]] = []

    def launch(self: Any, run: Run, resume: bool) -> str | None:
        launched.append((run.folder, resume))
        write_run(out / run.folder, "completed", contract_results(0.3), exist_ok=True)
        return None

    monkeypatch.setattr(sweeps._Launcher, "run", launch)
    outcomes = run_sweep(sweep, out, train_command, jobs=2, echo=lambda _: None)
    assert sorted(launched) == [(stopped.folder, True), (missing.folder, False)]
    assert [o.status for o in outcomes] == ["completed"] * 3
    rows = list(csv.DictReader(io.StringIO((out / "summary.csv").read_text())))
    assert [row["status"] for row in rows] == ["completed"] * 3


def test_two_sweeps_cannot_run_in_one_folder(tmp_path: Path) -> None:
    import fcntl
    import os

    sweep = hand_made([Axis("a", (1, 2))])
    out = tmp_path / "sweep"
    open_sweep_folder(out, sweep)
    other = os.open(out, os.O_RDONLY)  # what the running sweep holds
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(SpecError, match="another sweep is running in this folder"):
            run_sweep(sweep, out, train_command, echo=lambda _: None)
    finally:
        os.close(other)
    assert not (out / "summary.csv").exists()


def test_without_a_grid_a_sweep_is_one_point() -> None:
    (point,) = grid_points([])
    assert (point.values, point.name) == ((), f"000-{point_hash([])}")


def test_the_command_of_a_run(tmp_path: Path) -> None:
    sweep = hand_made([Axis("a", (1, 2))])
    sweep = Sweep(
        sweep.spec_path, sweep.axes, ("x=1",), (Path("lib"),), None, None, 1, "val_loss",
        (Run(sweep.runs[0].point, 0, "000-x/seed-0", ("x=1", "a=1"), "0" * 64),),
    )  # fmt: skip
    assert "\nEvery run has the override x=1.\n" in summary_markdown(sweep, [])
    command = train_command(sweep, sweep.runs[0], tmp_path / "000-x" / "seed-0", resume=True)
    assert command[1:] == [
        "-m", "snnspec", "train", "spec.yaml", "-o", str(tmp_path / "000-x" / "seed-0"),
        "--set", "x=1", "--set", "a=1", "--allow-path", "lib", "--no-progress", "--resume",
    ]  # fmt: skip


# --- outcomes and the summary ----------------------------------------------------------


def test_outcomes_are_read_from_run_folders(tmp_path: Path) -> None:
    sweep = hand_made([Axis("a", (1, 2, 3, 4, 5))])
    runs = sweep.runs
    write_run(tmp_path / runs[0].folder, "completed", contract_results(0.25, 0.75, 0.5))
    write_run(tmp_path / runs[1].folder, "interrupted")
    write_run(tmp_path / runs[2].folder, "completed", {"test_accuracy": 0.5, "test_loss": 1.0})
    write_run(tmp_path / runs[4].folder, "running")
    outcomes = [
        read_outcome(tmp_path, run, "val_loss", {runs[4].folder: "InputError: boom"})
        for run in runs
    ]
    assert outcomes[0] == Outcome(runs[0], "completed", "", 0.25, 0.75, 0.5, 2.5)
    assert outcomes[1] == Outcome(runs[1], "interrupted", wall_time_seconds=2.5)
    assert outcomes[2].status == "failed"
    assert outcomes[2].error == (
        f"{tmp_path / runs[2].folder / 'results.json'}: reports no selected val_loss "
        "(`selected.metric`)"
    )
    assert outcomes[3] == Outcome(runs[3], "pending")
    assert outcomes[4] == Outcome(runs[4], "failed", "InputError: boom", wall_time_seconds=2.5)


def made_outcomes(sweep: Sweep, values: dict[str, list[float]]) -> list[Outcome]:
    """Completed outcomes with the given selection values per point (test metrics derived
    from them, so each point's test numbers differ)."""
    result = []
    for run in sweep.runs:
        value = values[run.point.name][run.seed]
        result.append(Outcome(run, "completed", "", value, 1 - value / 10, value * 2, 1.0))
    return result


@pytest.mark.parametrize("metric", ["val_loss", "val_accuracy"])
def test_summary_ranks_points_by_mean_over_seeds(metric: str) -> None:
    sweep = hand_made([Axis("lr", (0.1, 0.2, 0.3, 0.4))], seeds=3, metric=metric)
    names = [p.name for p in sweep.points]
    values = {
        names[0]: [0.5, 0.6, 0.7],
        names[1]: [0.2, 0.4, 0.3],
        names[2]: [0.9, 0.8, 0.85],
        names[3]: [0.1, 0.1, 0.1],
    }
    outcomes = made_outcomes(sweep, values)
    outcomes[-1] = Outcome(sweep.runs[-1], "failed", "boom")  # point 3 has a failed seed
    means = {name: statistics.fmean(v) for name, v in values.items() if name != names[3]}
    order = sorted(means, key=means.__getitem__, reverse=metric == "val_accuracy")
    ranked = rank(sweep, outcomes)
    assert [r.point.name for r in ranked] == order
    for r in ranked:
        assert r.mean == pytest.approx(means[r.point.name], rel=1e-12)
        assert r.sd == pytest.approx(statistics.stdev(values[r.point.name]), rel=1e-12)
    markdown = summary_markdown(sweep, outcomes)
    table = [line for line in markdown.splitlines() if line.startswith("| ") and "-" in line]
    assert [line.split(" | ")[1] for line in table[: len(order)]] == order
    assert (
        f"| {names[3]} | 0.4 | seed 0: completed; seed 1: completed; seed 2: failed (boom) |"
        in (markdown)
    )
    best = order[0]
    accuracy = [1 - v / 10 for v in values[best]]
    loss = [2 * v for v in values[best]]
    assert (
        f"test accuracy {statistics.fmean(accuracy):.4f} ± {statistics.stdev(accuracy):.4f}, "
        f"test loss {statistics.fmean(loss):.4f} ± {statistics.stdev(loss):.4f}"
    ) in markdown
    assert markdown.count("test accuracy") == 1  # only for the selected point


def test_summary_csv_has_one_row_per_point_and_seed_and_no_test_metrics() -> None:
    sweep = hand_made([Axis("lr", (0.1, 0.2)), Axis("sizes", ([1, 2], [3]))], seeds=2)
    values = {p.name: [0.5 + p.index, 0.25] for p in sweep.points}
    outcomes = made_outcomes(sweep, values)
    rows = list(csv.DictReader(io.StringIO(summary_csv(sweep, outcomes))))
    assert list(rows[0]) == [
        "point", "seed", "lr", "sizes", "metric", "value", "status", "wall_time_seconds", "error",
    ]  # fmt: skip
    assert [(row["point"], row["seed"]) for row in rows] == [
        (p.name, str(s)) for p in sweep.points for s in range(2)
    ]
    assert [(row["lr"], row["sizes"]) for row in rows[::2]] == [
        ("0.1", "[1, 2]"), ("0.1", "[3]"), ("0.2", "[1, 2]"), ("0.2", "[3]"),
    ]  # fmt: skip
    assert {row["metric"] for row in rows} == {"val_loss"}
    assert [float(row["value"]) for row in rows] == [
        v for p in sweep.points for v in values[p.name]
    ]


def test_summary_with_one_seed_has_no_spread_and_no_selection_before_a_run_completes() -> None:
    sweep = hand_made([Axis("lr", (0.1, 0.2))])
    outcomes = made_outcomes(sweep, {p.name: [0.5 - p.index / 10] for p in sweep.points})
    markdown = summary_markdown(sweep, outcomes)
    assert f"| 1 | {sweep.points[1].name} | 0.2 | 0.4000 |" in markdown
    assert "test accuracy 0.9600, test loss 0.8000." in markdown
    pending = [Outcome(run, "pending") for run in sweep.runs]
    assert "None yet: no point has completed all its seeds." in summary_markdown(sweep, pending)


# --- end to end: real training processes -----------------------------------------------


@pytest.fixture(scope="module")
def finished_sweep(
    tiny_spec: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int, str, str]:
    """A 2x2 sweep of the synthetic task with --jobs 2, through the command line."""
    out = tmp_path_factory.mktemp("sweeps") / "grid"
    code, stdout, stderr = _run_sweep_cli(tiny_spec, out, "--jobs", "2")
    return out, code, stdout, stderr


def _run_sweep_cli(spec: Path, out: Path, *args: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    process = subprocess.run(
        [sys.executable, "-m", "snnspec", "sweep", str(spec), "-o", str(out), *GRID, *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return process.returncode, process.stdout, process.stderr


@pytest.mark.slow
def test_a_2x2_sweep_with_two_jobs(
    finished_sweep: tuple[Path, int, str, str], tiny_spec: Path
) -> None:
    out, code, stdout, stderr = finished_sweep
    assert (code, stderr) == (0, ""), stderr
    axes = [parse_grid(GRID[1]), parse_grid(GRID[3])]
    points = grid_points(axes)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [p.name for p in points]
    for point in points:
        manifest = json.loads((out / point.name / "seed-0" / "manifest.json").read_text())
        assert manifest["status"] == "completed"
        assert manifest["overrides"] == list(sweeps.point_overrides(axes, point))
        assert (out / point.name / "seed-0.log").is_file()
    rows = list(csv.DictReader(io.StringIO((out / "summary.csv").read_text())))
    assert [row["status"] for row in rows] == ["completed"] * 4
    assert {row["metric"] for row in rows} == {"val_loss"}
    values = {
        row["point"]: json.loads((out / row["point"] / "seed-0" / "results.json").read_text())
        for row in rows
    }
    assert [float(row["value"]) for row in rows] == [
        values[row["point"]]["selected"]["value"] for row in rows
    ]
    order = sorted(values, key=lambda name: (values[name]["selected"]["value"], name))
    markdown = (out / "summary.md").read_text()
    ranked = [line.split(" | ")[1] for line in markdown.splitlines() if line[:2] == "| "][1:]
    assert ranked == order
    best = values[order[0]]
    assert f"test accuracy {best['test_accuracy']:.4f}, test loss {best['test_loss']:.4f}" in (
        markdown
    )
    assert f"selected point: {order[0]}" in stdout


@pytest.mark.slow
def test_rerun_of_a_killed_sweep_skips_finished_runs(
    finished_sweep: tuple[Path, int, str, str], tiny_spec: Path, tmp_path: Path
) -> None:
    """A sweep killed after two runs finished, one was interrupted and one never started."""
    out = tmp_path / "grid"
    shutil.copytree(finished_sweep[0], out)
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    interrupted = out / names[1] / "seed-0" / "manifest.json"
    manifest = json.loads(interrupted.read_text())
    interrupted.write_text(json.dumps({**manifest, "status": "interrupted"}))
    shutil.rmtree(out / names[3])
    kept = {n: (out / n / "seed-0" / "manifest.json").read_bytes() for n in (names[0], names[2])}
    code, stdout, stderr = _run_sweep_cli(tiny_spec, out, "--jobs", "2")
    assert (code, stderr) == (0, ""), stderr
    assert "2 completed earlier, 1 to resume, 1 to start" in stdout
    for name, before in kept.items():
        assert (out / name / "seed-0" / "manifest.json").read_bytes() == before
    resumed = json.loads(interrupted.read_text())
    assert (resumed["status"], resumed["resumed"]) == ("completed", 1)
    redone = json.loads((out / names[3] / "seed-0" / "manifest.json").read_text())
    assert redone["status"] == "completed"
    rows = list(csv.DictReader(io.StringIO((out / "summary.csv").read_text())))
    assert [row["status"] for row in rows] == ["completed"] * 4


@pytest.mark.slow
def test_a_failing_run_does_not_stop_the_others(tiny_spec: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "sizes"
    process = subprocess.run(
        [sys.executable, "-m", "snnspec", "sweep", str(tiny_spec), "-o", str(out),
         "--grid", "train.batch_size=12,1000", "--jobs", "2"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert process.returncode == 1
    assert process.stderr.strip() == (
        f"1 of 2 runs failed (see {out / 'summary.md'}); a rerun of the same command retries "
        "the runs whose training stopped with an error"
    )
    rows = list(csv.DictReader(io.StringIO((out / "summary.csv").read_text())))
    assert [row["status"] for row in rows] == ["completed", "failed"]
    assert "batch_size 1000 is larger than the" in rows[1]["error"]
    assert "\n" not in rows[1]["error"]
