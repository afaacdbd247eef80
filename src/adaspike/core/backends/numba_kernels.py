"""Numba kernels of the neuron scan: forward and one reverse (adjoint) recursion over a range of batch rows.

Imported lazily (only when the numba backend is first used): nothing here is compiled at import of ``adaspike``.
Layouts keep the neuron axis N innermost so the per-step loop runs over contiguous memory:

    current I [T, B, N]      H [TH, n, n, N]   B [TH, n, N]   (TH = T when time-varying, else 1)
    kicks K_reset, K_spike [n, N]   θ [N]      states x [T, n, B, N]   counts c [T, B, N] (uint8)

Per step (the reference's "pre" convention, r = reset amount of the previous spikes):
    y = x_{t-1} + K_reset·r + K_spike·s_{t-1};   x_t = H_t y + B_t I_t;   s_t = spike(x_t[m], θ)
The forward repeats the reference's floating-point operations in the same order, so spikes are bit-identical.
The backward walks t = T−1 … 0 once, carrying the adjoints (ḡx, ḡs) of (x_{t−1}, s_{t−1}).
Only two specialisations are compiled (float32 and float64), serial and GIL-free (``parallel=True`` made the
first compilation several times slower); modes are plain integer arguments. Each step of a
batch row is a few simple loops over the contiguous neuron axis (mode branches outside the loops, arithmetic
masks inside), which LLVM vectorises; one loop with every branch inside ran about 3× slower.
``error_model="numpy"``: a float division by zero gives inf/NaN instead of raising, which removes a branch per
division that kept the surrogate loops scalar (every divisor here is ≥ 1, or θ > 0, so results are unchanged;
this is not fastmath: no reassociation or contraction). The common LIF step (one state, binary spikes, reset
by subtraction) runs forward in a single pass per step that also writes the spikes themselves.

Refractory rules (``hold`` = k > 0 blocked steps after a spike): the forward carries a per-neuron counter (in the
input dtype, updated with the reference's own operations: blocked = k after a spike, else max(blocked − 1, 0));
a neuron whose counter is > 0 emits nothing and its saved count is the code ``BLOCKED``, from which the backward
reads the step's mask (no surrogate gradient) and, through the 256-entry table (table[BLOCKED] = 0), the
masked previous spikes. The k = 0 path is untouched apart from one branch per step outside the neuron loops.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from .codes import (BLOCKED, RESET_NONE, RESET_SUBTRACT, RESET_ZERO, SURR_ARCTAN, SURR_FAST_SIGMOID, SURR_SIGMOID,
                    SURR_TRIANGLE)


@nb.njit(inline="always")
def _count(v, th, burst, strict):
    """Spike count: Θ(v − θ) (≥ or >), or clamp(⌊v/θ⌋, 0, Γ) for bursts (Γ = ``burst`` > 0)."""
    if burst == 0:
        z = v - th
        return 1 if (z > 0 if strict else z >= 0) else 0
    q = v / th
    if not q >= 0:  # also NaN: no count (and no table index) is derived from it
        return 0
    if q >= burst:
        return burst
    return int(math.floor(q))


@nb.njit(inline="always")
def _spikes_row(v, th, burst, strict, table, out):
    """out[j] = table[count(v[j], θ[j])], the forward's spikes rederived from its states. Binary spikes skip the
    table gather: that loop ran about 6× slower than a whole LIF adjoint step (measured)."""
    N = v.shape[0]
    one, zero = table[1], table[0]
    if burst == 0 and strict:
        for j in range(N):
            out[j] = one if v[j] - th[j] > 0 else zero
    elif burst == 0:
        for j in range(N):
            out[j] = one if v[j] - th[j] >= 0 else zero
    else:
        for j in range(N):
            out[j] = table[_count(v[j], th[j], burst, strict)]


@nb.njit(inline="always")
def _spike_grad_row(v, th, gs, gsp, kind, slope, out):
    """out[j] = (gs[j] + gsp[j])·σ'(v[j] − θ[j]) for the surrogate ``kind`` (one loop per kind, so each vectorises)."""
    N = v.shape[0]
    if kind == SURR_FAST_SIGMOID:
        for j in range(N):
            d = slope * abs(v[j] - th[j]) + 1.0
            out[j] = (gs[j] + gsp[j]) / (d * d)
    elif kind == SURR_ARCTAN:
        for j in range(N):
            u = math.pi / 2.0 * slope * (v[j] - th[j])
            out[j] = (gs[j] + gsp[j]) * (slope / 2.0) / (1.0 + u * u)
    elif kind == SURR_SIGMOID:
        for j in range(N):
            sig = 1.0 / (1.0 + math.exp(-slope * (v[j] - th[j])))
            out[j] = (gs[j] + gsp[j]) * slope * sig * (1.0 - sig)
    else:
        for j in range(N):
            out[j] = (gs[j] + gsp[j]) * slope * max(0.0, 1.0 - slope * abs(v[j] - th[j]))


