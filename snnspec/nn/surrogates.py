"""Surrogate gradients: forward H(x) (H(0) = 1), backward the surrogate's ``derivative``.

Each surrogate is an Equinox module with static hyperparameters, so it prints, compares and
serialises; the formulas are documented on the specs in :mod:`snnspec.spec.layers.surrogates`.
"""

from __future__ import annotations

import abc
import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def heaviside(x: Float[Array, " *shape"]) -> Float[Array, " *shape"]:
    """H(x) = 1 for x >= 0, else 0, in the dtype of x."""
    return (x >= 0).astype(x.dtype)


class AbstractSurrogate(eqx.Module):
    """Heaviside step whose gradient is replaced by :meth:`derivative`."""

    @abc.abstractmethod
    def derivative(self, x: Float[Array, " *shape"]) -> Float[Array, " *shape"]:
        """The surrogate of dH/dx at x."""

    def __call__(self, x: Float[Array, " *shape"]) -> Float[Array, " *shape"]:
        return _heaviside_with_surrogate(self, x)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _heaviside_with_surrogate(surrogate: AbstractSurrogate, x: Array) -> Array:
    return heaviside(x)


@_heaviside_with_surrogate.defjvp
def _heaviside_with_surrogate_jvp(
    surrogate: AbstractSurrogate, primals: tuple[Array], tangents: tuple[Array]
) -> tuple[Array, Array]:
    (x,), (x_dot,) = primals, tangents
    return heaviside(x), surrogate.derivative(x).astype(x.dtype) * x_dot


class SuperSpike(AbstractSurrogate):
    """1 / (1 + beta·|x|)."""

    beta: float = eqx.field(static=True, default=10.0)

    def derivative(self, x: Array) -> Array:
        return 1.0 / (1.0 + self.beta * jnp.abs(x))


class FastSigmoid(AbstractSurrogate):
    """1 / (1 + slope·|x|)²."""

    slope: float = eqx.field(static=True, default=25.0)

    def derivative(self, x: Array) -> Array:
        return 1.0 / (1.0 + self.slope * jnp.abs(x)) ** 2


class Sigmoid(AbstractSurrogate):
    """slope·σ(slope·x)·(1 - σ(slope·x))."""

    slope: float = eqx.field(static=True, default=25.0)

    def derivative(self, x: Array) -> Array:
        sigma = jax.nn.sigmoid(self.slope * x)
        return self.slope * sigma * (1.0 - sigma)


class Piecewise(AbstractSurrogate):
    """1 where |x| < beta, else 0."""

    beta: float = eqx.field(static=True, default=0.5)

    def derivative(self, x: Array) -> Array:
        return (jnp.abs(x) < self.beta).astype(x.dtype)


class Arctan(AbstractSurrogate):
    """(alpha/2) / (1 + (π·alpha·x/2)²)."""

    alpha: float = eqx.field(static=True, default=2.0)

    def derivative(self, x: Array) -> Array:
        return (self.alpha / 2.0) / (1.0 + (math.pi * self.alpha * x / 2.0) ** 2)


class Triangular(AbstractSurrogate):
    """beta·max(0, 1 - beta·|x|)."""

    beta: float = eqx.field(static=True, default=1.0)

    def derivative(self, x: Array) -> Array:
        return self.beta * jnp.maximum(0.0, 1.0 - self.beta * jnp.abs(x))


class StraightThrough(AbstractSurrogate):
    """1."""

    def derivative(self, x: Array) -> Array:
        return jnp.ones_like(x)


SURROGATE_MODULES: dict[str, type[AbstractSurrogate]] = {
    "superspike": SuperSpike,
    "fast_sigmoid": FastSigmoid,
    "sigmoid": Sigmoid,
    "piecewise": Piecewise,
    "arctan": Arctan,
    "triangular": Triangular,
    "straight_through": StraightThrough,
}
"""Surrogate type name -> module; keys equal the spec registry's (checked by a test)."""
