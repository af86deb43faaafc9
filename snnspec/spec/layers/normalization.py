"""Normalisation without running statistics: ``layer_norm``, ``group_norm``.

Both act on one sample at one time step (no batch or time statistics), with the biased
variance, as ``eqx.nn.LayerNorm`` and ``eqx.nn.GroupNorm`` compute them.
"""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from ..._errors import ShapeError
from .base import Bool, Count, Float, LayerSpec, Shape

if TYPE_CHECKING:
    import jax


class LayerNormSpec(LayerSpec):
    """Normalises each sample over all its elements, as ``eqx.nn.LayerNorm``.

    y = (x - mean(x)) / sqrt(var(x) + eps) · weight + bias, with mean and (biased) variance over
    the whole per-sample input and weight, bias of the input's shape (initialised to 1 and 0).
    """

    type: Literal["layer_norm"] = "layer_norm"
    runtime = "equinox.nn:LayerNorm"
    eps: Float = Field(
        default=1e-5,
        ge=1e-12,
        le=1.0,
        description="Added to the variance (>= 1e-12, so it survives float32).",
    )
    use_weight: Bool = Field(default=True, description="Learn the elementwise factor `weight`.")
    use_bias: Bool = Field(default=True, description="Learn the elementwise offset `bias`.")
    elementwise_affine: Bool | None = Field(
        default=None,
        description="Equinox's older switch for both: sets use_weight and use_bias together.",
    )
    shape_preserving = True
    example = {"type": "layer_norm"}
    example_input_shape = (2, 3)

    @model_validator(mode="after")
    def _one_affine_switch(self) -> "LayerNormSpec":
        both = {"use_weight", "use_bias"} & self.model_fields_set
        if self.elementwise_affine is not None and both:
            raise ValueError(f"give elementwise_affine or {' and '.join(sorted(both))}, not both")
        return self

    def affine(self) -> tuple[bool, bool]:
        """Whether the module has (weight, bias)."""
        if self.elementwise_affine is not None:
            return self.elementwise_affine, self.elementwise_affine
        return self.use_weight, self.use_bias

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        use_weight, use_bias = self.affine()
        return {
            **({"weight": input_shape} if use_weight else {}),
            **({"bias": input_shape} if use_bias else {}),
        }

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        import equinox as eqx
        import jax.numpy as jnp

        use_weight, use_bias = self.affine()
        # Not Equinox's own elementwise_affine argument: it emits a DeprecationWarning.
        return eqx.nn.LayerNorm(input_shape, self.eps, use_weight, use_bias, dtype=jnp.dtype(dtype))


class GroupNormSpec(LayerSpec):
    """Normalises each group of channels of a sample, as ``eqx.nn.GroupNorm``.

    The C channels (axis 0) are split into `groups` consecutive groups of C / groups; each
    group g is normalised over all its elements: y = (x - mean_g) / sqrt(var_g + eps), then
    y[c] · weight[c] + bias[c] per channel when `channelwise_affine` (weight, bias of shape
    (C,), initialised to 1 and 0).
    """

    type: Literal["group_norm"] = "group_norm"
    runtime = "equinox.nn:GroupNorm"
    groups: Count = Field(description="Number of channel groups; must divide the channels.")
    channels: Count | None = Field(
        default=None, description="Number of channels (axis 0 of a sample); inferred when absent."
    )
    eps: Float = Field(
        default=1e-5,
        ge=1e-12,
        le=1.0,
        description="Added to the variance (>= 1e-12, so it survives float32).",
    )
    channelwise_affine: Bool = Field(
        default=True, description="Learn a factor `weight` and an offset `bias` per channel."
    )
    shape_preserving = True
    example = {"type": "group_norm", "groups": 2}
    example_input_shape = (4, 3)

    def infer_output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is None:
            return None
        if not input_shape:
            raise ShapeError("group_norm needs a channel axis (axis 0); the input is a scalar")
        channels = input_shape[0]
        if self.channels is not None and self.channels != channels:
            raise ShapeError(
                f"channels is {self.channels} but the input has {channels} channels (axis 0); "
                "remove channels to infer it or fix the graph",
                path=("channels",),
            )
        if channels % self.groups:
            raise ShapeError(
                f"groups ({self.groups}) must divide the input channels ({channels})",
                path=("groups",),
            )
        return input_shape

    def resolve(self, input_shape: Shape) -> "GroupNormSpec":
        return self.model_copy(update={"channels": input_shape[0]})

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        channels = (input_shape[0],)
        return {"weight": channels, "bias": channels} if self.channelwise_affine else {}

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        import equinox as eqx
        import jax.numpy as jnp

        return eqx.nn.GroupNorm(
            self.groups, input_shape[0], self.eps, self.channelwise_affine, dtype=jnp.dtype(dtype)
        )
