"""Equinox's stateful ``nn.BatchNorm``: running statistics live in an ``eqx.nn.State``.

The state is threaded through the scan with the rest of the model state and returned with
it. In training mode the statistics are taken over the batch axis named ``"batch"``, which
:func:`snnspec.simulate` provides (``jax.vmap(..., axis_name="batch")``); in inference mode
(``eqx.nn.inference_mode``) the running statistics are used and no batch axis is needed.
"""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from .base import Bool, Float, LayerSpec, Shape

if TYPE_CHECKING:
    import jax

BATCH_AXIS = "batch"
"""Name of the vmapped batch axis that batch statistics are reduced over."""


class BatchNormSpec(LayerSpec):
    """Batch normalisation over the channel axis (axis 0 of a sample), ``eqx.nn.BatchNorm``.

    y = (x - mean) / sqrt(var + eps) · weight + bias, per channel; mean and var over the batch
    in training (``mode: batch``: batch statistics; ``ema``: running averages), the running
    statistics in inference.
    """

    type: Literal["batch_norm"] = "batch_norm"
    runtime = "equinox.nn:BatchNorm"
    eps: Float = Field(
        default=1e-5,
        ge=1e-12,
        le=1.0,
        description="Added to the variance (>= 1e-12, so it survives float32).",
    )
    momentum: Float = Field(
        default=0.99, gt=0, lt=1, description="Decay of the running statistics."
    )
    channelwise_affine: Bool = Field(default=True, description="Learn weight and bias.")
    mode: Literal["batch", "ema"] = Field(
        default="batch", description="Equinox's BatchNorm variant (see its documentation)."
    )

    shape_preserving = True
    example = {"type": "batch_norm"}
    example_input_shape = (3, 4)

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        channels = input_shape[0]
        return {"weight": (channels,), "bias": (channels,)} if self.channelwise_affine else {}

    def state_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        return {"running_mean": (input_shape[0],), "running_var": (input_shape[0],)}

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        import equinox as eqx
        import jax.numpy as jnp

        return eqx.nn.BatchNorm(
            input_shape[0],
            BATCH_AXIS,
            eps=self.eps,
            channelwise_affine=self.channelwise_affine,
            momentum=self.momentum,
            dtype=jnp.dtype(dtype),
            mode=self.mode,
        )
