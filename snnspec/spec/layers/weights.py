"""Initial weights and biases of ``linear`` and ``conv*``: ``weight_init`` and ``bias_init``.

A scheme is written as its name (``weight_init: kaiming_uniform``) or as a mapping with its
options (``weight_init: {type: normal, std: 0.01}``). Layouts are Equinox's: a ``linear``
weight is (out_features, in_features), a convolution's (out_channels, in_channels / groups,
*kernel_size); so fan_in = in_features (conv: in_channels / groups x the kernel size) and
fan_out = out_features (conv: out_channels x the kernel size). Where ``jax.nn.initializers``
has the scheme it draws the values, with ``in_axis=1`` and ``out_axis=0`` (``column_axis=0``
for ``orthogonal``), so that the fans above are the ones it uses.

Keys are those of Equinox: a layer's key is split in two, the first half draws the weight and
the second the bias, so changing ``weight_init`` leaves the bias as it was, and ``default``
(U(±1/sqrt(fan_in)), Equinox's own) gives exactly Equinox's values. Every array is drawn over
its flattened shape and then reshaped: JAX numbers the random counters by the row-major index,
so the values are the same as drawing in the array's shape, and XLA compiles a flat draw in a
fraction of the time of a 4-D one (this is what makes ``snnspec.compile`` of a conv net fast).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BeforeValidator,
    Field,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticUndefined

from .base import Float, SpecModel

if TYPE_CHECKING:
    import jax

Shape = tuple[int, ...]
Gain = Annotated[Float, Field(gt=0, le=1e6)]

IN_AXIS, OUT_AXIS = 1, 0
"""The input and output axes of Equinox's (out, in) and (out, in / groups, *kernel) weights."""


