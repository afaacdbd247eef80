"""Recurrent scans (drive I_t + V·s_{t−1}) on the fused kernels, one kernel call per step.

The recurrent product couples all neurons at every step, so the time loop moves to Python: each step adds
``s_{t−1} @ Vᵀ`` with the same torch matmul as the reference (bit-identical drive, hence identical spikes), then
runs the fused kernels with T = 1. The backward walks the steps in reverse with the kernels' adjoint and one
matmul per step, ḡs_{t−1} += ḡd_t V; ḡV = Σ_t ḡd_tᵀ s_{t−1} is one product over all steps at the end.
Per step this is 2–3 calls instead of the ~15
small autograd nodes of the reference, and only states + uint8 spikes are kept.

A refractory rule's counter is carried from step to step like the state (each kernel call takes the previous
step's counter and writes the next); the saved count codes (BLOCKED for a masked step) give the backward each
step's mask and, through the 256-entry table, the masked previous spikes.
"""
from __future__ import annotations

import torch

from .layout import BLOCKED, spike_table


def _spikes(counts_t: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    # table[c] = c for every count code except BLOCKED (→ 0): an element-wise cast, not a gather
    out = counts_t.to(table.dtype)
    if table.numel() > BLOCKED:
        out.masked_fill_(counts_t == BLOCKED, 0)
    return out


class RecurrentFusedScan(torch.autograd.Function):
    """(I, H, B, K_reset, K_spike, θ, x0, s0, V[, r0]) → (spikes, states, final x, final s, final counter) in
    kernel layouts; the final counter is None unless ``rule.refractory`` > 0 (``r0`` None: zeros)."""

    @staticmethod
    def forward(ctx, kernels, current, H, Bm, kr, ks, th, x0, s0, V, mem, reset, detach, rule, r0=None):
        T, batch, N = current.shape
        n, tv = H.shape[1], H.shape[0] > 1
        hold = int(rule.refractory)
        table = spike_table(rule.burst, current, hold)
        blocked = None
        if hold:
            blocked = current.new_zeros((batch, N)) if r0 is None else r0.detach().contiguous()
            r_bufs = [current.new_empty((batch, N)), current.new_empty((batch, N))]
        states = current.new_empty((T, n, batch, N))
        counts = torch.empty((T, batch, N), dtype=torch.uint8, device=current.device)
        keep_drive = ctx.needs_input_grad[3]
        drives = current.new_empty((T, batch, N)) if keep_drive else None
        x, s, Vt = x0, s0, V.t()
        for t in range(T):
            d = current[t] + s @ Vt
            if keep_drive:
                drives[t] = d
            k = slice(t, t + 1) if tv else slice(0, 1)
            extra = {}
            if hold:
                r_next = r_bufs[t % 2]  # ping-pong: the kernel reads one buffer and writes the other
                extra = dict(r0=blocked, r_out=r_next)
            kernels.forward(d.unsqueeze(0).contiguous(), H[k], Bm[k], kr, ks, th, x.contiguous(), s.contiguous(),
                            table, mem, reset, rule, states[t:t + 1], counts[t:t + 1], **extra)
            x, s = states[t], _spikes(counts[t], table)
            if hold:
                blocked = r_next
        spikes = _spikes(counts, table)
        ctx.save_for_backward(drives, H, Bm, kr, ks, th, x0, s0, V, states, counts, table)
        ctx.kernels, ctx.options = kernels, (mem, reset, detach, rule)
        ctx.set_materialize_grads(False)
        final_r = blocked.clone() if hold else None
        if hold:
            ctx.mark_non_differentiable(final_r)
        return spikes, states, states[T - 1].clone(), spikes[T - 1].clone(), final_r

    @staticmethod
    def backward(ctx, g_spikes, g_states, g_final_x, g_final_s, g_final_r=None):
        drives, H, Bm, kr, ks, th, x0, s0, V, states, counts, table = ctx.saved_tensors
        mem, reset, detach, rule = ctx.options
        T, n, batch, N = states.shape
        tv = H.shape[0] > 1
        like = dict(dtype=states.dtype, device=states.device)
        zeros = lambda *shape: torch.zeros(shape, **like)
        g_spikes = zeros(T, batch, N) if g_spikes is None else g_spikes.to(states.dtype).contiguous()
        gx = zeros(n, batch, N) if g_final_x is None else g_final_x.to(states.dtype).contiguous()
        gs = zeros(batch, N) if g_final_s is None else g_final_s.to(states.dtype).contiguous()
        g_states = None if g_states is None else g_states.to(states.dtype).contiguous()
        with_params = any(ctx.needs_input_grad[2:7])
        pb = batch if with_params else 1
        g_D = torch.empty((T, batch, N), **like)
        totals = [zeros(H.shape[0], n, n, N), zeros(H.shape[0], n, N), zeros(n, N), zeros(n, N), zeros(N)]
        new_bufs = lambda: [zeros(pb, 1, n, n, N), zeros(pb, 1, n, N), zeros(pb, n, N), zeros(pb, n, N), zeros(pb, N)]
        scratch = new_bufs()
        for t in range(T - 1, -1, -1):
            k = slice(t, t + 1) if tv else slice(0, 1)
            x_prev = states[t - 1] if t > 0 else x0
            s_prev = _spikes(counts[t - 1], table) if t > 0 else s0
            new_gx, new_gs = torch.empty((n, batch, N), **like), torch.empty((batch, N), **like)
            # per-step parameter gradients (summed below); without them the kernel leaves the scratch untouched
            bufs = new_bufs() if with_params else scratch
            ctx.kernels.backward(g_spikes[t:t + 1], None if g_states is None else g_states[t:t + 1], gx, gs,
                                 None if drives is None else drives[t:t + 1], H[k], Bm[k], kr, ks, th,
                                 x_prev.contiguous(), s_prev.contiguous(), states[t:t + 1], counts[t:t + 1], table,
                                 mem, reset, detach, rule, with_params, g_D[t:t + 1], new_gx, new_gs, *bufs)
            new_gs += g_D[t] @ V
            if with_params:
                totals[0][k] += bufs[0].sum(0)[0]
                totals[1][k] += bufs[1].sum(0)[0]
                for total, buf in zip(totals[2:], bufs[2:]):
                    total += buf.sum(0)
            gx, gs = new_gx, new_gs
        # ḡV = Σ_t ḡd_tᵀ s_{t−1}: one product over all steps instead of T small ones
        s_prev_all = torch.cat([s0.unsqueeze(0), _spikes(counts[:T - 1], table)]) if T > 1 else s0.unsqueeze(0)
        g_V = g_D.reshape(T * batch, N).t() @ s_prev_all.reshape(T * batch, N)
        g_H, g_B, g_kr, g_ks, g_th = totals if with_params else (None,) * 5
        return None, g_D, g_H, g_B, g_kr, g_ks, g_th, gx, gs, g_V, None, None, None, None, None
