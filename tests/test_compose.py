"""``extends:`` composition: the merge rule, located errors through the chain, refusals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import run_cli

import snnspec
from snnspec.spec.load import load
from snnspec.spec.train import CrossEntropyLossSpec

BASE = """\
snnspec: 1
name: base
seed: 1
time: {steps: 50, burnin: 0}
x-neuron: &lif {type: lif, decay_constants: [0.9, 0.8], threshold: 1.0}
inputs:
  - {name: spikes, shape: [8]}
layers:
  - {name: fc1, type: linear, out_features: 16}
  - {<<: *lif, name: lif1}
  - {name: fc2, type: linear, out_features: 4}
  - {name: out, type: simple_li, decay_constants: [0.9]}
train:
  data: {type: synthetic, num_classes: 4, num_samples: 64}
  loss: {type: cross_entropy, readout: max_membrane}
  epochs: 3
  batch_size: 16
  optimizer: {type: adam, learning_rate: 0.001}
"""

MIDDLE = """\
extends: ../base.yaml
name: middle
time: {steps: 40}
layers:
  - {name: lif1, threshold: 0.5}
train:
  epochs: 2
  optimizer: {learning_rate: 0.003}
"""

TOP = """\
extends: bases/middle.yaml
name: top
layers:
  - {name: fc2, out_features: 6}
  - {name: lif2, type: simple_lif, decay_constants: [0.8], inputs: [fc2]}
outputs: [lif2]
train:
  batch_size: 8
  loss: {readout: spike_count}
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write(
        root,
        {
            "pyproject.toml": "",
            "configs/base.yaml": BASE,
            "configs/bases/middle.yaml": MIDDLE,
            "configs/top.yaml": TOP,
        },
    )
    return root


def test_three_level_chain_gives_the_documented_merge(project: Path) -> None:
    spec = load(project / "configs/top.yaml")
    assert spec.name == "top"  # each level overrides a scalar
    assert spec.seed == 1  # untouched keys come from the base
    assert (spec.time.steps, spec.time.burnin) == (40, 0)  # mappings merge deeply
    assert [layer.name for layer in spec.layers] == ["fc1", "lif1", "fc2", "out", "lif2"]
    lif1 = spec.layers[1]
    assert lif1.type == "lif"  # from the anchor, merged with <<
    assert lif1.threshold == 0.5  # updated by name in the middle file
    assert list(lif1.decay_constants) == [0.9, 0.8]
    assert spec.layers[2].out_features == 6  # updated by name in the top file
    assert tuple(spec.outputs or ()) == ("lif2",)
    assert spec.train is not None
    assert (spec.train.epochs, spec.train.batch_size) == (2, 8)
    assert spec.train.optimizer.learning_rate == 0.003
    assert spec.train.optimizer.type == "adam"
    loss = spec.train.loss
    assert isinstance(loss, CrossEntropyLossSpec)
    assert loss.readout == "spike_count"


def test_lists_are_replaced_and_anchor_keys_dropped(project: Path) -> None:
    write(
        project,
        {
            "configs/lists.yaml": (
                "extends: base.yaml\nx-note: {anything: [1, 2]}\n"
                "inputs:\n  - {name: spikes, shape: [3]}\n"
            )
        },
    )
    spec = load(project / "configs/lists.yaml")
    assert [tuple(i.shape) for i in spec.inputs] == [(3,)]
    document = spec.document
    assert document is not None
    assert not any(str(key).startswith("x-") for key in document.data)


def test_files_are_recorded_relative_with_sha256(project: Path) -> None:
    document = load(project / "configs/top.yaml").document
    assert document is not None
    recorded = dict(document.files)
    assert set(recorded) == {"top.yaml", "bases/middle.yaml", "base.yaml"}
    for name, digest in recorded.items():
        assert digest == hashlib.sha256((project / "configs" / name).read_bytes()).hexdigest()


def test_an_error_points_into_the_file_that_set_the_value(project: Path) -> None:
    (project / "configs/bases/middle.yaml").write_text(
        MIDDLE.replace("threshold: 0.5", "threshold: x")
    )
    with pytest.raises(snnspec.SpecError) as caught:
        load(project / "configs/top.yaml")
    error = caught.value
    assert str(error.file).endswith("bases/middle.yaml")
    assert (error.line, error.path[:2]) == (5, ("layers", 1))


