"""Compositions: spec-level conveniences that lower to plain graph layers.

A ``residual`` or ``parallel`` block never reaches the compiler: :mod:`snnspec.graph.plan`
expands it into ordinary layers (named ``<block>.<i>`` or ``<block>.<branch>.<i>``) joined by
``identity`` layers, so its members may be neurons and every member is an ordinary layer of
the model. ``snnspec build`` prints and writes the lowered graph. (``feedback: true`` on any
layer, the third composition, adds the layer's own output to its sources.)
"""

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from .base import LayerSpec

if TYPE_CHECKING:
    from ..model import Layer


def _check_members(members: tuple[LayerSpec, ...]) -> tuple[LayerSpec, ...]:
    for member in members:
        if member.inputs is not None or member.name is not None:
            raise ValueError("block members take no `name` or `inputs`; they are chained")
    return members


class AbstractCompositeSpec(LayerSpec):
    """Base of the blocks that lower to several graph layers."""

    composite: ClassVar[bool] = True

    @model_validator(mode="after")
    def _no_feedback(self) -> "AbstractCompositeSpec":
        if self.feedback:
            raise ValueError(f"feedback is not available on a {self.type} block")
        return self

    def branches_of(self) -> tuple[tuple[LayerSpec, ...], ...]:
        """The member chains; each reads the block's input."""
        raise NotImplementedError

    def includes_skip(self) -> bool:
        """Whether the block's input is added to the sum of its branch outputs."""
        return False

    def member_path(self, branch: int, index: int) -> tuple[str | int, ...]:
        """Where member ``index`` of ``branch`` is written, relative to the block."""
        raise NotImplementedError


class ResidualSpec(AbstractCompositeSpec):
    """A block plus a skip connection: y = block(x) + x (the block's layers run in order)."""

    type: Literal["residual"] = "residual"
    runtime = None
    layers: "tuple[Layer, ...]" = Field(  # pyright: ignore[reportInvalidTypeForm]  (registry union)
        min_length=1, max_length=1000, description="The block's layers, applied in order."
    )

    example: ClassVar[dict[str, Any]] = {
        "type": "residual",
        "layers": [
            {"type": "linear", "out_features": 6},
            {"type": "lif", "decay_constants": [0.9, 0.8], "threshold": 0.5},
        ],
    }

    @field_validator("layers")
    @classmethod
    def _check_layers(cls, members: tuple[LayerSpec, ...]) -> tuple[LayerSpec, ...]:
        return _check_members(members)

    def branches_of(self) -> tuple[tuple[LayerSpec, ...], ...]:
        return (tuple(self.layers),)

    def member_path(self, branch: int, index: int) -> tuple[str | int, ...]:
        return ("layers", index)

    def includes_skip(self) -> bool:
        return True


class ParallelSpec(AbstractCompositeSpec):
    """Branches that read the same input and whose outputs are summed."""

    type: Literal["parallel"] = "parallel"
    runtime = None
    branches: "tuple[tuple[Layer, ...], ...]" = Field(  # pyright: ignore[reportInvalidTypeForm]
        min_length=2, max_length=100, description="Chains of layers; their outputs are summed."
    )

    example: ClassVar[dict[str, Any]] = {
        "type": "parallel",
        "branches": [
            [{"type": "linear", "out_features": 4}],
            [{"type": "linear", "out_features": 4}, {"type": "lambda", "fn": "tanh"}],
        ],
    }

    @field_validator("branches")
    @classmethod
    def _check_branches(
        cls, branches: tuple[tuple[LayerSpec, ...], ...]
    ) -> tuple[tuple[LayerSpec, ...], ...]:
        for branch in branches:
            if not branch:
                raise ValueError("a branch needs at least one layer")
            _check_members(branch)
        return branches

    def branches_of(self) -> tuple[tuple[LayerSpec, ...], ...]:
        return tuple(tuple(branch) for branch in self.branches)

    def member_path(self, branch: int, index: int) -> tuple[str | int, ...]:
        return ("branches", branch, index)
