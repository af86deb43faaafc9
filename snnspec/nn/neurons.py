"""Neuron modules with SNNAX's discrete-time equations.

Every neuron is ``state, x -> state, output`` for one time step of one sample, with a typed
state (a NamedTuple). Parameters not listed in ``trainable`` pass through ``stop_gradient``,
so they receive exactly zero gradients; partition them out of the optimiser state when an
optimiser with weight decay must not touch them either.

Notation: x is the combined input of the step, H the Heaviside step with H(0) = 1 (its
gradient is the surrogate's), sg the stop-gradient. Spiking neurons fire s = H(v - threshold)
and reset by the reset term R, subtracted as v ← v - sg(R·s) (sg only when
``stop_reset_grad``):

- ``zero``: R = v (v becomes 0),
- ``value``: R = v - reset_val (v becomes reset_val),
- ``subtract``: R = reset_val if given, else threshold,
- ``none``: R = 0.

Parameters are clamped at every step exactly as SNNAX does (decay constants to [0.5, 1],
see each class, with ``jax.lax.clamp``: the gradient is zero at and beyond the bounds), so
training may move them anywhere without breaking the dynamics. A scan computes these
transforms once, before its loop, through :meth:`AbstractNeuron.hoisted` (the same values and
gradients): a neuron that reads its parameters through ``parameter``, ``clamped`` and
``decay`` gets that for free.

``init_state(shape, dtype, key=None)`` draws the membrane-like state variable (named by each
class) from the neuron's ``init`` (zeros by default); the other state variables start at 0.
A random ``init`` needs a ``key``.
"""

import abc
import dataclasses
from typing import ClassVar, Generic, NamedTuple, TypeVar, cast

import equinox as eqx
import jax
import jax.numpy as jnp
from equinox import AbstractVar
from jaxtyping import Array, Float

from .surrogates import AbstractSurrogate, SuperSpike

StateT = TypeVar("StateT")


# --- initial membrane state ------------------------------------------------------------------