def test_an_error_in_the_base_points_at_the_base(project: Path) -> None:
    (project / "configs/base.yaml").write_text(BASE.replace("seed: 1", "seed: -1"))
    with pytest.raises(snnspec.SpecError) as caught:
        load(project / "configs/top.yaml")
    assert str(caught.value.file).endswith("configs/base.yaml")
    assert caught.value.line == 3


def test_override_on_top_of_extends(project: Path) -> None:
    spec = load(project / "configs/top.yaml", ["layers.lif1.threshold=0.25"])
    assert spec.layers[1].threshold == 0.25


def test_cycle_is_refused_naming_the_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project, {"configs/a.yaml": "extends: b.yaml\n", "configs/b.yaml": "extends: a.yaml\n"})
    code, _, err = run_cli("validate", project / "configs/a.yaml", capsys=capsys)
    assert code == 1
    assert err.count("\n") == 1
    assert "extends cycle:" in err
    assert (
        f"{(project / 'configs/a.yaml').resolve()} -> {(project / 'configs/b.yaml').resolve()}"
        in err
    )


def test_path_escape_is_refused_unless_allowed(project: Path, tmp_path: Path) -> None:
    write(tmp_path, {"shared/base.yaml": BASE})
    write(project, {"configs/escape.yaml": "extends: ../../shared/base.yaml\nname: escape\n"})
    with pytest.raises(snnspec.SpecError, match="outside the project") as caught:
        load(project / "configs/escape.yaml")
    assert str(caught.value.file).endswith("escape.yaml")
    assert caught.value.line == 1
    spec = load(project / "configs/escape.yaml", allow_paths=[tmp_path / "shared"])
    assert spec.name == "escape"


def test_missing_file_is_refused(project: Path) -> None:
    write(project, {"configs/missing.yaml": "extends: [base.yaml, nope.yaml]\n"})
    with pytest.raises(snnspec.SpecError, match=r"extended file 'nope\.yaml' not found") as caught:
        load(project / "configs/missing.yaml")
    assert caught.value.path == ("extends", 1)


def test_merged_layers_need_names_and_the_named_form(project: Path) -> None:
    write(
        project,
        {
            "configs/unnamed.yaml": (
                "extends: base.yaml\nlayers:\n  - {type: linear, out_features: 3}\n"
            ),
            "configs/indexed.yaml": (
                "extends: base.yaml\nlayers:\n  - {name: fc3, type: linear, out_features: 3}\n"
                "graph:\n  input_layer_ids: [[0], [], [], [], []]\n"
                "  input_connectivity: [[], [0], [1], [2], [3]]\n"
            ),
        },
    )
    with pytest.raises(snnspec.SpecError, match="need a name") as caught:
        load(project / "configs/unnamed.yaml")
    assert str(caught.value.file).endswith("unnamed.yaml")
    with pytest.raises(snnspec.SpecError, match="named graph form"):
        load(project / "configs/indexed.yaml")


def test_relative_params_path_in_a_base_is_rebased(project: Path) -> None:
    write(
        project,
        {
            "configs/bases/with_params.yaml": (
                "extends: ../base.yaml\nparams: weights.safetensors\n"
            ),
            "configs/child.yaml": "extends: bases/with_params.yaml\n",
        },
    )
    from snnspec.spec.compose import load_composed

    composed = load_composed(project / "configs/child.yaml")
    assert composed.data["params"] == "bases/weights.safetensors"


def test_cli_allow_path_resolve_and_the_build_manifest(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    write(tmp_path, {"shared/base.yaml": BASE})
    write(project, {"configs/escape.yaml": "extends: ../../shared/base.yaml\nname: escape\n"})
    spec = project / "configs/escape.yaml"
    code, _, err = run_cli("validate", spec, capsys=capsys)
    assert code == 1
    assert "outside the project" in err
    allow = ["--allow-path", str(tmp_path / "shared")]
    code, out, err = run_cli("resolve", spec, *allow, capsys=capsys)
    assert code == 0, err
    assert "name: escape" in out
    assert "extends" not in out
    assert "x-neuron" not in out
    code, _, err = run_cli("build", spec, "-o", tmp_path / "b", *allow, capsys=capsys)
    assert code == 0, err
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [entry["path"] for entry in manifest["spec_files"]] == [
        "escape.yaml",
        "../../shared/base.yaml",
    ]
    assert all(len(entry["sha256"]) == 64 for entry in manifest["spec_files"])
    code, _, err = run_cli("run", tmp_path / "b", *allow, capsys=capsys)
    assert code == 2  # a build folder's spec extends nothing: the flag cannot apply
