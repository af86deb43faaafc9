"""The loader: YAML / TOML / JSON text -> plain data + positions, and every rejection."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from snnspec._errors import LoadError, SchemaError
from snnspec.spec import loader as loader
from snnspec.spec.loader import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_SPEC_BYTES,
    Document,
    Format,
    format_for,
    load_document,
    parse_document,
)

SPECS: dict[Format, str] = {
    "yaml": """\
snnspec: 1
name: shd-recurrent
dt: 1.0e-3
time: {steps: 100, burnin: 0}
inputs:
  - {name: spikes, shape: [700]}
layers:
  - {name: fc1, type: linear, out_features: 256}
  - name: lif1
    type: lif
    decay_constants: [0.95, 0.9]
""",
    "toml": """\
snnspec = 1
name = "shd-recurrent"
dt = 1.0e-3
time = {steps = 100, burnin = 0}
inputs = [{name = "spikes", shape = [700]}]

[[layers]]
name = "fc1"
type = "linear"
out_features = 256

[[layers]]
name = "lif1"
type = "lif"
decay_constants = [0.95, 0.9]
""",
    "json": """\
{
  "snnspec": 1,
  "name": "shd-recurrent",
  "dt": 1.0e-3,
  "time": {"steps": 100, "burnin": 0},
  "inputs": [{"name": "spikes", "shape": [700]}],
  "layers": [
    {"name": "fc1", "type": "linear", "out_features": 256},
    {"name": "lif1", "type": "lif",
     "decay_constants": [0.95, 0.9]}
  ]
}
""",
}
EXPECTED = {
    "snnspec": 1,
    "name": "shd-recurrent",
    "dt": 0.001,
    "time": {"steps": 100, "burnin": 0},
    "inputs": [{"name": "spikes", "shape": [700]}],
    "layers": [
        {"name": "fc1", "type": "linear", "out_features": 256},
        {"name": "lif1", "type": "lif", "decay_constants": [0.95, 0.9]},
    ],
}


def load_error(text: str | bytes, fmt: Format = "yaml") -> str:
    """The one-line message of the LoadError that parsing `text` raises."""
    with pytest.raises(LoadError) as caught:
        parse_document(text, fmt, f"spec.{fmt}")
    return str(caught.value)


def yaml_value(text: str) -> Any:
    return parse_document(f"v: {text}\n", "yaml").data["v"]


# --- data and positions ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "toml", "json"])
def test_every_format_gives_the_same_data(tmp_path: Path, fmt: Format) -> None:
    path = tmp_path / f"spec.{fmt}"
    path.write_text(SPECS[fmt], encoding="utf-8")
    document = load_document(path)
    assert document.data == EXPECTED
    assert (document.source, document.format) == (str(path), fmt)
    assert isinstance(document.positions, MappingProxyType)


@pytest.mark.parametrize(
    ("fmt", "path", "position"),
    [
        ("yaml", (), (1, 1)),
        ("yaml", ("name",), (2, 1)),
        ("yaml", ("time", "burnin"), (4, 20)),
        ("yaml", ("inputs", 0, "shape", 0), (6, 28)),
        ("yaml", ("layers", 0, "out_features"), (8, 31)),
        ("yaml", ("layers", 1), (9, 5)),
        ("yaml", ("layers", 1, "decay_constants"), (11, 5)),
        ("yaml", ("layers", 1, "decay_constants", 1), (11, 29)),
        ("toml", (), (1, 1)),
        ("toml", ("name",), (2, 1)),
        ("toml", ("time", "burnin"), (4, 22)),
        ("toml", ("inputs", 0, "shape", 0), (5, 38)),
        ("toml", ("layers",), (7, 3)),
        ("toml", ("layers", 0, "out_features"), (10, 1)),
        ("toml", ("layers", 1), (12, 1)),
        ("toml", ("layers", 1, "decay_constants"), (15, 1)),
        ("toml", ("layers", 1, "decay_constants", 1), (15, 26)),
        ("json", (), (1, 1)),
        ("json", ("name",), (3, 3)),
        ("json", ("time", "burnin"), (5, 26)),
        ("json", ("inputs", 0, "shape", 0), (6, 43)),
        ("json", ("layers", 0, "out_features"), (8, 39)),
        ("json", ("layers", 1), (9, 5)),
        ("json", ("layers", 1, "decay_constants"), (10, 6)),
        ("json", ("layers", 1, "decay_constants", 1), (10, 32)),
    ],
)
def test_positions(fmt: Format, path: tuple[str | int, ...], position: tuple[int, int]) -> None:
    document = parse_document(SPECS[fmt], fmt, f"spec.{fmt}")
    assert document.positions[path] == position
    assert document.locate(path) == position


def test_toml_positions_of_nested_tables_and_inline_values() -> None:
    text = """\
