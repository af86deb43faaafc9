"""Layers that only rearrange their input: ``flatten``, ``reshape``."""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from ..._errors import ShapeError
from .base import Int, LayerSpec, Shape, shape_size

if TYPE_CHECKING:
    import jax


class FlattenSpec(LayerSpec):
    """Flattens the per-sample input to 1-D (the batch and time axes are untouched)."""

    type: Literal["flatten"] = "flatten"
    runtime = "snnspec.nn.reshaping:Flatten"
    example = {"type": "flatten"}
    example_input_shape = (2, 3)

    def infer_output_shape(self, input_shape: Shape | None) -> Shape | None:
        return None if input_shape is None else (shape_size(input_shape),)

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        from ...nn.reshaping import Flatten

        return Flatten()


class ReshapeSpec(LayerSpec):
    """Reshapes the per-sample input (row-major, like ``jnp.reshape``); -1 takes the rest.

    The batch and time axes are untouched; the number of elements must not change.
    """

    type: Literal["reshape"] = "reshape"
    runtime = "snnspec.nn.reshaping:Reshape"
    shape: tuple[Int, ...] = Field(
        min_length=1,
        max_length=8,
        description="Per-sample output shape: positive sizes, at most one -1 (inferred).",
    )
    example = {"type": "reshape", "shape": [3, -1]}
    example_input_shape = (2, 6)

    @field_validator("shape")
    @classmethod
    def _check_shape(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(size < 1 and size != -1 for size in shape):
            raise ValueError(f"sizes must be positive or -1, got {list(shape)}")
        if shape.count(-1) > 1:
            raise ValueError(f"at most one size can be -1, got {list(shape)}")
        return shape

    def infer_output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is None:
            return None if -1 in self.shape else self.shape
        size = shape_size(input_shape)
        known = shape_size(tuple(s for s in self.shape if s != -1))
        fits = size % known == 0 if -1 in self.shape else size == known
        if not fits:
            raise ShapeError(
                f"cannot reshape the input of shape {list(input_shape)} ({size} elements) to "
                f"{list(self.shape)}",
                path=("shape",),
            )
        return tuple(size // known if s == -1 else s for s in self.shape)

    def resolve(self, input_shape: Shape) -> "ReshapeSpec":
        resolved = self.infer_output_shape(input_shape)
        return self.model_copy(update={"shape": resolved})

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        from ...nn.reshaping import Reshape

        shape = self.infer_output_shape(input_shape)
        assert shape is not None, "the input shape is known"
        return Reshape(shape)
