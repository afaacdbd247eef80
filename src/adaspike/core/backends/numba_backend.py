"""CPU backend: the numba kernels wrapped as one autograd Function.

Forward saves only what the backward needs: the states x_t [T, n, B, N] (one pre-spike state per step), the
spike counts as uint8, and the input current only when B itself needs a gradient. The backward is one reverse
recursion in a single kernel call, not T small autograd graphs.
"""
from __future__ import annotations

import numba
import numpy as np
import torch

from . import numba_kernels as K
from .layout import RESET_CODES, basic_support, flatten_request, spike_rule, unflatten_outputs


def supports(req) -> bool:
    return basic_support(req, "cpu")


def _threads() -> None:
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


class NumbaScan(torch.autograd.Function):
    """(I, H, B, K_reset, K_spike, θ, x0, s0) → (spikes, states, final x, final s) in kernel layouts."""

    @staticmethod
    def forward(ctx, current, H, Bm, kr, ks, th, x0, s0, mem, reset, detach, rule):
        T, batch, N = current.shape
        n = H.shape[1]
        table = torch.arange(max(rule.burst, 1) + 1, dtype=current.dtype)
        states = current.new_empty((T, n, batch, N))
        counts = torch.empty((T, batch, N), dtype=torch.uint8)
        _threads()
        K.scan_forward(_np(current), _np(H), _np(Bm), _np(kr), _np(ks), _np(th), _np(x0), _np(s0), _np(table),
                       mem, reset, rule.burst, rule.strict, states.numpy(), counts.numpy())
        spikes = table[counts.long()] if rule.burst > 1 else counts.to(current.dtype)
        keep_current = ctx.needs_input_grad[2]  # B's gradient needs the drive at every step
        ctx.save_for_backward(current if keep_current else None, H, Bm, kr, ks, th, x0, s0, states, counts,
                              table)
        ctx.options = (mem, reset, detach, rule)
        ctx.set_materialize_grads(False)
        return spikes, states, states[T - 1].clone(), spikes[T - 1].clone()

    @staticmethod
    def backward(ctx, g_spikes, g_states, g_final_x, g_final_s):
        current, H, Bm, kr, ks, th, x0, s0, states, counts, table = ctx.saved_tensors
        mem, reset, detach, rule = ctx.options
        T, n, batch, N = states.shape
        dtype = states.dtype
        zeros = lambda *shape: torch.zeros(shape, dtype=dtype)
        g_spikes = zeros(T, batch, N) if g_spikes is None else g_spikes.to(dtype).contiguous()
        g_final_x = zeros(n, batch, N) if g_final_x is None else g_final_x.to(dtype).contiguous()
        g_final_s = zeros(batch, N) if g_final_s is None else g_final_s.to(dtype).contiguous()
        with_states = g_states is not None
        g_states = g_states.to(dtype).contiguous() if with_states else zeros(1, 1, 1, 1)
        with_params = any(ctx.needs_input_grad[1:6])
        TH = H.shape[0]
        pb = batch if with_params else 1
        g_I = torch.empty((T, batch, N), dtype=dtype)
        g_x0, g_s0 = torch.empty((n, batch, N), dtype=dtype), torch.empty((batch, N), dtype=dtype)
        g_H, g_B = zeros(pb, TH, n, n, N), zeros(pb, TH, n, N)
        g_kr, g_ks, g_th = zeros(pb, n, N), zeros(pb, n, N), zeros(pb, N)
        drive = current if current is not None else zeros(1, 1, 1)
        _threads()
        K.scan_backward(_np(g_spikes), _np(g_states), _np(g_final_x), _np(g_final_s), _np(drive), _np(H),
                        _np(Bm), _np(kr), _np(ks), _np(th), _np(x0), _np(s0), _np(states), _np(counts),
                        _np(table), mem, reset, detach, rule.surrogate, rule.slope, with_states, with_params,
                        current is not None,
                        g_I.numpy(), g_x0.numpy(), g_s0.numpy(), g_H.numpy(), g_B.numpy(), g_kr.numpy(),
                        g_ks.numpy(), g_th.numpy())
        if with_params:
            g_H, g_B, g_kr, g_ks, g_th = (g.sum(0) for g in (g_H, g_B, g_kr, g_ks, g_th))
            if reset == RESET_CODES["none"]:
                g_kr = None
        else:
            g_H = g_B = g_kr = g_ks = g_th = None
        return g_I, g_H, g_B, g_kr, g_ks, g_th, g_x0, g_s0, None, None, None, None


def numba_scan(req):
    """The registered backend: flatten the request, run the fused op, restore the scan's layouts."""
    flat = flatten_request(req)
    rule = spike_rule(req.spike_fn)
    spikes, states, final_x, final_s = NumbaScan.apply(*flat, req.ssm.mem_index, RESET_CODES[req.reset],
                                                       bool(req.detach_reset), rule)
    return unflatten_outputs(req, spikes, states, final_x, final_s)