def fans(weight_shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of Equinox's layout: the kernel axes count for both."""
    receptive = math.prod(weight_shape[2:])
    return weight_shape[IN_AXIS] * receptive, weight_shape[OUT_AXIS] * receptive


def _flat(shape: Shape) -> Shape:
    return (math.prod(shape),)


def _kernel_merged(shape: Shape) -> Shape:
    """``shape`` with the kernel axes merged into one: the same fans, the same row-major order."""
    return shape if len(shape) <= 3 else (*shape[:2], math.prod(shape[2:]))


class AbstractWeightInitSpec(SpecModel):
    """An initialisation scheme: draws an array of a shape from a key."""

    type: str
    formula: ClassVar[str]
    """The distribution, for the docs (n_in = fan_in, n_out = fan_out, g = gain)."""
    for_bias: ClassVar[bool] = True
    """Whether the scheme also initialises biases (schemes defined by a matrix's fans do not)."""

    def sample(self, key: jax.Array, shape: Shape, dtype: Any, weight_shape: Shape) -> jax.Array:
        """An array of ``shape`` and ``dtype``; ``weight_shape`` gives the layer's fans."""
        raise NotImplementedError

    @model_serializer(mode="wrap")
    def _name_alone(self, handler: Callable[[Any], Any]) -> Any:
        """The bare name when every option has its default (``weight_init: default``)."""
        fields = type(self).model_fields
        if all(
            info.default is not PydanticUndefined and getattr(self, name) == info.default
            for name, info in fields.items()
            if name != "type"
        ):
            return self.type
        return handler(self)

    @classmethod
    def type_name(cls) -> str:
        return cls.model_fields["type"].default

    @classmethod
    def options(cls) -> tuple[str, ...]:
        return tuple(name for name in cls.model_fields if name != "type")


class DefaultWeightInitSpec(AbstractWeightInitSpec):
    """Equinox's (and PyTorch's) default: U(-g/sqrt(n_in), g/sqrt(n_in))."""

    type: Literal["default"] = "default"
    gain: Gain = Field(default=1.0, description="Multiplies the bounds (and so the std).")
    formula: ClassVar[str] = "U(±g/√n_in), std g/√(3·n_in); the bias uses the weight's n_in"

    def sample(self, key: jax.Array, shape: Shape, dtype: Any, weight_shape: Shape) -> jax.Array:
        import jax

        limit = self.gain / math.sqrt(fans(weight_shape)[0])  # Equinox's 1 / sqrt(fan_in)
        flat = jax.random.uniform(key, _flat(shape), dtype, minval=-limit, maxval=limit)
        return flat.reshape(shape)


class AbstractVarianceScalingSpec(AbstractWeightInitSpec):
    """``jax.nn.initializers.variance_scaling`` with g² times the scheme's scale."""

    gain: Gain = Field(default=1.0, description="Multiplies the standard deviation.")
    for_bias: ClassVar[bool] = False
    scale: ClassVar[float]
    mode: ClassVar[Literal["fan_in", "fan_avg"]]
    distribution: ClassVar[Literal["uniform", "truncated_normal"]]

    def sample(self, key: jax.Array, shape: Shape, dtype: Any, weight_shape: Shape) -> jax.Array:
        import jax

        init = jax.nn.initializers.variance_scaling(
            self.scale * self.gain**2,
            self.mode,
            self.distribution,
            in_axis=IN_AXIS,
            out_axis=OUT_AXIS,
        )
        return init(key, _kernel_merged(shape), dtype).reshape(shape)


class KaimingUniformWeightInitSpec(AbstractVarianceScalingSpec):
    """He et al. (2015), as ``jax.nn.initializers.he_uniform``: U(±g·sqrt(6/n_in))."""

    type: Literal["kaiming_uniform"] = "kaiming_uniform"
    scale = 2.0
    mode = "fan_in"
    distribution = "uniform"
    formula: ClassVar[str] = "U(±g·√(6/n_in)), std g·√(2/n_in) (`he_uniform`)"


class KaimingNormalWeightInitSpec(AbstractVarianceScalingSpec):
    """He et al. (2015), as ``jax.nn.initializers.he_normal``: a normal truncated at ±2 std."""

    type: Literal["kaiming_normal"] = "kaiming_normal"
    scale = 2.0
    mode = "fan_in"
    distribution = "truncated_normal"
    formula: ClassVar[str] = "normal truncated at ±2 std, rescaled to std g·√(2/n_in) (`he_normal`)"


class XavierUniformWeightInitSpec(AbstractVarianceScalingSpec):
    """Glorot & Bengio (2010), as ``jax.nn.initializers.glorot_uniform``."""

    type: Literal["xavier_uniform"] = "xavier_uniform"
    scale = 1.0
    mode = "fan_avg"
    distribution = "uniform"
    formula: ClassVar[str] = (
        "U(±g·√(6/(n_in + n_out))), std g·√(2/(n_in + n_out)) (`glorot_uniform`)"
    )


class XavierNormalWeightInitSpec(AbstractVarianceScalingSpec):
    """Glorot & Bengio (2010), as ``jax.nn.initializers.glorot_normal``."""

    type: Literal["xavier_normal"] = "xavier_normal"
    scale = 1.0
    mode = "fan_avg"
    distribution = "truncated_normal"
    formula: ClassVar[str] = (
        "normal truncated at ±2 std, rescaled to std g·√(2/(n_in + n_out)) (`glorot_normal`)"
    )


class NormalWeightInitSpec(AbstractWeightInitSpec):
    """N(0, (g·std)²), as ``jax.nn.initializers.normal``."""

    type: Literal["normal"] = "normal"
    std: Annotated[Float, Field(ge=0)] = Field(description="Standard deviation.")
    gain: Gain = Field(default=1.0, description="Multiplies the standard deviation.")
    formula: ClassVar[str] = "N(0, (g·std)²)"

    def sample(self, key: jax.Array, shape: Shape, dtype: Any, weight_shape: Shape) -> jax.Array:
        import jax

        init = jax.nn.initializers.normal(self.std * self.gain)
        return init(key, _flat(shape), dtype).reshape(shape)


class UniformWeightInitSpec(AbstractWeightInitSpec):
    """U[a, b), as ``jax.random.uniform`` (``jax.nn.initializers.uniform`` is U[0, scale))."""

    type: Literal["uniform"] = "uniform"
    a: Float = Field(description="Lower bound (inclusive).")
    b: Float = Field(description="Upper bound (exclusive).")
    formula: ClassVar[str] = "U[a, b)"

    @model_validator(mode="after")
    def _check_bounds(self) -> UniformWeightInitSpec:
        if not self.a < self.b:
            raise ValueError(f"a ({self.a}) must be smaller than b ({self.b})")
        return self

    def sample(self, key: jax.Array, shape: Shape, dtype: Any, weight_shape: Shape) -> jax.Array:
        import jax

        return jax.random.uniform(key, _flat(shape), dtype, self.a, self.b).reshape(shape)


class OrthogonalWeightInitSpec(AbstractWeightInitSpec):
    """Saxe et al. (2014), as ``jax.nn.initializers.orthogonal`` with ``column_axis=0``.

    For the 16-bit dtypes it runs in float32 and the result is rounded (JAX's QR takes no
    16-bit floats)."""

    type: Literal["orthogonal"] = "orthogonal"
    gain: Gain = Field(default=1.0, description="Multiplies the matrix (its singular values).")
    for_bias: ClassVar[bool] = False
    formula: ClassVar[str] = (
        "g·Q, Q with orthonormal rows (out ≤ in·k) or columns, as a (out, in·k) matrix"
    )

    def sample(self, key: jax.Array, shape: Shape, dtype: Any, weight_shape: Shape) -> jax.Array:
        import jax
        import jax.numpy as jnp

        init = jax.nn.initializers.orthogonal(self.gain, column_axis=OUT_AXIS)
        # JAX's QR takes no 16-bit floats: those are computed in float32, then rounded
        wide = jnp.float32 if jnp.finfo(dtype).bits < 32 else dtype
        matrix = init(key, (shape[0], math.prod(shape[1:])), wide)
        return matrix.astype(dtype).reshape(shape)


class ZerosWeightInitSpec(AbstractWeightInitSpec):
    """All zeros, as ``jax.nn.initializers.zeros``."""

    type: Literal["zeros"] = "zeros"
    formula: ClassVar[str] = "0"

    def sample(self, key: jax.Array, shape: Shape, dtype: Any, weight_shape: Shape) -> jax.Array:
        import jax

        return jax.nn.initializers.zeros(key, shape, dtype)


class ConstantWeightInitSpec(AbstractWeightInitSpec):
    """Every entry ``value``, as ``jax.nn.initializers.constant``."""

    type: Literal["constant"] = "constant"
    value: Float = Field(description="The value of every entry.")
    formula: ClassVar[str] = "value"

    def sample(self, key: jax.Array, shape: Shape, dtype: Any, weight_shape: Shape) -> jax.Array:
        import jax

        return jax.nn.initializers.constant(self.value, dtype)(key, shape, dtype)


WEIGHT_INIT_TYPES: dict[str, type[AbstractWeightInitSpec]] = {
    cls.type_name(): cls
    for cls in (
        DefaultWeightInitSpec,
        KaimingUniformWeightInitSpec,
        KaimingNormalWeightInitSpec,
        XavierUniformWeightInitSpec,
        XavierNormalWeightInitSpec,
        NormalWeightInitSpec,
        UniformWeightInitSpec,
        OrthogonalWeightInitSpec,
        ZerosWeightInitSpec,
        ConstantWeightInitSpec,
    )
}
"""Every scheme of ``weight_init``, by name."""

BIAS_INIT_TYPES = {name: cls for name, cls in WEIGHT_INIT_TYPES.items() if cls.for_bias}
"""The schemes ``bias_init`` takes: those not defined by a matrix's fans."""


def _by_name(allowed: Mapping[str, type[AbstractWeightInitSpec]], field: str) -> Any:
    """A before-validator: a scheme's bare name stands for ``{type: name}``."""

    def parse(value: Any) -> Any:
        name = value if isinstance(value, str) else None
        if isinstance(value, Mapping):
            name = value.get("type")  # pyright: ignore[reportUnknownMemberType]
        if isinstance(name, str) and name in WEIGHT_INIT_TYPES and name not in allowed:
            raise ValueError(
                f"{name} is defined by a weight matrix's fans and does not apply to a bias; "
                f"{field} takes one of: {', '.join(allowed)}"
            )
        if not isinstance(value, str):
            return value
        fields = allowed.get(value, DefaultWeightInitSpec).model_fields
        required = [option for option, info in fields.items() if info.is_required()]
        if required:
            options = ", ".join(f"{option}: ..." for option in required)
            raise ValueError(f"{value} needs options: write {{type: {value}, {options}}}")
        return {"type": value}

    return parse


def _names_alone(schemes: Mapping[str, type[AbstractWeightInitSpec]]) -> Any:
    """The schemes that can be written as a bare name: those without required options."""
    names = tuple(
        name
        for name, cls in schemes.items()
        if not any(info.is_required() for info in cls.model_fields.values())
    )
    return Literal[names]  # pyright: ignore[reportInvalidTypeForm]


WeightInit = Annotated[
    Union[tuple(WEIGHT_INIT_TYPES.values())],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="type"),
    BeforeValidator(
        _by_name(WEIGHT_INIT_TYPES, "weight_init"),
        json_schema_input_type=Union[  # noqa: UP007
            _names_alone(WEIGHT_INIT_TYPES),
            Annotated[
                Union[tuple(WEIGHT_INIT_TYPES.values())],  # type: ignore[valid-type]  # noqa: UP007
                Field(discriminator="type"),
            ],
        ],
    ),
]
"""A ``weight_init`` scheme: its name, or ``{type: name, options...}``."""

