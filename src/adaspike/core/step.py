"""One inference step of any neuron, for step-wise runners (``adaspike.core.step``).

A runner that lets samples leave the batch (a converted SNN with early exit) calls each neuron once per step. The
scan op with T = 1 pays per call for validation and kernel layouts, as much as the step itself. ``step`` is that
step written out for any time-invariant ``DiscreteSSM`` without gradients, in the reference scan's order of
operations, so its spikes and state equal ``scan``'s bit for bit:

    x' = x + K_reset·r(s) + K_spike·s        x = H x' + B (I + δ)        s = spike(x_m, θ)

``δ`` is an optional per-channel offset (axis 1) added to the current. One case has a fused kernel:
integrate-and-fire (H = B = 1, K_reset = −1, K_spike = 0) with subtractive reset and ``BurstSpike(Γ)``, the
conversion neuron, where ``burst_if_step`` computes the drive, the update, the counts and n·θ in one pass (numba on
contiguous CPU float tensors, plain torch otherwise). Refractory and per-step rules, time-varying SSMs and any
backend other than "auto" run the core scan for one step.
"""
from __future__ import annotations

import importlib.util
from typing import Callable, NamedTuple

import torch

from .multistep import scan
from .spikes import BurstSpike, SignedBurstSpike, StepwiseSpike, reset_amount
from .ssm import DiscreteSSM
from .state import NeuronState

_HAVE_NUMBA = importlib.util.find_spec("numba") is not None


class StepOutput(NamedTuple):
    spikes: torch.Tensor            # [B, *F] (counts for burst rules)
    final: NeuronState              # the state to pass to the next step
    graded: torch.Tensor | None     # spikes·θ, on request (``graded=True``)


