"""Continuous-time neurons with NIR's meaning, one step of dt at a time.

The equations, the discretisation rules and the update order are documented on the specs in
:mod:`snnspec.spec.layers.continuous`. Parameters are arrays of shape () (shared) or the neuron
shape; ``dt`` and the options are static. Parameters not in ``trainable`` pass through
``stop_gradient``.
"""

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from equinox import AbstractVar
from jaxtyping import Array, Float, Int

from .neurons import AbstractNeuron, StateT
from .surrogates import AbstractSurrogate, SuperSpike

# --- states ----------------------------------------------------------------------------------


class NIRLIState(NamedTuple):
    """State of an :class:`NIRLI` or :class:`NIRI`: the potential (also the output)."""

    v: Float[Array, " *neurons"]


class NIRLIFState(NamedTuple):
    """State of an :class:`NIRLIF` or :class:`NIRIF`: potential after reset, last spikes."""

    v: Float[Array, " *neurons"]
    spikes: Float[Array, " *neurons"]


class NIRCubaLIState(NamedTuple):
    """State of an :class:`NIRCubaLI`: potential and synaptic current."""

    v: Float[Array, " *neurons"]
    i: Float[Array, " *neurons"]


class NIRCubaLIFState(NamedTuple):
    """State of an :class:`NIRCubaLIF`: potential after reset, current, last spikes."""

    v: Float[Array, " *neurons"]
    i: Float[Array, " *neurons"]
    spikes: Float[Array, " *neurons"]


class NIRDelayState(NamedTuple):
    """State of an :class:`NIRDelay`: ring buffer of past inputs and the last write slot."""

    buffer: Float[Array, " slots *neurons"]
    position: Int[Array, ""]


# --- shared pieces ---------------------------------------------------------------------------


class AbstractNIRNeuron(AbstractNeuron[StateT]):
    """A continuous-time neuron advanced by steps of ``dt`` seconds."""

    dt: AbstractVar[float]

    def relax(self, v: Array, target: Array, tau: Array, discretization: str) -> Array:
        """One step of τ·dv/dt = target - v with ``target`` held over the step."""
        if discretization == "exact":
            return target + (v - target) * jnp.exp(-self.dt / tau)
        return v + (self.dt / tau) * (target - v)


class AbstractNIRSpiking(AbstractNIRNeuron[StateT]):
    """Spike s = H(v - v_threshold) and reset (to v_reset, or by subtracting the threshold)."""

    v_threshold: AbstractVar[Array]
    v_reset: AbstractVar[Array]
    reset: AbstractVar[str]
    stop_reset_grad: AbstractVar[bool]
    surrogate: AbstractVar[AbstractSurrogate]

    def fire_and_reset(self, v: Array) -> tuple[Array, Array]:
        """(v after the reset, spikes) for the potential v before it."""
        threshold = self.parameter("v_threshold")
        spikes = self.surrogate(v - threshold)
        term = threshold if self.reset == "subtract" else v - self.parameter("v_reset")
        drop = term * spikes
        drop = jax.lax.stop_gradient(drop) if self.stop_reset_grad else drop
        return v - drop, spikes

    def output(self, state: StateT) -> Array:
        return state.spikes  # type: ignore[attr-defined]


def _rest(value: Array, shape: tuple[int, ...], dtype: jnp.dtype) -> Array:
    return jnp.broadcast_to(jax.lax.stop_gradient(value), shape).astype(dtype)


# --- neurons ---------------------------------------------------------------------------------


class NIRLI(AbstractNIRNeuron[NIRLIState]):
    """τ·dv/dt = (v_leak - v) + r·x; outputs v (starts at v_leak)."""

    tau: Float[Array, "..."]
    r: Float[Array, "..."]
    v_leak: Float[Array, "..."]
    dt: float = eqx.field(static=True)
    discretization: str = eqx.field(static=True, default="euler")
    trainable: tuple[str, ...] = eqx.field(static=True, default=("tau",))

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> NIRLIState:
        return NIRLIState(_rest(self.v_leak, shape, dtype))

    def __call__(
        self, state: NIRLIState, x: Array, *, key: Array | None = None
    ) -> tuple[NIRLIState, Array]:
        target = self.parameter("v_leak") + self.parameter("r") * x
        v = self.relax(state.v, target, self.parameter("tau"), self.discretization)
        return NIRLIState(v), v

    def output(self, state: NIRLIState) -> Array:
        return state.v


