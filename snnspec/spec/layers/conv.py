"""Convolutions: ``conv1d``, ``conv2d``, ``conv3d`` (lowered to ``eqx.nn.Conv``).

Samples are channel-first without a batch axis: (C, L), (C, H, W), (C, D, H, W). Along each
spatial axis of size L, with kernel k, stride s, padding p and dilation d, the output has
floor((L + 2p - d(k-1) - 1) / s) + 1 elements (ceil(L / s) with ``padding: SAME``), as in
PyTorch, SNNAX and Equinox. The spatial helpers here are shared with :mod:`.pooling`.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, Strict, field_validator

from ..._errors import ShapeError
from .base import Bool, Count, LayerSpec, Shape, require_rank
from .weights import WeightInitMixin

if TYPE_CHECKING:
    import jax

NonNegative = Annotated[int, Strict(), Field(ge=0, le=2**31 - 1)]
Spatial = Count | tuple[Count, ...]
"""One value for every spatial axis, or a list with one value per axis."""
SpatialPadding = NonNegative | tuple[NonNegative, ...]

LAYOUTS = {1: "(C, L)", 2: "(C, H, W)", 3: "(C, D, H, W)"}
"""Per-sample input layout for each number of spatial axes."""


def per_axis(value: int | Sequence[int], n: int) -> tuple[int, ...]:
    """``value`` for each of ``n`` spatial axes (an int is repeated)."""
    return (value,) * n if isinstance(value, int) else tuple(value)


def check_axes(value: Any, n: int) -> Any:
    """Raise ValueError unless a list-valued spatial option has one entry per spatial axis."""
    if isinstance(value, tuple) and len(value) != n:
        raise ValueError(
            f"expected one value or a list of {n} (one per spatial axis), got {len(value)} values"
        )
    return value


def spatial_output(
    layer: str,
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    """floor((L + 2p - d(k-1) - 1) / s) + 1 per axis; ShapeError when it would be empty."""
    sizes = []
    for axis, (size, k, s, p, d) in enumerate(
        zip(spatial, kernel, stride, padding, dilation, strict=True)
    ):
        span = d * (k - 1) + 1
        if size + 2 * p < span:
            spans = f" (spanning {span} with dilation {d})" if d != 1 else ""
            raise ShapeError(
                f"{layer}: kernel_size {k}{spans} is larger than spatial axis {axis + 1} of the "
                f"input, of size {size} + {2 * p} padding; the output would be empty",
                path=("kernel_size",),
            )
        sizes.append((size + 2 * p - span) // s + 1)
    return tuple(sizes)


class AbstractConvSpec(LayerSpec, WeightInitMixin):
    """Fields and shape rules shared by the N-D convolutions."""

    out_channels: Count = Field(description="Number of output channels.")
    kernel_size: Spatial = Field(description="Kernel size: one int, or one per spatial axis.")
    stride: Spatial = Field(default=1, description="Stride: one int, or one per spatial axis.")
    padding: SpatialPadding | Literal["SAME", "VALID"] = Field(
        default=0,
        description="Zero padding on both sides of each spatial axis: one int, one per axis, "
        "`VALID` (= 0) or `SAME` (output size ceil(L / stride); an odd total goes to the end).",
    )
    dilation: Spatial = Field(
        default=1, description="Kernel dilation: one int, or one per spatial axis."
    )
    groups: Count = Field(
        default=1, description="Channel groups; must divide in_channels and out_channels."
    )
    use_bias: Bool = Field(default=True, description="Add a bias per output channel.")
    in_channels: Count | None = Field(
        default=None, description="Input channels (axis 0 of a sample); inferred when absent."
    )

    num_spatial_dims: ClassVar[int]
    weighted = True

    @field_validator("kernel_size", "stride", "dilation", "padding")
    @classmethod
    def _one_per_axis(cls, value: Any) -> Any:
        return check_axes(value, cls.num_spatial_dims)

    def infer_output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is None:
            return None
        n = self.num_spatial_dims
        layout = LAYOUTS[n]
        require_rank(input_shape, n + 1, self.type, f"it takes channel-first samples {layout}")
        channels, *spatial = input_shape
        if self.in_channels is not None and self.in_channels != channels:
            raise ShapeError(
                f"in_channels is {self.in_channels} but the input has {channels} channels "
                f"(axis 0 of {layout}); remove in_channels to infer it or fix the graph",
                path=("in_channels",),
            )
        for name, count in (("input channels", channels), ("out_channels", self.out_channels)):
            if count % self.groups:
                raise ShapeError(
                    f"groups ({self.groups}) must divide the {name} ({count})", path=("groups",)
                )
        kernel = per_axis(self.kernel_size, n)
        stride = per_axis(self.stride, n)
        if self.padding == "SAME":
            return (
                self.out_channels,
                *(-(-size // s) for size, s in zip(spatial, stride, strict=True)),
            )
        padding = per_axis(0 if self.padding == "VALID" else self.padding, n)
        sizes = spatial_output(
            self.type, spatial, kernel, stride, padding, per_axis(self.dilation, n)
        )
        return (self.out_channels, *sizes)

    def resolve(self, input_shape: Shape) -> "AbstractConvSpec":
        return self.model_copy(update={"in_channels": input_shape[0]})

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        n = self.num_spatial_dims
        kernel = per_axis(self.kernel_size, n)
        shapes: dict[str, Shape] = {
            "weight": (self.out_channels, input_shape[0] // self.groups, *kernel)
        }
        if self.use_bias:
            shapes["bias"] = (self.out_channels, *(1,) * n)  # eqx.nn.Conv's bias shape
        return shapes

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        import equinox as eqx
        import jax.numpy as jnp

        module = eqx.filter_eval_shape(
            eqx.nn.Conv,
            num_spatial_dims=self.num_spatial_dims,
            in_channels=input_shape[0],
            out_channels=self.out_channels,
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            use_bias=self.use_bias,
            dtype=jnp.dtype(dtype),
            key=key,
        )
        return self.initialised(module, key)


class Conv1dSpec(AbstractConvSpec):
    """1-D convolution of (C, L) samples, as ``eqx.nn.Conv1d``.

    y[o, l] = b[o] + sum over c in o's group, j of W[o, c, j] x[c, s·l + d·j - p]
    (zero outside the input). W has shape (out_channels, in_channels / groups, k) and b has
    shape (out_channels, 1), as in Equinox.
    """

    type: Literal["conv1d"] = "conv1d"
    runtime = "equinox.nn:Conv"
    also_reads = ("equinox.nn:Conv1d",)
    num_spatial_dims = 1
    example = {"type": "conv1d", "out_channels": 3, "kernel_size": 3, "padding": 1}
    example_input_shape = (2, 8)


class Conv2dSpec(AbstractConvSpec):
    """2-D convolution of (C, H, W) samples, as ``eqx.nn.Conv2d``.

    y[o, h, w] = b[o] + sum over c in o's group, i, j of
    W[o, c, i, j] x[c, s_h·h + d_h·i - p_h, s_w·w + d_w·j - p_w] (zero outside the input).
    W has shape (out_channels, in_channels / groups, k_h, k_w) and b has shape
    (out_channels, 1, 1), as in Equinox.
    """

    type: Literal["conv2d"] = "conv2d"
    runtime = "equinox.nn:Conv"
    also_reads = ("equinox.nn:Conv2d",)
    num_spatial_dims = 2
    example = {"type": "conv2d", "out_channels": 3, "kernel_size": 3, "stride": 2}
    example_input_shape = (2, 6, 6)


class Conv3dSpec(AbstractConvSpec):
    """3-D convolution of (C, D, H, W) samples, as ``eqx.nn.Conv3d``.

    The 3-D analogue of ``conv2d``. W has shape (out_channels, in_channels / groups, k_d, k_h,
    k_w) and b has shape (out_channels, 1, 1, 1), as in Equinox.
    """

    type: Literal["conv3d"] = "conv3d"
    runtime = "equinox.nn:Conv"
    also_reads = ("equinox.nn:Conv3d",)
    num_spatial_dims = 3
    example = {"type": "conv3d", "out_channels": 2, "kernel_size": [2, 3, 3]}
    example_input_shape = (2, 3, 4, 4)
