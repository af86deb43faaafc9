"""Time constants in seconds (``tau_mem``, ``tau_syn``, ``tau_adaptation``) in place of decays.

Registry-driven: every neuron type declaring ``time_constants`` builds, from its time
constants, exactly the model (bitwise) that the decays exp(-dt/τ) written out build. The
normalised spec records both and reloads to the same model.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pydantic
import pytest
from helpers import run_cli

import snnspec
from snnspec.graph.plan import plan_graph
from snnspec.interop.python import export_python
from snnspec.spec.dump import normalized_data
from snnspec.spec.layers.neurons import AbstractParametricNeuronSpec, LIFSpec
from snnspec.spec.registry import LAYER_TYPES

DT = 2e-3
STEPS, BATCH = 30, 2

TAU_TYPES = sorted(
    name
    for name, cls in LAYER_TYPES.items()
    if issubclass(cls, AbstractParametricNeuronSpec) and cls.time_constants
)
NO_TIME_CONSTANTS = {"sigma_delta"}
"""Types with decay constants but no time constants: sigma_delta's codec decays 0 and 1 are
no finite time constant (its docstring says so)."""


def test_every_decay_of_the_snnax_neurons_has_its_time_constants() -> None:
    """Registry: each type with decay_constants (sigma_delta aside) gives every entry by a
    time constant, each time constant is an optional field, and a decay field that time
    constants give defaults to None (it is given either way)."""
    assert {"simple_lif", "lif", "lif_soft_reset", "simple_li", "lsnn"} <= set(TAU_TYPES)
    for name, cls in LAYER_TYPES.items():
        if not issubclass(cls, AbstractParametricNeuronSpec):
            continue
        if "decay_constants" in cls.parameter_names and name not in NO_TIME_CONSTANTS:
            by_decay = cls.time_constants_by_decay()
            indices = sorted(by_decay["decay_constants"].values(), key=str)
            assert indices == list(range(cls.num_decay_constants)), name  # type: ignore[attr-defined]
        for tau, (field, _) in cls.time_constants.items():
            assert cls.model_fields[tau].default is None, (name, tau)
            assert cls.model_fields[field].default is None, (name, field)
            assert field in cls.parameter_names, (name, field)


def as_time_constants(type_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The type's example with its decays replaced by time constants, and the same example
    with the decays exp(-dt/τ) of those time constants written out."""
    cls: Any = LAYER_TYPES[type_name]
    with_taus = dict(cls.example)
    with_decays = dict(cls.example)
    for tau, (field, index) in cls.time_constants.items():
        with_taus.pop(field, None)
        written = cls.example[field]
        seconds = -DT / math.log(written if index is None else written[index])
        with_taus[tau] = seconds
        decay = math.exp(-DT / seconds)
        if index is None:
            with_decays[field] = decay
        else:
            values = list(with_decays[field])
            values[index] = decay
            with_decays[field] = values
    return with_taus, with_decays


def all_types_spec(layers: list[dict[str, Any]], dtype: str) -> snnspec.ModelSpec:
    """Every layer reads its own input (its example's shape); every output is returned."""
    return snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "time-constants",
            "dtype": dtype,
            "dt": DT,
            "inputs": [
                {"name": f"x{k}", "shape": list(LAYER_TYPES[layer["type"]].example_input_shape)}
                for k, layer in enumerate(layers)
            ],
            "layers": [
                {**layer, "name": f"n{k}", "inputs": [f"x{k}"]} for k, layer in enumerate(layers)
            ],
            "outputs": [f"n{k}" for k in range(len(layers))],
        }
    )


@functools.cache
def both_runs(dtype: str) -> tuple[list[Any], list[Any]]:
    """(parameters, final states, outputs) of the time-constant and the decay models."""
    variants = [as_time_constants(name) for name in TAU_TYPES]
    rng = np.random.default_rng(7)
    xs = [
        jnp.asarray(
            rng.normal(0.4, 1.5, (BATCH, STEPS, *LAYER_TYPES[name].example_input_shape)), dtype
        )
        for name in TAU_TYPES
    ]
    runs = []
    for which in (0, 1):
        model = snnspec.compile(all_types_spec([v[which] for v in variants], dtype))
        outputs = [np.asarray(y) for y in snnspec.simulate(model, xs)]
        finals, _ = eqx.filter_jit(model)(model.init_state(), [x[0] for x in xs], None)
        runs.append((snnspec.parameter_arrays(model), finals, outputs))
    return runs[0], runs[1]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("type_name", TAU_TYPES)
