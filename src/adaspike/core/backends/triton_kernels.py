"""Triton kernels of the neuron scan (CUDA): one program per block of (batch, neuron) pairs, time loop inside.

Same layouts and recursion as ``numba_kernels`` (see there), flattened to M = B·N elements. Options are
compile-time constants, so each (state size, reset, spike rule, surrogate, …) combination compiles once on
first use and is cached by Triton. ``enable_fp_fusion=False`` and IEEE division keep the forward bit-identical
to the reference's separate multiply/add kernels.

Refractory rules (``HOLD`` = k > 0, a compile-time constant like the other options) mirror the numba kernels:
the forward carries the blocked-steps counter (from ``R0``, into ``R_OUT``; in the input dtype, with the
reference's operations), a blocked neuron emits nothing and its saved count is the code 255 (``BLOCKED``); the
backward reads each step's mask and the masked previous spikes from those codes.
"""
from __future__ import annotations

import triton
import triton.language as tl

from . import codes

# the shared integer codes, as compile-time constants a kernel may read as globals
RESET_SUBTRACT, RESET_ZERO, RESET_NONE = (tl.constexpr(codes.RESET_SUBTRACT), tl.constexpr(codes.RESET_ZERO),
                                          tl.constexpr(codes.RESET_NONE))
SURR_FAST_SIGMOID, SURR_ARCTAN, SURR_SIGMOID = (tl.constexpr(codes.SURR_FAST_SIGMOID), tl.constexpr(codes.SURR_ARCTAN),
                                                tl.constexpr(codes.SURR_SIGMOID))
BLOCKED = tl.constexpr(codes.BLOCKED)


@triton.jit
def _spike_count(v, th, BURST: tl.constexpr, STRICT: tl.constexpr):
    if BURST == 0:
        z = v - th
        if STRICT:
            c = tl.where(z > 0, 1.0, 0.0)
        else:
            c = tl.where(z >= 0, 1.0, 0.0)
    else:
        if v.dtype == tl.float64:
            q = v / th  # fp64 division is IEEE-rounded already
        else:
            q = tl.math.div_rn(v, th)  # '/' on fp32 would be an approximate division
        c = tl.minimum(tl.maximum(tl.floor(q), 0.0), BURST * 1.0)
    return c


@triton.jit
def _spike_count_cap(v, th, cap, STRICT: tl.constexpr):
    """``_spike_count`` with a run-time count code ``cap`` (0: binary Θ(v − θ), Γ ≥ 1: clamp(⌊v/θ⌋, 0, Γ)),
    the per-step rule of a refractory rule (irregular steps)."""
    z = v - th
    if STRICT:
        binary = tl.where(z > 0, 1.0, 0.0)
    else:
        binary = tl.where(z >= 0, 1.0, 0.0)
    if v.dtype == tl.float64:
        q = v / th
    else:
        q = tl.math.div_rn(v, th)
    burst = tl.minimum(tl.maximum(tl.floor(q), 0.0), cap.to(tl.float32))
    return tl.where(cap == 0, binary, burst)


@triton.jit
def _surrogate(z, slope, SURR: tl.constexpr):
    if SURR == SURR_FAST_SIGMOID:
        d = slope * tl.abs(z) + 1.0
        g = 1.0 / (d * d)
    elif SURR == SURR_ARCTAN:
        u = 1.5707963267948966 * slope * z
        g = (slope * 0.5) / (1.0 + u * u)
    elif SURR == SURR_SIGMOID:
        sig = 1.0 / (1.0 + tl.exp(-slope * z))
        g = slope * sig * (1.0 - sig)
    else:
        g = slope * tl.maximum(1.0 - slope * tl.abs(z), 0.0)
    return g


