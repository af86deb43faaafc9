"""``compat: snnax`` against SNNAX's own numbers.

The goldens in ``tests/data/snnax/`` were written by ``tests/snnax_golden.py`` from SNNAX's
code at a pinned commit: every SNNAX neuron class (with and without ``reset_val``) driven by
a fixed input, and two graphs run by SNNAX's ``StatefulModel``. Under ``compat: snnax``
snnspec gives the same spikes exactly and the same states, outputs and gradients within
1e-6 (float32). Without it, exactly the cases with a documented deviation
(``docs/extensions.md``) differ, and the test names the deviation. The peer tests at the end
run SNNAX itself when it is importable (the peers' environment, ``benchmarks/peers.py``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import snnax_golden as golden
import yaml
from helpers import run_cli

import snnspec
from snnspec.nn.neurons import AbstractNeuron
from snnspec.spec.dump import normalized_data
from snnspec.spec.registry import LAYER_TYPES

DATA = Path(__file__).parent / "data" / "snnax"
ROOT = Path(__file__).parent.parent
TOL = 1e-6
GRAD_TOL = 1e-5


def load(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return json.loads(str(arrays.pop("meta"))), arrays


NEURON_FILES = sorted(DATA.glob("neuron-*.npz"))
GRAPH_FILES = sorted(DATA.glob("graph-*.npz"))


def model_spec(data: dict[str, Any], compat: bool) -> snnspec.ModelSpec:
    return snnspec.ModelSpec.model_validate({**data, **({"compat": "snnax"} if compat else {})})


def neuron_spec(meta: dict[str, Any], shape: tuple[int, ...], compat: bool) -> snnspec.ModelSpec:
    data = {
        "snnspec": 1,
        "name": "golden",
        "inputs": [{"name": "x", "shape": list(shape)}],
        "layers": [{**meta["layer"], "name": "n"}],
    }
    return model_spec(data, compat)


def run_neuron(meta: dict[str, Any], arrays: dict[str, np.ndarray], compat: bool) -> dict:
    """snnspec's outputs, states per step and gradients, as the golden script records them."""
    x = jnp.asarray(arrays["x"])
    model = snnspec.compile(neuron_spec(meta, x.shape[1:], compat))
    layer = model.layers[0]

    def simulate(layer: Any, xs: Any) -> tuple[Any, Any]:
        if not isinstance(layer, AbstractNeuron):
            return jax.vmap(layer)(xs), None

        def step(state: Any, xt: Any) -> tuple[Any, Any]:
            state, out = layer(state, xt)
            return state, (out, state)

        _, (outs, states) = jax.lax.scan(step, layer.init_state(xs.shape[1:], xs.dtype), xs)
        return outs, states

    def loss(layer: Any, xs: Any) -> Any:
        return jnp.sum(simulate(layer, xs)[0] * arrays["c"])

    outs, states = simulate(layer, x)
    if outs.shape != arrays["output"].shape:  # another pooling window
        return {"output": np.asarray(outs)}
    result = {"output": np.asarray(outs), "grad.x": np.asarray(jax.grad(loss, 1)(layer, x))}
    for name in meta["states"]:
        result[f"state.{name}"] = np.asarray(getattr(states, name))
    grads = eqx.filter_grad(loss)(layer, x)
    for name in meta["params"]:
        shape = arrays[f"grad.{name}"].shape
        result[f"grad.{name}"] = np.asarray(getattr(grads, name)).reshape(shape)
    # the compiled model computes the same outputs as its layer stepped here
    (whole,) = snnspec.simulate(model, x[None])
    np.testing.assert_array_equal(np.asarray(whole)[0], result["output"])
    return result


def differences(expected: dict[str, np.ndarray], got: dict[str, Any]) -> list[str]:
    """The keys where ``got`` differs from ``expected`` (spikes exactly, the rest to TOL)."""
    different = []
    for key, value in got.items():
        want = expected[key]
        if np.shape(value) != np.shape(want):
            different.append(key)
            continue
        if key == "output" or key == "state.spikes":
            same = np.array_equal(value, want) if set(np.unique(want)) <= {0, 1} else None
            if same is not None:
                different += [] if same else [key]
                continue
        tol = GRAD_TOL if key.startswith("grad.") else TOL
        if not np.allclose(value, want, atol=tol, rtol=tol):
            different.append(key)
    return different


