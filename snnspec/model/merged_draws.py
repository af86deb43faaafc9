"""Evaluate a function with its threefry hashes merged: one hash per depth, not one per draw.

A model's initialisation draws every array with its own ``jax.random`` call, and every call
is a threefry hash that XLA's CPU backend compiles as a loop of its own; those loops (and
their counters) were most of the time ``snnspec.compile`` took. Threefry is elementwise:
output ``i`` depends only on the keys and the counters at ``i``. So hashes can be computed as
one, on their inputs laid end to end, and cut apart afterwards, with every bit unchanged.

:func:`merged_draws` traces a function to a jaxpr, inlines its nested ``jit`` calls, writes
each ``random_bits``, ``random_split`` and ``random_fold_in`` of a single threefry key out as
JAX's own implementation (``jax.extend.random.threefry_prng_impl``), and evaluates it with the
``threefry2x32`` hashes of equal depth -- the number of hashes on the longest path to one --
bound as one hash. Counters that are a row-major index (``iota_2x32_shape``) become one index
less each hash's start; scalar keys are looked up by segment. A merged hash holds at most
:data:`MERGE_LIMIT` counters, and a larger hash is bound alone: a merged hash carries its
keys as arrays, which costs run time and memory in proportion to its size, and above the
limit more than a loop of its own costs to compile.

A draw it cannot write out (another PRNG, a batch of keys, a draw inside a loop or a custom
derivative) is evaluated as it was, and a function with side effects (a callback, a print)
as a whole, since merging evaluates operations out of their program order: merging changes
the program, never a value.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend import core as jax_core
from jax.extend.random import threefry2x32_p, threefry_prng_impl

MERGE_LIMIT = 2**20
"""The most counters one merged hash holds; a larger draw is hashed alone. A merged hash
carries its keys as arrays: about 10 words of XLA temporary memory per counter (40 MiB at the
limit, against 6 MiB for the same four draws unmerged) and about 23 ns per counter of run
time on this project's 2-core CPU (the merged program of ``tests/data/dvs_gesture_conv.yaml``
ran in 70 ms against 20 ms unmerged), where a loop of its own costs about 60-80 ms of XLA
compile time. Measured with ``benchmarks/startup.py``: at 2**20 that conv net compiles as
fast as at 2**22 and its program runs in 0.03 s instead of 0.08 s, and an MLP of 46 M
parameters compiles in 0.98 of the unmerged time instead of 1.10."""

_CALLS = frozenset({"jit", "pjit", "closed_call", "core_call"})
"""Call primitives inlined: their ``jaxpr`` parameter is evaluated in place."""

_IMPL = "threefry2x32"


@dataclass(frozen=True, eq=False)
class _Constant:
    value: Any


@dataclass(frozen=True, eq=False)
class _Operation:
    """``outputs = function(*inputs)``; inputs are tokens or :class:`_Constant`."""

    function: Callable[..., Sequence[Any]]
    inputs: tuple[Any, ...]
    outputs: tuple[object, ...]


@dataclass(frozen=True, eq=False)
class _Hash:
    """``outputs = threefry2x32(k1, k2, x1, x2)`` of ``shape``; ``index_counters``: (x1, x2)
    are the row-major index over ``shape`` (its high and low 32 bits)."""

    inputs: tuple[Any, Any, Any, Any]
    outputs: tuple[object, object]
    shape: tuple[int, ...]
    index_counters: bool

    @property
    def size(self) -> int:
        return math.prod(self.shape)


_Node = _Operation | _Hash


@dataclass(frozen=True)
class _Program:
    """The flattened program: its operations in order, and the counters known to be a
    row-major index (low counter's token -> the high and low counters' tokens)."""

    nodes: list[_Node]
    index_counters: dict[object, tuple[object, object]]


def merged_draws(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (of arrays, to a pytree of arrays) evaluated with its hashes merged."""

    @functools.wraps(function)
    def merged(*args: Any) -> Any:
        closed, out_shape = jax.make_jaxpr(function, return_shape=True)(*args)
        if closed.effects:  # merging reorders operations; effects keep their program order
            return function(*args)
        inputs = [object() for _ in closed.jaxpr.invars]
        program = _Program([], {})
        outputs = _inline(closed, inputs, program)
        values: dict[Any, Any] = dict(zip(inputs, jax.tree.leaves(args), strict=True))
        _evaluate(program.nodes, values)
        leaves = [jnp.asarray(_read(values, token)) for token in outputs]  # constants too
        return jax.tree.unflatten(jax.tree.structure(out_shape), leaves)

    return merged