a = [
  1, # "]" in a comment
  {x = "]", 'y.z' = [2]},
]
[[layers]]
name = "x"
[layers.params]
w = '''
["
'''
[[layers.extra]]
k.m = 1
[[layers]]
  name = 'y'
"""
    positions = parse_document(text, "toml").positions
    assert {path: positions[path] for path in positions if path[:1] == ("a",)} == {
        ("a",): (1, 1),
        ("a", 0): (2, 3),
        ("a", 1): (3, 3),
        ("a", 1, "x"): (3, 4),
        ("a", 1, "y.z"): (3, 13),
        ("a", 1, "y.z", 0): (3, 22),
    }
    assert positions[("layers", 0, "params", "w")] == (8, 1)
    assert positions[("layers", 0, "extra", 0)] == (11, 1)
    assert positions[("layers", 0, "extra", 0, "k", "m")] == (12, 3)
    assert positions[("layers", 1, "name")] == (14, 3)


def test_locate_falls_back_to_the_nearest_ancestor() -> None:
    document = parse_document(SPECS["yaml"], "yaml", "spec.yaml")
    assert document.locate(("layers", 1, "decay_constants", 7, "x")) == (11, 5)
    assert document.locate(["nothing", "here"]) == (1, 1)
    assert Document("s.yaml", "yaml", {}, {}).locate(("a",)) == (None, None)


def test_error_builds_a_located_error_of_the_given_kind() -> None:
    document = parse_document(SPECS["yaml"], "yaml", "spec.yaml")
    error = document.error(("layers", 1, "decay_constants"), "bad value", SchemaError)
    assert isinstance(error, SchemaError)
    assert str(error) == "spec.yaml:11:5: layers[1].decay_constants: bad value"
    assert str(document.error(("extra",), "unknown key")) == "spec.yaml:1:1: extra: unknown key"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("m.yaml", "yaml"),
        ("m.yml", "yaml"),
        ("a/m.YAML", "yaml"),
        ("m.toml", "toml"),
        ("m.json", "json"),
    ],
)
def test_format_for(name: str, fmt: Format) -> None:
    assert format_for(Path(name)) == fmt


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "m.txt",
            "m.txt: unsupported file suffix '.txt': name the file *.yaml, *.yml, *.toml or *.json",
        ),
        ("model", "model: no file suffix: name the file *.yaml, *.yml, *.toml or *.json"),
    ],
)
def test_format_for_rejects_other_suffixes(name: str, message: str) -> None:
    with pytest.raises(LoadError) as caught:
        format_for(name)
    assert str(caught.value) == message


# --- reading ----------------------------------------------------------------------------


def read_error(path: Path | str) -> str:
    with pytest.raises(LoadError) as caught:
        load_document(path)
    return str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    assert read_error(path) == f"{path}: file not found: check the path"


def test_directory(tmp_path: Path) -> None:
    path = tmp_path / "dir.yaml"
    path.mkdir()
    assert read_error(path) == (
        f"{path}: is a folder, not a spec file: give the spec files in it (e.g. {path}/*.yaml)"
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    assert read_error(path) == (
        f"{path}: not a regular file (it is a named pipe): give the path of a spec file"
    )


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_device_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    assert read_error(link) == (
        f"{link}: not a regular file (it is a character device): give the path of a spec file"
    )


TOO_LARGE = (
    "the limit is 1048576 bytes): specs and manifests hold no weights or data; keep those in "
    "separate files"
)


def test_file_too_large_by_its_size(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as file:
        file.truncate(MAX_SPEC_BYTES + 1)  # sparse: nothing is written
    assert read_error(path) == f"{path}: file is too large (1048577 bytes; {TOO_LARGE}"


def test_file_too_large_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose size grows after the stat (or is misreported) is still capped."""
    path = tmp_path / "grows.yaml"
    path.write_bytes(b"#" * (MAX_SPEC_BYTES + 10))
    real_stat = os.stat

    def shrunk_stat(target: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        info = real_stat(target, *args, **kwargs)
        if os.fspath(target) != str(path):
            return info
        return os.stat_result((*info[:6], 0, *info[7:]))

    monkeypatch.setattr(os, "stat", shrunk_stat)
    assert read_error(path) == f"{path}: file is too large (more than 1048576 bytes; {TOO_LARGE}"


def test_text_too_large() -> None:
    text = "#" * (MAX_SPEC_BYTES - 1) + "é"  # fits in characters, one byte too many
    assert load_error(text) == f"spec.yaml: file is too large (1048577 bytes; {TOO_LARGE}"
    assert load_error("#" * (MAX_SPEC_BYTES + 1)) == (
        f"spec.yaml: file is too large (more than 1048576 bytes; {TOO_LARGE}"
    )


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert load_document(path).data == {"a": 1}
    assert parse_document("\ufeffa: 1", "yaml").data == {"a": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            b"a: 1\nb: \xc3\xa9\xff",
            "spec.yaml:2:5: invalid UTF-8 (byte 0xFF): save the file as UTF-8",
        ),
        (b"\xef\xbb\xbf\xfe", "spec.yaml:1:1: invalid UTF-8 (byte 0xFE): save the file as UTF-8"),
        (
            "a: 1\nb: x\x00",
            "spec.yaml:2:5: NUL byte found: this is a binary file, not a text spec",
        ),
        ("a: 1\n  b: \x1b[0m", "spec.yaml:2:6: control character U+001B found: remove it"),
        (
            "a: \x85\x86",
            "spec.yaml:1:5: character U+0086 is not allowed in YAML: remove it, "
            "or write it as an escape in a double-quoted string",
        ),
        (
            "a: \ud800",
            "spec.yaml:1:4: invalid character U+D800 (a lone surrogate): remove it",
        ),
    ],
)
def test_bad_characters(text: str | bytes, message: str) -> None:
    assert load_error(text) == message


