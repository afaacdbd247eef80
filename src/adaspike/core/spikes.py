"""Spike generation and reset as small pluggable objects (Sinabs-style).

A spike rule maps the membrane ``v`` and threshold ``θ`` to a spike count per step; a reset mode says how much
the membrane loses after a spike. Both are used by every scan backend.

A rule may also be *refractory*: after a step that emits spikes, the next ``refractory`` steps emit none (the
membrane keeps integrating). This is how a spike rule is carried across time resolutions
(:func:`rule_for_step`): a neuron trained with "at most one spike per step" at Δ_S has an implicit refractory
period of Δ_S seconds, i.e. a spike capacity of 1/Δ_S per second. At a finer step Δ_T < Δ_S that capacity is
kept by blocking round(Δ_S/Δ_T) − 1 steps after a spike; at a coarser step by allowing bursts of up to
round(Δ_T/Δ_S) spikes per step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .surrogates import FastSigmoid, Surrogate

RESET_MODES = ("subtract", "zero", "none")


def check_reset(reset: str) -> str:
    if reset not in RESET_MODES:
        raise ValueError(f"reset must be one of {RESET_MODES}, got {reset!r}")
    return reset


def _check_refractory(steps) -> None:
    if isinstance(steps, bool) or int(steps) != steps or steps < 0:
        raise ValueError(f"refractory must be a whole number of steps >= 0, got {steps!r}")


@dataclass(frozen=True)
class BinarySpike:
    """At most one spike per step: s = Θ(v − θ). ``strict`` makes v = θ not fire; ``refractory`` steps after a
    spike emit none."""

    surrogate: Surrogate = field(default_factory=FastSigmoid)
    strict: bool = False
    max_spikes: int = 1
    refractory: int = 0

    def __post_init__(self):
        _check_refractory(self.refractory)

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
    refractory: int = 0

    def __post_init__(self):
        if int(self.max_spikes) < 1:
            raise ValueError(f"max_spikes must be >= 1, got {self.max_spikes}")
        _check_refractory(self.refractory)

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        first = self.surrogate(v - threshold, self.strict)
        count = torch.clamp(torch.floor(v.detach() / threshold), 0, self.max_spikes)
        return first + (count - first).detach()


def check_refractory_period(refractory: float | None) -> float | None:
    """A refractory period in seconds (None: one step, the plain per-step rule)."""
    if refractory is None:
        return None
    value = float(refractory)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"the refractory period must be a finite number of seconds > 0 (or None), got "
                         f"{refractory!r}")
    return value


def steps_per_period(dt: float, refractory: float) -> tuple[int, int]:
    """(blocked steps after a spike, spike capacity factor per step) of a period ``refractory`` at step ``dt``.

    Ratios are rounded to whole steps (1e-9 relative slack, so 4 ms / 2 ms is exactly 2).
    """
    ratio = refractory / dt
    if ratio >= 1 - 1e-9:
        return max(0, int(math.floor(ratio + 0.5 + 1e-9)) - 1), 1
    return 0, max(1, int(math.floor(1 / ratio + 0.5 + 1e-9)))


def rule_for_step(dt: float, refractory: float | None = None, *, max_spikes: int = 1,
                  surrogate: Surrogate | None = None, strict: bool = False):
    """The per-step spike rule at step ``dt`` of a neuron whose spike rule is defined in seconds.

    ``refractory=None`` is the plain rule (``max_spikes`` per step, no blocking). Otherwise at most
    ``max_spikes`` spikes per ``refractory`` seconds: ``BinarySpike``/``BurstSpike`` with blocked steps when
    ``dt`` < ``refractory``, a burst cap ``max_spikes · round(refractory⁻¹·dt)`` when ``dt`` > ``refractory``.
    """
    surrogate = surrogate or FastSigmoid()
    blocked, factor = (0, 1) if refractory is None else steps_per_period(dt, refractory)
    cap = int(max_spikes) * factor
    if cap > 1:
        return BurstSpike(cap, surrogate, strict, refractory=blocked)
    return BinarySpike(surrogate, strict, refractory=blocked)


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
