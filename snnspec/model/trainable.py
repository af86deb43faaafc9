"""Which arrays of a model receive gradients.

Neurons freeze the parameters not listed in their ``trainable`` (``scale`` freezes its
factor when ``trainable: false``) with ``stop_gradient``, so those get exactly zero
gradients. An optimiser with weight decay would still move them: partition them out with
``eqx.partition(model, snnspec.trainable_filter(model))`` and optimise only the first part.
"""

from __future__ import annotations

from typing import Any


def trainable_filter(model: Any) -> Any:
    """A PyTree of bools shaped like ``model``: True for every array that is trained.

    False for non-arrays, integer arrays, frozen parameters and Equinox state
    (``eqx.nn.StateIndex`` initial values such as ``batch_norm``'s running statistics).
    """
    import equinox as eqx
    import jax

    from .params import is_state, node_at

    def trained(path: tuple[Any, ...], leaf: Any) -> bool:
        if not eqx.is_inexact_array(leaf):
            return False
        node = model
        for element in path:
            rule = getattr(node, "trainable", True) if isinstance(node, eqx.Module) else True
            if isinstance(element, jax.tree_util.GetAttrKey) and (
                rule is False or (isinstance(rule, tuple) and element.name not in rule)
            ):
                return False
            node = node_at(node, (element,))
        return True

    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: not is_state(leaf) and trained(path, leaf),
        model,
        is_leaf=is_state,
    )
