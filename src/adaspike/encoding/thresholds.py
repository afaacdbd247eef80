"""Threshold schedules of the quantising encoders and the generic residual firing loop.

Residual rule (the authors' code):  r_0 = x;  S_t = 1[r_t ≥ θ_t];  r_{t+1} = r_t·(1 − S_t),
so every pixel fires at most once, at the first step whose threshold it reaches.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

THRESHOLDS = ("uniform", "equal_mass")


def check_thresholds(kind: str) -> str:
    if kind not in THRESHOLDS:
        raise ValueError(f"thresholds must be one of {THRESHOLDS}, got {kind!r}")
    return kind


def uniform_temporal_thresholds(T: int) -> torch.Tensor:
    """θ_t = 1 − (t+1)/T for t = 0..T−1 (the last one is 0)."""
    return 1.0 - torch.arange(1, T + 1, dtype=torch.float64) / T


def equal_mass_temporal_thresholds(T: int) -> torch.Tensor:
    """θ_i = σ(Φ⁻¹(1 − (i+1)/T)) for i = 0..T−2 and θ_{T−1} = 0: each bin of σ(N(0,1)) holds 1/T of the mass."""
    q = 1.0 - torch.arange(1, T, dtype=torch.float64) / T
    return torch.cat([torch.sigmoid(torch.special.ndtri(q)), torch.zeros(1, dtype=torch.float64)])


def uniform_hybrid_thresholds(T: int) -> torch.Tensor:
    """θ_t = 1 − t/T for the spike steps t = 1..T−1 (returned in that order)."""
    return 1.0 - torch.arange(1, T, dtype=torch.float64) / T


def equal_mass_hybrid_thresholds(T: int) -> torch.Tensor:
    """θ_t = σ(Φ⁻¹(1 − t/T)) for t = 1..T−1 (library choice for the hybrid code)."""
    q = 1.0 - torch.arange(1, T, dtype=torch.float64) / T
    return torch.sigmoid(torch.special.ndtri(q))


def equal_mass_input(x: torch.Tensor) -> torch.Tensor:
    """x′ = σ(LayerNorm_{C,H,W}(x)) per sample, without affine parameters (the README's input map)."""
    return torch.sigmoid(F.layer_norm(x, x.shape[1:]))


def residual_fire(x: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """The literal float loop: planes [len(thresholds), *x.shape]; ties follow float rounding."""
    residual, planes = x, []
    for theta in thresholds.to(x.dtype).tolist():
        spike = (residual >= theta).to(x.dtype)
        residual = residual * (1.0 - spike)
        planes.append(spike)
    return torch.stack(planes)


def one_hot_time(times: torch.Tensor, steps: int, fires: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Planes [steps, *times.shape] with a 1 at t = times where ``fires``, else 0."""
    t = torch.arange(steps, device=times.device).reshape(-1, *([1] * times.dim()))
    return ((t == times.unsqueeze(0)) & fires.unsqueeze(0)).to(dtype)
