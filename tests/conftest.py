"""Shared fixtures.

A float64 model needs JAX's 64-bit mode, which snnspec never turns on from the library: a test
that builds one through the Python API asks for the ``x64`` fixture.
The command line turns the mode on for a float64 spec, also in-process; every test module
starts and ends with the mode it found, so float32 tests do not depend on the order they run in.

JAX runs with strict dtype promotion (``jax_numpy_dtype_promotion = "strict"``), as Equinox's
own suite does: a library operation that mixes dtypes without an explicit cast fails here
instead of silently widening or narrowing. The environment variable is set before JAX is first
imported, so it holds in every xdist worker and in the ``python -m snnspec`` subprocesses the
tests start (they inherit the environment).

``yaml_parser`` runs a test once with libyaml (PyYAML's C parser) as the loader's fast parser
and once with PyYAML's pure-Python parser alone, so a message cannot depend on which one a
machine has.

The preprocessing cache goes to a fresh temporary folder per test process (``SNNSPEC_CACHE_DIR``,
inherited by subprocesses), never the user's cache; ``SNNSPEC_DATA_ROOT`` is cleared.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
import yaml

os.environ["JAX_NUMPY_DTYPE_PROMOTION"] = "strict"
os.environ["SNNSPEC_CACHE_DIR"] = tempfile.mkdtemp(prefix="snnspec-test-cache-")
os.environ.pop("SNNSPEC_DATA_ROOT", None)

# snnspec itself is imported inside fixtures: jaxtyping's pytest plugin instruments it only
# when the plugin is configured before snnspec's first import
YAML_PARSERS = {"libyaml": getattr(yaml, "CSafeLoader", None), "python": yaml.SafeLoader}


@pytest.fixture(params=sorted(YAML_PARSERS))
def yaml_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of the YAML parser the loader uses first during this test."""
    parser = YAML_PARSERS[request.param]
    if parser is None:
        pytest.skip("PyYAML was built without libyaml")
    from snnspec.spec import loader as _loader

    monkeypatch.setattr(_loader, "_YAML_LOADER", parser)
    return request.param


@pytest.fixture(scope="module")
def x64() -> Iterator[None]:
    """JAX's 64-bit mode on for the rest of the module (float64 specs), as it was afterwards.

    Module-scoped, so that module-scoped fixtures can build float64 models too: a module of
    float64 numerics asks for it with ``pytestmark = pytest.mark.usefixtures("x64")``.
    """
    import jax

    enabled = bool(jax.config.read("jax_enable_x64"))
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", enabled)


@pytest.fixture(autouse=True, scope="module")
def _restore_jax_x64() -> Iterator[None]:
    import jax

    # a plugin may have imported JAX before this file set the environment variable
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    enabled = bool(jax.config.read("jax_enable_x64"))
    yield
    jax.config.update("jax_enable_x64", enabled)