@nb.njit(inline="always")
def _reset_row(reset, s, xm, th, one, r):
    """r = θ·s (subtract), x_mem·min(s, 1) (zero) or 0 (none), in the input dtype like the reference."""
    N = s.shape[0]
    if reset == RESET_SUBTRACT:
        for j in range(N):
            r[j] = th[j] * s[j]
    elif reset == RESET_ZERO:
        for j in range(N):
            r[j] = xm[j] * (s[j] if s[j] < one else one)
    else:
        for j in range(N):
            r[j] = s[j] - s[j]


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _lif_subtract_rows(I, A, H, Bm, kr, ks, th, x0, s0, one, zero, strict, states, counts, spikes, t0, t1, b0, b1):
    """``scan_forward`` for the common LIF (one state, binary spikes, reset by subtraction, no refractory
    rule): reset amount, propagation and spike in one pass per step. Its own function, entered once per call:
    inside the general kernel's step loop LLVM compiled the same loop about 1.6× slower (measured).

    The drive of step t is I_t + A_t: a recurrent scan passes its product s_{t−1}·Vᵀ as I and the current as
    ``A`` [T, B, N] (the reference's sum, one float addition, bit for bit); otherwise ``A`` is a [1, 1, N] row
    of zeros (x + 0 = x)."""
    T, N = spikes.shape[0], I.shape[2]
    ci = 1 if I.shape[0] == T else 0
    ca = 1 if A.shape[0] == T else 0
    cb = 1 if A.shape[1] > 1 else 0
    ct = 1 if counts.shape[0] == T else 0
    st = 1 if states.shape[0] == T else 0
    tv = 1 if H.shape[0] > 1 else 0
    loose = not strict
    x = np.empty(N, dtype=spikes.dtype)
    s = np.empty(N, dtype=spikes.dtype)
    for b in range(b0, b1):
        x0b, s0b = x0[0, b], s0[b]
        for j in range(N):
            x[j] = x0b[j]
            s[j] = s0b[j]
        for t in range(t0, t1):
            tt = t * tv
            h, g, k0, q0 = H[tt, 0, 0], Bm[tt, 0], kr[0], ks[0]
            drive, out, c_out, s_out = I[t * ci, b], states[t * st, 0, b], counts[t * ct, b], spikes[t, b]
            a = A[t * ca, b * cb]
            for j in range(N):
                sj = s[j]
                y = x[j] + k0[j] * (th[j] * sj)
                y = y + q0[j] * sj
                v = h[j] * y + g[j] * (drive[j] + a[j])
                x[j] = v
                out[j] = v
                z = v - th[j]
                fire = (z > 0) | ((z == 0) & loose)  # Θ(z) with z ≥ 0, or z > 0 when strict
                c_out[j] = 1 if fire else 0
                sn = one if fire else zero
                s[j] = sn
                s_out[j] = sn


