"""The command line keeps freed heap memory in its process (snnspec/_allocator.py).

A block freed and allocated again must not fault its pages in anew: measured in a fresh
process (the settings are process-wide) by the minor page faults of writing a 64 MiB block,
freed and allocated again, with and without :func:`keep_freed_memory`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

import snnspec.cli as cli
from snnspec import _allocator

MIB = 1 << 20
PAGES = 64 * MIB // 4096
PROBE = """\
import ctypes, json, resource, sys
from snnspec._allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
size = 64 << 20
def faults_of_a_fresh_block():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults_of_a_fresh_block()
print(json.dumps({"applied": applied, "faults": faults_of_a_fresh_block()}))
"""


def probe(mode: str, **env: str) -> dict[str, Any]:
    environment = {**os.environ, **env}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


def test_a_freed_block_is_reused_without_page_faults() -> None:
    default = probe("default")
    if default["faults"] < PAGES // 2:
        pytest.skip("this C library or kernel already reuses freed large blocks")
    kept = probe("keep")
    assert kept["applied"] is True
    assert kept["faults"] < PAGES // 20, (default, kept)


def test_the_users_own_malloc_tunables_stand() -> None:
    kept = probe("keep", GLIBC_TUNABLES="glibc.malloc.trim_threshold=131072")
    assert kept["applied"] is False


@pytest.mark.parametrize("entry_point", [True, False])
def test_only_the_command_line_as_entry_point_changes_the_allocator(
    monkeypatch: pytest.MonkeyPatch, entry_point: bool
) -> None:
    applied: list[bool] = []
    ended: list[object] = []
    monkeypatch.setattr(_allocator, "keep_freed_memory", lambda: applied.append(True) or True)
    monkeypatch.setattr(cli, "_is_entry_point", lambda: entry_point)
    monkeypatch.setattr(cli, "_end_process", ended.append)
    monkeypatch.setattr(sys, "argv", ["snnspec", "--help"])
    if entry_point:
        cli.main()
    else:
        with pytest.raises(SystemExit):
            cli.main()
    assert applied == ([True] if entry_point else [])
    assert ended == ([0] if entry_point else [])
