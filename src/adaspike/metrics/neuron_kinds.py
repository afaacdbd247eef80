"""Which module types the workload metrics count as neurons, and how each is read (``register_neuron_type``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..layers import LeakyIntegrator, NeuronLayer

__all__ = ["MEMBRANE_SOURCES", "NeuronKind", "neuron_kind", "register_neuron_type"]


MEMBRANE_SOURCES = ("scan", "output", "none")


@dataclass(frozen=True)
class NeuronKind:
    """How the collector reads a neuron type: counted in activation sparsity? where its membrane comes from
    (``scan``: the states of ``module.run``; ``output``: the module returns its membrane; ``none``), whether
    it spikes, and over how many leading axes ([T, B] or [B]) its outputs run.

    ``spike_counts(module, output)``, for graded-spike neurons whose output is a count times a scale (a
    converted network's n·θ), returns the counts: adaspike's columns then count k ACs for a count of k in the
    connections it feeds, as for bursts, while NeuroBench's columns still see the graded values (MACs)."""

    activation: bool = True
    membrane: str = "none"
    spiking: bool = True
    spike_counts: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None
    leading_axes: int = 2         # axes before the features: [T, B, ...] layers 2, per-step/ANN [B, ...] 1

    def __post_init__(self):
        if self.leading_axes not in (1, 2):
            raise ValueError(f"leading_axes must be 1 or 2, got {self.leading_axes!r}")
        if self.membrane not in MEMBRANE_SOURCES:
            raise ValueError(f"membrane must be one of {MEMBRANE_SOURCES}, got {self.membrane!r}")


_NEURON_KINDS: dict[type, NeuronKind] = {}


def register_neuron_type(cls: type, kind: NeuronKind | None = None) -> type:
    """Make ``cls`` (and its subclasses) a neuron layer for the workload metrics; returns ``cls``."""
    _NEURON_KINDS[cls] = kind or NeuronKind()
    return cls


def neuron_kind(module: nn.Module) -> NeuronKind | None:
    for cls in type(module).__mro__:
        if cls in _NEURON_KINDS:
            return _NEURON_KINDS[cls]
    return None


register_neuron_type(NeuronLayer, NeuronKind(activation=True, membrane="scan"))
register_neuron_type(LeakyIntegrator, NeuronKind(activation=False, membrane="output", spiking=False))
# NeuroBench's default activation layers, so that ANNs get the same numbers
register_neuron_type(nn.ReLU, NeuronKind(leading_axes=1))
register_neuron_type(nn.Sigmoid, NeuronKind(leading_axes=1))
