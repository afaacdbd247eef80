"""Temporal (latency / TTFS quantiser with residual) and hybrid codes of the hybrid-coding spec (§3.2–3.4).

Temporal, T planes:  θ_t = 1 − (t+1)/T;  a pixel with m = min(⌊T x⌋, T−1) fires once at t* = T−1−m.
The last plane (θ = 0) is all ones and carries no information: ``last_plane="ones"`` keeps it (as the
authors' code), ``"drop"`` removes it (steps = T−1).

Hybrid, T steps:  X_0 = x (analog, bit for bit);  for t = 1..T−1  θ_t = 1 − t/T;  a pixel with
m′ = min(⌊T x⌋, T−1) ≥ 1 fires once at t* = T − m′; pixels with x < 1/T never fire.

Integer mode (default) decides every firing test on 8-bit pixels p = round(255·x) exactly:
temporal fires at t when T·p ≥ 255·(T−t−1), hybrid when T·p ≥ 255·(T−t), so thresholds that land exactly
on a pixel value (T dividing 255) cannot flip with float rounding.
"""
from __future__ import annotations

import torch

from .base import Encoder, check_static_batch, check_steps, to_pixels, to_unit_float
from .thresholds import (check_thresholds, equal_mass_hybrid_thresholds, equal_mass_input,
                         equal_mass_temporal_thresholds, one_hot_time, residual_fire, uniform_hybrid_thresholds,
                         uniform_temporal_thresholds)

LAST_PLANE = ("ones", "drop")


def quantised_level(x: torch.Tensor, T: int) -> torch.Tensor:
    """m = min(⌊T·p/255⌋, T−1) in integer arithmetic (int64, same shape as x)."""
    return torch.clamp((T * to_pixels(x)) // 255, max=T - 1)


class TemporalEncoder(Encoder):
    """Latency quantiser with residual (docs/pages/specs/hybrid_asnn.md §3.2); ``thresholds="equal_mass"`` is the §3.4 variant."""

    def __init__(self, T: int, last_plane: str = "ones", thresholds: str = "uniform", integer: bool = True):
        super().__init__()
        self.T = check_steps(T, 2, "TemporalEncoder")
        if last_plane not in LAST_PLANE:
            raise ValueError(f"last_plane must be one of {LAST_PLANE}, got {last_plane!r}")
        self.last_plane = last_plane
        self.thresholds = check_thresholds(thresholds)
        self.integer = bool(integer)
        self.steps = self.T if last_plane == "ones" else self.T - 1

    def threshold_values(self) -> torch.Tensor:
        if self.thresholds == "uniform":
            return uniform_temporal_thresholds(self.T)
        return equal_mass_temporal_thresholds(self.T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_static_batch(x, "TemporalEncoder")
        xf = to_unit_float(x)
        if self.thresholds == "uniform" and self.integer:
            m = quantised_level(x, self.T)
            planes = one_hot_time(self.T - 1 - m, self.T, torch.ones_like(m, dtype=torch.bool), xf.dtype)
            planes[-1] = 1.0  # θ_{T−1} = 0: every zeroed residual passes 0 ≥ 0
        else:
            source = equal_mass_input(xf) if self.thresholds == "equal_mass" else xf
            planes = residual_fire(source, self.threshold_values())
        return planes if self.last_plane == "ones" else planes[:-1]

    def decode(self, planes: torch.Tensor) -> torch.Tensor:
        """m/T from the first T−1 planes (silent pixels decode to 0): the T-level quantised input."""
        informative = planes[: self.T - 1]
        t = torch.arange(self.T - 1, device=planes.device, dtype=planes.dtype).reshape(-1, *([1] * (planes.dim() - 1)))
        fired = informative.sum(0)
        first = (informative * t).sum(0)
        return torch.where(fired > 0, (self.T - 1 - first) / self.T, torch.zeros_like(first))

    def extra_repr(self) -> str:
        return f"T={self.T}, steps={self.steps}, last_plane={self.last_plane}, thresholds={self.thresholds}, integer={self.integer}"


class HybridEncoder(Encoder):
    """Step 0 the raw analog input, steps 1..T−1 a latency code (docs/pages/specs/hybrid_asnn.md §3.3); output [T, B, ...].

    Models route step 0 through their own analog stem (see :class:`adaspike.models.HybridStem`).
    """

    def __init__(self, T: int, thresholds: str = "uniform", integer: bool = True):
        super().__init__()
        self.T = self.steps = check_steps(T, 2, "HybridEncoder")
        self.thresholds = check_thresholds(thresholds)
        self.integer = bool(integer)

    def threshold_values(self) -> torch.Tensor:
        if self.thresholds == "uniform":
            return uniform_hybrid_thresholds(self.T)
        return equal_mass_hybrid_thresholds(self.T)

    def spike_planes(self, x: torch.Tensor) -> torch.Tensor:
        """The T−1 binary planes of steps 1..T−1."""
        xf = to_unit_float(x)
        if self.thresholds == "uniform" and self.integer:
            m = quantised_level(x, self.T)
            # plane index i = t − 1 for the firing step t* = T − m
            return one_hot_time(self.T - m - 1, self.T - 1, m >= 1, xf.dtype)
        source = equal_mass_input(xf) if self.thresholds == "equal_mass" else xf
        return residual_fire(source, self.threshold_values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_static_batch(x, "HybridEncoder")
        analog = to_unit_float(x)
        return torch.cat([analog.unsqueeze(0), self.spike_planes(x)])

    def decode(self, frames: torch.Tensor) -> torch.Tensor:
        """m′/T from the spike steps 1..T−1 (pixels that never fire decode to 0)."""
        spikes = frames[1:]
        t = torch.arange(1, self.T, device=frames.device, dtype=frames.dtype).reshape(-1, *([1] * (frames.dim() - 1)))
        fired = spikes.sum(0)
        first = (spikes * t).sum(0)
        return torch.where(fired > 0, (self.T - first) / self.T, torch.zeros_like(first))

    def extra_repr(self) -> str:
        return f"T={self.T}, thresholds={self.thresholds}, integer={self.integer}"
