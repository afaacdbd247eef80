"""One autograd Function for every fused backend; a backend only supplies its two kernels.

Forward saves only what the backward needs: the states x_t [T, n, B, N] (one pre-spike state per step), the
spike counts as uint8 unless the backend rederives them from the states, and the input current only when B
itself needs a gradient. The backward is one reverse
recursion in a single kernel launch, not T small autograd graphs. Parameter gradients come back per batch row
([B, ...]) and are summed here.
"""
from __future__ import annotations

from typing import Protocol

import torch

from .layout import RESET_CODES, SpikeRule, flatten_request, spike_rule, unflatten_outputs


class Kernels(Protocol):
    def forward(self, current, H, Bm, kr, ks, th, x0, s0, table, mem: int, reset: int, rule: SpikeRule,
                states, counts) -> None: ...

    def backward(self, g_spikes, g_states, g_final_x, g_final_s, drive, H, Bm, kr, ks, th, x0, s0, states,
                 counts, table, mem: int, reset: int, detach: bool, rule: SpikeRule, with_params: bool,
                 g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th) -> None: ...


def _empty_for(kernels):
    """The backend's allocator for outputs its kernels fill completely (``kernels.empty``), else torch.empty."""
    empty = getattr(kernels, "empty", None)
    if empty is not None:
        return empty
    return lambda shape, dtype, device: torch.empty(shape, dtype=dtype, device=device)


class FusedScan(torch.autograd.Function):
    """(I, H, B, K_reset, K_spike, θ, x0, s0) → (spikes, states, final x, final s) in kernel layouts."""

    @staticmethod
    def forward(ctx, kernels, current, H, Bm, kr, ks, th, x0, s0, mem, reset, detach, rule):
        T, batch, N = current.shape
        n = H.shape[1]
        table = torch.arange(max(rule.burst, 1) + 1, dtype=current.dtype, device=current.device)
        empty = _empty_for(kernels)
        states = empty((T, n, batch, N), current.dtype, current.device)
        # a backend that rederives spikes from the states gets per-row scratch for counts instead of [T, B, N]
        counts = empty((1 if getattr(kernels, "recomputes_counts", False) else T, batch, N), torch.uint8,
                       current.device)
        if getattr(kernels, "fills_spikes", False):  # the kernel writes the spikes itself: no conversion pass
            spikes = empty((T, batch, N), current.dtype, current.device)
            kernels.forward(current, H, Bm, kr, ks, th, x0, s0, table, mem, reset, rule, states, counts,
                            spikes=spikes)
        else:
            kernels.forward(current, H, Bm, kr, ks, th, x0, s0, table, mem, reset, rule, states, counts)
            spikes = table[counts.long()] if rule.burst > 1 else counts.to(current.dtype)
        keep_current = ctx.needs_input_grad[3]  # B's gradient needs the drive at every step
        ctx.save_for_backward(current if keep_current else None, H, Bm, kr, ks, th, x0, s0, states, counts,
                              table)
        ctx.kernels, ctx.options = kernels, (mem, reset, detach, rule)
        ctx.set_materialize_grads(False)
        return spikes, states, states[T - 1].clone(), spikes[T - 1].clone()

    @staticmethod
    def backward(ctx, g_spikes, g_states, g_final_x, g_final_s):
        current, H, Bm, kr, ks, th, x0, s0, states, counts, table = ctx.saved_tensors
        mem, reset, detach, rule = ctx.options
        T, n, batch, N = states.shape
        like = dict(dtype=states.dtype, device=states.device)
        zeros = lambda *shape: torch.zeros(shape, **like)
        prep = lambda g, *shape: zeros(*shape) if g is None else g.to(states.dtype).contiguous()
        g_spikes, g_final_x, g_final_s = prep(g_spikes, T, batch, N), prep(g_final_x, n, batch, N), prep(g_final_s, batch, N)
        g_states = None if g_states is None else g_states.to(states.dtype).contiguous()
        with_params = any(ctx.needs_input_grad[2:7])
        TH, pb = H.shape[0], batch if with_params else 1
        g_I = _empty_for(ctx.kernels)((T, batch, N), states.dtype, states.device)
        g_x0, g_s0 = torch.empty((n, batch, N), **like), torch.empty((batch, N), **like)
        g_H, g_B = zeros(pb, TH, n, n, N), zeros(pb, TH, n, N)
        g_kr, g_ks, g_th = zeros(pb, n, N), zeros(pb, n, N), zeros(pb, N)
        ctx.kernels.backward(g_spikes, g_states, g_final_x, g_final_s, current, H, Bm, kr, ks, th, x0, s0, states,
                             counts, table, mem, reset, detach, rule, with_params,
                             g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th)
        if with_params:
            g_H, g_B, g_kr, g_ks, g_th = (g.sum(0) for g in (g_H, g_B, g_kr, g_ks, g_th))
            if reset == RESET_CODES["none"]:
                g_kr = None
        else:
            g_H = g_B = g_kr = g_ks = g_th = None
        return None, g_I, g_H, g_B, g_kr, g_ks, g_th, g_x0, g_s0, None, None, None, None


def fused_scan(req, kernels: Kernels):
    """Run a request through ``kernels``: flatten, apply the fused Function, restore the scan's layouts."""
    flat = flatten_request(req)
    options = (req.ssm.mem_index, RESET_CODES[req.reset], bool(req.detach_reset), spike_rule(req.spike_fn))
    if req.recurrent_weight is not None:
        from .recurrent import RecurrentFusedScan

        spikes, states, final_x, final_s = RecurrentFusedScan.apply(kernels, *flat, req.recurrent_weight, *options)
    else:
        spikes, states, final_x, final_s = FusedScan.apply(kernels, *flat, *options)
    return unflatten_outputs(req, spikes, states, final_x, final_s)
