"""What commands write: no output replaces another's work, modes follow the umask, and
messages about folders and interrupted runs say what the path is and what to do.

The rule (module docstring of ``snnspec.bundle.folders``, docs/guarantees.md): a folder output is
written only when new, empty, or (with --force) the same command's earlier output; a file
output replaces an existing file only with --force, and never lands inside a build or run
folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import run_cli

import snnspec.training.loop
from snnspec._errors import InputError
from snnspec._io import write_atomic

TINY = """\
snnspec: 1
name: tiny
seed: 1
time: {steps: 6}
inputs: [{name: spikes, shape: [4]}]
layers:
  - {name: fc, type: linear, out_features: 3}
  - {name: out, type: simple_li, decay_constants: [0.9]}
outputs: [out]
train:
  data: {type: synthetic, num_samples: 24, num_classes: 3, segments: 2, rate_high: 0.5}
  loss: {type: cross_entropy, readout: max_membrane}
  optimizer: {type: adamw, learning_rate: 0.01}
  epochs: 1
  batch_size: 12
"""

Capsys = pytest.CaptureFixture[str]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A spec, its build folder, a finished training run and a NIR file, made once."""
    root = tmp_path_factory.mktemp("made")
    spec = root / "tiny.yaml"
    spec.write_text(TINY)
    uncaptured = SimpleNamespace(readouterr=lambda: SimpleNamespace(out="", err=""))
    for args in (
        ("build", spec, "-o", root / "build"),
        ("train", spec, "-o", root / "run", "--no-progress"),
        ("nir", "export", spec, "-o", root / "tiny.nir"),
    ):
        assert run_cli(*args, capsys=uncaptured)[0] == 0  # type: ignore[arg-type]
    return {"spec": spec, "build": root / "build", "run": root / "run", "nir": root / "tiny.nir"}


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the sha256 of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


# --- folder outputs ---------------------------------------------------------------------


