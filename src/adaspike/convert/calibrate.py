"""Threshold search (per-channel MSE grid) and bias correction (conversion spec §4).

Thresholds: for channel c with maximum ANN activation M_c, try θ ∈ {M_c·(1 − 0.01 i), i = 0…94} and keep
the one minimising Σ (a − Q(a))² with

    floor (default, as fitted by the reference):  Q(a) = (θ/T)·⌊T·clip(a/θ, 0, Γ)⌋
    round (library extension, what the shifted neuron implements): Q(a) = (θ/T)·clip(⌊T a/θ + ½⌋, 0, ΓT)

Over batches: the first batch sets θ, each later one updates θ ← 0.9 θ + 0.1 θ_batch. Conv neurons get one
threshold per channel, linear ones a scalar. A channel that never activates keeps the layer's maximum.

Bias correction, layer by layer in order, each after the earlier ones are corrected:

    δ_{l,c} ← δ_{l,c} − ( mean_{N,H,W}[(1/T) Σ_t a^SNN_{l,c}(t)] − mean_{N,H,W}[a^ANN_{l,c}] )
"""
from __future__ import annotations

import torch

from .snn import ConvertedSNN

GRID_STEPS = 95


def channels_first(a: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """[N, C, ...] → [C, N·…] (per channel) or [1, all]."""
    if per_channel:
        return a.transpose(0, 1).reshape(a.shape[1], -1)
    return a.reshape(1, -1)


def quantise(a: torch.Tensor, theta: torch.Tensor, T: int, gamma: int, quantiser: str = "floor") -> torch.Tensor:
    """The rate an AdaFire neuron is modelled to give for activation ``a`` (θ broadcast against a)."""
    if quantiser == "floor":
        return theta / T * torch.floor(T * torch.clamp(a / theta, 0, gamma))
    if quantiser == "round":
        return theta / T * torch.clamp(torch.floor(T * a / theta + 0.5), 0, gamma * T)
    raise ValueError(f"threshold_quantiser must be 'floor' or 'round', got {quantiser!r}")


def mse_threshold(a: torch.Tensor, T: int, gamma: int, quantiser: str = "floor") -> torch.Tensor:
    """Best grid threshold per row of ``a`` [C, M] (non-negative activations)."""
    peak = a.amax(1)
    fallback = peak.max().clamp_min(1e-6)
    peak = torch.where(peak > 0, peak, fallback)
    best_err = torch.full_like(peak, float("inf"))
    best = peak.clone()
    for i in range(GRID_STEPS):
        theta = peak * (1 - 0.01 * i)
        err = (a - quantise(a, theta.unsqueeze(1), T, gamma, quantiser)).square().sum(1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best = torch.where(better, theta, best)
    return best


@torch.no_grad()
def fit_thresholds(snn: ConvertedSNN, batches: list[torch.Tensor], T: int, quantiser: str = "floor") -> None:
    """Set every neuron's threshold from ANN activations on ``batches`` with its current Γ (EMA over batches)."""
    thetas: list[torch.Tensor | None] = [None] * len(snn.neurons)
    for x in batches:
        _, acts = snn.ann_forward(x, capture=True)
        for i, (neuron, a) in enumerate(zip(snn.neurons, acts)):
            th = mse_threshold(channels_first(a, neuron.per_channel), T, neuron.gamma, quantiser)
            thetas[i] = th if thetas[i] is None else 0.9 * thetas[i] + 0.1 * th
    for neuron, th in zip(snn.neurons, thetas):
        neuron.threshold.copy_(th)


def _channel_mean(a: torch.Tensor, per_channel: bool) -> torch.Tensor:
    return channels_first(a, per_channel).mean(1)


@torch.no_grad()
def bias_correction(snn: ConvertedSNN, x: torch.Tensor, T: int) -> list[float]:
    """Correct each neuron's bias shift in layer order on batch ``x``; returns the mean |correction| per layer.

    Conv neurons are corrected per channel, linear neurons per output feature.
    """
    _, acts = snn.ann_forward(x, capture=True)
    sizes = []
    for neuron, a in zip(snn.neurons, acts):
        target = _channel_mean(a, True)
        neuron.track_output = True
        try:
            snn.run(x, T)
            rate = neuron.output_sum / T
        finally:
            neuron.track_output = False
        delta = _channel_mean(rate, True) - target
        neuron.bias_shift -= delta
        sizes.append(float(delta.abs().mean()))
    return sizes
