"""Continuous-time neurons with NIR's meaning, discretised with the spec's ``dt``.

These layers exist so that NIR graphs import faithfully (see ``docs/nir.md``). Their
parameters are NIR's: time constants ``tau`` (seconds, like ``dt``), resistance ``r``, leak,
threshold and reset potentials, and the input weight ``w_in`` of the current-based variants.
Each is a number (shared by all neurons) or a per-neuron list of as many values as the layer
has neurons (row-major over the per-sample shape); ``per_neuron: true`` turns a number into
one trainable value per neuron. Params-file arrays ``<layer>.<field>`` override them.

Discretisation with step dt, at step t with input x[t] (``discretization``):

- ``euler`` (default): explicit (forward) Euler of the ODE system, every right-hand side
  taken at the previous state and this step's input:
  v[t] = v[t-1] + dt/τ·(v_leak - v[t-1] + r·x[t]).
- ``exact``: the exact solution with the input held constant over the step:
  v[t] = u + (v[t-1] - u)·exp(-dt/τ) with u = v_leak + r·x[t] (for the current-based
  variants, the exact solution of the coupled linear system, see their docs).

Spikes are s = H(v - v_threshold) with H(0) = 1 (NIR writes v > v_threshold; the two differ
only where v equals the threshold exactly); the gradient of H is the ``surrogate``. After a
spike ``reset: value`` (NIR's definition, the default) sets v to v_reset; ``reset: subtract``
subtracts v_threshold instead (NIR's reference CubaLIF in ``paper/03_rnn`` and snnTorch do
this). The reset is detached from the gradient when ``stop_reset_grad``. Leaky neurons start
at rest (v = v_leak, current 0); integrators at v = 0.

The modules need the spec's ``dt``: ``build`` takes it as a keyword (``uses_dt`` is True).
"""

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ..._errors import ShapeError, SpecError
from .base import Bool, Float, LayerSpec, Shape, SpecModel, shape_size
from .neurons import AbstractNeuronSpec, check_trainable
from .surrogates import SuperSpikeSpec, Surrogate

if TYPE_CHECKING:
    import jax

Value = Float | tuple[Float, ...]
"""A number shared by all neurons, or one value per neuron (row-major)."""

Discretization = Literal["euler", "exact"]
NIRReset = Literal["value", "subtract"]
CurrentOrder = Literal["previous", "updated"]

MAX_DELAY_STEPS = 1_000_000
"""Largest delay, in steps, that ``nir_delay`` accepts (its buffer holds that many samples)."""


def _positive(name: str, value: Any) -> Any:
    values = value if isinstance(value, tuple) else (value,)
    if not values:
        raise ValueError(f"{name} needs a number or a non-empty list of numbers")
    if any(v <= 0 for v in values):
        raise ValueError(f"{name} must be > 0 (a time constant in seconds), got {value!r}")
    return value


class NIRParametersMixin(SpecModel):
    """Per-neuron values: checks against the layer shape, parameter shapes, initial arrays."""

    per_neuron: Bool = Field(
        default=False,
        description="One trainable value per neuron even where a number is given.",
    )

    parameter_names: ClassVar[tuple[str, ...]] = ()

    @field_validator("tau", "tau_syn", "tau_mem", check_fields=False)
    @classmethod
    def _check_time_constants(cls, value: Any, info: Any) -> Any:
        return _positive(str(info.field_name), value)

    def check_values(self, input_shape: Shape) -> None:
        """Raise a ShapeError when a per-neuron list does not fit ``input_shape``."""
        size = shape_size(input_shape)
        for name in self.parameter_names:
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != size:
                raise ShapeError(
                    f"{name} lists {len(value)} values but the layer has {size} neurons "
                    f"(shape {list(input_shape)}); give one number or {size} values",
                    path=(name,),
                )

    def value_shape(self, name: str, input_shape: Shape) -> Shape:
        """Shape of parameter ``name``: the neuron shape when per-neuron, else ()."""
        return input_shape if self.per_neuron or isinstance(getattr(self, name), tuple) else ()

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        return {name: self.value_shape(name, input_shape) for name in self.parameter_names}

    def parameter_arrays(self, input_shape: Shape, dtype: str) -> dict[str, Any]:
        import jax.numpy as jnp

        arrays = {}
        for name in self.parameter_names:
            value = getattr(self, name)
            shape = self.value_shape(name, input_shape)
            if isinstance(value, tuple):
                arrays[name] = jnp.asarray(value, dtype=dtype).reshape(shape)
            else:
                arrays[name] = jnp.full(shape, value, dtype=dtype)
        return arrays


