"""Recurrent scans (drive I_t + V·s_{t−1}) on the fused kernels, one kernel call per step.

The recurrent product couples all neurons at every step, so the time loop moves to Python: each step adds
``s_{t−1} @ Vᵀ`` with the same torch matmul as the reference (bit-identical drive, hence identical spikes), then
runs the fused kernels with T = 1. The backward walks the steps in reverse with the kernels' adjoint and one
matmul per step, ḡs_{t−1} += ḡd_t V; ḡV = Σ_t ḡd_tᵀ s_{t−1} is one product over all steps at the end.
Per step this is 2–3 calls instead of the ~15
small autograd nodes of the reference, and only states + uint8 spikes are kept.
"""
from __future__ import annotations

import torch


def _spikes(counts_t: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    return table[counts_t.long()] if table.numel() > 2 else counts_t.to(table.dtype)


class RecurrentFusedScan(torch.autograd.Function):
    """(I, H, B, K_reset, K_spike, θ, x0, s0, V) → (spikes, states, final x, final s) in kernel layouts."""

    @staticmethod
    def forward(ctx, kernels, current, H, Bm, kr, ks, th, x0, s0, V, mem, reset, detach, rule):
        T, batch, N = current.shape
        n, tv = H.shape[1], H.shape[0] > 1
        table = torch.arange(max(rule.burst, 1) + 1, dtype=current.dtype, device=current.device)
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
            kernels.forward(d.unsqueeze(0).contiguous(), H[k], Bm[k], kr, ks, th, x.contiguous(), s.contiguous(),
                            table, mem, reset, rule, states[t:t + 1], counts[t:t + 1])
            x, s = states[t], _spikes(counts[t], table)
        spikes = _spikes(counts, table)
        ctx.save_for_backward(drives, H, Bm, kr, ks, th, x0, s0, V, states, counts, table)
        ctx.kernels, ctx.options = kernels, (mem, reset, detach, rule)
        ctx.set_materialize_grads(False)
        return spikes, states, states[T - 1].clone(), spikes[T - 1].clone()

    @staticmethod
    def backward(ctx, g_spikes, g_states, g_final_x, g_final_s):
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
        return None, g_D, g_H, g_B, g_kr, g_ks, g_th, gx, gs, g_V, None, None, None, None
