"""Fast command-line paths (the structure only; the times are measured by
benchmarks/cli_latency.py): a refusal that the spec and the options decide comes before any
layer is built, and before JAX is imported where JAX is not needed to decide it; ``run``
reports its time in parts; the process ends as soon as the command has."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent

TINY = """\
snnspec: 1
name: tiny
time: {steps: 20}
inputs: [{name: x, shape: [8]}]
layers:
  - {name: fc1, type: linear, out_features: 16}
  - {name: lif1, type: lif, decay_constants: [0.9, 0.8]}
"""

RESHAPE = """\
snnspec: 1
name: reshaped
time: {steps: 5}
inputs: [{name: x, shape: [4, 6]}]
layers:
  - {name: r, type: reshape, shape: [6, 4]}
  - {name: lif1, type: simple_lif, decay_constants: [0.9]}
"""
"""A reshape that is no flattening of consecutive axes: NIR has no node for it."""

REFUSALS = {
    "run --burnin": (
        ["run", "{tiny}", "--burnin", "30"],
        1,
        "--burnin 30 must be smaller than the 20 time steps",
    ),
    "run --record": (
        ["run", "{tiny}", "--record", "lif2", "-o", "{tmp}/out.npz"],
        2,
        "unknown layer 'lif2' (did you mean 'lif1'?)",
    ),
    "run --input": (
        ["run", "{tiny}", "--input", "{tmp}/bad.npz"],
        1,
        "bad.npz: x: array shape [1, 5, 7] does not fit (B, T, 8)",
    ),
    "nir export": (
        ["nir", "export", "{reshape}", "-o", "{tmp}/out.nir"],
        1,
        "layer 'r' reshapes [4, 6] to [6, 4], which is not a flattening of consecutive axes",
    ),
    "train": (["train", "{tiny}", "-o", "{tmp}/run"], 1, "has no `train:` section"),
}
"""Refusals that the spec, the options and the input file decide: argv, exit code, message."""

NEEDS_JAX = {"run --devices": (["run", "{tiny}", "--devices", "x"], 1, "expected a number")}
"""Refusals decided by JAX's devices: before any layer, though after JAX starts."""


def argv(template: list[str], tmp: Path) -> list[str]:
    (tmp / "tiny.yaml").write_text(TINY)
    (tmp / "reshape.yaml").write_text(RESHAPE)
    np.savez(tmp / "bad.npz", x=np.zeros((1, 5, 7), np.float32))
    names = {"tiny": tmp / "tiny.yaml", "reshape": tmp / "reshape.yaml", "tmp": tmp}
    return [part.format(**names) for part in template]


@pytest.mark.parametrize("case", [*REFUSALS, *NEEDS_JAX])
def test_refusals_come_before_any_layer_is_built(
    case: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import snnspec.model.compile

    def build(*_: object, **__: object) -> None:
        raise RuntimeError("a layer was built")

    monkeypatch.setattr(snnspec.model.compile, "compile", build)
    template, expected, message = {**REFUSALS, **NEEDS_JAX}[case]
    code, _, err = run_cli(*argv(template, tmp_path), capsys=capsys)
    assert code == expected, err
    assert message in " ".join(err.replace("│", " ").split())
    assert "a layer was built" not in err


@pytest.mark.parametrize("case", list(REFUSALS))
def test_spec_only_refusals_do_not_import_jax(case: str, tmp_path: Path) -> None:
    template, expected, message = REFUSALS[case]
    code = (
        "import sys\n"
        "from snnspec.cli import main\n"
        f"sys.argv = ['snnspec', *{argv(template, tmp_path)!r}]\n"
        "try:\n    main()\n"
        f"except SystemExit as stop:\n    assert stop.code == {expected}, stop.code\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'equinox')]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert message in " ".join(result.stderr.replace("│", " ").split())


def test_run_reports_start_up_build_compile_and_run_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY)
    code, out, err = run_cli("run", tmp_path / "tiny.yaml", capsys=capsys)
    assert (code, err) == (0, "")
    times = re.findall(r"^(start-up|build time|compile time|run time) +([\d.]+) s", out, re.M)
    assert [name for name, _ in times] == ["start-up", "build time", "compile time", "run time"]
    assert all(float(seconds) >= 0 for _, seconds in times)


@pytest.mark.parametrize(
    ("args", "expected"), [((), 0), (("--burnin", "30"), 1), (("--steps", "0"), 2)]
)
def test_the_console_entry_keeps_outputs_and_exit_codes(
    tmp_path: Path, args: tuple[str, ...], expected: int
) -> None:
    """``python -m snnspec`` ends without the interpreter's teardown: its outputs are
    complete, its streams flushed and its exit code the command's."""
    (tmp_path / "tiny.yaml").write_text(TINY)
    output = tmp_path / "out.npz"
    command = ["run", str(tmp_path / "tiny.yaml"), "-o", str(output), *args]
    result = subprocess.run(
        [sys.executable, "-m", "snnspec", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == expected, result.stderr
    if expected == 0:
        assert result.stdout.endswith(f"wrote {output}\n")
        with np.load(output) as arrays:
            assert arrays["lif1"].shape == (1, 20, 16)
    else:
        assert result.stderr
        assert not output.exists()


def test_main_called_by_a_program_returns_to_it() -> None:
    """Only the process's entry point skips the teardown: a program calling ``main`` gets
    its SystemExit and goes on."""
    code = (
        "import sys\n"
        "from snnspec.cli import main\n"
        "sys.argv = ['snnspec', 'schema']\n"
        "try:\n    main()\n"
        "except SystemExit as stop:\n    print('returned', stop.code)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("returned 0\n")