def _inline(closed: Any, inputs: Sequence[Any], program: _Program) -> list[Any]:
    """Append ``closed``'s equations to ``program``, calls inlined and draws written out;
    the tokens of its outputs."""
    jaxpr = closed.jaxpr
    tokens: dict[Any, Any] = dict(zip(jaxpr.invars, inputs, strict=True))
    tokens.update(
        (var, _Constant(value)) for var, value in zip(jaxpr.constvars, closed.consts, strict=True)
    )

    def read(var: Any) -> Any:
        return _Constant(var.val) if isinstance(var, jax_core.Literal) else tokens[var]

    for eqn in jaxpr.eqns:
        ins = [read(var) for var in eqn.invars]
        written_out = _written_out(eqn)
        if eqn.primitive.name in _CALLS and isinstance(
            eqn.params.get("jaxpr"), jax_core.ClosedJaxpr
        ):
            outs = _inline(eqn.params["jaxpr"], ins, program)
        elif written_out is not None:
            outs = _inline(written_out, ins, program)
        elif eqn.primitive is threefry2x32_p:
            outs = [object(), object()]
            shape = tuple(eqn.outvars[0].aval.shape)
            index = program.index_counters.get(ins[3]) == (ins[2], ins[3])
            hash_ = _Hash((ins[0], ins[1], ins[2], ins[3]), (outs[0], outs[1]), shape, index)
            program.nodes.append(hash_)
        else:
            outs = [object() for _ in eqn.outvars]
            operation = _Operation(functools.partial(_bind, eqn), tuple(ins), tuple(outs))
            program.nodes.append(operation)
            if eqn.primitive.name == "iota_2x32_shape" and math.prod(eqn.params["shape"]) < 2**32:
                program.index_counters[outs[1]] = (outs[0], outs[1])
        tokens.update(zip(eqn.outvars, outs, strict=True))
    return [read(var) for var in jaxpr.outvars]


def _bind(eqn: Any, *values: Any) -> Sequence[Any]:
    """``eqn`` applied to ``values``, as ``jax.core.eval_jaxpr`` applies it."""
    with eqn.ctx.manager:
        out = eqn.primitive.bind(*values, **eqn.primitive.get_bind_params(eqn.params))
    return out if eqn.primitive.multiple_results else (out,)


def _written_out(eqn: Any) -> Any:
    """The jaxpr of JAX's threefry implementation of a draw from one key, or None."""
    name = eqn.primitive.name
    if name not in ("random_bits", "random_split", "random_fold_in"):
        return None
    keys = eqn.invars[0].aval
    if keys.shape != () or not _is_threefry(keys.dtype):
        return None
    if name == "random_fold_in":
        data = eqn.invars[1].aval
        return _fold_in_jaxpr(keys.dtype, data.dtype, _modes()) if data.shape == () else None
    return _draw_jaxpr(name, keys.dtype, tuple(sorted(eqn.params.items())), _modes())


def _modes() -> tuple[bool, bool]:
    """JAX's settings that a traced implementation depends on: the threefry mode, 64-bit."""
    partitionable = jax.config.jax_threefry_partitionable  # pyright: ignore[reportAttributeAccessIssue]
    return bool(partitionable), bool(jax.config.read("jax_enable_x64"))


@functools.cache
def _is_threefry(dtype: Any) -> bool:
    return dtype == jax.eval_shape(lambda: jax.random.key(0, impl=_IMPL)).dtype


@functools.cache
def _draw_jaxpr(
    name: str, key_dtype: Any, params: tuple[tuple[str, Any], ...], modes: tuple[bool, bool]
) -> Any:
    """Cached by :func:`_modes` too: JAX's implementation of a draw depends on them."""
    options = dict(params)

    def draw(key: jax.Array) -> jax.Array:
        data = jax.random.key_data(key)
        if name == "random_bits":
            return threefry_prng_impl.random_bits(data, options["bit_width"], options["shape"])
        keys = threefry_prng_impl.split(data, options["shape"])
        return jax.random.wrap_key_data(keys, impl=_IMPL)

    return jax.make_jaxpr(draw)(jax.ShapeDtypeStruct((), key_dtype))