# --- YAML -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-3", 0.001),
        ("1.0e-3", 0.001),
        (".5", 0.5),
        ("-1.", -1.0),
        ("+1", 1),
        ("-17", -17),
        ("0", 0),
        ("0o17", 15),
        ("0x1F", 31),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("~", None),
        ("null", None),
        ("NULL", None),
        ("", None),
        ("true", True),
        ("True", True),
        ("FALSE", False),
        ("12:30", "12:30"),
        ("2001-12-14", "2001-12-14"),
        ("1_000", "1_000"),
        ("0b101", "0b101"),
        ("yess", "yess"),
        ("'010'", "010"),
        ('"off"', "off"),
        ("'1e-3'", "1e-3"),
        ("'null'", "null"),
        ("!!str 010", "010"),
        ("!!str", ""),
        ("! 12", "12"),
        ("!!int '12'", 12),
        ("!!float 1", 1.0),
        ("!!null ''", None),
        ("!!bool 'true'", True),
        ("|\n  yes\n", "yes\n"),
    ],
)
def test_yaml_scalars_follow_the_core_schema(text: str, value: Any) -> None:
    result = yaml_value(text)
    assert (type(result), result) == (type(value), value)


def test_yaml_nan() -> None:
    assert math.isnan(yaml_value(".NaN"))


