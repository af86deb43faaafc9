"""The compiled model: an Equinox module whose forward pass runs the graph over time.

The semantics are step-major: at every step the layers run in index order; layer i combines
its sources (see :mod:`snnspec.graph.plan` for the timing rule), then advances. A neuron advances
its typed state; a stateless layer's state is its last output (what delayed edges read).

How that work is ordered is the model's ``schedule`` (:mod:`snnspec.graph.schedule`): ``stepwise``
scans all layers together; ``layerwise`` runs the strongly connected components of the graph
one after another, applying each stateless layer off a cycle to all steps at once. Both walk
the graph through the same per-layer :meth:`StatefulModel._apply` and per-group
:meth:`StatefulModel._group_step`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple, cast

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree

from .._errors import Hint, InputError
from ..graph.plan import GraphPlan, GraphStructure, Source
from ..graph.schedule import Group, Schedule, make_schedule
from ..nn.neurons import AbstractNeuron
from ..spec.layers.batch_norm import BATCH_AXIS

Inputs = ArrayLike | Sequence[ArrayLike]
LayerKind = Literal["neuron", "equinox", "stateless"]
SourceKey = tuple[str, int, bool]
"""A source as ``(kind, index, delayed)``: what a group reads from outside itself."""


def _key(source: Source) -> SourceKey:
    return (source.kind, source.index, source.delayed)


INIT_STREAM = 2**32 - 1
"""``simulate`` draws sample b's initial state from ``fold_in(fold_in(key, b), INIT_STREAM)``,
a stream no time step uses (step t uses ``fold_in(fold_in(key, b), t)``)."""


class LayerOutput(NamedTuple):
    """State of a stateless layer: its output at the last step."""

    output: Float[Array, " *shape"]


class EquinoxLayerState(NamedTuple):
    """State of an Equinox ``StatefulLayer`` (``batch_norm``, a block holding one)."""

    state: eqx.nn.State
    output: Float[Array, " *shape"]


LayerState = PyTree
"""One layer's state, a PyTree of arrays: its neuron's state (a NamedTuple such as
``LIFState``), a :class:`LayerOutput` or an :class:`EquinoxLayerState`."""
ModelState = tuple[LayerState, ...]
"""The whole model's state, one :data:`LayerState` per layer (what ``init_state`` returns)."""


def uses_equinox_state(layer: Any) -> bool:
    """True for Equinox layers that keep an ``eqx.nn.State`` (``StatefulLayer.is_stateful``)."""
    return isinstance(layer, eqx.nn.StatefulLayer) and layer.is_stateful()


def _call_stateful(
    layer: Any, x: Array, state: eqx.nn.State, key: PRNGKeyArray | None
) -> tuple[Array, eqx.nn.State]:
    """An Equinox stateful layer's ``(output, state)``. Equinox's ``BatchNorm`` (``batch``
    mode) raises its float momentum to an integer counter, which JAX's strict dtype promotion
    rejects: the call runs under standard promotion, so a user with strict promotion can run
    a model holding one."""
    with jax.numpy_dtype_promotion("standard"):
        return layer(x, state, key=key)


