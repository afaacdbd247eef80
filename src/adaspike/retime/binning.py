"""Binning events at any step with exactly nesting bins (spec retime.md §7).

Times are converted to integer microseconds (after a float64 cast: SHD stores float16 seconds) and binned with
j = t // Δ, n = ⌈t_max/Δ⌉, dropping events with t ≥ t_max; so k consecutive bins at Δ sum to one bin at kΔ.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..data.events import bin_events, dt_to_us, seconds_to_us


def event_times_us(events: np.ndarray) -> np.ndarray:
    """Integer-µs times of a structured event array (integer ``t`` is µs, floating ``t`` is seconds)."""
    t = events["t"]
    return t.astype(np.int64) if t.dtype.kind in "iu" else seconds_to_us(t)


def rebin(events: np.ndarray, dt: float, t_max: float | None = None, *, sensor_shape: Sequence[int] | None = None,
          pool: int = 1) -> torch.Tensor:
    """Dense float32 counts [T, *features] at step ``dt`` seconds (T = ⌈t_max/dt⌉ or up to the last event).

    ``events`` is a structured array with a ``t`` field and ``unit`` (audio) or ``x, y, p`` (camera) fields.
    """
    t_us = event_times_us(events)
    if t_us.size and t_us.min() < 0:
        raise ValueError(f"event times must be >= 0, got minimum {t_us.min()} µs")
    if events["t"].dtype.kind not in "iu":
        events = _with_us_times(events, t_us)
    dt_us = dt_to_us(dt)
    t_max_us = None if t_max is None else dt_to_us(t_max)
    counts = bin_events(events, dt_us, t_max_us=t_max_us, sensor_shape=sensor_shape, pool=pool)
    return torch.from_numpy(counts.astype(np.float32))


def _with_us_times(events: np.ndarray, t_us: np.ndarray) -> np.ndarray:
    fields = [(name, events.dtype[name]) if name != "t" else ("t", np.int64) for name in events.dtype.names]
    out = np.empty(len(events), dtype=fields)
    for name in events.dtype.names:
        out[name] = t_us if name == "t" else events[name]
    return out
