"""The per-neuron adaptation maps on the discrete state-space form (H, B), in float64.

ρ = Δ_T / Δ_S. Each map reads a continuous system off H_S under its own rule and re-discretises it at Δ_T:

    zoh       H_T = H_S^ρ = exp(ρ log H_S)            B_T = g(H_S) B_S,  g(λ) = (λ^ρ − 1)/(λ − 1), g(1) = ρ
    euler     H_T = I + ρ (H_S − I)                   B_T = ρ B_S
    bilinear  P = (1+ρ) I + (1−ρ) H_S,  H_T = P⁻¹[(1+ρ) H_S + (1−ρ) I],  B_T = 2ρ P⁻¹ B_S

Spike kicks K (and hence R_T = H_T K), thresholds and jumps are never changed. ρ = 1 is an exact copy.
Every map is a group in ρ: map(map(p, ρ1), ρ2) = map(p, ρ1 ρ2).
After every map (and after ``tau`` in ``retime_layer``), :func:`check_stability` compares each neuron's spectral
radius of H_T with H_S: new instabilities are refused or warned per ``unstable=``, inherited radii ≥ 1 warn.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Callable

import torch

from ..core.linalg import REAL_TOL, eigvals, nonpositive_real_eigenvalues, spectral_radius, zoh_power
from ..core.registry import Registry
from ..core.ssm import DiscreteSSM

_STABLE_SLACK = 1e-9


class RetimeError(ValueError):
    """The requested map does not exist, or would destabilise a neuron; the message names the layer."""


@dataclass(frozen=True)
class RetimeMap:
    """A registered map (H_S, B_S, ρ, name) → (H_T, B_T), in float64.

    ``level_inputs``: the map assumes inputs held constant over a step, so ``input_scale="auto"`` scales inputs
    by 1/ρ. ``hint``: appended to a refused instability. ``after``: extra checks on H_T (warnings only).
    """

    name: str
    apply: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    level_inputs: bool = True
    hint: str = "; use method='zoh', which maps every radius r to exactly r^ρ"
    after: Callable[[torch.Tensor, float, str, str, int], None] | None = None


MAPS: Registry[RetimeMap] = Registry("map")


def register_map(name: str, *, level_inputs: bool = True, hint: str | None = None, after=None):
    """Function decorator: a new retime map, usable by ``retime(method=name)``, the CLI and the study."""

    def wrap(fn):
        MAPS.add(name, RetimeMap(name, fn, level_inputs, hint if hint is not None else RetimeMap.hint, after))
        return fn

    return wrap


def check_ratio(rho: float) -> float:
    rho = float(rho)
    if not math.isfinite(rho) or rho <= 0:
        raise ValueError(f"the time-step ratio ρ = Δ_T/Δ_S must be a finite number > 0, got {rho!r}")
    return rho


# ---- the maps on (H, B) ---------------------------------------------------------------------------------------

def _describe(lams: torch.Tensor, mask: torch.Tensor, limit: int = 4) -> str:
    bad = lams[mask.any(-1)] if lams.dim() > 1 else lams[mask]
    return ", ".join(f"{complex(v):.6g}" for v in bad.flatten()[:limit])


@register_map("zoh", hint="")
def zoh_map(H: torch.Tensor, B: torch.Tensor, rho: float, name: str = "neuron") -> tuple[torch.Tensor, torch.Tensor]:
    """Integral/ZOH map: H_T = H_S^ρ (principal real branch), B_T = g(H_S) B_S. Raises on λ ≤ 0 real."""
    H = H.to(torch.float64)
    negative_real = nonpositive_real_eigenvalues(H)
    if bool(negative_real.any()):
        raise RetimeError(
            f"{name}: method 'zoh' needs a real fractional power H^ρ, but H has a zero or negative real "
            f"eigenvalue ({_describe(eigvals(H), negative_real)}); use method='bilinear' or 'euler'")
    return zoh_power(H, B, rho)


def euler_map(H: torch.Tensor, B: torch.Tensor, rho: float, name: str = "neuron",
              unstable: str = "raise") -> tuple[torch.Tensor, torch.Tensor]:
    """Euler map: H_T = I + ρ(H_S − I), B_T = ρ B_S; checks stability relative to the source.

    The check is :func:`check_stability`, the one every retime method goes through; ``adapt_ssm`` runs it once
    after each map and passes ``unstable="ignore"`` here, so that it does not run twice.
    """
    H = H.to(torch.float64)
    eye = torch.eye(H.shape[-1], dtype=torch.float64)
    H_T = eye + rho * (H - eye)
    check_stability(H, H_T, rho, name=name, method="euler", mode=unstable)
    _warn_sign_flips(H_T, rho, name, unstable, stacklevel=3)
    return H_T, rho * B.to(torch.float64)


def _warn_sign_flips(H_T: torch.Tensor, rho: float, name: str, unstable: str, stacklevel: int) -> None:
    lams = eigvals(H_T)
    flipped = (lams.imag.abs() <= REAL_TOL * lams.abs().clamp_min(1e-300)) & (lams.real < 0)
    if unstable != "ignore" and bool(flipped.any()):
        # past ρ = 1/(1 − λ) a real mode changes sign every step: stable maybe, but no longer a decay
        warnings.warn(f"{name}: method 'euler' at ρ = {rho:g} gives negative real eigenvalues "
                      f"({_describe(lams, flipped)}): the state oscillates in sign", RuntimeWarning,
                      stacklevel=stacklevel)


@register_map("bilinear")
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


# adapt_ssm runs the stability check once after every map, so the registered Euler map skips its own
register_map("euler", hint=" (Euler needs ρ < 2/(1−λ) per real eigenvalue λ); use method='zoh' or 'bilinear'",
             after=_warn_sign_flips)(lambda H, B, rho, name: euler_map(H, B, rho, name, unstable="ignore"))

UNSTABLE_MODES = ("raise", "warn", "ignore")

# 'tau' is not a map of (H, B) (retime.neurons rescales time constants), but it is checked the same way
_TAU_HINT = (" (method 'tau' scales only the decays α, β and keeps the couplings a, b, so the radius need not "
             "follow r^ρ); use method='zoh', which maps every radius r to exactly r^ρ")


def _hint(method: str) -> str:
    return MAPS[method].hint if method in MAPS else _TAU_HINT if method == "tau" else ""


def check_stability(H_S: torch.Tensor, H_T: torch.Tensor, rho: float, *, name: str = "neuron",
                    method: str = "zoh", mode: str = "raise", stacklevel: int = 3) -> None:
    """The stability check after every retime map (``tau``, ``zoh``, ``euler``, ``bilinear``), per neuron.

    Relative to the source: a source with spectral radius r maps exactly to r^ρ, so only target radii ≥ 1 above
    max(r_S, r_S^ρ) are *new* instabilities; ``mode`` (``unstable=``) ``"raise"`` refuses them with a
    :class:`RetimeError`, ``"warn"`` warns. Independently of that, a target that has neurons with radius ≥ 1 at
    all (e.g. a sparch adLIF with a < 0 already at r ≥ 1 before the map) always gets a ``RuntimeWarning``, never
    an error: the message says how many neurons of which layer and the largest radius. Radii equal to 1 within
    1e-9 in both source and target (pure integrators such as IF, marginal by construction) are not counted.
    ``"ignore"`` skips everything.
    """
    if mode not in UNSTABLE_MODES:
        raise ValueError(f"unstable must be one of {UNSTABLE_MODES}, got {mode!r}")
    if mode == "ignore":
        return
    r_S = spectral_radius(H_S.detach().to(torch.float64)).reshape(-1)
    r_T = spectral_radius(H_T.detach().to(torch.float64)).reshape(-1)
    r_S = r_S.expand_as(r_T) if r_S.numel() == 1 else r_S
    total = r_T.numel()
    marginal = ((r_T - 1).abs() <= _STABLE_SLACK) & ((r_S - 1).abs() <= _STABLE_SLACK)
    above = (r_T >= 1) & ~marginal
    new = (r_T >= 1) & (r_T > torch.maximum(r_S, r_S ** rho) + _STABLE_SLACK)
    if bool(new.any()):
        i = int(new.nonzero()[0, 0])
        message = (f"{name}: method '{method}' at ρ = {rho:g} makes {int(new.sum())} of {total} neuron(s) unstable "
                   f"(largest |eig(H_T)| = {float(r_T[new].max()):.6g}), e.g. neuron {i}: |eig(H_T)| = "
                   f"{float(r_T[i]):.6g} ≥ 1 from source radius {float(r_S[i]):.6g}{_hint(method)}")
        if int(above.sum()) > int(new.sum()):
            message += f"; in all {int(above.sum())} of {total} neuron(s) have radius ≥ 1"
        if mode == "raise":
            raise RetimeError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=stacklevel)
        return
    if bool(above.any()):
        source_above = int(((r_S >= 1) & ~marginal).sum())
        warnings.warn(
            f"{name}: after method '{method}' at ρ = {rho:g}, {int(above.sum())} of {total} neuron(s) have spectral "
            f"radius |eig(H_T)| ≥ 1 (largest {float(r_T.max()):.6g}), so they amplify their state over time. Not "
            f"refused: the source already had {source_above} neuron(s) with radius ≥ 1 (largest "
            f"{float(r_S.max()):.6g}), and no target radius exceeds max(r_S, r_S^ρ)", RuntimeWarning,
            stacklevel=stacklevel)


def adapt_ssm(ssm: DiscreteSSM, rho: float, method: str, *, name: str = "neuron",
              unstable: str = "raise") -> DiscreteSSM:
    """Map a per-step neuron from Δ_S = ``ssm.dt`` to Δ_T = ρ Δ_S; kicks and threshold unchanged (R_T = H_T K).

    Returns float64 parameters. ``method`` is ``zoh``, ``euler`` or ``bilinear``; ρ = 1 returns an exact copy.
    Every map is followed by :func:`check_stability` under ``unstable`` (``raise``, ``warn`` or ``ignore``).
    """
    if unstable not in UNSTABLE_MODES:
        raise ValueError(f"unstable must be one of {UNSTABLE_MODES}, got {unstable!r}")
    rho = check_ratio(rho)
    if ssm.time_varying:
        raise RetimeError(f"{name}: cannot retime a time-varying neuron (per-step H of shape {tuple(ssm.H.shape)})")
    if ssm.state_size > 2:
        raise RetimeError(f"{name}: retime supports state size n ≤ 2, got n = {ssm.state_size}")
    if method not in MAPS:
        raise ValueError(f"{name}: {MAPS.unknown(method)}")
    detached = ssm.to(dtype=torch.float64)
    detached = replace(detached, H=detached.H.detach().clone(), B=detached.B.detach().clone(),
                       kick_reset=detached.kick_reset.detach().clone(),
                       kick_spike=detached.kick_spike.detach().clone(),
                       threshold=detached.threshold.detach().clone())
    if rho == 1.0:
        return detached
    entry = MAPS[method]
    H_T, B_T = entry.apply(detached.H, detached.B, rho, name)
    check_stability(detached.H, H_T, rho, name=name, method=method, mode=unstable)
    if entry.after is not None:
        entry.after(H_T, rho, name, unstable, 3)
    return replace(detached, H=H_T, B=B_T, dt=ssm.dt * rho, method=f"retime-{method}")
