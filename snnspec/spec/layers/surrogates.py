"""Surrogate-gradient specs.

The forward pass is always the Heaviside step H(x) with H(0) = 1; the backward pass replaces
dH/dx by the ``formula`` of the chosen surrogate, evaluated at x = v - threshold. The runtime
modules live in :mod:`snnspec.nn.surrogates`.
"""

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Field

from .base import Float, SpecModel

Steepness = Annotated[Float, Field(gt=0, le=1e6)]


class AbstractSurrogateSpec(SpecModel):
    """Base of the surrogate specs; ``formula`` documents the derivative."""

    type: str
    formula: ClassVar[str]

    def build(self) -> Any:
        """The runtime surrogate module."""
        from ...nn import surrogates

        return surrogates.SURROGATE_MODULES[self.type](**self.model_dump(exclude={"type"}))

    @classmethod
    def type_name(cls) -> str:
        return cls.model_fields["type"].default


class SuperSpikeSpec(AbstractSurrogateSpec):
    """SuperSpike as SNNAX implements it (Zenke & Ganguli 2018 without the square)."""

    type: Literal["superspike"] = "superspike"
    beta: Steepness = 10.0
    formula: ClassVar[str] = "1 / (1 + beta·|x|)"


class FastSigmoidSpec(AbstractSurrogateSpec):
    """Fast sigmoid (snnTorch's ``fast_sigmoid``; the original SuperSpike derivative)."""

    type: Literal["fast_sigmoid"] = "fast_sigmoid"
    slope: Steepness = 25.0
    formula: ClassVar[str] = "1 / (1 + slope·|x|)²"


class SigmoidSpec(AbstractSurrogateSpec):
    """Derivative of the logistic sigmoid σ(slope·x) (snnTorch's ``sigmoid``)."""

    type: Literal["sigmoid"] = "sigmoid"
    slope: Steepness = 25.0
    formula: ClassVar[str] = "slope·σ(slope·x)·(1 - σ(slope·x))"


class PiecewiseSpec(AbstractSurrogateSpec):
    """Boxcar: gradient 1 inside a window of half-width beta (SNNAX's ``piecewise``)."""

    type: Literal["piecewise"] = "piecewise"
    beta: Steepness = 0.5
    formula: ClassVar[str] = "1 if |x| < beta else 0"


class ArctanSpec(AbstractSurrogateSpec):
    """Derivative of (1/π)·arctan(π·alpha·x/2) (snnTorch's ``atan``)."""

    type: Literal["arctan"] = "arctan"
    alpha: Steepness = 2.0
    formula: ClassVar[str] = "(alpha/2) / (1 + (π·alpha·x/2)²)"


class TriangularSpec(AbstractSurrogateSpec):
    """Triangle of half-width 1/beta and height beta (area 1)."""

    type: Literal["triangular"] = "triangular"
    beta: Steepness = 1.0
    formula: ClassVar[str] = "beta·max(0, 1 - beta·|x|)"


class StraightThroughSpec(AbstractSurrogateSpec):
    """Straight-through estimator: the gradient passes unchanged."""

    type: Literal["straight_through"] = "straight_through"
    formula: ClassVar[str] = "1"


SURROGATE_TYPES: dict[str, type[AbstractSurrogateSpec]] = {
    cls.type_name(): cls
    for cls in (
        SuperSpikeSpec,
        FastSigmoidSpec,
        SigmoidSpec,
        PiecewiseSpec,
        ArctanSpec,
        TriangularSpec,
        StraightThroughSpec,
    )
}
"""Surrogate type name -> spec class; re-exported by :mod:`snnspec.spec.registry`."""

Surrogate = Annotated[
    Union[tuple(SURROGATE_TYPES.values())],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="type"),
]
"""Any registered surrogate, chosen by its ``type`` tag."""
