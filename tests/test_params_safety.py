"""Params files are untrusted: their structure is checked before any data is read.

The hostile files themselves are in tests/data/hostile/ (run by test_hostile.py); these tests
cover the reader's API: what it accepts, what it checks against a model, and the build
manifest's hashes.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import snnspec
from snnspec import cli
from snnspec._errors import ParamsError, SpecError
from snnspec.graph.plan import plan_graph
from snnspec.graph.resources import MemoryEstimate, estimate, format_bytes, parse_size
from snnspec.model.params import expected_shapes, inspect_arrays, read_params
from snnspec.spec.model import ModelSpec

SPEC = {
    "snnspec": 1,
    "name": "net",
    "inputs": [{"name": "x", "shape": [4]}],
    "layers": [
        {"name": "fc", "type": "linear", "out_features": 3},
        {"name": "lif", "type": "lif", "decay_constants": [0.9, 0.8]},
    ],
}
SHAPES = {"fc.weight": (3, 4), "fc.bias": (3,), "lif.decay_constants": (2,), "lif.threshold": ()}


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def test_expected_shapes_come_from_the_spec_alone() -> None:
    spec = ModelSpec.model_validate(SPEC)
    assert expected_shapes(plan_graph(spec)) == SHAPES


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_valid_files_round_trip(tmp_path: Path, suffix: str) -> None:
    arrays = {"fc.weight": np.arange(12, dtype=np.float32).reshape(3, 4)}
    path = tmp_path / f"w{suffix}"
    if suffix == ".npz":
        _npz(path, **arrays)
    else:
        save_file(arrays, str(path))
    read = read_params(path, SHAPES)
    assert list(read) == ["fc.weight"]
    np.testing.assert_array_equal(read["fc.weight"], arrays["fc.weight"])


def test_compressed_fortran_and_big_endian_npz_are_read(tmp_path: Path) -> None:
    weight = np.asfortranarray(np.arange(12, dtype=">f8").reshape(3, 4))
    path = tmp_path / "w.npz"
    np.savez_compressed(path, **{"fc.weight": weight})  # type: ignore[arg-type]
    read = read_params(path, SHAPES)["fc.weight"]
    assert read.dtype.isnative
    np.testing.assert_array_equal(read, weight)


def test_bfloat16_safetensors(tmp_path: Path) -> None:
    import ml_dtypes

    bias = np.array([1.0, -2.0, 0.5], dtype=ml_dtypes.bfloat16)
    save_file({"fc.bias": bias}, str(tmp_path / "w.safetensors"))
    read = read_params(tmp_path / "w.safetensors", SHAPES)["fc.bias"]
    np.testing.assert_array_equal(read.astype(np.float32), [1.0, -2.0, 0.5])


def test_bfloat16_nan_is_found(tmp_path: Path) -> None:
    import ml_dtypes

    bias = np.array([1.0, np.nan, 0.5], dtype=ml_dtypes.bfloat16)
    save_file({"fc.bias": bias}, str(tmp_path / "w.safetensors"))
    with pytest.raises(ParamsError, match=r"fc\.bias: 1 of 3 values are NaN or infinite"):
        read_params(tmp_path / "w.safetensors", SHAPES)


def test_metadata_and_header_padding_are_accepted(tmp_path: Path) -> None:
    header = json.dumps(
        {
            "__metadata__": {"format": "np"},
            "fc.bias": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
        }
    ).encode()
    header += b" " * (-len(header) % 8)
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + np.ones(3, "<f4").tobytes())
    np.testing.assert_array_equal(read_params(path, SHAPES)["fc.bias"], [1, 1, 1])


def test_without_a_model_every_key_is_accepted_but_the_budget_holds(tmp_path: Path) -> None:
    path = _npz(tmp_path / "w.npz", anything=np.zeros(1000, np.float32))
    assert set(read_params(path)) == {"anything"}
    with pytest.raises(ParamsError, match=r"the arrays need 3\.9 KiB, over the memory budget"):
        read_params(path, limit=1000)


def test_declared_size_is_checked_before_reading(tmp_path: Path) -> None:
    """A header that declares 1 TB of data is refused from its 100 bytes."""
    header = json.dumps(
        {"fc.weight": {"dtype": "F32", "shape": [1 << 19, 1 << 19], "data_offsets": [0, 1 << 40]}}
    ).encode()
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(ParamsError, match=r"truncated: the array ends at byte 1,099,511,627,776"):
        read_params(path)


def test_input_npz_is_inspected_without_loading(tmp_path: Path) -> None:
    path = _npz(tmp_path / "in.npz", x=np.zeros((2, 5, 4), np.int8))
    assert inspect_arrays(path) == {"x": (2, 5, 4)}
    with pytest.raises(ParamsError, match="over the memory budget"):
        inspect_arrays(path, limit=10)


def test_duplicate_npz_members_are_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3, np.float32))
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fc.bias.npy", buffer.getvalue())
        with pytest.warns(UserWarning, match="Duplicate"):
            archive.writestr("fc.bias.npy", buffer.getvalue())
    with pytest.raises(ParamsError, match=r"fc\.bias: duplicate array in the archive"):
        read_params(path, SHAPES)


def test_compile_refuses_nan_weights(tmp_path: Path) -> None:
    save_file({"fc.bias": np.array([0, np.nan, 0], np.float32)}, str(tmp_path / "w.safetensors"))
    spec = ModelSpec.model_validate(SPEC)
    with pytest.raises(SpecError, match=r"fc\.bias: 1 of 3 values are NaN"):
        snnspec.compile(spec, params=tmp_path / "w.safetensors")


def _main(*args: str | Path) -> int:
    argv = sys.argv
    sys.argv = ["snnspec", *map(str, args)]
    try:
        cli.main()
        return 0
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = argv


@pytest.mark.parametrize("tampered", ["spec.yaml", "params.safetensors"])
def test_run_refuses_a_build_whose_hashes_do_not_match(
    tmp_path: Path, tampered: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "net.yaml").write_text(json.dumps(SPEC), encoding="utf-8")
    spec_path = tmp_path / "net.json"
    (tmp_path / "net.yaml").rename(spec_path)
    assert _main("build", spec_path, "-o", tmp_path / "b") == 0
    assert _main("run", tmp_path / "b", "--steps", "2") == 0
    capsys.readouterr()
    target = tmp_path / "b" / tampered
    target.write_bytes(target.read_bytes() + b" ")
    assert _main("run", tmp_path / "b") == 1
    err = capsys.readouterr().err
    assert (
        err
        == f"{target}: sha256 does not match manifest.json; the build was modified, rebuild it\n"
    )


def test_run_checks_the_memory_of_an_input_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "net.json").write_text(json.dumps(SPEC), encoding="utf-8")
    _npz(tmp_path / "in.npz", x=np.zeros((64, 1000, 4), np.float32))
    code = _main(
        "run", tmp_path / "net.json", "--input", tmp_path / "in.npz", "--max-memory", "1MB"
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err == (
        f"{tmp_path / 'in.npz'}: the arrays need 1,000.0 KiB, over the memory budget of "
        "976.6 KiB; raise it with --max-memory\n"
    )


@pytest.mark.parametrize(
    ("text", "size"),
    [("2GiB", 2 << 30), ("500MB", 500_000_000), ("1.5G", 3 << 29), ("1000", 1000), ("8 kb", 8000)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "2XB", "-1GB", "1e9"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(SpecError, match="expected a size such as 2GiB"):
        parse_size(text)


def test_unlimited_and_formatting() -> None:
    assert parse_size("unlimited") is None
    assert format_bytes(1023) == "1023 B"
    assert format_bytes(3 << 30) == "3.0 GiB"


def test_estimate_from_shapes_is_instant_for_absurd_sizes() -> None:
    data = {**SPEC, "inputs": [{"name": "x", "shape": [10**6]}]}
    data["layers"] = [{"name": "fc", "type": "linear", "out_features": 10**6}]
    spec = ModelSpec.model_validate(data)
    result = estimate(spec, plan_graph(spec), batch=10**4, steps=10**9)
    assert isinstance(result, MemoryEstimate)
    assert result.parameters == 4 * (10**12 + 10**6)
    assert result.run > 10**4 * 10**9 * 10**6


# --- every parameter, in the spec's dtype and bounds (SPEC section 4) -------------------------

FULL = {
    "fc.weight": np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4),
    "fc.bias": np.zeros(3, np.float32),
    "lif.decay_constants": np.array([0.9, 0.8], np.float32),
    "lif.threshold": np.array(0.5, np.float32),
}


def _spec_with_params(tmp_path: Path, arrays: dict[str, np.ndarray], extra: str = "") -> Path:
    save_file(arrays, str(tmp_path / "w.safetensors"))
    text = json.dumps({**SPEC, "params": "w.safetensors"})
    path = tmp_path / "net.yaml"  # JSON is YAML
    path.write_text(text[:-1] + extra + "}", encoding="utf-8")
    return path


def _without(key: str) -> dict[str, np.ndarray]:
    return {k: v for k, v in FULL.items() if k != key}


def test_a_missing_key_is_an_error_for_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: validate, build and run used to keep fc.weight's random values silently."""
    spec = _spec_with_params(tmp_path, _without("fc.weight"))
    message = (
        f"{tmp_path / 'w.safetensors'}: missing parameter fc.weight: a params file gives every "
        "parameter of the model; to keep the missing ones at their seeded initial values on "
        "purpose, set `params_partial: true` in the spec or pass --partial-params\n"
    )
    for command in (
        ("validate", spec),
        ("build", spec, "-o", tmp_path / "b"),
        ("run", spec, "--steps", "2"),
        ("export", spec, "--python", "-o", tmp_path / "m.py"),
        ("nir", "export", spec, "-o", tmp_path / "m.nir"),
    ):
        assert _main(*command) == 1, command
        assert capsys.readouterr().err == message, command
    assert not (tmp_path / "b").exists()
    assert not (tmp_path / "m.py").exists()