def test_time_constants_build_the_model_of_their_decays_bitwise(
    type_name: str, dtype: str, x64: None
) -> None:
    (params_t, finals_t, outputs_t), (params_d, finals_d, outputs_d) = both_runs(dtype)
    k = TAU_TYPES.index(type_name)
    prefix = f"n{k}."
    chosen = {key: value for key, value in params_t.items() if key.startswith(prefix)}
    assert set(chosen) == {prefix + name for name in LAYER_TYPES[type_name].parameter_names}  # type: ignore[attr-defined]
    for key, value in chosen.items():
        assert value.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(value, params_d[key], strict=True, err_msg=key)
    np.testing.assert_array_equal(outputs_t[k], outputs_d[k], strict=True)
    assert np.any(outputs_t[k] != 0), "a silent output would make the comparison vacuous"
    for leaf_t, leaf_d in zip(
        jax.tree.leaves(finals_t[k]), jax.tree.leaves(finals_d[k]), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(leaf_t), np.asarray(leaf_d), strict=True)


def test_the_decay_is_exp_of_minus_dt_over_tau() -> None:
    spec = snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "m",
            "dt": 1e-3,
            "inputs": [{"name": "x", "shape": [3]}],
            "layers": [
                {"type": "lif", "tau_mem": 0.02, "tau_syn": 0.005},
                {"type": "lsnn", "tau_mem": 0.01, "tau_adaptation": 0.5},
            ],
        }
    )
    lif, lsnn = plan_graph(spec).layers
    assert lif.decay_constants == (math.exp(-0.001 / 0.02), math.exp(-0.001 / 0.005))  # type: ignore[attr-defined]
    assert lsnn.decay_constants == (math.exp(-0.001 / 0.01),)  # type: ignore[attr-defined]
    assert lsnn.adaptation_decay == math.exp(-0.001 / 0.5)  # type: ignore[attr-defined]
    assert spec.layers[0].decay_constants is None  # type: ignore[union-attr]  # the spec as written


def test_a_layer_spec_built_without_dt_says_how() -> None:
    layer = LIFSpec(tau_mem=0.02, tau_syn=0.005)
    with pytest.raises(snnspec.SpecError, match=r"need the spec's dt.*with_time_step"):
        layer.build((3,), "float32", jax.random.PRNGKey(0))
    derived = layer.with_time_step(1e-3)
    assert isinstance(derived, LIFSpec)
    assert derived.decay_constants == (math.exp(-1 / 20), math.exp(-1 / 5))
    assert derived.with_time_step(1e-3) == derived  # both given, and equal: accepted


LSNN_DECAYS = {"type": "lsnn", "decay_constants": [0.9]}


