"""Spike generation and reset as small pluggable objects (Sinabs-style).

A spike rule maps the membrane ``v`` and threshold ``θ`` to a spike count per step; a reset mode says how much
the membrane loses after a spike. Both are used by every scan backend.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .surrogates import FastSigmoid, Surrogate

RESET_MODES = ("subtract", "zero", "none")


def check_reset(reset: str) -> str:
    if reset not in RESET_MODES:
        raise ValueError(f"reset must be one of {RESET_MODES}, got {reset!r}")
    return reset


@dataclass(frozen=True)
class BinarySpike:
    """At most one spike per step: s = Θ(v − θ). ``strict`` makes v = θ not fire."""

    surrogate: Surrogate = field(default_factory=FastSigmoid)
    strict: bool = False
    max_spikes: int = 1

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        return self.surrogate(v - threshold, self.strict)


@dataclass(frozen=True)
class BurstSpike:
    """Up to ``max_spikes`` spikes per step (AdaFire/Sinabs MultiSpike): s = clamp(⌊v/θ⌋, 0, Γ).

    The gradient is the surrogate of the first spike (straight-through for the count).
    """

    max_spikes: int = 2
    surrogate: Surrogate = field(default_factory=FastSigmoid)
    strict: bool = False

    def __post_init__(self):
        if int(self.max_spikes) < 1:
            raise ValueError(f"max_spikes must be >= 1, got {self.max_spikes}")

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        first = self.surrogate(v - threshold, self.strict)
        count = torch.clamp(torch.floor(v.detach() / threshold), 0, self.max_spikes)
        return first + (count - first).detach()


def reset_amount(reset: str, spikes: torch.Tensor, membrane: torch.Tensor, threshold: torch.Tensor,
                 detach: bool) -> torch.Tensor | None:
    """How much the membrane loses for the spikes of the previous step (None when reset is 'none')."""
    if reset == "none":
        return None
    s = spikes.detach() if detach else spikes
    if reset == "subtract":
        return threshold * s
    # reset to zero: lose the whole membrane once, whatever the burst size
    return membrane * torch.clamp(s, max=1.0)
