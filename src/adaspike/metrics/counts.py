"""The tallies behind the workload metrics: per-connection and per-neuron-layer counts, and the cached weight
masks from which effective synaptic operations are counted."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .neuron_kinds import NeuronKind

__all__ = ["ConnectionCount", "ConnectionWeights", "NeuronCount", "first_output", "ops_per_update", "weighted_pairs"]


@dataclass
class ConnectionCount:
    """Totals over a run for one connection (float64 sums of integers: exact below 2⁵³)."""

    name: str
    kind: str                     # "synapse" or "recurrent"
    calls: int = 0
    dense: float = 0.0
    nb_macs: float = 0.0          # NeuroBench: effective MACs / ACs
    nb_acs: float = 0.0
    macs: float = 0.0             # adaspike: burst-aware
    acs: float = 0.0


@dataclass
class NeuronCount:
    name: str
    kind: NeuronKind
    neurons: int = 0              # per sample
    nonzero: int = 0
    outputs: int = 0
    spikes: float = 0.0           # Σ spike counts (a burst of k counts k)
    membrane_updates: int = 0
    dense_updates: int = 0
    ops_per_update: int = 0


def ops_per_update(state_size: int, spiking: bool) -> int:
    return state_size * state_size + state_size + (2 if spiking else 0)


def first_output(output):
    return output[0] if isinstance(output, (tuple, list)) else output


class ConnectionWeights:
    """Per-module caches: the binary weights (float64) and dense counts per input shape."""

    def __init__(self):
        self._binary: dict[int, tuple[torch.Tensor, int, torch.Tensor]] = {}
        self._dense: dict[tuple, float] = {}

    def binary(self, weight: torch.Tensor) -> torch.Tensor:
        return self._weights(weight)[0]

    def fan_out(self, weight: torch.Tensor) -> torch.Tensor:
        """Non-zero weights per input column of a [out, in] matrix."""
        return self._weights(weight)[1]

    def _weights(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hit = self._binary.get(id(weight))
        if hit is None or hit[0] is not weight or hit[1] != weight._version:
            binary = (weight.detach() != 0).to(torch.float64)
            hit = (weight, weight._version, (binary, binary.sum(0) if binary.dim() == 2 else binary))
            self._binary[id(weight)] = hit
        return hit[2]

    def conv_dense(self, module: nn.Module, shape: tuple) -> float:
        key = (id(module), shape)
        if key not in self._dense:
            ones = torch.ones((1, *shape), dtype=torch.float64, device=module.weight.device)
            self._dense[key] = float(module._conv_forward(ones, torch.ones_like(module.weight, dtype=torch.float64),
                                                          None).sum())
        return self._dense[key]


def weighted_pairs(module: nn.Module | None, weights: ConnectionWeights, weight: torch.Tensor, column_sums: torch.Tensor,
           shape: tuple) -> float:
    """Σ over an input's rows of its x-weighted pairs with non-zero weights, from the input's column sums (the
    count is linear in x): a dot with the fan-out for linear maps, one convolution of the summed map for convs."""
    if module is None or isinstance(module, nn.Linear):
        fan_out = weights.fan_out(weight)
        return float(torch.dot(column_sums.to(fan_out.device), fan_out))
    summed = column_sums.to(weight.device).reshape(1, *shape)
    return float(module._conv_forward(summed, weights.binary(weight), None).sum())
