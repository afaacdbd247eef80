"""NeuroBench's static metrics of a model, with adaspike's recurrent weights counted as connections.

* footprint: bytes of every parameter and buffer;
* parameter count: elements of every parameter;
* connection sparsity: zero weights / all weights of the connection layers (Linear, Conv1d/2d/3d) and, unlike
  NeuroBench (which sees only ``nn.Linear``/``nn.Conv``/``nn.RNN`` modules), of the recurrent matrices of
  ``RecurrentSpikingLayer``. Biases are not connections.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from ..layers import RecurrentSpikingLayer

CONNECTION_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def connection_weights(model: nn.Module, recurrent: bool = True) -> Iterator[tuple[str, str, torch.Tensor]]:
    """(name, kind, weight) of every connection: kind ``"synapse"`` (Linear/Conv) or ``"recurrent"``."""
    for name, module in model.named_modules():
        if isinstance(module, CONNECTION_LAYERS):
            yield name, "synapse", module.weight
        elif recurrent and isinstance(module, RecurrentSpikingLayer):
            yield f"{name}.recurrent", "recurrent", module.recurrent


def footprint_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def connection_sparsity(model: nn.Module, recurrent: bool = True) -> float:
    """Fraction of zero connection weights (0 for a model without connection layers)."""
    zeros = total = 0
    for _, _, weight in connection_weights(model, recurrent):
        zeros += int((weight == 0).sum())
        total += weight.numel()
    return zeros / total if total else 0.0


def static_metrics(model: nn.Module) -> dict:
    """The three static metrics; ``connection_sparsity_feedforward`` is NeuroBench's (recurrent weights left out)."""
    return {"footprint_bytes": footprint_bytes(model), "parameter_count": parameter_count(model),
            "connection_sparsity": connection_sparsity(model),
            "connection_sparsity_feedforward": connection_sparsity(model, recurrent=False)}


__all__ = ["CONNECTION_LAYERS", "connection_sparsity", "connection_weights", "footprint_bytes", "parameter_count",
           "static_metrics"]
