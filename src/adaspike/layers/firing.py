"""Data-driven initialisation: scale each spiking layer's input weights until it fires in a useful regime.

PyTorch's default ``nn.Linear`` initialisation gives a spiking layer a drive far below threshold on most inputs,
so a freshly built layer is often silent: ``RecurrentSpikingLayer(578, 128, AdLIF(128))`` fires no spike on
uniform random input. A silent layer gets no surrogate gradient through its spikes' successors and trains slowly
or not at all; one that fires at every step saturates. ``calibrate_firing(model, x)`` fixes the regime in one
call (``adaspike train`` calls it before training): each spiking layer in forward order (modules with a
``synapse`` and a ``neuron``, e.g. ``SpikingLayer`` and ``RecurrentSpikingLayer``; the model itself may be one)
has its feed-forward weight multiplied until its mean rate on ``x`` lies in ``band`` (spikes per neuron per
*second*, so the target does not depend on ``dt``). Only weights are scaled: biases and recurrent weights are
left as they are. A synapse that ends in a BatchNorm (``TimeFolded(Sequential(conv, BatchNorm2d))``) normalises
its weight's scale away, so there the BatchNorm gain γ is scaled instead, and rates are measured with batch
statistics, as in training (running statistics are restored afterwards).
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import nn

from .neurons import NeuronLayer

__all__ = ["DEFAULT_BAND_HZ", "calibrate_firing", "spiking_layers"]

DEFAULT_BAND_HZ = (10.0, 40.0)
_NORMS = (nn.modules.batchnorm._BatchNorm,)


def spiking_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every layer with a ``synapse`` (weights) and a ``neuron`` (spikes), in module order.

    The model itself, when it is such a layer, comes first with the name ``""``.
    """
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
    """Mean spikes per neuron per step of every neuron layer (by module name) over one forward pass on ``x``."""
    spikes: dict[str, list[float]] = {}

    def hook(name):
        def record(module, inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            total = spikes.setdefault(name, [0.0, 0])
            total[0] += float(out.detach().sum())
            total[1] += out.numel()
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules() if isinstance(m, NeuronLayer)]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return {name: count / max(1, n) for name, (count, n) in spikes.items()}


@torch.no_grad()
def calibrate_firing(model: nn.Module, x: torch.Tensor, band: tuple[float, float] = DEFAULT_BAND_HZ,
                     max_iterations: int = 12) -> dict:
    """Scale input weights layer by layer until each layer's rate (Hz) on batch ``x`` lies in ``band``.

    ``model``: a spiking layer (``SpikingLayer``, ``RecurrentSpikingLayer``) or any module containing them;
    ``x``: a typical input batch [T, B, ...]. Returns ``{"before": {layer: Hz}, "after": {layer: Hz},
    "scales": {layer: factor}}``, the layer named ``""`` when ``model`` is itself the layer. Deterministic for a
    given model and batch; works in place. A model without such layers is left as it is. A layer still outside
    ``band`` after ``max_iterations`` doublings or halvings is left at its last scale (check ``"after"``).

    Examples:
        >>> import torch
        >>> from adaspike.layers import AdLIF, RecurrentSpikingLayer, calibrate_firing
        >>> _ = torch.manual_seed(0)
        >>> layer = RecurrentSpikingLayer(100, 32, AdLIF(32, dt=4e-3))
        >>> x = torch.rand(50, 8, 100)
        >>> layer(x).sum().item()  # PyTorch's default weights: no spike
        0.0
        >>> report = calibrate_firing(layer, x)
        >>> 10 <= report["after"][""] <= 40  # Hz
        True
    """
    lo, hi = (float(b) for b in band)
    if not 0 < lo < hi:
        raise ValueError(f"the firing band must satisfy 0 < low < high (Hz), got {band!r}")
    layers = spiking_layers(model)  # none (a user model of plain neuron layers): nothing to scale, empty dicts
    was_training = model.training
    model.eval()  # no dropout while measuring
    with _batch_statistics(model):
        result = _calibrate(model, layers, x, lo, hi, max_iterations)
    model.train(was_training)
    return result


def _calibrate(model: nn.Module, layers: list[tuple[str, nn.Module]], x: torch.Tensor, lo: float, hi: float,
               max_iterations: int) -> dict:
    step = {name: float(layer.neuron.dt) for name, layer in layers}
    neuron = {name: f"{name}.neuron" if name else "neuron" for name, _ in layers}
    hz = lambda rates: {name: rates.get(neuron[name], 0.0) / step[name] for name, _ in layers}
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
