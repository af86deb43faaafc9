"""Hostile and broken inputs: every one is refused with exit 1, one clear line, no traceback,
within 2 s of CPU time and 500 MB of memory, and without side effects.

Committed cases live in ``tests/data/hostile/``: a file (or folder) ``X`` is a case when
``X.expected`` exists, and ``X.expected`` holds the exact stderr. ``run_*`` cases are given to
``snnspec run``, the others to ``snnspec validate``, always with ``--max-memory 4GiB`` so the
messages do not depend on the machine. Files without ``.expected`` (params files) are read by
the cases that name them. Cases too big or too odd to commit (a 2 MB file, 50,000 brackets,
/dev/zero, a FIFO, a directory) are made at run time.

Each case runs in a child forked from one worker process that has imported snnspec once (so
the cost of starting Python is not counted): the child's CPU time and peak RSS come from
``wait4``, and its address space is capped by ``RLIMIT_AS`` so a runaway allocation fails
instead of exhausting the machine. CPU time, not wall time, is the 2 s criterion: CI machines
are shared, and wall time is only checked loosely.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from snnspec import cli
from snnspec._errors import LoadError
from snnspec.spec.loader import load_document

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile"
CASES = sorted(p for p in HOSTILE.iterdir() if Path(f"{p}.expected").exists())
BUDGET = "4GiB"
CPU_SECONDS = 2.0
WALL_SECONDS = 20.0
MEMORY_MB = 500

WORKER = r"""
import json, os, resource, sys, tempfile, time

from snnspec import cli


def vm_bytes():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def child(argv, cwd, out, err):
    os.chdir(cwd)
    limit = vm_bytes() + (1 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.argv = ["snnspec", *argv]
    code = 0
    try:
        cli.main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


for line in sys.stdin:
    job = json.loads(line)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            child(job["argv"], job["cwd"], out.fileno(), err.fileno())
        status = usage = None
        while time.perf_counter() - start < job["timeout"]:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.005)
        else:
            os.kill(pid, 9)
            _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        result = {
            "code": os.waitstatus_to_exitcode(status),
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
            "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024,
            "wall": wall,
        }
    print(json.dumps(result), flush=True)
"""


class Worker:
    """A process that has imported snnspec and runs each command in a forked child."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )

    def run(self, argv: list[str], cwd: Path, timeout: float = WALL_SECONDS) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        job = {"argv": argv, "cwd": str(cwd), "timeout": timeout}
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the worker died"
        return json.loads(line)

    def close(self) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    if not sys.platform.startswith("linux"):
        pytest.skip("the resource measurements use fork, wait4 and /proc (Linux)")
    running = Worker()
    yield running
    running.close()


def command(case: Path) -> list[str]:
    verb = "run" if case.name.startswith("run_") else "validate"
    return [verb, "--max-memory", BUDGET, case.name]