@nb.njit(nogil=True, cache=True, error_model="numpy")
def scan_forward(I, H, Bm, kr, ks, th, x0, s0, table, mem, reset, burst, strict, states, counts, spikes,
                 hold, holds, caps, r0, r_out, t0, t1, b0, b1):
    """Fill ``states`` [T, n, B, N] (post-propagation, pre-reset), spike ``counts`` [T, B, N] and the spikes
    themselves ``spikes`` [T, B, N] (= table[counts], in the input dtype) for batch rows b0 ≤ b < b1 (the caller
    runs row ranges on several threads; the GIL is released).

    With ``hold`` > 0 (refractory rule) the blocked-steps counter starts from ``r0`` [B, N] and ends in
    ``r_out`` [B, N]; blocked neurons get the count code BLOCKED. With ``hold`` = 0 both may be [1, 1] dummies.
    A refractory rule reads, per step, the counter's value after a spike ``holds`` (input dtype) and the spike
    count code ``caps`` (0 binary, Γ ≥ 1 a burst cap): [T] for a clock of irregular steps, else [1].

    Only steps t0 ≤ t < t1 run, starting from (``x0``, ``s0``): a recurrent scan calls one step at a time on the
    full buffers (its drive for step t, in ``I[t]``, needs the spikes of step t − 1). ``I`` may then be a
    one-step [1, B, N] buffer that holds the drive of the step being run."""
    T, N = spikes.shape[0], I.shape[2]
    ci = 1 if I.shape[0] == T else 0  # I [1, B, N]: the caller refills it for every step
    st = 1 if states.shape[0] == T else 0  # states [1, n, B, N]: per-row scratch (inference keeps no trace)
    n = H.shape[1]
    tv = 1 if H.shape[0] > 1 else 0
    one = table[1]
    zero = table[0]
    if n == 1 and burst == 0 and reset == RESET_SUBTRACT and hold == 0:
        _lif_subtract_rows(I, np.zeros((1, 1, N), dtype=I.dtype), H, Bm, kr, ks, th, x0, s0, one, zero, strict,
                           states, counts, spikes, t0, t1, b0, b1)
        return
    kick = reset != RESET_NONE  # the reference skips the reset kick entirely for reset "none"
    ct = 1 if counts.shape[0] == T else 0  # counts [1, B, N]: per-row scratch, nothing kept
    hv = 1 if holds.shape[0] > 1 else 0  # per-step caps and holds (irregular steps), or one pair
    # per-row scratch, allocated once per call: a one-step call (recurrent scans) would otherwise spend more
    # on these allocations than on the step itself
    x = np.empty((n, N), dtype=states.dtype)
    s = np.empty(N, dtype=states.dtype)
    r = np.empty_like(s)
    blk = np.empty(r0.shape[1], dtype=r0.dtype)
    for b in range(b0, b1):
        # running state of this batch row, in the input dtype (explicit loops: numba's slice assignment costs
        # about as much as a step)
        for i in range(n):
            xi, x0i = x[i], x0[i, b]
            for j in range(N):
                xi[j] = x0i[j]
        s0b = s0[b]
        for j in range(N):
            s[j] = s0b[j]
        r0b = r0[b if hold > 0 else 0]  # blocked-steps counter (a 1-element dummy without hold)
        for j in range(blk.shape[0]):
            blk[j] = r0b[j]
        for t in range(t0, t1):
            tt = t * tv
            drive = I[t * ci, b]
            c_out, s_out = counts[t * ct, b], spikes[t, b]
            _reset_row(reset, s, x[mem], th, one, r)
            if n == 1:
                h, g, k0, q0, x_0, out = H[tt, 0, 0], Bm[tt, 0], kr[0], ks[0], x[0], states[t * st, 0, b]
                for j in range(N):
                    y = x_0[j] + k0[j] * r[j] if kick else x_0[j]
                    y = y + q0[j] * s[j]
                    # the reference sums 0 + H·y (an exact no-op) then adds B·I
                    v = h[j] * y + g[j] * drive[j]
                    x_0[j] = v
                    out[j] = v
            else:
                Ht, Bt, x_0, x_1 = H[tt], Bm[tt], x[0], x[1]
                out0, out1 = states[t * st, 0, b], states[t * st, 1, b]
                for j in range(N):
                    y0 = x_0[j] + kr[0, j] * r[j] if kick else x_0[j]
                    y1 = x_1[j] + kr[1, j] * r[j] if kick else x_1[j]
                    y0 = y0 + ks[0, j] * s[j]
                    y1 = y1 + ks[1, j] * s[j]
                    a0 = Ht[0, 0, j] * y0 + Ht[0, 1, j] * y1 + Bt[0, j] * drive[j]
                    a1 = Ht[1, 0, j] * y0 + Ht[1, 1, j] * y1 + Bt[1, j] * drive[j]
                    x_0[j] = a0
                    x_1[j] = a1
                    out0[j] = a0
                    out1[j] = a1
            xm = x[mem]
            if hold > 0:
                # refractory: the reference's s·(blocked <= 0), then blocked = k after a spike, else
                # max(blocked − 1, 0) (same dtype and operations, so the counter is bit-identical)
                k_hold, cap = holds[t * hv], caps[t * hv]
                for j in range(N):
                    c = _count(xm[j], th[j], cap, strict)
                    bl = blk[j]
                    if bl <= zero:
                        c_out[j] = c
                    else:
                        c = 0
                        c_out[j] = BLOCKED
                    sn = table[c]
                    s[j] = sn
                    s_out[j] = sn
                    if c > 0:
                        blk[j] = k_hold
                    else:
                        d = bl - one
                        blk[j] = zero if d < zero else d
            elif burst == 0 and not strict:
                for j in range(N):
                    fire = xm[j] - th[j] >= 0
                    c_out[j] = 1 if fire else 0
                    sn = one if fire else zero
                    s[j] = sn
                    s_out[j] = sn
            elif burst == 0:
                for j in range(N):
                    fire = xm[j] - th[j] > 0
                    c_out[j] = 1 if fire else 0
                    sn = one if fire else zero
                    s[j] = sn
                    s_out[j] = sn
            else:
                for j in range(N):
                    c = _count(xm[j], th[j], burst, strict)
                    c_out[j] = c
                    s[j] = table[c]
                    s_out[j] = table[c]
        if hold > 0:
            for j in range(N):
                r_out[b, j] = blk[j]


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _lif_backward_rows(g_spikes, g_states, g_final_x, g_final_s, I, H, Bm, kr, ks, th, x0, s0, states, table,
                       surrogate, slope, burst, strict, c_sub, c_reset, with_states, with_params, with_drive, g_I,
                       g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th, t0, t1, b0, b1):
    """``scan_backward`` for one state, reset by subtraction or none, no refractory rule, in its own function
    like ``_lif_subtract_rows``: 1.5× faster than the general loop (measured). ``c_sub`` = 1 for a subtract
    reset, ``c_reset`` = 1 for a differentiable one (else 0); the arithmetic runs in the tensors' dtype. The
    previous spikes (recomputed from the states) are needed only for the parameter gradients."""
    T, N = g_I.shape[0], g_I.shape[2]
    ci = 1 if I.shape[0] == T else 0
    tv = 1 if H.shape[0] > 1 else 0
    c = g_I.dtype.type(c_reset)
    cs = g_I.dtype.type(c_sub)
    gx = np.empty(N, dtype=g_I.dtype)
    gs = np.empty(N, dtype=g_I.dtype)
    sg = np.empty(N, dtype=g_I.dtype)
    sp = np.empty(N, dtype=g_I.dtype)
    k0, q0 = kr[0], ks[0]
    for b in range(b0, b1):
        gfx, gfs = g_final_x[0, b], g_final_s[b]
        for j in range(N):
            gx[j] = gfx[j]
            gs[j] = gfs[j]
        for t in range(t1 - 1, t0 - 1, -1):
            h, g = H[t * tv, 0, 0], Bm[t * tv, 0]
            _spike_grad_row(states[t, 0, b], th, gs, g_spikes[t, b], surrogate, slope, sg)
            if with_states:
                gst = g_states[t, 0, b]
                for j in range(N):
                    gx[j] += gst[j]
            gI = g_I[t, b]
            if with_params:
                pt = t * tv
                gH, gB, gkr, gks, gth = g_H[b, pt, 0, 0], g_B[b, pt, 0], g_kr[b, 0], g_ks[b, 0], g_th[b]
                if t == 0:
                    p_0 = x0[0, b]
                    for j in range(N):
                        sp[j] = s0[b, j]
                else:
                    p_0 = states[t - 1, 0, b]
                    _spikes_row(p_0, th, burst, strict, table, sp)
                drive = I[t * ci, b] if with_drive else I[0, 0]
                for j in range(N):
                    g0 = gx[j] + sg[j]
                    gth[j] -= sg[j]
                    r = cs * (th[j] * sp[j])
                    y0 = p_0[j] + k0[j] * r + q0[j] * sp[j]
                    gH[j] += g0 * y0
                    if with_drive:
                        gB[j] += g0 * drive[j]
                    gy0 = h[j] * g0
                    gkr[j] += gy0 * r
                    gks[j] += gy0 * sp[j]
                    gth[j] += cs * (k0[j] * gy0) * sp[j]
                    gI[j] = g[j] * g0
                    gs[j] = q0[j] * gy0 + c * (k0[j] * gy0) * th[j]
                    gx[j] = gy0
            else:
                for j in range(N):
                    g0 = gx[j] + sg[j]
                    gy0 = h[j] * g0
                    gI[j] = g[j] * g0
                    gs[j] = q0[j] * gy0 + c * (k0[j] * gy0) * th[j]
                    gx[j] = gy0
        for j in range(N):
            g_x0[0, b, j] = gx[j]
            g_s0[b, j] = gs[j]