class StatefulModel(eqx.Module):
    """A spiking network compiled from a spec.

    ``layers[i]`` is the Equinox module of layer i (``eqx.nn.Linear`` for ``linear``); the
    graph and all shapes are static. Call it on one sample; :func:`snnspec.simulate` jits
    and vmaps it over a batch. ``schedule`` (``auto``, ``stepwise`` or ``layerwise``) orders
    the work without changing the result; ``remat`` trades recomputation for memory in
    backprop (0: off, 1: every step, K: chunks of K steps).
    """

    layers: tuple[Any, ...]
    plan: GraphPlan = eqx.field(static=True)
    dtype: str = eqx.field(static=True)
    schedule: str = eqx.field(static=True, default="auto")
    remat: int = eqx.field(static=True, default=0)

    @property
    def graph_structure(self) -> GraphStructure:
        """The graph in SNNAX's index form."""
        return self.plan.structure

    def with_outputs(self, layers: Sequence[int | str]) -> StatefulModel:
        """The same model returning the outputs of ``layers`` (layer ids or names) instead of
        the final layers; an unknown name is an InputError that suggests a close one."""
        ids = self.plan.layer_ids(layers)
        structure = dataclasses.replace(self.plan.structure, final_layer_ids=ids)
        plan = dataclasses.replace(self.plan, structure=structure)
        return dataclasses.replace(self, plan=plan)

    def init_state(
        self,
        in_shape: Sequence[int] | Sequence[Sequence[int]] | None = None,
        shapes: Sequence[Sequence[int]] | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> ModelState:
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
                output, _ = _call_stateful(eqx.nn.inference_mode(layer), rest, state, None)
                states.append(EquinoxLayerState(state, output))
            else:
                rest = jnp.zeros(self.plan.layer_input_shapes[i], dtype)
                states.append(LayerOutput(eqx.nn.inference_mode(layer)(rest)))
        return tuple(states)

    def __call__(
        self,
        input_states: ModelState,
        input_batch: Inputs,
        key: PRNGKeyArray | None = None,
        burnin: int = 0,
    ) -> tuple[ModelState, list[Array]]:
        """Run one sample over time; return ``(final_states, outputs)``.

        ``input_batch`` is an array ``(T, *shape)`` or a list of them, one per input. Step t
        draws its randomness from ``fold_in(key, t)`` (layer i of it from
        ``fold_in(fold_in(key, t), i)``; only layers that draw randomness get one). The first
        ``burnin`` steps run, their state is
        detached with ``stop_gradient``, and only the last T - burnin steps' outputs are
        returned, one array ``(T - burnin, *shape)`` per final layer. The result does not
        depend on :attr:`schedule` (up to float rounding of reordered sums).
        """
        inputs = self._as_inputs(input_batch)
        steps = inputs[0].shape[0]
        if not 0 <= burnin < steps:
            raise InputError(f"burnin must be in [0, {steps}) for {steps} steps, got {burnin}")
        times = jnp.arange(steps)
        states = tuple(input_states)
        if burnin:
            burn = tuple(x[:burnin] for x in inputs)
            states, _ = self._run(states, burn, times[:burnin], key)
            states = jax.lax.stop_gradient(states)
        rest = tuple(x[burnin:] for x in inputs)
        states, series = self._run(states, rest, times[burnin:], key)
        return states, [series[i] for i in self.plan.final_layer_ids]

    @property
    def execution(self) -> Schedule:
        """The resolved schedule: ``stepwise`` or ``layerwise``, and its groups.

        A stateless layer holding a weight of two or more dimensions (``linear``, ``conv``, a
        block of them) counts as a matrix product for ``auto``'s rule."""
        stateless = tuple(self._kind(i) == "stateless" for i in range(len(self.layers)))
        products = tuple(
            is_stateless
            and any(
                eqx.is_inexact_array(w) and w.ndim >= 2 for w in jax.tree_util.tree_leaves(layer)
            )
            for is_stateless, layer in zip(stateless, self.layers, strict=True)
        )
        return make_schedule(self.plan, stateless, self.schedule, products)

    def with_schedule(self, schedule: str | None = None, remat: int | None = None) -> StatefulModel:
        """The same model (same arrays) with another ``schedule`` and/or ``remat``."""
        return dataclasses.replace(
            self,
            schedule=self.schedule if schedule is None else schedule,
            remat=self.remat if remat is None else remat,
        )

    def step(
        self, states: ModelState, inputs: tuple[Array, ...], key: PRNGKeyArray | None
    ) -> tuple[ModelState, tuple[Array, ...]]:
        """One time step of the whole graph (step-major); ``key`` is the step's key."""
        members = tuple(range(len(self.layers)))
        external = {("input", k, False): x for k, x in enumerate(inputs)}
        random = frozenset() if key is None else self._random_layers()
        keys = self._layer_keys(key, members, random)
        new, outputs = self._group_step(members, dict(enumerate(states)), external, keys)
        return tuple(new[i] for i in members), tuple(outputs[i] for i in self.plan.final_layer_ids)

    # --- the graph walk, written once -------------------------------------------------------

    def _apply(
        self, i: int, state: LayerState, x: Array, key: PRNGKeyArray | None
    ) -> tuple[LayerState, Array]:
        """Layer i at one step on its combined input ``x`` with its own key (None for a layer
        that draws no randomness); ``(new_state, output)``."""
        layer = self.layers[i]
        kind = self._kind(i)
        if kind == "neuron":
            return layer(state, x, key=key)
        if kind == "equinox":
            y, new = _call_stateful(layer, x, state.state, key)
            return EquinoxLayerState(new, y), y
        y = layer(x, key=key)
        return LayerOutput(y), y

    def _random_layers(self) -> frozenset[int]:
        """The layers whose step draws randomness from its key (``dropout`` in training).

        Found, not declared: each layer's step is traced once on abstract values (vmapped over
        a batch of one, so ``batch_norm``'s axis exists) and its outputs checked for a
        dependence on the key. Only these layers get a key derived at each step; every other
        layer's key would be computed and thrown away (XLA removes it, but not from the jaxpr).
        """
        template = jax.eval_shape(lambda: self.init_state(key=jax.random.PRNGKey(0)))
        probe_key = jax.ShapeDtypeStruct((2,), jnp.uint32)
        random = set()
        for i in range(len(self.layers)):
            x = jax.ShapeDtypeStruct((1, *self.plan.layer_input_shapes[i]), jnp.dtype(self.dtype))
            state = jax.tree_util.tree_map(
                lambda a: jax.ShapeDtypeStruct((1, *a.shape), a.dtype), template[i]
            )

            def call(state: LayerState, x: Array, key: Array, i: int = i) -> Any:
                return self._apply(i, state, x, key)

            batched = jax.vmap(call, in_axes=(0, 0, None), axis_name=BATCH_AXIS)
            jaxpr = jax.make_jaxpr(batched)(state, x, probe_key).jaxpr
            if _depends_on_input(jaxpr, len(jaxpr.invars) - 1):  # the key is the last input
                random.add(i)
        return frozenset(random)

    @staticmethod
    def _layer_keys(
        key: PRNGKeyArray | None, members: tuple[int, ...], random: frozenset[int]
    ) -> dict[int, PRNGKeyArray]:
        """Layer i's key at a step whose key is ``key``: ``fold_in(key, i)``, derived only for
        the ``random`` members."""
        if key is None:
            return {}
        return {i: jax.random.fold_in(key, i) for i in members if i in random}

    def _group_step(
        self,
        members: tuple[int, ...],
        states: dict[int, LayerState],
        external: dict[SourceKey, Array],
        keys: dict[int, PRNGKeyArray],
    ) -> tuple[dict[int, LayerState], dict[int, Array]]:
        """One step of a group of layers, in index order; ``keys`` holds the step's key of
        each member that draws randomness.

        A source inside the group is read from this step's outputs, or from its state at the
        start of the step when the edge is delayed; any other source is in ``external``.
        """
        inside = set(members)
        new_states: dict[int, LayerState] = {}
        outputs: dict[int, Array] = {}
        for i in members:
            values = [
                external[_key(s)]
                if s.kind == "input" or s.index not in inside
                else self._output(s.index, states[s.index])
                if s.delayed
                else outputs[s.index]
                for s in self.plan.sources[i]
            ]
            x = self._combine(i, values)
            new_states[i], outputs[i] = self._apply(i, states.get(i), x, keys.get(i))
        return new_states, outputs

    def _run(
        self,
        states: ModelState,
        inputs: tuple[Array, ...],
        times: Array,
        key: PRNGKeyArray | None,
    ) -> tuple[ModelState, dict[int, Array]]:
        """Run a window of steps group by group; final states and the emitted output series."""

        random = self._random_layers() if key is not None else frozenset()

        def step_keys(t: Array, members: tuple[int, ...]) -> dict[int, PRNGKeyArray]:
            if key is None or not random.intersection(members):
                return {}
            return self._layer_keys(jax.random.fold_in(key, t), members, random)

        new_states = list(states)
        series: dict[int, Array] = {}
        for group in self.execution.groups:
            members = group.members
            needed = sorted(
                {
                    _key(s)
                    for i in members
                    for s in self.plan.sources[i]
                    if s.kind == "input" or s.index not in members
                }
            )
            external = {k: self._series(k, states, inputs, series) for k in needed}
            if group.vectorized:
                (i,) = members
                y = self._apply_series(i, external, times, step_keys)
                new_states[i] = LayerOutput(y[-1])
                series[i] = y
                continue
            hoisted = self._hoisted(members)

            def body(
                carry: dict[int, LayerState],
                xs: tuple[dict[SourceKey, Array], Array],
                group: Group = group,
                hoisted: StatefulModel = hoisted,
            ) -> tuple[dict[int, LayerState], dict[int, Array]]:
                values, t = xs
                carry, outputs = hoisted._group_step(
                    group.members, carry, values, step_keys(t, group.members)
                )
                return carry, {i: outputs[i] for i in group.emits}

            carry = {i: states[i] for i in members}
            carry, emitted = self._scan(body, carry, (external, times))
            for i in members:
                new_states[i] = carry[i]
            series.update(emitted)
        return tuple(new_states), series

    def _hoisted(self, members: tuple[int, ...]) -> StatefulModel:
        """This model with the neurons among ``members`` in their
        :meth:`~snnspec.nn.neurons.AbstractNeuron.hoisted` form: their per-step parameter
        transforms (``stop_gradient``, clamps) computed here, once, before a scan, instead of
        in its body at every step."""
        layers = tuple(
            layer.hoisted() if i in members and isinstance(layer, AbstractNeuron) else layer
            for i, layer in enumerate(self.layers)
        )
        return dataclasses.replace(self, layers=layers)

    def _apply_series(
        self,
        i: int,
        external: dict[SourceKey, Array],
        times: Array,
        step_keys: Any,
    ) -> Array:
        """Stateless layer i at every step of the window at once (vmap over time).

        A ``linear`` is applied as ``x @ W.T + b`` on the whole series: the same products as
        ``W @ x`` per step, laid out so that the batch and time axes lead and XLA runs one
        (B*T, N) x (N, M) GEMM without transposing the series. ``step_keys(t, members)`` gives
        the layer keys of step t.
        """
        layer = self.layers[i]
        if type(layer) is eqx.nn.Linear and isinstance(layer.in_features, int):
            values = [external[_key(s)] for s in self.plan.sources[i]]
            x = jax.vmap(lambda *v: self._combine(i, list(v)))(*values)
            y = x @ layer.weight.T
            return y if layer.bias is None else y + layer.bias

        def one(values: dict[SourceKey, Array], t: Array) -> Array:
            return self._group_step((i,), {}, values, step_keys(t, (i,)))[1][i]

        return jax.vmap(one)(external, times)

    def _series(
        self,
        key: SourceKey,
        states: ModelState,
        inputs: tuple[Array, ...],
        series: dict[int, Array],
    ) -> Array:
        """A source over the window: an input, a layer's outputs, or them one step late
        (the layer's output in ``states``, the window's start, comes first)."""
        kind, index, delayed = key
        if kind == "input":
            return inputs[index]
        if not delayed:
            return series[index]
        first = self._output(index, states[index])[None]
        return jnp.concatenate([first, series[index][:-1]], axis=0)

    def _scan(self, body: Any, carry: Any, xs: Any) -> tuple[Any, Any]:
        """``lax.scan`` with the model's ``remat``: 0 stores every step for backprop; 1
        recomputes each step's body; K > 1 checkpoints chunks of K steps (nested scan), so
        backprop keeps about T/K carries plus one chunk's intermediates."""
        if self.remat == 0:
            return jax.lax.scan(body, carry, xs)
        steps = jax.tree_util.tree_leaves(xs)[0].shape[0]
        chunk = self.remat
        if chunk == 1 or steps <= chunk:
            return jax.lax.scan(jax.checkpoint(body), carry, xs)
        count = steps // chunk
        split = count * chunk
        head = jax.tree_util.tree_map(lambda a: a[:split].reshape(count, chunk, *a.shape[1:]), xs)

        @jax.checkpoint
        def run_chunk(c: Any, x: Any) -> tuple[Any, Any]:
            return jax.lax.scan(body, c, x)

        carry, ys = jax.lax.scan(run_chunk, carry, head)
        ys = jax.tree_util.tree_map(lambda a: a.reshape(split, *a.shape[2:]), ys)
        if split == steps:
            return carry, ys
        tail = jax.tree_util.tree_map(lambda a: a[split:], xs)
        carry, tail_ys = jax.lax.scan(jax.checkpoint(body), carry, tail)
        return carry, jax.tree_util.tree_map(
            lambda a, b: jnp.concatenate([a, b], axis=0), ys, tail_ys
        )

    def _kind(self, i: int) -> LayerKind:
        layer = self.layers[i]
        if isinstance(layer, AbstractNeuron):
            return "neuron"
        return "equinox" if uses_equinox_state(layer) else "stateless"

    def _output(self, i: int, state: LayerState) -> Array:
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
            cast(tuple[Array, ...], tuple(input_batch))
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


def _depends_on_input(jaxpr: Any, index: int) -> bool:
    """Whether any output of ``jaxpr`` depends on its input ``index`` (conservatively: an
    equation with a dependent input makes all its outputs dependent)."""
    from jax.extend.core import Var

    dependent = {jaxpr.invars[index]}
    for eqn in jaxpr.eqns:
        if any(isinstance(v, Var) and v in dependent for v in eqn.invars):
            dependent.update(eqn.outvars)
    return any(isinstance(v, Var) and v in dependent for v in jaxpr.outvars)


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
    model: StatefulModel,
    inputs: tuple[Array, ...],
    key: PRNGKeyArray | None,
    burnin: int,
    indices: Array | None = None,
) -> list[Array]:
    """:func:`simulate` without the jit: vmap of the single-sample call from rest.

    Sample b draws from ``fold_in(key, indices[b])`` (default ``indices = arange(B)``): a
    part of a batch given its samples' places in the whole batch draws what they would."""
    sizes = {x.shape[0] for x in inputs}
    if len(sizes) != 1:
        raise InputError(f"all inputs need the same batch size, got {sorted(sizes)}")
    batch_size = sizes.pop()

    def one(sample: tuple[Array, ...], index: Array) -> list[Array]:
        sample_key = None if key is None else jax.random.fold_in(key, index)
        init_key = None if sample_key is None else jax.random.fold_in(sample_key, INIT_STREAM)
        _, outputs = model(model.init_state(key=init_key), list(sample), sample_key, burnin)
        return outputs

    if indices is None:
        indices = jnp.arange(batch_size)
    return jax.vmap(one, axis_name=BATCH_AXIS)(inputs, indices)


