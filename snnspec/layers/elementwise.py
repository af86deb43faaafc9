"""Elementwise layers without parameters: ``lambda``, ``identity``, ``dropout``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import Field

from .base import Float, LayerSpec

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
    """An elementwise activation function from a fixed table, as ``eqx.nn.Lambda``."""

    type: Literal["lambda"] = "lambda"
    fn: Activation = Field(description="Activation name (H(0) = 1 for `heaviside`).")
    shape_preserving = True
    example = {"type": "lambda", "fn": "tanh"}

    def build(self, input_shape: tuple[int, ...], dtype: str, key: jax.Array) -> Any:
        import equinox as eqx

        from ..nn.elementwise import ACTIVATION_FUNCTIONS

        return eqx.nn.Lambda(ACTIVATION_FUNCTIONS[self.fn])


class IdentitySpec(LayerSpec):
    """Passes its input through unchanged (``eqx.nn.Identity``); useful to merge sources."""

    type: Literal["identity"] = "identity"
    shape_preserving = True
    example = {"type": "identity"}

    def build(self, input_shape: tuple[int, ...], dtype: str, key: jax.Array) -> Any:
        import equinox as eqx

        return eqx.nn.Identity()


class DropoutSpec(LayerSpec):
    """Zeroes each element with probability p and scales the rest by 1/(1-p) in training.

    A fresh mask is drawn at every step; in inference mode (``eqx.nn.inference_mode``,
    which ``snnspec run`` uses) it is the identity.
    """

    type: Literal["dropout"] = "dropout"
    p: Float = Field(default=0.5, ge=0.0, lt=1.0, description="Drop probability.")
    shape_preserving = True
    example = {"type": "dropout", "p": 0.25}

    def build(self, input_shape: tuple[int, ...], dtype: str, key: jax.Array) -> Any:
        import equinox as eqx

        return eqx.nn.Dropout(self.p)
