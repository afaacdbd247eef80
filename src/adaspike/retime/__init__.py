"""Zero-shot temporal-resolution adaptation: move a trained SNN from step Δ_S to Δ_T = ρ Δ_S without training.

- :func:`retime` (alias :func:`adapt`): a new model whose every neuron runs at the target step;
- :func:`to_ssm`: a neuron layer's per-step form (H, B, kicks, θ);
- :func:`adapt_ssm` and the maps :func:`zoh_map`, :func:`euler_map`, :func:`bilinear_map` on (H, B);
- :func:`rebin`: event counts at any step with exactly nesting bins.
"""
from .binning import rebin
from .clock import ClockedForward, neurons_per_sample, on_clock, run_on_clock
from .maps import MAPS, RetimeError, RetimeMap, adapt_ssm, bilinear_map, euler_map, register_map, zoh_map
from .model import SPIKE_RULES, RetimeInfo, resolve_input_scale, retime, source_dt
from .neurons import SSMIntegrator, retime_layer, retime_methods, to_ssm
from .readout import READOUT_MODES, normalise_readout
from .synapses import count_synapses, fold_batchnorm, scale_count_inputs


def adapt(model, rho: float, method: str = "zoh", input_scale="auto", readout: str = "auto", **kw):
    """Spec name for :func:`retime` with a ratio ρ = Δ_T/Δ_S."""
    return retime(model, ratio=rho, method=method, input_scale=input_scale, readout=readout, **kw)


__all__ = [
    "ClockedForward", "MAPS", "READOUT_MODES", "SPIKE_RULES", "adapt", "adapt_ssm", "bilinear_map", "count_synapses", "euler_map",
    "fold_batchnorm", "neurons_per_sample", "normalise_readout", "on_clock", "rebin", "register_map", "resolve_input_scale", "retime", "retime_layer",
    "retime_methods", "RetimeError", "RetimeInfo", "RetimeMap", "run_on_clock", "scale_count_inputs", "source_dt", "SSMIntegrator",
    "to_ssm", "zoh_map",
]