def neuron_id(path: Path) -> str:
    return path.stem.removeprefix("neuron-")


# --- the goldens cover SNNAX's classes ------------------------------------------------------


def test_every_type_with_an_snnax_class_has_goldens() -> None:
    """Registry-driven: each type that follows an SNNAX class has a golden, and one with
    ``reset_val`` too where the type has that option."""
    names = {neuron_id(path) for path in NEURON_FILES}
    followed = {name: cls for name, cls in LAYER_TYPES.items() if cls.snnax_class is not None}
    assert followed
    for name, cls in followed.items():
        assert name in names, f"no SNNAX golden for {name}"
        if "reset_val" in cls.model_fields:
            assert f"{name}-reset_val" in names, f"no SNNAX golden for {name} with reset_val"
    for path in NEURON_FILES:
        meta, _ = load(path)
        assert meta["snnax_commit"] == golden.SNNAX_COMMIT
        assert LAYER_TYPES[meta["layer"]["type"]].snnax_class == meta["snnax"]["class"]
    assert {json.loads(str(np.load(p)["meta"]))["name"] for p in GRAPH_FILES} == {
        case.name for case in golden.GRAPH_CASES
    }


def test_the_golden_graph_is_the_five_layer_config() -> None:
    config = yaml.safe_load((ROOT / "configs" / "snnax_five_layer.yaml").read_text())
    meta, _ = load(DATA / "graph-five_layer.npz")
    for key in ("inputs", "layers", "graph"):
        assert meta["spec"][key] == config[key], key


# --- neurons ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", NEURON_FILES, ids=neuron_id)
def test_compat_neuron_matches_snnax(path: Path) -> None:
    meta, arrays = load(path)
    if "spikes" in meta["states"] or not meta["states"]:  # a spiking layer's output
        assert 0 < arrays["output"].mean() < 1, "the comparison would be vacuous"
    assert differences(arrays, run_neuron(meta, arrays, compat=True)) == []


@pytest.mark.parametrize("path", NEURON_FILES, ids=neuron_id)
def test_without_compat_only_the_documented_deviations_differ(path: Path) -> None:
    meta, arrays = load(path)
    different = differences(arrays, run_neuron(meta, arrays, compat=False))
    if meta["deviation"] is None:
        assert different == [], "snnspec's default should already be SNNAX's here"
    else:
        assert "output" in different or any(k.startswith("state.") for k in different), (
            f"expected the documented deviation to show: {meta['deviation']}"
        )


# --- graphs ----------------------------------------------------------------------------------


def run_graph(meta: dict[str, Any], arrays: dict[str, np.ndarray], compat: bool) -> dict:
    spec = model_spec(meta["spec"], compat)
    params = {
        key.removeprefix("weights."): value.astype(np.float32) / golden.WEIGHT_SCALE
        for key, value in arrays.items()
        if key.startswith("weights.")
    }
    model = snnspec.compile(spec, params=params)
    names = model.plan.layer_names
    neurons = [i for i, t in enumerate(model.plan.layer_types) if t != "linear"]
    inputs = [jnp.asarray(arrays[f"input.{name}"], jnp.float32) for name in model.plan.input_names]
    model = model.with_outputs(neurons)
    finals, outs = eqx.filter_jit(model)(model.init_state(), inputs, None)
    result = {f"spikes.{names[i]}": np.asarray(out) for i, out in zip(neurons, outs, strict=True)}
    for i in neurons:
        for field, value in finals[i]._asdict().items():
            result[f"final.{names[i]}.{field}"] = np.asarray(value)
    return {key: value for key, value in result.items() if key in arrays}


@pytest.mark.parametrize("path", GRAPH_FILES, ids=lambda p: p.stem)
def test_compat_graph_matches_snnax_stateful_model(path: Path) -> None:
    meta, arrays = load(path)
    got = run_graph(meta, arrays, compat=True)
    assert set(got) == {k for k in arrays if k.startswith(("spikes.", "final."))}
    for key, value in got.items():
        if key.startswith("spikes."):
            assert 0 < arrays[key].mean() < 1, f"{key}: the comparison would be vacuous"
            np.testing.assert_array_equal(value, arrays[key], err_msg=key)
        else:
            np.testing.assert_allclose(value, arrays[key], atol=TOL, rtol=TOL, err_msg=key)


