"""Spec -> StatefulModel: build every layer's module, then load the params file if any."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from ..graph.plan import plan_graph
from ..spec.model import ModelSpec
from .model import StatefulModel
from .params import apply_params, params_files, read_model_params

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
    import jax

    if spec.dtype == "float64" and not jax.config.read("jax_enable_x64"):
        raise spec.error(("dtype",), X64_OFF)
    plan = plan_graph(spec)
    root = jax.random.PRNGKey(spec.seed)
    layers = tuple(
        layer.build(
            plan.layer_input_shapes[i],
            spec.dtype,
            jax.random.fold_in(root, i),
            **({"dt": spec.dt} if layer.uses_dt else {}),
        )
        for i, layer in enumerate(plan.layers)
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
