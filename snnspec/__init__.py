"""snnspec: a declarative model spec compiler for spiking neural networks in JAX.

Importing this package does not import JAX; :func:`compile` and :func:`simulate` do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import GraphError as GraphError
from ._errors import InputError as InputError
from ._errors import LoadError as LoadError
from ._errors import ParamsError as ParamsError
from ._errors import SchemaError as SchemaError
from ._errors import ShapeError as ShapeError
from ._errors import SpecError as SpecError
from ._errors import SpecWarning as SpecWarning
from ._spec import ModelSpec as ModelSpec
from ._spec import load as load

if TYPE_CHECKING:
    from ._compiler import compile as compile
    from ._dump import dump as dump
    from ._equinox import as_equinox as as_equinox
    from ._equinox import from_equinox as from_equinox
    from ._graph import GraphStructure as GraphStructure
    from ._model import StatefulModel as StatefulModel
    from ._model import simulate as simulate
    from ._nir import from_nir as from_nir
    from ._nir import to_nir as to_nir
    from ._params import parameter_arrays as parameter_arrays
    from ._params import save_params as save_params
    from ._trainable import trainable_filter as trainable_filter

__version__ = "0.2.0"

_LAZY = {
    "compile": "._compiler",
    "simulate": "._model",
    "StatefulModel": "._model",
    "GraphStructure": "._graph",
    "save_params": "._params",
    "parameter_arrays": "._params",
    "as_equinox": "._equinox",
    "from_equinox": "._equinox",
    "dump": "._dump",
    "from_nir": "._nir",
    "to_nir": "._nir",
    "trainable_filter": "._trainable",
}


def __getattr__(name: str) -> Any:
    """Import the JAX-backed parts of the API on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'snnspec' has no attribute {name!r}")
