"""Data sources, spike encoders and the seeded split (NumPy only, no JAX)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnspec._errors import SpecError
from snnspec.spec.load import load
from snnspec.spec.train import (
    DeltaEncoderSpec,
    LatencyEncoderSpec,
    RateEncoderSpec,
    SyntheticDataSpec,
)
from snnspec.training.data import (
    delta_sequence,
    encode,
    epoch_order,
    latency_code,
    load_data,
    split_indices,
    synthetic_task,
)

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "configs" / "digits.yaml"

NPZ_SPEC = """\
snnspec: 1
name: npz-test
time: {{steps: 6}}
inputs: [{{name: x, shape: [3]}}]
layers:
  - {{type: linear, out_features: 2}}
  - {{type: simple_li, decay_constants: [0.9]}}
train:
  data: {data}
"""


def npz_spec(tmp_path: Path, data: str, **arrays: np.ndarray) -> Path:
    np.savez(tmp_path / "d.npz", **arrays)  # type: ignore[arg-type]
    path = tmp_path / "spec.yaml"
    path.write_text(NPZ_SPEC.format(data=data))
    return path


def test_split_is_seeded_disjoint_and_complete() -> None:
    train, val, test = split_indices(100, 0.25, None, seed=3)
    assert (len(train), len(val), len(test)) == (75, 0, 25)
    assert sorted([*train, *test]) == list(range(100))
    again = split_indices(100, 0.25, None, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))
    assert not np.array_equal(test, split_indices(100, 0.25, None, seed=4)[2])


def test_validation_split_is_taken_from_the_non_test_part() -> None:
    """Adding a validation split keeps the test set of the same seed (the permutation's
    first part) and takes the validation samples from the training ones."""
    train, val, test = split_indices(100, 0.25, 0.15, seed=3)
    assert (len(train), len(val), len(test)) == (60, 15, 25)
    assert sorted([*train, *val, *test]) == list(range(100))
    old_train, _, old_test = split_indices(100, 0.25, None, seed=3)
    assert np.array_equal(test, old_test)
    assert set(val) | set(train) == set(old_train)
    only_val = split_indices(10, None, 0.2, seed=0)  # the test set is a file of its own
    assert [len(part) for part in only_val] == [8, 2, 0]
    with pytest.raises(SpecError, match="4 samples are too few to hold out 2 test and 2 valid"):
        split_indices(4, 0.5, 0.4, seed=0)


def test_epoch_order_depends_on_seed_and_epoch_only() -> None:
    assert np.array_equal(epoch_order(50, 1, 2), epoch_order(50, 1, 2))
    assert not np.array_equal(epoch_order(50, 1, 2), epoch_order(50, 1, 3))
    assert sorted(epoch_order(50, 1, 2)) == list(range(50))


def test_rate_encoder_bernoulli_and_poisson() -> None:
    values = np.array([[0.0, 0.5, 1.0]])
    rng = np.random.default_rng(0)
    spikes = encode(values, RateEncoderSpec(), 4000, rng)
    assert spikes.shape == (1, 4000, 3)
    assert set(np.unique(spikes)) <= {0.0, 1.0}
    rates = spikes.mean(axis=(0, 1))
    assert rates[0] == 0.0
    assert rates[2] == 1.0
    assert abs(rates[1] - 0.5) < 0.03
    counts = encode(values, RateEncoderSpec(distribution="poisson", max_rate=1.0), 4000, rng)
    assert counts.max() > 1
    assert abs(counts[0, :, 2].mean() - 1.0) < 0.06


def test_latency_encoder_linear_and_log() -> None:
    values = np.array([[1.0, 0.5, 0.0, 0.005]])
    spikes = latency_code(values, 11, "linear", 0.01, 5.0)
    assert spikes.sum(axis=1).tolist() == [[1, 1, 0, 0]]
    assert np.argmax(spikes[0, :, 0]) == 0
    assert np.argmax(spikes[0, :, 1]) == 5
    log = encode(
        values, LatencyEncoderSpec(mode="log", threshold=0.2, tau=5.0), 30, np.random.default_rng(0)
    )
    assert log.sum(axis=1).tolist() == [[1, 1, 0, 0]]
    expected = [round(5.0 * np.log(v / (v - 0.2))) for v in (1.0, 0.5)]
    assert [int(np.argmax(log[0, :, i])) for i in range(2)] == expected


def test_delta_encoder_counts_level_crossings() -> None:
    values = np.array([[1.0, 0.5, 0.25, 0.0]])
    spikes = encode(values, DeltaEncoderSpec(threshold=0.25), 8, np.random.default_rng(0))
    assert spikes.sum(axis=1).tolist() == [[4, 2, 1, 0]]
    assert spikes.min() >= 0
    signal = np.array([[0.0, 0.6, 0.6, 0.1]])[..., None]
    on = delta_sequence(signal, 0.25, off_spikes=False)
    both = delta_sequence(signal, 0.25, off_spikes=True)
    assert on[0, :, 0].tolist() == [0, 2, 0, 0]
    assert both[0, :, 0].tolist() == [0, 2, 0, -1]  # 0.5 -> 0.25; 0.15 is below one step


def test_synthetic_task_is_seeded_and_balanced() -> None:
    data = SyntheticDataSpec(num_samples=40, num_classes=4)
    x, y, classes = synthetic_task(data, (10,), 12, seed=0)
    assert x.shape == (40, 12, 10)
    assert classes == 4
    assert np.bincount(y).tolist() == [10, 10, 10, 10]
    x2, _, _ = synthetic_task(data, (10,), 12, seed=0)
    assert np.array_equal(x, x2)
    assert not np.array_equal(x, synthetic_task(data, (10,), 12, seed=1)[0])
    x3, _, _ = synthetic_task(data, (2, 5), 12, seed=0)
    assert np.array_equal(x3.reshape(x.shape), x)


def test_digits_load_without_network() -> None:
    data = load_data(load(DIGITS))
    assert data.x_train.shape == (1078, 20, 64)
    assert data.x_val.shape == (270, 20, 64)
    assert data.x_test.shape == (449, 20, 64)
    assert data.num_classes == 10
    assert set(np.unique(data.y_train)) == set(range(10))
    assert data.sha256 == load_data(load(DIGITS)).sha256
    assert data.sha256 != load_data(load(DIGITS, ["train.seed=1"])).sha256


def test_digits_needs_64_values() -> None:
    spec = load(DIGITS, ["inputs.0.shape=[32]"])
    with pytest.raises(SpecError, match="the 8x8 digits have 64 values per sample"):
        load_data(spec)


def test_npz_sequences_and_static_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    spikes = (rng.random((10, 6, 3)) < 0.3).astype(np.float32)
    labels = np.arange(10) % 2
    path = npz_spec(tmp_path, "{type: npz, path: d.npz}", inputs=spikes, labels=labels)
    data = load_data(load(path))
    assert data.num_classes == 2
    assert np.array_equal(
        np.sort(np.concatenate([data.x_train, data.x_test]).sum(axis=(1, 2))),
        np.sort(spikes.sum(axis=(1, 2))),
    )
    static = rng.random((10, 3))
    path = npz_spec(
        tmp_path, "{type: npz, path: d.npz, encoder: {type: rate}}", inputs=static, labels=labels
    )
    assert load_data(load(path)).x_train.shape == (8, 6, 3)


@pytest.mark.parametrize(
    ("data", "arrays", "message"),
    [
        (
            "{type: npz, path: d.npz, inputs: x}",
            {"inputs": np.zeros((4, 6, 3))},
            "missing array 'x'",
        ),
        (
            "{type: npz, path: d.npz}",
            {"inputs": np.zeros((4, 6, 3)), "labels": np.zeros(4)},
            "1-D integer",
        ),
        (
            "{type: npz, path: d.npz}",
            {"inputs": np.zeros((4, 6, 3)), "labels": np.zeros(3, int)},
            "4 samples but 3 labels",
        ),
        (
            "{type: npz, path: d.npz}",
            {"inputs": np.zeros((4, 6, 5)), "labels": np.zeros(4, int)},
            "fits neither",
        ),
        (
            "{type: npz, path: d.npz}",
            {"inputs": np.zeros((4, 3)), "labels": np.zeros(4, int)},
            "add an encoder",
        ),
        (
            "{type: npz, path: d.npz, encoder: {type: rate}}",
            {"inputs": np.full((4, 3), 2.0), "labels": np.zeros(4, int)},
            "values in \\[0, 1\\]",
        ),
        (
            "{type: npz, path: d.npz, encoder: {type: rate}}",
            {"inputs": np.zeros((4, 6, 3)), "labels": np.zeros(4, int)},
            "already has a time axis",
        ),
        ("{type: npz, path: other.npz}", {"inputs": np.zeros((4, 3))}, "data file not found"),
    ],
)
def test_npz_errors(tmp_path: Path, data: str, arrays: dict[str, np.ndarray], message: str) -> None:
    path = npz_spec(tmp_path, data, **arrays)
    with pytest.raises(SpecError, match=message):
        load_data(load(path))


def test_npz_refuses_pickles(tmp_path: Path) -> None:
    objects = np.empty(4, dtype=object)
    path = npz_spec(tmp_path, "{type: npz, path: d.npz}", inputs=objects, labels=np.zeros(4, int))
    with pytest.raises(SpecError, match="cannot read the npz data file"):
        load_data(load(path))


def test_npz_spikes_must_have_the_spec_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: (N, 40, ...) spikes trained for 40 steps while the run recorded time.steps 6."""
    from helpers import run_cli

    monkeypatch.chdir(tmp_path)
    spikes = np.zeros((8, 40, 3), np.float32)
    path = npz_spec(tmp_path, "{type: npz, path: d.npz}", inputs=spikes, labels=np.arange(8) % 2)
    code, _, err = run_cli("train", path, "-o", "run", "--no-progress", capsys=capsys)
    assert code == 1
    assert err == (
        f"{tmp_path / 'd.npz'}: inputs: shape [8, 40, 3] has 40 time steps but the spec's "
        "time.steps is 6: the run folder would record the wrong number; set `time: {steps: 40}` "
        "in the spec (or --set time.steps=40), or cut the arrays to the spec's steps\n"
    )
    assert not (tmp_path / "run" / "params.safetensors").exists()
