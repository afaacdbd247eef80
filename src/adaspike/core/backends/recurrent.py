"""Recurrent scans (drive I_t + V·s_{t−1}) on the fused kernels, one kernel call per step.

The recurrent product couples all neurons at every step, so the time loop moves to Python: each step computes
``s_{t−1} @ Vᵀ`` with the same torch matmul as the reference, straight into the drive buffer, and adds I_t there
(IEEE addition commutes, so the drive, hence every spike, is bit-identical to the reference's), then runs one
step of the fused kernel on the full buffers. The backward walks the steps in reverse with the kernel's adjoint
and one in-place product per step, ḡs_{t−1} += ḡd_t V; ḡV = Σ_t ḡd_tᵀ s_{t−1} is one product over all steps at
the end. Per step this is two torch calls and one kernel call, with nothing allocated; the float spikes (the
output, which the next layer keeps anyway) are saved instead of counts.

A backend's kernels run the steps through ``recurrent_forward``/``recurrent_backward`` step runners, which
convert their arguments once (numba); kernels without them (Triton) get ``_SlicedForward``/``_SlicedBackward``,
which call the plain kernels on one-step slices.

A refractory rule's counter is carried from step to step like the state; the saved count codes (BLOCKED for a
masked step) give the backward each step's mask.
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


def _empty(kernels, shape, dtype, device) -> torch.Tensor:
    empty = getattr(kernels, "empty", None)
    return empty(shape, dtype, device) if empty is not None else torch.empty(shape, dtype=dtype, device=device)


class _SlicedForward:
    """Step runner for kernels without one: the T-step kernel on one-step slices, spikes from the counts."""

    def __init__(self, kernels, drives, H, Bm, kr, ks, th, x0, s0, table, mem, reset, rule, states, counts,
                 spikes, r0=None, holds=None, caps=None):
        self.holds, self.caps = holds, caps
        self.kernels, self.drives, self.fixed = kernels, drives, (kr, ks, th)
        self.H, self.Bm, self.x0, self.s0, self.table = H, Bm, x0, s0, table
        self.options, self.states, self.counts, self.spikes = (mem, reset, rule), states, counts, spikes
        self.hold = int(rule.refractory)
        self.r = [r0, torch.empty_like(r0)] if self.hold else None
        self.last = 0

    def step(self, t: int) -> None:
        k = slice(t, t + 1) if self.H.shape[0] > 1 else slice(0, 1)
        d = self.drives[t:t + 1] if self.drives.shape[0] > 1 else self.drives
        x_prev = self.states[t - 1] if t else self.x0
        s_prev = self.spikes[t - 1] if t else self.s0
        extra = dict(r0=self.r[t % 2], r_out=self.r[(t + 1) % 2]) if self.hold else {}
        if self.hold and self.holds is not None:
            p = slice(t, t + 1) if self.holds.shape[0] > 1 else slice(0, 1)
            extra.update(holds=self.holds[p], caps=self.caps[p])
        self.kernels.forward(d, self.H[k], self.Bm[k], *self.fixed, x_prev.contiguous(), s_prev.contiguous(),
                             self.table, *self.options[:2], self.options[2], self.states[t:t + 1],
                             self.counts[t:t + 1], **extra)
        self.spikes[t] = _spikes(self.counts[t], self.table)
        self.last = t

    @property
    def final_r(self):
        return self.r[(self.last + 1) % 2].clone() if self.hold else None


class _SlicedBackward:
    """Adjoint step runner for kernels without one; per-step parameter gradients go through a zeroed scratch
    (such kernels store them instead of adding them)."""

    def __init__(self, kernels, g_spikes, g_states, drives, H, Bm, kr, ks, th, x0, s0, states, counts, spikes,
                 table, mem, reset, detach, rule, with_params, g_I, gx, gs, g_params):
        self.kernels, self.g_spikes, self.g_states, self.drives = kernels, g_spikes, g_states, drives
        self.H, self.Bm, self.fixed, self.x0, self.s0 = H, Bm, (kr, ks, th), x0, s0
        self.states, self.counts, self.spikes, self.table = states, counts, spikes, table
        self.options, self.with_params = (mem, reset, detach, rule), with_params
        self.g_I, self.gx, self.gs, self.g_params = g_I, gx, gs, g_params
        self.scratch = [torch.zeros_like(g[:, :1]) if i < 2 else torch.zeros_like(g) for i, g in enumerate(g_params)]

    def step(self, t: int) -> None:
        tv = self.H.shape[0] > 1
        k = slice(t, t + 1) if tv else slice(0, 1)
        for buf in self.scratch:
            buf.zero_()
        new_gx, new_gs = torch.empty_like(self.gx), torch.empty_like(self.gs)
        self.kernels.backward(self.g_spikes[t:t + 1], None if self.g_states is None else self.g_states[t:t + 1],
                              self.gx, self.gs, None if self.drives is None else self.drives[t:t + 1], self.H[k],
                              self.Bm[k], *self.fixed, (self.states[t - 1] if t else self.x0).contiguous(),
                              (self.spikes[t - 1] if t else self.s0).contiguous(), self.states[t:t + 1],
                              self.counts[t:t + 1], self.table, *self.options, self.with_params,
                              self.g_I[t:t + 1], new_gx, new_gs, *self.scratch)
        if self.with_params:
            self.g_params[0][:, k] += self.scratch[0]
            self.g_params[1][:, k] += self.scratch[1]
            for total, buf in zip(self.g_params[2:], self.scratch[2:]):
                total += buf
        self.gx.copy_(new_gx)
        self.gs.copy_(new_gs)


class RecurrentFusedScan(torch.autograd.Function):
    """(I, H, B, K_reset, K_spike, θ, x0, s0, V[, r0]) → (spikes, states, final x, final s, final counter) in
    kernel layouts; the final counter is None unless ``rule.refractory`` > 0 (``r0`` None: zeros).

    ``holds``/``caps`` [T]: a refractory rule's per-step counter value and count code (irregular steps).
    ``scale`` [T]: the recurrent drive of step t is scale[t]·V·s_{t−1} (count scaling of irregular steps)."""

    @staticmethod
    def forward(ctx, kernels, current, H, Bm, kr, ks, th, x0, s0, V, mem, reset, detach, rule, r0=None,
                keep_states=True, holds=None, caps=None, scale=None):
        T, batch, N = current.shape
        n = H.shape[1]
        hold = int(rule.refractory)
        table = spike_table(rule.burst, current, hold)
        if hold:
            r0 = current.new_zeros((batch, N)) if r0 is None else r0.detach().contiguous()
        own_steps = hasattr(kernels, "recurrent_forward")
        dev, dtype = current.device, current.dtype
        # no trace kept (inference): the kernels' per-row scratch, when they have it (own step runners only)
        scratch = not keep_states and own_steps and getattr(kernels, "scratch_states", False)
        states = _empty(kernels, (1 if scratch else T, n, batch, N), dtype, dev)
        spikes = _empty(kernels, (T, batch, N), dtype, dev)
        # counts: per-step scratch when the kernels rederive spikes from the states (not for refractory codes)
        keep_counts = hold or not (own_steps and getattr(kernels, "recomputes_counts", False))
        counts = torch.empty((T if keep_counts else 1, batch, N), dtype=torch.uint8, device=dev)
        keep_drive = ctx.needs_input_grad[3]  # B's gradient needs every step's drive
        drives = _empty(kernels, (T if keep_drive else 1, batch, N), dtype, dev)
        args = (drives, H, Bm, kr, ks, th, x0, s0, table, mem, reset, rule, states, counts, spikes, r0)
        arrays = {} if holds is None else dict(holds=holds, caps=caps)
        if own_steps:  # without kept drives a runner may add I_t itself (one torch call less per step)
            adds = not keep_drive and scale is None
            steps = kernels.recurrent_forward(*args, **({"current": current} if adds else {}), **arrays)
        else:
            steps = _SlicedForward(kernels, *args, **arrays)
        adds_current = getattr(steps, "adds_current", False)
        Vt = V.t()
        # per-step views made at once (indexing a tensor costs a few µs, as much as a tenth of a step)
        d_rows = drives.unbind(0) if keep_drive else (drives[0],) * T
        s_prev = (s0, *spikes[:T - 1].unbind(0))
        if scale is not None:  # the reference's one call I_t + c_t·(s Vᵀ), c_t as the current's dtype rounds it
            i_rows, scale_values = current.unbind(0), scale.to(current.dtype).tolist()
            for t in range(T):
                torch.addmm(i_rows[t], s_prev[t], Vt, alpha=scale_values[t], out=d_rows[t])
                steps.step(t)
        else:
            i_rows = None if adds_current else current.unbind(0)
            for t in range(T):
                d = d_rows[t]
                torch.mm(s_prev[t], Vt, out=d)  # the reference's s @ Vᵀ ...
                if not adds_current:
                    d.add_(i_rows[t])           # ... + I_t, bit for bit (or inside the kernel step)
                steps.step(t)
        final_r = steps.final_r
        ctx.save_for_backward(drives if keep_drive else None, H, Bm, kr, ks, th, x0, s0, V, states,
                              counts if keep_counts else None, spikes, scale)
        ctx.kernels, ctx.options = kernels, (mem, reset, detach, rule)
        ctx.set_materialize_grads(False)
        if hold:
            ctx.mark_non_differentiable(final_r)
        return spikes, states, states[-1].clone(), spikes[T - 1].clone(), final_r

    @staticmethod
    def backward(ctx, g_spikes, g_states, g_final_x, g_final_s, g_final_r=None):
        drives, H, Bm, kr, ks, th, x0, s0, V, states, counts, spikes, scale = ctx.saved_tensors
        mem, reset, detach, rule = ctx.options
        kernels = ctx.kernels
        T, n, batch, N = states.shape
        table = spike_table(rule.burst, states, int(rule.refractory))
        if counts is None:  # never read (spikes are rederived), but the kernels take an array
            counts = torch.empty((1, batch, N), dtype=torch.uint8, device=states.device)
        like = dict(dtype=states.dtype, device=states.device)
        zeros = lambda *shape: torch.zeros(shape, **like)
        g_spikes = zeros(T, batch, N) if g_spikes is None else g_spikes.to(states.dtype).contiguous()
        gx = zeros(n, batch, N) if g_final_x is None else g_final_x.to(states.dtype).contiguous().clone()
        gs = zeros(batch, N) if g_final_s is None else g_final_s.to(states.dtype).contiguous().clone()
        g_states = None if g_states is None else g_states.to(states.dtype).contiguous()
        with_params = any(ctx.needs_input_grad[2:7])
        pb, TH = (batch if with_params else 1), H.shape[0]
        g_params = (zeros(pb, TH, n, n, N), zeros(pb, TH, n, N), zeros(pb, n, N), zeros(pb, n, N), zeros(pb, N))
        g_D = _empty(kernels, (T, batch, N), states.dtype, states.device)
        args = (g_spikes, g_states, drives, H, Bm, kr, ks, th, x0, s0, states, counts, spikes, table, mem, reset,
                detach, rule, with_params, g_D, gx, gs, g_params)
        steps = (kernels.recurrent_backward(*args) if hasattr(kernels, "recurrent_backward")
                 else _SlicedBackward(kernels, *args))
        g_rows = g_D.unbind(0)
        # the recurrent product of step t enters the drive times scale[t]: its adjoint is scale[t]·ḡd_t
        alphas = [1.0] * T if scale is None else scale.tolist()
        for t in range(T - 1, -1, -1):
            steps.step(t)                                 # gx, gs: adjoints before step t, without the
            gs.addmm_(g_rows[t], V, alpha=alphas[t])  # recurrent path, which adds ḡd_t V to ḡs_{t−1}
        g_rec = g_D if scale is None else g_D * scale.to(g_D.dtype).reshape(T, 1, 1)
        g_V = None
        if ctx.needs_input_grad[9]:
            # ḡV = Σ_t ḡd_tᵀ s_{t−1}: one product over all steps instead of T small ones
            g_V = g_rec[0].t() @ s0
            if T > 1:
                g_V.addmm_(g_rec[1:].reshape((T - 1) * batch, N).t(), spikes[:T - 1].reshape((T - 1) * batch, N))
        g_H, g_B, g_kr, g_ks, g_th = (g.sum(0) for g in g_params) if with_params else (None,) * 5
        return (None, g_D, g_H, g_B, g_kr, g_ks, g_th, gx, gs, g_V, None, None, None, None, None, None, None, None,
                None)