def test_yaml_aliases_are_expanded_as_copies() -> None:
    data = parse_document("a: &x {b: [1, 2]}\nc: *x\n", "yaml").data
    assert data == {"a": {"b": [1, 2]}, "c": {"b": [1, 2]}}
    assert data["c"] is not data["a"]


AMBIGUOUS_INT = (
    "(octal in YAML 1.1, decimal in YAML 1.2): remove the leading zeros, "
    "use the 0o prefix for octal, or quote it for a string"
)
CORE_TAGS = (
    "only the core tags !!str, !!int, !!float, !!bool, !!null, !!seq and !!map are allowed; "
    "remove the tag"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        *(
            (
                f"a: {word}",
                f"spec.yaml:1:4: a: ambiguous YAML 1.1 boolean '{word}': "
                "write true or false (or quote it for a string)",
            )
            for word in ["off", "On", "YES", "no", "yEs", "NO"]
        ),
        (
            "a: [1, 010]",
            f"spec.yaml:1:8: a[1]: ambiguous integer '010' {AMBIGUOUS_INT}",
        ),
        ("a: -010", f"spec.yaml:1:4: a: ambiguous integer '-010' {AMBIGUOUS_INT}"),
        ("a: 09", f"spec.yaml:1:4: a: ambiguous integer '09' {AMBIGUOUS_INT}"),
        (
            "a: " + "9" * 31,
            "spec.yaml:1:4: a: integer too large (31 digits; the limit is 30): "
            "write it as a float or quote it",
        ),
        (
            "a: 0x" + "F" * 31,
            "spec.yaml:1:4: a: integer too large (31 digits; the limit is 30): "
            "write it as a float or quote it",
        ),
        (
            "a: 1e999",
            "spec.yaml:1:4: a: number too large: '1e999' is beyond the float range: "
            "write a smaller number",
        ),
        (
            "a: !!python/object/apply:os.system [ls]",
            "spec.yaml:1:4: a: unsupported YAML tag '!!python/object/apply:os.system': "
            + CORE_TAGS,
        ),
        ("a: !custom 1", f"spec.yaml:1:4: a: unsupported YAML tag '!custom': {CORE_TAGS}"),
        ("a: !!binary aGk=", f"spec.yaml:1:4: a: unsupported YAML tag '!!binary': {CORE_TAGS}"),
        (
            "%TAG !! tag:evil.com,2000:\n---\na: !!str x",
            f"spec.yaml:3:4: a: unsupported YAML tag 'tag:evil.com,2000:str': {CORE_TAGS}",
        ),
        ("a: !!seq x", "spec.yaml:1:4: a: tag !!seq cannot be used on a scalar: remove the tag"),
        ("a: !!map [1]", "spec.yaml:1:4: a: tag !!map cannot be used on a list: remove the tag"),
        ("a: !!int 1.5", "spec.yaml:1:4: a: '1.5' is not a valid !!int"),
        ("a: !!null x", "spec.yaml:1:4: a: 'x' is not a valid !!null"),
        (
            "a: 1\n---\nb: 2\n",
            "spec.yaml:2:1: a second YAML document starts at line 2: "
            "a spec file holds exactly one document",
        ),
        ("", "spec.yaml: empty file: expected a spec document"),
        ("# nothing\n\n", "spec.yaml: empty file: expected a spec document"),
        (
            "a:\n  b: 1\n  c: 2\n  b: 3\n",
            "spec.yaml:4:3: a.b: duplicate key 'b' (first defined at line 2)",
        ),
        ("a: 1\n'a': 2\n", "spec.yaml:2:1: a: duplicate key 'a' (first defined at line 1)"),
        (
            "x: &k a\n*k : 1\na: 2\n",
            "spec.yaml:3:1: a: duplicate key 'a' (first defined at line 2)",
        ),
        (
            "a:\n  1: x\n",
            "spec.yaml:2:3: a: mapping key 1 is not a string (it reads as an integer): quote it",
        ),
        (
            "true: x",
            "spec.yaml:1:1: mapping key True is not a string (it reads as a boolean): quote it",
        ),
        ("~: x", "spec.yaml:1:1: mapping key None is not a string (it reads as null): quote it"),
        (
            "? [a, b]\n: x\n",
            "spec.yaml:1:3: a list cannot be a mapping key: keys must be plain strings",
        ),
        (
            "{a: 1}: x",
            "spec.yaml:1:1: a mapping cannot be a mapping key: keys must be plain strings",
        ),
        (
            "c:\n  <<: 3\n",
            "spec.yaml:2:3: c: merge key '<<' takes a mapping or a list of mappings "
            "(e.g. *base or [*a, *b]), got an integer",
        ),
        (
            "b: &b {x: 1}\nc: {<<: *b, <<: *b}\n",
            "spec.yaml:2:13: c: a second merge key '<<' in one mapping: list the merged "
            "mappings in one '<<: [*a, *b]'",
        ),
        (
            "a: &r [1, *r]",
            "spec.yaml:1:11: a[1]: recursive alias '*r': a node cannot contain itself",
        ),
        ("a: *nope", "spec.yaml:1:4: a: undefined alias '*nope': define '&nope' before using it"),
    ],
)
def test_yaml_rejections(text: str, message: str, yaml_parser: str) -> None:
    assert load_error(text) == message


