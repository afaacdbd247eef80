"""The shared core: neuron models as continuous-time state-space models, discretisation, the scan op, surrogates."""
from .neurons import (AdLIFParams, CubaLIFParams, IFParams, LIFParams, adlif_discrete, cuba_lif_discrete,
                      decay_from_tau, if_discrete, lif_discrete, tau_from_decay)
from .allocator import tune_allocator
from .clock import Clock, active_clock, check_steps, clock, constant_step
from .multistep import NeuronState, ScanOutput, available_backends, check_time_major, register_backend, scan
from .spikes import RESET_MODES, BinarySpike, BurstSpike, SignedBurstSpike, StepwiseSpike, rule_for_step, rule_for_steps
from .registry import Registry, UnknownName
from .ssm import DISCRETISATIONS, ContinuousSSM, DiscreteSSM
from .step import StepOutput, step
from .surrogates import Arctan, FastSigmoid, Sigmoid, Surrogate, Triangle, get_surrogate
from .units import check_dt, format_time, parse_time

__all__ = [
    "AdLIFParams", "Arctan", "BinarySpike", "BurstSpike", "Clock", "ContinuousSSM", "CubaLIFParams", "DISCRETISATIONS",
    "DiscreteSSM", "FastSigmoid", "IFParams", "LIFParams", "NeuronState", "RESET_MODES", "Registry", "ScanOutput", "Sigmoid",
    "SignedBurstSpike", "StepOutput", "StepwiseSpike", "Surrogate", "Triangle", "UnknownName", "active_clock", "adlif_discrete", "available_backends", "check_dt",
    "check_steps", "check_time_major", "clock", "constant_step", "cuba_lif_discrete", "decay_from_tau", "format_time", "get_surrogate", "if_discrete", "lif_discrete",
    "parse_time", "register_backend", "rule_for_step", "rule_for_steps", "scan", "step", "tau_from_decay", "tune_allocator",
]
