"""Custom losses: importable or registered functions, refusals, the manifest record, and the
notes of evaluate, reproduce and resume about the code a run used."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import run_cli, without_times

import snnspec
from snnspec._errors import SpecError
from snnspec._io import sha256_file
from snnspec.model.params import read_params
from snnspec.spec.load import load
from snnspec.training import custom
from snnspec.training.loop import evaluate_run, train

SPEC = """\
snnspec: 1
name: tiny
seed: 1
time: {steps: 10}
inputs: [{name: spikes, shape: [8]}]
layers:
  - {name: fc1, type: linear, out_features: 16}
  - {name: lif1, type: lif, decay_constants: [0.9, 0.8], threshold: 0.2}
  - {name: fc2, type: linear, out_features: 3}
  - {name: out, type: simple_li, decay_constants: [0.9]}
train:
  data: {type: synthetic, num_samples: 48, num_classes: 3, segments: 2, rate_high: 0.5}
  loss: LOSS
  optimizer: {learning_rate: 0.01}
  epochs: 1
  batch_size: 12
"""

MODULE = '''\
import jax.numpy as jnp
import optax


def per_step_cross_entropy(outputs, labels):
    """Cross-entropy of every time step's outputs, averaged over time."""
    steps = outputs.shape[1]
    targets = jnp.repeat(labels[:, None], steps, axis=1)
    losses = optax.softmax_cross_entropy_with_integer_labels(outputs, targets).mean(axis=1)
    return losses, outputs.mean(axis=1)


def max_membrane(outputs, labels):
    """The built-in cross_entropy on the maximum potential, written as a custom loss."""
    scores = outputs.max(1) * 5.0
    return optax.softmax_cross_entropy_with_integer_labels(scores, labels), scores


def scalar(outputs, labels):
    return outputs.mean()


