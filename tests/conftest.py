"""Shared fixtures.

A float64 spec turns on JAX's 64-bit mode for the whole process; every test module starts
and ends with the mode it found, so float32 tests do not depend on the order they run in.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _restore_jax_x64() -> Iterator[None]:
    import jax

    enabled = bool(jax.config.jax_enable_x64)
    yield
    jax.config.update("jax_enable_x64", enabled)
