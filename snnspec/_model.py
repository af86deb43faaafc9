"""The compiled model: an Equinox module whose forward pass scans over time.

At every step the layers run in index order; layer i combines its sources (see
:mod:`snnspec._graph` for the timing rule), then advances. A neuron advances its typed
state; a stateless layer's state is its last output (what delayed edges read).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._errors import InputError
from ._graph import GraphPlan, GraphStructure
from .layers.batch_norm import BATCH_AXIS
from .nn.neurons import AbstractNeuron

Inputs = ArrayLike | Sequence[ArrayLike]


INIT_STREAM = 2**32 - 1
"""``simulate`` draws sample b's initial state from ``fold_in(fold_in(key, b), INIT_STREAM)``,
a stream no time step uses (step t uses ``fold_in(fold_in(key, b), t)``)."""


class LayerOutput(NamedTuple):
    """State of a stateless layer: its output at the last step."""

    output: Float[Array, "..."]


class EquinoxLayerState(NamedTuple):
    """State of an Equinox ``StatefulLayer`` (``batch_norm``, a block holding one)."""

    state: eqx.nn.State
    output: Float[Array, "..."]


def uses_equinox_state(layer: Any) -> bool:
    """True for Equinox layers that keep an ``eqx.nn.State`` (``StatefulLayer.is_stateful``)."""
    return isinstance(layer, eqx.nn.StatefulLayer) and layer.is_stateful()


class StatefulModel(eqx.Module):
    """A spiking network compiled from a spec.

    ``layers[i]`` is the Equinox module of layer i (``eqx.nn.Linear`` for ``linear``); the
    graph and all shapes are static. Call it on one sample; :func:`snnspec.simulate` jits
    and vmaps it over a batch.
    """

    layers: tuple[Any, ...]
    plan: GraphPlan = eqx.field(static=True)
    dtype: str = eqx.field(static=True)

    @property
    def graph_structure(self) -> GraphStructure:
        """The graph in SNNAX's index form."""
        return self.plan.structure

    def with_outputs(self, layer_ids: Sequence[int]) -> StatefulModel:
        """The same model returning the outputs of ``layer_ids`` instead of the final layers."""
        structure = dataclasses.replace(self.plan.structure, final_layer_ids=tuple(layer_ids))
        plan = dataclasses.replace(self.plan, structure=structure)
        return StatefulModel(self.layers, plan, self.dtype)

    def init_state(
        self,
        in_shape: Sequence[int] | Sequence[Sequence[int]] | None = None,
        shapes: Sequence[Sequence[int]] | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Any, ...]:
        """The state before the first step, one typed entry per layer.

        ``in_shape`` (one input's shape, or a list per input) and ``shapes`` (per-layer output
        shapes) follow SNNAX's signature; the model knows both, so they are only checked.
        Neurons start from their ``init`` (zeros by default; a random ``init`` draws from
        ``fold_in(key, i)`` for layer i); a stateless layer shows its response to a zero input; an
        Equinox stateful layer (``batch_norm``) starts from its ``eqx.nn.State``.
        """
        self._check_shapes(in_shape, shapes)
        dtype = jnp.dtype(self.dtype)
        states = []
        for i, layer in enumerate(self.layers):
            if isinstance(layer, AbstractNeuron):
                layer_key = None if key is None else jax.random.fold_in(key, i)
                shape = self.plan.layer_output_shapes[i]
                states.append(layer.init_state(shape, dtype, key=layer_key))
            elif uses_equinox_state(layer):
                state = eqx.nn.State(layer)
                rest = jnp.zeros(self.plan.layer_input_shapes[i], dtype)
                output, _ = eqx.nn.inference_mode(layer)(rest, state)
                states.append(EquinoxLayerState(state, output))
            else:
                rest = jnp.zeros(self.plan.layer_input_shapes[i], dtype)
                states.append(LayerOutput(eqx.nn.inference_mode(layer)(rest)))
        return tuple(states)

    def __call__(
        self,
        input_states: tuple[Any, ...],
        input_batch: Inputs,
        key: PRNGKeyArray | None = None,
        burnin: int = 0,
    ) -> tuple[tuple[Any, ...], list[Array]]:
        """Run one sample over time; return ``(final_states, outputs)``.

        ``input_batch`` is an array ``(T, *shape)`` or a list of them, one per input. Step t
        draws its randomness from ``fold_in(key, t)``. The first ``burnin`` steps run, their
        state is detached with ``stop_gradient``, and only the last T - burnin steps'
        outputs are returned, one array ``(T - burnin, *shape)`` per final layer.
        """
        inputs = self._as_inputs(input_batch)
        steps = inputs[0].shape[0]
        if not 0 <= burnin < steps:
            raise InputError(f"burnin must be in [0, {steps}) for {steps} steps, got {burnin}")
        times = jnp.arange(steps)

        def run(states: tuple[Any, ...], t: Array, x: tuple[Array, ...]) -> Any:
            step_key = None if key is None else jax.random.fold_in(key, t)
            return self.step(states, x, step_key)

        states = input_states
        if burnin:
            burn = (times[:burnin], tuple(x[:burnin] for x in inputs))
            states, _ = jax.lax.scan(lambda s, tx: (run(s, *tx)[0], None), states, burn)
            states = jax.lax.stop_gradient(states)
        rest = (times[burnin:], tuple(x[burnin:] for x in inputs))
        states, outputs = jax.lax.scan(lambda s, tx: run(s, *tx), states, rest)
        return states, list(outputs)

    def step(
        self, states: tuple[Any, ...], inputs: tuple[Array, ...], key: PRNGKeyArray | None
    ) -> tuple[tuple[Any, ...], tuple[Array, ...]]:
        """One time step of the whole graph: the graph walk, written once."""
        new_states = list(states)
        outputs: list[Array] = []
        for i, layer in enumerate(self.layers):
            values = [
                inputs[s.index]
                if s.kind == "input"
                else self._output(s.index, states[s.index])
                if s.delayed
                else outputs[s.index]
                for s in self.plan.sources[i]
            ]
            x = self._combine(i, values)
            layer_key = None if key is None else jax.random.fold_in(key, i)
            if isinstance(layer, AbstractNeuron):
                new_states[i], y = layer(states[i], x, key=layer_key)
            elif isinstance(states[i], EquinoxLayerState):
                y, state = layer(x, states[i].state, key=layer_key)
                new_states[i] = EquinoxLayerState(state, y)
            else:
                y = layer(x, key=layer_key)
                new_states[i] = LayerOutput(y)
            outputs.append(y)
        return tuple(new_states), tuple(outputs[i] for i in self.plan.final_layer_ids)

    def _output(self, i: int, state: Any) -> Array:
        layer = self.layers[i]
        return layer.output(state) if isinstance(layer, AbstractNeuron) else state.output

    def _combine(self, i: int, values: list[Array]) -> Array:
        if len(values) == 1:
            return values[0]
        if self.plan.combine[i] == "sum":
            return sum(values[1:], values[0])
        return jnp.concatenate(values, axis=0)

    def _as_inputs(self, input_batch: Inputs) -> tuple[Array, ...]:
        arrays: tuple[Array, ...] = (
            tuple(input_batch)
            if isinstance(input_batch, list | tuple)
            else (cast(Array, input_batch),)
        )
        names = self.plan.input_names
        if len(arrays) != len(names):
            raise InputError(
                f"expected {len(names)} input array(s) ({', '.join(names)}), got {len(arrays)}"
            )
        steps = None
        for name, shape, x in zip(names, self.plan.input_shapes, arrays, strict=True):
            if tuple(x.shape[1:]) != shape or x.ndim != len(shape) + 1:
                raise InputError(
                    f"input '{name}' must have shape (T, {', '.join(map(str, shape))}) for one "
                    f"sample, got {tuple(x.shape)}"
                )
            if steps is not None and x.shape[0] != steps:
                raise InputError(
                    f"all inputs need the same number of steps; '{name}' has {x.shape[0]}"
                )
            steps = x.shape[0]
        if steps == 0:
            raise InputError("the input has no time steps")
        return tuple(jnp.asarray(x, self.dtype) for x in arrays)

    def _check_shapes(self, in_shape: Any, shapes: Any) -> None:
        if in_shape is not None:
            given = [in_shape] if all(isinstance(d, int) for d in in_shape) else list(in_shape)
            if [tuple(s) for s in given] != list(self.plan.input_shapes):
                raise InputError(
                    f"in_shape {given} does not match the spec's input shapes "
                    f"{[list(s) for s in self.plan.input_shapes]}"
                )
        if shapes is not None and [tuple(s) for s in shapes] != list(self.plan.layer_output_shapes):
            raise InputError(
                f"shapes {list(shapes)} do not match the inferred layer shapes "
                f"{[list(s) for s in self.plan.layer_output_shapes]}"
            )


