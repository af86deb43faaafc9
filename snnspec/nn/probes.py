"""Probes: stateless modules that measure a layer's input instead of transforming it.

:class:`SynOpsProbe` reads what a weighted layer reads (the same sources, timing and
``combine``; :func:`snnspec.model.cost.with_synops` places it) and returns, per step, the
synaptic operations that input causes: ``sum(x * fanout)``, a linear function of the input, so
it is differentiable wherever the input is.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray


class SynOpsProbe(eqx.Module):
    """``sum(x * fanout)`` of one sample's input ``x`` at one step (a scalar).

    The fan-out of an input element is ``channel_fanout`` (the output channels of its group, or
    a ``linear``'s ``out_features``) times, for every spatial axis, the number of output
    positions along that axis whose receptive field holds it (``axis_fanouts[a][p]`` for
    position p of axis a). It holds no arrays, so training never updates it.
    """

    channel_fanout: int = eqx.field(static=True)
    axis_fanouts: tuple[tuple[int, ...], ...] = eqx.field(static=True)

    def fanout_map(self) -> np.ndarray:
        """The fan-out of every element of one channel (shape: the spatial axes; () for dense)."""
        fanout = np.asarray(self.channel_fanout, np.float64)
        for counts in self.axis_fanouts:
            fanout = np.multiply.outer(fanout, np.asarray(counts, np.float64))
        return fanout

    def __call__(
        self, x: Float[Array, " *shape"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, ""]:
        del key
        dtype = x.dtype if x.dtype.itemsize >= 4 else jnp.float32  # 16-bit floats: count in 32
        return jnp.sum(x.astype(dtype) * jnp.asarray(self.fanout_map(), dtype))
