"""Spiking, integrating and counting neurons with SNNAX's discrete-time equations.

Notation for one step: x is the combined input, v the membrane potential, i the synaptic
current, s the spike output, H the Heaviside step with H(0) = 1 (its gradient is the
``surrogate``), and sg the stop-gradient (applied to the reset term when
``stop_reset_grad``). Parameters are clamped at every step exactly as SNNAX does (decay
constants to [0.5, 1]); values outside those ranges are rejected here. ``sigma_delta``'s
decay constants are not clamped (nor in SNNAX): they must lie in [0, 1].

Reset modes (``reset``, on the LIF and IAF families), with R the reset term subtracted as
v ← v - sg(R·s) where the neuron spiked: ``zero`` R = v, ``value`` R = v - reset_val (v
becomes reset_val), ``subtract`` R = reset_val if given, else threshold, ``none`` R = 0.
Without ``reset`` each type behaves as its SNNAX class:

==============  ====================  ==========================
type            no ``reset_val``      with ``reset_val``
==============  ====================  ==========================
simple_lif      zero                  value (SNNAX: subtract softplus(reset_val))
lif             zero                  value
lif_soft_reset  subtract (threshold)  subtract
adaptive_lif    zero                  subtract
iaf             zero                  subtract
simple_iaf      zero                  subtract
==============  ====================  ==========================

Time constants: a neuron whose decays are time constants takes them in seconds instead
(``tau_mem``, ``tau_syn``, ``tau_adaptation``; each type's :attr:`time_constants` says which
decay each gives): decay = exp(-dt/τ) with the spec's ``dt``, and the decay's rule (the
[0.5, 1] range) applies to the result. A decay and its time constants are alternatives: the
graph analysis (:meth:`with_time_step`) writes the derived decay, and a decay written beside
its time constants must equal exp(-dt/τ) exactly (what the normalised spec records), else the
spec gives both, which is an error.

``init`` sets the initial membrane-like state variable (named in each type's docs): zeros
(default), or seeded draws from a uniform or normal distribution; the other state variables
start at zero.

The top-level ``compat: snnax`` rewrites each type's defaults to its SNNAX class's code
(:meth:`snnax_compatible`, listed in ``docs/extensions.md``): the two SNNAX resets above,
``spike_counter``'s output and ``spiking_max_pool2d``'s stride. Options written in the spec
are kept.
"""

import math
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import Field, field_validator, model_validator

from ..._errors import SchemaError, SpecError
from .base import Bool, Float, LayerSpec, Shape, SpecModel
from .pooling import AbstractPoolSpec
from .surrogates import SuperSpikeSpec, Surrogate

if TYPE_CHECKING:
    import jax

ResetMode = Literal["zero", "subtract", "none", "value"]

# --- the initial membrane state --------------------------------------------------------------


class ZerosInitSpec(SpecModel):
    """All zeros (the default, as SNNAX)."""

    type: Literal["zeros"] = "zeros"

    def build(self) -> Any:
        from ...nn.neurons import ZerosInit

        return ZerosInit()


class UniformInitSpec(SpecModel):
    """Independent draws from U[low, high), seeded by the key given to ``init_state``."""

    type: Literal["uniform"] = "uniform"
    low: Float = Field(default=0.0, description="Lower bound (inclusive).")
    high: Float = Field(default=1.0, description="Upper bound (exclusive).")

    @model_validator(mode="after")
    def _check_bounds(self) -> "UniformInitSpec":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be smaller than high ({self.high})")
        return self

    def build(self) -> Any:
        from ...nn.neurons import UniformInit

        return UniformInit(self.low, self.high)


class NormalInitSpec(SpecModel):
    """Independent draws from N(mean, std²), seeded by the key given to ``init_state``."""

    type: Literal["normal"] = "normal"
    mean: Float = Field(default=0.0, description="Mean.")
    std: Annotated[Float, Field(ge=0)] = Field(default=1.0, description="Standard deviation.")

    def build(self) -> Any:
        from ...nn.neurons import NormalInit

        return NormalInit(self.mean, self.std)


InitSpec = Annotated[
    Union[ZerosInitSpec, UniformInitSpec, NormalInitSpec],  # noqa: UP007
    Field(discriminator="type"),
]
"""``{type: zeros}``, ``{type: uniform, low, high}`` or ``{type: normal, mean, std}``."""


# --- helpers ---------------------------------------------------------------------------------


def softplus(value: float) -> float:
    """log(1 + e^value), without overflow (SNNAX's ``jax.nn.softplus`` of a reset_val)."""
    return max(value, 0.0) + math.log1p(math.exp(-abs(value)))


def _number_or_singleton(schema: dict[str, Any]) -> None:
    """JSON Schema of a number that may also be written as a one-element list (SNNAX)."""
    number = {key: schema.pop(key) for key in ("type", "minimum", "maximum") if key in schema}
    schema["anyOf"] = [number, {"type": "array", "items": number, "minItems": 1, "maxItems": 1}]