@nb.njit(nogil=True, cache=True, error_model="numpy")
def scan_backward(g_spikes, g_states, g_final_x, g_final_s, I, H, Bm, kr, ks, th, x0, s0, states, counts, table,
                  mem, reset, detach, surrogate, slope, burst, strict, with_states, with_params, with_drive, hold,
                  g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th, t0, t1, b0, b1):
    """Exact adjoint of ``scan_forward``; parameter gradients are kept per batch row ([B, ...]) and summed later.

    The previous spikes are recomputed from the saved pre-spike states with the forward's own rule (the same
    inputs give the same counts), so ``counts`` is not read and the forward need not keep it, except for a
    refractory rule (``hold`` > 0): then ``counts`` [T, B, N] holds the forward's codes, BLOCKED marking a step
    whose spike was masked (no surrogate gradient there), and the previous spikes are table[code]
    (``table`` has 256 entries, table[BLOCKED] = 0).

    ``I`` is read only when ``with_drive`` (B needs its gradient); otherwise it may be a dummy [1, 1, 1].
    Reset paths are arithmetic masks: c_sub/c_zero select the mode, c_grad = 0 detaches the spikes in r.

    Only steps t1 − 1 … t0 run: the adjoints start from (``g_final_x``, ``g_final_s``), the adjoints of the state
    after step t1 − 1, and end in (``g_x0``, ``g_s0``), those of the state before step t0 (each batch row reads its
    inputs before writing its outputs, so they may be the same arrays). Parameter gradients are added to
    ``g_H`` … ``g_th``, so calls for successive steps accumulate them.
    """
    T, _, N = g_I.shape
    ci = 1 if I.shape[0] == T else 0
    n = H.shape[1]
    tv = 1 if H.shape[0] > 1 else 0
    one = table[1]
    c_sub = 1.0 if reset == RESET_SUBTRACT else 0.0
    c_zero = 1.0 if reset == RESET_ZERO else 0.0
    c_grad = 0.0 if detach else 1.0
    m0 = 1.0 if mem == 0 else 0.0
    m1 = 1.0 - m0
    gx = np.zeros((2, N), dtype=g_I.dtype)   # adjoint of x_t, carried backwards (scratch shared by the rows)
    gs = np.empty(N, dtype=g_I.dtype)         # adjoint of s_t
    sg = np.empty(N, dtype=g_I.dtype)
    sp = np.empty(N, dtype=g_I.dtype)
    r = np.empty(N, dtype=g_I.dtype)
    g_0, g_1 = gx[0], gx[1]
    if n == 1 and reset != RESET_ZERO and hold == 0:
        _lif_backward_rows(g_spikes, g_states, g_final_x, g_final_s, I, H, Bm, kr, ks, th, x0, s0, states, table,
                           surrogate, slope, burst, strict, c_sub, c_grad * c_sub, with_states, with_params,
                           with_drive, g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th, t0, t1, b0, b1)
        return
    for b in range(b0, b1):
        gfs = g_final_s[b]
        for j in range(N):
            gs[j] = gfs[j]
        for i in range(n):
            gxi, gfx = gx[i], g_final_x[i, b]
            for j in range(N):
                gxi[j] = gfx[j]
        for t in range(t1 - 1, t0 - 1, -1):
            tt = t * tv
            pt = tt if tv == 1 else 0
            # spike: s_t = spike(x_t[m] − θ) with the surrogate derivative
            v, gsp_t = states[t, mem, b], g_spikes[t, b]
            _spike_grad_row(v, th, gs, gsp_t, surrogate, slope, sg)
            if hold > 0:  # a blocked neuron's spike is a constant 0: no gradient to its membrane
                code_t = counts[t, b]
                for j in range(N):
                    if code_t[j] == BLOCKED:
                        sg[j] = 0.0
            if with_states:
                for i in range(n):
                    gxi, gst = gx[i], g_states[t, i, b]
                    for j in range(N):
                        gxi[j] += gst[j]
            gm = gx[mem]
            fold_sg = n == 1 and not with_params and not (reset == RESET_ZERO)  # added in the step loop below
            if not fold_sg:
                for j in range(N):
                    gm[j] += sg[j]
            if with_params:
                gth = g_th[b]
                for j in range(N):
                    gth[j] -= sg[j]
            # previous state and spikes
            # the previous spikes enter only the parameter gradients and the zero-reset terms
            need_sp = with_params or reset == RESET_ZERO
            if t == 0:
                p_0 = x0[0, b]
                p_1 = x0[n - 1, b]
                if need_sp:
                    for j in range(N):
                        sp[j] = s0[b, j]
            else:
                p_0 = states[t - 1, 0, b]
                p_1 = states[t - 1, n - 1, b]
                if need_sp and hold > 0:
                    code_p = counts[t - 1, b]
                    for j in range(N):
                        sp[j] = table[code_p[j]]
                elif need_sp:
                    _spikes_row(states[t - 1, mem, b], th, burst, strict, table, sp)
            p_m = p_0 if mem == 0 else p_1
            if with_params:  # r enters only the parameter gradients
                _reset_row(reset, sp, p_m, th, one, r)
            drive = I[t * ci, b] if with_drive else I[0, 0]
            gI = g_I[t, b]
            if n == 1:
                h, g, k0, q0 = H[tt, 0, 0], Bm[tt, 0], kr[0], ks[0]
                if with_params:
                    gH, gB, gkr, gks = g_H[b, pt, 0, 0], g_B[b, pt, 0], g_kr[b, 0], g_ks[b, 0]
                    for j in range(N):
                        y0 = p_0[j] + k0[j] * r[j] + q0[j] * sp[j]
                        gH[j] += g_0[j] * y0
                        gB[j] += g_0[j] * (drive[j] if with_drive else 0.0)
                        gy0 = h[j] * g_0[j]
                        gkr[j] += gy0 * r[j]
                        gks[j] += gy0 * sp[j]
                        gth[j] += c_sub * (k0[j] * gy0) * sp[j]
                if not need_sp:
                    # reset subtract/none: the zero-reset terms (exact zeros) are left out
                    for j in range(N):
                        g0 = g_0[j] + sg[j]
                        gy0 = h[j] * g0
                        gI[j] = g[j] * g0
                        gs[j] = q0[j] * gy0 + c_grad * c_sub * (k0[j] * gy0) * th[j]
                        g_0[j] = gy0
                    continue
                for j in range(N):
                    gy0 = h[j] * g_0[j]
                    gI[j] = g[j] * g_0[j]
                    g_r = k0[j] * gy0
                    keep = 1.0 if sp[j] <= 1.0 else 0.0
                    gs[j] = (q0[j] * gy0 + c_grad * c_sub * g_r * th[j]
                             + c_grad * c_zero * keep * g_r * p_0[j])
                    g_0[j] = gy0 + c_zero * g_r * min(sp[j], 1.0)
            else:
                Ht, Bt = H[tt], Bm[tt]
                if with_params:
                    gH, gB, gkr, gks = g_H[b, pt], g_B[b, pt], g_kr[b], g_ks[b]
                    for j in range(N):
                        y0 = p_0[j] + kr[0, j] * r[j] + ks[0, j] * sp[j]
                        y1 = p_1[j] + kr[1, j] * r[j] + ks[1, j] * sp[j]
                        dr = drive[j] if with_drive else 0.0
                        gH[0, 0, j] += g_0[j] * y0
                        gH[0, 1, j] += g_0[j] * y1
                        gH[1, 0, j] += g_1[j] * y0
                        gH[1, 1, j] += g_1[j] * y1
                        gB[0, j] += g_0[j] * dr
                        gB[1, j] += g_1[j] * dr
                        gy0 = Ht[0, 0, j] * g_0[j] + Ht[1, 0, j] * g_1[j]
                        gy1 = Ht[0, 1, j] * g_0[j] + Ht[1, 1, j] * g_1[j]
                        gkr[0, j] += gy0 * r[j]
                        gkr[1, j] += gy1 * r[j]
                        gks[0, j] += gy0 * sp[j]
                        gks[1, j] += gy1 * sp[j]
                        gth[j] += c_sub * (kr[0, j] * gy0 + kr[1, j] * gy1) * sp[j]
                for j in range(N):
                    gy0 = Ht[0, 0, j] * g_0[j] + Ht[1, 0, j] * g_1[j]
                    gy1 = Ht[0, 1, j] * g_0[j] + Ht[1, 1, j] * g_1[j]
                    gI[j] = Bt[0, j] * g_0[j] + Bt[1, j] * g_1[j]
                    g_r = kr[0, j] * gy0 + kr[1, j] * gy1
                    keep = 1.0 if sp[j] <= 1.0 else 0.0
                    gs[j] = (ks[0, j] * gy0 + ks[1, j] * gy1 + c_grad * c_sub * g_r * th[j]
                             + c_grad * c_zero * keep * g_r * p_m[j])
                    zero_term = c_zero * g_r * min(sp[j], 1.0)
                    g_0[j] = gy0 + m0 * zero_term
                    g_1[j] = gy1 + m1 * zero_term
        for j in range(N):
            g_s0[b, j] = gs[j]
            for i in range(n):
                g_x0[i, b, j] = gx[i, j]


