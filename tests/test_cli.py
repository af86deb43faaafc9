"""The command line: validate, build, run, schema; exit codes; atomic outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.*"))


def test_configs_exist() -> None:
    assert len(CONFIGS) >= 5
    assert {path.suffix for path in CONFIGS} >= {".yaml", ".toml"}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_validate_every_example(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli("validate", config, capsys=capsys)
    assert (code, err) == (0, "")
    assert "(valid)" in out
    assert "parameters:" in out


@pytest.mark.parametrize(
    ("command", "heavy"),
    [
        # nor NumPy, for a spec without a params file: startup time is the command's cost
        ("validate", ("jax", "jaxlib", "equinox", "numpy")),
        ("data", ("jax", "jaxlib", "equinox", "optax")),  # the data are NumPy; no model
    ],
)
def test_validate_does_not_import_jax(command: str, heavy: tuple[str, ...]) -> None:
    config = ROOT / "configs" / "synthetic_recurrent.yaml"
    code = (
        "import sys\n"
        "from snnspec.cli import main\n"
        f"sys.argv = ['snnspec', {command!r}, {str(config)!r}]\n"
        "try:\n    main()\n"
        "except SystemExit as stop:\n    assert stop.code in (0, None), stop.code\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {heavy!r}]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "(valid)" in result.stdout if command == "validate" else "data sha256" in result.stdout


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_run_every_example(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.npz"
    code, out, err = run_cli(
        "run",
        config,
        "--steps",
        "12",
        "--batch",
        "2",
        "--burnin",
        "2",
        "-o",
        output,
        capsys=capsys,
    )
    assert (code, err) == (0, "")
    for line in ("compile time", "run time", "steps/s", "spike rates"):
        assert line in out
    with np.load(output) as result:
        assert all(array.shape[:2] == (2, 10) for array in result.values())
        assert all(np.isfinite(array).all() for array in result.values())


def test_run_with_input_file_matches_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ROOT / "configs" / "snnax_five_layer.yaml"
    rng = np.random.default_rng(0)
    inputs = tmp_path / "in.npz"
    np.savez(
        inputs,
        events=(rng.random((3, 7, 32)) < 0.2).astype(np.float32),
        context=(rng.random((3, 7, 16)) < 0.2).astype(np.float32),
    )
    output = tmp_path / "out.npz"
    code, _, err = run_cli("run", config, "--input", inputs, "--output", output, capsys=capsys)
    assert (code, err) == (0, "")
    with np.load(output) as result:
        assert list(result.files) == ["lif_out"]
        assert result["lif_out"].shape == (3, 7, 20)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"events": np.zeros((1, 5, 32))}, "in.npz: missing array 'context' of shape (B, T, 16)"),
        (
            {"events": np.zeros((1, 5, 31)), "context": np.zeros((1, 5, 16))},
            "in.npz: events: array shape [1, 5, 31] does not fit (B, T, 32)",
        ),
        (
            {"events": np.zeros((1, 5, 32)), "context": np.zeros((1, 5, 16)), "x": np.zeros(1)},
            "in.npz: unknown input 'x'; the spec's inputs are events, context",
        ),
    ],
)
def test_bad_input_file_is_one_line(
    arrays: dict[str, np.ndarray],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    np.savez("in.npz", **arrays)  # type: ignore[arg-type]
    config = ROOT / "configs" / "snnax_five_layer.yaml"
    code, _, err = run_cli("run", config, "--input", "in.npz", "-o", "out.npz", capsys=capsys)
    assert (code, err) == (1, message + "\n")
    assert not Path("out.npz").exists()


def test_build_then_run_dir_reproduces_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ROOT / "configs" / "named_recurrent.yaml"
    build_dir = tmp_path / "build"
    code, out, err = run_cli("build", config, "-o", build_dir, capsys=capsys)
    assert (code, err) == (0, "")
    assert "input_connectivity" in out
    manifest = json.loads((build_dir / "manifest.json").read_text())
    assert {"spec_sha256", "params_sha256", "versions", "backend"} <= set(manifest)
    assert {"snnspec", "jax", "equinox"} <= set(manifest["versions"])
    args = ("--steps", "15", "--batch", "2", "--seed", "4")
    assert run_cli("run", config, *args, "-o", tmp_path / "a.npz", capsys=capsys)[0] == 0
    assert run_cli("run", build_dir, *args, "-o", tmp_path / "b.npz", capsys=capsys)[0] == 0
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert a.files == b.files == ["out", "lif1"]
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])


def test_run_dir_detects_tampering(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_dir = tmp_path / "build"
    assert (
        run_cli("build", ROOT / "configs" / "shd_mlp.yaml", "-o", build_dir, capsys=capsys)[0] == 0
    )
    spec_file = build_dir / "spec.yaml"
    spec_file.write_text(spec_file.read_text().replace("seed: 0", "seed: 1"))
    assert "seed: 1" in spec_file.read_text()
    code, _, err = run_cli("run", build_dir, "--steps", "3", capsys=capsys)
    assert code == 1
    assert (
        err
        == f"{spec_file}: sha256 does not match manifest.json; the build was modified, rebuild it\n"
    )


def test_run_dir_refuses_a_huge_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A build folder's manifest is read with the spec loader's limits (no unbounded read)."""
    build_dir = tmp_path / "build"
    assert (
        run_cli("build", ROOT / "configs" / "shd_mlp.yaml", "-o", build_dir, capsys=capsys)[0] == 0
    )
    manifest = build_dir / "manifest.json"
    manifest.write_text('{"pad": "' + "x" * (2 << 20) + '"}')
    code, _, err = run_cli("run", build_dir, "--steps", "3", capsys=capsys)
    assert code == 1
    assert err.startswith(f"{manifest}: file is too large (")
    manifest.write_text("[1, 2]")
    code, _, err = run_cli("run", build_dir, "--steps", "3", capsys=capsys)
    assert (code, err.startswith(f"{manifest}: not a valid snnspec manifest")) == (1, True)