class AbstractInit(eqx.Module):
    """How the membrane-like state variable of a neuron starts."""

    @abc.abstractmethod
    def __call__(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> Float[Array, " *neurons"]:
        """An array of ``shape`` and ``dtype``."""


class ZerosInit(AbstractInit):
    """All zeros (SNNAX's default); needs no key."""

    def __call__(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> Float[Array, " *neurons"]:
        return jnp.zeros(shape, dtype)


def _require_key(key: Array | None, name: str) -> Array:
    if key is None:
        raise ValueError(
            f"init: {name} draws the initial membrane state at random and needs a key; call "
            "init_state(shape, dtype, key=...)"
        )
    return key


class UniformInit(AbstractInit):
    """Independent draws from U[low, high), one per neuron."""

    low: float = eqx.field(static=True, default=0.0)
    high: float = eqx.field(static=True, default=1.0)

    def __call__(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> Float[Array, " *neurons"]:
        key = _require_key(key, "uniform")
        return jax.random.uniform(key, shape, dtype, self.low, self.high)


class NormalInit(AbstractInit):
    """Independent draws from N(mean, std²), one per neuron."""

    mean: float = eqx.field(static=True, default=0.0)
    std: float = eqx.field(static=True, default=1.0)

    def __call__(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> Float[Array, " *neurons"]:
        key = _require_key(key, "normal")
        return self.mean + self.std * jax.random.normal(key, shape, dtype)


# --- states ----------------------------------------------------------------------------------


class SimpleLIFState(NamedTuple):
    """State of a :class:`SimpleLIF`: membrane potential and last spikes."""

    v: Float[Array, " *neurons"]
    spikes: Float[Array, " *neurons"]


class LIFState(NamedTuple):
    """State of a :class:`LIF`: membrane potential, synaptic current and last spikes."""

    v: Float[Array, " *neurons"]
    i: Float[Array, " *neurons"]
    spikes: Float[Array, " *neurons"]


class AdaptiveLIFState(NamedTuple):
    """State of an :class:`AdaptiveLIF`: potential, adaptation variable and last spikes."""

    v: Float[Array, " *neurons"]
    a: Float[Array, " *neurons"]
    spikes: Float[Array, " *neurons"]


class IAFState(NamedTuple):
    """State of an :class:`IAF`: membrane potential, synaptic current and last spikes."""

    v: Float[Array, " *neurons"]
    i: Float[Array, " *neurons"]
    spikes: Float[Array, " *neurons"]


class SimpleLIState(NamedTuple):
    """State of a :class:`SimpleLI`: membrane potential (which is also its output)."""

    v: Float[Array, " *neurons"]


class SigmaDeltaState(NamedTuple):
    """State of a :class:`SigmaDelta`: SNNAX's five arrays (i, e, i_mem, s, spike_out)."""

    sigma: Float[Array, " *neurons"]
    error: Float[Array, " *neurons"]
    membrane: Float[Array, " *neurons"]
    feedback: Float[Array, " *neurons"]
    spikes: Float[Array, " *neurons"]


class SRMState(NamedTuple):
    """State of an :class:`SRM`: the two synaptic traces, the refractory trace, spikes."""

    p: Float[Array, " *neurons"]
    q: Float[Array, " *neurons"]
    r: Float[Array, " *neurons"]
    spikes: Float[Array, " *neurons"]


class SpikeCounterState(NamedTuple):
    """State of a :class:`SpikeCounter`: the running count and the last input."""

    count: Float[Array, " *neurons"]
    spikes: Float[Array, " *neurons"]


# --- bases -----------------------------------------------------------------------------------


class AbstractNeuron(eqx.Module, Generic[StateT]):
    """One step of a stateful layer: ``(state, x) -> (state, output)``."""

    trainable: AbstractVar[tuple[str, ...]]

    clamps: ClassVar[dict[str, tuple[float, float]]] = {"decay_constants": (0.5, 1.0)}
    """Parameters clamped to a range at every step (SNNAX's), the spec's bounds on them."""

    @abc.abstractmethod
    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> StateT:
        """The state before the first step; ``key`` seeds a random ``init``."""

    @abc.abstractmethod
    def __call__(
        self, state: StateT, x: Float[Array, " *neurons"], *, key: Array | None = None
    ) -> tuple[StateT, Float[Array, " *neurons"]]:
        """Advance one step."""

    @abc.abstractmethod
    def output(self, state: StateT) -> Float[Array, " *neurons"]:
        """The output this state shows to the layers that read it one step late."""

    _hoisted: ClassVar[bool] = False
    """True on the copy :meth:`hoisted` returns, whose parameters are already transformed."""

    def parameter(self, name: str) -> Array:
        """A parameter, with its gradient stopped unless it is trainable."""
        value = getattr(self, name)
        if self._hoisted or name in self.trainable:
            return value
        return jax.lax.stop_gradient(value)

    def clamped(self, name: str) -> Array:
        """A parameter clamped to its range in ``clamps`` with SNNAX's ``lax.clamp``.

        Its gradient is zero at the bounds, where ``jnp.clip`` would pass half of it.
        """
        value = self.parameter(name)
        return value if self._hoisted else _clamp(value, *self.clamps[name])

    def decay(self, index: int) -> Array:
        """Decay constant ``index``, clamped to its range in ``clamps`` ([0.5, 1], SNNAX's)."""
        decays = self.parameter("decay_constants")
        if self._hoisted:
            return decays[index]
        return _clamp(decays[index], *self.clamps["decay_constants"])

    def hoisted(self) -> "AbstractNeuron[StateT]":
        """This neuron with its per-step parameter transforms applied once, for a scan to
        compute before its loop: every float array field passes through ``stop_gradient``
        unless trainable, then through its clamp in ``clamps``; ``parameter``, ``clamped`` and
        ``decay`` of the copy return the fields as they are. Both transforms are elementwise
        and idempotent (values and gradients), so a step of the copy equals a step of this
        neuron for any neuron that reads its parameters through those three methods.
        """
        fields = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if eqx.is_inexact_array(getattr(self, f.name))
        }
        names = list(fields)
        values = []
        for name, value in fields.items():
            if name not in self.trainable:
                value = jax.lax.stop_gradient(value)
            if name in self.clamps:
                value = _clamp(value, *self.clamps[name])
            values.append(value)
        copy = eqx.tree_at(lambda n: [getattr(n, name) for name in names], self, values)
        object.__setattr__(copy, "_hoisted", True)  # a marker, not a field: not traced
        return copy


class AbstractFiringNeuron(AbstractNeuron[StateT]):
    """A neuron with a threshold whose output is the spike train s = H(· - threshold)."""

    threshold: AbstractVar[Float[Array, " *neurons"]]
    surrogate: AbstractVar[AbstractSurrogate]
    init: AbstractVar[AbstractInit]

    def fire(self, v: Array) -> Array:
        """s = H(v - threshold), with the surrogate gradient."""
        return self.surrogate(v - self.parameter("threshold"))

    def output(self, state: StateT) -> Array:
        return state.spikes  # type: ignore[attr-defined]


class AbstractSpikingNeuron(AbstractFiringNeuron[StateT]):
    """A neuron that fires s = H(v - threshold) and resets v by its reset mode."""

    reset: AbstractVar[str]
    reset_val: AbstractVar[float | None]
    stop_reset_grad: AbstractVar[bool]

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


def _zeros(shape: tuple[int, ...], dtype: jnp.dtype) -> Array:
    return jnp.zeros(shape, dtype)


def _clamp(value: Array, low: float, high: float) -> Array:
    return jax.lax.clamp(jnp.asarray(low, value.dtype), value, jnp.asarray(high, value.dtype))


# --- the LIF family --------------------------------------------------------------------------


class SimpleLIF(AbstractSpikingNeuron[SimpleLIFState]):
    """LIF without synaptic current (SNNAX ``SimpleLIF``); ``init`` sets v.

    v' = α·v + (1-α)·x;  s = H(v' - threshold);  v ← v' - sg(R·s)   (α = decay[0])
    """

    decay_constants: Float[Array, " 1 *neurons"]
    threshold: Float[Array, " *neurons"]
    surrogate: AbstractSurrogate = SuperSpike()
    reset: str = eqx.field(static=True, default="zero")
    reset_val: float | None = eqx.field(static=True, default=None)
    stop_reset_grad: bool = eqx.field(static=True, default=True)
    init: AbstractInit = ZerosInit()
    trainable: tuple[str, ...] = eqx.field(static=True, default=("decay_constants",))

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> SimpleLIFState:
        return SimpleLIFState(self.init(shape, dtype, key), _zeros(shape, dtype))

    def __call__(
        self, state: SimpleLIFState, x: Array, *, key: Array | None = None
    ) -> tuple[SimpleLIFState, Array]:
        alpha = self.decay(0)
        v = alpha * state.v + (1.0 - alpha) * x
        spikes = self.fire(v)
        return SimpleLIFState(self.after_reset(v, spikes), spikes), spikes


class LIF(AbstractSpikingNeuron[LIFState]):
    """Current-based LIF (SNNAX ``LIF``, ``LIFSoftReset``); ``init`` sets v.

    The reset uses the previous step's spike, before integrating:
    v ← v - sg(R·s_prev);  v' = α·v + (1-α)·i;  i' = β·i + (1-β)·x;  s = H(v' - threshold)
    (α, β = decay[0], decay[1]; v' uses the old current i).
    """

    decay_constants: Float[Array, " 2 *neurons"]
    threshold: Float[Array, " *neurons"]
    surrogate: AbstractSurrogate = SuperSpike()
    reset: str = eqx.field(static=True, default="zero")
    reset_val: float | None = eqx.field(static=True, default=None)
    stop_reset_grad: bool = eqx.field(static=True, default=True)
    init: AbstractInit = ZerosInit()
    trainable: tuple[str, ...] = eqx.field(static=True, default=("decay_constants",))

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> LIFState:
        zeros = _zeros(shape, dtype)
        return LIFState(self.init(shape, dtype, key), zeros, zeros)

    def __call__(
        self, state: LIFState, x: Array, *, key: Array | None = None
    ) -> tuple[LIFState, Array]:
        alpha, beta = self.decay(0), self.decay(1)
        v = self.after_reset(state.v, state.spikes)
        v = alpha * v + (1.0 - alpha) * state.i
        current = beta * state.i + (1.0 - beta) * x
        spikes = self.fire(v)
        return LIFState(v, current, spikes), spikes


class AdaptiveLIF(AbstractSpikingNeuron[AdaptiveLIFState]):
    """LIF with an adaptation variable a (SNNAX ``AdaptiveLIF``); ``init`` sets v.

    v' = α·v + (1-α)·(x + a);  s = H(v' - threshold);
    a' = (1-ρ)·c·v' + ρ·a - b·sg(s);  v ← v' - sg(R·s)
    with α = clamp(decay[0], 0.5, 1), ρ = clamp(ada_decay_constant, 0.5, 1),
    c = clamp(ada_coupling_var, -1, 1), b = clamp(ada_step_val, 0, 2). The adaptation reads
    v' before the reset, and the spike's step b is always detached (as in SNNAX).
    """

    decay_constants: Float[Array, " 1 *neurons"]
    ada_decay_constant: Float[Array, " *neurons"]
    ada_step_val: Float[Array, " *neurons"]
    ada_coupling_var: Float[Array, " *neurons"]
    threshold: Float[Array, " *neurons"]
    clamps: ClassVar[dict[str, tuple[float, float]]] = {
        "decay_constants": (0.5, 1.0),
        "ada_decay_constant": (0.5, 1.0),
        "ada_coupling_var": (-1.0, 1.0),
        "ada_step_val": (0.0, 2.0),
    }
    surrogate: AbstractSurrogate = SuperSpike()
    reset: str = eqx.field(static=True, default="zero")
    reset_val: float | None = eqx.field(static=True, default=None)
    stop_reset_grad: bool = eqx.field(static=True, default=True)
    init: AbstractInit = ZerosInit()
    trainable: tuple[str, ...] = eqx.field(static=True, default=("decay_constants",))

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> AdaptiveLIFState:
        zeros = _zeros(shape, dtype)
        return AdaptiveLIFState(self.init(shape, dtype, key), zeros, zeros)

    def __call__(
        self, state: AdaptiveLIFState, x: Array, *, key: Array | None = None
    ) -> tuple[AdaptiveLIFState, Array]:
        alpha = self.decay(0)
        rho = self.clamped("ada_decay_constant")
        coupling = self.clamped("ada_coupling_var")
        step = self.clamped("ada_step_val")
        v = alpha * state.v + (1.0 - alpha) * (x + state.a)
        spikes = self.fire(v)
        a = (1.0 - rho) * coupling * v + rho * state.a - step * jax.lax.stop_gradient(spikes)
        return AdaptiveLIFState(self.after_reset(v, spikes), a, spikes), spikes


class IAF(AbstractSpikingNeuron[IAFState]):
    """Current-based integrate-and-fire with a constant leak (SNNAX ``IAF``); ``init`` sets v.

    v' = v - leak + i;  i' = β·i + (1-β)·x;  s = H(v' - threshold);  v ← v' - sg(R·s)
    (β = clamp(decay[0], 0.5, 1); v' uses the old current i; the reset uses this step's spike).
    """

    decay_constants: Float[Array, " 1 *neurons"]
    leak: Float[Array, " *neurons"]
    threshold: Float[Array, " *neurons"]
    surrogate: AbstractSurrogate = SuperSpike()
    reset: str = eqx.field(static=True, default="zero")
    reset_val: float | None = eqx.field(static=True, default=None)
    stop_reset_grad: bool = eqx.field(static=True, default=True)
    init: AbstractInit = ZerosInit()
    trainable: tuple[str, ...] = eqx.field(static=True, default=("decay_constants", "leak"))

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> IAFState:
        zeros = _zeros(shape, dtype)
        return IAFState(self.init(shape, dtype, key), zeros, zeros)

    def __call__(
        self, state: IAFState, x: Array, *, key: Array | None = None
    ) -> tuple[IAFState, Array]:
        beta = self.decay(0)
        v = state.v - self.parameter("leak") + state.i
        current = beta * state.i + (1.0 - beta) * x
        spikes = self.fire(v)
        return IAFState(self.after_reset(v, spikes), current, spikes), spikes


class SimpleIAF(AbstractSpikingNeuron[SimpleLIFState]):
    """Integrate-and-fire of the raw input with a constant leak (SNNAX ``SimpleIAF``).

    v' = v - leak + x;  s = H(v' - threshold);  v ← v' - sg(R·s)   (``init`` sets v)
    """

    leak: Float[Array, " *neurons"]
    threshold: Float[Array, " *neurons"]
    surrogate: AbstractSurrogate = SuperSpike()
    reset: str = eqx.field(static=True, default="zero")
    reset_val: float | None = eqx.field(static=True, default=None)
    stop_reset_grad: bool = eqx.field(static=True, default=True)
    init: AbstractInit = ZerosInit()
    trainable: tuple[str, ...] = eqx.field(static=True, default=("leak",))

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> SimpleLIFState:
        return SimpleLIFState(self.init(shape, dtype, key), _zeros(shape, dtype))

    def __call__(
        self, state: SimpleLIFState, x: Array, *, key: Array | None = None
    ) -> tuple[SimpleLIFState, Array]:
        v = state.v - self.parameter("leak") + x
        spikes = self.fire(v)
        return SimpleLIFState(self.after_reset(v, spikes), spikes), spikes


class SimpleLI(AbstractNeuron[SimpleLIState]):
    """Leaky integrator (SNNAX ``SimpleLI``): v' = α·v + (1-α)·x, output v'; ``init`` sets v."""

    decay_constants: Float[Array, " 1 *neurons"]
    init: AbstractInit = ZerosInit()
    trainable: tuple[str, ...] = eqx.field(static=True, default=("decay_constants",))

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> SimpleLIState:
        return SimpleLIState(self.init(shape, dtype, key))

    def __call__(
        self, state: SimpleLIState, x: Array, *, key: Array | None = None
    ) -> tuple[SimpleLIState, Array]:
        alpha = self.decay(0)
        v = alpha * state.v + (1.0 - alpha) * x
        return SimpleLIState(v), v

    def output(self, state: SimpleLIState) -> Array:
        return state.v


# --- other spiking and counting layers -------------------------------------------------------


class SigmaDelta(AbstractFiringNeuron[SigmaDeltaState]):
    """Sigma-delta neuron (SNNAX ``SigmaDelta`` at its current version); ``init`` sets m.

    i' = d_in·i + x;  e = i' - f;  m' = d_mem·m + e;  s = H(m' - threshold);
    f' = d_fb·f + s;  output s
    with d_in, d_mem, d_fb = decay_constants[0..2], not clamped (as SNNAX). The sigma decoder
    i accumulates the input, the delta encoder integrates its error against the fed-back
    spikes f; there is no reset and no stop-gradient (as SNNAX).
    """

    decay_constants: Float[Array, " 3 *neurons"]
    threshold: Float[Array, " *neurons"]
    surrogate: AbstractSurrogate = SuperSpike()
    init: AbstractInit = ZerosInit()
    trainable: tuple[str, ...] = eqx.field(static=True, default=("decay_constants",))

    clamps: ClassVar[dict[str, tuple[float, float]]] = {}  # SNNAX clamps none of its decays

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> SigmaDeltaState:
        zeros = _zeros(shape, dtype)
        return SigmaDeltaState(zeros, zeros, self.init(shape, dtype, key), zeros, zeros)

    def __call__(
        self, state: SigmaDeltaState, x: Array, *, key: Array | None = None
    ) -> tuple[SigmaDeltaState, Array]:
        decays = self.parameter("decay_constants")
        sigma = state.sigma * decays[0] + x
        error = sigma - state.feedback
        membrane = state.membrane * decays[1] + error
        spikes = self.fire(membrane)
        feedback = state.feedback * decays[2] + spikes
        return SigmaDeltaState(sigma, error, membrane, feedback, spikes), spikes


class SRM(AbstractFiringNeuron[SRMState]):
    """Spike response model: two cascaded synaptic filters and a refractory kernel.

    p' = α·p + (1-α)·x;  q' = β·q + (1-β)·p';  r' = γ·r + sg(s);
    u = q' - η·r';  s' = H(u - threshold)
    with α, β = clamp(decay[0..1], 0.5, 1), γ = clamp(r_decay_constant, 0.5, 1),
    η = clamp(r_amplitude, 0, 2); s is the previous step's spike, sg only when
    ``stop_reset_grad``. Closed form: u(n) = Σ_k ε(n-k)·x(k) - η·Σ_{m<n} γ^(n-1-m)·s(m),
    with the PSP kernel ε(d) = (1-α)(1-β)(α^(d+1) - β^(d+1)) / (α - β) (a difference of
    exponentials of unit area; (1-α)²(d+1)α^d when α = β). ``init`` sets q.
    """

    decay_constants: Float[Array, " 2 *neurons"]
    r_decay_constant: Float[Array, " *neurons"]
    r_amplitude: Float[Array, " *neurons"]
    threshold: Float[Array, " *neurons"]
    clamps: ClassVar[dict[str, tuple[float, float]]] = {
        "decay_constants": (0.5, 1.0),
        "r_decay_constant": (0.5, 1.0),
        "r_amplitude": (0.0, 2.0),
    }
    surrogate: AbstractSurrogate = SuperSpike()
    stop_reset_grad: bool = eqx.field(static=True, default=True)
    init: AbstractInit = ZerosInit()
    trainable: tuple[str, ...] = eqx.field(
        static=True, default=("decay_constants", "r_decay_constant", "r_amplitude")
    )

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> SRMState:
        zeros = _zeros(shape, dtype)
        return SRMState(zeros, self.init(shape, dtype, key), zeros, zeros)

    def __call__(
        self, state: SRMState, x: Array, *, key: Array | None = None
    ) -> tuple[SRMState, Array]:
        alpha, beta = self.decay(0), self.decay(1)
        gamma = self.clamped("r_decay_constant")
        eta = self.clamped("r_amplitude")
        p = alpha * state.p + (1.0 - alpha) * x
        q = beta * state.q + (1.0 - beta) * p
        last = jax.lax.stop_gradient(state.spikes) if self.stop_reset_grad else state.spikes
        r = gamma * state.r + last
        spikes = self.fire(q - eta * r)
        return SRMState(p, q, r, spikes), spikes


class LSNNState(NamedTuple):
    """State of an :class:`LSNN`: potential, threshold adaptation and last spikes."""

    v: Float[Array, " *neurons"]
    a: Float[Array, " *neurons"]
    spikes: Float[Array, " *neurons"]


class LSNN(AbstractFiringNeuron[LSNNState]):
    """LIF with an adaptive threshold (LSNN, Bellec et al. 2018); ``init`` sets v.

    v' = α·v + (1-α)·x - sg(s·B);  a' = ρ·a + (1-ρ)·s;  B' = threshold + β·a';
    s' = H(v' - B')
    with s and B = threshold + β·a of the previous step on the right-hand side,
    α = clamp(decay[0], 0.5, 1), ρ = clamp(adaptation_decay, 0.5, 1), β = max(beta, 0); sg
    only when ``stop_reset_grad`` (the adaptation keeps its gradient).
    """

    decay_constants: Float[Array, " 1 *neurons"]
    adaptation_decay: Float[Array, " *neurons"]
    beta: Float[Array, " *neurons"]
    threshold: Float[Array, " *neurons"]
    clamps: ClassVar[dict[str, tuple[float, float]]] = {
        "decay_constants": (0.5, 1.0),
        "adaptation_decay": (0.5, 1.0),
        "beta": (0.0, float("inf")),
    }
    surrogate: AbstractSurrogate = SuperSpike()
    stop_reset_grad: bool = eqx.field(static=True, default=True)
    init: AbstractInit = ZerosInit()
    trainable: tuple[str, ...] = eqx.field(
        static=True, default=("decay_constants", "adaptation_decay", "beta")
    )

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> LSNNState:
        zeros = _zeros(shape, dtype)
        return LSNNState(self.init(shape, dtype, key), zeros, zeros)

    def __call__(
        self, state: LSNNState, x: Array, *, key: Array | None = None
    ) -> tuple[LSNNState, Array]:
        alpha = self.decay(0)
        rho = self.clamped("adaptation_decay")
        beta = self.clamped("beta")
        threshold = self.parameter("threshold")
        reset = state.spikes * (threshold + beta * state.a)
        if self.stop_reset_grad:
            reset = jax.lax.stop_gradient(reset)
        v = alpha * state.v + (1.0 - alpha) * x - reset
        a = rho * state.a + (1.0 - rho) * state.spikes
        spikes = self.surrogate(v - (threshold + beta * a))
        return LSNNState(v, a, spikes), spikes


class SpikeCounter(AbstractNeuron[SpikeCounterState]):
    """Running spike count: c' = c + x; outputs c' (``output: count``) or x (``spikes``)."""

    output_kind: str = eqx.field(static=True, default="count")
    trainable: tuple[str, ...] = eqx.field(static=True, default=())

    def init_state(
        self, shape: tuple[int, ...], dtype: jnp.dtype, key: Array | None = None
    ) -> SpikeCounterState:
        return SpikeCounterState(_zeros(shape, dtype), _zeros(shape, dtype))

    def __call__(
        self, state: SpikeCounterState, x: Array, *, key: Array | None = None
    ) -> tuple[SpikeCounterState, Array]:
        new = SpikeCounterState(state.count + x, x)
        return new, self.output(new)

    def output(self, state: SpikeCounterState) -> Array:
        return state.count if self.output_kind == "count" else state.spikes


class SpikingMaxPool2d(eqx.Module):
    """Stateless: s = H(maxpool(x) - threshold) on a (C, H, W) sample (SNNAX's layer)."""

    pool: eqx.nn.MaxPool2d
    threshold: float = eqx.field(static=True, default=1.0)
    surrogate: AbstractSurrogate = SuperSpike()

    def __call__(
        self, x: Float[Array, "c h w"], *, key: Array | None = None
    ) -> Float[Array, "c h2 w2"]:
        return self.surrogate(self.pool(x) - self.threshold)