# Parallel launchers: ``chunks`` contiguous row ranges run under numba's own threading layer (OpenMP where
# available). This replaced Python threads, whose hand-off through the GIL cost 2–4 ms per call (measured on
# workload (1)); the serial kernels above stay the unit of work, so these wrappers compile in moments.
@nb.njit(parallel=True, nogil=True, cache=True)
def scan_forward_parallel(chunks, I, H, Bm, kr, ks, th, x0, s0, table, mem, reset, burst, strict, states, counts,
                          spikes, hold, holds, caps, r0, r_out, t0, t1):
    rows = I.shape[1]
    for c in nb.prange(chunks):
        scan_forward(I, H, Bm, kr, ks, th, x0, s0, table, mem, reset, burst, strict, states, counts, spikes,
                     hold, holds, caps, r0, r_out, t0, t1, rows * c // chunks, rows * (c + 1) // chunks)


@nb.njit(parallel=True, nogil=True, cache=True)
def lif_rows_parallel(chunks, I, A, H, Bm, kr, ks, th, x0, s0, one, zero, strict, states, counts, spikes, t0, t1):
    rows = I.shape[1]
    for c in nb.prange(chunks):
        _lif_subtract_rows(I, A, H, Bm, kr, ks, th, x0, s0, one, zero, strict, states, counts, spikes, t0, t1,
                           rows * c // chunks, rows * (c + 1) // chunks)


@nb.njit(parallel=True, nogil=True, cache=True)
def scan_backward_parallel(chunks, g_spikes, g_states, g_final_x, g_final_s, I, H, Bm, kr, ks, th, x0, s0, states,
                           counts, table, mem, reset, detach, surrogate, slope, burst, strict, with_states,
                           with_params, with_drive, hold, g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th, t0, t1):
    rows = g_I.shape[1]
    for c in nb.prange(chunks):
        scan_backward(g_spikes, g_states, g_final_x, g_final_s, I, H, Bm, kr, ks, th, x0, s0, states, counts, table,
                      mem, reset, detach, surrogate, slope, burst, strict, with_states, with_params, with_drive,
                      hold, g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th, t0, t1, rows * c // chunks,
                      rows * (c + 1) // chunks)


@nb.njit(nogil=True, cache=True, error_model="numpy")
def burst_if_step(z, offset, th, x, s, gamma, has_state, v_out, counts, graded, sent, signed):
    """One IF step with burst spikes on [B, C, S] maps, per-channel ``offset`` and θ [C], in one pass:

        v = (x − θ·s) + (z + offset)   (v = z + offset without state)
        n = clamp(⌊v/θ⌋, lo, Γ);   graded = n·θ,   lo = −sent if ``signed`` (maps like z) else 0

    The same floating-point operations in the same order as the torch step (``core.step.burst_if_step``), so
    every output is bit-identical; a NaN membrane gives a NaN count, as torch's clamp does."""
    B, C, S = z.shape
    g = counts.dtype.type(gamma)
    zero = counts.dtype.type(0.0)
    for b in range(B):
        for c in range(C):
            o, t = offset[c], th[c]
            zr, vr, nr, gr = z[b, c], v_out[b, c], counts[b, c], graded[b, c]
            xr, sr, lr = x[b, c], s[b, c], sent[b, c]
            for j in range(S):
                v = (xr[j] - t * sr[j]) + (zr[j] + o) if has_state else zr[j] + o
                lo = -lr[j] if signed else zero
                n = np.floor(v / t)
                n = lo if n < lo else (g if n > g else n)
                vr[j] = v
                nr[j] = n
                gr[j] = n * t
