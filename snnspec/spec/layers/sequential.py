"""``sequential``: a nested block of Equinox layers, lowered to ``eqx.nn.Sequential``.

Members are any registered layer that is not a neuron (neurons belong in the graph, where
their state and timing are explicit). A block with a ``batch_norm`` member is an Equinox
``StatefulLayer`` and its ``eqx.nn.State`` is threaded through the scan. Parameters are keyed
``<block>.<member index>.<field>``.
"""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from ..._errors import ShapeError
from .base import LayerSpec, Shape

if TYPE_CHECKING:
    import jax
    import numpy as np

    from ..model import Layer


class SequentialSpec(LayerSpec):
    """A chain of Equinox layers applied in order as one layer (``eqx.nn.Sequential``)."""

    type: Literal["sequential"] = "sequential"
    runtime = "equinox.nn:Sequential"
    layers: "tuple[Layer, ...]" = Field(  # pyright: ignore[reportInvalidTypeForm]  (registry union)
        min_length=1, max_length=1000, description="The members, applied in order."
    )

    example = {
        "type": "sequential",
        "layers": [{"type": "linear", "out_features": 5}, {"type": "lambda", "fn": "relu"}],
    }

    @field_validator("layers")
    @classmethod
    def _no_neurons(cls, members: tuple[LayerSpec, ...]) -> tuple[LayerSpec, ...]:
        for member in members:
            if member.stateful:
                raise ValueError(
                    f"a sequential block holds Equinox layers only, not the neuron "
                    f"'{member.type}'; put neurons in the graph"
                )
            if member.inputs is not None or member.name is not None:
                raise ValueError("members of a sequential block take no `name` or `inputs`")
        return members

    def member_input_shapes(self, input_shape: Shape) -> list[Shape]:
        """Input shape of each member."""
        shapes = [input_shape]
        for member in self.layers[:-1]:
            shapes.append(self._infer_member(len(shapes) - 1, member, shapes[-1]))
        return shapes

    def infer_output_shape(self, input_shape: Shape | None) -> Shape | None:
        shape = input_shape
        for index, member in enumerate(self.layers):
            shape = self._infer_member(index, member, shape)
        return shape

    @staticmethod
    def _infer_member(index: int, member: LayerSpec, shape: Shape | None) -> Any:
        try:
            return member.infer_output_shape(shape)
        except ShapeError as error:
            raise ShapeError(error.message, path=("layers", index, *error.path)) from None

    def resolve(self, input_shape: Shape) -> "SequentialSpec":
        shapes = self.member_input_shapes(input_shape)
        members = tuple(m.resolve(s) for m, s in zip(self.layers, shapes, strict=True))
        return self.model_copy(update={"layers": members})

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        shapes = self.member_input_shapes(input_shape)
        return {
            f"{index}.{key}": shape
            for index, (member, member_shape) in enumerate(zip(self.layers, shapes, strict=True))
            for key, shape in member.parameter_shapes(member_shape).items()
        }

    def parameter_problem(self, key: str, values: "np.ndarray") -> str | None:
        index, _, member_key = key.partition(".")
        return self.layers[int(index)].parameter_problem(member_key, values)

    def state_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        shapes = self.member_input_shapes(input_shape)
        return {
            f"{index}.{key}": shape
            for index, (member, member_shape) in enumerate(zip(self.layers, shapes, strict=True))
            for key, shape in member.state_shapes(member_shape).items()
        }

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        import equinox as eqx
        import jax

        shapes = self.member_input_shapes(input_shape)
        return eqx.nn.Sequential(
            [
                member.build(shape, dtype, jax.random.fold_in(key, index))
                for index, (member, shape) in enumerate(zip(self.layers, shapes, strict=True))
            ]
        )
