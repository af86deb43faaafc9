"""snnspec: a declarative model spec compiler for spiking neural networks in JAX.

Importing this package does not import JAX; :func:`compile` and :func:`simulate` do, and
:func:`train` and :func:`evaluate` (training from Python: :mod:`snnspec.training.api`);
:func:`load_data` (a spec's training data) needs NumPy only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _clock  # noqa: F401  (first: the time the command line counts start-up from)
from ._errors import GraphError as GraphError
from ._errors import InputError as InputError
from ._errors import LoadError as LoadError
from ._errors import ParamsError as ParamsError
from ._errors import SchemaError as SchemaError
from ._errors import ShapeError as ShapeError
from ._errors import SpecError as SpecError
from ._errors import SpecWarning as SpecWarning
from .spec.load import load as load
from .spec.model import ModelSpec as ModelSpec

if TYPE_CHECKING:
    from .graph.plan import GraphStructure as GraphStructure
    from .interop.equinox import as_equinox as as_equinox
    from .interop.equinox import from_equinox as from_equinox
    from .interop.nir import from_nir as from_nir
    from .interop.nir import to_nir as to_nir
    from .model.compile import compile as compile
    from .model.model import StatefulModel as StatefulModel
    from .model.model import simulate as simulate
    from .model.params import parameter_arrays as parameter_arrays
    from .model.params import save_params as save_params
    from .model.trainable import trainable_filter as trainable_filter
    from .spec.dump import dump as dump
    from .training.api import Run as Run
    from .training.api import evaluate as evaluate
    from .training.api import load_data as load_data
    from .training.api import open_run as open_run
    from .training.api import train as train
    from .training.custom import register_loss as register_loss

__version__ = "0.4.0"

__all__ = [
    "GraphError",
    "GraphStructure",
    "InputError",
    "LoadError",
    "ModelSpec",
    "ParamsError",
    "Run",
    "SchemaError",
    "ShapeError",
    "SpecError",
    "SpecWarning",
    "StatefulModel",
    "as_equinox",
    "compile",
    "dump",
    "evaluate",
    "from_equinox",
    "from_nir",
    "load",
    "load_data",
    "open_run",
    "parameter_arrays",
    "register_loss",
    "save_params",
    "simulate",
    "to_nir",
    "train",
    "trainable_filter",
]

_LAZY = {
    "compile": ".model.compile",
    "simulate": ".model.model",
    "StatefulModel": ".model.model",
    "GraphStructure": ".graph.plan",
    "save_params": ".model.params",
    "parameter_arrays": ".model.params",
    "as_equinox": ".interop.equinox",
    "from_equinox": ".interop.equinox",
    "dump": ".spec.dump",
    "from_nir": ".interop.nir",
    "to_nir": ".interop.nir",
    "trainable_filter": ".model.trainable",
    "train": ".training.api",
    "evaluate": ".training.api",
    "Run": ".training.api",
    "open_run": ".training.api",
    "load_data": ".training.api",
    "register_loss": ".training.custom",
}


def __getattr__(name: str) -> Any:
    """Import the JAX-backed parts of the API on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'snnspec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
