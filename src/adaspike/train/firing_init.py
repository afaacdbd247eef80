"""Data-driven initialisation: scale each spiking layer's input weights until it fires in a useful regime.

A hidden layer that is silent at initialisation gets no surrogate gradient through its spikes' successors and
trains slowly or not at all; one that fires at every step saturates. So, before training, each spiking layer
in forward order (modules with a ``synapse`` and a ``neuron``, e.g. ``SpikingLayer`` and
``RecurrentSpikingLayer``) has its feed-forward weight multiplied until its mean rate over one training batch
lies in ``band`` (spikes per neuron per *second*, so the target does not depend on ``dt``). Only weights are
scaled: biases and recurrent weights are left as they are.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .metrics import SpikeRateMonitor

__all__ = ["DEFAULT_BAND_HZ", "calibrate_firing", "spiking_layers"]

DEFAULT_BAND_HZ = (10.0, 40.0)


def spiking_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every layer with a ``synapse`` (weights) and a ``neuron`` (spikes), in module order."""
    return [(name, m) for name, m in model.named_modules()
            if hasattr(m, "synapse") and hasattr(m, "neuron") and _weight(m) is not None]


def _weight(layer: nn.Module) -> torch.Tensor | None:
    synapse = layer.synapse
    inner = getattr(synapse, "module", synapse)
    weight = getattr(inner, "weight", None)
    return weight if isinstance(weight, torch.Tensor) else None


@torch.no_grad()
def _rates(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    monitor = SpikeRateMonitor()
    with monitor.watch(model):
        model(x)
    return monitor.rates()


@torch.no_grad()
def calibrate_firing(model: nn.Module, x: torch.Tensor, band: tuple[float, float] = DEFAULT_BAND_HZ,
                     max_iterations: int = 12) -> dict:
    """Scale input weights layer by layer until each layer's rate (Hz) on batch ``x`` lies in ``band``.

    Returns ``{"before": {layer: Hz}, "after": {layer: Hz}, "scales": {layer: factor}}``. Deterministic for a
    given model and batch; works in place.
    """
    lo, hi = (float(b) for b in band)
    if not 0 < lo < hi:
        raise ValueError(f"the firing band must satisfy 0 < low < high (Hz), got {band!r}")
    was_training = model.training
    model.eval()  # no dropout while measuring
    layers = spiking_layers(model)
    step = {name: float(layer.neuron.dt) for name, layer in layers}
    hz = lambda rates: {name: rates.get(f"{name}.neuron", 0.0) / step[name] for name, _ in layers}
    before = hz(_rates(model, x))
    scales = {}
    for name, layer in layers:
        weight, factor = _weight(layer), 1.0
        for _ in range(max_iterations):
            rate = hz(_rates(model, x))[name]
            if lo <= rate <= hi:
                break
            target = math.sqrt(lo * hi)
            # rates respond sub-linearly to the drive near threshold: move by at most 2x per iteration
            change = 2.0 if rate <= 0 else min(2.0, max(0.5, math.sqrt(target / rate)))
            weight.mul_(change)
            factor *= change
        scales[name] = factor
    after = hz(_rates(model, x))
    model.train(was_training)
    return {"before": before, "after": after, "scales": scales}
