"""``--set`` overrides: parsing with the safe loader, paths, re-validation, blame, resolve."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import run_cli

from snnspec._errors import LoadError, SchemaError, SpecError
from snnspec.spec.load import load
from snnspec.spec.overrides import apply_overrides, parse_override, resolved_text

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "configs" / "digits.yaml"
RECURRENT = ROOT / "configs" / "shd_recurrent.yaml"


@pytest.mark.parametrize(
    ("text", "keys", "value"),
    [
        ("train.epochs=3", ("train", "epochs"), 3),
        ("layers.1.threshold=0.5", ("layers", "1", "threshold"), 0.5),
        ("layers[1].threshold=0.5", ("layers", "1", "threshold"), 0.5),
        ("layers.1.decay_constants=[0.9, 0.8]", ("layers", "1", "decay_constants"), [0.9, 0.8]),
        ("name=abc", ("name",), "abc"),
        ("train.seed=null", ("train", "seed"), None),
        ("description='a = b'", ("description",), "a = b"),
    ],
)
def test_parse_override(text: str, keys: tuple[str, ...], value: object) -> None:
    override = parse_override(text)
    assert (override.keys, override.value) == (keys, value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train.epochs", "expected PATH=VALUE"),
        ("=3", "expected PATH=VALUE"),
        ("train..epochs=3", "empty key"),
        ("train.epochs=", "no value after '='"),
        ("train.epochs=yes", "ambiguous YAML 1.1 boolean"),
        ("train.epochs=[1,", "invalid YAML"),
        ("x=!!python/object:os.system ls", "tag"),
    ],
)
def test_parse_override_errors(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("[", r"\[")) as caught:
        parse_override(text)
    assert str(caught.value).startswith(f"`override {text}`")


def test_apply_by_index_and_name_does_not_touch_the_input() -> None:
    data = {"layers": [{"name": "a", "t": 1}, {"name": "b.c", "t": 2}], "train": None}
    new, applied = apply_overrides(
        data,
        [
            parse_override("layers.0.t=5"),
            parse_override("layers.b.c.t=6"),
            parse_override("layers.-1.u=7"),
            parse_override("train.optimizer.clip_norm=1.0"),
        ],
    )
    assert new["layers"] == [{"name": "a", "t": 5}, {"name": "b.c", "t": 6, "u": 7}]
    assert new["train"] == {"optimizer": {"clip_norm": 1.0}}
    assert data["layers"][0]["t"] == 1
    assert [path for _, path in applied] == [
        ("layers", 0, "t"),
        ("layers", 1, "t"),
        ("layers", 1, "u"),
        ("train", "optimizer", "clip_norm"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("layers.9.threshold=1.0", "layers has 4 items; index 9 is out of range"),
        ("layers.lif9.threshold=1.0", "layers has no item named 'lif9'; names: fc1, lif1"),
        ("name.x=1", "cannot set 'x' inside name: it is a str"),
    ],
)
def test_bad_paths(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load(RECURRENT, [text])


def test_overrides_change_the_spec() -> None:
    spec = load(RECURRENT, ["layers.lif1.threshold=0.25", "time.steps=17"])
    assert spec.layers[1].threshold == 0.25
    assert spec.time.steps == 17
    with pytest.raises(SchemaError) as caught:
        load(RECURRENT, ["time.steps=7"])
    assert (
        str(caught.value)
        == "`override time.steps=7`: time: burnin (10) must be smaller than steps (7)"
    )


def test_revalidation_blames_the_override() -> None:
    with pytest.raises(SchemaError) as caught:
        load(DIGITS, ["train.epochs=0"])
    assert str(caught.value).startswith("`override train.epochs=0`: train.epochs: ")
    with pytest.raises(SchemaError, match="unknown key 'epoch' \\(did you mean 'epochs'\\?\\)"):
        load(DIGITS, ["train.epoch=3"])
    with pytest.raises(SchemaError, match="Input should be a valid integer"):
        load(DIGITS, ["train.batch_size=1.5"])


def test_errors_outside_overrides_keep_the_file_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DIGITS.read_text().replace("epochs: 20", "epochs: -1"))
    with pytest.raises(SchemaError) as caught:
        load(bad, ["train.batch_size=8"])
    assert str(caught.value).startswith(f"{bad}:")


def test_graph_checks_of_the_train_section() -> None:
    with pytest.raises(SchemaError, match="unknown layer 'lif2' \\(did you mean 'lif1'\\?\\)"):
        load(DIGITS, ["train.loss.layer=lif2"])
    with pytest.raises(SchemaError, match="max_membrane needs a non-spiking readout"):
        load(DIGITS, ["train.loss.layer=lif1"])
    with pytest.raises(SchemaError, match="spike_count needs a spiking readout"):
        load(DIGITS, ["train.loss.readout=spike_count"])
    with pytest.raises(SchemaError, match="burn-in \\(20\\) must be smaller"):
        load(DIGITS, ["train.burnin=20"])


def test_load_error_for_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="file not found"):
        load(tmp_path / "none.yaml", ["train.epochs=1"])


def test_resolve_prints_spec_and_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "final.yaml"
    code, out, err = run_cli(
        "resolve", DIGITS, "--set", "train.epochs=3", "-o", target, capsys=capsys
    )
    assert (code, err) == (0, "")
    text, _, last = out.rstrip("\n").rpartition("\n")
    digest = last.removeprefix("# sha256: ")
    assert hashlib.sha256((text + "\n").encode()).hexdigest() == digest
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    assert "epochs: 3" in text
    assert resolved_text(load(target)) == text + "\n"  # a fixed point


def test_validate_and_build_accept_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        "validate", RECURRENT, "--set", "layers.fc1.out_features=8", capsys=capsys
    )
    assert code == 0
    assert "fc1    linear" in out
    assert "8 " in out
    code, _, err = run_cli(
        "validate", RECURRENT, "--set", "layers.0.out_features=-1", capsys=capsys
    )
    assert code == 1
    assert err.startswith("--set layers.0.out_features=-1: layers[0].out_features:")
    code, _, _ = run_cli(
        "build", RECURRENT, "-o", tmp_path / "b", "--set", "layers.0.out_features=8", capsys=capsys
    )
    assert code == 0
    assert "out_features: 8" in (tmp_path / "b" / "spec.yaml").read_text()
