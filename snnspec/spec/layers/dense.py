"""Dense layers: ``linear`` (lowered to ``eqx.nn.Linear``)."""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..._errors import ShapeError
from .base import Bool, Count, LayerSpec, Shape, require_rank
from .weights import WeightInitMixin

if TYPE_CHECKING:
    import jax


class LinearSpec(LayerSpec, WeightInitMixin):
    """Affine map y = W x + b on a 1-D input; W has shape (out_features, in_features).

    ``weight_init`` and ``bias_init`` choose the initial W and b (default: Equinox's
    U(±1/sqrt(in_features)) for both).
    """

    type: Literal["linear"] = "linear"
    runtime = "equinox.nn:Linear"
    weighted = True
    out_features: Count = Field(description="Output size.")
    in_features: Count | None = Field(default=None, description="Input size; inferred when absent.")
    use_bias: Bool = Field(default=True, description="Add the bias b.")

    example = {"type": "linear", "out_features": 4}

    def infer_output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is not None:
            require_rank(input_shape, 1, "linear", "add a `flatten` layer before it")
            if self.in_features is not None and self.in_features != input_shape[0]:
                raise ShapeError(
                    f"in_features is {self.in_features} but the input has {input_shape[0]} "
                    "features; remove in_features to infer it or fix the graph",
                    path=("in_features",),
                )
        return (self.out_features,)

    def resolve(self, input_shape: Shape) -> "LinearSpec":
        return self.model_copy(update={"in_features": input_shape[0]})

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {"weight": (self.out_features, input_shape[0])}
        if self.use_bias:
            shapes["bias"] = (self.out_features,)
        return shapes

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        import equinox as eqx
        import jax.numpy as jnp

        module = eqx.filter_eval_shape(
            eqx.nn.Linear,
            input_shape[0],
            self.out_features,
            self.use_bias,
            dtype=jnp.dtype(dtype),
            key=key,
        )
        return self.initialised(module, key)