class NIRLIF(AbstractNIRSpiking[NIRLIFState]):
    """τ·dv/dt = (v_leak - v) + r·x; s = H(v - v_threshold); reset; outputs s."""

    tau: Float[Array, "..."]
    r: Float[Array, "..."]
    v_leak: Float[Array, "..."]
    v_threshold: Float[Array, "..."]
    v_reset: Float[Array, "..."]
    dt: float = eqx.field(static=True)
    discretization: str = eqx.field(static=True, default="euler")
    reset: str = eqx.field(static=True, default="value")
    stop_reset_grad: bool = eqx.field(static=True, default=True)
    surrogate: AbstractSurrogate = SuperSpike()
    trainable: tuple[str, ...] = eqx.field(static=True, default=("tau",))

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> NIRLIFState:
        return NIRLIFState(_rest(self.v_leak, shape, dtype), jnp.zeros(shape, dtype))

    def __call__(
        self, state: NIRLIFState, x: Array, *, key: Array | None = None
    ) -> tuple[NIRLIFState, Array]:
        target = self.parameter("v_leak") + self.parameter("r") * x
        v = self.relax(state.v, target, self.parameter("tau"), self.discretization)
        v, spikes = self.fire_and_reset(v)
        return NIRLIFState(v, spikes), spikes


def _cuba_step(
    neuron: AbstractNIRNeuron, v: Array, i: Array, x: Array, discretization: str, current: str
) -> tuple[Array, Array]:
    """(v', i') of the current-based neurons.

    euler: v is advanced with i[t-1] (``current == "previous"``) or with i[t] (``"updated"``);
    exact: the coupled linear system is solved over the step.
    """
    tau_syn, tau_mem = neuron.parameter("tau_syn"), neuron.parameter("tau_mem")
    r, v_leak = neuron.parameter("r"), neuron.parameter("v_leak")
    drive = neuron.parameter("w_in") * x
    i_new = neuron.relax(i, drive, tau_syn, discretization)
    if discretization != "exact":
        i_drive = i_new if current == "updated" else i
        return neuron.relax(v, v_leak + r * i_drive, tau_mem, discretization), i_new
    dt = neuron.dt
    a_syn, a_mem = jnp.exp(-dt / tau_syn), jnp.exp(-dt / tau_mem)
    gap = tau_syn - tau_mem
    close = jnp.abs(gap) <= 1e-9 * jnp.maximum(tau_syn, tau_mem)
    safe_gap = jnp.where(close, 1.0, gap)
    kernel = jnp.where(close, dt / tau_mem * a_mem, tau_syn / safe_gap * (a_syn - a_mem))
    target = v_leak + r * drive
    return target + (v - target) * a_mem + r * (i - drive) * kernel, i_new


class NIRCubaLI(AbstractNIRNeuron[NIRCubaLIState]):
    """τ_syn·di/dt = -i + w_in·x; τ_mem·dv/dt = (v_leak - v) + r·i; outputs v."""

    tau_syn: Float[Array, "..."]
    tau_mem: Float[Array, "..."]
    r: Float[Array, "..."]
    v_leak: Float[Array, "..."]
    w_in: Float[Array, "..."]
    dt: float = eqx.field(static=True)
    discretization: str = eqx.field(static=True, default="euler")
    current: str = eqx.field(static=True, default="previous")
    trainable: tuple[str, ...] = eqx.field(static=True, default=("tau_syn", "tau_mem"))

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> NIRCubaLIState:
        return NIRCubaLIState(_rest(self.v_leak, shape, dtype), jnp.zeros(shape, dtype))

    def __call__(
        self, state: NIRCubaLIState, x: Array, *, key: Array | None = None
    ) -> tuple[NIRCubaLIState, Array]:
        v, i = _cuba_step(self, state.v, state.i, x, self.discretization, self.current)
        return NIRCubaLIState(v, i), v

    def output(self, state: NIRCubaLIState) -> Array:
        return state.v


