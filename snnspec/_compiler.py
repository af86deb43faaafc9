"""Spec -> StatefulModel: build every layer's module, then load the params file if any."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from ._graph import plan_graph
from ._model import StatefulModel
from ._params import apply_params, load_params
from ._spec import ModelSpec


def compile(
    spec: ModelSpec,
    params: str | os.PathLike[str] | Mapping[str, np.ndarray] | None = None,
) -> StatefulModel:
    """Build the model of ``spec``.

    Layer i is initialised from ``fold_in(PRNGKey(spec.seed), i)``, so adding a layer leaves
    the others' initial values unchanged. Then the spec's ``params`` file (relative to the
    spec) and the ``params`` argument (a path or a mapping of arrays) overwrite what they
    name. ``dtype: float64`` turns on JAX's 64-bit mode for the process. ``schedule`` and
    ``remat`` are passed to the model.
    """
    import jax

    if spec.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
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
    if spec.params is not None:
        model = load_params(model, spec.base_dir / spec.params)
    if isinstance(params, Mapping):
        model = apply_params(model, dict(params))
    elif params is not None:
        model = load_params(model, params)
    return model
