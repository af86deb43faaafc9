"""The recorded environment: checked on reuse, `snnspec env`, the changelog, `reproduce`."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jax
import pytest
from helpers import run_cli
from safetensors.numpy import load_file, save_file

import snnspec
from snnspec._io import sha256_file
from snnspec.bundle.changelog import ENTRIES, changes_since, markdown
from snnspec.bundle.environment import current, differences

ROOT = Path(__file__).resolve().parent.parent

TINY = """\
snnspec: 1
name: tiny
seed: 1
time: {steps: 8}
inputs: [{name: spikes, shape: [6]}]
layers:
  - {name: fc1, type: linear, out_features: 8, inputs: [spikes, lif1]}
  - {name: lif1, type: lif, decay_constants: [0.9, 0.8], threshold: 0.2}
  - {name: fc2, type: linear, out_features: 3}
  - {name: out, type: simple_li, decay_constants: [0.9]}
outputs: [out]
train:
  data: {type: synthetic, num_samples: 36, num_classes: 3, segments: 2, rate_high: 0.5}
  loss: {type: cross_entropy, readout: max_membrane, scale: 5.0}
  optimizer: {type: adam, learning_rate: 0.01}
  epochs: 1
  batch_size: 12
  metrics: [accuracy, spike_rate]
"""


def edit_manifest(folder: Path, change: Any) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest, indent=2))


def other_jax(manifest: dict[str, Any]) -> None:
    manifest["environment"]["distributions"]["jax"] = "0.4.30"
    manifest["versions"]["jax"] = "0.4.30"


@pytest.fixture
def build_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    folder = tmp_path / "build"
    code, _, err = run_cli("build", ROOT / "configs" / "shd_mlp.yaml", "-o", folder, capsys=capsys)
    assert (code, err) == (0, "")
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 1-epoch training run (shared; tests copy it before editing)."""
    from snnspec.spec.load import load
    from snnspec.training.loop import train

    spec_path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    spec_path.write_text(TINY)
    folder = tmp_path_factory.mktemp("runs") / "tiny"
    train(load(spec_path), folder, progress=False, echo=lambda _: None)
    return folder