# --- bases -----------------------------------------------------------------------------------


def check_trainable(
    names: tuple[str, ...] | None, parameter_names: tuple[str, ...]
) -> tuple[str, ...] | None:
    """Validate a ``trainable`` list: known parameter names, each once."""
    if names is not None:
        for name in names:
            if name not in parameter_names:
                choices = list(parameter_names)
                raise ValueError(
                    f"'{name}' is not a parameter of this layer; choose from {choices}"
                )
        if len(set(names)) != len(names):
            raise ValueError("a parameter is listed twice")
    return names


class AbstractNeuronSpec(LayerSpec):
    """Base of the stateful layers: a typed state advanced once per step, and its equations."""

    stateful = True
    shape_preserving = True
    parameter_names: ClassVar[tuple[str, ...]] = ()
    """The parameter arrays (params-file fields), in order."""
    default_trainable: ClassVar[tuple[str, ...]] = ()
    state_names: ClassVar[tuple[str, ...]] = ("v",)
    equations: ClassVar[str] = ""

    def resolve(self, input_shape: Shape) -> "AbstractNeuronSpec":
        return self.model_copy(update=self.defaults_in_effect())

    def defaults_in_effect(self) -> dict[str, Any]:
        """The values of the fields left out (None), to write them explicitly (``resolve``)."""
        return {}

    def state_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        return {name: input_shape for name in self.state_names}

    def module_options(self) -> dict[str, Any]:
        """Static options passed to the runtime module besides the parameter arrays."""
        return {}

    def parameter_arrays(self, input_shape: Shape, dtype: str) -> dict[str, Any]:
        """The initial parameter arrays of the module."""
        return {}

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        module_class = self.runtime_classes()[0]
        return module_class(**self.parameter_arrays(input_shape, dtype), **self.module_options())


