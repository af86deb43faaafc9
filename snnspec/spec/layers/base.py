"""The base of every layer spec, and the field types shared by all of them.

A layer spec is a frozen pydantic model: it validates one entry of ``layers:``, infers its
output shape from its input shape, lists its parameter shapes, and builds its Equinox
module. This package imports no JAX so that ``snnspec validate`` stays fast; ``build``
imports the runtime modules of :mod:`snnspec.nn` lazily.
"""

import builtins
import math
import pkgutil
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool, ValidationError

from ..._errors import ShapeError

if TYPE_CHECKING:
    import jax
    import numpy as np

Shape = tuple[int, ...]

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
"""Names of inputs and layers: a letter or underscore, then letters, digits, ``_ . -``."""

Name = Annotated[str, Strict(), Field(pattern=NAME_PATTERN, min_length=1, max_length=64)]
Int = Annotated[int, Strict()]
Count = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1)]
Float = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Bool = StrictBool
Combine = Literal["concat", "sum"]


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors and values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class LayerSpec(SpecModel):
    """Fields every layer has. Concrete layers add ``type: Literal[...]`` and their options.

    Subclasses implement :meth:`infer_output_shape` and :meth:`build`; stateful ones
    (neurons) set ``stateful = True``. Shape problems are raised as :class:`ShapeError`
    whose ``path`` is relative to the layer (the compiler prefixes ``layers[i]``).
    """

    type: str
    name: Name | None = Field(
        default=None, description="Unique layer name; default `<type>_<index>`."
    )
    inputs: tuple[Name, ...] | None = Field(
        default=None,
        description="Named form: the inputs or layers feeding this layer, in concat order.",
    )
    feedback: Bool = Field(
        default=False,
        description="Add the layer's own output (of the previous step) to its sources.",
    )
    combine: Combine = Field(
        default="concat",
        description="How several sources merge: concatenated along axis 0, or summed.",
    )

    uses_dt: ClassVar[bool] = False
    """True for layers parameterised by time constants: ``build`` then takes ``dt=``."""
    composite: ClassVar[bool] = False
    """True for blocks (``residual``, ``parallel``) that lower to several graph layers."""
    stateful: ClassVar[bool] = False
    """True for layers that carry state from one step to the next (neurons)."""
    spiking: ClassVar[bool] = False
    """True for layers whose output is a spike train (used for spike-rate reports)."""
    shape_preserving: ClassVar[bool] = False
    """True when the output shape is always the input shape."""
    weighted: ClassVar[bool] = False
    """True for layers whose synaptic operations and MACs are counted (``linear``, ``conv``;
    :mod:`snnspec.model.cost`)."""
    snnax_class: ClassVar[str | None] = None
    """The SNNAX class this type follows (``compat: snnax`` switches only these types)."""
    runtime: ClassVar[str | None]
    """The Equinox module class that :meth:`build` returns, as ``"package.module:Class"``;
    None for blocks that lower to several graph layers. A reference, not the class, so that
    the spec stage imports no JAX; :meth:`runtime_classes` imports it."""
    also_reads: ClassVar[tuple[str, ...]] = ()
    """Further module classes (same form) that ``from_equinox`` reads as this type."""
    example: ClassVar[dict[str, Any]]
    """A minimal valid entry of ``layers:`` (used by the docs and the registry tests)."""
    example_input_shape: ClassVar[Shape] = (6,)
    """A per-sample input shape that fits ``example``."""

    def infer_output_shape(self, input_shape: Shape | None) -> Shape | None:
        """Output shape for ``input_shape``.

        With ``input_shape=None`` (the input is not known yet, e.g. on a cycle), return the
        output shape if it does not depend on the input, else None. With a known input,
        check that it fits the layer and raise :class:`ShapeError` if not.
        """
        if self.shape_preserving:
            return input_shape
        raise NotImplementedError

    def snnax_compatible(self) -> "LayerSpec":
        """This spec with SNNAX's code behaviour where the type's default differs from it
        (``compat: snnax``); options written in the spec are kept."""
        return self

    def resolve(self, input_shape: Shape) -> "LayerSpec":
        """This spec with every inferred field (``in_features``...) written out."""
        return self

    def with_time_step(self, dt: float) -> "LayerSpec":
        """This spec with the values that follow from the spec's ``dt`` (seconds per step)
        written out: the decays given by time constants (neurons). A SchemaError's ``path``
        is relative to the layer."""
        return self

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        """Shapes of the trainable arrays, keyed by the field name used in params files."""
        return {}

    def state_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        """Shapes of the arrays carried from one step to the next (memory estimates)."""
        return {}

    def parameter_problem(self, key: str, values: "np.ndarray") -> str | None:
        """Why loaded values of params-file field ``key`` break this spec's rules, or None.

        A field that is also a spec field (``decay_constants``, ``threshold``, ``tau``) must
        hold values the spec itself would accept: the smallest and the largest value are put
        in the field (:meth:`parameter_value`) and the spec is validated again, so the bounds
        are the spec's own (its ``Field`` limits and validators, which are intervals).
        Arrays that are not spec fields (``weight``, ``bias``) have no bounds.
        """
        import numpy as np

        if key not in type(self).model_fields or values.size == 0:
            return None
        data = self.model_dump()
        for flat in dict.fromkeys((int(values.argmin()), int(values.argmax()))):
            index = tuple(int(i) for i in np.unravel_index(flat, values.shape))
            value = float(str(values[index]))  # the shortest text of the stored number
            try:
                type(self).model_validate({**data, key: self.parameter_value(key, index, value)})
            except ValidationError as error:
                detail = error.errors(include_url=False)[0]
                message = str(detail["msg"]).removeprefix("Value error, ")
                where = f" at index {list(index)}" if index else ""
                return f"value {value}{where} is outside the spec's bounds: {message}"
        return None

    def parameter_value(self, key: str, index: tuple[int, ...], value: float) -> Any:
        """The value of spec field ``key`` that gives params-file entry ``index`` ``value``."""
        return value

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        """The Equinox module of this layer, parameters initialised from ``key``."""
        raise NotImplementedError

    @classmethod
    def runtime_classes(cls) -> "tuple[builtins.type, ...]":
        """The classes named by :attr:`runtime`, then :attr:`also_reads`, imported (and JAX
        with them): the one place a reference is resolved."""
        references = ((cls.runtime,) if cls.runtime is not None else ()) + cls.also_reads
        return tuple(pkgutil.resolve_name(reference) for reference in references)

    @classmethod
    def type_name(cls) -> str:
        """The ``type:`` tag of this layer class."""
        return cls.model_fields["type"].default

    @classmethod
    def summary(cls) -> str:
        """First line of the docstring: the one-line description used in docs and tables."""
        return (cls.__doc__ or "").strip().splitlines()[0]


def shape_size(shape: Shape) -> int:
    """Number of elements of an array of ``shape``."""
    return math.prod(shape)


def require_rank(input_shape: Shape, rank: int, layer: str, hint: str = "") -> None:
    """Raise a ShapeError unless ``input_shape`` has exactly ``rank`` axes."""
    if len(input_shape) != rank:
        message = f"{layer} expects a {rank}-D input per sample, got shape {list(input_shape)}"
        raise ShapeError(message + (f"; {hint}" if hint else ""))
