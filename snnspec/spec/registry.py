"""The single table of layer and surrogate types.

The schema's layer union, the docs' layer table, the parametrised tests and the interop
tables are all built from these two dictionaries: a new layer is one spec class in
:mod:`snnspec.spec.layers` (naming its runtime class in ``runtime``), one runtime class in
:mod:`snnspec.nn` and one entry here (see CONTRIBUTING.md, "Adding a layer type").
``from_equinox`` reads a module as the types whose ``runtime`` names its class; NIR export
and ``from_equinox`` refuse, by name, a registered type they have no converter for.
"""

from __future__ import annotations

from typing import TypeVar

from .layers.base import LayerSpec
from .layers.batch_norm import BatchNormSpec
from .layers.composite import ParallelSpec, ResidualSpec
from .layers.continuous import (
    NIRCubaLIFSpec,
    NIRCubaLISpec,
    NIRDelaySpec,
    NIRIFSpec,
    NIRISpec,
    NIRLIFSpec,
    NIRLISpec,
    NIRThresholdSpec,
)
from .layers.conv import Conv1dSpec, Conv2dSpec, Conv3dSpec
from .layers.dense import LinearSpec
from .layers.elementwise import DropoutSpec, IdentitySpec, LambdaSpec, ScaleSpec
from .layers.neurons import (
    AdaptiveLIFSpec,
    IAFSpec,
    LIFSoftResetSpec,
    LIFSpec,
    LSNNSpec,
    SigmaDeltaSpec,
    SimpleIAFSpec,
    SimpleLIFSpec,
    SimpleLISpec,
    SpikeCounterSpec,
    SpikingMaxPool2dSpec,
    SRMSpec,
)
from .layers.normalization import GroupNormSpec, LayerNormSpec
from .layers.pooling import (
    AvgPool1dSpec,
    AvgPool2dSpec,
    MaxPool1dSpec,
    MaxPool2dSpec,
    SumPool2dSpec,
)
from .layers.reshaping import FlattenSpec, ReshapeSpec
from .layers.sequential import SequentialSpec
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
    ScaleSpec,
    ReshapeSpec,
    Conv1dSpec,
    Conv2dSpec,
    Conv3dSpec,
    MaxPool1dSpec,
    MaxPool2dSpec,
    AvgPool1dSpec,
    AvgPool2dSpec,
    SumPool2dSpec,
    LayerNormSpec,
    GroupNormSpec,
    SimpleLIFSpec,
    LIFSpec,
    LIFSoftResetSpec,
    SimpleLISpec,
    AdaptiveLIFSpec,
    IAFSpec,
    SimpleIAFSpec,
    SigmaDeltaSpec,
    SRMSpec,
    LSNNSpec,
    SpikingMaxPool2dSpec,
    SpikeCounterSpec,
    BatchNormSpec,
    SequentialSpec,
    ResidualSpec,
    ParallelSpec,
    NIRLISpec,
    NIRLIFSpec,
    NIRCubaLISpec,
    NIRCubaLIFSpec,
    NIRIFSpec,
    NIRISpec,
    NIRThresholdSpec,
    NIRDelaySpec,
)

LAYER_TYPE_ALIASES: dict[str, str] = {
    # snnTorch (snn.Leaky, snn.RLeaky, snn.Lapicque: first order; snn.Synaptic, snn.RSynaptic:
    # second order with a synaptic current). The recurrent variants' own weights are a separate
    # `linear` layer read back with a delay.
    "leaky": "simple_lif",
    "rleaky": "simple_lif",
    "lapicque": "simple_lif",
    "synaptic": "lif",
    "rsynaptic": "lif",
    # Norse (norse.torch.LIFBoxCell, LICell, LSNNCell, LIFAdExCell; "Cell" and "Recurrent"
    # dropped; Norse's LIFCell and IAFCell are `lif` and `iaf` already).
    "lifbox": "simple_lif",
    "li": "simple_li",
    "lifadex": "adaptive_lif",
    # Common names in papers and other frameworks (ALIF: Bellec's adaptive threshold, Spyx's).
    "adlif": "adaptive_lif",
    "alif": "lsnn",
    "adaptive": "adaptive_lif",
    "adex": "adaptive_lif",
    "cubalif": "nir_cuba_lif",
    "cubali": "nir_cuba_li",
    "dense": "linear",
    "fc": "linear",
}
"""Other frameworks' names for a layer type, keyed lower-case without ``_``/``-``.

Used only for the did-you-mean hint of an unknown ``type``; never accepted as a type.
"""


def suggested_layer_type(name: str) -> str | None:
    """The registered type another framework calls `name` (``Leaky`` -> ``simple_lif``,
    ``LIFCell`` -> ``lif``), or None."""
    key = name.lower().replace("_", "").replace("-", "")
    for suffix in ("recurrentcell", "cell", "recurrent"):
        if key.endswith(suffix) and key != suffix:
            key = key.removesuffix(suffix)
            break
    return LAYER_TYPE_ALIASES.get(key) or (key if key in LAYER_TYPES else None)