def copy_run(run_dir: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(run_dir, target)
    return target


# --- the record ------------------------------------------------------------------------------


def test_build_and_run_folders_record_the_full_environment(build_dir: Path, run_dir: Path) -> None:
    for folder in (build_dir, run_dir):
        env = json.loads((folder / "manifest.json").read_text())["environment"]
        assert env["distributions"]["jax"] == jax.__version__
        assert env["distributions"]["snnspec"] == snnspec.__version__
        assert {"numpy", "equinox", "optax", "jaxlib", "pydantic"} <= set(env["distributions"])
        assert env["backend"] == jax.default_backend()
        assert env["device_kinds"] == sorted({d.device_kind for d in jax.devices()})
        assert env["jax_settings"]["jax_enable_x64"] is jax.config.read("jax_enable_x64")
        assert {"python", "python_implementation", "platform", "machine", "variables"} <= set(env)
        assert {"model", "isa", "logical_cpus", "usable_cpus"} <= set(env["cpu"])


def test_library_modules_do_not_import_the_cli() -> None:
    code = (
        "import sys\n"
        "import snnspec.bundle.environment, snnspec.training.loop, snnspec.training.reproduce\n"
        "print(sorted(m for m in sys.modules if m.startswith('snnspec.') and 'cli' in m))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


def test_differences_name_what_can_change_numbers() -> None:
    now = current()
    old = json.loads(json.dumps(now))
    old["distributions"]["optax"] = "0.0.1"
    old["distributions"]["rich"] = "1.0"  # cannot change numbers: not listed
    old["jax_settings"]["jax_enable_x64"] = not now["jax_settings"]["jax_enable_x64"]
    old["variables"]["XLA_FLAGS"] = "--xla_cpu_max_isa=AVX2"
    old["cpu"]["isa"] = [*(now["cpu"]["isa"] or []), "avx10_2"]
    old["cpu"]["usable_cpus"] = 64
    x64 = now["jax_settings"]["jax_enable_x64"]
    expected = [
        f"optax 0.0.1 -> {now['distributions']['optax']}",
        f"jax_enable_x64 {not x64} -> {x64}",
        f"XLA_FLAGS --xla_cpu_max_isa=AVX2 -> {now['variables'].get('XLA_FLAGS', 'unset')}",
        "CPU instruction sets: here without avx10_2",
        f"usable CPUs 64 -> {now['cpu']['usable_cpus']}",
    ]
    if now["backend"] != "cpu":
        expected = expected[:3]
    assert differences(old, now) == expected
    assert differences(old, now, float64=True) == [expected[0], *expected[2:]]
    assert differences(now, now) == []


# --- run / evaluate / train --resume compare it ----------------------------------------------


def test_run_dir_warns_when_the_manifest_names_another_jax(
    build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli("run", build_dir, "--steps", "3", capsys=capsys)
    assert (code, err) == (0, "")
    edit_manifest(build_dir, other_jax)
    code, out, err = run_cli("run", build_dir, "--steps", "3", capsys=capsys)
    assert code == 0
    assert "steps/s" in out
    assert err.splitlines() == [
        f"warning: {build_dir} was made in another environment; results may differ "
        f"(`snnspec env {build_dir}` shows every difference):",
        f"  jax 0.4.30 -> {jax.__version__}",
    ]


def test_strict_env_refuses_with_one_line(
    build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_manifest(build_dir, other_jax)
    code, out, err = run_cli("run", build_dir, "--steps", "3", "--strict-env", capsys=capsys)
    assert (code, out) == (1, "")
    assert err == (
        f"{build_dir / 'manifest.json'}: made in another environment "
        f"(jax 0.4.30 -> {jax.__version__}); --strict-env refuses it\n"
    )


def test_strict_env_on_a_spec_file_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    config = ROOT / "configs" / "shd_mlp.yaml"
    code, _, err = run_cli("run", config, "--strict-env", capsys=capsys)
    assert code == 1
    assert err == "--strict-env applies to a build or run folder, not to a spec file\n"


def test_a_manifest_without_the_environment_still_loads(
    build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def legacy(manifest: dict[str, Any]) -> None:
        del manifest["environment"]
        manifest["versions"]["snnspec"] = "0.1.0"

    edit_manifest(build_dir, legacy)
    code, _, err = run_cli("run", build_dir, "--steps", "3", capsys=capsys)
    assert code == 0
    lines = err.splitlines()
    assert lines[0] == (
        f"warning: {build_dir / 'manifest.json'}: the full environment is not recorded "
        "(written before snnspec 0.2.0); only the versions it lists are compared"
    )
    assert f"  snnspec 0.1.0 -> {snnspec.__version__}" in lines
    changes = [line for line in lines if "was written by snnspec 0.1.0; " in line]
    assert len(changes) == len(changes_since("0.1.0", snnspec.__version__)) > 0
    assert changes[0] == (
        f"warning: {build_dir} was written by snnspec 0.1.0; 0.2.0 changed what it computes: "
        f"{ENTRIES[0].summary} (CHANGELOG.md [0.2.0/schedule-auto])"
    )
    code, _, err = run_cli("run", build_dir, "--steps", "3", "--strict-env", capsys=capsys)
    assert code == 1
    assert err == (
        f"{build_dir / 'manifest.json'}: the full environment is not recorded (written before "
        "snnspec 0.2.0), so it cannot be checked; rerun without --strict-env to use it anyway\n"
    )


def test_evaluate_and_resume_check_the_environment(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copy_run(run_dir, tmp_path / "run")
    edit_manifest(folder, other_jax)
    code, _, err = run_cli("evaluate", folder, capsys=capsys)
    assert code == 0
    assert f"  jax 0.4.30 -> {jax.__version__}" in err.splitlines()
    code, _, err = run_cli("evaluate", folder, "--strict-env", capsys=capsys)
    assert (code, err.count("\n")) == (1, 1)
    assert "--strict-env refuses it" in err
    code, _, err = run_cli("train", folder, "--resume", "--strict-env", capsys=capsys)
    assert (code, err.count("\n")) == (1, 1)
    assert "--strict-env refuses it" in err
    # resumed anyway: the run now mixes two environments, and says so from then on
    code, _, err = run_cli("train", folder, "--resume", "--no-progress", capsys=capsys)
    assert code == 0
    assert f"  jax 0.4.30 -> {jax.__version__}" in err.splitlines()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [e["distributions"]["jax"] for e in manifest["earlier_environments"]] == ["0.4.30"]
    assert manifest["environment"]["distributions"]["jax"] == jax.__version__
    code, _, err = run_cli("evaluate", folder, capsys=capsys)
    assert (code, err) == (
        0,
        f"warning: {folder} was trained in 2 environments (resumed in another one), so no "
        "single environment can reproduce it bitwise\n",
    )


# --- snnspec env -----------------------------------------------------------------------------


def test_env_prints_this_environment(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli("env", capsys=capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"snnspec {snnspec.__version__}, Python ")
    assert f"jax {jax.__version__}" in out
    assert f"backend {jax.default_backend()}" in out
    code, out, _ = run_cli("env", "--json", capsys=capsys)
    assert code == 0
    assert json.loads(out)["distributions"]["jax"] == jax.__version__


def test_env_dir_shows_the_differences(build_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli("env", build_dir, capsys=capsys)
    assert (code, out) == (0, f"{build_dir}: recorded in this same environment\n")

    def changed(manifest: dict[str, Any]) -> None:
        other_jax(manifest)
        manifest["environment"]["python"] = "3.99.0"

    edit_manifest(build_dir, changed)
    code, out, _ = run_cli("env", build_dir, capsys=capsys)
    assert code == 0
    assert out.splitlines() == [
        f"{build_dir} (there) against this environment (here):",
        "can change results:",
        f"  jax 0.4.30 -> {jax.__version__}",
        "other differences:",
        f"  python 3.99.0 -> {current()['python']}",
    ]


# --- the changelog and the version -----------------------------------------------------------


def test_changelog_file_is_generated_from_the_entries() -> None:
    assert (ROOT / "CHANGELOG.md").read_text(encoding="utf-8") == markdown()


def test_version_is_one_number_and_covers_the_changelog() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == snnspec.__version__
    assert all(change.version <= snnspec.__version__ for change in ENTRIES)
    assert changes_since(snnspec.__version__, snnspec.__version__) == []
    assert changes_since("0.1.0", "0.2.0") == [c for c in ENTRIES if c.version == "0.2.0"]
    assert changes_since("not a version", "0.2.0") == changes_since("0.0.0", "0.2.0")


# --- snnspec reproduce -----------------------------------------------------------------------


def test_reproduce_a_fresh_run_matches_bitwise(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copy_run(run_dir, tmp_path / "run")
    code, out, err = run_cli("reproduce", folder, "--no-progress", capsys=capsys)
    assert (code, err) == (0, "")
    new = tmp_path / "run-reproduce-1"
    lines = out.splitlines()
    assert lines[0] == f"reproducing {folder} -> {new}"
    assert (
        f"parameters: bitwise identical (sha256 {sha256_file(new / 'params.safetensors')[:12]}...)"
        in lines
    )
    assert "metrics: bitwise identical (1 epoch, 5 fields; timings not compared)" in lines
    results = json.loads((new / "results.json").read_text())
    assert (
        f"results: bitwise identical (selected epoch 1, test accuracy {results['test_accuracy']})"
        in lines
    )
    assert lines[-1] == f"reproduced bitwise: {new} matches {folder}"
    manifest = json.loads((new / "manifest.json").read_text())
    assert manifest["reproduces"] == {"folder": str(folder), "bitwise": True}
    # never an existing folder: the next one is -reproduce-2, and -o must be new or empty
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keep")
    code, _, err = run_cli("reproduce", folder, "-o", tmp_path / "taken", capsys=capsys)
    assert (code, err) == (
        1,
        f"{tmp_path / 'taken'} exists and is not an empty folder; choose another -o\n",
    )
    assert (tmp_path / "taken" / "x").read_text() == "keep"


def test_reproduce_refuses_a_hand_edited_resolved_spec(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copy_run(run_dir, tmp_path / "run")
    resolved = folder / "resolved.yaml"
    resolved.write_text(resolved.read_text().replace("seed: 1", "seed: 2", 1))
    code, out, err = run_cli("reproduce", folder, capsys=capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"{resolved}: sha256 ")
    assert err.endswith(
        "the spec was edited after the run, so rerunning it would not reproduce the recorded run\n"
    )
    assert not (tmp_path / "run-reproduce-1").exists()


def test_reproduce_reports_the_largest_differences(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run whose recorded numbers differ from the rerun's: each difference is reported."""
    folder = copy_run(run_dir, tmp_path / "run")
    params = load_file(str(folder / "params.safetensors"))
    params["fc2.bias"] = params["fc2.bias"] + 0.5
    save_file(params, str(folder / "params.safetensors"))
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    records[0]["train_accuracy"] += 0.25
    for timing in ("train_time_seconds", "step_time", "samples_per_second"):
        records[0][timing] += 100.0  # a timing: never compared
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    digest = sha256_file(folder / "params.safetensors")
    edit_manifest(folder, lambda m: m.update(params_sha256=digest))
    code, out, err = run_cli("reproduce", folder, "--no-progress", capsys=capsys)
    assert code == 1
    lines = out.splitlines()
    assert "  fc2.bias: 0.5" in lines
    assert "  fc1.weight: 0" in lines
    assert "metrics differ; largest absolute difference per metric:" in lines
    assert "  train_accuracy: 0.25 (epoch 1)" in lines
    assert not any(
        "time" in line or "per_second" in line
        for line in lines[lines.index("metrics differ; largest absolute difference per metric:") :]
    )
    new = tmp_path / "run-reproduce-1"
    assert err == f"{new} does not reproduce {folder} bitwise (see above)\n"


def test_reproduce_refuses_a_run_with_extensions_it_cannot_replay(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copy_run(run_dir, tmp_path / "run")
    edit_manifest(folder, lambda m: m.update(extensions=[{"overrides": ["train.epochs=2"]}]))
    code, out, err = run_cli("reproduce", folder, capsys=capsys)
    assert (code, out) == (1, "")
    assert err == (
        f"{folder / 'manifest.json'}: `extensions` is not a list of the records snnspec writes "
        "(from_epochs, to_epochs, epochs_completed), so the run cannot be replayed\n"
    )
    assert not (tmp_path / "run-reproduce-1").exists()


def test_env_dir_on_a_manifest_from_before_the_full_record(
    build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def legacy(manifest: dict[str, Any]) -> None:
        del manifest["environment"]
        manifest["versions"]["numpy"] = "1.26.0"

    edit_manifest(build_dir, legacy)
    code, out, _ = run_cli("env", build_dir, capsys=capsys)
    assert code == 0
    assert out.splitlines() == [
        f"{build_dir / 'manifest.json'}: the full environment is not recorded (written before "
        "snnspec 0.2.0); only the versions it lists are compared",
        f"{build_dir} (there) against this environment (here):",
        "can change results:",
        f"  numpy 1.26.0 -> {current()['distributions']['numpy']}",
    ]


def test_a_sent_run_folder_finds_its_npz_data_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the receiver's machine the sender's data folder does not exist: the data file is
    looked up relative to the run folder, and its sha256 is still checked."""
    import numpy as np

    sender = tmp_path / "sender"
    sender.mkdir()
    rng = np.random.default_rng(0)
    spikes = (rng.random((24, 6, 3)) < 0.3).astype(np.float32)
    np.savez(sender / "d.npz", inputs=spikes, labels=np.arange(24) % 2)
    (sender / "spec.yaml").write_text(
        "snnspec: 1\nname: npz-run\ntime: {steps: 6}\ninputs: [{name: x, shape: [3]}]\n"
        "layers:\n  - {type: linear, out_features: 2}\n"
        "  - {type: simple_li, decay_constants: [0.9]}\n"
        "train: {data: {type: npz, path: d.npz}, epochs: 1, batch_size: 6}\n"
    )
    run = tmp_path / "run"
    code, _, err = run_cli("train", sender / "spec.yaml", "-o", run, "--no-progress", capsys=capsys)
    assert (code, err) == (0, "")
    (sender / "d.npz").rename(run / "d.npz")
    sender.rename(tmp_path / "gone")
    code, out, err = run_cli("evaluate", run, capsys=capsys)
    assert (code, err) == (0, "")
    assert "reproduces the reported test accuracy" in out
    np.savez(run / "d.npz", inputs=1.0 - spikes, labels=np.arange(24) % 2)
    code, _, err = run_cli("reproduce", run, capsys=capsys)
    assert code == 1
    assert err.startswith(f"{run / 'manifest.json'}: the data differ from the run's (sha256 ")


def test_warnings_from_a_hostile_manifest_are_escaped(
    build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_manifest(build_dir, lambda m: m["environment"]["distributions"].update(jax="1\x1b[2J"))
    code, _, err = run_cli("run", build_dir, "--steps", "3", capsys=capsys)
    assert code == 0
    assert f"  jax 1\\x1b[2J -> {jax.__version__}" in err.splitlines()
    code, out, _ = run_cli("env", build_dir, capsys=capsys)
    assert code == 0
    assert "\x1b" not in out
    assert f"  jax 1\\x1b[2J -> {jax.__version__}" in out.splitlines()