def test_schema_command_matches_committed_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli("schema", capsys=capsys)
    committed = (ROOT / "schemas" / "snnspec.schema.json").read_text()
    assert code == 0
    assert json.loads(out) == json.loads(committed), (
        "schemas/snnspec.schema.json is stale: regenerate with "
        "`snnspec schema > schemas/snnspec.schema.json`"
    )


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("run", capsys=capsys)[0] == 2
    assert run_cli("frobnicate", capsys=capsys)[0] == 2


def test_errors_have_no_traceback_unless_debug(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("snnspec: 1\nname: x\ninputs: [{name: a, shape: [3]}]\nlayers: [{type: lfi}]\n")
    command = [sys.executable, "-m", "snnspec", "validate", str(bad)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    debug = subprocess.run([*command[:3], "--debug", *command[3:]], capture_output=True, text=True)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr


# --- flags that cannot apply, and inputs that look time-major --------------------------------


@pytest.mark.parametrize("flag", ["--steps", "--batch"])
def test_run_with_an_input_file_refuses_steps_and_batch(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: --steps and --batch were ignored without a word when --input was given."""
    spec, _ = _time_major_case(tmp_path, 4)
    np.savez(tmp_path / "in.npz", x=np.zeros((3, 7, 4), np.float32))
    code, out, err = run_cli("run", spec, "-i", tmp_path / "in.npz", flag, "5", capsys=capsys)
    assert (code, out) == (2, "")
    words = " ".join(err.replace("│", " ").split())  # the usage box wraps long lines
    assert f"Invalid value for {flag}: the input file fixes the batch size and the number" in words


def _time_major_case(tmp_path: Path, features: int) -> tuple[Path, Path]:
    spec = tmp_path / "m.yaml"
    spec.write_text(
        "snnspec: 1\nname: m\ntime: {steps: 50}\ninputs: [{name: x, shape: [4]}]\n"
        "layers: [{type: linear, out_features: 2}, {type: lif, decay_constants: [0.9, 0.8]}]\n"
    )
    np.savez(tmp_path / "in.npz", x=np.zeros((50, 3, features), np.float32))
    return spec, tmp_path / "in.npz"


def test_run_warns_when_an_input_looks_time_major(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: a (T=50, B=3, ...) array ran as "batch 50, 3 steps" without a word."""
    monkeypatch.chdir(tmp_path)
    spec, _ = _time_major_case(tmp_path, 4)
    code, out, err = run_cli("run", spec, "-i", "in.npz", capsys=capsys)
    assert code == 0
    assert "batch 50, 3 steps" in out
    assert err == (
        "in.npz: x: warning: shape [50, 3, 4] runs as batch 50 of 3 steps (inputs are (B, T, 4))"
        "; axis 0 equals the spec's time.steps (50): if the array is time-major (T, B, ...), "
        "write it as (B, T, ...) with np.swapaxes(array, 0, 1)\n"
    )


def test_a_time_major_input_that_does_not_fit_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    spec, _ = _time_major_case(tmp_path, 5)
    code, _, err = run_cli("run", spec, "-i", "in.npz", capsys=capsys)
    assert code == 1
    assert err == (
        "in.npz: x: array shape [50, 3, 5] does not fit (B, T, 4); axis 0 equals the spec's "
        "time.steps (50): if the array is time-major (T, B, ...), write it as (B, T, ...) with "
        "np.swapaxes(array, 0, 1)\n"
    )


def test_run_with_an_input_file_refuses_a_seed_it_would_not_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --input the seed only draws random initial states; a model without any ignored it."""
    spec, _ = _time_major_case(tmp_path, 4)
    np.savez(tmp_path / "in.npz", x=np.ones((2, 7, 4), np.float32))
    code, out, err = run_cli("run", spec, "-i", tmp_path / "in.npz", "--seed", "3", capsys=capsys)
    assert (code, out) == (2, "")
    words = " ".join(err.replace("│", " ").split())
    assert "Invalid value for --seed: with --input the seed only draws" in words
    random_init = tmp_path / "r.yaml"
    random_init.write_text(
        spec.read_text().replace("0.8]}", "0.8], init: {type: uniform, low: 0.5, high: 2.0}}")
    )
    outputs = []
    for seed in ("3", "4"):
        output = tmp_path / f"o{seed}.npz"
        args = ("-i", tmp_path / "in.npz", "--seed", seed, "-o", output)
        assert run_cli("run", random_init, *args, capsys=capsys)[0] == 0
        with np.load(output) as result:
            outputs.append(result["lif_1"])
    assert not np.array_equal(*outputs)


def test_every_problem_is_printed_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "snnspec: 1\nname: bad\ninputs:\n  - {name: x, shape: [4]}\nlayers:\n"
        "  - {name: a, type: linear, out_features: 0}\n"
        "  - {name: b, type: lif, decay_constants: [0.9, 0.8], threshold: nope}\n"
        "  - {name: c, type: linear, out_features: 2, bias: true}\n",
        encoding="utf-8",
    )
    code, out, err = run_cli("validate", spec, capsys=capsys)
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert [line.split(": ")[:2] for line in lines] == [
        [f"{spec}:8:46", "layers[2].bias"],  # an unknown key first: it often explains the rest
        [f"{spec}:6:29", "layers[0].out_features"],
        [f"{spec}:7:55", "layers[1].threshold"],
    ]


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_every_problem_in_the_traceback(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from snnspec._errors import SpecError

    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "snnspec: 1\nname: bad\ninputs:\n  - {name: x, shape: [4]}\nlayers:\n"
        "  - {name: a, type: linear, out_features: 0}\n"
        "  - {name: b, type: linear, out_features: -1}\n",
        encoding="utf-8",
    )
    args = ["--debug", "validate", spec] if where == "before" else ["validate", spec, "--debug"]
    with pytest.raises(SpecError) as raised:
        run_cli(*args, capsys=capsys)
    assert [line.split(": ")[1] for line in str(raised.value).splitlines()] == [
        "layers[0].out_features",
        "layers[1].out_features",
    ]


def _subcommands() -> list[list[str]]:
    from snnspec import cli

    names = [
        [info.name or info.callback.__name__]
        for info in cli.app.registered_commands
        if info.callback
    ]
    for group in cli.app.registered_groups:
        assert group.typer_instance is not None
        names += [
            [str(group.name), info.name or ""] for info in group.typer_instance.registered_commands
        ]
    return names


@pytest.mark.parametrize("command", _subcommands(), ids=" ".join)
def test_debug_is_accepted_after_every_subcommand(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`snnspec CMD ... --debug` parses like `snnspec --debug CMD ...` (never a usage error)."""
    code, out, _ = run_cli(*command, "--help", capsys=capsys)
    assert code == 0
    assert "--debug" in out
    code, _, err = run_cli(*command, "--debug", "--no-such-flag", capsys=capsys)
    assert code == 2
    assert "--debug" not in err  # only the unknown flag is a usage error


def test_debug_after_run_raises_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from snnspec._errors import SpecError

    code, _, err = run_cli("run", tmp_path / "missing.yaml", capsys=capsys)
    assert code == 1
    assert len(err.splitlines()) == 1
    with pytest.raises(SpecError):
        run_cli("run", tmp_path / "missing.yaml", "--debug", capsys=capsys)


FEEDBACK_TRAP = """\
snnspec: 1
name: trap
inputs:
  - {name: x, shape: [8]}
layers:
  - {name: fc_in, type: linear, out_features: 16}
  - {name: hidden, type: lif, decay_constants: [0.9, 0.8], inputs: [fc_in, w_rec], combine: sum}
  - {name: w_rec, type: linear, out_features: 16, inputs: [hidden]}
  - {name: w_out, type: linear, out_features: 4%s}
"""


def test_implicit_read_of_a_feedback_projection_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The named form's "previous layer" default after a recurrent projection: warn, stay valid."""
    spec = tmp_path / "trap.yaml"
    spec.write_text(FEEDBACK_TRAP % "", encoding="utf-8")
    code, out, err = run_cli("validate", spec, capsys=capsys)
    assert code == 0
    assert "(valid)" in out
    assert err == (
        f"warning: {spec}:9:5: layers[3]: 'w_out' has no `inputs:`, so it reads the layer above "
        "it, 'w_rec', which otherwise only feeds back into 'hidden' (one step late); to read "
        "'hidden' write `inputs: [hidden]`, to keep reading 'w_rec' write `inputs: [w_rec]`\n"
    )
    for explicit in (", inputs: [w_rec]", ", inputs: [hidden]"):
        spec.write_text(FEEDBACK_TRAP % explicit, encoding="utf-8")
        code, _, err = run_cli("validate", spec, capsys=capsys)
        assert (code, err) == (0, "")


def test_feedback_projection_warning_in_python(tmp_path: Path) -> None:
    import snnspec

    spec = tmp_path / "trap.yaml"
    spec.write_text(FEEDBACK_TRAP % "", encoding="utf-8")
    with pytest.warns(snnspec.SpecWarning, match=r"trap\.yaml:9:5: layers\[3\]: 'w_out'"):
        snnspec.load(spec)


def test_a_hidden_layer_read_back_is_not_a_feedback_projection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """synthetic_recurrent: lif1 feeds back into fc1 and is read by fc2 by default; a neuron
    layer, not a projection, so no warning."""
    code, _, err = run_cli("validate", ROOT / "configs" / "synthetic_recurrent.yaml", capsys=capsys)
    assert (code, err) == (0, "")


def test_the_cli_turns_x64_on_for_a_float64_spec(tmp_path: Path) -> None:
    """In a fresh process (64-bit mode off, as JAX starts) ``run`` of a float64 spec computes
    and writes float64; the library alone would refuse it."""
    spec = tmp_path / "f64.json"
    layers = [{"type": "linear", "out_features": 3}, {"type": "lif", "decay_constants": [0.9, 0.8]}]
    spec.write_text(
        json.dumps(
            {
                "snnspec": 1,
                "name": "f64",
                "dtype": "float64",
                "inputs": [{"name": "x", "shape": [4]}],
                "layers": layers,
            }
        )
    )
    output = tmp_path / "out.npz"
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    command = [sys.executable, "-m", "snnspec", "run", str(spec), "--steps", "5", "-o", str(output)]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    with np.load(output) as arrays:
        assert [arrays[name].dtype for name in arrays.files] == [np.float64]


def test_library_hints_name_the_flags_on_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The library names a setting by its Python name; the command line by its flag."""
    from snnspec import SpecError
    from snnspec.graph.resources import parse_size

    with pytest.raises(SpecError) as caught:
        parse_size("lots")
    assert str(caught.value).startswith("`max_memory='lots'`: expected a size such as 2GiB")
    code, _, err = run_cli("validate", CONFIGS[0], "--max-memory", "lots", capsys=capsys)
    assert code == 1
    assert err.startswith("--max-memory 'lots': expected a size such as 2GiB")
