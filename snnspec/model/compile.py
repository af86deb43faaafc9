"""Spec -> StatefulModel: build every layer's module, then load the params file if any."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import equinox as eqx
import jax
import numpy as np

from ..graph.plan import plan_graph
from ..spec.model import ModelSpec
from .merged_draws import merged_draws
from .model import StatefulModel
from .params import apply_params, params_files, read_model_params

if TYPE_CHECKING:
    from ..spec.layers.base import LayerSpec, Shape

X64_OFF = (
    "float64 needs JAX's 64-bit mode, which is off: call "
    '`jax.config.update("jax_enable_x64", True)` before any JAX work, or set the environment '
    "variable JAX_ENABLE_X64=1 (the command line turns it on itself for a float64 spec)"
)


def compile(
    spec: ModelSpec,
    params: str | os.PathLike[str] | Mapping[str, np.ndarray] | None = None,
    *,
    partial_params: bool | None = None,
) -> StatefulModel:
    """Build the model of ``spec``.

    Layer i is initialised from ``fold_in(PRNGKey(spec.seed), i)``, so adding a layer leaves
    the others' initial values unchanged. Then the spec's ``params`` file (relative to the
    spec) and a ``params`` path, in that order, set the parameters: together they must give
    every one, unless the load is partial (``partial_params``, default the spec's
    ``params_partial``), and every array must have the spec's dtype and fit its bounds. A
    ``params`` mapping of arrays is an overlay: it replaces the arrays it names. ``dtype:
    float64`` needs JAX's 64-bit mode on (a SpecError says how otherwise): a process-wide
    setting that is the caller's to make. ``schedule`` and ``remat`` are passed to the model.
    """
    if spec.dtype == "float64" and not jax.config.read("jax_enable_x64"):
        raise spec.error(("dtype",), X64_OFF)
    plan = plan_graph(spec)
    layers = build_layers(
        plan.layers, plan.layer_input_shapes, spec.dtype, spec.dt, jax.random.PRNGKey(spec.seed)
    )
    model = StatefulModel(layers, plan, spec.dtype, spec.schedule, spec.remat)
    files = params_files(spec, None if isinstance(params, Mapping) else params)
    if files:
        partial = spec.params_partial if partial_params is None else partial_params
        arrays, _ = read_model_params(plan, files, spec.dtype, partial=partial)
        model = apply_params(model, arrays, source=", ".join(name for _, name in files))
    if isinstance(params, Mapping):
        model = apply_params(model, dict(params))
    return model


def build_layers(
    layers: Sequence[LayerSpec],
    input_shapes: Sequence[Shape],
    dtype: str,
    dt: float | None,
    root: jax.Array,
) -> tuple[Any, ...]:
    """Every layer's module, layer i initialised from ``fold_in(root, i)``.

    The modules are built twice: abstractly (``eqx.filter_eval_shape``), for their structure
    (fresh for every model, as an eager build makes it: ``batch_norm``'s state markers are
    its own), and inside one jitted program that computes every initial array. The program
    is cached by the layers' options (not their names or places), input shapes, dtype and
    dt, so the same architecture with another seed compiles nothing; its random draws are
    merged into one threefry hash per depth (:mod:`.merged_draws`), and on CPU it is
    compiled with :data:`INIT_COMPILER_OPTIONS`. The values are bit-identical to building
    the modules eagerly, op by op, which compiled a small program per operation and array
    shape; XLA compiles one program for them all in less time.
    """
    options = tuple(layer.model_copy(update=_PLACE) for layer in layers)
    shapes = tuple(input_shapes)
    skeleton = eqx.filter_eval_shape(_build, options, shapes, dtype, dt, root)
    (device,) = root.devices()
    program = _TUNED.get(device.platform, _initial_arrays)
    arrays = iter(program(root, options, shapes, dtype, dt))
    return jax.tree.map(
        lambda leaf: next(arrays) if isinstance(leaf, jax.ShapeDtypeStruct) else leaf, skeleton
    )


_PLACE = {"name": None, "inputs": None, "feedback": False, "combine": "concat"}
"""Where a layer sits in the graph: no part of its module (left out of the cache key)."""


def _build(
    layers: tuple[LayerSpec, ...],
    input_shapes: tuple[Shape, ...],
    dtype: str,
    dt: float | None,
    root: jax.Array,
) -> tuple[Any, ...]:
    return tuple(
        layer.build(
            shape, dtype, jax.random.fold_in(root, i), **({"dt": dt} if layer.uses_dt else {})
        )
        for i, (layer, shape) in enumerate(zip(layers, input_shapes, strict=True))
    )


def _arrays(
    root: jax.Array,
    layers: tuple[LayerSpec, ...],
    input_shapes: tuple[Shape, ...],
    dtype: str,
    dt: float | None,
) -> list[jax.Array]:
    """The array leaves of :func:`_build`'s modules, in tree order, their draws merged."""

    def arrays(root: jax.Array) -> list[jax.Array]:
        modules = _build(layers, input_shapes, dtype, dt, root)
        return [leaf for leaf in jax.tree.leaves(modules) if eqx.is_array(leaf)]

    return merged_draws(arrays)(root)


INIT_COMPILER_OPTIONS: dict[str, dict[str, Any]] = {"cpu": {"xla_backend_optimization_level": 1}}
"""XLA's options for the initialisation program, by platform. On CPU, LLVM's lighter
optimisation level makes XLA compile the program (a threefry loop per depth of draws) in
0.85 of the time (0.75 before the draws were merged), and the program runs once. The values
are those of XLA's default level: the random bits are integer arithmetic, exact at any
level, and the float transforms (scaling, erfinv, orthogonalisation) are checked bit for
bit, for every layer type, scheme and dtype, by ``tests/test_weight_init.py``. Level 0
changes float results (it no longer fuses the uniform draw's ``u * (b - a) + a`` into one
multiply-add, as the default and level 1 do), and other backends' code generators were not
checked, so they use XLA's defaults."""

_initial_arrays = jax.jit(_arrays, static_argnums=(1, 2, 3, 4))
"""The initialisation program with XLA's default options (cached by its static arguments)."""

_TUNED = {
    platform: jax.jit(_arrays, static_argnums=(1, 2, 3, 4), compiler_options=options)
    for platform, options in INIT_COMPILER_OPTIONS.items()
}
"""The initialisation program with :data:`INIT_COMPILER_OPTIONS`, by platform."""
