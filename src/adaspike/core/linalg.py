"""Matrix functions of small (n ≤ 2) state matrices, batched, in float64.

Distinct eigenvalues (real or a complex pair) use the Lagrange–Sylvester form
    f(M) = [f(λ1)(M − λ2 I) − f(λ2)(M − λ1 I)] / (λ1 − λ2);
repeated or defective eigenvalues (e.g. CuBa-LIF with τ_syn = τ_mem) use f(M) = f(λ)I + f'(λ)(M − λI).
"""
from __future__ import annotations

from typing import Callable

import torch

ScalarFn = Callable[[torch.Tensor], torch.Tensor]
_REPEATED_RTOL = 1e-7


def eigvals2(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues of a batch of 2×2 matrices as complex128 tensors."""
    tr = M[..., 0, 0] + M[..., 1, 1]
    det = M[..., 0, 0] * M[..., 1, 1] - M[..., 0, 1] * M[..., 1, 0]
    disc = torch.sqrt((tr * tr / 4 - det).to(torch.complex128))
    half = (tr / 2).to(torch.complex128)
    return half + disc, half - disc


def eigvals(M: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of [..., n, n] (n ≤ 2) stacked on the last axis, complex128."""
    n = M.shape[-1]
    if n == 1:
        return M[..., 0, :].to(torch.complex128)
    if n == 2:
        return torch.stack(eigvals2(M), dim=-1)
    return torch.linalg.eigvals(M.to(torch.float64))


def spectral_radius(M: torch.Tensor) -> torch.Tensor:
    return eigvals(M).abs().amax(dim=-1)


def matrix_function(M: torch.Tensor, f: ScalarFn, fprime: ScalarFn) -> torch.Tensor:
    """Apply a scalar function to [..., n, n] matrices with n ≤ 2 (float64 in, float64 out).

    ``f`` and ``fprime`` receive complex128 tensors of eigenvalues.
    """
    M = M.to(torch.float64)
    n = M.shape[-1]
    if n == 1:  # f of the one eigenvalue, with the batch shape M.shape[:-2] that f's parameters broadcast against
        return f(M[..., 0, 0].to(torch.complex128)).real[..., None, None]
    if n != 2:
        raise NotImplementedError(f"matrix functions are implemented for state size n <= 2, got n = {n}")
    eye = torch.eye(2, dtype=torch.float64).expand_as(M)
    l1, l2 = eigvals2(M)
    gap = l1 - l2
    scale = torch.maximum(l1.abs(), l2.abs()).clamp_min(1e-300)
    repeated = gap.abs() <= _REPEATED_RTOL * scale
    safe_gap = torch.where(repeated, torch.ones_like(gap), gap)
    Mc = M.to(torch.complex128)
    eyec = eye.to(torch.complex128)
    f1, f2 = f(l1), f(l2)
    distinct = (f1[..., None, None] * (Mc - l2[..., None, None] * eyec)
                - f2[..., None, None] * (Mc - l1[..., None, None] * eyec)) / safe_gap[..., None, None]
    lam = (l1 + l2) / 2
    rep = f(lam)[..., None, None] * eyec + fprime(lam)[..., None, None] * (Mc - lam[..., None, None] * eyec)
    return torch.where(repeated[..., None, None], rep, distinct).real


def _phi1(z: torch.Tensor) -> torch.Tensor:
    """(e^z − 1)/z with the removable singularity at 0 handled by a series."""
    small = z.abs() < 1e-4
    zs = torch.where(small, torch.ones_like(z), z)
    series = 1 + z / 2 + z * z / 6 + z * z * z / 24
    return torch.where(small, series, torch.expm1(zs) / zs if not zs.is_complex() else (torch.exp(zs) - 1) / zs)


def _phi1_prime(z: torch.Tensor) -> torch.Tensor:
    """d/dz (e^z − 1)/z = (z e^z − e^z + 1)/z², series 1/2 + z/3 + z²/8 near 0."""
    small = z.abs() < 1e-3
    zs = torch.where(small, torch.ones_like(z), z)
    exact = (zs * torch.exp(zs) - torch.exp(zs) + 1) / (zs * zs)
    return torch.where(small, 0.5 + z / 3 + z * z / 8, exact)


def expm_and_phi(A: torch.Tensor, dt) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (exp(A·dt), dt·φ1(A·dt)), the ZOH propagator and input integral, for n ≤ 2.

    ``dt`` is a float, or a float64 tensor that broadcasts against ``A``'s batch shape ``A.shape[:-2]`` (one step
    length per matrix, e.g. [U, 1, ...] against A [U, *P, n, n]).
    """
    H = matrix_function(A, lambda lam: torch.exp(lam * dt), lambda lam: dt * torch.exp(lam * dt))
    G = matrix_function(A, lambda lam: dt * _phi1(lam * dt), lambda lam: dt * dt * _phi1_prime(lam * dt))
    return H, G


# ---- the ZOH map between steps: H^ρ and g(H) = (H^ρ − I)(H − I)⁻¹ -----------------------------------------
# ρ is a float, or a float64 tensor that broadcasts against the eigenvalues' shape (one ratio per matrix)

_G_SERIES = 1e-3       # |λ − 1| below this uses the Taylor series of g'
REAL_TOL = 1e-12      # |Im λ| below this (relative) counts as a real eigenvalue


def power_fn(rho) -> ScalarFn:
    return lambda lam: torch.exp(rho * torch.log(lam))


def power_prime_fn(rho) -> ScalarFn:
    return lambda lam: rho * torch.exp((rho - 1) * torch.log(lam))


def g_fn(rho) -> ScalarFn:
    """g(λ) = (λ^ρ − 1)/(λ − 1) = expm1(ρ log1p(λ − 1))/(λ − 1), accurate near λ = 1, g(1) = ρ."""
    def g(lam: torch.Tensor) -> torch.Tensor:
        eps = lam - 1
        at_one = eps == 0
        safe = torch.where(at_one, torch.ones_like(eps), eps)
        value = torch.expm1(rho * torch.log1p(safe)) / safe
        return torch.where(at_one, rho * torch.ones_like(value), value)
    return g


def g_prime_fn(rho) -> ScalarFn:
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


def nonpositive_real_eigenvalues(H: torch.Tensor) -> torch.Tensor:
    """Mask [..., n] of eigenvalues of H that are real and ≤ 0 (no real fractional power H^ρ exists)."""
    lams = eigvals(H.to(torch.float64))
    scale = lams.abs().clamp_min(1e-300)
    return (lams.imag.abs() <= REAL_TOL * scale) & (lams.real <= 0)


def zoh_power(H: torch.Tensor, B: torch.Tensor, rho) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact change of step of a ZOH-discretised linear system: (H^ρ, g(H) B) in float64 (principal real
    branch), for ρ = Δ_new/Δ_old a float or a tensor broadcasting against H's batch shape.

    The caller checks :func:`nonpositive_real_eigenvalues` first (H^ρ does not exist for them).
    """
    H = H.to(torch.float64)
    H_T = matrix_function(H, power_fn(rho), power_prime_fn(rho))
    G = matrix_function(H, g_fn(rho), g_prime_fn(rho))
    return H_T, (G @ B.to(torch.float64)[..., None])[..., 0]