not_a_function = 3
'''

MODULE_NAME = "snnspec_test_losses"


def spec_text(loss: str) -> str:
    return SPEC.replace("LOSS", loss)


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def losses_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder on sys.path holding the module of custom losses."""
    folder = tmp_path_factory.mktemp("code")
    (folder / f"{MODULE_NAME}.py").write_text(MODULE)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        yield folder


@pytest.fixture(scope="module")
def custom_run(losses_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-epoch run trained through the CLI with the per-step cross-entropy."""
    root = tmp_path_factory.mktemp("custom")
    spec = root / "tiny.yaml"
    loss = f'{{type: custom, function: "{MODULE_NAME}:per_step_cross_entropy", layer: out}}'
    spec.write_text(spec_text(loss))
    train(load(spec), root / "run", progress=False, echo=quiet)
    return root / "run"


def test_an_importable_custom_loss_is_recorded_with_its_file_sha256(
    custom_run: Path, losses_dir: Path
) -> None:
    manifest = json.loads((custom_run / "manifest.json").read_text())
    module = losses_dir / f"{MODULE_NAME}.py"
    assert manifest["custom_code"] == [
        {
            "name": f"{MODULE_NAME}:per_step_cross_entropy",
            "used_by": "train.loss.function",
            "registered": False,
            "module": MODULE_NAME,
            "function": "per_step_cross_entropy",
            "file": str(module.resolve()),
            "sha256": sha256_file(module),
        }
    ]
    results = json.loads((custom_run / "results.json").read_text())
    assert 0.0 <= results["test_accuracy"] <= 1.0
    assert np.isfinite(results["test_loss"])


def test_a_custom_loss_computing_the_builtin_trains_bitwise_like_it(
    losses_dir: Path, tmp_path: Path
) -> None:
    builtin = tmp_path / "builtin.yaml"
    builtin.write_text(spec_text("{type: cross_entropy, readout: max_membrane, scale: 5.0}"))
    own = tmp_path / "own.yaml"
    own.write_text(
        spec_text(f'{{type: custom, function: "{MODULE_NAME}:max_membrane", layer: out}}')
    )
    a = train(load(builtin), tmp_path / "a", progress=False, echo=quiet)
    b = train(load(own), tmp_path / "b", progress=False, echo=quiet)
    assert without_times(b.records) == without_times(a.records)
    first, second = (
        read_params(a.directory / "params.safetensors"),
        read_params(b.directory / "params.safetensors"),
    )
    assert all(np.array_equal(first[k], second[k]) for k in first)


def test_evaluate_and_reproduce_say_the_run_used_custom_code(
    custom_run: Path, losses_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = losses_dir / f"{MODULE_NAME}.py"
    note = (
        f"note: the run used custom code: {MODULE_NAME}:per_step_cross_entropy (module "
        f"{MODULE_NAME}, {module.resolve()}, sha256 {sha256_file(module)[:12]}...)"
    )
    code, out, err = run_cli("evaluate", custom_run, capsys=capsys)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == note
    assert "reproduces the reported test accuracy" in out
    code, out, err = run_cli(
        "reproduce", custom_run, "-o", tmp_path / "again", "--no-progress", capsys=capsys
    )
    assert (code, err) == (0, ""), err
    assert out.splitlines()[0] == note
    assert "reproduced bitwise" in out


def test_a_changed_module_file_is_reported_and_refused_on_resume(
    custom_run: Path, losses_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = losses_dir / f"{MODULE_NAME}.py"
    before = sha256_file(module)
    original = module.read_text()
    module.write_text(original + "\n# edited\n")
    try:
        after = sha256_file(module)
        code, out, err = run_cli("evaluate", custom_run, capsys=capsys)
        assert code == 0
        assert "note: the run used custom code" in out
        assert err == (
            f"warning: {module.resolve()} changed since the run (sha256 {before[:12]}... "
            f"recorded, {after[:12]}... now); results may differ\n"
        )
        code, out, err = run_cli(
            "train", custom_run, "--resume", "--set", "train.epochs=2", capsys=capsys
        )
        assert code == 1
        assert err == (
            f"{custom_run / 'manifest.json'}: the custom code {MODULE_NAME}:"
            f"per_step_cross_entropy ({module.resolve()}) changed since the run started "
            f"(sha256 {before[:12]}... then, {after[:12]}... now); a resumed run would mix two "
            "losses: restore the file, or train a new run\n"
        )
        assert json.loads((custom_run / "manifest.json").read_text())["status"] == "completed"
    finally:
        module.write_text(original)


def test_register_loss_is_the_in_process_shortcut(
    losses_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import snnspec_test_losses  # pyright: ignore[reportMissingImports]

    registry: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(custom, "_REGISTRY", registry)
        snnspec.register_loss("per_step", snnspec_test_losses.per_step_cross_entropy)
        spec = tmp_path / "tiny.yaml"
        spec.write_text(spec_text("{type: custom, function: per_step, layer: out}"))
        result = train(load(spec), tmp_path / "run", progress=False, echo=quiet)
        record = json.loads((result.directory / "manifest.json").read_text())["custom_code"]
        assert [(r["name"], r["registered"], r["module"]) for r in record] == [
            ("per_step", True, MODULE_NAME)
        ]
        scores = evaluate_run(result.directory)
        assert scores["test_accuracy"] == result.results["test_accuracy"]
        registry.clear()  # a process that has not registered it: the `snnspec` command
        for command in ("evaluate", "reproduce"):
            code, out, err = run_cli(command, result.directory, capsys=capsys)
            assert (code, out) == (1, "")
            assert err.startswith(f"{result.directory / 'resolved.yaml'}:")
            assert "train.loss.function: no loss is registered as 'per_step' in this process" in err
            assert err.count("\n") == 1
    assert not (tmp_path / "run-reproduce-1").exists()


@pytest.mark.parametrize(
    ("name", "function", "message"),
    [
        ("a:b", len, "register_loss: name 'a:b' must be a Python identifier"),
        (
            "ok",
            3,
            "register_loss: 'ok': expected a function (outputs, labels) -> (losses, "
            "scores), got an object of type int",
        ),
    ],
)
def test_register_loss_refuses(name: str, function: Any, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        snnspec.register_loss(name, function)
    assert caught.value.message.startswith(message)


ACCEPTED = (
    "name an importable function as package.module:function (the module installed or on "
    "PYTHONPATH), or a name registered with snnspec.register_loss"
)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("losses/mine.py", f"a file path is never accepted; {ACCEPTED}, got 'losses/mine.py'"),
        ("mine.py", f"a file path is never accepted; {ACCEPTED}, got 'mine.py'"),
        ("lambda o, y: o", f"code is never accepted; {ACCEPTED}, got 'lambda o, y: o'"),
        ("pkg.mod", f"a module needs its function after a colon; {ACCEPTED}, got 'pkg.mod'"),
    ],
)
def test_validate_refuses_what_is_not_a_function_reference(
    function: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(spec_text(f'{{type: custom, function: "{function}", layer: out}}'))
    code, _, err = run_cli("validate", spec, capsys=capsys)
    assert code == 1
    assert err == f"{spec}:13:24: train.loss.function: {message}\n"


def test_a_custom_loss_names_its_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(spec_text('{type: custom, function: "m:f", layer: outt}'))
    code, _, err = run_cli("validate", spec, capsys=capsys)
    assert (code, err) == (
        1,
        f"{spec}:13:41: train.loss.layer: unknown layer 'outt' (did you mean 'out'?)\n",
    )
    spec.write_text(spec_text('{type: custom, function: "m:f"}'))
    code, _, err = run_cli("validate", spec, capsys=capsys)
    assert (code, err) == (1, f"{spec}:13:3: train.loss.layer: missing required key 'layer'\n")


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("snnspec_no_such_module:f", "cannot import 'snnspec_no_such_module' ("),
        (
            f"{MODULE_NAME}:per_step_cross_entropi",
            f"module '{MODULE_NAME}' has no function "
            "'per_step_cross_entropi' (did you mean 'per_step_cross_entropy'?)",
        ),
        (
            f"{MODULE_NAME}:not_a_function",
            f"{MODULE_NAME}:not_a_function is not callable (its "
            "type is int); expected a function (outputs, labels) -> (losses, scores)",
        ),
        (
            f"{MODULE_NAME}:scalar",
            f"{MODULE_NAME}:scalar must return (losses, scores) of shapes "
            "[12] and [12, 3] (per-sample losses and class scores), got one array",
        ),
    ],
)
def test_train_refuses_a_loss_it_cannot_use(
    function: str,
    message: str,
    losses_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(spec_text(f'{{type: custom, function: "{function}", layer: out}}'))
    code, _, err = run_cli("train", spec, "-o", tmp_path / "run", capsys=capsys)
    assert code == 1
    assert err.startswith(f"{spec}:13:24: train.loss.function: {message}")
    assert err.count("\n") == 1
    assert not (tmp_path / "run").exists()
