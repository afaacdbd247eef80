"""Encoders: static batches [B, C, H, W] → time-major [T, B, C, H, W] (direct, rate, latency, temporal, hybrid)."""
from __future__ import annotations

from .base import Encoder, to_pixels, to_unit_float
from .direct import DirectEncoder
from .latency import LatencyEncoder
from .rate import RateEncoder
from .temporal import HybridEncoder, TemporalEncoder, quantised_level
from .thresholds import (equal_mass_hybrid_thresholds, equal_mass_input, equal_mass_temporal_thresholds,
                         uniform_hybrid_thresholds, uniform_temporal_thresholds)

ENCODINGS = ("direct", "rate", "latency", "temporal", "temporal-ones", "hybrid", "temporal-em", "hybrid-em")


def make_encoder(name: str, steps: int, *, mean=None, std=None, seed: int | None = 0) -> Encoder:
    """An encoder whose output has exactly ``steps`` frames.

    ``temporal`` uses T = steps + 1 levels and drops the uninformative all-ones plane; ``temporal-ones``
    reproduces the authors' code (T = steps, last plane all ones); ``-em`` variants use equal-mass thresholds.
    """
    if name == "direct":
        return DirectEncoder(steps, mean, std)
    if name == "rate":
        return RateEncoder(steps, seed=seed)
    if name == "latency":
        return LatencyEncoder(steps)
    if name == "temporal":
        return TemporalEncoder(steps + 1, last_plane="drop")
    if name == "temporal-ones":
        return TemporalEncoder(steps, last_plane="ones")
    if name == "temporal-em":
        return TemporalEncoder(steps + 1, last_plane="drop", thresholds="equal_mass")
    if name == "hybrid":
        return HybridEncoder(steps)
    if name == "hybrid-em":
        return HybridEncoder(steps, thresholds="equal_mass")
    raise ValueError(f"unknown encoding {name!r}; choose one of {ENCODINGS}")


__all__ = [
    "DirectEncoder", "ENCODINGS", "Encoder", "HybridEncoder", "LatencyEncoder", "RateEncoder", "TemporalEncoder",
    "equal_mass_hybrid_thresholds", "equal_mass_input", "equal_mass_temporal_thresholds", "make_encoder",
    "quantised_level", "to_pixels", "to_unit_float", "uniform_hybrid_thresholds", "uniform_temporal_thresholds",
]