@functools.cache
def _fold_in_jaxpr(key_dtype: Any, data_dtype: Any, modes: tuple[bool, bool]) -> Any:
    def fold_in(key: jax.Array, data: jax.Array) -> jax.Array:
        folded = threefry_prng_impl.fold_in(jax.random.key_data(key), data)
        return jax.random.wrap_key_data(folded, impl=_IMPL)

    key, data = jax.ShapeDtypeStruct((), key_dtype), jax.ShapeDtypeStruct((), data_dtype)
    return jax.make_jaxpr(fold_in)(key, data)


def _read(values: dict[Any, Any], token: Any) -> Any:
    return token.value if isinstance(token, _Constant) else values[token]


def _evaluate(nodes: Sequence[_Node], values: dict[Any, Any]) -> None:
    """Evaluate ``nodes`` into ``values``: depth by depth, the hashes of a depth together."""
    depth_of: dict[object, int] = {}
    depths: list[int] = []
    for node in nodes:
        depth = max((depth_of.get(token, 0) for token in node.inputs), default=0)
        depth += isinstance(node, _Hash)
        depths.append(depth)
        depth_of.update(dict.fromkeys(node.outputs, depth))
    for depth in range(max(depths, default=0) + 1):
        hashes = [
            n for n, d in zip(nodes, depths, strict=True) if d == depth and isinstance(n, _Hash)
        ]
        for group in _groups(hashes):
            _hash(group, values)
        for node, node_depth in zip(nodes, depths, strict=True):
            if node_depth == depth and isinstance(node, _Operation):
                outs = node.function(*(_read(values, token) for token in node.inputs))
                values.update(zip(node.outputs, outs, strict=True))


def _groups(hashes: Sequence[_Hash]) -> list[list[_Hash]]:
    """``hashes`` in groups to bind as one, in order, each of at most :data:`MERGE_LIMIT`
    counters; a larger hash alone."""
    groups: list[list[_Hash]] = []
    merged: list[_Hash] = []
    size = 0
    for h in hashes:
        if h.size > MERGE_LIMIT:
            groups.append([h])
            continue
        if size + h.size > MERGE_LIMIT:
            groups.append(merged)
            merged, size = [], 0
        merged.append(h)
        size += h.size
    return [*groups, merged] if merged else groups


def _hash(hashes: Sequence[_Hash], values: dict[Any, Any]) -> None:
    """Bind ``hashes`` as one threefry2x32 hash over their inputs laid end to end."""
    if len(hashes) == 1:
        (only,) = hashes
        outs = threefry2x32_p.bind(*(_read(values, token) for token in only.inputs))
        values.update(zip(only.outputs, outs, strict=True))
        return
    sizes = [h.size for h in hashes]
    starts = list(itertools.accumulate(sizes[:-1], initial=0))
    position = lax.iota(jnp.int32, sum(sizes))
    segment = sum((position >= start).astype(jnp.int32) for start in starts[1:])

    def one_per_hash(piece: jax.Array) -> jax.Array:
        return jnp.broadcast_to(piece, (len(hashes),))

    def laid_end_to_end(column: int) -> jax.Array:
        pieces = [_read(values, h.inputs[column]) for h in hashes]
        if all(jnp.ndim(piece) == 0 for piece in pieces):
            # a select, not a stack: XLA compiles the n slices feeding a stack of n scalars
            # as n kernels (20: 0.10 s against 0.03 s; 200: 0.77 s against 0.15 s)
            table = lax.select_n(lax.iota(jnp.int32, len(pieces)), *map(one_per_hash, pieces))
            return table[segment]
        wide = [jnp.broadcast_to(p, h.shape).ravel() for p, h in zip(pieces, hashes, strict=True)]
        return lax.concatenate(wide, 0)

    keys = [laid_end_to_end(0), laid_end_to_end(1)]
    if all(h.index_counters for h in hashes):
        low = position.astype(jnp.uint32) - jnp.asarray(starts, jnp.uint32)[segment]
        counters = [jnp.zeros_like(low), low]
    else:
        counters = [laid_end_to_end(2), laid_end_to_end(3)]
    first, second = threefry2x32_p.bind(*keys, *counters)
    for h, start, size in zip(hashes, starts, sizes, strict=True):
        values[h.outputs[0]] = first[start : start + size].reshape(h.shape)
        values[h.outputs[1]] = second[start : start + size].reshape(h.shape)