@pytest.mark.parametrize(
    ("text", "where"), [("a: [1, 2\nb: 3", "spec.yaml:2:2:"), ("a: b: c", "spec.yaml:1:5:")]
)
def test_yaml_syntax_errors_are_located_and_the_same_with_either_parser(
    text: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = load_error(text)
    assert message.startswith(f"{where} invalid YAML: ")
    assert "\n" not in message
    monkeypatch.setattr(loader, "_YAML_LOADER", yaml.SafeLoader)
    assert load_error(text) == message


def test_yaml_python_payload_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    spec = tmp_path / "evil.yaml"
    spec.write_text(f'a: !!python/object/apply:os.system ["touch {marker}"]\n', encoding="utf-8")
    assert read_error(spec) == (
        f"{spec}:1:4: a: unsupported YAML tag '!!python/object/apply:os.system': {CORE_TAGS}"
    )
    assert not marker.exists()


def test_yaml_billion_laughs_fails_fast() -> None:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for name, previous in zip("bcdefghi", "abcdefgh", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    text = "\n".join(lines)
    assert len(text) < 400
    start = time.perf_counter()
    message = load_error(text)
    assert time.perf_counter() - start < 1.0
    assert message == (
        f"spec.yaml:5:12: e[1]: too many values (more than {MAX_NODES} lists, mappings and "
        "scalars, counting every alias expansion): a spec should be small, "
        "keep weights and data in separate files"
    )


# --- nesting and size, every format -----------------------------------------------------

TOO_DEEP = f"nesting deeper than {MAX_DEPTH} levels of lists and mappings: flatten the structure"


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("yaml", "[" * 50_000, f"spec.yaml:1:65: {'[0]' * 64}: {TOO_DEEP}"),
        ("yaml", "[" * MAX_SPEC_BYTES, f"spec.yaml:1:65: {'[0]' * 64}: {TOO_DEEP}"),
        ("yaml", "{a: " * 50_000, f"spec.yaml:1:257: {'.'.join('a' * 64)}: {TOO_DEEP}"),
        ("yaml", "- " * 50_000, f"spec.yaml:1:129: {'[0]' * 64}: {TOO_DEEP}"),
        (
            "yaml",
            "".join(" " * i + "a:\n" for i in range(100)),
            f"spec.yaml:65:65: {'.'.join('a' * 64)}: {TOO_DEEP}",
        ),
        ("json", "[" * 50_000, f"spec.json:1:65: {'[0]' * 64}: {TOO_DEEP}"),
        ("json", '{"a":' * 50_000, f"spec.json:1:321: {'.'.join('a' * 64)}: {TOO_DEEP}"),
        ("toml", "a = " + "[" * 50_000, f"spec.toml:1:69: {TOO_DEEP}"),
        ("toml", "a = " + "{b = " * 50_000, f"spec.toml:1:325: {TOO_DEEP}"),
        ("toml", "a." * 100 + "b = 1", f"spec.toml:1:127: {'.'.join('a' * 64)}: {TOO_DEEP}"),
        ("toml", "[" + "a." * 100 + "b]", f"spec.toml:1:128: {'.'.join('a' * 64)}: {TOO_DEEP}"),
    ],
)
def test_deep_nesting_is_refused_before_any_recursion(
    fmt: Format, text: str, message: str, yaml_parser: str
) -> None:
    assert load_error(text, fmt) == message


