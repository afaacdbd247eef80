"""Metrics: accuracy and per-layer spike rates recorded by forward hooks (removed after use)."""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from ..layers.neurons import NeuronLayer


def accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    if target.dim() > 1:  # soft targets (mixup)
        target = target.argmax(-1)
    return float((logits.argmax(-1) == target).float().mean())


class SpikeRateMonitor:
    """Mean spikes per neuron per step for every neuron layer, accumulated over the batches seen."""

    def __init__(self):
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def _hook(self, name):
        def record(module, inputs, output):
            spikes = output[0] if isinstance(output, tuple) else output
            self.totals[name] = self.totals.get(name, 0.0) + float(spikes.detach().sum())
            self.counts[name] = self.counts.get(name, 0) + spikes.numel()
        return record

    @contextmanager
    def watch(self, model: nn.Module):
        handles = [m.register_forward_hook(self._hook(name)) for name, m in model.named_modules()
                   if isinstance(m, NeuronLayer)]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def rates(self) -> dict[str, float]:
        return {name: self.totals[name] / max(1, self.counts[name]) for name in self.totals}