def simulate(
    model: StatefulModel,
    inputs: Inputs,
    *,
    key: PRNGKeyArray | None = None,
    burnin: int = 0,
) -> list[Array]:
    """Run a batch: ``inputs`` is ``(B, T, *shape)`` or a list per input; jitted and vmapped.

    Sample b uses ``fold_in(key, b)``; returns one ``(B, T - burnin, *shape)`` array per final
    layer. The batch axis is named ``"batch"`` (what ``batch_norm`` reduces over).
    """
    batch = (inputs,) if not isinstance(inputs, list | tuple) else tuple(inputs)
    return _jitted_simulate_batch(model, tuple(jnp.asarray(x) for x in batch), key, burnin)


def simulate_batch(
    model: StatefulModel, inputs: tuple[Array, ...], key: PRNGKeyArray | None, burnin: int
) -> list[Array]:
    """:func:`simulate` without the jit: vmap of the single-sample call from rest."""
    sizes = {x.shape[0] for x in inputs}
    if len(sizes) != 1:
        raise InputError(f"all inputs need the same batch size, got {sorted(sizes)}")
    batch_size = sizes.pop()

    def one(sample: tuple[Array, ...], index: Array) -> list[Array]:
        sample_key = None if key is None else jax.random.fold_in(key, index)
        init_key = None if sample_key is None else jax.random.fold_in(sample_key, INIT_STREAM)
        _, outputs = model(model.init_state(key=init_key), list(sample), sample_key, burnin)
        return outputs

    return jax.vmap(one, axis_name=BATCH_AXIS)(inputs, jnp.arange(batch_size))


_jitted_simulate_batch = eqx.filter_jit(simulate_batch)
