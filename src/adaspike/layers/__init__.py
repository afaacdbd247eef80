"""nn.Module layers in multi-step mode over [T, B, ...]."""
from .adaptive import PerStepLIF, StepWeightedReadout
from .bounded import Bounded
from .discretisation_cache import clear_ssm_cache
from .firing import calibrate_firing
from .neurons import (IF, LIF, NEURONS, AdLIF, CubaLIF, FrozenSSM, NeuronLayer, SSMNeuron, make_neuron,
                      register_neuron, registered_neurons)
from .norm import TemporalBatchNorm, fold_batchnorm_into
from .readout import LeakyIntegrator, SoftmaxSum, TimeReduce, reduce_time
from .synapse import (RecurrentSpikingLayer, SpikingLayer, TimeFolded, spiking_conv2d,
                      spiking_linear)

__all__ = [
    "AdLIF", "Bounded", "CubaLIF", "FrozenSSM", "IF", "LIF", "LeakyIntegrator", "NEURONS", "NeuronLayer",
    "PerStepLIF", "RecurrentSpikingLayer", "SSMNeuron", "SoftmaxSum", "SpikingLayer", "StepWeightedReadout",
    "TemporalBatchNorm", "TimeFolded", "TimeReduce", "calibrate_firing", "clear_ssm_cache", "fold_batchnorm_into",
    "make_neuron", "register_neuron", "registered_neurons", "reduce_time", "spiking_conv2d", "spiking_linear",
]
