"""Spiking and integrating neurons with SNNAX's discrete-time equations.

Notation for one step: x is the combined input, v the membrane potential, i the synaptic
current, s the spike output, H the Heaviside step with H(0) = 1, and sg the stop-gradient
(applied to the reset term when ``stop_reset_grad``). Decay constants are clamped to
[0.5, 1] at every step, exactly as SNNAX does; values outside that range are rejected here.

Reset modes (``reset``), with R the reset term subtracted from v where the neuron spiked:
``zero`` R = v, ``value`` R = v - reset_val, ``subtract`` R = reset_val if given else
threshold, ``none`` R = 0. Each type's default is SNNAX's behaviour: ``value`` when
``reset_val`` is given, else ``zero`` (``subtract`` for ``lif_soft_reset``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from .base import Bool, Float, LayerSpec, Shape
from .surrogates import SuperSpikeSpec, Surrogate

if TYPE_CHECKING:
    import jax

ResetMode = Literal["zero", "subtract", "none", "value"]


class NeuronSpec(LayerSpec):
    """Base of the neuron specs: decay constants, per-neuron parameters, trainability."""

    decay_constants: tuple[Float, ...] = Field(
        description="Decay factors per step, each in [0.5, 1] (SNNAX clamps to this range)."
    )
    per_neuron: Bool = Field(
        default=False, description="One trainable value per neuron instead of one shared value."
    )
    trainable: tuple[str, ...] | None = Field(
        default=None,
        description="Parameters that receive gradients; default: the decay constants. "
        "The others are frozen with stop_gradient.",
    )

    stateful = True
    shape_preserving = True
    num_decay_constants: ClassVar[int] = 1
    parameter_names: ClassVar[tuple[str, ...]] = ("decay_constants",)
    default_trainable: ClassVar[tuple[str, ...]] = ("decay_constants",)
    state_names: ClassVar[tuple[str, ...]] = ("v",)
    equations: ClassVar[str] = ""
    module_name: ClassVar[str]

    @field_validator("decay_constants")
    @classmethod
    def _check_decay_constants(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if len(values) != cls.num_decay_constants:
            raise ValueError(
                f"expected {cls.num_decay_constants} decay constant(s), got {len(values)}"
            )
        for value in values:
            if not 0.5 <= value <= 1.0:
                raise ValueError(
                    f"decay constant {value} is outside [0.5, 1] (SNNAX's equations clamp "
                    "to this range)"
                )
        return values

    @field_validator("trainable")
    @classmethod
    def _check_trainable(cls, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if names is not None:
            for name in names:
                if name not in cls.parameter_names:
                    raise ValueError(
                        f"'{name}' is not a parameter of this layer; choose from "
                        f"{list(cls.parameter_names)}"
                    )
            if len(set(names)) != len(names):
                raise ValueError("a parameter is listed twice")
        return names

    def trainable_parameters(self) -> tuple[str, ...]:
        """The parameters that receive gradients."""
        return self.default_trainable if self.trainable is None else self.trainable

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        neuron_shape = input_shape if self.per_neuron else ()
        return {
            "decay_constants": (self.num_decay_constants, *neuron_shape),
            **{name: neuron_shape for name in self.parameter_names[1:]},
        }

    def state_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        return {name: input_shape for name in self.state_names}

    def module_options(self) -> dict[str, Any]:
        """Static options passed to the runtime module besides the parameter arrays."""
        return {}

    def build(self, input_shape: Shape, dtype: str, key: jax.Array) -> Any:
        import jax.numpy as jnp

        from ..nn import neurons

        neuron_shape = input_shape if self.per_neuron else ()
        decay = jnp.asarray(self.decay_constants, dtype=dtype)
        decay = jnp.broadcast_to(
            decay.reshape(-1, *(1,) * len(neuron_shape)), (self.num_decay_constants, *neuron_shape)
        )
        module_class = getattr(neurons, self.module_name)
        return module_class(
            decay_constants=decay,
            trainable=self.trainable_parameters(),
            **self.module_options(),
            **{
                name: jnp.full(neuron_shape, getattr(self, name), dtype=dtype)
                for name in self.parameter_names[1:]
            },
        )


class SpikingNeuronSpec(NeuronSpec):
    """Base of neurons that spike: threshold, reset, surrogate gradient."""

    threshold: Float = Field(default=1.0, description="Spike when v - threshold >= 0.")
    reset: ResetMode | None = Field(
        default=None, description="zero | subtract | none | value; default: the type's SNNAX reset."
    )
    reset_val: Float | None = Field(
        default=None, description="`value`: v is set to it; `subtract`: the amount subtracted."
    )
    stop_reset_grad: Bool = Field(
        default=True, description="Stop the gradient through the reset term."
    )
    surrogate: Surrogate = Field(  # pyright: ignore[reportInvalidTypeForm]
        default_factory=SuperSpikeSpec, description="Surrogate gradient of H."
    )

    spiking = True
    parameter_names = ("decay_constants", "threshold")
    state_names = ("v", "spikes")
    default_reset: ClassVar[ResetMode] = "zero"

    @model_validator(mode="after")
    def _check_reset(self) -> SpikingNeuronSpec:
        if self.reset == "value" and self.reset_val is None:
            raise ValueError("reset: value needs reset_val (the potential after a spike)")
        if self.reset in ("zero", "none") and self.reset_val is not None:
            raise ValueError(f"reset_val has no effect with reset: {self.reset}; remove it")
        return self

    def reset_mode(self) -> ResetMode:
        """The effective reset mode (SNNAX's default for the type when not given)."""
        if self.reset is not None:
            return self.reset
        if self.reset_val is not None and self.default_reset == "zero":
            return "value"
        return self.default_reset

    def module_options(self) -> dict[str, Any]:
        return {
            "surrogate": self.surrogate.build(),
            "reset": self.reset_mode(),
            "reset_val": self.reset_val,
            "stop_reset_grad": self.stop_reset_grad,
        }


class SimpleLIFSpec(SpikingNeuronSpec):
    """Leaky integrate-and-fire without synaptic current (SNNAX ``SimpleLIF``)."""

    type: Literal["simple_lif"] = "simple_lif"
    module_name = "SimpleLIF"
    example = {"type": "simple_lif", "decay_constants": [0.9], "threshold": 0.5}
    equations = (
        "v' = α·v + (1-α)·x;  s = H(v' - threshold);  v ← v' - sg(R(v')·s)   "
        "(α = decay_constants[0]; the reset uses this step's spike)"
    )


class LIFSpec(SpikingNeuronSpec):
    """Current-based leaky integrate-and-fire (SNNAX ``LIF``); resets with the last spike."""

    type: Literal["lif"] = "lif"
    example = {"type": "lif", "decay_constants": [0.9, 0.8], "threshold": 0.5}
    num_decay_constants = 2
    state_names = ("v", "i", "spikes")
    module_name = "LIF"
    equations = (
        "v ← v - sg(R(v)·s_prev);  v' = α·v + (1-α)·i;  i' = β·i + (1-β)·x;  "
        "s = H(v' - threshold)   (α, β = decay_constants; v' uses the old current i)"
    )


class LIFSoftResetSpec(LIFSpec):
    """LIF whose reset subtracts a fixed amount (SNNAX ``LIFSoftReset``)."""

    type: Literal["lif_soft_reset"] = "lif_soft_reset"  # type: ignore[assignment]
    default_reset = "subtract"
    example = {"type": "lif_soft_reset", "decay_constants": [0.9, 0.8], "threshold": 0.5}


class SimpleLISpec(NeuronSpec):
    """Leaky integrator; outputs its potential, never spikes (SNNAX ``SimpleLI``)."""

    type: Literal["simple_li"] = "simple_li"
    module_name = "SimpleLI"
    example = {"type": "simple_li", "decay_constants": [0.9]}
    equations = "v' = α·v + (1-α)·x;  output v'   (α = decay_constants[0])"