class AbstractNIRNeuronSpec(NIRParametersMixin, AbstractNeuronSpec):
    """Base of the continuous-time neurons: dt at build time, trainability, shape checks."""

    trainable: tuple[str, ...] | None = Field(
        default=None,
        description="Parameters that receive gradients; default: the time constants. The "
        "others are frozen with stop_gradient.",
    )

    uses_dt: ClassVar[bool] = True
    """``build`` needs the spec's ``dt`` (keyword argument)."""

    @field_validator("trainable")
    @classmethod
    def _check_trainable(cls, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return check_trainable(names, cls.parameter_names)

    def infer_output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is not None:
            self.check_values(input_shape)
        return input_shape

    def trainable_parameters(self) -> tuple[str, ...]:
        """The parameters that receive gradients."""
        if self.trainable is not None:
            return self.trainable
        return self.default_trainable

    def module_options(self) -> dict[str, Any]:
        return {"trainable": self.trainable_parameters()}

    def defaults_in_effect(self) -> dict[str, Any]:
        return {"trainable": self.trainable_parameters()}

    def build(
        self, input_shape: Shape, dtype: str, key: "jax.Array", *, dt: float | None = None
    ) -> Any:
        return self.runtime_classes()[0](
            **self.parameter_arrays(input_shape, dtype),
            **self.module_options(),
            dt=_require_dt(self.type, dt),
        )


def _require_dt(type_name: str, dt: float | None) -> float:
    if dt is None:
        raise SpecError(
            f"layer type {type_name} is parameterised in seconds and needs the spec's dt; "
            "build it through snnspec.compile"
        )
    return float(dt)


class LeakyMixin(SpecModel):
    """The ``discretization`` option of the leaky neurons."""

    discretization: Discretization = Field(
        default="euler",
        description="`euler`: explicit Euler; `exact`: exact for an input held over the step.",
    )

    def module_options(self) -> dict[str, Any]:
        return {**super().module_options(), "discretization": self.discretization}  # type: ignore[misc]


class CurrentOrderMixin(SpecModel):
    """The ``current`` option of the current-based neurons: which current drives v under euler.

    ``previous`` (default): v[t] is advanced with the previous step's current i[t-1], NIR's
    reference Euler (``paper/03_rnn``); x[t] reaches v one step later. ``updated``: i[t] is
    computed first and v[t] is advanced with it, as snnTorch's ``Synaptic`` and Norse's
    ``from_nir`` do. The exact discretisation solves the coupled system over the step, where
    the order has no meaning, so ``updated`` with ``exact`` is an error.
    """

    current: CurrentOrder = Field(
        default="previous",
        description="Euler update order: `previous` (v from i[t-1], NIR's reference) or "
        "`updated` (v from i[t], snnTorch and Norse).",
    )

    @model_validator(mode="after")
    def _check_current(self) -> Any:
        if self.current == "updated" and getattr(self, "discretization", "euler") == "exact":
            raise ValueError(
                "current: updated applies to the euler discretisation only (exact solves "
                "the coupled system over the step); remove it or use discretization: euler"
            )
        return self

    def module_options(self) -> dict[str, Any]:
        return {**super().module_options(), "current": self.current}  # type: ignore[misc]


class FiringMixin(SpecModel):
    """Threshold, reset and surrogate options of the spiking continuous-time neurons."""

    v_threshold: Value = Field(default=1.0, description="Spike where v reaches it.")
    v_reset: Value = Field(
        default=0.0, description="Potential after a spike (`reset: value`; unused by subtract)."
    )
    reset: NIRReset = Field(
        default="value",
        description="`value`: v = v_reset after a spike (NIR); `subtract`: v -= v_threshold.",
    )
    stop_reset_grad: Bool = Field(default=True, description="Stop the gradient of the reset.")
    surrogate: Surrogate = Field(  # pyright: ignore[reportInvalidTypeForm]
        default_factory=SuperSpikeSpec, description="Surrogate gradient of H."
    )

    def module_options(self) -> dict[str, Any]:
        return {
            **super().module_options(),  # type: ignore[misc]
            "reset": self.reset,
            "stop_reset_grad": self.stop_reset_grad,
            "surrogate": self.surrogate.build(),
        }


# --- leaky integrators and LIF ---------------------------------------------------------------


class NIRLISpec(LeakyMixin, AbstractNIRNeuronSpec):
    """Leaky integrator with NIR's meaning: τ·dv/dt = (v_leak - v) + r·x; outputs v.

    NIR ``LI``. Starts at rest (v = v_leak). ``euler``:
    v[t] = v[t-1] + dt/tau·(v_leak - v[t-1] + r·x[t]); ``exact``:
    v[t] = u + (v[t-1] - u)·exp(-dt/tau), u = v_leak + r·x[t]. Default trainable: tau.
    """

    type: Literal["nir_li"] = "nir_li"
    tau: Value = Field(description="Membrane time constant τ in seconds (> 0).")
    r: Value = Field(default=1.0, description="Resistance r (input gain).")
    v_leak: Value = Field(default=0.0, description="Leak (resting) potential.")

    runtime = "snnspec.nn.continuous:NIRLI"
    parameter_names = ("tau", "r", "v_leak")
    default_trainable = ("tau",)
    state_names = ("v",)
    example = {"type": "nir_li", "tau": 0.005, "r": 2.0}
    equations = "τ·dv/dt = (v_leak - v) + r·x;  output v   (v starts at v_leak)"


class NIRLIFSpec(FiringMixin, LeakyMixin, AbstractNIRNeuronSpec):
    """Leaky integrate-and-fire with NIR's meaning: τ·dv/dt = (v_leak - v) + r·x, spikes.

    NIR ``LIF``. Each step: v' = v[t-1] + dt/tau·(v_leak - v[t-1] + r·x[t]) (``euler``; or the
    exact update), s = H(v' - v_threshold), then v[t] = v_reset where s = 1 (``reset: value``)
    or v' - v_threshold (``subtract``). Outputs s; starts at rest (v = v_leak). Default
    trainable: tau.
    """

    type: Literal["nir_lif"] = "nir_lif"
    tau: Value = Field(description="Membrane time constant τ in seconds (> 0).")
    r: Value = Field(default=1.0, description="Resistance r (input gain).")
    v_leak: Value = Field(default=0.0, description="Leak (resting) potential.")

    spiking = True
    runtime = "snnspec.nn.continuous:NIRLIF"
    parameter_names = ("tau", "r", "v_leak", "v_threshold", "v_reset")
    default_trainable = ("tau",)
    state_names = ("v", "spikes")
    example = {"type": "nir_lif", "tau": 0.002, "r": 4.0, "v_threshold": 0.5}
    equations = (
        "τ·dv/dt = (v_leak - v) + r·x;  s = H(v - v_threshold);  after a spike v = v_reset "
        "(reset: value) or v - v_threshold (reset: subtract)"
    )


class NIRCubaLISpec(CurrentOrderMixin, LeakyMixin, AbstractNIRNeuronSpec):
    """Current-based leaky integrator with NIR's meaning (synaptic current, then membrane).

    NIR ``CubaLI``: τ_syn·di/dt = -i + w_in·x, τ_mem·dv/dt = (v_leak - v) + r·i; outputs v.
    Update order of step t (``euler``, explicit Euler of the coupled system, as NIR's
    reference CubaLIF in ``paper/03_rnn``): first v[t] = v[t-1] + dt/tau_mem·(v_leak - v[t-1]
    + r·i[t-1]) with the previous current, then i[t] = i[t-1] + dt/tau_syn·(w_in·x[t] -
    i[t-1]); so x[t] reaches v one step later. ``current: updated`` computes i[t] first and
    advances v with it (snnTorch, Norse). ``exact``: the exact solution over the step
    with x[t] held constant: i[t] = w_in·x + (i[t-1] - w_in·x)·a_syn and v[t] = u + (v[t-1] -
    u)·a_mem + r·(i[t-1] - w_in·x)·k, with u = v_leak + r·w_in·x, a = exp(-dt/τ) and
    k = τ_syn/(τ_syn - τ_mem)·(a_syn - a_mem) (k = dt/τ·a when τ_syn = τ_mem). Starts at rest
    (v = v_leak, i = 0). Default trainable: tau_syn, tau_mem.
    """

    type: Literal["nir_cuba_li"] = "nir_cuba_li"
    tau_syn: Value = Field(description="Synaptic time constant in seconds (> 0).")
    tau_mem: Value = Field(description="Membrane time constant in seconds (> 0).")
    r: Value = Field(default=1.0, description="Resistance r (current to potential gain).")
    v_leak: Value = Field(default=0.0, description="Leak (resting) potential.")
    w_in: Value = Field(default=1.0, description="Input weight of the synaptic current.")

    runtime = "snnspec.nn.continuous:NIRCubaLI"
    parameter_names = ("tau_syn", "tau_mem", "r", "v_leak", "w_in")
    default_trainable = ("tau_syn", "tau_mem")
    state_names = ("v", "i")
    example = {"type": "nir_cuba_li", "tau_syn": 0.002, "tau_mem": 0.004, "r": 3.0}
    equations = (
        "τ_syn·di/dt = -i + w_in·x;  τ_mem·dv/dt = (v_leak - v) + r·i;  output v   "
        "(euler: v[t] uses i[t-1], then i[t] uses x[t]; current: updated: v[t] uses i[t])"
    )


class NIRCubaLIFSpec(CurrentOrderMixin, FiringMixin, LeakyMixin, AbstractNIRNeuronSpec):
    """Current-based leaky integrate-and-fire with NIR's meaning; outputs spikes.

    NIR ``CubaLIF``: τ_syn·di/dt = -i + w_in·x, τ_mem·dv/dt = (v_leak - v) + r·i. Update
    order of step t: (1) v' from v[t-1] and the previous current i[t-1] (``euler``: v' =
    v[t-1] + dt/tau_mem·(v_leak - v[t-1] + r·i[t-1]); ``exact``: as ``nir_cuba_li``), (2)
    i[t] from i[t-1] and x[t], (3) s = H(v' - v_threshold), (4) v[t] = v_reset where s = 1
    (``reset: value``) or v' - v_threshold (``subtract``). This is NIR's reference CubaLIF
    (``paper/03_rnn``) with its reset as an option; ``current: updated`` swaps (1) and (2) and
    advances v with i[t] (snnTorch's ``Synaptic``, Norse's ``from_nir``). Starts at rest
    (v = v_leak, i = 0). Default trainable: tau_syn, tau_mem.
    """

    type: Literal["nir_cuba_lif"] = "nir_cuba_lif"
    tau_syn: Value = Field(description="Synaptic time constant in seconds (> 0).")
    tau_mem: Value = Field(description="Membrane time constant in seconds (> 0).")
    r: Value = Field(default=1.0, description="Resistance r (current to potential gain).")
    v_leak: Value = Field(default=0.0, description="Leak (resting) potential.")
    w_in: Value = Field(default=1.0, description="Input weight of the synaptic current.")

    spiking = True
    runtime = "snnspec.nn.continuous:NIRCubaLIF"
    parameter_names = ("tau_syn", "tau_mem", "r", "v_leak", "w_in", "v_threshold", "v_reset")
    default_trainable = ("tau_syn", "tau_mem")
    state_names = ("v", "i", "spikes")
    example = {
        "type": "nir_cuba_lif",
        "tau_syn": 0.002,
        "tau_mem": 0.004,
        "r": 3.0,
        "v_threshold": 0.2,
    }
    equations = (
        "τ_syn·di/dt = -i + w_in·x;  τ_mem·dv/dt = (v_leak - v) + r·i;  "
        "s = H(v - v_threshold);  after a spike v = v_reset or v - v_threshold   "
        "(euler: v[t] uses i[t-1], then i[t] uses x[t]; current: updated: v[t] uses i[t])"
    )


# --- integrators -----------------------------------------------------------------------------


class NIRIFSpec(FiringMixin, AbstractNIRNeuronSpec):
    """Integrate-and-fire with NIR's meaning: dv/dt = r·x, spikes at v_threshold.

    NIR ``IF``. Each step: v' = v[t-1] + dt·r·x[t] (Euler and the exact update agree),
    s = H(v' - v_threshold), v[t] = v_reset where s = 1 (``reset: value``) or v' -
    v_threshold (``subtract``). Outputs s; starts at v = 0. Default trainable: none.
    """

    type: Literal["nir_if"] = "nir_if"
    r: Value = Field(default=1.0, description="Resistance r (input gain, per second).")

    spiking = True
    runtime = "snnspec.nn.continuous:NIRIF"
    parameter_names = ("r", "v_threshold", "v_reset")
    default_trainable = ()
    state_names = ("v", "spikes")
    example = {"type": "nir_if", "r": 500.0, "v_threshold": 0.5}
    equations = (
        "dv/dt = r·x;  s = H(v - v_threshold);  after a spike v = v_reset or v - v_threshold"
    )


class NIRISpec(AbstractNIRNeuronSpec):
    """Integrator with NIR's meaning: dv/dt = r·x; outputs v.

    NIR ``I``. Each step v[t] = v[t-1] + dt·r·x[t] (Euler and the exact update agree);
    starts at v = 0. Default trainable: none.
    """

    type: Literal["nir_i"] = "nir_i"
    r: Value = Field(default=1.0, description="Resistance r (input gain, per second).")

    runtime = "snnspec.nn.continuous:NIRI"
    parameter_names = ("r",)
    default_trainable = ()
    state_names = ("v",)
    example = {"type": "nir_i", "r": 100.0}
    equations = "dv/dt = r·x;  output v   (v starts at 0)"


# --- stateless threshold and the delay line -------------------------------------------------


class NIRThresholdSpec(NIRParametersMixin, LayerSpec):
    """Heaviside step with NIR's meaning: s = H(x - threshold), stateless.

    NIR ``Threshold`` (H(0) = 1 here, NIR writes x > threshold). The gradient of H is the
    ``surrogate``; ``threshold`` is a parameter (params-file field ``threshold``), frozen
    unless ``trainable``.
    """

    type: Literal["nir_threshold"] = "nir_threshold"
    runtime = "snnspec.nn.continuous:NIRThreshold"
    threshold: Value = Field(default=1.0, description="Output 1 where the input reaches it.")
    surrogate: Surrogate = Field(  # pyright: ignore[reportInvalidTypeForm]
        default_factory=SuperSpikeSpec, description="Surrogate gradient of H."
    )
    trainable: Bool = Field(default=False, description="Whether `threshold` gets gradients.")

    spiking = True
    parameter_names = ("threshold",)
    example = {"type": "nir_threshold", "threshold": 0.25}

    def infer_output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is not None:
            self.check_values(input_shape)
        return input_shape

    def build(self, input_shape: Shape, dtype: str, key: "jax.Array") -> Any:
        from ...nn.continuous import NIRThreshold

        return NIRThreshold(
            **self.parameter_arrays(input_shape, dtype),
            surrogate=self.surrogate.build(),
            trainable=self.trainable,
        )


class NIRDelaySpec(AbstractNeuronSpec):
    """Delay line with NIR's meaning: y(t) = x(t - delay), per neuron.

    NIR ``Delay``. The delay of each neuron is rounded to d = round(delay/dt) steps and
    y[t] = x[t - d] (x before t = 0 is 0; d = 0 passes x[t] through). The state is a ring
    buffer of the last max(d) + 1 inputs. ``delay`` is a number or one value per neuron; it is
    structure, not a trainable parameter (no params-file field).
    """

    type: Literal["nir_delay"] = "nir_delay"
    delay: Value = Field(description="Delay in seconds (>= 0), rounded to whole steps of dt.")

    uses_dt: ClassVar[bool] = True
    runtime = "snnspec.nn.continuous:NIRDelay"
    state_names = ("buffer", "position")
    example = {"type": "nir_delay", "delay": [0.0, 0.001, 0.002, 0.003, 0.002, 0.001]}
    equations = "y[t] = x[t - round(delay/dt)]   (zeros before t = 0)"

    @field_validator("delay")
    @classmethod
    def _check_delay(cls, value: Any) -> Any:
        values = value if isinstance(value, tuple) else (value,)
        if not values:
            raise ValueError("delay needs a number or a non-empty list of numbers")
        if any(v < 0 for v in values):
            raise ValueError(f"delays must be >= 0 seconds, got {value!r}")
        return value

    def infer_output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is not None and isinstance(self.delay, tuple):
            size = shape_size(input_shape)
            if len(self.delay) != size:
                raise ShapeError(
                    f"delay lists {len(self.delay)} values but the layer has {size} neurons "
                    f"(shape {list(input_shape)}); give one number or {size} values",
                    path=("delay",),
                )
        return input_shape

    def state_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        # The buffer length depends on dt, unknown here: one slot is counted.
        return {"buffer": input_shape, "position": ()}

    def delay_steps(self, dt: float) -> tuple[int, ...]:
        """round(delay/dt) for each given value (one value, or one per neuron)."""
        values = self.delay if isinstance(self.delay, tuple) else (self.delay,)
        steps = tuple(round(v / dt) for v in values)
        if max(steps) > MAX_DELAY_STEPS:
            raise SpecError(
                f"nir_delay: a delay of {max(values)} s is {max(steps)} steps of dt = {dt} s; "
                f"at most {MAX_DELAY_STEPS} steps are supported"
            )
        return steps

    def build(
        self, input_shape: Shape, dtype: str, key: "jax.Array", *, dt: float | None = None
    ) -> Any:
        from ...nn.continuous import NIRDelay

        steps = self.delay_steps(_require_dt(self.type, dt))
        return NIRDelay(steps=steps, per_neuron=isinstance(self.delay, tuple))