_jitted_simulate_batch = eqx.filter_jit(simulate_batch)


# --- data parallelism ---------------------------------------------------------------------------

DATA_AXIS = "data"
"""Name of the mesh axis the batch is sharded over."""


_DEVICES = Hint(options=("devices",))


def data_mesh(devices: str | int | None, batch_size: int) -> jax.sharding.Mesh | None:
    """A 1-D ``jax.sharding.Mesh`` over ``devices`` (a count, or ``"all"``) for a batch.

    None when ``devices`` is None. The batch must divide evenly over the devices (each device
    runs ``batch_size / N`` samples; parameters are replicated); anything else is an
    InputError. The devices are :func:`device_mesh`'s.
    """
    mesh = device_mesh(devices)
    if mesh is not None and batch_size % mesh.size:
        count = mesh.size
        raise InputError(
            f"batch size {batch_size} does not divide over {count} devices; use a batch that "
            f"is a multiple of {count} or fewer devices"
        )
    return mesh


def device_mesh(devices: str | int | None) -> jax.sharding.Mesh | None:
    """A 1-D ``jax.sharding.Mesh`` over ``devices`` (a count, or ``"all"``); None for None.

    Asking for more devices than there are is an InputError. With several processes
    (``jax.distributed``) every process contributes ``N / process_count`` of its own devices,
    in process order, so N must divide over the processes: a process without a device in
    the mesh could not take part in the computation.
    """
    if devices is None:
        return None
    available = jax.devices()
    if devices == "all":
        count = len(available)
    else:
        try:
            count = int(devices)
        except ValueError:
            raise InputError(
                f"`devices={devices!r}`: expected a number or 'all'", hint=_DEVICES
            ) from None
        if not 1 <= count <= len(available):
            raise InputError(
                f"`devices={count}`: there are {len(available)} {jax.default_backend()} "
                "device(s) (set XLA_FLAGS=--xla_force_host_platform_device_count=N for N "
                "CPU devices)",
                hint=_DEVICES,
            )
    import numpy as np

    processes = jax.process_count()
    if processes == 1:
        return jax.sharding.Mesh(np.asarray(available[:count]), (DATA_AXIS,))
    if count % processes:
        raise InputError(
            f"`devices={count}` does not divide over {processes} processes; every process "
            "needs the same number of devices in the mesh",
            hint=_DEVICES,
        )
    share = count // processes
    chosen = []
    for process in range(processes):
        local = [device for device in available if device.process_index == process]
        if len(local) < share:
            raise InputError(
                f"`devices={count}`: process {process} has {len(local)} device(s), {share} needed",
                hint=_DEVICES,
            )
        chosen += local[:share]
    return jax.sharding.Mesh(np.asarray(chosen), (DATA_AXIS,))


def place(tree: PyTree, mesh: jax.sharding.Mesh, *, batch: bool) -> PyTree:
    """Every array of ``tree`` as a global array on ``mesh``: sharded along its leading (batch)
    axis when ``batch``, else replicated. Works across processes (each holds the whole value)."""
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec

    sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS) if batch else PartitionSpec())

    def one(x: Any) -> Any:
        if not eqx.is_array(x):
            return x
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree_util.tree_map(one, tree)


def to_host(x: Array) -> Any:
    """A (possibly sharded, possibly multi-process) array as one NumPy array on this process."""
    import numpy as np

    if jax.process_count() > 1 and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