def test_build_never_replaces_a_training_run(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    run = _copy(made["run"], tmp_path)
    before = _snapshot(run)
    for force in ((), ("--force",)):
        code, _, err = run_cli("build", made["spec"], "-o", run, *force, capsys=capsys)
        assert (code, err) == (
            1,
            f"{run} holds the output of `snnspec train`; `snnspec build` never writes into it "
            "(not even with --force); choose another -o\n",
        )
    assert _snapshot(run) == before


def test_build_replaces_only_its_own_earlier_build_with_force(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    build = _copy(made["build"], tmp_path)
    code, _, err = run_cli("build", made["spec"], "-o", build, capsys=capsys)
    assert (code, err) == (
        1,
        f"{build} holds an earlier `snnspec build` output; pass --force to replace it or choose "
        "another -o\n",
    )
    (build / "params.safetensors").write_bytes(b"changed")
    code, _, err = run_cli("build", made["spec"], "-o", build, "--force", capsys=capsys)
    assert (code, err) == (0, "")
    assert _snapshot(build) == _snapshot(made["build"]) | {
        "manifest.json": _snapshot(build)["manifest.json"]  # its creation time differs
    }
    assert json.loads((build / "manifest.json").read_text())["made_by"] == "build"


def test_a_folder_of_other_files_is_never_written_into(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "spec.yaml").write_text("my notes")
    (folder / "params.safetensors").write_text("my weights")
    before = _snapshot(folder)
    for command in (
        ("build", made["spec"], "-o", folder, "--force"),
        ("train", made["spec"], "-o", folder, "--force"),
        ("train", made["spec"], "-o", folder, "--resume"),  # once deleted spec.yaml and params
    ):
        code, _, err = run_cli(*command, capsys=capsys)
        assert (code, err) == (
            1,
            f"{folder} is not empty and was not made by `snnspec {command[0]}`; snnspec writes "
            "only into an empty folder or its own earlier output (not even --force changes "
            "that); choose another -o\n",
        )
    assert _snapshot(folder) == before


def test_train_never_writes_into_a_build_folder(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    build = _copy(made["build"], tmp_path)
    code, _, err = run_cli("train", made["spec"], "-o", build, "--force", capsys=capsys)
    assert (code, err) == (
        1,
        f"{build} holds the output of `snnspec build`; `snnspec train` never writes into it "
        "(not even with --force); choose another -o\n",
    )
    message = (
        f"{build} was made by `snnspec build`, not `snnspec train`: it holds no training run "
        f"(`snnspec run {build}` runs it)\n"
    )
    assert run_cli("train", build, "--resume", capsys=capsys)[::2] == (1, message)
    assert run_cli("evaluate", build, capsys=capsys)[::2] == (1, message)
    assert _snapshot(build) == _snapshot(made["build"])


def test_train_refuses_its_own_run_without_force_and_replaces_it_with_force(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    run = _copy(made["run"], tmp_path)
    code, _, err = run_cli("train", made["spec"], "-o", run, capsys=capsys)
    assert (code, err) == (
        1,
        f"{run} holds a `snnspec train` run; pass --resume to continue it, --force to replace "
        "it, or choose another -o\n",
    )
    code, _, err = run_cli("train", made["spec"], "-o", run, "--force", "--resume", capsys=capsys)
    assert (code, err) == (
        1,
        "--resume continues the run in the folder, --force replaces it; pick one\n",
    )
    stale = run / "checkpoints" / "epoch-0007.safetensors"
    shutil.copyfile(run / "checkpoints" / "epoch-0001.safetensors", stale)
    (run / "notes.txt").write_text("mine")
    code, _, err = run_cli(
        "train", made["spec"], "-o", run, "--force", "--no-progress", capsys=capsys
    )
    assert (code, err) == (0, "")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "best.safetensors",
        "epoch-0001.safetensors",
    ]
    assert (run / "notes.txt").read_text() == "mine"
    assert json.loads((run / "manifest.json").read_text())["made_by"] == "train"
    assert run_cli("evaluate", run, capsys=capsys)[0] == 0
    assert run_cli("evaluate", run, "--checkpoint", "epoch-1", capsys=capsys)[0] == 0


def test_folders_made_before_made_by_are_recognised(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    for name, maker in (("build", "build"), ("run", "train")):
        folder = _copy(made[name], tmp_path)
        manifest = json.loads((folder / "manifest.json").read_text())
        del manifest["made_by"]
        (folder / "manifest.json").write_text(json.dumps(manifest))
        other = "train" if maker == "build" else "build"
        code, _, err = run_cli(other, made["spec"], "-o", folder, "--force", capsys=capsys)
        assert code == 1
        assert err.startswith(f"{folder} holds the output of `snnspec {maker}`;")


# --- file outputs -----------------------------------------------------------------------

FILE_OUTPUTS: dict[str, Callable[[dict[str, Path], Path], tuple[object, ...]]] = {
    "resolve -o": lambda m, out: ("resolve", m["spec"], "-o", out.with_suffix(".yaml")),
    "graph -o": lambda m, out: ("graph", m["spec"], "-o", out.with_suffix(".mmd")),
    "run -o": lambda m, out: ("run", m["spec"], "-o", out.with_suffix(".npz")),
    "run --plot": lambda m, out: ("run", m["spec"], "--plot", out.with_suffix(".png")),
    "nir export -o": lambda m, out: ("nir", "export", m["spec"], "-o", out.with_suffix(".nir")),
    "nir import -o": lambda m, out: ("nir", "import", m["nir"], "-o", out.with_suffix(".yaml")),
    "export -o": lambda m, out: (
        "export",
        "--python",
        m["build"] / "spec.yaml",
        "-o",
        out.with_suffix(".py"),
    ),
}


@pytest.mark.parametrize("case", FILE_OUTPUTS)
def test_an_existing_file_is_replaced_only_with_force(
    case: str, made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    args = FILE_OUTPUTS[case](made, tmp_path / "out")
    target = Path(str(args[-1]))
    target.write_bytes(b"mine")
    code, _, err = run_cli(*args, capsys=capsys)  # type: ignore[arg-type]
    option = case.split()[-1]
    assert (code, err) == (
        1,
        f"{option} {target} exists; pass --force to replace it or choose another path\n",
    )
    assert target.read_bytes() == b"mine"
    code, _, err = run_cli(*args, "--force", capsys=capsys)  # type: ignore[arg-type]
    assert (code, err) == (0, "")
    assert target.read_bytes() != b"mine"


@pytest.mark.parametrize("case", ["nir import -o", "export -o"])
def test_a_params_file_written_beside_the_output_is_replaced_only_with_force(
    case: str, made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    args = FILE_OUTPUTS[case](made, tmp_path / "out")
    companion = tmp_path / "out.safetensors"
    companion.write_bytes(b"mine")
    code, _, err = run_cli(*args, capsys=capsys)  # type: ignore[arg-type]
    assert (code, err) == (
        1,
        f"params file {companion} exists; pass --force to replace it or choose another path\n",
    )
    assert companion.read_bytes() == b"mine"
    assert not Path(str(args[-1])).exists()


@pytest.mark.parametrize("folder", ["build", "run"])
@pytest.mark.parametrize("case", FILE_OUTPUTS)
def test_no_file_is_written_inside_a_build_or_run_folder(
    case: str, folder: str, made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    target = _copy(made[folder], tmp_path)
    before = _snapshot(target)
    name = "spec" if case == "nir import -o" else "model"  # nir import -o RUN/spec.yaml
    args = FILE_OUTPUTS[case](made, target / name)
    code, _, err = run_cli(*args, "--force", capsys=capsys)  # type: ignore[arg-type]
    maker = "build" if folder == "build" else "train"
    assert (code, err) == (
        1,
        f"{case.split()[-1]} {args[-1]}: {target} is a `snnspec {maker}` folder and only "
        f"`snnspec {maker}` writes into it (not even --force changes that); write elsewhere\n",
    )
    assert _snapshot(target) == before


def test_no_folder_output_is_made_inside_a_build_or_run_folder(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    run = _copy(made["run"], tmp_path)
    before = _snapshot(run)
    for command in ("build", "train"):
        target = run / "sub"
        code, _, err = run_cli(command, made["spec"], "-o", target, "--force", capsys=capsys)
        assert (code, err) == (
            1,
            f"-o {target}: {run} is a `snnspec train` folder and only `snnspec train` writes "
            "into it (not even --force changes that); write elsewhere\n",
        )
    assert _snapshot(run) == before
    assert not (run / "sub").exists()


def test_two_outputs_of_one_command_never_share_a_path(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    target = tmp_path / "o.png"
    code, _, err = run_cli("run", made["spec"], "-o", target, "--plot", target, capsys=capsys)
    assert (code, err) == (1, f"-o and --plot name the same file {target}; give two paths\n")
    assert list(tmp_path.iterdir()) == []


def test_an_unsupported_plot_type_is_refused_before_anything_runs_or_is_written(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    npz, image = tmp_path / "o.npz", tmp_path / "o.jpg"
    code, out, err = run_cli("run", made["spec"], "-o", npz, "--plot", image, capsys=capsys)
    assert (code, out) == (1, "")
    assert err == f"{image}: unsupported image type '.jpg'; use .png, .pdf or .svg\n"
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_a_folder_or_below_a_file_is_named_as_such(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    code, _, err = run_cli("run", made["spec"], "-o", tmp_path, "--force", capsys=capsys)
    assert (code, err) == (1, f"-o {tmp_path} is a folder; give the path of a file\n")
    spec = made["spec"]
    for command, name in (("graph", "g.mmd"), ("build", "b")):
        target = spec / name
        code, _, err = run_cli(command, spec, "-o", target, capsys=capsys)
        assert (code, err) == (1, f"-o {target}: {spec} is a file, not a folder\n")


def test_an_unwritable_place_is_one_clear_line(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(InputError) as caught:
        write_atomic(blocked / "sub" / "out.npz", lambda path: None)
    assert str(caught.value).startswith(f"cannot write {blocked}/sub/out.npz: ")


def test_file_formats_the_output_cannot_hold_are_refused(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    target = tmp_path / "resolved.json"
    code, _, err = run_cli("resolve", made["spec"], "-o", target, capsys=capsys)
    assert (code, err) == (1, f"-o {target}: resolve writes YAML; name the file *.yaml or *.yml\n")
    target = tmp_path / "imported.txt"
    code, _, err = run_cli("nir", "import", made["nir"], "-o", target, capsys=capsys)
    assert (code, err) == (
        1,
        f"{target}: unsupported file suffix '.txt': name the file *.yaml, *.yml, *.toml or "
        "*.json\n",
    )
    assert list(tmp_path.iterdir()) == []


# --- file modes -------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_output_gets_the_mode_the_umask_gives(
    umask: int, made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    out = tmp_path / "out"
    commands = [
        ("build", made["spec"], "-o", out / "build"),
        ("train", made["spec"], "-o", out / "run", "--no-progress"),
        ("run", made["spec"], "-o", out / "o.npz", "--plot", out / "o.png"),
        ("nir", "export", made["spec"], "-o", out / "t.nir"),
        ("nir", "import", made["nir"], "-o", out / "imported.yaml"),
        ("export", "--python", made["build"] / "spec.yaml", "-o", out / "model.py"),
        ("resolve", made["spec"], "-o", out / "resolved.yaml"),
        ("graph", made["spec"], "-o", out / "graph.mmd"),
    ]
    old = os.umask(umask)
    try:
        for args in commands:
            code, _, err = run_cli(*args, capsys=capsys)
            assert (code, err) == (0, "")
    finally:
        os.umask(old)
    made_paths = [out, *out.rglob("*")]
    suffixes = {p.suffix for p in made_paths if p.is_file()}
    assert {".safetensors", ".json", ".npz", ".png", ".nir", ".py", ".yaml"} <= suffixes
    assert (out / "run" / "checkpoints" / "epoch-0001.safetensors").is_file()
    modes = {str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777 for p in made_paths}
    expected = {
        str(p.relative_to(tmp_path)): (0o777 if p.is_dir() else 0o666) & ~umask for p in made_paths
    }
    assert modes == expected


# --- interrupted training ---------------------------------------------------------------


def _interrupted(run: Path, epoch: int) -> str:
    return (
        f"{run}: training was interrupted after epoch {epoch}; continue with `snnspec train "
        f"{run} --resume`, or score the last checkpoint with `snnspec evaluate {run} "
        f"--checkpoint epoch-{epoch:04d}`\n"
    )


def test_sigint_during_training_then_run_and_evaluate_say_what_to_do(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    run = tmp_path / "r"
    first = run / "checkpoints" / "epoch-0001.safetensors"
    arguments = ["train", str(made["spec"]), "-o", str(run)]
    arguments += ["--set", "train.epochs=100000", "--no-progress"]
    # Ctrl-C raises KeyboardInterrupt even where pytest runs as a background job (which
    # starts its children with SIGINT ignored)
    command = [
        sys.executable,
        "-c",
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from snnspec.cli import main; sys.argv = ['snnspec', *sys.argv[1:]]; main()",
        *arguments,
    ]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "MPLCONFIGDIR": str(tmp_path / "mpl")}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:  # generous limits: a loaded CI machine is slow to start JAX, never a timing check
        deadline = time.monotonic() + 900
        while not first.is_file() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first.is_file()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=600)
    finally:
        process.kill()
        process.wait()  # never leave the process running into the next test
    assert process.returncode == 130, stderr
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    epoch = max(int(p.stem.removeprefix("epoch-")) for p in run.glob("checkpoints/epoch-*"))
    assert run_cli("run", run, capsys=capsys)[::2] == (1, _interrupted(run, epoch))
    assert run_cli("evaluate", run, capsys=capsys)[::2] == (1, _interrupted(run, epoch))
    code, out, err = run_cli("evaluate", run, "--checkpoint", f"epoch-{epoch:04d}", capsys=capsys)
    assert (code, err) == (0, "")
    assert "test accuracy" in out


def test_interrupt_before_the_first_epoch_says_there_is_no_checkpoint(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(snnspec.training.loop.Task, "batches", interrupt)  # Ctrl-C in epoch 1
    run = tmp_path / "r"
    assert run_cli("train", made["spec"], "-o", run, "--no-progress", capsys=capsys)[0] == 130
    message = (
        f"{run}: training was interrupted before its first epoch finished, so there is no "
        f"checkpoint to score; start it again with `snnspec train {run} --resume`\n"
    )
    assert run_cli("run", run, capsys=capsys)[::2] == (1, message)
    assert run_cli("evaluate", run, capsys=capsys)[::2] == (1, message)


def test_a_run_killed_without_a_trace_says_so(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    run = _copy(made["run"], tmp_path)  # as a SIGKILL leaves it: status still "running"
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    message = (
        f"{run}: training is still running or was stopped without a trace after epoch 1; "
        f"continue with `snnspec train {run} --resume`, or score the last checkpoint with "
        f"`snnspec evaluate {run} --checkpoint epoch-0001`\n"
    )
    assert run_cli("run", run, capsys=capsys)[::2] == (1, message)
    assert run_cli("evaluate", run, capsys=capsys)[::2] == (1, message)


# --- messages about paths ---------------------------------------------------------------


def test_each_kind_of_wrong_path_has_its_own_message(
    made: dict[str, Path], tmp_path: Path, capsys: Capsys
) -> None:
    nope = tmp_path / "runs" / "nope"
    folder = tmp_path / "configs"
    folder.mkdir()
    cases = [
        (
            ("validate", folder),
            f"{folder}: is a folder, not a spec file: give the spec files in it (e.g. "
            f"{folder}/*.yaml)",
        ),
        (("run", nope), f"{nope}: no such spec file or build folder; check the path"),
        (
            ("train", nope, "--resume"),
            f"{nope}: no such run folder to resume; `snnspec train SPEC -o DIR` creates one",
        ),
        (
            ("evaluate", nope),
            f"{nope}: no such run folder; create one with `snnspec train SPEC -o DIR`",
        ),
        (
            ("train", folder),
            f"{folder} is not a training run folder (no resolved.yaml and manifest.json); "
            "create one with `snnspec train SPEC -o DIR`",
        ),
        (
            ("train", made["run"], "--resume", "--set", "seed=3"),
            "--set seed=3: resuming may change only train.epochs (upwards), and this changes "
            "seed; train the spec with --set into a new folder",
        ),
        (
            ("evaluate", made["run"], "--checkpoint", "../../tiny"),
            "--checkpoint must be final, best or epoch-N, got '../../tiny'",
        ),
    ]
    for args, message in cases:
        assert run_cli(*args, capsys=capsys)[::2] == (1, message + "\n"), args


@pytest.mark.parametrize("folder", ["build", "run"])
def test_run_applies_set_to_a_build_or_run_folder(
    folder: str, made: dict[str, Path], capsys: Capsys
) -> None:
    code, out, err = run_cli("run", made[folder], "--set", "time.steps=3", capsys=capsys)
    assert (code, err) == (0, "")
    assert out.startswith("tiny: batch 1, 3 steps (burn-in 0)")


# --- atomicity --------------------------------------------------------------------------


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "params.safetensors"
    target.write_bytes(b"old")

    def fail_halfway(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, fail_halfway)
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]
    write_atomic(target, lambda path: path.write_bytes(b"new"))
    assert target.read_bytes() == b"new"
    assert list(tmp_path.iterdir()) == [target]
