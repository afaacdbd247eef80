"""Metrics: accuracy, a chance-level check, and per-layer spike rates recorded by forward hooks (removed after use)."""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from ..layers.neurons import NeuronLayer

__all__ = ["CHANCE_MARGIN", "SpikeRateMonitor", "accuracy", "chance_level_warning", "correct_count"]

# within this many accuracy points (absolute, 0.05 = 5 %) of 1/classes a model has learned nothing useful
CHANCE_MARGIN = 0.05


def correct_count(logits: torch.Tensor, target: torch.Tensor) -> int:
    """How many samples of the batch ``logits`` classifies as ``target`` (class indices, or soft targets)."""
    if target.dim() > 1:  # soft targets (mixup)
        target = target.argmax(-1)
    return int((logits.argmax(-1) == target).sum())


def accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    if target.dim() > 1:  # soft targets (mixup)
        target = target.argmax(-1)
    return float((logits.argmax(-1) == target).float().mean())


def chance_level_warning(accuracies: dict[str, float | None], classes: int,
                         margin: float = CHANCE_MARGIN) -> str | None:
    """A warning line if any accuracy in ``accuracies`` (name -> fraction, e.g. ``{"test": 0.105}``) is within
    ``margin`` of chance (1/``classes``), else None. None values (a split not evaluated) are skipped.

    >>> chance_level_warning({"test": 0.105, "validation": 0.11}, classes=10)[:62]
    'warning: test accuracy 10.5 %, validation accuracy 11.0 % are '
    >>> chance_level_warning({"test": 0.93, "validation": None}, classes=10) is None
    True
    """
    if classes < 2:
        raise ValueError(f"classes must be >= 2, got {classes}")
    chance = 1.0 / classes
    near = {name: acc for name, acc in accuracies.items() if acc is not None and acc <= chance + margin}
    if not near:
        return None
    listed = ", ".join(f"{name} accuracy {100 * acc:.1f} %" for name, acc in near.items())
    return (f"warning: {listed} {'is' if len(near) == 1 else 'are'} at chance level "
            f"({100 * chance:.1f} % for {classes} classes, within {100 * margin:.0f} points): the model has not "
            "learned the task; check the data, the learning rate and the number of epochs")


class SpikeRateMonitor:
    """Mean spikes per neuron per step for every neuron layer (or only the layers of ``kinds``), accumulated
    over the batches seen while it watches a model (``with monitor.watch(model): ...``)."""

    def __init__(self, kinds: type | tuple[type, ...] = NeuronLayer):
        self.kinds = kinds
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
                   if isinstance(m, self.kinds)]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def rates(self) -> dict[str, float]:
        return {name: self.totals[name] / max(1, self.counts[name]) for name in self.totals}

    def total_spikes(self) -> float:
        """All spikes seen, summed over layers, steps and samples."""
        return sum(self.totals.values())
