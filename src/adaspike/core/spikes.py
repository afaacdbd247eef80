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

import numpy as np
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


@dataclass(frozen=True)
class SignedBurstSpike:
    """Signed bursts with memory: n = clamp(⌊v/θ⌋, −N, Γ), where N ≥ 0 is the count the neuron has sent so far.

    A negative count takes back spikes sent too early (an input that later turns negative), so the running
    total N(t)·θ tracks ⌊Σ I/θ⌋·θ, the quantised ReLU of the integrated input, whatever the order the input
    came in (signed neurons with memory, Wang et al., IJCAI 2022). Without ``sent`` it is ``BurstSpike``'s
    count. Inference only: there is no surrogate gradient.
    """

    max_spikes: int = 2
    refractory: int = 0

    def __post_init__(self):
        if int(self.max_spikes) < 1:
            raise ValueError(f"max_spikes must be >= 1, got {self.max_spikes}")
        if self.refractory:
            raise ValueError("SignedBurstSpike has no refractory period")

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor, sent: torch.Tensor | None = None) -> torch.Tensor:
        count = torch.floor(v.detach() / threshold)
        if sent is None:
            return count.clamp_(0, self.max_spikes)
        return torch.maximum(count.clamp_(max=self.max_spikes), -sent)


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


@dataclass(frozen=True, eq=False)
class StepwiseSpike:
    """The spike rule of a clock with irregular steps, resolved per step (see :func:`rule_for_steps`).

    Step t allows up to ``caps[t]`` spikes (0: a binary spike Θ(v − θ), ≥ 2: a burst clamp(⌊v/θ⌋, 0, caps[t]))
    and a step that emits spikes blocks the next ``holds[t]`` steps. Both are int64 [T]. The surrogate gradient is
    that of the first spike, as for ``BinarySpike`` and ``BurstSpike``.
    """

    caps: torch.Tensor
    holds: torch.Tensor
    surrogate: Surrogate = field(default_factory=FastSigmoid)
    strict: bool = False

    def __post_init__(self):
        if self.caps.shape != self.holds.shape or self.caps.dim() != 1:
            raise ValueError(f"caps and holds must both be [T], got {tuple(self.caps.shape)} and "
                             f"{tuple(self.holds.shape)}")

    @property
    def max_spikes(self) -> int:
        return max(1, int(self.caps.max()))

    @property
    def refractory(self) -> int:
        """Nonzero: this rule keeps a blocked-steps counter (its value after a spike is ``holds[t]``)."""
        return max(1, int(self.holds.max()))

    def at(self, t: int):
        """The plain rule of step ``t`` (without its blocking)."""
        cap = int(self.caps[t])
        return BurstSpike(cap, self.surrogate, self.strict) if cap > 1 else BinarySpike(self.surrogate, self.strict)

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        raise TypeError("a StepwiseSpike is resolved per step: call .at(t)(v, threshold)")


def holds_for_steps(steps: torch.Tensor, refractory: float) -> torch.Tensor:
    """Blocked steps after a spike at each step of an irregular clock [T] (int64), for a period in seconds.

    Step t + j is free again once its end lies more than ``refractory`` − dt_t/2 after the end of step t (the
    spike's own step length as the rounding tolerance). For equal steps this is :func:`steps_per_period`'s
    round(refractory/dt) − 1, ties included. Steps after the last one are taken to keep its length (a blocked
    counter may outlive the call, into the next one).
    """
    dt = steps.detach().to(torch.float64).cpu().numpy()
    T = dt.shape[0]
    extra = int(math.ceil(refractory / dt[-1])) + 2  # enough assumed steps to end any block
    ends = np.cumsum(np.concatenate([dt, np.full(extra, dt[-1])]))
    free_after = ends[:T] + refractory - dt / 2 + 1e-9 * dt
    first_free = np.searchsorted(ends, free_after, side="right")  # first step whose end exceeds it
    return torch.as_tensor(np.maximum(first_free - np.arange(T) - 1, 0), dtype=torch.int64)


def rule_for_steps(steps, refractory: float | None = None, *, max_spikes: int = 1,
                   surrogate: Surrogate | None = None, strict: bool = False):
    """The spike rule on a clock of step lengths (float, or a tensor [T]; [T, B] per sample → one rule per
    sample, see :class:`PerSampleRule`), for a neuron whose rule is defined in seconds.

    Equal steps give :func:`rule_for_step`'s rule; irregular ones a :class:`StepwiseSpike` whose caps and holds
    follow each step's length. ``refractory=None`` is the plain per-step rule whatever the steps.
    """
    surrogate = surrogate or FastSigmoid()
    if not isinstance(steps, torch.Tensor) or refractory is None:
        dt = float(steps) if not isinstance(steps, torch.Tensor) else float(steps.reshape(-1)[0])
        return rule_for_step(dt, refractory, max_spikes=max_spikes, surrogate=surrogate, strict=strict)
    if steps.dim() == 2:
        return PerSampleRule(tuple(rule_for_steps(steps[:, b], refractory, max_spikes=max_spikes,
                                                  surrogate=surrogate, strict=strict)
                                   for b in range(steps.shape[1])))
    flat = steps.reshape(-1)
    if bool((flat == flat[0]).all()):
        return rule_for_step(float(flat[0]), refractory, max_spikes=max_spikes, surrogate=surrogate, strict=strict)
    factors = [steps_per_period(float(dt), refractory)[1] for dt in flat.tolist()]
    caps = torch.tensor([0 if int(max_spikes) * f == 1 else int(max_spikes) * f for f in factors], dtype=torch.int64)
    return StepwiseSpike(caps, holds_for_steps(flat, refractory), surrogate, strict)


@dataclass(frozen=True, eq=False)
class PerSampleRule:
    """One spike rule per sample of a [T, B] clock (``scan`` runs such a batch one sample at a time)."""

    rules: tuple

    def sample(self, b: int):
        return self.rules[b]

    @property
    def max_spikes(self) -> int:
        return max(int(getattr(r, "max_spikes", 1)) for r in self.rules)

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        raise TypeError("a PerSampleRule is resolved per sample: call .sample(b)")


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
