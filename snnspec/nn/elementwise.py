"""The fixed table of activation functions for ``lambda`` layers, and ``Scale``."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .surrogates import heaviside

ACTIVATION_FUNCTIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "softplus": jax.nn.softplus,
    "elu": jax.nn.elu,
    "leaky_relu": jax.nn.leaky_relu,
    "abs": jnp.abs,
    "heaviside": heaviside,
}
"""Activation name -> function; keys equal ``snnspec.spec.layers.elementwise.ACTIVATIONS``."""


class Scale(eqx.Module):
    """y = scale · x with a trainable scalar ``scale`` (frozen when not ``trainable``)."""

    scale: Float[Array, ""]
    trainable: bool = eqx.field(static=True, default=True)

    def __call__(self, x: Float[Array, ...], *, key: Array | None = None) -> Float[Array, ...]:
        scale = self.scale if self.trainable else jax.lax.stop_gradient(self.scale)
        return scale * x
