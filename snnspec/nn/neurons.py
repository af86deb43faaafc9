"""Neuron modules with SNNAX's discrete-time equations.

Every neuron is ``state, x -> state, output`` for one time step of one sample, with a typed
state (a NamedTuple). Parameters not listed in ``trainable`` pass through ``stop_gradient``,
so they receive zero gradients; partition them out with :func:`snnspec.trainable_filter`
when an optimiser with weight decay must not touch them either.

Reset term R (subtracted as v ← v - sg(R·s), sg only when ``stop_reset_grad``):
``zero`` R = v, ``value`` R = v - reset_val, ``subtract`` R = reset_val or threshold,
``none`` R = 0. Decay constants are clamped to [0.5, 1] at every step, as SNNAX does.
"""

import abc
from typing import Generic, NamedTuple, TypeVar, cast

import equinox as eqx
import jax
import jax.numpy as jnp
from equinox import AbstractVar
from jaxtyping import Array, Float

from .surrogates import AbstractSurrogate, SuperSpike

StateT = TypeVar("StateT")


class SimpleLIFState(NamedTuple):
    """State of a :class:`SimpleLIF`: membrane potential and last spikes."""

    v: Float[Array, " *neurons"]
    spikes: Float[Array, " *neurons"]


class LIFState(NamedTuple):
    """State of a :class:`LIF`: membrane potential, synaptic current and last spikes."""

    v: Float[Array, " *neurons"]
    i: Float[Array, " *neurons"]
    spikes: Float[Array, " *neurons"]


class SimpleLIState(NamedTuple):
    """State of a :class:`SimpleLI`: membrane potential (which is also its output)."""

    v: Float[Array, " *neurons"]


class AbstractNeuron(eqx.Module, Generic[StateT]):
    """One step of a neuron layer: ``(state, x) -> (state, output)``."""

    decay_constants: AbstractVar[Float[Array, " k *neurons"]]
    trainable: AbstractVar[tuple[str, ...]]

    @abc.abstractmethod
    def init_state(self, shape: tuple[int, ...], dtype: jnp.dtype) -> StateT:
        """The state before the first step (zeros)."""

    @abc.abstractmethod
    def __call__(
        self, state: StateT, x: Float[Array, " *neurons"], *, key: Array | None = None
    ) -> tuple[StateT, Float[Array, " *neurons"]]:
        """Advance one step."""

    @abc.abstractmethod
    def output(self, state: StateT) -> Float[Array, " *neurons"]:
        """The output this state shows to the layers that read it one step late."""

    def parameter(self, name: str) -> Array:
        """A parameter, with its gradient stopped unless it is trainable."""
        value = getattr(self, name)
        return value if name in self.trainable else jax.lax.stop_gradient(value)

    def decay(self, index: int) -> Array:
        """Decay constant ``index``, clamped to [0.5, 1] as SNNAX does."""
        return jnp.clip(self.parameter("decay_constants")[index], 0.5, 1.0)


class AbstractSpikingNeuron(AbstractNeuron[StateT]):
    """A neuron that fires s = H(v - threshold) and resets by its reset mode."""

    threshold: AbstractVar[Float[Array, " *neurons"]]
    surrogate: AbstractVar[AbstractSurrogate]
    reset: AbstractVar[str]
    reset_val: AbstractVar[float | None]
    stop_reset_grad: AbstractVar[bool]

    def fire(self, v: Array) -> Array:
        """s = H(v - threshold), with the surrogate gradient."""
        return self.surrogate(v - self.parameter("threshold"))

    def after_reset(self, v: Array, spikes: Array) -> Array:
        """v - sg(R·s) for the reset term R of the reset mode."""
        if self.reset == "none":
            return v
        if self.reset == "zero":
            term = v
        elif self.reset == "value":
            term = v - cast(float, self.reset_val)
        else:
            term = self.reset_val if self.reset_val is not None else self.parameter("threshold")
        refractory = term * spikes
        return v - (jax.lax.stop_gradient(refractory) if self.stop_reset_grad else refractory)

    def output(self, state: StateT) -> Array:
        return state.spikes  # type: ignore[attr-defined]


class SimpleLIF(AbstractSpikingNeuron[SimpleLIFState]):
    """v' = α·v + (1-α)·x;  s = H(v' - threshold);  v ← v' - sg(R·s)  (α = decay[0])."""

    decay_constants: Float[Array, " 1 *neurons"]
    threshold: Float[Array, " *neurons"]
    surrogate: AbstractSurrogate = SuperSpike()
    reset: str = eqx.field(static=True, default="zero")
    reset_val: float | None = eqx.field(static=True, default=None)
    stop_reset_grad: bool = eqx.field(static=True, default=True)
    trainable: tuple[str, ...] = eqx.field(static=True, default=("decay_constants",))

    def init_state(self, shape: tuple[int, ...], dtype: jnp.dtype) -> SimpleLIFState:
        return SimpleLIFState(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype))

    def __call__(
        self, state: SimpleLIFState, x: Array, *, key: Array | None = None
    ) -> tuple[SimpleLIFState, Array]:
        alpha = self.decay(0)
        v = alpha * state.v + (1.0 - alpha) * x
        spikes = self.fire(v)
        return SimpleLIFState(self.after_reset(v, spikes), spikes), spikes


class LIF(AbstractSpikingNeuron[LIFState]):
    """Current-based LIF; the reset uses the previous step's spike, before integrating.

    v ← v - sg(R·s_prev);  v' = α·v + (1-α)·i;  i' = β·i + (1-β)·x;  s = H(v' - threshold)
    """

    decay_constants: Float[Array, " 2 *neurons"]
    threshold: Float[Array, " *neurons"]
    surrogate: AbstractSurrogate = SuperSpike()
    reset: str = eqx.field(static=True, default="zero")
    reset_val: float | None = eqx.field(static=True, default=None)
    stop_reset_grad: bool = eqx.field(static=True, default=True)
    trainable: tuple[str, ...] = eqx.field(static=True, default=("decay_constants",))

    def init_state(self, shape: tuple[int, ...], dtype: jnp.dtype) -> LIFState:
        return LIFState(*(jnp.zeros(shape, dtype) for _ in range(3)))

    def __call__(
        self, state: LIFState, x: Array, *, key: Array | None = None
    ) -> tuple[LIFState, Array]:
        alpha, beta = self.decay(0), self.decay(1)
        v = self.after_reset(state.v, state.spikes)
        v = alpha * v + (1.0 - alpha) * state.i
        current = beta * state.i + (1.0 - beta) * x
        spikes = self.fire(v)
        return LIFState(v, current, spikes), spikes


class SimpleLI(AbstractNeuron[SimpleLIState]):
    """Leaky integrator: v' = α·v + (1-α)·x, output v'."""

    decay_constants: Float[Array, " 1 *neurons"]
    trainable: tuple[str, ...] = eqx.field(static=True, default=("decay_constants",))

    def init_state(self, shape: tuple[int, ...], dtype: jnp.dtype) -> SimpleLIState:
        return SimpleLIState(jnp.zeros(shape, dtype))

    def __call__(
        self, state: SimpleLIState, x: Array, *, key: Array | None = None
    ) -> tuple[SimpleLIState, Array]:
        alpha = self.decay(0)
        v = alpha * state.v + (1.0 - alpha) * x
        return SimpleLIState(v), v

    def output(self, state: SimpleLIState) -> Array:
        return state.v
