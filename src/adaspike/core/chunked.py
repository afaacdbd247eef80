"""Time-chunk checkpointing for very long sequences: memory O(T/k · state + k · layer) instead of O(T · layer).

``checkpointed_scan`` runs the scan chunk by chunk under ``torch.utils.checkpoint``: only each chunk's first
state is kept; its internals (states, spike counts) are recomputed from there during the backward. Spikes and
gradients equal those of one plain ``scan`` call (the recurrence is simply restarted at chunk borders).
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch.utils.checkpoint import checkpoint

from .multistep import NeuronState, ScanOutput, scan
from .ssm import DiscreteSSM


def _chunk_ssm(ssm: DiscreteSSM, start: int, stop: int) -> DiscreteSSM:
    return replace(ssm, H=ssm.H[start:stop], B=ssm.B[start:stop]) if ssm.time_varying else ssm


def checkpointed_scan(current: torch.Tensor, ssm: DiscreteSSM, chunk: int, *, state: NeuronState | None = None,
                      **scan_kwargs) -> ScanOutput:
    """``scan`` over ``current`` [T, B, *F] in chunks of ``chunk`` steps, recomputing each chunk in backward.

    Accepts the keyword arguments of ``scan`` except ``return_states`` (a state trace would defeat the purpose).
    """
    if int(chunk) < 1:
        raise ValueError(f"chunk must be a positive number of steps, got {chunk}")
    if scan_kwargs.get("return_states"):
        raise ValueError("checkpointed_scan does not return the state trace; use scan(return_states=True)")
    T = current.shape[0]
    if state is None:
        n, feat = ssm.state_size, current.shape[1:]
        state = NeuronState(current.new_zeros((*feat, n)), current.new_zeros(feat))
    spikes = []
    x, s, blocked = state.x, state.s, state.refractory
    for start in range(0, T, int(chunk)):
        stop = min(T, start + int(chunk))
        part = _chunk_ssm(ssm, start, stop)

        def run(cur, x0, s0, r0, part=part):
            out = scan(cur, part, state=NeuronState(x0, s0, r0), **scan_kwargs)
            return out.spikes, out.final.x, out.final.s, out.final.refractory

        sp, x, s, blocked = checkpoint(run, current[start:stop], x, s, blocked, use_reentrant=False)
        spikes.append(sp)
    return ScanOutput(torch.cat(spikes), None, NeuronState(x, s, blocked))


__all__ = ["checkpointed_scan"]
