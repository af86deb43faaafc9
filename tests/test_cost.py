"""The cost report: dense MACs from shapes, SynOps from activity, the synops regulariser."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import TINY_MODEL, run_cli

import snnspec
from snnspec._errors import SpecError
from snnspec.graph.plan import plan_graph
from snnspec.model.cost import (
    ENERGY_PJ,
    dense_macs,
    energy_pj,
    measure_synops,
    synops_of,
    with_synops,
)
from snnspec.model.params import save_params
from snnspec.spec.load import load
from snnspec.training.loop import train

TWO_LAYERS = """\
snnspec: 1
name: two
time: {steps: 4}
inputs: [{name: x, shape: [3]}]
layers:
  - {name: fc1, type: linear, out_features: 4, use_bias: false}
  - {name: lif1, type: simple_lif, decay_constants: [0.9], threshold: 1.0}
  - {name: fc2, type: linear, out_features: 2}
  - {name: out, type: simple_li, decay_constants: [0.9]}
"""

CONV = """\
snnspec: 1
name: conv
time: {steps: 2}
inputs: [{name: x, shape: [1, 5]}]
layers:
  - {name: conv, type: conv1d, out_channels: 3, kernel_size: 3, stride: 2, padding: 1}
"""

SPIKING_TINY = TINY_MODEL.replace("threshold: 0.2", "threshold: 0.05")
"""TINY with a threshold its initial weights reach: lif1 spikes."""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def two_layer_model(tmp_path: Path) -> snnspec.StatefulModel:
    """fc1's weights are 10: every lif1 neuron spikes (and resets to 0) exactly at the steps
    with at least one input spike, so every count below is countable by hand."""
    spec = load(write(tmp_path, TWO_LAYERS))
    return snnspec.compile(spec, params={"fc1.weight": np.full((4, 3), 10.0, np.float32)})


# spikes of one sample: 5 input spikes, at steps 0, 2 and 3 (step 1 is silent)
HAND_INPUT = np.array([[[1, 0, 1], [0, 0, 0], [1, 0, 0], [0, 1, 1]]], np.float32)


def test_dense_synops_equal_the_hand_count(tmp_path: Path) -> None:
    model = two_layer_model(tmp_path)
    synops = measure_synops(model, [HAND_INPUT], jax.random.PRNGKey(0))
    # fc1: 5 input spikes x 4 outputs over 4 steps; fc2: lif1's 4 neurons spike at 3 of the
    # 4 steps, 12 spikes x 2 outputs over 4 steps
    assert synops == {"fc1": 5 * 4 / 4, "fc2": 12 * 2 / 4}


def test_synops_are_per_sample_and_exclude_burn_in(tmp_path: Path) -> None:
    model = two_layer_model(tmp_path)
    batch = np.concatenate([HAND_INPUT, np.zeros_like(HAND_INPUT)])  # a silent second sample
    synops = measure_synops(model, [batch], jax.random.PRNGKey(0), burnin=2)
    # steps 2 and 3 only: 3 input spikes and 8 lif1 spikes, over 2 samples x 2 steps
    assert synops == {"fc1": 3 * 4 / 4, "fc2": 8 * 2 / 4}


def test_conv_synops_equal_the_hand_count(tmp_path: Path) -> None:
    """conv1d, L=5, k=3, stride 2, padding 1: outputs 0, 1, 2 read inputs {0, 1}, {1, 2, 3} and
    {3, 4} (the padding reads dropped), so the inputs reach 1, 2, 1, 2, 1 positions."""
    model = snnspec.compile(load(write(tmp_path, CONV)))
    x = np.zeros((1, 2, 1, 5), np.float32)
    x[0, 0, 0, [1, 4]] = 1  # step 0: spikes reaching 2 and 1 positions
    x[0, 1, 0, 2] = 1  # step 1: a spike reaching 1 position
    synops = measure_synops(model, [x], jax.random.PRNGKey(0))
    assert synops == {"conv": (2 + 1 + 1) * 3 / 2}
    assert dense_macs(model.plan) == {"conv": (1 + 2 + 1 + 2 + 1) * 3}


def _numpy_fanout(
    in_shape: tuple[int, ...],
    out_channels: int,
    groups: int,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
) -> np.ndarray:
    """Fan-out of every input element by brute force: walk every output element of every
    channel and every weight it uses, and count the real input element each one reads."""
    channels, *spatial = in_shape
    outs = [
        (size + 2 * p - d * (k - 1) - 1) // s + 1
        for size, k, s, p, d in zip(spatial, kernel, stride, padding, dilation, strict=True)
    ]
    count = np.zeros(in_shape)
    per_group_in, per_group_out = channels // groups, out_channels // groups
    for o_channel in range(out_channels):
        group = o_channel // per_group_out
        for position in np.ndindex(*outs):
            for tap in np.ndindex(*kernel):
                where = [
                    o * s + t * d - p
                    for o, t, s, p, d in zip(position, tap, stride, padding, dilation, strict=True)
                ]
                if all(0 <= w < size for w, size in zip(where, spatial, strict=True)):
                    for c in range(group * per_group_in, (group + 1) * per_group_in):
                        count[(c, *where)] += 1
    return count


@pytest.mark.parametrize(
    "conv",
    [
        {"kernel_size": 3, "stride": 2, "padding": 1, "groups": 2},
        {"kernel_size": [2, 3], "stride": [1, 2], "padding": [0, 2], "dilation": [2, 1]},
        {"kernel_size": 3, "stride": 3, "padding": 0},
    ],
    ids=["stride-padding-groups", "dilation-asymmetric", "stride-equals-kernel"],
)
def test_conv2d_synops_and_macs_match_a_numpy_loop(tmp_path: Path, conv: dict[str, Any]) -> None:
    options = ", ".join(f"{k}: {json.dumps(v)}" for k, v in conv.items())
    text = (
        "snnspec: 1\nname: c\ntime: {steps: 3}\ninputs: [{name: x, shape: [4, 7, 8]}]\n"
        f"layers:\n  - {{name: conv, type: conv2d, out_channels: 6, {options}}}\n"
    )
    model = snnspec.compile(load(write(tmp_path, text)))
    n = 2
    fanout = _numpy_fanout(
        (4, 7, 8),
        6,
        conv.get("groups", 1),
        *(
            tuple(v) if isinstance(v, list) else (v,) * n
            for v in (
                conv["kernel_size"],
                conv.get("stride", 1),
                conv.get("padding", 0),
                conv.get("dilation", 1),
            )
        ),
    )
    x = (np.random.default_rng(0).random((2, 3, 4, 7, 8)) < 0.3).astype(np.float32)
    synops = measure_synops(model, [x], jax.random.PRNGKey(0))
    expected = float(np.sum(x * fanout) / (2 * 3))
    assert synops["conv"] == pytest.approx(expected, rel=1e-6)
    assert dense_macs(model.plan) == {"conv": int(fanout.sum())}


def test_conv1d_fanout_matches_a_loop_over_a_grid_of_options() -> None:
    """Every combination of a small grid (asymmetric borders, stride > kernel, dilation)."""
    from snnspec.model.cost import fanout
    from snnspec.spec.layers.conv import Conv1dSpec

    checked = 0
    for size, kernel, stride, padding, dilation in itertools.product(
        range(1, 9), range(1, 5), range(1, 5), range(3), range(1, 3)
    ):
        if size + 2 * padding < dilation * (kernel - 1) + 1:
            continue
        layer = Conv1dSpec(
            out_channels=2, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation
        )
        expected = _numpy_fanout((1, size), 2, 1, (kernel,), (stride,), (padding,), (dilation,))
        fan = fanout(layer, (1, size))
        assert fan.channel * np.asarray(fan.axes[0]) == pytest.approx(expected[0])
        checked += 1
    assert checked > 500


def test_same_padding_counts_the_odd_pad_at_the_end(tmp_path: Path) -> None:
    """conv1d SAME, L=4, k=2, stride 1: one pad, at the end; output o reads o and o+1."""
    text = CONV.replace("shape: [1, 5]", "shape: [1, 4]").replace(
        "kernel_size: 3, stride: 2, padding: 1", 'kernel_size: 2, padding: "SAME"'
    )
    model = snnspec.compile(load(write(tmp_path, text)))
    x = np.zeros((1, 2, 1, 4), np.float32)
    x[0, :, 0, 0] = 1  # the first input is read by output 0 only
    assert measure_synops(model, [x], jax.random.PRNGKey(0)) == {"conv": 1 * 3}
    assert dense_macs(model.plan) == {"conv": (1 + 2 + 2 + 2) * 3}


def test_dense_macs_equal_the_hand_count(tmp_path: Path) -> None:
    plan = plan_graph(load(write(tmp_path, TWO_LAYERS)))
    assert dense_macs(plan) == {"fc1": 3 * 4, "fc2": 4 * 2}


def test_dense_macs_are_the_synops_of_an_input_of_ones(tmp_path: Path) -> None:
    spec = load(Path(__file__).resolve().parent.parent / "configs" / "nmnist_conv.yaml")
    model = snnspec.compile(spec)
    first = model.plan.layer_names[0]
    ones = [np.ones((1, 2, *shape), np.float32) for shape in model.plan.input_shapes]
    synops = measure_synops(model, ones, jax.random.PRNGKey(0))
    assert synops[first] == dense_macs(model.plan)[first]


def test_delayed_edges_read_the_previous_step_in_every_schedule(tmp_path: Path) -> None:
    """TINY's fc1 reads the input at t and lif1 at t-1 (nothing before t=0)."""
    model = snnspec.compile(load(write(tmp_path, SPIKING_TINY)))
    x = (np.random.default_rng(1).random((3, 10, 8)) < 0.5).astype(np.float32)
    key = jax.random.PRNGKey(0)
    lif1 = model.plan.layer_names.index("lif1")
    (spikes,) = snnspec.simulate(model.with_outputs([lif1]), [x], key=key)
    spikes = np.asarray(spikes)
    assert spikes.sum() > 0  # the delayed edge carries spikes
    delayed = spikes[:, :-1].sum()
    expected = {"fc1": (x.sum() + delayed) * 16 / 30, "fc2": spikes.sum() * 3 / 30}
    for schedule in ("stepwise", "layerwise"):
        synops = measure_synops(model.with_schedule(schedule), [x], key)
        assert synops == pytest.approx(expected, rel=1e-6)


