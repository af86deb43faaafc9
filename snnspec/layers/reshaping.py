"""Layers that only rearrange their input: ``flatten``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from .base import LayerSpec, Shape, shape_size

if TYPE_CHECKING:
    import jax


class FlattenSpec(LayerSpec):
    """Flattens the per-sample input to 1-D (the batch and time axes are untouched)."""

    type: Literal["flatten"] = "flatten"
    example = {"type": "flatten"}
    example_input_shape = (2, 3)

    def infer_output_shape(self, input_shape: Shape | None) -> Shape | None:
        return None if input_shape is None else (shape_size(input_shape),)

    def build(self, input_shape: Shape, dtype: str, key: jax.Array) -> Any:
        from ..nn.reshaping import Flatten

        return Flatten()
