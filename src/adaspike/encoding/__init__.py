"""Encoders: static batches [B, C, H, W] → time-major [T, B, C, H, W] (direct, rate, latency, temporal, hybrid).

"hybrid-coding spec §N" is ``docs/pages/specs/hybrid_asnn.md``.
"""
from __future__ import annotations

from ..core.registry import Registry
from .base import Encoder, to_pixels, to_unit_float
from .direct import DirectEncoder
from .latency import LatencyEncoder
from .rate import RateEncoder
from .temporal import HybridEncoder, TemporalEncoder, quantised_level
from .thresholds import (equal_mass_hybrid_thresholds, equal_mass_input, equal_mass_temporal_thresholds,
                         uniform_hybrid_thresholds, uniform_temporal_thresholds)

# Each encoding name → (factory(steps, mean, std, seed), what it is). Every factory returns exactly ``steps``
# frames, so the study compares codes at equal T. "temporal" is the spec's/authors' code; "temporal-drop" is
# the library variant that spends the uninformative all-ones plane on one more quantisation level.
ENCODERS = Registry("encoding", {
    "direct": (lambda T, mean, std, seed: DirectEncoder(T, mean, std),
               "the same (normalised) analog frame at every step"),
    "rate": (lambda T, mean, std, seed: RateEncoder(T, seed=seed), "Bernoulli spikes with probability x per step"),
    "latency": (lambda T, mean, std, seed: LatencyEncoder(T), "linear time-to-first-spike, one spike per pixel"),
    "temporal": (lambda T, mean, std, seed: TemporalEncoder(T, last_plane="ones"),
                 "faithful latency quantiser (hybrid-coding spec §3.2, authors' code): T levels, T planes, last plane all ones"),
    "temporal-drop": (lambda T, mean, std, seed: TemporalEncoder(T + 1, last_plane="drop"),
                      "library variant: T+1 levels, the all-ones plane dropped, T informative planes"),
    "temporal-em": (lambda T, mean, std, seed: TemporalEncoder(T, last_plane="ones", thresholds="equal_mass"),
                    "faithful temporal code with equal-mass thresholds (hybrid-coding spec §3.4)"),
    "hybrid": (lambda T, mean, std, seed: HybridEncoder(T),
               "analog step 0 then T−1 latency planes (hybrid-coding spec §3.3)"),
    "hybrid-em": (lambda T, mean, std, seed: HybridEncoder(T, thresholds="equal_mass"),
                  "hybrid code with equal-mass thresholds (hybrid-coding spec §3.4)"),
})
ENCODINGS = tuple(ENCODERS)


def make_encoder(name: str, steps: int, *, mean=None, std=None, seed: int | None = 0) -> Encoder:
    """An encoder whose output has exactly ``steps`` frames (``ENCODERS[name][1]`` says what each code is).

    ``mean``/``std`` normalise the direct code only; ``seed`` seeds the rate code's noise.
    """
    return ENCODERS[name][0](steps, mean, std, seed)


__all__ = [
    "DirectEncoder", "ENCODERS", "ENCODINGS", "Encoder", "HybridEncoder", "LatencyEncoder", "RateEncoder", "TemporalEncoder",
    "equal_mass_hybrid_thresholds", "equal_mass_input", "equal_mass_temporal_thresholds", "make_encoder",
    "quantised_level", "to_pixels", "to_unit_float", "uniform_hybrid_thresholds", "uniform_temporal_thresholds",
]