def test_synops_of_takes_the_outputs_of_one_forward_pass(tmp_path: Path) -> None:
    """One pass records spikes and probes together (what an activity report shares)."""
    model = two_layer_model(tmp_path)
    probed, probes = with_synops(model)
    lif1 = model.plan.layer_names.index("lif1")
    ids = [lif1, *probes.values()]
    outputs = snnspec.simulate(probed.with_outputs(ids), [HAND_INPUT], key=jax.random.PRNGKey(0))
    recorded = dict(zip(ids, outputs, strict=True))
    assert np.asarray(recorded[lif1]).sum() == 12
    assert synops_of(model.plan, probes, recorded) == {"fc1": 5.0, "fc2": 6.0}


def test_probes_hold_no_parameters(tmp_path: Path) -> None:
    model = two_layer_model(tmp_path)
    probed, _ = with_synops(model)
    leaves = jax.tree_util.tree_leaves(eqx.filter(probed, eqx.is_array))
    assert len(leaves) == len(jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array)))


def test_energy_uses_the_stated_costs() -> None:
    assert energy_pj(10, "synops") == pytest.approx(10 * ENERGY_PJ["add"])
    assert energy_pj(10, "macs") == pytest.approx(10 * (ENERGY_PJ["add"] + ENERGY_PJ["mult"]))
    assert ENERGY_PJ == {"add": 0.9, "mult": 3.7}  # Horowitz 2014, 45 nm, 32-bit float