@pytest.mark.parametrize("path", GRAPH_FILES, ids=lambda p: p.stem)
def test_without_compat_the_graph_runs_causal(path: Path) -> None:
    """The documented deviation: snnspec's default timing is causal, SNNAX's pipelined."""
    meta, arrays = load(path)
    got = run_graph(meta, arrays, compat=False)
    assert meta["deviation"].startswith("timing")
    assert any(not np.array_equal(v, arrays[k]) for k, v in got.items() if k.startswith("spikes."))
    explicit = {**meta["spec"], "graph": {**meta["spec"].get("graph", {}), "timing": "pipelined"}}
    again = run_graph({**meta, "spec": explicit}, arrays, compat=False)
    for key, value in again.items():
        np.testing.assert_allclose(value, arrays[key], atol=TOL, rtol=TOL, err_msg=key)


# --- what compat rewrites --------------------------------------------------------------------


def test_compat_keeps_what_the_spec_writes() -> None:
    """An explicit option (here timing, reset, output, stride) is not switched."""
    data = {
        "snnspec": 1,
        "name": "kept",
        "inputs": [{"name": "x", "shape": [2, 4, 4]}],
        "layers": [
            {"name": "p", "type": "spiking_max_pool2d", "kernel_size": 2, "stride": 2},
            {"type": "flatten"},
            {"name": "s", "type": "simple_lif", "decay_constants": [0.9], "reset_val": 0.2,
             "reset": "value"},
            {"name": "c", "type": "spike_counter", "output": "count"},
        ],
        "graph": {"timing": "causal"},
    }  # fmt: skip
    plain, compat = (snnspec.compile(model_spec(data, flag)).plan for flag in (False, True))
    assert plain == compat
    rewritten = snnspec.compile(
        model_spec({**data, "layers": [{**layer, "name": f"l{i}"} for i, layer in enumerate(
            [{"type": "spiking_max_pool2d", "kernel_size": 2}, {"type": "flatten"},
             {"type": "simple_lif", "decay_constants": [0.9], "reset_val": 0.2},
             {"type": "spike_counter"}])], "graph": None}, True)
    ).plan  # fmt: skip
    assert rewritten.timing == "pipelined"
    pool, _, lif, counter = (layer.model_dump() for layer in rewritten.layers)
    assert pool["stride"] == 1
    assert counter["output"] == "spikes"
    assert lif["reset"] == "subtract"
    assert lif["reset_val"] == pytest.approx(np.log1p(np.exp(0.2)))


def test_the_normalised_compat_spec_is_stable() -> None:
    """build/resolve write the switched options and the timing; reading that back gives
    the same spec, with and without the explicit causal timing."""
    for graph in (None, {"timing": "causal"}):
        data = {
            "snnspec": 1,
            "name": "stable",
            "inputs": [{"name": "x", "shape": [4]}],
            "layers": [
                {"type": "lif_soft_reset", "decay_constants": [0.9, 0.8]},
                {"type": "spike_counter"},
            ],
            **({"graph": graph} if graph else {}),
        }
        first = normalized_data(model_spec(data, True))
        assert first["compat"] == "snnax"
        assert first["graph"] == {"timing": "pipelined" if graph is None else "causal"}
        assert first["layers"][0]["reset"] == "subtract"
        assert first["layers"][0]["reset_val"] == 1
        assert normalized_data(snnspec.ModelSpec.model_validate(first)) == first


def test_compat_is_checked() -> None:
    data = {"snnspec": 1, "name": "m", "inputs": [{"name": "x", "shape": [2]}],
            "layers": [{"type": "identity"}], "compat": "snntorch"}  # fmt: skip
    with pytest.raises(Exception, match="snnax"):
        snnspec.ModelSpec.model_validate(data)


