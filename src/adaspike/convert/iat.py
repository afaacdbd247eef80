"""IAT: Input-aware Adaptive Timesteps (conversion spec §7).

Score on the cumulative readout logits L_t = Σ_{τ≤t} o_τ, p_t = softmax(L_t)::

    entropy (default):  s_t = 1 − H(p_t)/log C          confidence:  s_t = max_c p_t

Calibration: ē_t = mean normalised entropy H(p_t)/log C of the samples whose argmax at t is correct
(+∞ when none is, giving θ_t = α); θ_t = α + β·exp(min_τ ē_τ − ē_t). A sample exits at the first t with
s_t ≥ θ_t, else at T, and predicts the argmax of its cumulative logits. The test is not strict, so a step
whose threshold is 1 (the lowest-entropy step with α + β = 1) can still be passed by a certain prediction;
with a strict test the policy degenerates to "exit at step 1 or run to T" once ē_t ≈ 0.

Choosing α, β (``select_exit_policy``): ē_t is measured on part of the calibration data and each candidate α
(β = 1 − α) is simulated post hoc on the held-back rest; by default (4-fold cross-fitting) every calibration
sample is held back once. The candidate (α ∈ 0 … 1) with the fewest mean steps whose held-back losses (samples
right at T, wrong at the exit) plus one stay within ``tolerance`` percentage points is kept, and ē_t is then
measured on all the calibration data. (Issue 13's rule: α ∈ 0.6 … 1, the losses themselves within tolerance.)
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
    """θ_t = α + β·exp(min ē − ē_t); steps with ē_t = +∞ (no correct calibration sample) get 1, as the
    official code does: no exit there short of a certain prediction."""
    finite = torch.isfinite(mean_entropy)
    if not bool(finite.any()):
        return torch.ones_like(mean_entropy)
    low = mean_entropy[finite].min()
    theta = alpha + beta * torch.exp(low - mean_entropy)
    return torch.where(finite, theta, torch.ones_like(theta))


@dataclass
class ExitPolicy:
    """Per-step thresholds θ_t (t = 1..T) and the score; callable as ``ConvertedSNN.run``'s exit rule."""

    thresholds: torch.Tensor
    score: str = "entropy"

    def __call__(self, cumulative_logits: torch.Tensor, t: int) -> torch.Tensor:
        return exit_score(cumulative_logits, self.score) >= float(self.thresholds[t - 1])

    def exit_steps(self, step_logits: torch.Tensor) -> torch.Tensor:
        """Post-hoc batched simulation: exit step (1-based) per sample from the full per-step logits [T, B, C]."""
        T = step_logits.shape[0]
        s = exit_score(step_logits.cumsum(0), self.score)
        passed = s >= self.thresholds.to(s).view(T, 1)
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


PAPER_ALPHAS = (0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)     # the issue-13 grid (paper's range)
ALPHAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5) + PAPER_ALPHAS     # default grid (issue 29): lower α exits sooner


