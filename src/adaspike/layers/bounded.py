"""Learnable scalars kept inside a valid range by parameterisation (never by clamping after the step)."""
from __future__ import annotations

import math

import torch
from torch import nn


class Bounded(nn.Module):
    """value = low + (high − low)·σ(raw) (linear) or low·(high/low)^σ(raw) (log scale, for time constants).

    ``init`` may be a float or a tensor of the parameter shape; with ``learnable=False`` the value is a buffer.
    """

    def __init__(self, init, low: float, high: float, shape=(), log: bool = False, learnable: bool = True):
        super().__init__()
        if not low < high:
            raise ValueError(f"empty range [{low}, {high}]")
        if log and low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        self.low, self.high, self.log = float(low), float(high), bool(log)
        init = torch.as_tensor(init, dtype=torch.float32).expand(shape).clone()
        if not bool(torch.isfinite(init).all()) or bool(((init < low) | (init > high)).any()):
            raise ValueError(f"initial value {init.flatten()[:4].tolist()} outside [{low}, {high}]")
        raw = self._to_raw(init)
        if learnable:
            self.raw = nn.Parameter(raw)
        else:
            self.register_buffer("raw", raw)

    def _span(self):
        return (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)

    def _to_raw(self, value: torch.Tensor) -> torch.Tensor:
        lo, hi = self._span()
        v = torch.log(value) if self.log else value
        frac = ((v - lo) / (hi - lo)).clamp(1e-6, 1 - 1e-6)
        return torch.logit(frac)

    def forward(self) -> torch.Tensor:
        lo, hi = self._span()
        v = lo + (hi - lo) * torch.sigmoid(self.raw)
        v = torch.exp(v) if self.log else v
        return v.clamp(self.low, self.high)  # float rounding of exp(log(low)) may step just outside

    def extra_repr(self) -> str:
        return f"range=[{self.low:g}, {self.high:g}], log={self.log}, shape={tuple(self.raw.shape)}"