def _channel_view(p: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[C] or [1] → broadcastable against ``like`` [B, C, ...], in its dtype."""
    return p.to(like.dtype).view(1, -1, *([1] * (like.dim() - 2)))


def _channel_vector(p: torch.Tensor) -> torch.Tensor | None:
    """A parameter shaped [C, 1, ...] or [1] (constant over all but the channel axis) as [C]; else None."""
    if p.dim() == 0 or all(d == 1 for d in p.shape[1:]):
        return p.reshape(-1)
    return None


def is_unit_integrator(ssm: DiscreteSSM) -> bool:
    """IF with gain 1: v = v − θ·s + I (a handful of tiny comparisons, no scan)."""
    return (ssm.state_size == 1 and ssm.mem_index == 0 and bool((ssm.H == 1).all()) and bool((ssm.B == 1).all())
            and bool((ssm.kick_reset == -1).all()) and bool((ssm.kick_spike == 0).all()))


def _with_offset(current: torch.Tensor, offset: torch.Tensor | None) -> torch.Tensor:
    return current if offset is None else current + _channel_view(offset, current)


@torch.no_grad()
def step(ssm: DiscreteSSM, current: torch.Tensor, state: NeuronState | None, spike_rule: Callable, *,
         reset: str = "subtract", offset: torch.Tensor | None = None, graded: bool = False,
         backend: str = "auto") -> StepOutput:
    """One step of ``ssm`` from ``state`` (None: at rest) on ``current`` [B, *F] (+ ``offset`` [C] on axis 1).

    Bit-identical to ``scan(current[None] + δ, ssm, reset=reset, spike_fn=spike_rule, state=state)`` for the
    spikes and the final state (tests/core/test_core_step.py). ``graded`` also returns spikes·θ."""
    theta = _channel_vector(ssm.threshold)
    fused = (backend == "auto" and reset == "subtract" and type(spike_rule) is BurstSpike and not spike_rule.refractory
             and not ssm.time_varying and theta is not None and current.dim() >= 2 and is_unit_integrator(ssm))
    if fused:
        channels = current.shape[1]
        if theta.numel() in (1, channels):
            shift = offset if offset is not None else current.new_zeros(1)
            v, counts, out = burst_if_step(current, shift, theta, state, int(spike_rule.max_spikes))
            return StepOutput(counts, NeuronState(v.unsqueeze(-1), counts), out)
    simple = (backend == "auto" and not ssm.time_varying and not getattr(spike_rule, "refractory", 0)
              and not isinstance(spike_rule, StepwiseSpike))
    drive = _with_offset(current, offset)
    if not simple:
        out = scan(drive.unsqueeze(0), ssm, reset=reset, spike_fn=spike_rule, state=state, backend=backend)
        spikes, final = out.spikes[0], out.final
    else:
        spikes, final = _reference_step(ssm, drive, state, spike_rule, reset)
    return StepOutput(spikes, final, spikes * ssm.threshold.to(spikes.dtype) if graded else None)


def _reference_step(ssm: DiscreteSSM, drive: torch.Tensor, state: NeuronState | None, spike_rule: Callable,
                    reset: str) -> tuple[torch.Tensor, NeuronState]:
    """One step of ``core.reference_scan`` (same operations, same order) for a time-invariant SSM."""
    n, m = ssm.state_size, ssm.mem_index
    H, B = ssm.H.to(drive.dtype), ssm.B.to(drive.dtype)
    theta = ssm.threshold.to(drive.dtype)
    if state is None:   # at rest: the kicks of a zero state add exact zeros, skip them
        x = [B[..., i] * drive for i in range(n)]
    else:
        x = list(state.x.to(drive.dtype).unbind(-1))
        s = state.s.to(drive.dtype)
        r = reset_amount(reset, s, x[m], theta, False)
        if r is not None:
            x = [x[i] + ssm.kick_reset[..., i].to(drive.dtype) * r for i in range(n)]
        x = [x[i] + ssm.kick_spike[..., i].to(drive.dtype) * s for i in range(n)]
        x = [sum(H[..., i, j] * x[j] for j in range(n)) + B[..., i] * drive for i in range(n)]
    spikes = spike_count(spike_rule, x[m], theta)
    return spikes, NeuronState(torch.stack(x, dim=-1), spikes)


@torch.no_grad()
def signed_if_step(current: torch.Tensor, theta: torch.Tensor, state: NeuronState | None, rule: SignedBurstSpike, *,
                   offset: torch.Tensor | None = None) -> StepOutput:
    """One step of integrate-and-fire with ``SignedBurstSpike`` and subtractive reset, on ``current`` [B, C, ...]
    (+ ``offset`` [C]); θ is [C] or [1] (per channel, axis 1).

    The state holds two components, the membrane v and the count N sent so far (``x[..., 0]``, ``x[..., 1]``);
    in the reference scan's order: v = (v − θ·s) + I, n = rule(v, θ, N), N ← N + n. The graded output is n·θ."""
    sent = torch.zeros_like(current) if state is None else state.x[..., 1].to(current.dtype)
    shift = offset if offset is not None else current.new_zeros(1)
    v, counts, graded = burst_if_step(current, shift, theta.reshape(-1), state, int(rule.max_spikes), sent)
    return StepOutput(counts, NeuronState(torch.stack((v, sent + counts), dim=-1), counts), graded)


def spike_count(rule: Callable, v: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """The spikes of the core ``rule`` at membrane ``v``, without gradients (``BurstSpike``: two passes, not seven)."""
    if type(rule) is BurstSpike:
        return burst_counts(v, theta, int(rule.max_spikes))
    return rule(v, theta)


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
                            max_spikes: int, sent: torch.Tensor | None = None
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The torch step: (membrane v, counts n, graded output n·θ), each shaped like ``z`` [B, C, ...]; with
    ``sent`` (the counts sent so far, like z) the counts are ``SignedBurstSpike``'s."""
    th = _channel_view(theta, z)
    v = if_update(_with_offset(z, offset), th, state)
    counts = burst_counts(v, th, max_spikes) if sent is None else SignedBurstSpike(max_spikes)(v, th, sent)
    return v, counts, counts * th


@torch.no_grad()
def burst_if_step(z: torch.Tensor, offset: torch.Tensor, theta: torch.Tensor, state: NeuronState | None,
                  max_spikes: int, sent: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step from ``state`` (None: v = 0 and no spikes before): (v, counts, graded), each shaped like
    ``z`` [B, C, *spatial]; ``offset`` δ and ``theta`` θ are [C] or [1]. The new state is
    ``NeuronState(v.unsqueeze(-1), counts)``. ``sent`` (like z): signed counts, clamp(⌊v/θ⌋, −sent, Γ)."""
    fast = (_HAVE_NUMBA and z.device.type == "cpu" and z.dtype in (torch.float32, torch.float64) and z.dim() >= 2
            and z.numel() > 0 and not torch.compiler.is_compiling())
    if not fast:
        return burst_if_step_reference(z, offset, theta, state, max_spikes, sent)
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
                    float(max_spikes), state is not None, maps(v), maps(counts), maps(graded),
                    zf if sent is None else maps(sent.to(z.dtype)), sent is not None)
    return v, counts, graded


__all__ = ["StepOutput", "burst_counts", "burst_if_step", "burst_if_step_reference", "if_update", "is_unit_integrator",
           "signed_if_step", "spike_count", "step"]
