"""Pooling that Equinox does not have: ``SumPool2d`` (NIR's sum pooling)."""

from __future__ import annotations

import equinox as eqx
import jax
from jaxtyping import Array, Float


class SumPool2d(eqx.Module):
    """Sum over sliding (k_h, k_w) windows of a (C, H, W) sample, zero padded."""

    kernel_size: tuple[int, int] = eqx.field(static=True)
    stride: tuple[int, int] = eqx.field(static=True)
    padding: tuple[int, int] = eqx.field(static=True)

    def __init__(
        self, kernel_size: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...]
    ) -> None:
        self.kernel_size = (kernel_size[0], kernel_size[1])
        self.stride = (stride[0], stride[1])
        self.padding = (padding[0], padding[1])

    def __call__(
        self, x: Float[Array, "c h w"], *, key: Array | None = None
    ) -> Float[Array, "c h2 w2"]:
        return jax.lax.reduce_window(
            x,
            0.0,
            jax.lax.add,
            (1, *self.kernel_size),
            (1, *self.stride),
            ((0, 0), *((p, p) for p in self.padding)),
        )
