"""Equinox interop both ways.

:func:`as_equinox` wraps a compiled model as an ``eqx.nn.StatefulLayer`` that runs a whole
time sequence per call and keeps the SNN state in an ``eqx.nn.State``, so it sits inside
``eqx.nn.Sequential`` between hand-written Equinox layers.

:func:`from_equinox` goes the other way: an ``eqx.nn.Sequential`` of supported layers, or a
compiled :class:`~snnspec.StatefulModel`, becomes a :class:`~snnspec.ModelSpec` plus its
parameter arrays (keys ``<layer>.<field>``, ready for :func:`snnspec.save_params`-style files).
Which module class is which layer type (:data:`MODULE_TYPES`) is derived from the registry
(each spec's ``runtime``); :data:`CONVERTERS` holds, per layer type, the inverse of its
``build``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, PRNGKeyArray
from pydantic import ValidationError

from .._errors import PathElement, SpecError
from ..graph.plan import plan_graph
from ..model.model import StatefulModel
from ..model.params import parameter_arrays
from ..nn import neurons
from ..nn.elementwise import ACTIVATION_FUNCTIONS, Scale
from ..nn.pooling import SumPool2d
from ..nn.surrogates import SURROGATE_MODULES
from ..spec.model import ModelSpec
from ..spec.registry import LAYER_TYPES

# --- a compiled model as an Equinox stateful layer -------------------------------------------


class SNNLayer(eqx.nn.StatefulLayer):
    """A compiled model as an Equinox ``StatefulLayer``: one call runs one whole sample.

    ``layer(x, state, key=key) -> (outputs, state)``: ``x`` is ``(T, *shape)`` (a tuple of
    arrays for several inputs); outputs is ``(T - burnin, *out_shape)`` (a tuple for several
    final layers). The SNN state (membranes, last outputs) lives in ``state`` under
    :attr:`index`, so ``eqx.nn.make_with_state`` creates it and ``eqx.nn.Sequential`` threads
    it through.

    The state persists: the final SNN state is written back, so the next call continues the
    simulation where this one stopped. To start again from rest, use :meth:`reset` (or call
    with a copy of the state that ``make_with_state`` returned). The state holds one sample;
    for a batch, ``jax.vmap(layer, in_axes=(0, None), out_axes=(0, 0))`` starts every sample
    from the same state and returns one final state per sample (pass it back with
    ``in_axes=(0, 0)`` to continue).
    """

    model: StatefulModel
    index: eqx.nn.StateIndex
    burnin: int = eqx.field(static=True)

    def __init__(
        self, model: StatefulModel, *, burnin: int = 0, key: PRNGKeyArray | None = None
    ) -> None:
        self.model = model
        self.burnin = burnin
        self.index = eqx.nn.StateIndex(model.init_state(key=key))

    def __call__(
        self,
        x: Array | tuple[Array, ...],
        state: eqx.nn.State,
        *,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Array | tuple[Array, ...], eqx.nn.State]:
        """Run the time sequence ``x`` from the stored state; store the final state."""
        inputs = list(x) if isinstance(x, tuple | list) else x
        snn_state, outputs = self.model(state.get(self.index), inputs, key, self.burnin)
        result = outputs[0] if len(outputs) == 1 else tuple(outputs)
        return result, state.set(self.index, snn_state)

    def reset(self, state: eqx.nn.State, *, key: PRNGKeyArray | None = None) -> eqx.nn.State:
        """``state`` with this layer's SNN state back at rest (``model.init_state(key=key)``).

        A model with an Equinox stateful member (``batch_norm``) cannot rebuild its initial
        state after ``make_with_state`` deleted it; keep a copy of the first state instead.
        """
        try:
            initial = self.model.init_state(key=key)
        except ValueError as error:
            raise SpecError(
                "cannot rebuild the initial state of a model with an Equinox stateful layer "
                "after make_with_state; keep a copy of the first state "
                f"(jax.tree.map(lambda a: a, state)) and pass it again ({error})"
            ) from None
        return state.set(self.index, initial)


def as_equinox(
    model: StatefulModel, *, burnin: int = 0, key: PRNGKeyArray | None = None
) -> SNNLayer:
    """``model`` as an ``eqx.nn.StatefulLayer`` (see :class:`SNNLayer`).

    ``burnin`` steps of every call are run without returning outputs (SPEC section 2);
    ``key`` seeds a random initial membrane state (``init:`` on neurons). Use it through
    ``eqx.nn.make_with_state``::

        seq, state = eqx.nn.make_with_state(eqx.nn.Sequential)([encoder, as_equinox(m), readout])
        y, state = seq(x, state, key=key)
    """
    return SNNLayer(model, burnin=burnin, key=key)


# --- Equinox modules -> layer specs ----------------------------------------------------------


class _Unsupported(Exception):
    """A supported module class whose settings no layer type expresses."""


Converter = Callable[[Any, tuple[str, ...]], dict[str, Any]]
"""``(module, candidate layer types) -> layer data``: the types registered for the module's
class, or only the one a compiled model knew."""


def _number(value: Any) -> float:
    """A scalar array or number as the shortest float that reads back to the same value."""
    return float(str(np.asarray(value).reshape(-1)[0]))


def _collapse(values: Sequence[int]) -> int | tuple[int, ...]:
    """One value for every spatial axis when they agree (the spec's short form)."""
    values = tuple(int(v) for v in values)
    return values[0] if len(set(values)) == 1 else values


def _symmetric(padding: Any, what: str) -> int | tuple[int, ...]:
    pairs = tuple(tuple(pair) for pair in padding)
    if any(low != high for low, high in pairs):
        raise _Unsupported(f"asymmetric {what} padding {pairs} has no layer option")
    return _collapse([low for low, _ in pairs])


def _linear(module: eqx.nn.Linear, names: tuple[str, ...]) -> dict[str, Any]:
    if module.in_features == "scalar" or module.out_features == "scalar":
        raise _Unsupported("'scalar' features have no layer option; use a size of 1")
    return {
        "type": "linear",
        "out_features": int(module.out_features),
        "in_features": int(module.in_features),
        "use_bias": bool(module.use_bias),
    }


def _conv(module: eqx.nn.Conv, names: tuple[str, ...]) -> dict[str, Any]:
    if module.padding_mode != "ZEROS":
        raise _Unsupported(f"padding_mode {module.padding_mode!r} (only zero padding is a spec)")
    padding = module.padding
    if isinstance(padding, str):
        if padding not in ("SAME", "VALID"):
            raise _Unsupported(f"padding {padding!r}; use SAME or VALID")
    else:
        padding = _symmetric(padding, "convolution")
    return {
        "type": f"conv{module.num_spatial_dims}d",
        "out_channels": int(module.out_channels),
        "in_channels": int(module.in_channels),
        "kernel_size": _collapse(module.kernel_size),
        "stride": _collapse(module.stride),
        "padding": padding,
        "dilation": _collapse(module.dilation),
        "groups": int(module.groups),
        "use_bias": bool(module.use_bias),
    }


def _window(kernel: Any, stride: Any, padding: Any, use_ceil: bool = False) -> dict[str, Any]:
    if use_ceil:
        raise _Unsupported("use_ceil=True has no layer option")
    padding = _symmetric(padding, "pooling") if isinstance(padding[0], Sequence) else padding
    return {
        "kernel_size": _collapse(kernel),
        "stride": None if tuple(stride) == tuple(kernel) else _collapse(stride),
        "padding": padding if isinstance(padding, int) else _collapse(padding),
    }


def _pool(module: Any, names: tuple[str, ...]) -> dict[str, Any]:
    window = _window(module.kernel_size, module.stride, module.padding, module.use_ceil)
    return {"type": names[0], **window}


def _sum_pool(module: SumPool2d, names: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "sum_pool2d", **_window(module.kernel_size, module.stride, module.padding)}


def _layer_norm(module: eqx.nn.LayerNorm, names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "layer_norm",
        "eps": float(module.eps),
        "use_weight": bool(module.use_weight),
        "use_bias": bool(module.use_bias),
    }


def _group_norm(module: eqx.nn.GroupNorm, names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "group_norm",
        "groups": int(module.groups),
        "channels": module.channels,
        "eps": float(module.eps),
        "channelwise_affine": bool(module.channelwise_affine),
    }


def _batch_norm(module: eqx.nn.BatchNorm, names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "batch_norm",
        "eps": float(module.eps),
        "momentum": float(module.momentum),
        "channelwise_affine": bool(module.channelwise_affine),
        "mode": module.mode,
    }


def _activation_name(fn: Any) -> str | None:
    """The ``lambda`` fn name of an activation function (matched by identity), else None.

    A scan rather than a dict lookup: the function may be an unhashable Module.
    """
    return next((name for name, known in ACTIVATION_FUNCTIONS.items() if known is fn), None)


def _lambda(module: eqx.nn.Lambda, names: tuple[str, ...]) -> dict[str, Any]:
    name = _activation_name(module.fn)
    wrapped = getattr(module.fn, "__wrapped__", None)
    if name is None and isinstance(wrapped, eqx.Module):
        raise _Unsupported(
            f"it maps {_class_name(type(wrapped))} with other settings than "
            "eqx.filter_vmap(module)'s defaults; write eqx.nn.Lambda(eqx.filter_vmap(module)) "
            "to run the module at every time step"
        )
    if name is None:
        raise _Unsupported(
            f"its function {getattr(module.fn, '__name__', module.fn)!r} is not in the "
            f"activation table ({', '.join(ACTIVATION_FUNCTIONS)}); use one of those "
            "functions (snnspec.nn.elementwise.ACTIVATION_FUNCTIONS)"
        )
    return {"type": "lambda", "fn": name}


def _scale(module: Scale, names: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "scale", "scale": _number(module.scale), "trainable": module.trainable}


def _sequential(module: eqx.nn.Sequential, names: tuple[str, ...]) -> dict[str, Any]:
    members = [_layer_data(member, ("layers", i), None) for i, member in enumerate(module.layers)]
    return {"type": "sequential", "layers": members}


SURROGATE_NAMES: dict[type, str] = {cls: name for name, cls in SURROGATE_MODULES.items()}
"""Surrogate module class -> surrogate type name (the inverse of ``SURROGATE_MODULES``)."""

INIT_NAMES: dict[type, str] = {
    neurons.ZerosInit: "zeros",
    neurons.UniformInit: "uniform",
    neurons.NormalInit: "normal",
}
"""Initial-state module class -> ``init`` type name."""


def _static_fields(module: Any) -> dict[str, Any]:
    return {field.name: getattr(module, field.name) for field in dataclasses.fields(module)}


def _surrogate(module: Any) -> dict[str, Any]:
    name = SURROGATE_NAMES.get(type(module))
    if name is None:
        raise _Unsupported(f"surrogate {type(module).__qualname__} is not registered")
    return {"type": name, **_static_fields(module)}


def _init(module: Any) -> str | dict[str, Any]:
    name = INIT_NAMES.get(type(module))
    if name is None:
        raise _Unsupported(f"init {type(module).__qualname__} is not registered")
    return "zeros" if name == "zeros" else {"type": name, **_static_fields(module)}


def _neuron(module: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """Converter of a neuron module: parameters from its arrays, options from its fields.

    Of several types building the module's class (``lif``, ``lif_soft_reset``), the first
    whose default reset is the module's (so the reset need not be written), else the first.
    """
    converted = [_neuron_data(module, name) for name in names]
    return next((data for data in converted if data.get("reset") is None), converted[0])


def _neuron_data(module: Any, name: str) -> dict[str, Any]:
    cls = LAYER_TYPES[name]
    fields = cls.model_fields
    parameter_names: tuple[str, ...] = getattr(cls, "parameter_names", ())
    data: dict[str, Any] = {"type": name}
    per_neuron = False
    for parameter in parameter_names:
        array = np.asarray(getattr(module, parameter))
        vector = parameter == "decay_constants"  # one value per constant
        per_neuron |= array.ndim > int(vector)
        if vector:
            values = array.reshape(array.shape[0], -1)[:, 0] if array.ndim else array
            data[parameter] = tuple(_number(v) for v in values)
        else:
            data[parameter] = _number(array)
    if "decay_constants" in data and cls.decay_clamped:  # type: ignore[attr-defined]
        low, high = cls.decay_range  # type: ignore[attr-defined]  # the equations clamp
        data["decay_constants"] = tuple(min(max(v, low), high) for v in data["decay_constants"])
    if "per_neuron" in fields:
        data["per_neuron"] = per_neuron
    if "trainable" in fields:
        default = getattr(cls, "default_trainable", ())
        data["trainable"] = None if module.trainable == default else tuple(module.trainable)
    if "init" in fields:
        data["init"] = _init(module.init)
    if "surrogate" in fields:
        data["surrogate"] = _surrogate(module.surrogate)
    if "stop_reset_grad" in fields:
        data["stop_reset_grad"] = bool(module.stop_reset_grad)
    if "reset" in fields:
        data["reset_val"] = module.reset_val
        data["reset"] = None
        implied = cls.model_validate(data).reset_mode()  # type: ignore[attr-defined]
        data["reset"] = None if implied == module.reset else module.reset
    if "output" in fields:
        data["output"] = module.output_kind
    return data


def _spiking_max_pool(module: neurons.SpikingMaxPool2d, names: tuple[str, ...]) -> dict[str, Any]:
    pool = module.pool
    return {
        "type": "spiking_max_pool2d",
        **_window(pool.kernel_size, pool.stride, pool.padding, pool.use_ceil),
        "threshold": float(module.threshold),
        "surrogate": _surrogate(module.surrogate),
    }


CONVERTERS: dict[str, Converter] = {
    "linear": _linear,
    "conv1d": _conv,
    "conv2d": _conv,
    "conv3d": _conv,
    "max_pool1d": _pool,
    "max_pool2d": _pool,
    "avg_pool1d": _pool,
    "avg_pool2d": _pool,
    "sum_pool2d": _sum_pool,
    "layer_norm": _layer_norm,
    "group_norm": _group_norm,
    "batch_norm": _batch_norm,
    "dropout": lambda m, names: {"type": "dropout", "p": float(m.p)},
    "identity": lambda m, names: {"type": "identity"},
    "lambda": _lambda,
    "sequential": _sequential,
    "flatten": lambda m, names: {"type": "flatten"},
    "reshape": lambda m, names: {"type": "reshape", "shape": tuple(m.shape)},
    "scale": _scale,
    "simple_lif": _neuron,
    "lif": _neuron,
    "lif_soft_reset": _neuron,
    "adaptive_lif": _neuron,
    "iaf": _neuron,
    "simple_iaf": _neuron,
    "simple_li": _neuron,
    "sigma_delta": _neuron,
    "srm": _neuron,
    "lsnn": _neuron,
    "spike_counter": _neuron,
    "spiking_max_pool2d": _spiking_max_pool,
}
"""Layer type -> its converter from a module to layer data (the inverse of its ``build``).

A registered type missing here (the continuous-time ``nir_*`` neurons, whose ``dt`` lives
in the spec) is refused by name; a test holds every registered type to one or the other.
"""


def _module_types() -> dict[type, tuple[str, ...]]:
    table: dict[type, tuple[str, ...]] = {}
    for name, cls in LAYER_TYPES.items():
        for module_class in cls.runtime_classes():
            table[module_class] = (*table.get(module_class, ()), name)
    return table


MODULE_TYPES: dict[type, tuple[str, ...]] = _module_types()
"""Module class (exact) -> the layer types that build it, in registry order; derived from
each registered spec's ``runtime`` and ``also_reads``. A module class not listed here (a
subclass included: it may compute something else) is an error.
"""


def _class_name(cls: type) -> str:
    if getattr(eqx.nn, cls.__name__, None) is cls:
        return f"eqx.nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _layer_data(module: Any, path: tuple[PathElement, ...], hint: str | None) -> dict[str, Any]:
    """The layer data of ``module``; a SpecError located at ``path`` if there is none."""
    names = MODULE_TYPES.get(type(module))
    what = _class_name(type(module))
    if names is None:
        supported = sorted({_class_name(cls) for cls in MODULE_TYPES})
        raise SpecError(
            f"{what} has no snnspec layer type; supported modules: {', '.join(supported)}",
            path=path,
        )
    if hint in names:
        names = (hint,)
    converter = CONVERTERS.get(names[0])
    if converter is None:
        convertible = ", ".join(name for name in LAYER_TYPES if name in CONVERTERS)
        raise SpecError(
            f"{what} (layer type {names[0]}) cannot be read back by from_equinox; convertible "
            f"types: {convertible}",
            path=path,
        )
    try:
        return converter(module, names)
    except SpecError as error:  # a member of a nested block
        raise SpecError(error.message, path=(*path, *error.path)) from None
    except _Unsupported as error:
        raise SpecError(f"{what} cannot be written as a spec layer: {error}", path=path) from None
    except ValidationError as error:
        raise _validation_error(error, what, path) from None


def _validation_error(
    error: ValidationError, what: str, path: tuple[PathElement, ...]
) -> SpecError:
    detail = error.errors(include_url=False)[0]
    field = ".".join(str(p) for p in detail["loc"])
    return SpecError(
        f"{what} cannot be written as a spec layer: {field}: {detail['msg']}", path=path
    )


# --- from_equinox ----------------------------------------------------------------------------

InputShapes = Mapping[str, Sequence[int]] | Sequence[int]


def from_equinox(
    obj: eqx.nn.Sequential | StatefulModel | SNNLayer,
    inputs: InputShapes | None = None,
    *,
    name: str = "model",
    description: str = "",
    seed: int = 0,
    dt: float = 1e-3,
    time: Mapping[str, int] | None = None,
) -> tuple[ModelSpec, dict[str, np.ndarray]]:
    """A spec and its parameter arrays from an Equinox model.

    ``obj`` is an ``eqx.nn.Sequential`` of supported modules (:data:`MODULE_TYPES`: Equinox's
    layers, ``eqx.nn.Lambda`` with a function of the activation table, snnspec's neurons and
    shape layers), read as a feed-forward chain from one input run at every time step; or a
    compiled :class:`~snnspec.StatefulModel` (or :func:`as_equinox` layer), whose graph,
    names, ``combine`` and timing come from its plan. A Sequential of whole-sequence members,
    as in :func:`as_equinox`'s example, converts too: ``eqx.nn.Lambda(eqx.filter_vmap(M))``
    is M's layer run at every step, an :func:`as_equinox` member is inlined (its layers and
    graph), elementwise modules stay; any other member is a SpecError naming it and why.
    ``inputs`` maps input names to
    per-sample shapes (a bare shape names the input ``input``); a compiled model knows them.
    ``name``, ``description``, ``seed``, ``dt`` and ``time`` fill the spec's top-level keys.

    Layer options come from the modules' fields, in the spec's short form (one value when all
    spatial axes agree; a pooling stride equal to the kernel left out; a neuron's ``trainable``
    left out when it is the type's default). A parameter that is per neuron or was trained
    shows its first value in the spec; the returned arrays (keys ``<layer>.<field>``) hold
    every value, so ``snnspec.compile(spec, params=arrays)`` rebuilds the same model. State
    that is not a parameter (``batch_norm``'s running statistics) is not carried over.
    """
    if isinstance(obj, SNNLayer):
        obj = obj.model
    if isinstance(obj, StatefulModel):
        data, modules = _model_data(obj, inputs)
    elif isinstance(obj, eqx.nn.Sequential):
        data, modules = _sequential_data(obj, inputs)
    else:
        raise SpecError(
            f"from_equinox takes an eqx.nn.Sequential or a compiled StatefulModel, got "
            f"{_class_name(type(obj))}; wrap a single layer as eqx.nn.Sequential([layer])"
        )
    data = {
        "snnspec": 1,
        "name": name,
        "description": description,
        "seed": seed,
        "dtype": data.pop("dtype"),
        "dt": dt,
        **({"time": dict(time)} if time is not None else {}),
        **data,
    }
    try:
        spec = ModelSpec.model_validate(data)
    except ValidationError as error:
        detail = error.errors(include_url=False)[0]
        path = tuple(detail["loc"])
        raise SpecError(f"the recovered spec is not valid: {detail['msg']}", path=path) from None
    plan = plan_graph(spec)
    arrays = parameter_arrays(StatefulModel(tuple(modules), plan, spec.dtype))
    _check_arrays(spec, arrays)
    return spec, arrays


def _input_list(inputs: InputShapes | None) -> list[dict[str, Any]]:
    if inputs is None:
        raise SpecError("from_equinox needs inputs= (input name -> per-sample shape)")
    if isinstance(inputs, Mapping):
        items = list(inputs.items())
    elif all(isinstance(size, int) for size in inputs):
        items = [("input", inputs)]
    else:
        raise SpecError(f"inputs must map names to shapes or be one shape, got {inputs!r}")
    return [{"name": key, "shape": tuple(int(s) for s in shape)} for key, shape in items]


def _sequential_data(
    sequential: eqx.nn.Sequential, inputs: InputShapes | None
) -> tuple[dict[str, Any], list[Any]]:
    input_list = _input_list(inputs)
    if len(input_list) != 1:
        raise SpecError(f"an eqx.nn.Sequential has one input, got {len(input_list)} in inputs=")
    if not sequential.layers:
        raise SpecError("the eqx.nn.Sequential is empty")
    data: dict[str, Any] = {"dtype": _dtype_of(sequential), "inputs": input_list}
    members = list(sequential.layers)
    if any(isinstance(m, SNNLayer) or _per_step_module(m) is not None for m in members):
        layers, modules, output = _sequence_chain(members, input_list[0]["name"])
        return {**data, "layers": layers, "outputs": (output,)}, modules
    layers = [_layer_data(m, ("layers", i), None) for i, m in enumerate(members)]
    return {**data, "layers": layers}, members


def _per_step_module(member: Any) -> Any | None:
    """``M`` of ``eqx.nn.Lambda(eqx.filter_vmap(M))`` (M run at every time step), else None."""
    if type(member) is not eqx.nn.Lambda:
        return None
    inner = getattr(member.fn, "__wrapped__", None)
    if not isinstance(inner, eqx.Module) or not callable(inner):
        return None
    if not eqx.tree_equal(member.fn, eqx.filter_vmap(inner)):
        return None
    return inner


_ELEMENTWISE = ("identity", "lambda", "scale")
"""Layer types whose module gives the same result on a (T, ...) sequence as step by step."""


def _sequence_chain(
    members: list[Any], input_name: str
) -> tuple[list[dict[str, Any]], list[Any], str]:
    """Layers of a Sequential whose members each take a whole (T, ...) sequence.

    That is the Sequential of :func:`as_equinox`'s docs: ``eqx.nn.Lambda(eqx.filter_vmap(M))``
    runs M at every time step (M becomes its layer), an :func:`as_equinox` layer is inlined
    (its layers and graph, its input wired to the member before it), and an elementwise
    module is the same either way. Returns the layers (named, with explicit inputs), their
    modules and the name of the last member's output.
    """
    layers: list[dict[str, Any]] = []
    modules: list[Any] = []
    taken: set[str] = {input_name}
    previous = input_name

    def unique(name: str) -> str:
        base, n = name, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        return name

    for i, member in enumerate(members):
        path: tuple[PathElement, ...] = ("layers", i)
        if isinstance(member, SNNLayer):
            inlined, output = _inline(member, path, previous, unique)
            layers += inlined
            modules += list(member.model.layers)
            previous = output
            continue
        module = _per_step_module(member)
        layer = _layer_data(member if module is None else module, path, None)
        if module is None and layer["type"] not in _ELEMENTWISE:
            raise SpecError(
                f"{_class_name(type(member))} would see the whole (T, ...) sequence here, "
                "next to as_equinox/filter_vmap members; write "
                "eqx.nn.Lambda(eqx.filter_vmap(module)) to run it at every time step",
                path=path,
            )
        if module is not None and _has_state(module, layer):
            raise SpecError(
                f"{_class_name(type(member))} maps a stateful module over the time axis (no "
                "state carried from step to step), which no spec layer computes; use the "
                "module itself, or as_equinox(model)",
                path=path,
            )
        layer["name"] = unique(f"{layer['type']}_{len(layers)}")
        layer["inputs"] = (previous,)
        layers.append(layer)
        modules.append(member if module is None else module)
        previous = layer["name"]
    return layers, modules, previous


def _has_state(module: Any, layer: dict[str, Any]) -> bool:
    """Whether a module carries state from one step to the next (neurons, batch norm)."""
    leaves = jax.tree_util.tree_leaves(
        module, is_leaf=lambda m: isinstance(m, eqx.nn.StatefulLayer)
    )
    return any(isinstance(m, eqx.nn.StatefulLayer) for m in leaves) or _stateful_data(layer)


def _stateful_data(layer: dict[str, Any]) -> bool:
    return LAYER_TYPES[layer["type"]].stateful or any(
        _stateful_data(member) for member in layer.get("layers", ())
    )


def _inline(
    member: SNNLayer,
    path: tuple[PathElement, ...],
    source: str,
    unique: Callable[[str], str],
) -> tuple[list[dict[str, Any]], str]:
    """The layers of an :func:`as_equinox` member, reading ``source``; and its output name."""
    plan = member.model.plan
    what = "an as_equinox layer"
    if len(plan.input_names) != 1 or len(plan.final_layer_ids) != 1:
        raise SpecError(
            f"{what} inside an eqx.nn.Sequential must have one input and one output; this "
            f"one has {len(plan.input_names)} and {len(plan.final_layer_ids)}",
            path=path,
        )
    if member.burnin:
        raise SpecError(
            f"{what} with burnin={member.burnin} drops steps in the middle of the Sequential, "
            "which no spec expresses; use burnin=0 (or the spec's time.burnin on the whole)",
            path=path,
        )
    if plan.timing != "causal":
        raise SpecError(
            f"{what} with {plan.timing} timing cannot be inlined into a causal chain; use "
            "from_equinox on the model itself",
            path=path,
        )
    renamed = {name: unique(name) for name in plan.layer_names}
    renamed[plan.input_names[0]] = source
    layers = _model_layers(member.model, path)
    for layer in layers:
        layer["name"] = renamed[layer["name"]]
        layer["inputs"] = tuple(renamed[name] for name in layer["inputs"])
    return layers, renamed[plan.layer_names[plan.final_layer_ids[0]]]


def _model_layers(model: StatefulModel, path: tuple[PathElement, ...] = ()) -> list[dict[str, Any]]:
    """The layers of a compiled model: data with names, sources by name and combine."""
    plan = model.plan
    layers = []
    for i, module in enumerate(model.layers):
        layer = _layer_data(module, (*path, "layers", i), plan.layer_types[i])
        layer["name"] = plan.layer_names[i]
        layer["inputs"] = tuple(
            plan.source_name(source).removesuffix("@t-1") for source in plan.sources[i]
        )
        layer["combine"] = plan.combine[i]
        layers.append(layer)
    return layers


def _model_data(
    model: StatefulModel, inputs: InputShapes | None
) -> tuple[dict[str, Any], list[Any]]:
    plan = model.plan
    known = [
        {"name": n, "shape": s} for n, s in zip(plan.input_names, plan.input_shapes, strict=True)
    ]
    if inputs is not None and _input_list(inputs) != known:
        raise SpecError(
            f"inputs= {_input_list(inputs)} disagrees with the model's inputs {known}; leave "
            "it out for a compiled model"
        )
    data: dict[str, Any] = {
        "dtype": model.dtype,
        "inputs": known,
        "layers": _model_layers(model),
        "outputs": tuple(plan.layer_names[i] for i in plan.final_layer_ids),
    }
    if plan.timing != "causal":
        data["graph"] = {"timing": plan.timing}
    return data, list(model.layers)


def _dtype_of(tree: Any) -> str:
    for leaf in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_inexact_array)):
        return str(leaf.dtype)
    return "float32"


def _check_arrays(spec: ModelSpec, arrays: dict[str, np.ndarray]) -> None:
    """The spec must rebuild arrays of the same keys and shapes (else it is not the model)."""
    from ..model.compile import compile as compile_spec

    rebuilt = parameter_arrays(compile_spec(spec))
    for key in sorted(set(arrays) | set(rebuilt)):
        have, want = arrays.get(key), rebuilt.get(key)
        if have is None or want is None or have.shape != want.shape:
            found = "missing" if have is None else f"shape {list(have.shape)}"
            expected = "no such parameter" if want is None else f"shape {list(want.shape)}"
            layer = key.split(".", 1)[0]
            raise SpecError(
                f"parameter '{key}' ({found}) does not fit the recovered spec ({expected}); "
                f"mixed per-neuron and shared parameters have no spec form",
                path=("layers", spec.layer_names().index(layer))
                if layer in spec.layer_names()
                else (),
            )
