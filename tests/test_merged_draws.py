"""Merged threefry hashes (snnspec.model.merged_draws): the same bits, fewer hashes.

The reference is the function itself under ``jax.jit``: every output of the merged program
must equal it bit for bit (integer hashes and the same float transforms, so the tolerance is
zero), and the merged program must hold one ``threefry2x32`` per depth of draws.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import primitives_of

from snnspec.model import merged_draws as merged_module
from snnspec.model.merged_draws import merged_draws

pytestmark = pytest.mark.usefixtures("x64")


def many_draws(root: jax.Array) -> dict[str, Any]:
    """Draws of every kind at three depths (fold_in -> split -> bits), in several shapes."""
    keys = [jax.random.split(jax.random.fold_in(root, i), 3) for i in range(4)]
    return {
        "uniform": jax.random.uniform(keys[0][0], (7, 5), jnp.float32, -0.3, 0.3),
        "normal": jax.random.normal(keys[0][1], (3, 4, 2), jnp.float64),
        "truncated": jax.random.truncated_normal(keys[1][0], -2.0, 2.0, (11,), jnp.float32),
        "bits8": jax.random.bits(keys[1][1], (9,), jnp.uint8),
        "bits16": jax.random.bits(keys[1][2], (2, 3), jnp.uint16),
        "bits64": jax.random.bits(keys[2][0], (5,), jnp.uint64),
        "half": jax.random.uniform(keys[2][1], (4,), jnp.float16),
        "randint": jax.random.randint(keys[2][2], (6,), 0, 10),
        "permutation": jax.random.permutation(keys[3][0], 8),
        "orthogonal": jax.nn.initializers.orthogonal()(keys[3][1], (4, 6), jnp.float32),
        "scalar": jax.random.uniform(keys[3][2]),
        "folded_twice": jax.random.key_data(jax.random.fold_in(keys[0][2], 7)),
        "constant": jnp.float32(0.5),
    }


def batched_keys(root: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Draws from a batch of keys, inside a loop and under a custom derivative: left as
    they are, not written out."""
    keys = jax.random.split(root, 4)
    batched = jax.vmap(lambda key: jax.random.normal(key, (3,)))(keys)
    _, looped = jax.lax.scan(lambda _, key: (None, jax.random.uniform(key, (2,))), None, keys)
    rectified = jax.nn.relu(jax.random.normal(keys[0], (5,)))  # relu is a custom_jvp
    return batched, looped, rectified


HASHES = frozenset({"threefry2x32", "random_bits", "random_split", "random_fold_in"})
"""The primitives that are one threefry hash each (a draw from one key is one hash)."""


def hashes_in(function: Callable[..., Any], *args: Any) -> int:
    """How many threefry hashes the program of ``function`` binds (nested calls too)."""
    names = primitives_of(jax.make_jaxpr(function)(*args).jaxpr)
    return sum(name in HASHES for name in names)


def assert_bitwise_equal(actual: Any, expected: Any) -> None:
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for got, want in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        assert (got.dtype, got.shape) == (want.dtype, want.shape)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("partitionable", [True, False], ids=["partitionable", "original"])
def test_merged_draws_give_every_bit_of_the_unmerged_program(partitionable: bool) -> None:
    root = jax.random.PRNGKey(20261130)
    with jax.threefry_partitionable(partitionable):
        expected = jax.jit(many_draws)(root)
        actual = jax.jit(merged_draws(many_draws))(root)
    assert_bitwise_equal(actual, expected)


def test_the_hashes_of_one_depth_are_bound_as_one() -> None:
    root = jax.random.PRNGKey(0)
    with jax.threefry_partitionable(True):
        # fold_in, split, then bits; permutation splits its key once more before its bits,
        # so four depths, and four hashes in all against one per draw unmerged
        assert hashes_in(merged_draws(many_draws), root) == 4
        assert hashes_in(many_draws, root) > 20


def test_the_counters_of_draws_and_splits_are_known_as_the_row_major_index() -> None:
    """So a merged hash takes one index for them. Every other hash here is of one counter:
    fold_in's (its data) and the scalar draw's."""
    root = jax.random.PRNGKey(0)
    with jax.threefry_partitionable(True):
        program = merged_module._Program([], {})
        merged_module._inline(jax.make_jaxpr(many_draws)(root), [object()], program)
    hashes = [node for node in program.nodes if isinstance(node, merged_module._Hash)]
    assert len(hashes) == 23
    assert all(h.index_counters == (h.size > 1) for h in hashes)


def test_merged_hashes_hold_at_most_the_merge_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    def draws(root: jax.Array) -> list[jax.Array]:
        keys = jax.random.split(root, 4)
        return [jax.random.bits(keys[i], (size,)) for i, size in enumerate([10, 10, 10, 40])]

    root = jax.random.PRNGKey(3)
    expected = jax.jit(draws)(root)
    monkeypatch.setattr(merged_module, "MERGE_LIMIT", 20)
    # the split, then the bits in three hashes: (10, 10), (10) and the 40 alone
    assert hashes_in(merged_draws(draws), root) == 1 + 3
    assert_bitwise_equal(jax.jit(merged_draws(draws))(root), expected)
    assert_bitwise_equal(jax.jit(merged_draws(many_draws))(root), jax.jit(many_draws)(root))


def test_draws_it_cannot_write_out_are_evaluated_as_they_are() -> None:
    root = jax.random.PRNGKey(5)
    assert_bitwise_equal(jax.jit(merged_draws(batched_keys))(root), jax.jit(batched_keys)(root))


def test_a_function_with_side_effects_is_evaluated_in_its_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def draw_and_print(root: jax.Array) -> jax.Array:
        first = jax.random.normal(jax.random.fold_in(root, 1), (2,))
        jax.debug.print("first {}", 1, ordered=True)
        second = jax.random.normal(jax.random.split(jax.random.fold_in(root, 2))[0], (2,))
        jax.debug.print("second {}", 2, ordered=True)
        return first + second

    root = jax.random.PRNGKey(1)
    assert hashes_in(merged_draws(draw_and_print), root) == hashes_in(draw_and_print, root)
    got = jax.block_until_ready(jax.jit(merged_draws(draw_and_print))(root))
    assert capsys.readouterr().out.splitlines()[-2:] == ["first 1", "second 2"]
    assert_bitwise_equal(got, jax.jit(draw_and_print)(root))


def test_typed_keys_and_other_arguments_pass_through() -> None:
    def draw(key: jax.Array, scale: jax.Array) -> jax.Array:
        return scale * jax.random.normal(jax.random.split(key)[1], (3, 3), jnp.float32)

    key, scale = jax.random.key(9), jnp.float32(2.0)
    assert_bitwise_equal(jax.jit(merged_draws(draw))(key, scale), jax.jit(draw)(key, scale))
