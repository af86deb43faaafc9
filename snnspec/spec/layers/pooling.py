"""Pooling: ``max_pool1d``, ``max_pool2d``, ``avg_pool1d``, ``avg_pool2d``, ``sum_pool2d``.

Samples are channel-first, (C, L) or (C, H, W); each channel is pooled on its own. The stride
defaults to the kernel size (non-overlapping windows) as in PyTorch (Equinox's pooling
layers, which SNNAX uses, default to 1), and each spatial axis of size L gives
floor((L + 2p - k) / s) + 1 outputs. Padding is at most half the
kernel (PyTorch's rule), so every window holds at least one input element: max pooling pads
with -inf, average and sum pooling with zeros (the average divides by the full window size,
PyTorch's ``count_include_pad=True``).
"""

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from ..._errors import ShapeError
from .base import LayerSpec, Shape, require_rank
from .conv import LAYOUTS, Spatial, SpatialPadding, check_axes, per_axis, spatial_output

if TYPE_CHECKING:
    import jax


class AbstractPoolSpec(LayerSpec):
    """Fields and shape rules shared by the pooling layers."""

    kernel_size: Spatial = Field(description="Window size: one int, or one per spatial axis.")
    stride: Spatial | None = Field(
        default=None, description="Window step: one int, or one per axis; default kernel_size."
    )
    padding: SpatialPadding = Field(
        default=0,
        description="Padding on both sides of each spatial axis (at most kernel_size // 2).",
    )

    num_spatial_dims: ClassVar[int]

    @field_validator("kernel_size", "stride", "padding")
    @classmethod
    def _one_per_axis(cls, value: Any) -> Any:
        return check_axes(value, cls.num_spatial_dims)

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(kernel, stride, padding), one value per spatial axis each."""
        n = self.num_spatial_dims
        kernel = per_axis(self.kernel_size, n)
        stride = kernel if self.stride is None else per_axis(self.stride, n)
        return kernel, stride, per_axis(self.padding, n)

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        """The runtime class over :meth:`window` (it has no parameters)."""
        return self.runtime_classes()[0](*self.window())

    def resolve(self, input_shape: Shape) -> "AbstractPoolSpec":
        stride = self.kernel_size if self.stride is None else self.stride
        return self.model_copy(update={"stride": stride})

    def infer_output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is None:
            return None
        n = self.num_spatial_dims
        require_rank(input_shape, n + 1, self.type, f"it takes channel-first samples {LAYOUTS[n]}")
        kernel, stride, padding = self.window()
        for k, p in zip(kernel, padding, strict=True):
            if 2 * p > k:
                raise ShapeError(
                    f"padding {p} is more than half of kernel_size {k}; a window could then "
                    "hold padding only",
                    path=("padding",),
                )
        channels, *spatial = input_shape
        sizes = spatial_output(self.type, spatial, kernel, stride, padding, (1,) * n)
        return (channels, *sizes)


class MaxPool1dSpec(AbstractPoolSpec):
    """Maximum over sliding windows of (C, L) samples, as ``eqx.nn.MaxPool1d``."""

    type: Literal["max_pool1d"] = "max_pool1d"
    runtime = "equinox.nn:MaxPool1d"
    num_spatial_dims = 1
    example = {"type": "max_pool1d", "kernel_size": 2}
    example_input_shape = (2, 7)


class MaxPool2dSpec(AbstractPoolSpec):
    """Maximum over sliding windows of (C, H, W) samples, as ``eqx.nn.MaxPool2d``."""

    type: Literal["max_pool2d"] = "max_pool2d"
    runtime = "equinox.nn:MaxPool2d"
    num_spatial_dims = 2
    example = {"type": "max_pool2d", "kernel_size": 2}
    example_input_shape = (2, 5, 6)


class AvgPool1dSpec(AbstractPoolSpec):
    """Mean over sliding windows of (C, L) samples, as ``eqx.nn.AvgPool1d``."""

    type: Literal["avg_pool1d"] = "avg_pool1d"
    runtime = "equinox.nn:AvgPool1d"
    num_spatial_dims = 1
    example = {"type": "avg_pool1d", "kernel_size": 3, "stride": 2, "padding": 1}
    example_input_shape = (2, 7)


class AvgPool2dSpec(AbstractPoolSpec):
    """Mean over sliding windows of (C, H, W) samples, as ``eqx.nn.AvgPool2d``."""

    type: Literal["avg_pool2d"] = "avg_pool2d"
    runtime = "equinox.nn:AvgPool2d"
    num_spatial_dims = 2
    example = {"type": "avg_pool2d", "kernel_size": 2}
    example_input_shape = (2, 6, 6)


class SumPool2dSpec(AbstractPoolSpec):
    """Sum over sliding windows of (C, H, W) samples (NIR's ``SumPool2d``).

    Equals ``avg_pool2d`` times the window area k_h·k_w; spike counts stay integers.
    """

    type: Literal["sum_pool2d"] = "sum_pool2d"
    runtime = "snnspec.nn.pooling:SumPool2d"
    num_spatial_dims = 2
    example = {"type": "sum_pool2d", "kernel_size": [2, 3], "stride": 1}
    example_input_shape = (2, 4, 5)