class NIRCubaLIF(AbstractNIRSpiking[NIRCubaLIFState]):
    """Current-based LIF: the ``NIRCubaLI`` update, then s = H(v - v_threshold) and reset."""

    tau_syn: Float[Array, "..."]
    tau_mem: Float[Array, "..."]
    r: Float[Array, "..."]
    v_leak: Float[Array, "..."]
    w_in: Float[Array, "..."]
    v_threshold: Float[Array, "..."]
    v_reset: Float[Array, "..."]
    dt: float = eqx.field(static=True)
    discretization: str = eqx.field(static=True, default="euler")
    current: str = eqx.field(static=True, default="previous")
    reset: str = eqx.field(static=True, default="value")
    stop_reset_grad: bool = eqx.field(static=True, default=True)
    surrogate: AbstractSurrogate = SuperSpike()
    trainable: tuple[str, ...] = eqx.field(static=True, default=("tau_syn", "tau_mem"))

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> NIRCubaLIFState:
        zeros = jnp.zeros(shape, dtype)
        return NIRCubaLIFState(_rest(self.v_leak, shape, dtype), zeros, zeros)

    def __call__(
        self, state: NIRCubaLIFState, x: Array, *, key: Array | None = None
    ) -> tuple[NIRCubaLIFState, Array]:
        v, i = _cuba_step(self, state.v, state.i, x, self.discretization, self.current)
        v, spikes = self.fire_and_reset(v)
        return NIRCubaLIFState(v, i, spikes), spikes


class NIRIF(AbstractNIRSpiking[NIRLIFState]):
    """dv/dt = r·x; s = H(v - v_threshold); reset; outputs s (starts at v = 0)."""

    r: Float[Array, "..."]
    v_threshold: Float[Array, "..."]
    v_reset: Float[Array, "..."]
    dt: float = eqx.field(static=True)
    reset: str = eqx.field(static=True, default="value")
    stop_reset_grad: bool = eqx.field(static=True, default=True)
    surrogate: AbstractSurrogate = SuperSpike()
    trainable: tuple[str, ...] = eqx.field(static=True, default=())

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> NIRLIFState:
        zeros = jnp.zeros(shape, dtype)
        return NIRLIFState(zeros, zeros)

    def __call__(
        self, state: NIRLIFState, x: Array, *, key: Array | None = None
    ) -> tuple[NIRLIFState, Array]:
        v, spikes = self.fire_and_reset(state.v + self.dt * self.parameter("r") * x)
        return NIRLIFState(v, spikes), spikes


class NIRI(AbstractNIRNeuron[NIRLIState]):
    """dv/dt = r·x; outputs v (starts at 0)."""

    r: Float[Array, "..."]
    dt: float = eqx.field(static=True)
    trainable: tuple[str, ...] = eqx.field(static=True, default=())

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> NIRLIState:
        return NIRLIState(jnp.zeros(shape, dtype))

    def __call__(
        self, state: NIRLIState, x: Array, *, key: Array | None = None
    ) -> tuple[NIRLIState, Array]:
        v = state.v + self.dt * self.parameter("r") * x
        return NIRLIState(v), v

    def output(self, state: NIRLIState) -> Array:
        return state.v


class NIRThreshold(eqx.Module):
    """Stateless s = H(x - threshold) with the surrogate gradient."""

    threshold: Float[Array, "..."]
    surrogate: AbstractSurrogate = SuperSpike()
    trainable: bool = eqx.field(static=True, default=False)

    def __call__(
        self, x: Float[Array, " *neurons"], *, key: Array | None = None
    ) -> Float[Array, " *neurons"]:
        threshold = self.threshold if self.trainable else jax.lax.stop_gradient(self.threshold)
        return self.surrogate(x - threshold)


class NIRDelay(AbstractNeuron[NIRDelayState]):
    """y[t] = x[t - d] per neuron, from a ring buffer of the last max(d) + 1 inputs.

    After step t the slot ``position`` holds x[t] and slot (position - k) mod L holds x[t-k].
    """

    steps: tuple[int, ...] = eqx.field(static=True)
    per_neuron: bool = eqx.field(static=True, default=False)
    trainable: tuple[str, ...] = eqx.field(static=True, default=())

    @property
    def slots(self) -> int:
        """Buffer length L = max(d) + 1."""
        return max(self.steps) + 1

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> NIRDelayState:
        position = jnp.asarray(self.slots - 1, dtype=jnp.int32)
        return NIRDelayState(jnp.zeros((self.slots, *shape), dtype), position)

    def _read(self, buffer: Array, position: Array) -> Array:
        if not self.per_neuron:
            return buffer[(position - self.steps[0]) % self.slots]
        delays = np.asarray(self.steps, dtype=np.int32).reshape(buffer.shape[1:])
        index = (position - delays) % self.slots
        return jnp.take_along_axis(buffer, index[None], axis=0)[0]

    def __call__(
        self, state: NIRDelayState, x: Array, *, key: Array | None = None
    ) -> tuple[NIRDelayState, Array]:
        position = (state.position + 1) % self.slots
        buffer = state.buffer.at[position].set(x)
        return NIRDelayState(buffer, position), self._read(buffer, position)

    def output(self, state: NIRDelayState) -> Array:
        return self._read(state.buffer, state.position)