def assert_refused(result: dict[str, Any], cwd: Path) -> str:
    """Exit 1, nothing on stdout, one plain line on stderr, within the bounds; the line."""
    assert result["code"] == 1, result
    assert result["stdout"] == ""
    err = result["stderr"]
    assert "Traceback" not in err
    assert err.endswith("\n"), err
    assert err.count("\n") == 1, err
    assert "\x1b" not in err
    assert "\x07" not in err
    assert result["cpu"] < CPU_SECONDS, result
    assert result["rss_mb"] < MEMORY_MB, result
    assert result["wall"] < WALL_SECONDS, result
    assert not (cwd / "PWNED").exists()
    return err


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30
    assert {p.suffix for p in CASES} >= {".yaml", ".json", ".toml", ""}
    prefixes = {p.name.split("_")[0] for p in CASES}
    assert {"params", "run", "huge", "yaml11", "toml"} <= prefixes


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_committed_case(case: Path, worker: Worker) -> None:
    result = worker.run(command(case), HOSTILE)
    err = assert_refused(result, HOSTILE)
    assert err == Path(f"{case}.expected").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_committed_case_has_the_same_line_with_either_yaml_parser(
    case: Path,
    yaml_parser: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(HOSTILE)
    monkeypatch.setattr(sys, "argv", ["snnspec", *command(case)])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    assert stop.value.code == 1
    assert capsys.readouterr().err == Path(f"{case}.expected").read_text(encoding="utf-8")


@pytest.mark.parametrize("count", [1_000, 50_000])
def test_deep_brackets_are_our_error_with_either_yaml_parser(
    count: int, yaml_parser: str, tmp_path: Path
) -> None:
    (tmp_path / "deep.yaml").write_bytes(b"[" * count + b"]" * count)
    with pytest.raises(LoadError) as caught:
        load_document(tmp_path / "deep.yaml")
    assert str(caught.value) == (
        f"{tmp_path / 'deep.yaml'}:1:65: {'[0]' * 64}: nesting deeper than 64 levels of lists "
        "and mappings: flatten the structure"
    )


# --- cases made at run time -----------------------------------------------------------

SPEC = (
    "snnspec: 1\nname: net\ninputs: [{name: x, shape: [4]}]\n"
    "layers:\n  - {type: lif, decay_constants: [0.9, 0.8]}\n"
)


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


GENERATED: dict[str, tuple[Any, str]] = {  # name: (make it in a folder, line or part of it)
    "two_megabytes.yaml": (
        lambda d: _bytes(d / "two_megabytes.yaml", SPEC.encode() + b"#" * (2 << 20)),
        "bytes; the limit is 1048576 bytes): specs and manifests hold no weights or data; keep "
        "those in separate files",
    ),
    "brackets.yaml": (
        lambda d: _bytes(d / "brackets.yaml", b"[" * 50_000 + b"]" * 50_000),
        "nesting deeper than 64 levels of lists and mappings",
    ),
    "brackets.json": (
        lambda d: _bytes(d / "brackets.json", b"[" * 50_000 + b"]" * 50_000),
        "brackets.json:1:65: [0]",
    ),
    "brackets.toml": (
        lambda d: _bytes(d / "brackets.toml", b"x = " + b"[" * 50_000 + b"]" * 50_000),
        "brackets.toml:1:69: nesting deeper than 64 levels of lists and mappings: "
        "flatten the structure\n",
    ),
    "dotted.toml": (
        lambda d: _bytes(d / "dotted.toml", b"a" + b".a" * 200_000 + b" = 1\n"),
        f"dotted.toml:1:127: {'.'.join('a' * 64)}: nesting deeper than 64 levels of lists "
        "and mappings: flatten the structure\n",
    ),
    "zero.yaml": (
        lambda d: (d / "zero.yaml").symlink_to("/dev/zero") or d / "zero.yaml",
        "zero.yaml: not a regular file (it is a character device): give the path of a spec file\n",
    ),
    "fifo.yaml": (
        lambda d: os.mkfifo(d / "fifo.yaml") or d / "fifo.yaml",
        "fifo.yaml: not a regular file (it is a named pipe): give the path of a spec file\n",
    ),
    "folder.yaml": (
        lambda d: (d / "folder.yaml").mkdir() or d / "folder.yaml",
        "folder.yaml: is a folder, not a spec file: give the spec files in it (e.g. "
        "folder.yaml/*.yaml)\n",
    ),
    "laughs.yaml": (
        lambda d: _bytes(
            d / "laughs.yaml",
            b"a: &a ["
            + b"x," * 99
            + b"x]\n"
            + b"".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 100)}]\n".encode()
                for i in range(6)
            ),
        ),
        "too many values (more than 20000",
    ),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_case(name: str, worker: Worker, tmp_path: Path) -> None:
    make, expected = GENERATED[name]
    target = make(tmp_path)
    result = worker.run(["validate", target.name], tmp_path)
    err = assert_refused(result, tmp_path)
    if expected.endswith("\n"):  # the whole line
        assert err == expected
    else:
        assert err.startswith(f"{name}:")
        assert expected in err


def test_escape_sequences_in_a_file_name_are_printed_as_text(
    worker: Worker, tmp_path: Path
) -> None:
    name = "red\x1b[31m\x1b]0;title\x07.yaml"
    (tmp_path / name).write_text("snnspec: 2\n", encoding="utf-8")
    result = worker.run(["validate", name], tmp_path)
    err = assert_refused(result, tmp_path)
    assert err.startswith("red\\x1b[31m\\x1b]0;title\\x07.yaml:1:1: snnspec: ")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('"\\e[2J\\e[31mevil"', "'\\x1b[2J\\x1b[31mevil'"),
        ('"[bold red]markup[/]"', "'[bold red]markup[/]'"),
        ('"\\u202eevil"', "'\\u202eevil'"),
    ],
)
def test_strings_from_a_spec_are_printed_as_text(
    worker: Worker, tmp_path: Path, text: str, shown: str
) -> None:
    layers = "layers: [{type: lif, decay_constants: [0.9, 0.8]}]"
    spec = f"snnspec: 1\nname: {text}\ninputs: [{{name: x, shape: [4]}}]\n{layers}\n"
    (tmp_path / "s.yaml").write_text(spec, encoding="utf-8")
    result = worker.run(["validate", "s.yaml"], tmp_path)
    err = assert_refused(result, tmp_path)
    assert shown in err
    assert "\u202e" not in err


def test_escape_sequences_in_the_description_never_reach_the_terminal(
    worker: Worker, tmp_path: Path
) -> None:
    spec = SPEC + 'description: "\\e[31mred\\e]0;title\\a"\n'
    (tmp_path / "s.yaml").write_text(spec, encoding="utf-8")
    result = worker.run(["validate", "s.yaml"], tmp_path)
    assert result["code"] == 0, result
    assert "\x1b" not in result["stdout"] + result["stderr"]


def test_a_params_fifo_is_refused_without_blocking(worker: Worker, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "w.safetensors")
    (tmp_path / "s.yaml").write_text(SPEC + "params: w.safetensors\n", encoding="utf-8")
    result = worker.run(["validate", "s.yaml"], tmp_path, timeout=10)
    err = assert_refused(result, tmp_path)
    assert err == "w.safetensors: the params file is a special file, not a regular file\n"


def test_default_budget_is_half_the_machine(worker: Worker) -> None:
    result = worker.run(["validate", "huge_linear.yaml"], HOSTILE)
    err = assert_refused(result, HOSTILE)
    assert "(half of this machine's memory)" in err


def test_yaml_scientific_notation_is_a_float_not_a_string(tmp_path: Path) -> None:
    from snnspec.spec.loader import parse_document

    assert parse_document("dt: 1e-3\n", "yaml").data == {"dt": 0.001}