@pytest.mark.parametrize("count", [900, 1_000, 1_001, 1_100, 2_000])
def test_deep_flow_nesting_is_our_error_whatever_the_parser_looks_ahead(
    count: int, yaml_parser: str
) -> None:
    # libyaml's scanner refuses 1,000 flow levels within its 1,024-character lookahead
    text = "a: " + "[" * count + "]" * count
    assert load_error(text) == f"spec.yaml:1:67: a{'[0]' * 63}: {TOO_DEEP}"


def test_yaml_aliases_count_towards_the_depth() -> None:
    anchored = "a: &a " + "[" * 40 + "]" * 40 + "\n"
    fits = anchored + "b: " + "[" * 23 + "*a" + "]" * 23  # 1 + 23 + 40 = 64 levels
    data = parse_document(fits, "yaml").data
    for _ in range(1 + 23):
        data = data["b"] if isinstance(data, dict) else data[0]
    assert data == parse_document(anchored, "yaml").data["a"]
    too_deep = anchored + "b: " + "[" * 24 + "*a" + "]" * 24
    assert load_error(too_deep) == f"spec.yaml:2:28: b{'[0]' * 24}: {TOO_DEEP}"


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("yaml", "[" * MAX_DEPTH + "]" * MAX_DEPTH),
        ("json", "[" * MAX_DEPTH + "]" * MAX_DEPTH),
        ("toml", "a = " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)),
    ],
)
def test_nesting_up_to_the_limit_is_accepted(fmt: Format, text: str) -> None:
    data = parse_document(text, fmt).data
    for _ in range(MAX_DEPTH - 1):
        data = data["a"] if isinstance(data, dict) else data[0]
    assert data == []


def test_toml_brackets_in_strings_and_comments_are_not_nesting() -> None:
    text = 'a = "' + "[" * 100 + '"\nb = """\n' + "{" * 100 + '\n"""  # ' + "[" * 100 + "\n"
    assert parse_document(text, "toml").data == {"a": "[" * 100, "b": "{" * 100 + "\n"}


TOO_MANY = (
    "too many values (more than 50 lists, mappings and scalars, counting every alias expansion): "
    "a spec should be small, keep weights and data in separate files"
)


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("yaml", "[" + "0, " * 60 + "0]", f"spec.yaml:1:149: [49]: {TOO_MANY}"),
        (
            "yaml",
            "a: &a [0, 0, 0, 0]\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
            f"spec.yaml:2:37: b[8]: {TOO_MANY}",
        ),
        ("json", '{"a": [' + "0, " * 60 + "0]}", f"spec.json:1:152: a[48]: {TOO_MANY}"),
        ("toml", "a = [" + "0, " * 60 + "0]", f"spec.toml:1:150: a[48]: {TOO_MANY}"),
    ],
)
def test_too_many_values(
    monkeypatch: pytest.MonkeyPatch, fmt: Format, text: str, message: str
) -> None:
    monkeypatch.setattr(loader, "MAX_NODES", 50)
    assert load_error(text, fmt) == message


# --- JSON -------------------------------------------------------------------------------