@pytest.mark.parametrize("how", ["spec", "flag"])
def test_a_partial_load_is_an_explicit_choice_and_lists_what_it_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    extra = ', "params_partial": true' if how == "spec" else ""
    spec = _spec_with_params(tmp_path, _without("fc.weight"), extra)
    flag = ["--partial-params"] if how == "flag" else []
    note = "note: partial params: 1 parameter keeps its seeded initial value: fc.weight\n"
    assert _main("validate", "-q", spec, *flag) == 0
    assert capsys.readouterr().err == note
    assert _main("build", spec, "-o", tmp_path / "b", *flag) == 0
    assert capsys.readouterr().err == note
    assert _main("run", spec, "--steps", "2", *flag) == 0
    assert capsys.readouterr().err == note
    # The build folder holds every array (fc.weight at its seeded value) and says it is whole.
    built = read_params(tmp_path / "b" / "params.safetensors")
    seeded = snnspec.parameter_arrays(snnspec.compile(ModelSpec.model_validate(SPEC)))
    np.testing.assert_array_equal(built["fc.weight"], seeded["fc.weight"])
    np.testing.assert_array_equal(built["fc.bias"], FULL["fc.bias"])
    assert "params_partial: false" in (tmp_path / "b" / "spec.yaml").read_text()
    assert _main("run", tmp_path / "b", "--steps", "2") == 0


