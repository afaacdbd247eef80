"""Retiming one neuron layer: read its per-step form, map it, and hold the result.

``zoh``/``euler``/``bilinear`` produce a generic :class:`~adaspike.layers.SSMNeuron` (an adapted adLIF is in
general not an adLIF any more), or an :class:`SSMIntegrator` for a leaky readout. ``tau`` keeps the layer's
own class and parameterisation and sets Δ ← ρΔ: α = exp(−Δ/τ) becomes α^ρ (β likewise), while a, b, θ and the
form of the input gain (1 − α for LIF) stay as they are.

Every method is followed by the same per-neuron stability check (:func:`~adaspike.retime.maps.check_stability`
on the spectral radius of H_T against H_S). Time-step-adaptive neurons (a per-step H[t], B[t] such as
:class:`~adaspike.layers.adaptive.PerStepLIF`) are refused: their parameters are indexed by step, not by time.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..core.ssm import DiscreteSSM
from ..layers import IF, FrozenSSM, LeakyIntegrator, NeuronLayer, SSMNeuron
from .maps import MAPS, UNSTABLE_MODES, RetimeError, adapt_ssm, check_ratio, check_stability

NEURON_METHODS = ("none", "tau")  # handled per neuron type here; every other method is a registered map of (H, B)


def retime_methods() -> tuple[str, ...]:
    """Every retime method: ``none``, ``tau`` and the registered maps (``MAPS``), read at call time."""
    return (*NEURON_METHODS, *MAPS)


class SSMIntegrator(FrozenSSM, LeakyIntegrator):
    """A non-spiking leaky readout held as a fixed per-step (H, B): the home of a retimed ``LeakyIntegrator``.

    It reuses ``LeakyIntegrator.forward`` (membrane trace [T, B, *F]); only the source of ``ssm()`` differs.
    """

    def __init__(self, ssm: DiscreteSSM):
        nn.Module.__init__(self)
        self.shape, self.method = tuple(ssm.param_shape), "zoh"
        self._freeze(ssm)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, dt={self.dt:g}s, state_size={self.H.shape[-1]}, origin={self.origin}"


def is_neuron(module: nn.Module) -> bool:
    """Modules that retime maps: every spiking neuron layer and every leaky readout."""
    return isinstance(module, (NeuronLayer, LeakyIntegrator))


def to_ssm(layer: nn.Module) -> DiscreteSSM:
    """The per-step form (H, B, kicks, θ) of a neuron layer or leaky readout at its own ``dt``, float64, detached."""
    if not is_neuron(layer):
        raise TypeError(f"to_ssm expects a NeuronLayer or LeakyIntegrator, got {type(layer).__name__}")
    with torch.no_grad():
        ssm = layer.ssm()
    return ssm.to(dtype=torch.float64)


def retime_layer(layer: nn.Module, rho: float, method: str, *, name: str = "neuron", unstable: str = "raise",
                 structure_only: bool = False) -> nn.Module:
    """A new module running ``layer`` at Δ_T = ρ·layer.dt by ``method`` (the input layer is never mutated).

    After any method but ``none`` (and ρ ≠ 1), every neuron's spectral radius of H_T is checked against H_S:
    ``unstable="raise"`` refuses new instabilities (radius ≥ 1 above max(r_S, r_S^ρ)) with a
    :class:`RetimeError`, ``"warn"`` warns; target radii ≥ 1 inherited from the source always warn;
    ``"ignore"`` skips the check. Time-varying (per-step) neurons such as ``PerStepLIF`` raise ``RetimeError``.

    ``structure_only`` builds the right module types without evaluating the map (used to rebuild a retimed
    checkpoint, whose values are then loaded from the file).
    """
    rho = check_ratio(rho)
    if method not in retime_methods():
        raise ValueError(f"unknown retime method {method!r}; choose one of {retime_methods()}")
    if unstable not in UNSTABLE_MODES:
        raise ValueError(f"unstable must be one of {UNSTABLE_MODES}, got {unstable!r}")
    if method == "none" or rho == 1.0:
        return copy.deepcopy(layer)
    source = to_ssm(layer)
    if source.time_varying:
        raise RetimeError(
            f"{name}: cannot retime {type(layer).__name__} with method '{method}' at ρ = {rho:g}: it is a "
            f"time-step-adaptive neuron whose per-step parameters (H[t], B[t]: a leak and an input gain for each "
            f"step t = 0..T−1) are indexed by step, not by time, so there is no continuous-time model to "
            f"re-discretise at a new Δ (changing only its dt would silently run the same per-step neuron); "
            f"only method='none' or ρ = 1 keep it, as it is")
    if method == "tau":
        new = _scale_step(layer, rho, name)
        if not structure_only:
            check_stability(source.H, to_ssm(new).H, rho, name=name, method="tau", mode=unstable)
        return new
    if structure_only:
        target = DiscreteSSM(H=source.H, B=source.B, kick_reset=source.kick_reset, kick_spike=source.kick_spike,
                             threshold=source.threshold, mem_index=source.mem_index, dt=source.dt * rho,
                             method=f"retime-{method}")
    else:
        target = adapt_ssm(source, rho, method, name=name, unstable=unstable)
    if isinstance(layer, LeakyIntegrator):
        return SSMIntegrator(target)
    return SSMNeuron.from_layer(layer, target)


def _scale_step(layer: nn.Module, rho: float, name: str) -> nn.Module:
    """The ``tau`` reference: Δ ← ρΔ in the layer's native parameterisation (decays become α^ρ, β^ρ)."""
    if isinstance(layer, (SSMNeuron, SSMIntegrator)):
        raise RetimeError(f"{name}: method 'tau' scales native decay parameters, but this {type(layer).__name__} "
                          "only holds a per-step (H, B); retime the original model instead")
    new = copy.deepcopy(layer)
    new.dt = layer.dt * rho
    if isinstance(new, IF):
        # an IF has no decay to scale: keep its per-step gain gain·Δ unchanged
        new.gain = new.gain / rho
    return new