def test_json_values() -> None:
    text = r'{"s": "a\"\u00e9\n", "i": -0, "f": [1.5, 2e3, -1E-2], "c": [true, false, null]}'
    assert parse_document(text, "json").data == {
        "s": 'a"é\n',
        "i": 0,
        "f": [1.5, 2000.0, -0.01],
        "c": [True, False, None],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{\n  "a": 1,\n  "a": 2\n}',
            "spec.json:3:3: a: duplicate key 'a' (first defined at line 2)",
        ),
        ('{"a": NaN}', "spec.json:1:7: a: NaN is not valid JSON: write a finite number"),
        ("[1, Infinity]", "spec.json:1:5: [1]: Infinity is not valid JSON: write a finite number"),
        ("[-Infinity]", "spec.json:1:2: [0]: -Infinity is not valid JSON: write a finite number"),
        (
            '{"a": 1}\n{"b": 2}',
            "spec.json:2:1: unexpected data after the JSON value: a file holds one value",
        ),
        ('{"a": 1 "b": 2}', "spec.json:1:9: invalid JSON: expected ',' or '}' after a value"),
        ('{"a": 1,}', "spec.json:1:9: invalid JSON: expected a key in double quotes"),
        ("{a: 1}", "spec.json:1:2: invalid JSON: expected a key in double quotes"),
        ('{"a" 1}', "spec.json:1:6: a: invalid JSON: expected ':' after the key"),
        ("[1, 2,]", "spec.json:1:7: [2]: invalid JSON: expected a value, found ']'"),
        ("[1 2]", "spec.json:1:4: invalid JSON: expected ',' or ']' after an item"),
        ('[1, "x', "spec.json:1:5: [1]: invalid JSON string: unterminated string"),
        ('["\\x"]', "spec.json:1:3: [0]: invalid JSON string: invalid \\escape"),
        ('["\\ud800"]', "spec.json:1:2: [0]: invalid JSON string: an unpaired surrogate escape"),
        ('{"a": [', "spec.json:1:8: a[0]: invalid JSON: unexpected end of file, expected a value"),
        ("[01]", "spec.json:1:3: invalid JSON: expected ',' or ']' after an item"),
        (
            "[" + "1" * 31 + "]",
            "spec.json:1:2: [0]: integer too large (31 digits; the limit is 30): "
            "write it as a float or quote it",
        ),
        (
            "[1e400]",
            "spec.json:1:2: [0]: number too large: '1e400' is beyond the float range: "
            "write a smaller number",
        ),
        (" \n ", "spec.json: empty file: expected a spec document"),
    ],
)
def test_json_rejections(text: str, message: str) -> None:
    assert load_error(text, "json") == message


# --- TOML -------------------------------------------------------------------------------


def test_toml_dates_become_strings() -> None:
    text = "d = 1979-05-27T07:32:00Z\ne = 2001-01-01\nt = 07:32:00\nf = [inf, -inf]"
    assert parse_document(text, "toml").data == {
        "d": "1979-05-27T07:32:00+00:00",
        "e": "2001-01-01",
        "t": "07:32:00",
        "f": [math.inf, -math.inf],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a = 1\nb = [1,\n", "spec.toml:3:1: invalid TOML: invalid value"),
        ("a = 1\nb = [1\n", "spec.toml:3:1: invalid TOML: unclosed array"),
        ("a = 1\nb = = 2\n", "spec.toml:2:5: invalid TOML: invalid value"),
        ("a = 1\na = 2\n", "spec.toml:2:6: invalid TOML: cannot overwrite a value"),
        (
            "[[layers]]\nname = 'x'\n[[layers]]\nn = " + "9" * 31,
            "spec.toml:4:5: integer too large (31 digits; the limit is 30): "
            "write it as a float or quote it",
        ),
        (  # beyond what Python's int() converts: our limit, located, not int()'s
            "n = " + "9" * 5000,
            "spec.toml:1:5: integer too large (5000 digits; the limit is 30): "
            "write it as a float or quote it",
        ),
        (
            "a = [1,\n  # a comment\n  -" + "9" * 5000 + ",\n]",
            "spec.toml:3:3: integer too large (5000 digits; the limit is 30): "
            "write it as a float or quote it",
        ),
        (
            "a = {b = [1, 2_" + "9" * 40 + "]}",
            "spec.toml:1:14: integer too large (41 digits; the limit is 30): "
            "write it as a float or quote it",
        ),
        (
            "a = 0x" + "f" * 40,
            "spec.toml:1:1: a: integer too large (49 digits; the limit is 30): "
            "write it as a float or quote it",
        ),
        ("# only a comment\n", "spec.toml: empty file: expected a spec document"),
        (
            "x = 1\ny = 1e400",
            "spec.toml:2:1: y: number too large: '1e400' is beyond the float range: "
            "write a smaller number",
        ),
    ],
)
def test_toml_rejections(text: str, message: str) -> None:
    assert load_error(text, "toml") == message


