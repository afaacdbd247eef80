"""What the scan consumes and returns: explicit neuron state, its output, and the validated request a backend runs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch

from .ssm import DiscreteSSM


class NeuronState(NamedTuple):
    """Explicit state between calls: x [B, *F, n], the last spikes s [B, *F] and, for refractory spike rules,
    the steps each neuron is still blocked for (``refractory`` [B, *F]; None means none is)."""

    x: torch.Tensor
    s: torch.Tensor
    refractory: torch.Tensor | None = None


class ScanOutput(NamedTuple):
    spikes: torch.Tensor                 # [T, B, *F]
    states: torch.Tensor | None          # [T, B, *F, n], post-propagation, pre-reset (on request)
    final: NeuronState


@dataclass
class ScanRequest:
    """Everything a backend needs, already validated and cast to the current's dtype/device."""

    current: torch.Tensor
    ssm: DiscreteSSM
    reset: str
    detach_reset: bool
    spike_fn: Callable
    state: NeuronState
    recurrent_weight: torch.Tensor | None
    return_states: bool
    recurrent_scale: torch.Tensor | None = None  # [T]: the recurrent drive of step t is scale[t]·V·s_{t−1}


Backend = Callable[[ScanRequest], ScanOutput]

__all__ = ["Backend", "NeuronState", "ScanOutput", "ScanRequest"]