def posthoc_accuracy(policy: ExitPolicy, step_logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(accuracy, mean exit step) of ``policy`` simulated on full per-step logits [T, B, C]."""
    steps = policy.exit_steps(step_logits)
    cumulative = step_logits.cumsum(0)
    chosen = cumulative[steps - 1, torch.arange(step_logits.shape[1], device=step_logits.device)]
    accuracy = float((chosen.argmax(-1) == labels.to(chosen.device)).double().mean())
    return accuracy, float(steps.double().mean())


CRITERIA = ("losses", "net", "losses+1")


def select_exit_policy(step_logits: list[torch.Tensor], labels: list[torch.Tensor], *, tolerance: float = 0.3,
                       alphas=ALPHAS, score: str = "entropy", folds: int = 4,
                       held_fraction: float = 0.25, criterion: str = "losses+1") -> tuple[ExitPolicy, dict]:
    """Pick α (β = 1 − α) on held-back calibration data, then fit ē_t on all of it (see module docstring).

    ``folds`` > 1 (default 4) cross-fits: the samples are cut into ``folds`` contiguous parts and each part is
    held back once, with ē_t measured on the others, so every calibration sample is a held-back sample (512
    calibration images resolve 0.2 points instead of the 0.8 of a single 128-image split, and no extra SNN run
    is needed). ``folds=1`` holds back the last ``held_fraction`` only. A candidate passes when the held-back
    samples it *loses* (right at T, wrong at its exit step) are at most ``tolerance`` percentage points of the
    held-back samples; samples it happens to gain do not offset them, so a few lucky samples cannot buy a
    permissive α. The passing candidate with the fewest mean steps is kept; if none passes, no early exit.
    ``criterion``: ``"losses+1"`` (default, issue 29) asks that one more loss than seen would still be within
    tolerance: with 512 held-back samples it allows none, with 1024 two, and under 334 no candidate can pass (no
    early exit), since 0.3 points cannot be told from one sample there; ``"losses"`` (the issue-13 rule, with
    ``alphas=PAPER_ALPHAS``) counts the losses seen; ``"net"`` lets gains offset losses. On validation images
    (docs/results.md) ``"losses"`` kept α = 0.99 on a pretrained MNIST CNN from one held-back loss in 512 and lost
    0.5 points on 1000 others; ``"losses+1"`` kept α = 1 and lost none.
    Returns the policy and a report: chosen α, β, held-back accuracies, losses and mean steps of every candidate.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"IAT criterion must be one of {CRITERIA}, got {criterion!r}")
    logits = torch.cat(step_logits, dim=1)
    y = torch.cat([t.to(logits.device) for t in labels])
    n = y.numel()
    folds = max(1, min(int(folds), n))
    if folds > 1:
        edges = [round(k * n / folds) for k in range(folds + 1)]
        parts = [torch.arange(edges[k], edges[k + 1], device=logits.device) for k in range(folds)]
    else:
        held = max(1, int(round(held_fraction * n))) if n > 1 else 0
        parts = [torch.arange(n - held, n, device=logits.device)] if held else [torch.arange(n, device=logits.device)]
    entropies = []
    for part in parts:
        fit = torch.ones(n, dtype=torch.bool, device=logits.device)
        fit[part] = False
        if not bool(fit.any()):             # a single sample: fit and check on it
            fit[:] = True
        entropies.append(calibrate_exit_policy([logits[:, fit]], [y[fit]], 0.0, 1.0, score)[1])
    held_idx = torch.cat(parts)
    held_y = y[held_idx]
    fixed_right = logits[:, held_idx].sum(0).argmax(-1) == held_y
    fixed = float(fixed_right.double().mean())
    rows, best = [], None
    for alpha in alphas:
        right, steps = [], []
        for part, mean_entropy in zip(parts, entropies):
            policy = ExitPolicy(thresholds_from_entropy(mean_entropy, float(alpha), 1.0 - float(alpha)).cpu(), score)
            part_logits = logits[:, part]
            exit_at = policy.exit_steps(part_logits)
            chosen = part_logits.cumsum(0)[exit_at - 1, torch.arange(part.numel(), device=logits.device)]
            right.append(chosen.argmax(-1) == y[part])
            steps.append(exit_at)
        right_all, steps_all = torch.cat(right), torch.cat(steps)
        losses = int((fixed_right & ~right_all).sum())
        counted = losses
        if criterion == "net":
            counted = max(0, losses - int((~fixed_right & right_all).sum()))
        elif criterion == "losses+1":
            counted = losses + 1
        ok = 100 * counted / held_y.numel() <= tolerance + 1e-9
        rows.append({"alpha": float(alpha), "beta": 1.0 - float(alpha), "accuracy": float(right_all.double().mean()),
                     "mean_steps": float(steps_all.double().mean()), "losses": losses, "within_tolerance": ok})
        if ok and (best is None or rows[-1]["mean_steps"] < best["mean_steps"]):
            best = rows[-1]
    _, mean_entropy = calibrate_exit_policy([logits], [y], 0.0, 1.0, score)      # the final ē_t: all samples
    if best is None:        # nothing keeps the accuracy: never exit early (thresholds above any score)
        policy = ExitPolicy(torch.full_like(mean_entropy, 2.0).cpu(), score)
        best = {"alpha": None, "beta": None, "accuracy": fixed, "mean_steps": float(logits.shape[0]), "losses": 0}
    else:
        policy = ExitPolicy(thresholds_from_entropy(mean_entropy, best["alpha"], best["beta"]).cpu(), score)
    info = {"alpha": best["alpha"], "beta": best["beta"], "tolerance_pp": tolerance, "folds": folds,
            "criterion": criterion,
            "held_out_samples": int(held_y.numel()), "held_out_fixed_T_accuracy": fixed,
            "held_out_accuracy": best["accuracy"], "held_out_mean_steps": best["mean_steps"],
            "held_out_losses": best["losses"], "candidates": rows,
            "mean_correct_entropy": [float(v) for v in mean_entropy]}
    return policy, info
