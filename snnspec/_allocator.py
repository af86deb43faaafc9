"""Keep freed heap memory in the process, so XLA's per-call buffers cost no page faults.

XLA's CPU runtime allocates a compiled program's temporary buffer afresh on every call.
glibc's ``malloc`` serves a block above its ``mmap`` threshold (never raised past 32 MiB)
with new pages from the kernel and gives them back on ``free``, so every call faults its
whole buffer in again, 4 KiB at a time, each page zeroed by the kernel: on the SHD MLP's
fwd+bwd (B=32, a 42 MiB buffer) about 10,700 faults and 19 ms of kernel time per call next
to 25 ms of computing (``docs/performance.md``, "Where the time of (a) goes"). Three
settings keep freed memory for reuse, results bitwise unchanged:

- ``M_MMAP_MAX = 0``: large blocks come from the heap, not from ``mmap``;
- ``M_TRIM_THRESHOLD`` at its largest: the heap's free top is kept, not returned;
- ``M_ARENA_MAX = 1``: every thread allocates from the main heap (a thread's own arena
  could not hold a block larger than its 64 MiB heap without ``mmap``).

The process then keeps its peak heap size until it ends. Only a process's owner may choose
that: the command line does (:func:`snnspec.cli.main` as the process's entry point), a
program that imports snnspec keeps its allocator. Where the C library is not glibc, or the
user set a ``glibc.malloc`` tunable in ``GLIBC_TUNABLES`` (their choice stands, e.g.
``glibc.malloc.trim_threshold=131072`` for glibc's default), nothing is changed.
"""

from __future__ import annotations

import os
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
SETTINGS = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1), (M_ARENA_MAX, 1))
ALLOCATORS = {
    "cli": "freed heap memory kept in the process, as the `snnspec` command line does "
    "(snnspec/_allocator.py)",
    "default": "glibc's default (as in a program that imports snnspec)",
}
"""The benchmarks' ``--allocator`` choices and how their reports describe them."""


def keep_freed_memory() -> bool:
    """Apply :data:`SETTINGS` with glibc's ``mallopt``; whether they were applied.

    Call it before any thread allocates (before JAX starts), in a process you own.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    import ctypes

    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(option, value) == 1 for option, value in SETTINGS)
