"""Readouts: turn [T, B, ...] activity into per-sample logits [B, classes]."""
from __future__ import annotations

import torch
from torch import nn

from ..core.neurons import LIFParams
from ..core.multistep import scan
from ..core.units import DEFAULT_DT, check_dt
from .bounded import Bounded
from .discretisation_cache import layer_ssm

REDUCTIONS = ("mean", "sum", "last", "max")


def reduce_time(x: torch.Tensor, mode: str) -> torch.Tensor:
    """Reduce the time axis (dim 0) of [T, B, ...] by ``mean``, ``sum``, ``last`` or ``max``."""
    if mode == "mean":
        return x.mean(0)
    if mode == "sum":
        return x.sum(0)
    if mode == "last":
        return x[-1]
    if mode == "max":
        return x.max(0).values
    raise ValueError(f"unknown time reduction {mode!r}; choose one of {REDUCTIONS}")


class TimeReduce(nn.Module):
    def __init__(self, mode: str = "mean"):
        super().__init__()
        reduce_time(torch.zeros(1, 1), mode)  # validate early
        self.mode = mode

    def forward(self, x):
        return reduce_time(x, self.mode)

    def extra_repr(self):
        return f"mode={self.mode}"


class LeakyIntegrator(nn.Module):
    """Non-spiking leaky readout τ dv/dt = −v + I (ZOH at ``dt``); returns the membrane trace [T, B, *F]."""

    def __init__(self, shape, *, tau: float = 20e-3, tau_range=(1e-3, 1.0), dt: float = DEFAULT_DT,
                 method: str = "zoh", learn_tau: bool = True):
        super().__init__()
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.dt, self.method = check_dt(dt), method
        self.tau = Bounded(tau, *tau_range, shape=self.shape, log=True, learnable=learn_tau)

    def ssm(self, dt=None):
        # threshold is irrelevant: spiking is disabled below
        return LIFParams(tau=self.tau()).discretise(dt or self.dt, self.method)

    def forward(self, current: torch.Tensor, ssm=None) -> torch.Tensor:
        out = scan(current, ssm if ssm is not None else layer_ssm(self, current), reset="none",
                   spike_fn=lambda v, th: torch.zeros_like(v), return_states=True, backend="reference")
        return out.states[..., 0]


class SoftmaxSum(nn.Module):
    """The SHD readout: Σ_t softmax(z_t). With ``log=True`` (default) returns log of the time-average, a proper
    log-probability that cross-entropy accepts unchanged; argmax equals that of the plain sum."""

    def __init__(self, log: bool = True):
        super().__init__()
        self.log = log

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(z, dim=-1)
        return torch.log(p.mean(0).clamp_min(1e-30)) if self.log else p.sum(0)
