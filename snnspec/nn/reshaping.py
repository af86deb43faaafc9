"""Shape-only layers."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import Array, Shaped


class Flatten(eqx.Module):
    """Flattens one sample to 1-D."""

    def __call__(self, x: Shaped[Array, ...], *, key: Array | None = None) -> Shaped[Array, " n"]:
        return x.reshape(-1)


class Reshape(eqx.Module):
    """Reshapes one sample to ``shape`` (fully known: no -1)."""

    shape: tuple[int, ...] = eqx.field(static=True)

    def __call__(self, x: Shaped[Array, ...], *, key: Array | None = None) -> Shaped[Array, ...]:
        return x.reshape(self.shape)
