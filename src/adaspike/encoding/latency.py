"""Latency (time-to-first-spike) coding with a linear time map: brighter pixels fire earlier, once."""
from __future__ import annotations

import torch

from .base import Encoder, check_static_batch, check_steps, to_unit_float


class LatencyEncoder(Encoder):
    """One spike per pixel at t* = round((1 − x)·(T − 1)); pixels with x ≤ ``min_value`` stay silent.

    This is the classic linear TTFS map (x = 1 → t = 0, x → 0 → t = T−1). The quantiser with residual of
    the hybrid-coding spec is :class:`TemporalEncoder`.
    """

    def __init__(self, T: int, min_value: float = 0.0):
        super().__init__()
        self.steps = check_steps(T, 1, "LatencyEncoder")
        self.min_value = float(min_value)

    def spike_times(self, x: torch.Tensor) -> torch.Tensor:
        x = to_unit_float(x).clamp(0.0, 1.0)
        return torch.round((1.0 - x) * (self.steps - 1)).to(torch.int64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_static_batch(x, "LatencyEncoder")
        xf = to_unit_float(x)
        times = self.spike_times(xf)
        t = torch.arange(self.steps, device=xf.device).reshape(-1, *([1] * xf.dim()))
        fires = (t == times.unsqueeze(0)) & (xf > self.min_value).unsqueeze(0)
        return fires.to(xf.dtype if xf.is_floating_point() else torch.float32)

    def extra_repr(self) -> str:
        return f"steps={self.steps}, min_value={self.min_value:g}"
