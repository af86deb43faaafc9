"""snnspec's Equinox modules: neurons, surrogates and small shape layers.

These are the runtime side of the specs in :mod:`snnspec.spec.layers`; they import JAX.
"""

from .neurons import IAF as IAF
from .neurons import LIF as LIF
from .neurons import LSNN as LSNN
from .neurons import SRM as SRM
from .neurons import AbstractFiringNeuron as AbstractFiringNeuron
from .neurons import AbstractInit as AbstractInit
from .neurons import AbstractNeuron as AbstractNeuron
from .neurons import AbstractSpikingNeuron as AbstractSpikingNeuron
from .neurons import AdaptiveLIF as AdaptiveLIF
from .neurons import AdaptiveLIFState as AdaptiveLIFState
from .neurons import IAFState as IAFState
from .neurons import LIFState as LIFState
from .neurons import LSNNState as LSNNState
from .neurons import NormalInit as NormalInit
from .neurons import SigmaDelta as SigmaDelta
from .neurons import SigmaDeltaState as SigmaDeltaState
from .neurons import SimpleIAF as SimpleIAF
from .neurons import SimpleLI as SimpleLI
from .neurons import SimpleLIF as SimpleLIF
from .neurons import SimpleLIFState as SimpleLIFState
from .neurons import SimpleLIState as SimpleLIState
from .neurons import SpikeCounter as SpikeCounter
from .neurons import SpikeCounterState as SpikeCounterState
from .neurons import SpikingMaxPool2d as SpikingMaxPool2d
from .neurons import SRMState as SRMState
from .neurons import UniformInit as UniformInit
from .neurons import ZerosInit as ZerosInit
from .reshaping import Flatten as Flatten
from .surrogates import AbstractSurrogate as AbstractSurrogate
