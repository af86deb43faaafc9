"""snnspec's Equinox modules: neurons, surrogates and small shape layers.

These are the runtime side of the specs in :mod:`snnspec.layers`; they import JAX.
"""

from .neurons import LIF as LIF
from .neurons import AbstractNeuron as AbstractNeuron
from .neurons import AbstractSpikingNeuron as AbstractSpikingNeuron
from .neurons import LIFState as LIFState
from .neurons import SimpleLI as SimpleLI
from .neurons import SimpleLIF as SimpleLIF
from .neurons import SimpleLIFState as SimpleLIFState
from .neurons import SimpleLIState as SimpleLIState
from .reshaping import Flatten as Flatten
from .surrogates import AbstractSurrogate as AbstractSurrogate