BiasInit = Annotated[
    Union[tuple(BIAS_INIT_TYPES.values())],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="type"),
    BeforeValidator(
        _by_name(BIAS_INIT_TYPES, "bias_init"),
        json_schema_input_type=Union[  # noqa: UP007
            _names_alone(BIAS_INIT_TYPES),
            Annotated[
                Union[tuple(BIAS_INIT_TYPES.values())],  # type: ignore[valid-type]  # noqa: UP007
                Field(discriminator="type"),
            ],
        ],
    ),
]
"""A ``bias_init`` scheme: its name, or ``{type: name, options...}``."""


class WeightInitMixin(SpecModel):
    """The ``weight_init`` and ``bias_init`` options of the layers with a weight and a bias."""

    weight_init: WeightInit = Field(  # pyright: ignore[reportInvalidTypeForm]
        default_factory=DefaultWeightInitSpec,
        description="Initial weight: a scheme's name or `{type: scheme, options}` (see "
        "[Weight and bias initialisation](#weight-and-bias-initialisation)).",
    )
    bias_init: BiasInit = Field(  # pyright: ignore[reportInvalidTypeForm]
        default_factory=DefaultWeightInitSpec,
        description="Initial bias: `default`, `zeros`, `constant`, `normal` or `uniform`.",
    )

    if TYPE_CHECKING:
        use_bias: bool  # declared by each layer, with its own description

    @model_validator(mode="after")
    def _bias_init_needs_a_bias(self) -> WeightInitMixin:
        if not self.use_bias and self.bias_init != DefaultWeightInitSpec():
            raise ValueError(
                "bias_init is given but use_bias is false, so there is no bias to initialise; "
                "remove bias_init or set use_bias: true"
            )
        return self

    def initialised(self, module: Any, key: jax.Array) -> Any:
        """``module`` (whose weight and bias may be shapes only, from ``eqx.filter_eval_shape``)
        with its arrays drawn from ``key`` by the schemes, split as Equinox splits it."""
        import equinox as eqx
        import jax

        weight_key, bias_key = jax.random.split(key, 2)
        shape = module.weight.shape
        weight = self.weight_init.sample(weight_key, shape, module.weight.dtype, shape)
        if module.bias is None:
            return eqx.tree_at(lambda m: m.weight, module, weight)
        bias = self.bias_init.sample(bias_key, module.bias.shape, module.bias.dtype, shape)
        return eqx.tree_at(lambda m: (m.weight, m.bias), module, (weight, bias))
