"""The reference scan: a plain PyTorch loop over time, autograd through the surrogate.

It is the ground truth every fused backend is tested against, and the fallback when none applies.
"""
from __future__ import annotations

import torch

from .spikes import StepwiseSpike, reset_amount
from .state import NeuronState, ScanOutput, ScanRequest


def reference_scan(req: ScanRequest) -> ScanOutput:
    """Plain PyTorch loop over time; the ground truth every fast backend is tested against."""
    ssm, m = req.ssm, req.ssm.mem_index
    n = ssm.state_size
    x = list(req.state.x.unbind(-1))
    s = req.state.s
    theta = ssm.threshold
    stepwise = isinstance(req.spike_fn, StepwiseSpike)  # caps and holds that follow irregular step lengths
    hold = int(getattr(req.spike_fn, "refractory", 0))
    blocked = req.state.refractory
    if hold and blocked is None:
        blocked = torch.zeros_like(s)
    scale = req.recurrent_scale
    scale_values = None if scale is None else scale.tolist()
    spikes, states = [], []
    for t in range(req.current.shape[0]):
        H = ssm.H[t] if ssm.time_varying else ssm.H
        B = ssm.B[t] if ssm.time_varying else ssm.B
        r = reset_amount(req.reset, s, x[m], theta, req.detach_reset)
        if r is not None:
            x = [x[i] + ssm.kick_reset[..., i] * r for i in range(n)]
        x = [x[i] + ssm.kick_spike[..., i] * s for i in range(n)]
        drive = req.current[t]
        if req.recurrent_weight is not None and scale is None:
            drive = drive + s @ req.recurrent_weight.T
        elif req.recurrent_weight is not None:  # the count scale of an irregular clock, in one call
            drive = torch.addmm(drive, s, req.recurrent_weight.T, alpha=scale_values[t])
        x = [sum(H[..., i, j] * x[j] for j in range(n)) + B[..., i] * drive for i in range(n)]
        s = (req.spike_fn.at(t) if stepwise else req.spike_fn)(x[m], theta)
        if hold:
            # a blocked neuron emits nothing (and passes no gradient); a spike blocks the next `hold` steps
            s = s * (blocked <= 0).to(s.dtype)
            after = int(req.spike_fn.holds[t]) if stepwise else hold
            blocked = torch.where(s.detach() > 0, torch.full_like(blocked, after), (blocked - 1).clamp_min(0))
        spikes.append(s)
        if req.return_states:
            states.append(torch.stack(x, dim=-1))
    return ScanOutput(torch.stack(spikes), torch.stack(states) if req.return_states else None,
                      NeuronState(torch.stack(x, dim=-1), s, blocked if hold else req.state.refractory))


__all__ = ["reference_scan"]
