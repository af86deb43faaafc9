"""The single table of layer and surrogate types.

The schema's layer union, the docs' layer table and the parametrised tests are all
built from these two dictionaries: a new layer is one class in :mod:`snnspec.layers` plus one
entry here.
"""

from __future__ import annotations

from typing import TypeVar

from .layers.base import LayerSpec
from .layers.dense import LinearSpec
from .layers.elementwise import DropoutSpec, IdentitySpec, LambdaSpec
from .layers.neurons import LIFSoftResetSpec, LIFSpec, SimpleLIFSpec, SimpleLISpec
from .layers.reshaping import FlattenSpec
from .layers.surrogates import SURROGATE_TYPES as SURROGATE_TYPES

T = TypeVar("T", bound=type)


def _by_type_name(*classes: T) -> dict[str, T]:
    return {cls.model_fields["type"].default: cls for cls in classes}  # type: ignore[attr-defined]


LAYER_TYPES: dict[str, type[LayerSpec]] = _by_type_name(
    LinearSpec,
    FlattenSpec,
    IdentitySpec,
    LambdaSpec,
    DropoutSpec,
    SimpleLIFSpec,
    LIFSpec,
    LIFSoftResetSpec,
    SimpleLISpec,
)
