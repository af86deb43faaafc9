"""Elementwise layers: ``lambda``, ``identity``, ``dropout`` and the trainable ``scale``."""

from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import Field

from .base import Bool, Float, LayerSpec, Shape

if TYPE_CHECKING:
    import jax

Activation = Literal[
    "relu",
    "sigmoid",
    "tanh",
    "gelu",
    "silu",
    "softplus",
    "elu",
    "leaky_relu",
    "abs",
    "heaviside",
]
"""Activation names accepted by ``lambda``; looked up in a fixed table, never by getattr."""

ACTIVATIONS: tuple[str, ...] = get_args(Activation)


class LambdaSpec(LayerSpec):
    """An elementwise activation function from a fixed table, as ``eqx.nn.Lambda``.

    The functions are JAX's defaults: ``gelu`` is the tanh approximation, ``leaky_relu`` has
    slope 0.01 below zero, ``elu`` has alpha 1, ``heaviside`` is H(x) with H(0) = 1.
    """

    type: Literal["lambda"] = "lambda"
    runtime = "equinox.nn:Lambda"
    fn: Activation = Field(description="Activation name (H(0) = 1 for `heaviside`).")
    shape_preserving = True
    example = {"type": "lambda", "fn": "tanh"}

    def build(self, input_shape: tuple[int, ...], dtype: str, key: "jax.Array") -> Any:
        import equinox as eqx

        from ...nn.elementwise import ACTIVATION_FUNCTIONS

        return eqx.nn.Lambda(ACTIVATION_FUNCTIONS[self.fn])


class IdentitySpec(LayerSpec):
    """Passes its input through unchanged (``eqx.nn.Identity``); useful to merge sources."""

    type: Literal["identity"] = "identity"
    runtime = "equinox.nn:Identity"
    shape_preserving = True
    example = {"type": "identity"}

    def build(self, input_shape: tuple[int, ...], dtype: str, key: "jax.Array") -> Any:
        import equinox as eqx

        return eqx.nn.Identity()


class DropoutSpec(LayerSpec):
    """Zeroes each element with probability p and scales the rest by 1/(1-p) in training.

    A fresh mask is drawn at every step; in inference mode (``eqx.nn.inference_mode``,
    which ``snnspec run`` uses) it is the identity.
    """

    type: Literal["dropout"] = "dropout"
    runtime = "equinox.nn:Dropout"
    p: Float = Field(default=0.5, ge=0.0, lt=1.0, description="Drop probability.")
    shape_preserving = True
    example = {"type": "dropout", "p": 0.25}

    def build(self, input_shape: tuple[int, ...], dtype: str, key: "jax.Array") -> Any:
        import equinox as eqx

        return eqx.nn.Dropout(self.p)


class ScaleSpec(LayerSpec):
    """Multiplies the input by one trainable scalar: y = scale · x.

    The params-file field is `scale`, an array of shape (); `trainable: false` freezes it
    with stop_gradient.
    """

    type: Literal["scale"] = "scale"
    runtime = "snnspec.nn.elementwise:Scale"
    scale: Float = Field(default=1.0, description="Initial value of the factor.")
    trainable: Bool = Field(default=True, description="Whether `scale` receives gradients.")
    shape_preserving = True
    example = {"type": "scale", "scale": 0.5}

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        return {"scale": ()}

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        import jax.numpy as jnp

        from ...nn.elementwise import Scale

        return Scale(jnp.asarray(self.scale, dtype=dtype), trainable=self.trainable)