def test_partial_params_without_a_params_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "net.json").write_text(json.dumps(SPEC), encoding="utf-8")
    for command in ("validate", "run"):
        assert _main(command, tmp_path / "net.json", "--partial-params") == 2
        words = " ".join(capsys.readouterr().err.replace("│", " ").split())
        assert "Invalid value for --partial-params: the spec names no params file" in words
    assert _main("build", tmp_path / "net.json", "-o", tmp_path / "b") == 0
    assert _main("run", tmp_path / "b", "--partial-params") == 2
    assert "--partial-params" in capsys.readouterr().err


def test_a_value_outside_the_spec_bounds_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: a decay constant of 0.3 (the spec refuses 0.3) was accepted from a file."""
    spec = _spec_with_params(
        tmp_path, {**FULL, "lif.decay_constants": np.array([0.9, 0.3], np.float32)}
    )
    assert _main("run", spec, "--steps", "2") == 1
    assert capsys.readouterr().err == (
        f"{tmp_path / 'w.safetensors'}: lif.decay_constants: value 0.3 at index [1] is outside "
        "the spec's bounds: decay constant 0.3 is outside [0.5, 1] (SNNAX's equations clamp to "
        "this range)\n"
    )


def test_an_array_in_another_dtype_is_an_error_not_a_cast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: float64 arrays were cast to the spec's float32 without a word."""
    arrays = {**FULL, "fc.bias": FULL["fc.bias"].astype(np.float64)}
    spec = _spec_with_params(tmp_path, arrays)
    assert _main("validate", spec) == 1
    assert capsys.readouterr().err == (
        f"{tmp_path / 'w.safetensors'}: fc.bias: dtype float64 differs from the spec's dtype "
        "float32; store the array as float32 (arrays are never cast silently) or change the "
        "spec's dtype\n"
    )
    spec = _spec_with_params(
        tmp_path, arrays | {"fc.bias": FULL["fc.bias"]}, ', "dtype": "float64"'
    )
    assert _main("validate", "-q", spec) == 1
    assert "dtype float32 differs from the spec's dtype float64" in capsys.readouterr().err