@triton.jit
def scan_forward_kernel(I, H, Bm, KR, KS, TH, X0, S0, STATES, COUNTS, R0, R_OUT, HOLDS, CAPS, T, M, N,
                        NS: tl.constexpr, MEM: tl.constexpr, RESET: tl.constexpr, BURST: tl.constexpr,
                        STRICT: tl.constexpr, TV: tl.constexpr, HOLD: tl.constexpr, HV: tl.constexpr,
                        BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    j = offs % N
    th = tl.load(TH + j, mask=mask, other=1.0)
    kr0 = tl.load(KR + j, mask=mask, other=0.0)
    ks0 = tl.load(KS + j, mask=mask, other=0.0)
    x0 = tl.load(X0 + offs, mask=mask, other=0.0)
    s = tl.load(S0 + offs, mask=mask, other=0.0)
    if NS == 2:
        kr1 = tl.load(KR + N + j, mask=mask, other=0.0)
        ks1 = tl.load(KS + N + j, mask=mask, other=0.0)
        x1 = tl.load(X0 + M + offs, mask=mask, other=0.0)
    if HOLD > 0:
        blk = tl.load(R0 + offs, mask=mask, other=0.0)  # blocked-steps counter, in the input dtype
    for t in range(T):
        tt = t * TV
        if RESET == RESET_SUBTRACT:
            r = th * s
        elif RESET == RESET_ZERO:
            if MEM == 0:
                r = x0 * tl.minimum(s, 1.0)
            else:
                r = x1 * tl.minimum(s, 1.0)
        drive = tl.load(I + t * M + offs, mask=mask, other=0.0)
        y0 = x0
        if RESET != RESET_NONE:
            y0 = y0 + kr0 * r
        y0 = y0 + ks0 * s
        if NS == 1:
            x0 = tl.load(H + tt * N + j, mask=mask) * y0 + tl.load(Bm + tt * N + j, mask=mask) * drive
            v = x0
            tl.store(STATES + t * M + offs, x0, mask=mask)
        else:
            y1 = x1
            if RESET != RESET_NONE:
                y1 = y1 + kr1 * r
            y1 = y1 + ks1 * s
            hb = H + tt * 4 * N + j
            bb = Bm + tt * 2 * N + j
            x0 = (tl.load(hb, mask=mask) * y0 + tl.load(hb + N, mask=mask) * y1) + tl.load(bb, mask=mask) * drive
            x1 = (tl.load(hb + 2 * N, mask=mask) * y0 + tl.load(hb + 3 * N, mask=mask) * y1) \
                + tl.load(bb + N, mask=mask) * drive
            tl.store(STATES + (t * 2) * M + offs, x0, mask=mask)
            tl.store(STATES + (t * 2 + 1) * M + offs, x1, mask=mask)
            if MEM == 0:
                v = x0
            else:
                v = x1
        if HOLD > 0:
            # per-step count code and counter value after a spike (HOLDS/CAPS [T] with HV = 1, else [1])
            k_hold = tl.load(HOLDS + t * HV)
            c = _spike_count_cap(v, th, tl.load(CAPS + t * HV), STRICT)
            # the reference's s·(blocked <= 0); then blocked = k after a spike, else max(blocked − 1, 0)
            free = blk <= 0.0
            c = tl.where(free, c, 0.0)
            tl.store(COUNTS + t * M + offs, tl.where(free, c, BLOCKED * 1.0).to(tl.uint8), mask=mask)
            d = blk - 1.0
            blk = tl.where(c > 0, k_hold, tl.where(d < 0.0, 0.0, d))
        else:
            c = _spike_count(v, th, BURST, STRICT)
            tl.store(COUNTS + t * M + offs, c.to(tl.uint8), mask=mask)
        s = c.to(x0.dtype)
    if HOLD > 0:
        tl.store(R_OUT + offs, blk, mask=mask)


@triton.jit
def scan_backward_kernel(GS, GX, GFX, GFS, I, H, Bm, KR, KS, TH, X0, S0, STATES, COUNTS,
                         G_I, G_X0, G_S0, G_H, G_B, G_KR, G_KS, G_TH, slope, T, M, N,
                         NS: tl.constexpr, MEM: tl.constexpr, RESET: tl.constexpr, DETACH: tl.constexpr,
                         SURR: tl.constexpr, TV: tl.constexpr, WITH_STATES: tl.constexpr,
                         WITH_PARAMS: tl.constexpr, WITH_DRIVE: tl.constexpr, HOLD: tl.constexpr,
                         BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    j = offs % N
    b = offs // N
    TH_ = T * TV + 1 - TV  # number of parameter steps
    th = tl.load(TH + j, mask=mask, other=1.0)
    kr0 = tl.load(KR + j, mask=mask, other=0.0)
    ks0 = tl.load(KS + j, mask=mask, other=0.0)
    kr1 = kr0 * 0.0
    ks1 = ks0 * 0.0
    if NS == 2:
        kr1 = tl.load(KR + N + j, mask=mask, other=0.0)
        ks1 = tl.load(KS + N + j, mask=mask, other=0.0)
    gx0 = tl.load(GFX + offs, mask=mask, other=0.0)
    gx1 = gx0 * 0.0
    if NS == 2:
        gx1 = tl.load(GFX + M + offs, mask=mask, other=0.0)
    gs = tl.load(GFS + offs, mask=mask, other=0.0)
    a_kr0 = gx0 * 0.0
    a_kr1 = a_kr0
    a_ks0 = a_kr0
    a_ks1 = a_kr0
    a_th = a_kr0
    a_h00 = a_kr0
    a_h01 = a_kr0
    a_h10 = a_kr0
    a_h11 = a_kr0
    a_b0 = a_kr0
    a_b1 = a_kr0
    for k in range(T):
        t = T - 1 - k
        tt = t * TV
        g_v = gs + tl.load(GS + t * M + offs, mask=mask, other=0.0)
        g0 = gx0
        g1 = gx1
        if WITH_STATES:
            g0 += tl.load(GX + (t * NS) * M + offs, mask=mask, other=0.0)
            if NS == 2:
                g1 += tl.load(GX + (t * NS + 1) * M + offs, mask=mask, other=0.0)
        v = tl.load(STATES + (t * NS + MEM) * M + offs, mask=mask, other=0.0)
        sgrad = g_v * _surrogate(v - th, slope, SURR)
        if HOLD > 0:  # a blocked step's spike is a constant 0: no surrogate gradient
            code_t = tl.load(COUNTS + t * M + offs, mask=mask, other=0).to(tl.int32)
            sgrad = tl.where(code_t == BLOCKED, 0.0, sgrad)
        if MEM == 0:
            g0 += sgrad
        else:
            g1 += sgrad
        gth = -sgrad
        first = t == 0
        later = mask & (offs * 0 + t > 0)  # a tensor comparison (a bare `t > 0` breaks TRITON_INTERPRET)
        p0 = tl.where(first, tl.load(X0 + offs, mask=mask, other=0.0),
                      tl.load(STATES + ((t - 1) * NS) * M + offs, mask=later, other=0.0))
        p1 = p0 * 0.0
        if NS == 2:
            p1 = tl.where(first, tl.load(X0 + M + offs, mask=mask, other=0.0),
                          tl.load(STATES + ((t - 1) * NS + 1) * M + offs, mask=later, other=0.0))
        code_p = tl.load(COUNTS + (t - 1) * M + offs, mask=later, other=0).to(tl.int32)
        if HOLD > 0:  # code BLOCKED: a blocked step, spike 0
            code_p = tl.where(code_p == BLOCKED, 0, code_p)
        sp = tl.where(first, tl.load(S0 + offs, mask=mask, other=0.0), code_p.to(p0.dtype))
        if MEM == 0:
            pm = p0
        else:
            pm = p1
        if RESET == RESET_SUBTRACT:
            r = th * sp
        elif RESET == RESET_ZERO:
            r = pm * tl.minimum(sp, 1.0)
        else:
            r = sp * 0.0
        y0 = p0 + kr0 * r + ks0 * sp
        y1 = p1 + kr1 * r + ks1 * sp
        drive = p0 * 0.0
        if WITH_DRIVE:
            drive = tl.load(I + t * M + offs, mask=mask, other=0.0)
        hb = H + tt * NS * NS * N + j
        bb = Bm + tt * NS * N + j
        h00 = tl.load(hb, mask=mask, other=0.0)
        b0 = tl.load(bb, mask=mask, other=0.0)
        if NS == 1:
            gy0 = h00 * g0
            gy1 = gy0 * 0.0
            tl.store(G_I + t * M + offs, b0 * g0, mask=mask)
        else:
            h01 = tl.load(hb + N, mask=mask, other=0.0)
            h10 = tl.load(hb + 2 * N, mask=mask, other=0.0)
            h11 = tl.load(hb + 3 * N, mask=mask, other=0.0)
            b1 = tl.load(bb + N, mask=mask, other=0.0)
            gy0 = h00 * g0 + h10 * g1
            gy1 = h01 * g0 + h11 * g1
            tl.store(G_I + t * M + offs, b0 * g0 + b1 * g1, mask=mask)
        if WITH_PARAMS:
            if TV:
                # per-step parameters: one slot per (b, t), layout [B, T, NS, NS, N]
                base_h = G_H + ((b * TH_ + t) * NS * NS) * N + j
                base_b = G_B + ((b * TH_ + t) * NS) * N + j
                tl.store(base_h, g0 * y0, mask=mask)
                tl.store(base_b, g0 * drive, mask=mask)
                if NS == 2:
                    tl.store(base_h + N, g0 * y1, mask=mask)
                    tl.store(base_h + 2 * N, g1 * y0, mask=mask)
                    tl.store(base_h + 3 * N, g1 * y1, mask=mask)
                    tl.store(base_b + N, g1 * drive, mask=mask)
            else:
                a_h00 += g0 * y0
                a_h01 += g0 * y1
                a_h10 += g1 * y0
                a_h11 += g1 * y1
                a_b0 += g0 * drive
                a_b1 += g1 * drive
            a_ks0 += gy0 * sp
            a_ks1 += gy1 * sp
            a_kr0 += gy0 * r
            a_kr1 += gy1 * r
        g_r = kr0 * gy0 + kr1 * gy1
        g_sp = ks0 * gy0 + ks1 * gy1
        if RESET == RESET_SUBTRACT:
            gth += g_r * sp
            if not DETACH:
                g_sp += g_r * th
        elif RESET == RESET_ZERO:
            if MEM == 0:
                gy0 += g_r * tl.minimum(sp, 1.0)
            else:
                gy1 += g_r * tl.minimum(sp, 1.0)
            if not DETACH:
                g_sp += tl.where(sp <= 1.0, g_r * pm, 0.0)
        a_th += gth
        gx0 = gy0
        gx1 = gy1
        gs = g_sp
    tl.store(G_X0 + offs, gx0, mask=mask)
    if NS == 2:
        tl.store(G_X0 + M + offs, gx1, mask=mask)
    tl.store(G_S0 + offs, gs, mask=mask)
    if WITH_PARAMS:
        # per-batch-row slots [B, n, N] / [B, N]; summed over the batch by the caller
        tl.store(G_TH + offs, a_th, mask=mask)
        tl.store(G_KS + (b * NS) * N + j, a_ks0, mask=mask)
        tl.store(G_KR + (b * NS) * N + j, a_kr0, mask=mask)
        if NS == 2:
            tl.store(G_KS + (b * NS + 1) * N + j, a_ks1, mask=mask)
            tl.store(G_KR + (b * NS + 1) * N + j, a_kr1, mask=mask)
        if not TV:
            base_h = G_H + (b * NS * NS) * N + j
            base_b = G_B + (b * NS) * N + j
            tl.store(base_h, a_h00, mask=mask)
            tl.store(base_b, a_b0, mask=mask)
            if NS == 2:
                tl.store(base_h + N, a_h01, mask=mask)
                tl.store(base_h + 2 * N, a_h10, mask=mask)
                tl.store(base_h + 3 * N, a_h11, mask=mask)
                tl.store(base_b + N, a_b1, mask=mask)
