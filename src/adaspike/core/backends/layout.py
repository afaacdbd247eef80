"""What the fused backends share: which requests they can run, and the neuron-innermost tensor layout.

A fused kernel sees the neuron parameters broadcast to the flat feature axis N = prod(F) and laid out with N
last (``H [TH, n, n, N]``, ``B [TH, n, N]``, kicks ``[n, N]``, ``θ [N]``), states ``[n, B, N]``. The layout
change is made with ordinary torch ops *outside* the autograd Function, so autograd itself sums the parameter
gradients back to the parameters' own (broadcast) shapes.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from ..spikes import BinarySpike, BurstSpike, StepwiseSpike
from ..state import NeuronState, ScanOutput
from ..surrogates import Arctan, FastSigmoid, Sigmoid, Triangle
from . import codes

RESET_CODES = {"subtract": codes.RESET_SUBTRACT, "zero": codes.RESET_ZERO, "none": codes.RESET_NONE}
SURROGATE_CODES = {FastSigmoid: codes.SURR_FAST_SIGMOID, Arctan: codes.SURR_ARCTAN, Sigmoid: codes.SURR_SIGMOID,
                   Triangle: codes.SURR_TRIANGLE}
MAX_BURST, BLOCKED = codes.MAX_BURST, codes.BLOCKED


_TABLES: dict[tuple, torch.Tensor] = {}


def spike_table(burst: int, like: torch.Tensor, refractory: int = 0) -> torch.Tensor:
    """Spike value of each count code: 0..Γ, and for refractory rules 256 entries with table[BLOCKED] = 0.

    Built once per (Γ, refractory, dtype, device) and shared: kernels only read it."""
    key = (max(burst, 1), bool(refractory), like.dtype, like.device)
    table = _TABLES.get(key)
    if table is None:
        table = torch.arange(key[0] + 1, dtype=like.dtype, device=like.device)
        if refractory:
            table = torch.cat([table, table.new_zeros(BLOCKED + 1 - table.numel())])
        table = _TABLES.setdefault(key, table)
    return table


class SpikeRule(NamedTuple):
    burst: int        # 0 = binary spikes, else the burst cap Γ
    strict: bool
    surrogate: int    # code of SURROGATE_CODES
    slope: float
    refractory: int = 0  # steps blocked after a spike (0: none)


def spike_rule(spike_fn) -> SpikeRule | None:
    """The fused form of a spike rule, or None when a kernel cannot reproduce it exactly.

    A ``StepwiseSpike`` (irregular steps) runs as a refractory rule whose per-step caps and holds come from
    :func:`step_arrays`; its ``burst`` is the largest cap (the size of the spike table)."""
    if type(spike_fn) is StepwiseSpike:
        code = SURROGATE_CODES.get(type(spike_fn.surrogate))
        cap = int(spike_fn.caps.max())
        if code is None or cap >= BLOCKED or bool((spike_fn.caps < 0).any()) or bool((spike_fn.holds < 0).any()):
            return None
        return SpikeRule(cap if cap > 1 else 0, bool(spike_fn.strict), code, float(spike_fn.surrogate.slope),
                         spike_fn.refractory)
    if type(spike_fn) not in (BinarySpike, BurstSpike):
        return None
    hold = int(spike_fn.refractory)
    if hold < 0:
        return None
    code = SURROGATE_CODES.get(type(spike_fn.surrogate))
    if code is None:
        return None
    if isinstance(spike_fn, BurstSpike):
        if not 1 <= int(spike_fn.max_spikes) <= MAX_BURST:
            return None
        burst = int(spike_fn.max_spikes)
    else:
        if int(spike_fn.max_spikes) != 1:
            return None
        burst = 0
    if hold and burst >= BLOCKED:  # the count code BLOCKED marks a blocked neuron
        return None
    return SpikeRule(burst, bool(spike_fn.strict), code, float(spike_fn.surrogate.slope), hold)


def step_arrays(spike_fn, rule: SpikeRule, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(holds, caps) that a refractory rule's kernels read per step: the counter's value after a spike (in
    ``like``'s dtype) and the spike count code (0 binary, Γ a burst cap; int64). [T] for a ``StepwiseSpike``,
    [1] otherwise; None without a refractory rule."""
    if not rule.refractory:
        return None
    if isinstance(spike_fn, StepwiseSpike):
        return (spike_fn.holds.to(dtype=like.dtype, device=like.device),
                spike_fn.caps.to(device=like.device))
    return (torch.full((1,), float(rule.refractory), dtype=like.dtype, device=like.device),
            torch.full((1,), rule.burst, dtype=torch.int64, device=like.device))


def basic_support(req, device_type: str) -> bool:
    """Checks every fused backend shares: state size 1 or 2, float32/64, known spike rule."""
    cur = req.current
    if cur.device.type != device_type or cur.dtype not in (torch.float32, torch.float64):
        return False
    if req.ssm.state_size not in (1, 2):
        return False
    V = req.recurrent_weight
    if V is not None and (V.dtype != cur.dtype or V.device != cur.device):
        return False
    if spike_rule(req.spike_fn) is None:
        return False
    if isinstance(req.spike_fn, (BurstSpike, StepwiseSpike)) and bool((req.ssm.threshold.detach() <= 0).any()):
        return False  # ⌊v/θ⌋ needs a positive threshold
    return cur.numel() > 0


