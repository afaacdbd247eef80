"""Numba kernels of the neuron scan: forward and one reverse (adjoint) recursion, parallel over the batch.

Imported lazily (only when the numba backend is first used): nothing here is compiled at import of ``adaspike``.
Layouts keep the neuron axis N innermost so the per-step loop runs over contiguous memory:

    current I [T, B, N]      H [TH, n, n, N]   B [TH, n, N]   (TH = T when time-varying, else 1)
    kicks K_reset, K_spike [n, N]   θ [N]      states x [T, n, B, N]   counts c [T, B, N] (uint8)

Per step (the reference's "pre" convention, r = reset amount of the previous spikes):
    y = x_{t-1} + K_reset·r + K_spike·s_{t-1};   x_t = H_t y + B_t I_t;   s_t = spike(x_t[m], θ)
The forward repeats the reference's floating-point operations in the same order, so spikes are bit-identical.
The backward walks t = T−1 … 0 once, carrying the adjoints (ḡx, ḡs) of (x_{t−1}, s_{t−1}).
Only two specialisations are compiled (float32 and float64); modes are plain integer arguments.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

# integer codes shared with the Python side
RESET_SUBTRACT, RESET_ZERO, RESET_NONE = 0, 1, 2
SURR_FAST_SIGMOID, SURR_ARCTAN, SURR_SIGMOID, SURR_TRIANGLE = 0, 1, 2, 3


@nb.njit(inline="always")
def _count(v, th, burst, strict):
    """Spike count: Θ(v − θ) (≥ or >), or clamp(⌊v/θ⌋, 0, Γ) for bursts (Γ = ``burst`` > 0)."""
    if burst == 0:
        z = v - th
        return 1 if (z > 0 if strict else z >= 0) else 0
    q = v / th
    if q < 0:
        return 0
    if q >= burst:
        return burst
    return int(math.floor(q))


@nb.njit(inline="always")
def _surrogate(z, kind, slope):
    if kind == SURR_FAST_SIGMOID:
        d = slope * abs(z) + 1.0
        return 1.0 / (d * d)
    if kind == SURR_ARCTAN:
        u = math.pi / 2.0 * slope * z
        return (slope / 2.0) / (1.0 + u * u)
    if kind == SURR_SIGMOID:
        sig = 1.0 / (1.0 + math.exp(-slope * z))
        return slope * sig * (1.0 - sig)
    return slope * max(0.0, 1.0 - slope * abs(z))


@nb.njit(parallel=True, cache=True)
def scan_forward(I, H, Bm, kr, ks, th, x0, s0, table, mem, reset, burst, strict, states, counts):
    """Fill ``states`` [T, n, B, N] (post-propagation, pre-reset) and spike ``counts`` [T, B, N]."""
    T, nb_, N = I.shape
    n = H.shape[1]
    tv = 1 if H.shape[0] > 1 else 0
    one = table[1]
    for b in nb.prange(nb_):
        # the running state of this batch row, in the input dtype (no branches on t inside the neuron loop)
        x = x0[:, b, :].copy()
        s = s0[b, :].copy()
        for t in range(T):
            tt = t * tv
            for j in range(N):
                sp = s[j]
                xm = x[mem, j]
                if reset == RESET_SUBTRACT:
                    r = th[j] * sp
                elif reset == RESET_ZERO:
                    r = xm * (sp if sp < one else one)
                else:
                    r = sp - sp  # stays in the input dtype (an int literal would promote to float64)
                drive = I[t, b, j]
                y0 = x[0, j]
                if reset != RESET_NONE:
                    y0 = y0 + kr[0, j] * r
                y0 = y0 + ks[0, j] * sp
                if n == 1:
                    # the reference sums 0 + H·y (an exact no-op) then adds B·I
                    v = H[tt, 0, 0, j] * y0 + Bm[tt, 0, j] * drive
                    x[0, j] = v
                    states[t, 0, b, j] = v
                else:
                    y1 = x[1, j]
                    if reset != RESET_NONE:
                        y1 = y1 + kr[1, j] * r
                    y1 = y1 + ks[1, j] * sp
                    a0 = H[tt, 0, 0, j] * y0 + H[tt, 0, 1, j] * y1 + Bm[tt, 0, j] * drive
                    a1 = H[tt, 1, 0, j] * y0 + H[tt, 1, 1, j] * y1 + Bm[tt, 1, j] * drive
                    x[0, j] = a0
                    x[1, j] = a1
                    states[t, 0, b, j] = a0
                    states[t, 1, b, j] = a1
                    v = a0 if mem == 0 else a1
                c = _count(v, th[j], burst, strict)
                counts[t, b, j] = c
                s[j] = table[c]


@nb.njit(parallel=True, cache=True)
def scan_backward(g_spikes, g_states, g_final_x, g_final_s, I, H, Bm, kr, ks, th, x0, s0, states, counts, table,
                  mem, reset, detach, surrogate, slope, with_states, with_params, with_drive,
                  g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th):
    """Exact adjoint of ``scan_forward``; parameter gradients are kept per batch row ([B, ...]) and summed later.

    ``I`` is read only when ``with_drive`` (B needs its gradient); otherwise it may be a dummy [1, 1, 1].
    """
    T, nb_, N = g_I.shape
    n = H.shape[1]
    tv = 1 if H.shape[0] > 1 else 0
    for b in nb.prange(nb_):
        gx = np.empty((2, N), dtype=np.float64)   # adjoint of x_{t}, carried backwards
        gs = np.empty(N, dtype=np.float64)        # adjoint of s_{t}
        for j in range(N):
            gs[j] = g_final_s[b, j]
            for i in range(n):
                gx[i, j] = g_final_x[i, b, j]
        for t in range(T - 1, -1, -1):
            tt = t * tv
            pt = tt if tv == 1 else 0
            for j in range(N):
                thj = th[j]
                g_v = gs[j] + g_spikes[t, b, j]
                g0 = gx[0, j]
                g1 = gx[1, j] if n == 2 else 0.0
                if with_states:
                    g0 += g_states[t, 0, b, j]
                    if n == 2:
                        g1 += g_states[t, 1, b, j]
                # spike: s_t = spike(x_t[m] − θ), surrogate derivative
                v = states[t, mem, b, j]
                sgrad = g_v * _surrogate(v - thj, surrogate, slope)
                if mem == 0:
                    g0 += sgrad
                else:
                    g1 += sgrad
                gth = -sgrad
                # previous state and spikes
                if t == 0:
                    p0 = x0[0, b, j]
                    p1 = x0[1, b, j] if n == 2 else 0.0
                    sp = s0[b, j]
                else:
                    p0 = states[t - 1, 0, b, j]
                    p1 = states[t - 1, 1, b, j] if n == 2 else 0.0
                    sp = table[counts[t - 1, b, j]]
                pm = p0 if mem == 0 else p1
                if reset == RESET_SUBTRACT:
                    r = thj * sp
                elif reset == RESET_ZERO:
                    r = pm * min(sp, 1.0)
                else:
                    r = 0.0
                y0 = p0 + kr[0, j] * r + ks[0, j] * sp
                drive = I[t, b, j] if with_drive else 0.0
                if n == 1:
                    h00 = H[tt, 0, 0, j]
                    gy0 = h00 * g0
                    gy1 = 0.0
                    g_I[t, b, j] = Bm[tt, 0, j] * g0
                    if with_params:
                        g_H[b, pt, 0, 0, j] += g0 * y0
                        g_B[b, pt, 0, j] += g0 * drive
                else:
                    y1 = p1 + kr[1, j] * r + ks[1, j] * sp
                    gy0 = H[tt, 0, 0, j] * g0 + H[tt, 1, 0, j] * g1
                    gy1 = H[tt, 0, 1, j] * g0 + H[tt, 1, 1, j] * g1
                    g_I[t, b, j] = Bm[tt, 0, j] * g0 + Bm[tt, 1, j] * g1
                    if with_params:
                        g_H[b, pt, 0, 0, j] += g0 * y0
                        g_H[b, pt, 0, 1, j] += g0 * y1
                        g_H[b, pt, 1, 0, j] += g1 * y0
                        g_H[b, pt, 1, 1, j] += g1 * y1
                        g_B[b, pt, 0, j] += g0 * drive
                        g_B[b, pt, 1, j] += g1 * drive
                # kicks: y = p + K_reset·r + K_spike·s_{t−1}
                g_r = kr[0, j] * gy0 + (kr[1, j] * gy1 if n == 2 else 0.0)
                g_sp = ks[0, j] * gy0 + (ks[1, j] * gy1 if n == 2 else 0.0)
                if with_params:
                    g_ks[b, 0, j] += gy0 * sp
                    if reset != RESET_NONE:
                        g_kr[b, 0, j] += gy0 * r
                    if n == 2:
                        g_ks[b, 1, j] += gy1 * sp
                        if reset != RESET_NONE:
                            g_kr[b, 1, j] += gy1 * r
                # reset amount r(s_{t−1}, x_{t−1}[m])
                if reset == RESET_SUBTRACT:
                    gth += g_r * sp
                    if not detach:
                        g_sp += g_r * thj
                elif reset == RESET_ZERO:
                    if mem == 0:
                        gy0 += g_r * min(sp, 1.0)
                    else:
                        gy1 += g_r * min(sp, 1.0)
                    if not detach and sp <= 1.0:
                        g_sp += g_r * pm
                if with_params:
                    g_th[b, j] += gth
                gx[0, j] = gy0
                if n == 2:
                    gx[1, j] = gy1
                gs[j] = g_sp
        for j in range(N):
            g_s0[b, j] = gs[j]
            for i in range(n):
                g_x0[i, b, j] = gx[i, j]