def test_the_compat_table_names_every_type_snnax_has() -> None:
    """Registry-driven: docs/extensions.md's one compat table lists each type that follows
    an SNNAX class (and srm, whose SNNAX class cannot run)."""
    text = (ROOT / "docs" / "extensions.md").read_text()
    section = text.split("## `compat: snnax`", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    for name, cls in LAYER_TYPES.items():
        if cls.snnax_class is not None or name == "srm":
            assert any(f"`{name}`" in row for row in rows), f"{name} is not in the compat table"


# --- command line ----------------------------------------------------------------------------

SNNAX_STYLE = """\
snnspec: 1
name: ported
compat: snnax
inputs: [{name: x, shape: [4]}]
layers:
  - {type: linear, out_features: 3}
  - {type: adaptive_lif, decay_constants: [0.9], ada_decay_constant: [0.8],
     ada_step_val: [1.0], ada_coupling_var: [0.5]}
  - {type: simple_lif, decay_constants: [0.9], reset_val: 0.2}
  - {type: sigma_delta, decay_constants: [0.7, 0.4, 0.7]}
"""


def test_cli_builds_an_snnax_style_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The config a user ports from SNNAX validates and builds; the written spec shows the
    switched options, the numbers for ada_*, and builds the same model again."""
    config = tmp_path / "ported.yaml"
    config.write_text(SNNAX_STYLE)
    code, _, err = run_cli("validate", config, capsys=capsys)
    assert (code, err) == (0, "")
    code, _, err = run_cli("build", config, "-o", tmp_path / "out", capsys=capsys)
    assert (code, err) == (0, "")
    written = yaml.safe_load((tmp_path / "out" / "spec.yaml").read_text())
    assert written["compat"] == "snnax"
    assert written["graph"] == {"timing": "pipelined"}
    adaptive, simple = written["layers"][1], written["layers"][2]
    assert adaptive["ada_decay_constant"] == 0.8
    assert simple["reset"] == "subtract"
    assert simple["reset_val"] == pytest.approx(np.log1p(np.exp(0.2)))
    code, _, err = run_cli("build", tmp_path / "out" / "spec.yaml", "-o", tmp_path / "again",
                           capsys=capsys)  # fmt: skip
    assert (code, err) == (0, "")
    assert yaml.safe_load((tmp_path / "again" / "spec.yaml").read_text()) == written


def test_cli_names_the_missing_sigma_delta_decays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "old.yaml"
    config.write_text(SNNAX_STYLE.replace("decay_constants: [0.7, 0.4, 0.7]", "threshold: 1.0"))
    code, _, err = run_cli("validate", config, capsys=capsys)
    assert code == 1
    assert err.startswith(f"{config}:10:5: layers[3]: sigma_delta needs decay_constants")
    assert "[0, 1, 0]" in err


# --- peers: SNNAX itself (optional) ----------------------------------------------------------

SNNAX = importlib.util.find_spec("snnax") is not None
needs_snnax = pytest.mark.skipif(
    not SNNAX, reason="needs SNNAX from source (see benchmarks/peers.py for the set-up)"
)


@needs_snnax
@pytest.mark.filterwarnings("ignore::UserWarning")  # SNNAX uses Equinox's static_field
@pytest.mark.parametrize("case", golden.NEURON_CASES, ids=lambda case: case.name)
def test_peer_snnax_neuron(case: golden.NeuronCase) -> None:
    """SNNAX now computes what its golden holds, and compat: snnax computes the same."""
    live = golden.run_neuron(case)
    meta, arrays = load(DATA / f"neuron-{case.name}.npz")
    assert differences(arrays, {k: v for k, v in live.items() if k not in ("x", "c")}) == []
    assert differences(live, run_neuron(meta, live, compat=True)) == []


@needs_snnax
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", golden.GRAPH_CASES, ids=lambda case: case.name)
def test_peer_snnax_stateful_model(case: golden.GraphCase) -> None:
    live = golden.run_graph(case)
    meta, _ = load(DATA / f"graph-{case.name}.npz")
    got = run_graph(meta, live, compat=True)
    for key, value in got.items():
        np.testing.assert_allclose(value, live[key], atol=TOL, rtol=TOL, err_msg=key)