@pytest.mark.parametrize("word", ["y", "n", "Y", "N"])
def test_y_and_n_are_plain_strings(word: str, tmp_path: Path) -> None:
    """YAML 1.2 (and PyYAML, and yamllint's truthy rule) read y/n as strings: a layer may be
    named `n`; in a boolean field they are a located schema error, never a boolean."""
    assert loader.parse_document(f"a: {word}", "yaml").data == {"a": word}
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"snnspec: 1\nname: {word}\ninputs: [{{name: x, shape: [3]}}]\n"
        f"layers:\n  - {{name: {word}, type: linear, out_features: 2}}\n"
    )
    import snnspec

    assert snnspec.load(spec).layers[0].name == word
    spec.write_text(
        "snnspec: 1\nname: a\ninputs: [{name: x, shape: [3]}]\n"
        f"layers:\n  - {{type: linear, out_features: 2, use_bias: {word}}}\n"
    )
    with pytest.raises(SchemaError) as caught:
        snnspec.load(spec)
    assert str(caught.value).startswith(f"{spec}:5:37: layers[0].use_bias: ")


def test_yaml_merge_keys_follow_yaml() -> None:
    """``<<`` adds the keys a mapping does not set itself: its own keys win, and among several
    merged mappings the earlier one wins; positions of merged keys are the ``<<`` entry."""
    text = (
        "a: &a {p: 1, q: 2}\n"
        "b: &b {q: 20, r: 30}\n"
        "c:\n"
        "  p: 100\n"
        "  <<: [*a, *b]\n"
        "d: {<<: *a, w: 0}\n"
    )
    document = loader.parse_document(text, "yaml", source="spec.yaml")
    assert document.data["c"] == {"p": 100, "q": 2, "r": 30}
    assert document.data["d"] == {"p": 1, "q": 2, "w": 0}
    assert document.positions[("c", "p")] == (4, 3)
    assert document.positions[("c", "r")] == (5, 3)


def test_toml_prescan_is_linear_in_brackets_on_one_line() -> None:
    # about 1 s of CPU; a scan quadratic in the length of the line takes over ten times that
    start = time.process_time()
    message = load_error("[]" * 500_000, "toml")
    assert time.process_time() - start < 6.0
    assert message.startswith("spec.toml:1:2: invalid TOML: ")


def test_toml_long_digit_runs_that_are_not_integers_are_accepted() -> None:
    digits = "1" * 40
    text = (
        f"{digits} = 1\nf = {digits}.5\ng = 1.{digits}\ns = '{digits}'\n"
        f"i = {{{digits} = 2}}\nd.{digits} = 3\n[{digits}1]\nx = 4\n[[t.{digits}]]\ny = 5\n"
    )
    assert parse_document(text, "toml").data == {
        digits: 1,
        f"{digits}1": {"x": 4},
        "f": float(f"{digits}.5"),
        "g": float(f"1.{digits}"),
        "s": digits,
        "i": {digits: 2},
        "d": {digits: 3},
        "t": {digits: [{"y": 5}]},
    }