# --- the command line ----------------------------------------------------------------------


def test_validate_reports_dense_macs_and_energy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli("validate", write(tmp_path, TWO_LAYERS), capsys=capsys)
    assert (code, err) == (0, "")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert rows["fc1"][-3:] == ["12", "55.20", "pJ"]  # 12 MACs x 4.6 pJ
    assert rows["total"] == ["20", "92.00", "pJ"]
    assert "Horowitz, ISSCC 2014" in out


def test_run_reports_synops_per_layer_and_total(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write(tmp_path, TWO_LAYERS)
    save_params(two_layer_model(tmp_path), tmp_path / "p.safetensors")
    np.savez(tmp_path / "x.npz", x=HAND_INPUT)
    spec.write_text(TWO_LAYERS + "params: p.safetensors\n")
    code, out, err = run_cli("run", spec, "--input", tmp_path / "x.npz", capsys=capsys)
    assert (code, err) == (0, "")
    report = out[out.index("SynOps per sample per step") :]
    rows = {line.split()[0]: line.split()[1:] for line in report.splitlines()[2:5]}
    assert rows == {
        "fc1": ["5.00", "4.50", "pJ"],
        "fc2": ["6.00", "5.40", "pJ"],
        "total": ["11.00", "9.90", "pJ"],
    }


def test_validate_activity_reports_the_synops_of_its_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from snnspec.training.activity import activity_batch

    spec_path = write(tmp_path, TWO_LAYERS)
    code, out, _ = run_cli("validate", "--activity", spec_path, capsys=capsys)
    assert code == 0
    report = out[out.index("SynOps per sample per step") :]
    printed = {line.split()[0]: line.split()[1] for line in report.splitlines()[2:5]}
    spec = load(spec_path)
    batch = activity_batch(spec, plan_graph(spec))
    model = snnspec.compile(spec)
    expected = measure_synops(model, batch.inputs, jax.random.PRNGKey(spec.seed), batch.burnin)
    assert set(printed) == {*expected, "total"}
    for name, value in expected.items():
        assert printed[name] == f"{value:,.2f}"
    assert sum(expected.values()) > 0


def test_reports_name_sequential_blocks_they_cannot_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = TWO_LAYERS.replace(
        "  - {name: fc2, type: linear, out_features: 2}",
        "  - {name: block, type: sequential, layers: [{type: linear, out_features: 2}]}",
    )
    code, out, _ = run_cli("validate", write(tmp_path, text), capsys=capsys)
    assert code == 0
    assert "not counted: weighted layers inside sequential block" in out


# --- training: metrics and the regulariser ---------------------------------------------------


def train_text(weight: float, target: float = 10.0, layers: str = "") -> str:
    return (
        SPIKING_TINY
        + f"""\
train:
  data: {{type: synthetic, num_samples: 48, num_classes: 3, segments: 2, rate_high: 0.5}}
  loss: {{type: cross_entropy, readout: max_membrane, scale: 5.0}}
  optimizer: {{type: adam, learning_rate: 0.01}}
  regularizers:
    - {{type: synops, target: {target}, weight: {weight}{layers}}}
  epochs: 2
  batch_size: 12
"""
    )


def quiet(_: str) -> None:
    pass


def test_synops_regulariser_lowers_synops(tmp_path: Path) -> None:
    """Seeded and deterministic: the same data, order and initial weights for both runs."""
    results = {}
    for weight in (0.0, 1.0):
        spec = load(write(tmp_path, train_text(weight), f"w{weight}.yaml"))
        run = train(spec, tmp_path / f"run{weight}", progress=False, echo=quiet)
        results[weight] = run.records[-1]["train_synops"]
        lines = (tmp_path / f"run{weight}" / "metrics.jsonl").read_text().splitlines()
        assert all(math.isfinite(json.loads(line)["train_synops"]) for line in lines)
    assert results[1.0] < 0.9 * results[0.0]


def test_synops_regulariser_gradient_is_finite_and_nonzero(tmp_path: Path) -> None:
    from snnspec.training.data import load_data
    from snnspec.training.loop import Task

    spec = load(write(tmp_path, train_text(1.0, target=1.0, layers=", layers: [fc2]")))
    data = load_data(spec, tmp_path)
    task = Task(spec, snnspec.compile(spec), data)
    x, key = jnp.asarray(data.x_train[:12]), jax.random.PRNGKey(0)

    def penalty(params: Any) -> jax.Array:
        return task._penalty(task._outputs(params, x, key, inference=False))

    value, grads = eqx.filter_value_and_grad(penalty)(task.params)
    assert float(value) > 0
    fc1 = task.model(grads).layers[task.layer_names.index("fc1")].weight
    assert bool(jnp.all(jnp.isfinite(fc1)))
    assert float(jnp.abs(fc1).sum()) > 0


@pytest.mark.parametrize(
    ("regularizer", "message"),
    [
        (
            "{type: synops, target: 0}",
            "spec.yaml:8:22: train.regularizers[0].target: Input should be greater than 0, got 0",
        ),
        (
            "{type: synops, target: 5, layers: [lif1]}",
            "spec.yaml:8:42: train.regularizers[0].layers[0]: 'lif1' is a simple_lif; SynOps are "
            "counted for linear and conv layers only",
        ),
        (
            "{type: synops, weight: 1}",
            "spec.yaml:8:7: train.regularizers[0].target: missing required key 'target'",
        ),
    ],
    ids=["target-zero", "not-weighted", "no-target"],
)
def test_bad_synops_regulariser_is_a_located_error(
    tmp_path: Path, regularizer: str, message: str
) -> None:
    text = (
        "snnspec: 1\nname: t\ninputs: [{name: x, shape: [2]}]\n"
        "layers: [{name: fc1, type: linear, out_features: 2},\n"
        "  {name: lif1, type: simple_lif, decay_constants: [0.9]}]\n"
        "train: {data: {type: synthetic, num_samples: 8, num_classes: 2},\n"
        "  loss: {type: cross_entropy, readout: spike_count}, regularizers: [\n"
        f"      {regularizer}]}}\n"
    )
    with pytest.raises(SpecError) as caught:
        load(write(tmp_path, text))
    assert str(caught.value).removeprefix(f"{tmp_path}/") == message


def test_synops_regulariser_needs_a_weighted_layer(tmp_path: Path) -> None:
    text = (
        "snnspec: 1\nname: t\ninputs: [{name: x, shape: [2]}]\n"
        "layers: [{name: lif1, type: simple_lif, decay_constants: [0.9]}]\n"
        "train:\n  data: {type: synthetic, num_samples: 8, num_classes: 2}\n"
        "  loss: {type: cross_entropy, readout: spike_count}\n"
        "  regularizers: [{type: synops, target: 5}]\n"
    )
    with pytest.raises(SpecError, match="no linear or conv layer"):
        load(write(tmp_path, text))