@pytest.mark.parametrize(
    ("layer", "path", "message"),
    [
        (
            {**LSNN_DECAYS, "tau_adaptation": 1e-3},
            "tau_adaptation",
            r"tau_adaptation = 0\.001 s with dt = 0\.002 s gives the decay exp\(-dt/"
            r"tau_adaptation\) = 0\.135335, which breaks the rule of adaptation_decay: .*0\.5",
        ),
        (
            {"type": "iaf", "tau_syn": 1e-3},
            "tau_syn",
            r"decay exp\(-dt/tau_syn\) = 0\.135335, which breaks the rule of decay_constants",
        ),
        (
            {**LSNN_DECAYS, "adaptation_decay": 0.9, "tau_adaptation": 1.0},
            "tau_adaptation",
            r"give either adaptation_decay or tau_adaptation, not both: adaptation_decay is 0\.9",
        ),
    ],
)
def test_time_constant_errors_name_the_time_constant(
    layer: dict[str, Any], path: str, message: str
) -> None:
    spec = all_types_spec([layer], "float32")
    with pytest.raises(snnspec.SpecError, match=message) as caught:
        plan_graph(spec)
    assert caught.value.path == ("layers", 0, path)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"type": "lif", "tau_mem": 0.0, "tau_syn": 0.005}, "greater than 0"),
        ({"type": "simple_lif", "tau_syn": 0.005}, "tau_syn"),  # simple_lif has no current
        ({"type": "sigma_delta", "decay_constants": [0.7, 0.4, 0.7], "tau_mem": 0.02}, "tau_mem"),
        ({"type": "srm", "tau_syn": 0.005}, "tau_syn without tau_mem"),
    ],
)
def test_invalid_time_constants_are_rejected(layer: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        all_types_spec([layer], "float32")


# --- the normalised spec ---------------------------------------------------------------------

TAU_SPEC = """\
snnspec: 1
name: taus
dt: 1.0e-3
time: {steps: 6}
inputs: [{name: spikes, shape: [5]}]
layers:
  - {name: fc, type: linear, out_features: 4}
  - {name: lif1, type: lif, tau_mem: 2.0e-2, tau_syn: 5.0e-3, threshold: 0.1}
  - {name: alif, type: lsnn, tau_mem: 1.0e-2, tau_adaptation: 0.2, threshold: 0.1}
"""


def test_resolve_records_time_constants_and_decays_and_reloads_to_the_same_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "taus.yaml"
    source.write_text(TAU_SPEC, encoding="utf-8")
    code, _, err = run_cli("resolve", source, "-o", tmp_path / "resolved.yaml", capsys=capsys)
    assert (code, err) == (0, "")
    resolved = snnspec.load(tmp_path / "resolved.yaml")
    lif, alif = (layer.model_dump() for layer in resolved.layers[1:])
    assert (lif["tau_mem"], lif["tau_syn"]) == (0.02, 0.005)
    assert lif["decay_constants"] == (math.exp(-1 / 20), math.exp(-1 / 5))
    assert (alif["tau_mem"], alif["tau_adaptation"]) == (0.01, 0.2)
    assert alif["decay_constants"] == (math.exp(-1 / 10),)
    assert alif["adaptation_decay"] == math.exp(-1 / 200)
    original = snnspec.load(source)
    assert normalized_data(resolved) == normalized_data(original)
    first, again = snnspec.compile(original), snnspec.compile(resolved)
    for key, value in snnspec.parameter_arrays(first).items():
        np.testing.assert_array_equal(snnspec.parameter_arrays(again)[key], value, strict=True)


def test_a_built_folder_with_time_constants_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``build`` writes the resolved spec (both recorded); ``run`` reloads it without the
    "both given" error."""
    source = tmp_path / "taus.yaml"
    source.write_text(TAU_SPEC, encoding="utf-8")
    code, _, err = run_cli("build", source, "-o", tmp_path / "built", capsys=capsys)
    assert (code, err) == (0, "")
    code, out, err = run_cli("run", tmp_path / "built", "--batch", "2", capsys=capsys)
    assert code == 0, err
    assert "alif" in out


def test_a_resolved_spec_under_another_dt_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "taus.yaml"
    source.write_text(TAU_SPEC, encoding="utf-8")
    run_cli("resolve", source, "-o", tmp_path / "resolved.yaml", capsys=capsys)
    code, _, err = run_cli(
        "validate", tmp_path / "resolved.yaml", "--set", "dt=0.002", capsys=capsys
    )
    assert code == 1
    assert "layers[1].tau_mem: give either decay_constants or tau_mem and tau_syn, not both" in err
    code, _, err = run_cli("validate", source, "--set", "dt=0.002", capsys=capsys)
    assert (code, err) == (0, "")  # the time constants alone follow the new dt


def test_python_export_keeps_the_time_constants(tmp_path: Path) -> None:
    """``export --python`` writes the spec as written (the time constants), and its
    ``build()`` is the same model."""
    source = tmp_path / "taus.yaml"
    source.write_text(TAU_SPEC, encoding="utf-8")
    spec = snnspec.load(source)
    export_python(spec, tmp_path / "net.py")
    text = (tmp_path / "net.py").read_text(encoding="utf-8")
    assert "tau_adaptation=0.2" in text
    assert "decay_constants" not in text
    namespace: dict[str, Any] = {}
    exec(compile(text, "net.py", "exec"), namespace)  # the generated module, as a user runs it
    built = namespace["build"]()
    for key, value in snnspec.parameter_arrays(snnspec.compile(spec)).items():
        np.testing.assert_array_equal(snnspec.parameter_arrays(built)[key], value, strict=True)


def test_nir_export_under_the_exact_rule_gives_the_time_constant_back(x64: None) -> None:
    pytest.importorskip("nir")
    from nir import LIF

    spec = snnspec.ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "m",
            "dtype": "float64",
            "dt": 1e-3,
            "inputs": [{"name": "x", "shape": [3]}],
            "layers": [{"type": "simple_lif", "tau_mem": 0.02, "threshold": 0.5}],
        }
    )
    graph = snnspec.to_nir(spec, discretization="exact")
    node = graph.nodes["simple_lif_0"]
    assert isinstance(node, LIF)
    np.testing.assert_allclose(node.tau, 0.02, rtol=1e-12)