def _bounded_cases() -> list[tuple[str, str]]:
    """(layer type, params-file field) for every registered field that is also a spec field."""
    from snnspec.spec.registry import LAYER_TYPES

    cases = []
    for name, cls in LAYER_TYPES.items():
        layer = cls.model_validate(cls.example)
        for key in layer.parameter_shapes(cls.example_input_shape):
            if key in cls.model_fields:
                cases.append((name, key))
    return cases


@pytest.mark.parametrize(("type_name", "key"), _bounded_cases())
def test_a_params_value_is_accepted_exactly_when_the_spec_accepts_it(
    type_name: str, key: str, tmp_path: Path
) -> None:
    """Catalogue-driven: the file's bounds are the spec field's own, for every layer type."""
    from pydantic import ValidationError

    from snnspec.model.params import read_model_params
    from snnspec.spec.registry import LAYER_TYPES

    cls = LAYER_TYPES[type_name]
    example = {**cls.example, "name": "n"}
    spec = ModelSpec.model_validate(
        {
            "snnspec": 1,
            "name": "bounds",
            "inputs": [{"name": "x", "shape": list(cls.example_input_shape)}],
            "layers": [example],
        }
    )
    plan = plan_graph(spec)
    shape = expected_shapes(plan)[f"n.{key}"]
    current = getattr(spec.layers[0], key)
    for candidate in (-2.0, -0.5, 0.0, 0.25, 0.75, 1.5, 3.0):
        value = tuple(candidate for _ in current) if isinstance(current, tuple) else candidate
        try:
            cls.model_validate({**example, key: value})
            spec_accepts = True
        except ValidationError:
            spec_accepts = False
        path = tmp_path / "w.safetensors"
        save_file({f"n.{key}": np.full(shape, candidate, np.float32)}, str(path))
        if spec_accepts:
            read_model_params(plan, [(path, "w.safetensors")], "float32", partial=True)
        else:
            with pytest.raises(ParamsError, match=rf"n\.{key}: value {candidate}"):
                read_model_params(plan, [(path, "w.safetensors")], "float32", partial=True)


def test_some_registered_fields_are_bounded() -> None:
    """The catalogue test above is not vacuous: bounded fields exist and are among its cases."""
    cases = set(_bounded_cases())
    assert {("lif", "decay_constants"), ("adaptive_lif", "ada_step_val"), ("nir_lif", "tau")} <= (
        cases
    )


def test_export_commands_take_partial_params_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec_with_params(tmp_path, _without("fc.bias"))
    note = "note: partial params: 1 parameter keeps its seeded initial value: fc.bias\n"
    assert _main("export", spec, "--python", "-o", tmp_path / "m.py", "--partial-params") == 0
    assert capsys.readouterr().err == note
    assert set(read_params(tmp_path / "m.safetensors")) == set(FULL)  # the module's: complete
    assert _main("nir", "export", spec, "-o", tmp_path / "m.nir", "--partial-params") == 0
    assert capsys.readouterr().err == note
    assert (tmp_path / "m.nir").is_file()


def test_validate_checks_bounds_and_completeness_without_jax(tmp_path: Path) -> None:
    import subprocess

    spec = _spec_with_params(
        tmp_path, {**FULL, "lif.decay_constants": np.array([0.9, 0.3], np.float32)}
    )
    code = (
        "import sys\n"
        "from snnspec.cli import main\n"
        f"sys.argv = ['snnspec', 'validate', {str(spec)!r}]\n"
        "try:\n    main()\n"
        "except SystemExit as stop:\n    assert stop.code == 1, stop.code\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'equinox')]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "lif.decay_constants: value 0.3 at index [1] is outside" in result.stderr
