"""The fixed table of activation functions for ``lambda`` layers."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array

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
"""Activation name -> function; keys equal ``snnspec.layers.elementwise.ACTIVATIONS``."""