class FlatInputs(NamedTuple):
    current: torch.Tensor   # [T, B, N]
    H: torch.Tensor         # [TH, n, n, N]
    B: torch.Tensor         # [TH, n, N]
    kick_reset: torch.Tensor  # [n, N]
    kick_spike: torch.Tensor  # [n, N]
    threshold: torch.Tensor   # [N]
    x0: torch.Tensor        # [n, B, N]
    s0: torch.Tensor        # [B, N]


def _lead_time(p: torch.Tensor, trailing: int, n_feat: int, time_varying: bool) -> torch.Tensor:
    """View [T?, *P, *trailing] as [T or 1, 1.., *P, *trailing] so it broadcasts against [T, *F, *trailing]."""
    if not time_varying:
        p = p.unsqueeze(0)
    n_param = p.dim() - 1 - trailing
    return p.reshape(p.shape[0], *([1] * (n_feat - n_param)), *p.shape[1:])


def _flat_params(ssm, feat: tuple) -> tuple:
    """(H, B, K_reset, K_spike, θ) broadcast to ``feat`` in kernel layout (differentiable torch ops)."""
    N, n = max(1, int(torch.Size(feat).numel())), ssm.state_size
    lead = (ssm.H.shape[0],) if ssm.time_varying else (1,)
    H = _lead_time(ssm.H, 2, len(feat), ssm.time_varying)
    Bm = _lead_time(ssm.B, 1, len(feat), ssm.time_varying)
    H = H.expand(*lead, *feat, n, n).reshape(lead[0], N, n, n).permute(0, 2, 3, 1).contiguous()
    Bm = Bm.expand(*lead, *feat, n).reshape(lead[0], N, n).permute(0, 2, 1).contiguous()
    kr = ssm.kick_reset.expand(*feat, n).reshape(N, n).t().contiguous()
    ks = ssm.kick_spike.expand(*feat, n).reshape(N, n).t().contiguous()
    th = ssm.threshold.expand(feat).reshape(N).contiguous()
    return H, Bm, kr, ks, th


def _cached_flat_params(ssm, feat: tuple) -> tuple:
    """``_flat_params``, kept on the DiscreteSSM while nothing needs its gradient: a layer reuses one cached
    discretisation across inference calls, so the layout ops (a few dozen µs per call) run once. Keyed on
    the features and on every parameter's identity and in-place version."""
    tensors = (ssm.H, ssm.B, ssm.kick_reset, ssm.kick_spike, ssm.threshold)
    if (torch.is_grad_enabled() and any(t.requires_grad for t in tensors)) or any(t.is_inference() for t in tensors):
        return _flat_params(ssm, feat)  # inference tensors have no version counter to key on
    key = (feat, tuple((id(t), t._version) for t in tensors))
    cached = ssm.__dict__.get("_flat_layout")
    if cached is None or cached[0] != key:
        cached = (key, tuple(p.detach() for p in _flat_params(ssm, feat)))
        ssm.__dict__["_flat_layout"] = cached
    return cached[1]


def flatten_request(req) -> FlatInputs:
    """Broadcast the parameters to the features and move the neuron axis last (differentiable torch ops)."""
    cur, ssm = req.current, req.ssm
    T, batch, feat = cur.shape[0], cur.shape[1], tuple(cur.shape[2:])
    N, n = max(1, int(torch.Size(feat).numel())), ssm.state_size
    H, Bm, kr, ks, th = _cached_flat_params(ssm, feat)
    x0 = req.state.x.reshape(batch, N, n).permute(2, 0, 1).contiguous()
    s0 = req.state.s.reshape(batch, N).contiguous()
    return FlatInputs(cur.reshape(T, batch, N).contiguous(), H, Bm, kr, ks, th, x0, s0)


def flatten_refractory(req) -> torch.Tensor | None:
    """The initial blocked-steps counter [B, N] of a refractory rule (zeros when the state has none), else None.

    The counter carries no gradient (it only gates spikes), so it is detached here."""
    if not int(getattr(req.spike_fn, "refractory", 0)):
        return None
    batch = req.current.shape[1]
    blocked = req.state.refractory
    if blocked is None:
        return req.current.new_zeros((batch, req.current[0, 0].numel()))
    return blocked.detach().reshape(batch, -1).to(req.current.dtype).contiguous()


def unflatten_outputs(req, spikes: torch.Tensor, states: torch.Tensor, final_x: torch.Tensor,
                      final_s: torch.Tensor, final_r: torch.Tensor | None = None):
    """Kernel layouts back to the scan's: spikes [T, B, *F], states [T, B, *F, n], final (x [B, *F, n], s and,
    for a refractory rule, the counter ``final_r`` [B, N]; otherwise the state's own counter passes through)."""
    T, batch, feat = req.current.shape[0], req.current.shape[1], tuple(req.current.shape[2:])
    n = req.ssm.state_size
    out_states = states.permute(0, 2, 3, 1).reshape(T, batch, *feat, n) if req.return_states else None
    blocked = req.state.refractory if final_r is None else final_r.reshape(batch, *feat)
    final = NeuronState(final_x.permute(1, 2, 0).reshape(batch, *feat, n), final_s.reshape(batch, *feat), blocked)
    return ScanOutput(spikes.reshape(T, batch, *feat), out_states, final)
