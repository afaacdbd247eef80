"""Readouts: turn [T, B, ...] activity into per-sample logits [B, classes]."""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..core.clock import active_clock, constant_step, layer_steps, substep_plan
from ..core.neurons import LIFParams
from ..core.spikes import BinarySpike
from ..core.multistep import check_time_major, scan
from ..core.units import DEFAULT_DT, check_dt
from .bounded import Bounded
from .discretisation_cache import layer_ssm

REDUCTIONS = ("mean", "sum", "last", "max")
_NEVER = 1e30  # a finite threshold beyond any membrane


def reduce_time(x: torch.Tensor, mode: str) -> torch.Tensor:
    """Reduce the time axis (dim 0) of [T, B, ...] by ``mean``, ``sum``, ``last`` or ``max``.

    Under an active clock of irregular steps (``adaspike.core.clock``) the mean weights each step by its length
    (a mean over time, not over steps); a sum becomes Σ_t (dt_t / Δ_S)·x_t, the sum the model was trained to
    read at its step Δ_S (the clock's ``source_dt``), like ``retime``'s readout scaling.
    """
    active = active_clock()
    if active is not None and mode in ("mean", "sum") and x.dim() >= 2:
        weighted = _clock_reduction(x, mode, active)
        if weighted is not None:
            return weighted
    if mode == "mean":
        return x.mean(0)
    if mode == "sum":
        return x.sum(0)
    if mode == "last":
        return x[-1]
    if mode == "max":
        return x.max(0).values
    raise ValueError(f"unknown time reduction {mode!r}; choose one of {REDUCTIONS}")


def _clock_reduction(x: torch.Tensor, mode: str, active) -> torch.Tensor | None:
    """The step-length-weighted mean or sum of ``x`` under ``active`` (None: the plain reduction applies)."""
    steps = active.steps
    if steps.numel() == 1:  # one step length for any T
        const = float(steps.reshape(()))
    else:
        if steps.shape[0] != x.shape[0] or (steps.dim() == 2 and steps.shape[1] != x.shape[1]):
            raise ValueError(f"the active clock has step lengths of shape {tuple(steps.shape)}, the reduced "
                             f"tensor has shape {tuple(x.shape)} ([T, B, ...])")
        const = constant_step(steps)
    source = active.source_dt
    if const is not None:
        if mode == "mean" or source is None or const == source:
            return None
        return x.sum(0) * (const / source)
    w = active.weights(x)
    if mode == "mean":
        return (x * w).sum(0) / w.sum(0)
    return (x * w).sum(0) / source if source is not None else x.sum(0)


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
        return LIFParams(tau=self.tau()).discretise(self.dt if dt is None else dt, self.method)

    def forward(self, current: torch.Tensor, ssm=None, dt=None) -> torch.Tensor:
        """The membrane trace [T, B, *F]; ``dt``: step lengths (float or [T] / [T, B] tensor; default: the
        active clock, else the layer's own dt)."""
        check_time_major(current, self.shape, f"LeakyIntegrator({', '.join(map(str, self.shape))}) input",
                         check_finite=False)
        if ssm is None:
            steps = layer_steps(dt, current)
            active = active_clock()
            if steps is not None and active is not None and active.substeps and not (
                    isinstance(steps, torch.Tensor) and steps.dim() == 2):
                plan = substep_plan(steps, self.dt)
                if plan is not None:  # integrated in sub-steps of at most dt: each step's mean membrane
                    k, sub = plan
                    T = current.shape[0]
                    k = (k.expand(T) if k.numel() == 1 else k).to(current.device)
                    sub = sub.repeat(T) if sub.numel() < int(k.sum()) else sub
                    fine = self.forward(torch.repeat_interleave(current, k, dim=0), dt=sub)
                    groups = torch.repeat_interleave(torch.arange(T, device=current.device), k)
                    total = fine.new_zeros((T, *fine.shape[1:])).index_add_(0, groups, fine)
                    return total / k.to(fine.dtype).reshape(T, *([1] * (fine.dim() - 1)))
            const = None if steps is None else constant_step(steps)
            if steps is None or const == self.dt:
                ssm = layer_ssm(self, current)
            else:
                ssm = self.ssm(dt=const if const is not None else steps)
        # a leaky integrator is a neuron that never fires: a threshold no membrane reaches, so the fused kernels
        # run it too (long event-driven clocks make a Python loop the slowest part of a model)
        silent = replace(ssm, threshold=torch.full_like(ssm.threshold, _NEVER))
        out = scan(current, silent, reset="none", spike_fn=BinarySpike(), return_states=True)
        return out.states[..., 0]


class SoftmaxSum(nn.Module):
    """The SHD readout: Σ_t softmax(z_t). With ``log=True`` (default) returns log of the time-average, a proper
    log-probability that cross-entropy accepts unchanged; argmax equals that of the plain sum."""

    def __init__(self, log: bool = True):
        super().__init__()
        self.log = log

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(z, dim=-1)
        return torch.log(reduce_time(p, "mean").clamp_min(1e-30)) if self.log else reduce_time(p, "sum")
