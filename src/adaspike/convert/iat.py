"""IAT: Input-aware Adaptive Timesteps (spec §7).

Score on the cumulative readout logits L_t = Σ_{τ≤t} o_τ, p_t = softmax(L_t)::

    entropy (default):  s_t = 1 − H(p_t)/log C          confidence:  s_t = max_c p_t

Calibration: ē_t = mean normalised entropy H(p_t)/log C of the samples whose argmax at t is correct
(+∞ when none is, giving θ_t = α); θ_t = α + β·exp(min_τ ē_τ − ē_t). A sample exits at the first t with
s_t > θ_t (strict), else at T, and predicts the argmax of its cumulative logits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

SCORES = ("entropy", "confidence")


def normalised_entropy(logits: torch.Tensor) -> torch.Tensor:
    """H(softmax(logits))/log C along the last axis, computed from log-softmax (finite when saturated)."""
    lp = F.log_softmax(logits.double(), dim=-1)
    return -(lp.exp() * lp).sum(-1) / math.log(logits.shape[-1])


def exit_score(cumulative_logits: torch.Tensor, score: str = "entropy") -> torch.Tensor:
    if score == "entropy":
        return 1.0 - normalised_entropy(cumulative_logits)
    if score == "confidence":
        return F.softmax(cumulative_logits.double(), dim=-1).amax(-1)
    raise ValueError(f"IAT score must be one of {SCORES}, got {score!r}")


def mean_correct_entropy(step_logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per step: (Σ normalised entropy over correct samples, number correct) from per-step logits [T, B, C]."""
    cumulative = step_logits.cumsum(0)
    ent = normalised_entropy(cumulative)
    correct = cumulative.argmax(-1) == labels.unsqueeze(0)
    return (ent * correct).sum(1), correct.sum(1).double()


def thresholds_from_entropy(mean_entropy: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """θ_t = α + β·exp(min ē − ē_t); steps with ē_t = +∞ (no correct sample) get α."""
    finite = torch.isfinite(mean_entropy)
    if not bool(finite.any()):
        return torch.full_like(mean_entropy, alpha)
    low = mean_entropy[finite].min()
    return alpha + beta * torch.exp(low - mean_entropy)     # exp(−∞) = 0


@dataclass
class ExitPolicy:
    """Per-step thresholds θ_t (t = 1..T) and the score; callable as ``ConvertedSNN.run``'s exit rule."""

    thresholds: torch.Tensor
    score: str = "entropy"

    def __call__(self, cumulative_logits: torch.Tensor, t: int) -> torch.Tensor:
        return exit_score(cumulative_logits, self.score) > float(self.thresholds[t - 1])

    def exit_steps(self, step_logits: torch.Tensor) -> torch.Tensor:
        """Post-hoc batched simulation: exit step (1-based) per sample from the full per-step logits [T, B, C]."""
        T = step_logits.shape[0]
        s = exit_score(step_logits.cumsum(0), self.score)
        passed = s > self.thresholds.to(s).view(T, 1)
        passed[-1] = True
        return passed.double().argmax(0) + 1


def calibrate_exit_policy(step_logits: list[torch.Tensor], labels: list[torch.Tensor], alpha: float = 0.6,
                          beta: float = 0.4, score: str = "entropy") -> tuple[ExitPolicy, torch.Tensor]:
    """Thresholds from calibration batches' per-step logits; returns the policy and ē_t."""
    sums = counts = None
    for logits, y in zip(step_logits, labels):
        s, c = mean_correct_entropy(logits, y.to(logits.device))
        sums = s if sums is None else sums + s
        counts = c if counts is None else counts + c
    mean = torch.where(counts > 0, sums / counts.clamp_min(1), torch.full_like(sums, float("inf")))
    return ExitPolicy(thresholds_from_entropy(mean, alpha, beta).cpu(), score), mean.cpu()