class AbstractParametricNeuronSpec(AbstractNeuronSpec):
    """Base of neurons with parameters and a membrane: per-neuron values, trainability, init."""

    per_neuron: Bool = Field(
        default=False, description="One trainable value per neuron instead of one shared value."
    )
    trainable: tuple[str, ...] | None = Field(
        default=None,
        description="Parameters that receive gradients; default: the type's (see its docs). "
        "The others are frozen with stop_gradient (their gradients are exactly zero).",
    )
    init: Literal["zeros"] | InitSpec = Field(  # pyright: ignore[reportInvalidTypeForm]
        default="zeros",
        description="Initial membrane state: `zeros`, `{type: uniform, low, high}` or "
        "`{type: normal, mean, std}` (seeded by the key passed to init_state).",
    )

    time_constants: ClassVar[dict[str, tuple[str, int | None]]] = {}
    """Time-constant fields (seconds) -> the decay each gives: (decay field, index in it, or
    None when the field is one number). A decay field listed here defaults to None and is
    given either written or by all its time constants (module docs)."""

    @field_validator("trainable")
    @classmethod
    def _check_trainable(cls, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return check_trainable(names, cls.parameter_names)

    @model_validator(mode="after")
    def _decays_given(self) -> "AbstractParametricNeuronSpec":
        for field, taus in self.time_constants_by_decay().items():
            if getattr(self, field) is not None:
                continue  # a written decay beside its time constants is checked with dt
            given = [tau for tau in taus if getattr(self, tau) is not None]
            missing = [tau for tau in taus if tau not in given]
            if not given:
                raise ValueError(
                    f"missing required key '{field}' (or give {' and '.join(taus)}: time "
                    "constants in seconds, decay = exp(-dt/τ) with the spec's dt)"
                )
            if missing:
                raise ValueError(
                    f"{' and '.join(given)} without {' and '.join(missing)}: give "
                    f"{' and '.join(taus)} together, or {field}"
                )
        return self

    @classmethod
    def time_constants_by_decay(cls) -> dict[str, dict[str, int | None]]:
        """Decay field -> {time-constant field: its index in the decay field}."""
        grouped: dict[str, dict[str, int | None]] = {}
        for tau, (field, index) in cls.time_constants.items():
            grouped.setdefault(field, {})[tau] = index
        return grouped

    def with_time_step(self, dt: float) -> "AbstractParametricNeuronSpec":
        """This spec with the decays its time constants give, exp(-dt/τ), written out.

        The derived decay must pass the decay field's own rule (its range); a decay written
        beside its time constants must equal exp(-dt/τ) exactly. Errors are located at the
        time constant.
        """
        update: dict[str, Any] = {}
        for field, taus in self.time_constants_by_decay().items():
            written = getattr(self, field)
            derived: dict[int | None, float] = {}
            for tau, index in taus.items():
                seconds = getattr(self, tau)
                if seconds is None:
                    continue
                decay = math.exp(-dt / seconds)
                if written is not None:
                    value = written if index is None else written[index]
                    if value != decay:
                        where = field if index is None else f"{field}[{index}]"
                        raise SchemaError(
                            f"give either {field} or {' and '.join(taus)}, not both: {where} "
                            f"is {value!r} but exp(-dt/{tau}) = {decay!r} with dt = {dt!r} s "
                            "(a normalised spec writes both, equal to the last digit for its dt)",
                            path=(tau,),
                        )
                problem = None if written is not None else self._decay_problem(field, index, decay)
                if problem is not None:
                    raise SchemaError(
                        f"{tau} = {seconds:g} s with dt = {dt:g} s gives the decay "
                        f"exp(-dt/{tau}) = {decay:.6g}, which breaks the rule of {field}: "
                        f"{problem}; a longer {tau} gives a decay closer to 1",
                        path=(tau,),
                    )
                derived[index] = decay
            if written is None and derived:
                indices = sorted(index for index in derived if index is not None)
                vector = tuple(derived[index] for index in indices)
                update[field] = derived.get(None, vector)  # a number, else the vector
        return self.model_copy(update=update) if update else self

    def _decay_problem(self, field: str, index: int | None, decay: float) -> str | None:
        """Why ``decay`` as entry ``index`` of the unwritten ``field`` breaks the field's
        rules (validated as the layer would be), or None."""
        from pydantic import ValidationError

        value: Any = decay
        if index is not None:  # the other entries at 1 (valid), so the message is this one's
            length = len(self.time_constants_by_decay()[field])
            value = tuple(decay if k == index else 1.0 for k in range(length))
        try:
            type(self).model_validate({**self.model_dump(), field: value})
        except ValidationError as error:
            return str(error.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")
        return None

    def trainable_parameters(self) -> tuple[str, ...]:
        """The parameters that receive gradients."""
        return self.default_trainable if self.trainable is None else self.trainable

    def defaults_in_effect(self) -> dict[str, Any]:
        return {"trainable": self.trainable_parameters()}

    def _values(self) -> dict[str, float | tuple[float, ...]]:
        values = {name: getattr(self, name) for name in self.parameter_names}
        for name, value in values.items():
            if value is None:  # given by time constants, which need the spec's dt
                taus = " and ".join(self.time_constants_by_decay()[name])
                raise SpecError(
                    f"{self.type}: {name} is given by {taus}, which need the spec's dt: "
                    "build the layer through its ModelSpec (snnspec.compile), or call "
                    "with_time_step(dt) first"
                )
        return values

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        neuron_shape = input_shape if self.per_neuron else ()
        return {
            name: (len(value), *neuron_shape) if isinstance(value, tuple) else neuron_shape
            for name, value in self._values().items()
        }

    def parameter_value(self, key: str, index: tuple[int, ...], value: float) -> Any:
        current = getattr(self, key)
        if isinstance(current, tuple):  # (K, *neurons): entry index[0] of the K values
            return (*current[: index[0]], value, *current[index[0] + 1 :])
        return value

    def parameter_arrays(self, input_shape: Shape, dtype: str) -> dict[str, Any]:
        import jax.numpy as jnp

        neuron_shape = input_shape if self.per_neuron else ()
        arrays = {}
        for name, value in self._values().items():
            array = jnp.asarray(value, dtype=dtype)
            if isinstance(value, tuple):
                array = array.reshape(-1, *(1,) * len(neuron_shape))
                arrays[name] = jnp.broadcast_to(array, (len(value), *neuron_shape))
            else:
                arrays[name] = jnp.full(neuron_shape, value, dtype=dtype)
        return arrays

    def module_options(self) -> dict[str, Any]:
        init = ZerosInitSpec() if self.init == "zeros" else self.init
        return {"trainable": self.trainable_parameters(), "init": init.build()}


class DecayConstantsMixin(SpecModel):
    """The ``decay_constants`` field of the leaky neurons."""

    decay_constants: tuple[Float, ...] | None = Field(
        default=None,
        description="Decay factors per step, each in [0.5, 1] (SNNAX clamps to this range). "
        "Required unless the type's time constants (tau_mem, tau_syn) give them.",
    )
    num_decay_constants: ClassVar[int] = 1
    decay_range: ClassVar[tuple[float, float]] = (0.5, 1.0)
    """Accepted values; the equations clamp to this range unless ``decay_clamped`` is False."""
    decay_clamped: ClassVar[bool] = True

    @field_validator("decay_constants")
    @classmethod
    def _check_decay_constants(cls, values: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if values is None:
            return values
        if len(values) != cls.num_decay_constants:
            raise ValueError(
                f"expected {cls.num_decay_constants} decay constant(s), got {len(values)}"
            )
        low, high = cls.decay_range
        why = "SNNAX's equations clamp to this range" if cls.decay_clamped else "a decay factor"
        if not cls.decay_clamped:
            why += "; SNNAX does not clamp it"
        for value in values:
            if not low <= value <= high:
                raise ValueError(f"decay constant {value} is outside [{low:g}, {high:g}] ({why})")
        return values


Seconds = Annotated[Float, Field(gt=0, le=1e6)]
"""A time constant in seconds."""


def _not_given(value: float | None) -> bool:
    """Dumps leave out a time constant not given, so a spec written with decays resolves to
    the text it did before time constants existed."""
    return value is None


class TauMemMixin(SpecModel):
    """The ``tau_mem`` field: the membrane decay as a time constant."""

    tau_mem: Seconds | None = Field(
        default=None,
        exclude_if=_not_given,
        description="Membrane time constant in seconds, instead of its decay constant: "
        "decay = exp(-dt/tau_mem) with the spec's dt.",
    )


class TauSynMixin(SpecModel):
    """The ``tau_syn`` field: the synaptic decay as a time constant."""

    tau_syn: Seconds | None = Field(
        default=None,
        exclude_if=_not_given,
        description="Synaptic time constant in seconds, instead of its decay constant: "
        "decay = exp(-dt/tau_syn) with the spec's dt.",
    )


class AbstractFiringNeuronSpec(AbstractParametricNeuronSpec):
    """Base of neurons that emit s = H(· - threshold): threshold and surrogate gradient."""

    threshold: Float = Field(default=1.0, description="Spike when the potential reaches it.")
    surrogate: Surrogate = Field(  # pyright: ignore[reportInvalidTypeForm]
        default_factory=SuperSpikeSpec, description="Surrogate gradient of H."
    )

    spiking = True

    def module_options(self) -> dict[str, Any]:
        return {**super().module_options(), "surrogate": self.surrogate.build()}


class AbstractSpikingNeuronSpec(AbstractFiringNeuronSpec):
    """Base of the LIF and IAF families: a membrane v that resets after a spike."""

    reset: ResetMode | None = Field(
        default=None, description="zero | subtract | none | value; default: the type's SNNAX reset."
    )
    reset_val: Float | None = Field(
        default=None, description="`value`: v is set to it; `subtract`: the amount subtracted."
    )
    stop_reset_grad: Bool = Field(
        default=True, description="Stop the gradient through the reset term."
    )

    default_reset: ClassVar[ResetMode] = "zero"
    """SNNAX's reset of the type when neither ``reset`` nor ``reset_val`` is given."""
    reset_val_mode: ClassVar[ResetMode] = "value"
    """SNNAX's reset of the type when only ``reset_val`` is given."""

    @model_validator(mode="after")
    def _check_reset(self) -> "AbstractSpikingNeuronSpec":
        if self.reset == "value" and self.reset_val is None:
            raise ValueError("reset: value needs reset_val (the potential after a spike)")
        if self.reset in ("zero", "none") and self.reset_val is not None:
            raise ValueError(f"reset_val has no effect with reset: {self.reset}; remove it")
        return self

    def reset_mode(self) -> ResetMode:
        """The effective reset mode (SNNAX's for the type when not given)."""
        if self.reset is not None:
            return self.reset
        return self.default_reset if self.reset_val is None else self.reset_val_mode

    def snnax_reset(self) -> tuple[ResetMode, float | None] | None:
        """SNNAX's (reset, reset_val) where its code differs from the default; else None."""
        return None

    def snnax_compatible(self) -> "AbstractSpikingNeuronSpec":
        if self.reset is not None:
            return self
        switched = self.snnax_reset()
        if switched is None:
            return self
        return self.model_copy(update={"reset": switched[0], "reset_val": switched[1]})

    def defaults_in_effect(self) -> dict[str, Any]:
        return {**super().defaults_in_effect(), "reset": self.reset_mode()}

    def module_options(self) -> dict[str, Any]:
        return {
            **super().module_options(),
            "reset": self.reset_mode(),
            "reset_val": self.reset_val,
            "stop_reset_grad": self.stop_reset_grad,
        }


# --- the LIF family --------------------------------------------------------------------------


class SimpleLIFSpec(DecayConstantsMixin, TauMemMixin, AbstractSpikingNeuronSpec):
    """Leaky integrate-and-fire without synaptic current (SNNAX ``SimpleLIF``).

    ``init`` sets v. Default trainable: decay_constants. With only ``reset_val`` the neuron
    resets to it (``value``); SNNAX instead subtracts softplus(reset_val), which is
    ``reset: subtract`` with that amount (what ``compat: snnax`` writes).
    """

    type: Literal["simple_lif"] = "simple_lif"
    snnax_class = "SimpleLIF"
    runtime = "snnspec.nn.neurons:SimpleLIF"
    parameter_names = ("decay_constants", "threshold")
    default_trainable = ("decay_constants",)
    time_constants = {"tau_mem": ("decay_constants", 0)}
    state_names = ("v", "spikes")
    example = {"type": "simple_lif", "decay_constants": [0.9], "threshold": 0.5}
    equations = (
        "v' = α·v + (1-α)·x;  s = H(v' - threshold);  v ← v' - sg(R(v')·s)   "
        "(α = decay_constants[0]; the reset uses this step's spike)"
    )

    def snnax_reset(self) -> tuple[ResetMode, float | None] | None:
        if self.reset_val is None:
            return None
        return "subtract", softplus(self.reset_val)


class AbstractLIFSpec(DecayConstantsMixin, TauMemMixin, TauSynMixin, AbstractSpikingNeuronSpec):
    """Base of the current-based LIF types (``lif``, ``lif_soft_reset``): one equation, two
    default resets."""

    num_decay_constants = 2
    parameter_names = ("decay_constants", "threshold")
    default_trainable = ("decay_constants",)
    time_constants = {"tau_mem": ("decay_constants", 0), "tau_syn": ("decay_constants", 1)}
    state_names = ("v", "i", "spikes")
    runtime = "snnspec.nn.neurons:LIF"
    equations = (
        "v ← v - sg(R(v)·s_prev);  v' = α·v + (1-α)·i;  i' = β·i + (1-β)·x;  "
        "s = H(v' - threshold)   (α, β = decay_constants; v' uses the old current i)"
    )


class LIFSpec(AbstractLIFSpec):
    """Current-based leaky integrate-and-fire (SNNAX ``LIF``); resets with the last spike.

    ``init`` sets v. Default trainable: decay_constants.
    """

    type: Literal["lif"] = "lif"
    snnax_class = "LIF"
    example = {"type": "lif", "decay_constants": [0.9, 0.8], "threshold": 0.5}


class LIFSoftResetSpec(AbstractLIFSpec):
    """LIF whose reset subtracts a fixed amount (SNNAX ``LIFSoftReset``).

    Without ``reset_val`` the amount is the threshold (SNNAX subtracts 1, the default
    threshold, and so does ``compat: snnax``); with it, ``reset_val``.
    """

    type: Literal["lif_soft_reset"] = "lif_soft_reset"
    snnax_class = "LIFSoftReset"
    default_reset = "subtract"
    reset_val_mode = "subtract"
    example = {"type": "lif_soft_reset", "decay_constants": [0.9, 0.8], "threshold": 0.5}

    def snnax_reset(self) -> tuple[ResetMode, float | None] | None:
        return None if self.reset_val is not None else ("subtract", 1.0)


class AdaptiveLIFSpec(DecayConstantsMixin, TauMemMixin, AbstractSpikingNeuronSpec):
    """LIF with a spike-triggered adaptation variable a (SNNAX ``AdaptiveLIF``).

    The adaptation a is added to the input; it follows v with coupling c and drops by b at
    every spike (with c = 0 and b > 0 it is a spike-frequency adaptation). The ``ada_*``
    values are numbers or, as SNNAX writes them, one-element lists (``[0.8]``), read as the
    number (the normalised spec writes the number; with ``per_neuron`` each is one array of
    the layer's shape). ``init`` sets v. Default trainable: decay_constants and the three
    ``ada_*`` parameters; with only ``reset_val``, ``subtract`` (as SNNAX).
    """

    type: Literal["adaptive_lif"] = "adaptive_lif"
    ada_decay_constant: Annotated[Float, Field(ge=0.5, le=1.0)] = Field(
        default=0.8,
        description="ρ, decay of the adaptation per step.",
        json_schema_extra=_number_or_singleton,
    )
    ada_step_val: Annotated[Float, Field(ge=0.0, le=2.0)] = Field(
        default=1.0,
        description="b, the drop of the adaptation at each spike.",
        json_schema_extra=_number_or_singleton,
    )
    ada_coupling_var: Annotated[Float, Field(ge=-1.0, le=1.0)] = Field(
        default=0.5,
        description="c, the coupling of the adaptation to the potential.",
        json_schema_extra=_number_or_singleton,
    )

    snnax_class = "AdaptiveLIF"
    runtime = "snnspec.nn.neurons:AdaptiveLIF"
    parameter_names = (
        "decay_constants",
        "ada_decay_constant",
        "ada_step_val",
        "ada_coupling_var",
        "threshold",
    )
    default_trainable = (
        "decay_constants",
        "ada_decay_constant",
        "ada_step_val",
        "ada_coupling_var",
    )
    time_constants = {"tau_mem": ("decay_constants", 0)}
    state_names = ("v", "a", "spikes")
    reset_val_mode = "subtract"
    example = {
        "type": "adaptive_lif",
        "decay_constants": [0.8],
        "threshold": 0.5,
        "ada_coupling_var": 0.2,
    }
    equations = (
        "v' = α·v + (1-α)·(x + a);  s = H(v' - threshold);  "
        "a' = (1-ρ)·c·v' + ρ·a - b·sg(s);  v ← v' - sg(R(v')·s)   "
        "(α = clamp(decay_constants[0], 0.5, 1), ρ = clamp(ada_decay_constant, 0.5, 1), "
        "c = clamp(ada_coupling_var, -1, 1), b = clamp(ada_step_val, 0, 2))"
    )

    @field_validator("ada_decay_constant", "ada_step_val", "ada_coupling_var", mode="before")
    @classmethod
    def _unwrap_singleton(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if len(value) != 1:
                raise ValueError(
                    "expected a number or a one-element list (SNNAX's form, e.g. [0.8]), got "
                    f"{len(value)} values"
                )
            return value[0]
        return value


class IAFSpec(DecayConstantsMixin, TauSynMixin, AbstractSpikingNeuronSpec):
    """Current-based integrate-and-fire with a constant leak (SNNAX ``IAF``).

    ``init`` sets v. Default trainable: decay_constants, leak; with only ``reset_val``,
    ``subtract`` (as SNNAX).
    """

    type: Literal["iaf"] = "iaf"
    snnax_class = "IAF"
    leak: Float = Field(default=0.0, description="Constant subtracted from v every step.")

    runtime = "snnspec.nn.neurons:IAF"
    parameter_names = ("decay_constants", "leak", "threshold")
    default_trainable = ("decay_constants", "leak")
    time_constants = {"tau_syn": ("decay_constants", 0)}
    state_names = ("v", "i", "spikes")
    reset_val_mode = "subtract"
    example = {"type": "iaf", "decay_constants": [0.8], "leak": 0.05, "threshold": 0.5}
    equations = (
        "v' = v - leak + i;  i' = β·i + (1-β)·x;  s = H(v' - threshold);  "
        "v ← v' - sg(R(v')·s)   (β = clamp(decay_constants[0], 0.5, 1); v' uses the old "
        "current i; the reset uses this step's spike)"
    )


class SimpleIAFSpec(AbstractSpikingNeuronSpec):
    """Integrate-and-fire of the raw input with a constant leak (SNNAX ``SimpleIAF``).

    ``init`` sets v. Default trainable: leak; with only ``reset_val``, ``subtract`` (as
    SNNAX).
    """

    type: Literal["simple_iaf"] = "simple_iaf"
    snnax_class = "SimpleIAF"
    leak: Float = Field(default=0.0, description="Constant subtracted from v every step.")

    runtime = "snnspec.nn.neurons:SimpleIAF"
    parameter_names = ("leak", "threshold")
    default_trainable = ("leak",)
    state_names = ("v", "spikes")
    reset_val_mode = "subtract"
    example = {"type": "simple_iaf", "leak": 0.05}
    equations = "v' = v - leak + x;  s = H(v' - threshold);  v ← v' - sg(R(v')·s)"


class SimpleLISpec(DecayConstantsMixin, TauMemMixin, AbstractParametricNeuronSpec):
    """Leaky integrator; outputs its potential, never spikes (SNNAX ``SimpleLI``).

    ``init`` sets v. Default trainable: decay_constants.
    """

    type: Literal["simple_li"] = "simple_li"
    snnax_class = "SimpleLI"
    runtime = "snnspec.nn.neurons:SimpleLI"
    parameter_names = ("decay_constants",)
    default_trainable = ("decay_constants",)
    time_constants = {"tau_mem": ("decay_constants", 0)}
    state_names = ("v",)
    example = {"type": "simple_li", "decay_constants": [0.9]}
    equations = "v' = α·v + (1-α)·x;  output v'   (α = decay_constants[0])"


# --- other spiking and counting layers -------------------------------------------------------


class SigmaDeltaSpec(DecayConstantsMixin, AbstractFiringNeuronSpec):
    """Sigma-delta neuron: a decaying input sum, encoded by its error against the spikes.

    SNNAX ``SigmaDelta`` at its current version (after Nair & Indiveri 2019). The sigma
    decoder i accumulates the input with decay d_in; the delta encoder integrates the error
    e = i - f into m with decay d_mem, spikes where m reaches the threshold, and feeds the
    spikes back into f with decay d_fb. With ``decay_constants: [1, 0, 1]`` the spike count
    tracks Σx (m = Σx - Σ earlier spikes); ``[0, 1, 0]`` is the same in exact arithmetic and
    keeps the state bounded (it is what snnspec's ``sigma_delta`` computed before it followed
    SNNAX's current class). The
    decays are not clamped (nor in SNNAX); there is no reset. ``init`` sets m. Default
    trainable: decay_constants (the threshold is a constant in SNNAX). It takes no time
    constants: the decays 0 and 1 its codec uses are no finite time constant.
    """

    type: Literal["sigma_delta"] = "sigma_delta"
    decay_constants: tuple[Float, ...] = Field(
        description="[input, membrane, feedback] decay factors per step, each in [0, 1] "
        "(not clamped, as SNNAX)."
    )
    num_decay_constants = 3
    decay_range = (0.0, 1.0)
    decay_clamped = False
    snnax_class = "SigmaDelta"
    runtime = "snnspec.nn.neurons:SigmaDelta"
    parameter_names = ("decay_constants", "threshold")
    default_trainable = ("decay_constants",)
    state_names = ("sigma", "error", "membrane", "feedback", "spikes")
    example = {"type": "sigma_delta", "decay_constants": [0.7, 0.4, 0.7], "threshold": 0.5}
    equations = (
        "i' = d_in·i + x;  e = i' - f;  m' = d_mem·m + e;  s = H(m' - threshold);  "
        "f' = d_fb·f + s   (d_in, d_mem, d_fb = decay_constants; state (i, e, m, f, s), "
        "SNNAX's (i, e, i_mem, s, spike_out); no reset and no stop-gradient, as SNNAX)"
    )

    @model_validator(mode="before")
    @classmethod
    def _needs_decay_constants(cls, data: Any) -> Any:
        if isinstance(data, dict) and "decay_constants" not in data:
            raise ValueError(
                "sigma_delta needs decay_constants: [input, membrane, feedback] (SNNAX's "
                "current SigmaDelta); [0, 1, 0] computes what earlier snnspec versions did"
            )
        return data


class SRMSpec(DecayConstantsMixin, TauSynMixin, TauMemMixin, AbstractFiringNeuronSpec):
    """Spike response model: two synaptic filters and an exponential refractory kernel.

    The input passes through two first-order filters in cascade (p, then q): their impulse
    response is the difference of exponentials ε(d) = (1-α)(1-β)(α^(d+1) - β^(d+1)) / (α - β)
    of unit area (an alpha kernel (1-α)²(d+1)α^d when α = β). Every spike adds 1 to the
    refractory trace r, which decays by γ and is subtracted from the potential with
    amplitude η: u(n) = Σ_k ε(n-k)·x(k) - η·Σ_{m<n} γ^(n-1-m)·s(m). There is no reset: the
    refractory kernel takes its place (``stop_reset_grad`` detaches the spikes fed back).
    SNNAX's ``SRM`` raises errors; this one follows its filters but scales the refractory
    trace by η once (SNNAX scales it twice) and leaves the weights to a separate layer.
    ``init`` sets q. Default trainable: decay_constants, r_decay_constant, r_amplitude.
    """

    type: Literal["srm"] = "srm"
    r_decay_constant: Annotated[Float, Field(ge=0.5, le=1.0)] = Field(
        default=0.9, description="γ, decay of the refractory trace per step."
    )
    r_amplitude: Annotated[Float, Field(ge=0.0, le=2.0)] = Field(
        default=1.0, description="η, potential drop right after a spike."
    )
    stop_reset_grad: Bool = Field(
        default=True, description="Stop the gradient through the refractory feedback."
    )

    num_decay_constants = 2
    runtime = "snnspec.nn.neurons:SRM"
    parameter_names = ("decay_constants", "r_decay_constant", "r_amplitude", "threshold")
    default_trainable = ("decay_constants", "r_decay_constant", "r_amplitude")
    time_constants = {"tau_syn": ("decay_constants", 0), "tau_mem": ("decay_constants", 1)}
    state_names = ("p", "q", "r", "spikes")
    example = {"type": "srm", "decay_constants": [0.8, 0.7], "threshold": 0.3}
    equations = (
        "p' = α·p + (1-α)·x;  q' = β·q + (1-β)·p';  r' = γ·r + sg(s);  "
        "s' = H(q' - η·r' - threshold)   (α, β = clamp(decay_constants, 0.5, 1), "
        "γ = clamp(r_decay_constant, 0.5, 1), η = clamp(r_amplitude, 0, 2); s is the "
        "previous step's spike)"
    )

    def module_options(self) -> dict[str, Any]:
        return {**super().module_options(), "stop_reset_grad": self.stop_reset_grad}


class TauAdaptationMixin(SpecModel):
    """The ``tau_adaptation`` field: the adaptation decay as a time constant."""

    tau_adaptation: Seconds | None = Field(
        default=None,
        exclude_if=_not_given,
        description="Adaptation time constant in seconds, instead of adaptation_decay: "
        "ρ = exp(-dt/tau_adaptation) with the spec's dt.",
    )


class LSNNSpec(DecayConstantsMixin, TauMemMixin, TauAdaptationMixin, AbstractFiringNeuronSpec):
    """LIF with an adaptive threshold (LSNN, after Bellec et al. 2018).

    Bellec et al., "Long short-term memory and learning-to-learn in networks of spiking
    neurons" (NeurIPS 2018).
    Every spike raises the threshold B by β·(1-ρ), and the raise decays with ρ per step, so
    a neuron that fired recently needs more input to fire again; the reset subtracts the
    threshold the spike crossed. The right-hand sides use s and B of the previous step:
    v' = α·v + (1-α)·x - s·B;  a' = ρ·a + (1-ρ)·s;  B' = threshold + β·a';  s' = H(v' - B').
    ``decay_constants: [α]`` or ``tau_mem``; ``adaptation_decay: ρ`` or ``tau_adaptation``;
    ``beta`` β (Bellec's 1.8 by default); ``threshold`` b0. α and ρ are clamped to [0.5, 1]
    and β to β >= 0 at every step, like the other neurons' parameters. ``stop_reset_grad``
    detaches the reset s·B; the adaptation keeps its gradient. ``init`` sets v; a and s start
    at 0. Default trainable: decay_constants, adaptation_decay, beta. No NIR node has this
    threshold adaptation, so NIR export refuses it; docs/extensions.md says how it compares
    to Norse's ``LSNNCell`` and Spyx's ``ALIF``.
    """

    type: Literal["lsnn"] = "lsnn"
    adaptation_decay: Annotated[Float, Field(ge=0.5, le=1.0)] | None = Field(
        default=None,
        description="ρ, the decay of the threshold adaptation per step, in [0.5, 1]. Required "
        "unless tau_adaptation gives it.",
    )
    beta: Annotated[Float, Field(ge=0.0)] = Field(
        default=1.8, description="β, the threshold raise per unit of adaptation (Bellec's 1.8)."
    )
    stop_reset_grad: Bool = Field(
        default=True, description="Stop the gradient through the reset term s·B."
    )

    runtime = "snnspec.nn.neurons:LSNN"
    parameter_names = ("decay_constants", "adaptation_decay", "beta", "threshold")
    default_trainable = ("decay_constants", "adaptation_decay", "beta")
    time_constants = {
        "tau_mem": ("decay_constants", 0),
        "tau_adaptation": ("adaptation_decay", None),
    }
    state_names = ("v", "a", "spikes")
    example = {
        "type": "lsnn",
        "decay_constants": [0.9],
        "adaptation_decay": 0.95,
        "beta": 0.5,
        "threshold": 0.3,
    }
    equations = (
        "v' = α·v + (1-α)·x - sg(s·B);  a' = ρ·a + (1-ρ)·s;  B' = threshold + β·a';  "
        "s' = H(v' - B')   (s, B of the previous step, B = threshold + β·a; "
        "α = clamp(decay_constants[0], 0.5, 1), ρ = clamp(adaptation_decay, 0.5, 1), "
        "β = max(beta, 0))"
    )

    def module_options(self) -> dict[str, Any]:
        return {**super().module_options(), "stop_reset_grad": self.stop_reset_grad}


class SpikeCounterSpec(AbstractNeuronSpec):
    """Counts the spikes (or any input) received so far (SNNAX ``SpikeCounter``).

    Outputs the running count by default; ``output: spikes`` passes the input through as
    SNNAX's class does (the default under ``compat: snnax``), the count then being read
    from the state. No parameters.
    """

    type: Literal["spike_counter"] = "spike_counter"
    output: Literal["count", "spikes"] = Field(
        default="count", description="`count`: the running count; `spikes`: the input (SNNAX)."
    )

    snnax_class = "SpikeCounter"
    runtime = "snnspec.nn.neurons:SpikeCounter"
    state_names = ("count", "spikes")
    example = {"type": "spike_counter"}
    equations = "c' = c + x;  output c' (output: count) or x (output: spikes)"

    def module_options(self) -> dict[str, Any]:
        return {"output_kind": self.output}

    def snnax_compatible(self) -> "SpikeCounterSpec":
        if "output" in self.model_fields_set:
            return self
        return self.model_copy(update={"output": "spikes"})


class SpikingMaxPool2dSpec(AbstractPoolSpec):
    """Max pooling of (C, H, W) samples followed by a spike threshold (SNNAX's layer).

    Stateless: s = H(maxpool(x) - threshold), with the surrogate gradient of H. On spike
    inputs and threshold in (0, 1] a window spikes when any of its inputs spiked; on
    potentials it thresholds the largest one. Windows as ``max_pool2d`` (stride defaults to
    kernel_size, padding with -inf; SNNAX's class passes its arguments to
    ``eqx.nn.MaxPool2d``, whose stride defaults to 1, which ``compat: snnax`` takes). The
    threshold is a constant, not a parameter, as in SNNAX.
    """

    type: Literal["spiking_max_pool2d"] = "spiking_max_pool2d"
    runtime = "snnspec.nn.neurons:SpikingMaxPool2d"
    threshold: Float = Field(default=1.0, description="Spike when the window maximum reaches it.")
    surrogate: Surrogate = Field(  # pyright: ignore[reportInvalidTypeForm]
        default_factory=SuperSpikeSpec, description="Surrogate gradient of H."
    )

    num_spatial_dims = 2
    spiking = True
    snnax_class = "SpikingMaxPool2d"
    example = {"type": "spiking_max_pool2d", "kernel_size": 2, "threshold": 0.5}
    example_input_shape = (2, 5, 6)

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        import equinox as eqx

        from ...nn.neurons import SpikingMaxPool2d

        return SpikingMaxPool2d(
            eqx.nn.MaxPool2d(*self.window()), self.threshold, self.surrogate.build()
        )

    def snnax_compatible(self) -> "SpikingMaxPool2dSpec":
        # SNNAX's class passes its arguments to eqx.nn.MaxPool2d, whose stride defaults to 1
        return self if self.stride is not None else self.model_copy(update={"stride": 1})
