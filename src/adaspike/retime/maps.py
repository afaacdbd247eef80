"""The per-neuron adaptation maps on the discrete state-space form (H, B), in float64.

ρ = Δ_T / Δ_S. Each map reads a continuous system off H_S under its own rule and re-discretises it at Δ_T:

    zoh       H_T = H_S^ρ = exp(ρ log H_S)            B_T = g(H_S) B_S,  g(λ) = (λ^ρ − 1)/(λ − 1), g(1) = ρ
    euler     H_T = I + ρ (H_S − I)                   B_T = ρ B_S
    bilinear  P = (1+ρ) I + (1−ρ) H_S,  H_T = P⁻¹[(1+ρ) H_S + (1−ρ) I],  B_T = 2ρ P⁻¹ B_S

Spike kicks K (and hence R_T = H_T K), thresholds and jumps are never changed. ρ = 1 is an exact copy.
Every map is a group in ρ: map(map(p, ρ1), ρ2) = map(p, ρ1 ρ2).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import replace

import torch

from ..core.linalg import eigvals, matrix_function, spectral_radius
from ..core.ssm import DiscreteSSM

MAPS = ("zoh", "euler", "bilinear")
_REAL_TOL = 1e-12      # |Im λ| below this (relative) counts as a real eigenvalue
_G_SERIES = 1e-3       # |λ − 1| below this uses the Taylor series of g'
_STABLE_SLACK = 1e-9


class RetimeError(ValueError):
    """The requested map does not exist, or would destabilise a neuron; the message names the layer."""


def check_ratio(rho: float) -> float:
    rho = float(rho)
    if not math.isfinite(rho) or rho <= 0:
        raise ValueError(f"the time-step ratio ρ = Δ_T/Δ_S must be a finite number > 0, got {rho!r}")
    return rho


# ---- scalar functions of eigenvalues (complex128 in, complex128 out) ------------------------------------------

def _power(rho: float):
    return lambda lam: torch.exp(rho * torch.log(lam))


def _power_prime(rho: float):
    return lambda lam: rho * torch.exp((rho - 1) * torch.log(lam))


def _g(rho: float):
    """g(λ) = (λ^ρ − 1)/(λ − 1) = expm1(ρ log1p(λ − 1))/(λ − 1), accurate near λ = 1, g(1) = ρ."""
    def g(lam: torch.Tensor) -> torch.Tensor:
        eps = lam - 1
        at_one = eps == 0
        safe = torch.where(at_one, torch.ones_like(eps), eps)
        value = torch.expm1(rho * torch.log1p(safe)) / safe
        return torch.where(at_one, torch.full_like(value, rho), value)
    return g


def _g_prime(rho: float):
    """g'(λ); near λ = 1 its series Σ_{k≥2} (k−1) C(ρ, k) ε^{k−2} (g'(1) = ρ(ρ−1)/2) avoids cancellation."""
    c2 = rho * (rho - 1) / 2
    c3 = c2 * (rho - 2) / 3 * 2
    c4 = c2 * (rho - 2) * (rho - 3) / 12 * 3
    c5 = c2 * (rho - 2) * (rho - 3) * (rho - 4) / 60 * 4

    def gp(lam: torch.Tensor) -> torch.Tensor:
        eps = lam - 1
        small = eps.abs() < _G_SERIES
        safe = torch.where(small, torch.ones_like(eps), eps)
        power = torch.exp(rho * torch.log1p(safe))
        exact = (rho * power / (1 + safe) * safe - torch.expm1(rho * torch.log1p(safe))) / (safe * safe)
        series = c2 + eps * (c3 + eps * (c4 + eps * c5))
        return torch.where(small, series, exact)
    return gp


# ---- the maps on (H, B) ---------------------------------------------------------------------------------------

def _describe(lams: torch.Tensor, mask: torch.Tensor, limit: int = 4) -> str:
    bad = lams[mask.any(-1)] if lams.dim() > 1 else lams[mask]
    return ", ".join(f"{complex(v):.6g}" for v in bad.flatten()[:limit])


def zoh_map(H: torch.Tensor, B: torch.Tensor, rho: float, name: str = "neuron") -> tuple[torch.Tensor, torch.Tensor]:
    """Integral/ZOH map: H_T = H_S^ρ (principal real branch), B_T = g(H_S) B_S. Raises on λ ≤ 0 real."""
    H = H.to(torch.float64)
    lams = eigvals(H)
    scale = lams.abs().clamp_min(1e-300)
    negative_real = (lams.imag.abs() <= _REAL_TOL * scale) & (lams.real <= 0)
    if bool(negative_real.any()):
        raise RetimeError(
            f"{name}: method 'zoh' needs a real fractional power H^ρ, but H has a zero or negative real "
            f"eigenvalue ({_describe(lams, negative_real)}); use method='bilinear' or 'euler'")
    H_T = matrix_function(H, _power(rho), _power_prime(rho))
    G = matrix_function(H, _g(rho), _g_prime(rho))
    return H_T, (G @ B.to(torch.float64)[..., None])[..., 0]


def euler_map(H: torch.Tensor, B: torch.Tensor, rho: float, name: str = "neuron",
              unstable: str = "raise") -> tuple[torch.Tensor, torch.Tensor]:
    """Euler map: H_T = I + ρ(H_S − I), B_T = ρ B_S; checks stability relative to the source."""
    H = H.to(torch.float64)
    eye = torch.eye(H.shape[-1], dtype=torch.float64)
    H_T = eye + rho * (H - eye)
    _check_stability(H, H_T, rho, name, "euler", unstable)
    lams = eigvals(H_T)
    flipped = (lams.imag.abs() <= _REAL_TOL * lams.abs().clamp_min(1e-300)) & (lams.real < 0)
    if unstable != "ignore" and bool(flipped.any()):
        # past ρ = 1/(1 − λ) a real mode changes sign every step: stable maybe, but no longer a decay
        warnings.warn(f"{name}: method 'euler' at ρ = {rho:g} gives negative real eigenvalues "
                      f"({_describe(lams, flipped)}): the state oscillates in sign", RuntimeWarning, stacklevel=3)
    return H_T, rho * B.to(torch.float64)


def bilinear_map(H: torch.Tensor, B: torch.Tensor, rho: float, name: str = "neuron") -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear (Tustin) map via the Cayley transform; needs only that −1 is not an eigenvalue of H_S."""
    H = H.to(torch.float64)
    n = H.shape[-1]
    eye = torch.eye(n, dtype=torch.float64).expand_as(H)
    lams = eigvals(H)
    near_minus_one = (lams + 1).abs() <= 1e-9
    if bool(near_minus_one.any()):
        raise RetimeError(f"{name}: method 'bilinear' is undefined because H has the eigenvalue −1 "
                          f"({_describe(lams, near_minus_one)})")
    P = (1 + rho) * eye + (1 - rho) * H
    singular = eigvals(P).abs().amin(-1) <= 1e-12 * (1 + rho)
    if bool(singular.any()):
        raise RetimeError(f"{name}: method 'bilinear' at ρ = {rho:g} hits a singular (1+ρ)I + (1−ρ)H "
                          f"(H eigenvalue −(1+ρ)/(1−ρ) = {-(1 + rho) / (1 - rho):.6g}); the source is unstable")
    H_T = torch.linalg.solve(P, (1 + rho) * H + (1 - rho) * eye)
    B_T = 2 * rho * torch.linalg.solve(P, B.to(torch.float64)[..., None])[..., 0]
    return H_T, B_T


