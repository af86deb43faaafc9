"""The gradient of one optimizer step: gradient accumulation and the compute precision.

``train.accumulate_steps: K`` runs the global batch as K micro-batches of ``batch_size / K``
samples inside the one jitted step (a ``lax.scan``, so one micro-batch's activations are
alive at a time) and averages their losses and gradients: the update equals the whole
batch's up to the order of float sums. Micro-batch k holds the batch's samples k, k + K,
k + 2K, ... so that, with the batch sharded over devices, each device's rows of every
micro-batch are its own; every sample keeps its key (``fold_in(key, place in the batch)``).
What is not linear in the batch differs from one big batch: ``batch_norm``'s batch
statistics and a ``firing_rate`` regulariser's (mean rate - target)^2 are per micro-batch.

``train.precision: bfloat16`` computes the forward and backward pass on a bfloat16 copy of
the parameters and inputs, with the neuron state in bfloat16; the parameters, the loss
(from the readout cast to float32), the averaged gradients and the optimizer update stay in
the spec's dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jaxtyping import Array, PyTree

Objective = Callable[[PyTree, Array, Array, Array | None], tuple[Array, tuple[Array, Array]]]
"""``(params, x, y, indices) -> (loss, (correct, synops))``: a batch's mean loss
(differentiated), count of correct samples and mean SynOps per sample per step; ``indices``
are the samples' places in the whole batch (None: ``arange``)."""


def compute_copy(params: PyTree, precision: str) -> PyTree:
    """``params`` in the compute dtype: a bfloat16 copy for ``bfloat16``, else themselves."""
    if precision != "bfloat16":
        return params
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(lambda a: a.astype(jnp.bfloat16), params)


def gradients(
    objective: Objective, params: PyTree, x: Array, y: Array, accumulate: int
) -> tuple[Array, tuple[Array, Array], PyTree]:
    """``(loss, (correct, synops), grads)`` of a whole batch, in ``accumulate`` micro-batches
    (the count summed over them, the loss, SynOps and gradients averaged)."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    value_and_grad = eqx.filter_value_and_grad(objective, has_aux=True)
    if accumulate == 1:
        (loss, aux), grads = value_and_grad(params, x, y, None)
        return loss, aux, grads
    size = x.shape[0] // accumulate

    def micro(a: Array) -> Array:  # (B, ...) -> (K, B / K, ...): row k of slice i is i K + k
        return jnp.moveaxis(a.reshape(size, accumulate, *a.shape[1:]), 1, 0)

    indices = micro(jnp.arange(x.shape[0]))

    def body(total: tuple[Any, ...], part: tuple[Array, Array, Array]) -> tuple[Any, None]:
        (loss, (correct, synops)), grads = value_and_grad(params, *part)
        summed = jax.tree_util.tree_map(jnp.add, total[3], grads)
        return (total[0] + loss, total[1] + correct, total[2] + synops, summed), None

    zeros = jax.tree_util.tree_map(jnp.zeros_like, eqx.filter(params, eqx.is_inexact_array))
    scalar = jnp.zeros((), jnp.float32)
    start = (scalar, scalar, scalar, zeros)
    (loss, correct, synops, grads), _ = jax.lax.scan(body, start, (micro(x), micro(y), indices))
    grads = jax.tree_util.tree_map(lambda g: g / accumulate, grads)
    return loss / accumulate, (correct, synops / accumulate), grads
