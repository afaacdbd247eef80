"""nn.Module layers in multi-step mode over [T, B, ...]."""
from .bounded import Bounded
from .discretisation_cache import clear_ssm_cache
from .neurons import IF, LIF, NEURONS, AdLIF, CubaLIF, NeuronLayer, SSMNeuron, make_neuron
from .readout import LeakyIntegrator, SoftmaxSum, TimeReduce, reduce_time
from .synapse import (RecurrentSpikingLayer, SpikingLayer, TimeFolded, fan_in_scale, spiking_conv2d,
                      spiking_linear)

__all__ = [name for name in dir() if not name.startswith("_")]