def _check_stability(H_S: torch.Tensor, H_T: torch.Tensor, rho: float, name: str, method: str, mode: str) -> None:
    """Flag neurons with spectral radius ≥ 1 after the map that exceed what the exact map would give.

    Relative to the source: a source with radius r maps exactly to r^ρ, so only radii above max(1, r, r^ρ) are
    new instabilities (sparch adLIF with a < 0 can start at r ≥ 1).
    """
    if mode == "ignore":
        return
    r_S, r_T = spectral_radius(H_S), spectral_radius(H_T)
    bad = (r_T >= 1) & (r_T > torch.maximum(r_S, r_S ** rho) + _STABLE_SLACK)
    if bool(bad.any()):
        idx = bad.nonzero()[0].tolist()
        message = (f"{name}: method '{method}' at ρ = {rho:g} makes {int(bad.sum())} neuron(s) unstable, e.g. "
                   f"neuron {idx}: |eig(H_T)| = {float(r_T[bad][0]):.6g} ≥ 1 from source radius "
                   f"{float(r_S[bad][0]):.6g} (Euler needs ρ < 2/(1−λ) per real eigenvalue λ); "
                   f"use method='zoh' or 'bilinear'")
        if mode == "warn":
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        else:
            raise RetimeError(message)


def adapt_ssm(ssm: DiscreteSSM, rho: float, method: str, *, name: str = "neuron",
              unstable: str = "raise") -> DiscreteSSM:
    """Map a per-step neuron from Δ_S = ``ssm.dt`` to Δ_T = ρ Δ_S; kicks and threshold unchanged (R_T = H_T K).

    Returns float64 parameters. ``method`` is ``zoh``, ``euler`` or ``bilinear``; ρ = 1 returns an exact copy.
    """
    rho = check_ratio(rho)
    if ssm.time_varying:
        raise RetimeError(f"{name}: cannot retime a time-varying neuron (per-step H of shape {tuple(ssm.H.shape)})")
    if ssm.state_size > 2:
        raise RetimeError(f"{name}: retime supports state size n ≤ 2, got n = {ssm.state_size}")
    if method not in MAPS:
        raise ValueError(f"unknown map {method!r} for {name}; choose one of {MAPS}")
    detached = ssm.to(dtype=torch.float64)
    detached = replace(detached, H=detached.H.detach().clone(), B=detached.B.detach().clone(),
                       kick_reset=detached.kick_reset.detach().clone(),
                       kick_spike=detached.kick_spike.detach().clone(),
                       threshold=detached.threshold.detach().clone())
    if rho == 1.0:
        return detached
    if method == "zoh":
        H_T, B_T = zoh_map(detached.H, detached.B, rho, name)
    elif method == "euler":
        H_T, B_T = euler_map(detached.H, detached.B, rho, name, unstable)
    else:
        H_T, B_T = bilinear_map(detached.H, detached.B, rho, name)
    return replace(detached, H=H_T, B=B_T, dt=ssm.dt * rho, method=f"retime-{method}")
