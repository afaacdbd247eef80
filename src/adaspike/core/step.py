"""One inference step of an integrate-and-fire neuron with burst spikes, for step-wise runners.

A converted SNN that lets samples exit early (IAT) runs its network one step at a time, and every layer then
calls its neuron once per step. The scan op with T = 1 pays per call for validation and kernel layouts, as much
as the step itself; ``burst_if_step`` is that step written out (IF, H = B = 1, subtractive reset,
``BurstSpike(Γ)``), without gradients:

    v = (x − θ·s) + (z + δ)        n = clamp(⌊v/θ⌋, 0, Γ)        output n·θ

It runs the numba kernel on contiguous CPU float tensors and plain torch otherwise; both repeat the scan's
reference operations in order, so spikes and state equal ``scan``'s bit for bit.
"""
from __future__ import annotations

import importlib.util

import torch

from .state import NeuronState

_HAVE_NUMBA = importlib.util.find_spec("numba") is not None


def _per_channel(p: torch.Tensor, channels: int, like: torch.Tensor) -> torch.Tensor:
    """[C] or [1] → [C] in ``like``'s dtype, contiguous."""
    return p.to(like.dtype).expand(channels).contiguous()


def if_update(current: torch.Tensor, theta: torch.Tensor, state: NeuronState | None) -> torch.Tensor:
    """The IF membrane after one step, v = (x − θ·s) + I (v = I without state), in the reference scan's order;
    ``theta`` broadcasts against ``current``."""
    return current if state is None else (state.x[..., 0] - theta * state.s).add_(current)


def burst_counts(v: torch.Tensor, theta: torch.Tensor, max_spikes: int) -> torch.Tensor:
    """``BurstSpike(Γ)``'s count clamp(⌊v/θ⌋, 0, Γ) without its surrogate term (two passes, not seven)."""
    return torch.div(v, theta).floor_().clamp_(0, int(max_spikes))


def burst_if_step_reference(z: torch.Tensor, offset: torch.Tensor, theta: torch.Tensor, state: NeuronState | None,
                            max_spikes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The torch step: (membrane v, counts n, graded output n·θ), each shaped like ``z`` [B, C, ...]."""
    view = lambda p: p.to(z.dtype).view(1, -1, *([1] * (z.dim() - 2)))
    th = view(theta)
    v = if_update(z + view(offset), th, state)
    counts = burst_counts(v, th, max_spikes)
    return v, counts, counts * th


@torch.no_grad()
def burst_if_step(z: torch.Tensor, offset: torch.Tensor, theta: torch.Tensor, state: NeuronState | None,
                  max_spikes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step from ``state`` (None: v = 0 and no spikes before): (v, counts, graded), each shaped like
    ``z`` [B, C, *spatial]; ``offset`` δ and ``theta`` θ are [C] or [1]. The new state is
    ``NeuronState(v.unsqueeze(-1), counts)``."""
    fast = (_HAVE_NUMBA and z.device.type == "cpu" and z.dtype in (torch.float32, torch.float64) and z.dim() >= 2
            and z.numel() > 0 and not torch.compiler.is_compiling())
    if not fast:
        return burst_if_step_reference(z, offset, theta, state, max_spikes)
    from .backends import numba_kernels as K

    B, C = z.shape[0], z.shape[1]
    maps = lambda t: t.detach().contiguous().reshape(B, C, -1).numpy()
    zf = maps(z)
    v, counts, graded = (torch.empty_like(z, memory_format=torch.contiguous_format) for _ in range(3))
    if state is None:
        x = s = zf
    else:
        x, s = maps(state.x[..., 0].to(z.dtype)), maps(state.s.to(z.dtype))
    K.burst_if_step(zf, _per_channel(offset, C, z).numpy(), _per_channel(theta, C, z).numpy(), x, s,
                    float(max_spikes), state is not None, maps(v), maps(counts), maps(graded))
    return v, counts, graded


__all__ = ["burst_counts", "burst_if_step", "burst_if_step_reference", "if_update"]
