"""Data-driven initialisation: scale each spiking layer's input weights until it fires in a useful regime.

A hidden layer that is silent at initialisation gets no surrogate gradient through its spikes' successors and
trains slowly or not at all; one that fires at every step saturates. So, before training, each spiking layer
in forward order (modules with a ``synapse`` and a ``neuron``, e.g. ``SpikingLayer`` and
``RecurrentSpikingLayer``) has its feed-forward weight multiplied until its mean rate over one training batch
lies in ``band`` (spikes per neuron per *second*, so the target does not depend on ``dt``). Only weights are
scaled: biases and recurrent weights are left as they are. A synapse that ends in a BatchNorm
(``TimeFolded(Sequential(conv, BatchNorm2d))``) normalises its weight's scale away, so there the BatchNorm gain γ
is scaled instead, and rates are measured with batch statistics, as in training (running statistics are
restored afterwards).
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import nn

from .metrics import SpikeRateMonitor

__all__ = ["DEFAULT_BAND_HZ", "calibrate_firing", "spiking_layers"]

DEFAULT_BAND_HZ = (10.0, 40.0)
_NORMS = (nn.modules.batchnorm._BatchNorm,)


def spiking_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every layer with a ``synapse`` (weights) and a ``neuron`` (spikes), in module order."""
    return [(name, m) for name, m in model.named_modules()
            if hasattr(m, "synapse") and hasattr(m, "neuron") and _weight(m) is not None]


def _weight(layer: nn.Module) -> torch.Tensor | None:
    """The gain to scale: the synapse's weight, or the γ of the BatchNorm that ends a Sequential synapse."""
    synapse = layer.synapse
    inner = getattr(synapse, "module", synapse)
    if isinstance(inner, nn.Sequential) and len(inner):
        inner = inner[-1] if isinstance(inner[-1], _NORMS) else inner[0]
    weight = getattr(inner, "weight", None)
    return weight if isinstance(weight, torch.Tensor) else None


@contextmanager
def _batch_statistics(model: nn.Module):
    """BatchNorm layers normalise with batch statistics (as in training); their running statistics are restored."""
    norms = [m for m in model.modules() if isinstance(m, _NORMS)]
    saved = [{k: v.clone() for k, v in m.named_buffers()} for m in norms]  # not γ, β: those are calibrated
    for m in norms:
        m.train()
    try:
        yield
    finally:
        for m, buffers in zip(norms, saved):
            for name, value in buffers.items():
                getattr(m, name).copy_(value)
            m.eval()


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
    with _batch_statistics(model):
        result = _calibrate(model, x, lo, hi, max_iterations)
    model.train(was_training)
    return result


def _calibrate(model: nn.Module, x: torch.Tensor, lo: float, hi: float, max_iterations: int) -> dict:
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
    return {"before": before, "after": after, "scales": scales}
