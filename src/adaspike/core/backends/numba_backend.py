"""CPU backend: the numba kernels of ``numba_kernels`` behind the shared fused autograd Function.

The kernels are serial over a range of batch rows; large calls split the rows over ``torch.get_num_threads()``
threads with numba's parallel launchers.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import weakref

import numba
import numpy as np
import torch

from . import numba_kernels as K
from .fused import fused_scan
from .layout import RESET_CODES

_MIN_PARALLEL_WORK = 1 << 17  # below ~130k neuron-steps a parallel launch costs more than it saves
_PARALLEL_PID: int | None = None
_SERIAL_LAUNCH = threading.Lock()


def _thread_safe_layer() -> bool:
    """False for numba's fallback "workqueue" layer (no OpenMP/TBB), and before the first launch picks one."""
    try:
        return numba.threading_layer() != "workqueue"
    except ValueError:
        return False


def _workers(batch: int, work: int) -> int:
    """Threads for one kernel call: torch's thread count, capped by the batch and numba's pool."""
    if work < _MIN_PARALLEL_WORK or batch < 2:
        return 1
    if _PARALLEL_PID is not None and os.getpid() != _PARALLEL_PID:
        return 1  # a forked child (e.g. a DataLoader worker): GNU OpenMP is not fork-safe
    return max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS, batch))


def _launch(serial, parallel, batch: int, work: int, *args) -> None:
    """``serial(*args, 0, batch)`` on one thread, or ``parallel(chunks, *args)`` over row chunks."""
    global _PARALLEL_PID
    workers = _workers(batch, work)
    if workers == 1:
        serial(*args, 0, batch)
        return
    _PARALLEL_PID = _PARALLEL_PID or os.getpid()
    previous = numba.get_num_threads()
    numba.set_num_threads(workers)
    try:
        if _thread_safe_layer():
            parallel(workers, *args)
        else:
            with _SERIAL_LAUNCH:
                parallel(workers, *args)
    finally:
        numba.set_num_threads(previous)


_NP_DTYPES: dict[torch.dtype, np.dtype] = {}
_ALL_POOLS: "weakref.WeakSet[_BufferPool]" = weakref.WeakSet()


def release_buffers() -> None:
    """Drop every pooled output buffer (memory measurements, or to give memory back)."""
    for pool in list(_ALL_POOLS):
        pool.clear()


class _BufferPool:
    """Reuses the large output buffers of earlier calls once nothing refers to them any more.

    A fresh multi-megabyte tensor costs a page fault per 4 KiB page on first touch (about as long as the
    forward kernel itself for workload (1)). Buffers are numpy arrays shared with torch through
    ``torch.from_numpy``, whose tensors keep a reference to the array: an array referenced by the pool alone is
    free. Only buffers of at least ``MIN_BYTES`` are pooled, and at most ``MAX_BYTES`` are kept in all (oldest
    dropped first), so the memory held between calls stays bounded.
    """

    MIN_BYTES = 1 << 20
    MAX_BYTES = 256 << 20

    def __init__(self):
        self._arrays: list[np.ndarray] = []
        self._lock = threading.Lock()
        _ALL_POOLS.add(self)

    def clear(self) -> None:
        with self._lock:
            self._arrays.clear()

    def empty(self, shape, dtype: torch.dtype) -> torch.Tensor:
        np_dtype = _NP_DTYPES.get(dtype) or _NP_DTYPES.setdefault(dtype, torch.empty((), dtype=dtype).numpy().dtype)
        nbytes = math.prod(shape) * np_dtype.itemsize
        if nbytes < self.MIN_BYTES:
            return torch.empty(shape, dtype=dtype)
        shape = tuple(int(s) for s in shape)
        with self._lock:
            for i in range(len(self._arrays)):
                arr = self._arrays[i]
                # references: the pool's list, ``arr`` and getrefcount's argument; more means a tensor uses it
                # (no enumerate(): its reused result tuple would hold one more)
                if arr.shape == shape and arr.dtype == np_dtype and sys.getrefcount(arr) <= 3:
                    self._arrays.append(self._arrays.pop(i))  # most recently used last
                    return torch.from_numpy(arr)
                del arr
            arr = np.empty(shape, dtype=np_dtype)
            self._arrays.append(arr)
            total = sum(a.nbytes for a in self._arrays)
            while total > self.MAX_BYTES and len(self._arrays) > 1:
                total -= self._arrays.pop(0).nbytes
            return torch.from_numpy(arr)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _rule_arrays(rule, dtype: np.dtype, holds=None, caps=None) -> tuple[np.ndarray, np.ndarray]:
    """The per-step (holds, caps) of a refractory rule as numpy arrays ([1] each for a fixed rule)."""
    if holds is None:
        return (np.full(1, rule.refractory, dtype=dtype), np.full(1, rule.burst, dtype=np.int64))
    return _np(holds).astype(dtype, copy=False), _np(caps).astype(np.int64, copy=False)


class NumbaKernels:
    def __init__(self):
        self._pool = _BufferPool()

    def empty(self, shape, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """An uninitialised output buffer (every element is written by a kernel), pooled when large."""
        if device.type != "cpu":
            return torch.empty(shape, dtype=dtype, device=device)
        return self._pool.empty(shape, dtype)

    fills_spikes = True  # forward(..., spikes=) also writes the spikes in the input dtype (no extra pass)
    scratch_states = True  # states may be [1, n, B, N] per-row scratch when no trace is kept (inference)
    # the backward rederives spikes from the states: counts need not be kept (except for refractory rules, whose
    # per-step mask the backward reads from the saved count codes)
    recomputes_counts = True

    def forward(self, current, H, Bm, kr, ks, th, x0, s0, table, mem, reset, rule, states, counts, spikes=None,
                r0=None, r_out=None, holds=None, caps=None):
        out = np.empty(current.shape, dtype=states.numpy().dtype) if spikes is None else spikes.numpy()
        hold = int(rule.refractory)
        if hold:
            r_in, r_res = _np(r0), r_out.numpy()
        else:
            r_in = r_res = np.zeros((1, 1), dtype=out.dtype)
        holds, caps = _rule_arrays(rule, out.dtype, holds, caps)
        _launch(K.scan_forward, K.scan_forward_parallel, current.shape[1], current.numel(), _np(current), _np(H), _np(Bm), _np(kr), _np(ks), _np(th),
                   _np(x0), _np(s0), _np(table), mem, reset, rule.burst, rule.strict, states.numpy(), counts.numpy(),
                   out, hold, holds, caps, r_in, r_res, 0, current.shape[0])

    def backward(self, g_spikes, g_states, g_final_x, g_final_s, drive, H, Bm, kr, ks, th, x0, s0, states,
                 counts, table, mem, reset, detach, rule, with_params, g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th):
        dummy = torch.zeros((1, 1, 1, 1), dtype=states.dtype)
        _launch(K.scan_backward, K.scan_backward_parallel, g_I.shape[1], g_I.numel(), _np(g_spikes), _np(dummy if g_states is None else g_states),
                   _np(g_final_x), _np(g_final_s), _np(dummy[0] if drive is None else drive), _np(H), _np(Bm),
                   _np(kr), _np(ks), _np(th), _np(x0), _np(s0), _np(states), _np(counts), _np(table), mem, reset,
                   detach, rule.surrogate, rule.slope, rule.burst, rule.strict, g_states is not None, with_params, drive is not None,
                   int(rule.refractory), g_I.numpy(), g_x0.numpy(), g_s0.numpy(), g_H.numpy(), g_B.numpy(),
                   g_kr.numpy(), g_ks.numpy(), g_th.numpy(), 0, g_I.shape[0])

    def recurrent_forward(self, drives, H, Bm, kr, ks, th, x0, s0, table, mem, reset, rule, states, counts, spikes,
                          r0=None, current=None, holds=None, caps=None):
        """Step runner for the recurrent scan: ``step(t)`` runs step t on the full buffers, from the previous
        step's state and spikes (or x0, s0), reading ``drives[t]`` (``drives[0]`` for a one-step buffer). Every
        argument is converted once: a recurrent layer calls the kernel T times per pass, and per-call
        conversions cost more than its LIF step. Given ``current`` [T, B, N] (the caller keeps no drives), the
        plain LIF step adds I_t to the drive itself (``adds_current``), so the caller skips that torch call."""
        return _ForwardSteps(drives, H, Bm, kr, ks, th, x0, s0, table, mem, reset, rule, states, counts, spikes, r0,
                             current, holds, caps)

    def recurrent_backward(self, g_spikes, g_states, drives, H, Bm, kr, ks, th, x0, s0, states, counts, spikes,
                           table, mem, reset, detach, rule, with_params, g_I, gx, gs, g_params):
        """Adjoint step runner: ``step(t)`` turns (``gx``, ``gs``), the adjoints after step t, into those before
        it (in place), writes ``g_I[t]`` and adds step t's parameter gradients to ``g_params`` (per row)."""
        return _BackwardSteps(g_spikes, g_states, drives, H, Bm, kr, ks, th, x0, s0, states, counts, table, mem,
                              reset, detach, rule, with_params, g_I, gx, gs, g_params)


class _ForwardSteps:
    def __init__(self, drives, H, Bm, kr, ks, th, x0, s0, table, mem, reset, rule, states, counts, spikes, r0,
                 current=None, holds=None, caps=None):
        self.hold = hold = int(rule.refractory)
        self.rule_arrays = _rule_arrays(rule, states.numpy().dtype, holds, caps)
        self.batch, N = states.shape[2], states.shape[3]
        self.work = self.batch * N
        self.states, self.spikes, self.x0, self.s0 = states.numpy(), spikes.numpy(), _np(x0), _np(s0)
        self.st = 1 if states.shape[0] > 1 else 0  # [1, n, B, N]: the last step's state only (no trace kept)
        self.args = (_np(H), _np(Bm), _np(kr), _np(ks), _np(th))
        self.tail = (_np(table), mem, reset, rule.burst, rule.strict)
        self.drives, self.counts = drives.numpy(), counts.numpy()
        if hold:  # ping-pong counters: step t reads one and writes the other
            self.r = [_np(r0).copy(), np.empty((self.batch, N), dtype=self.states.dtype)]
        else:
            self.r = [np.zeros((1, 1), dtype=self.states.dtype)] * 2
        # the plain LIF step with I_t folded into the kernel (same float addition as the caller's add_)
        plain_lif = H.shape[1] == 1 and reset == RESET_CODES["subtract"] and not hold and rule.burst == 0
        self.adds_current = current is not None and plain_lif and drives.shape[0] == 1
        if self.adds_current:
            one, zero = self.tail[0][1], self.tail[0][0]
            self.lif_inputs = (self.drives, _np(current), *self.args)  # I (the product), A (the current), H … θ
            self.lif_rule = (one, zero, rule.strict)

    def step(self, t: int) -> None:
        if self.adds_current:
            x_prev = self.states[(t - 1) * self.st] if t else self.x0
            s_prev = self.spikes[t - 1] if t else self.s0
            _launch(K._lif_subtract_rows, K.lif_rows_parallel, self.batch, self.work, *self.lif_inputs, x_prev,
                    s_prev, *self.lif_rule, self.states, self.counts, self.spikes, t, t + 1)
            self.last = t
            return
        x_prev = self.states[(t - 1) * self.st] if t else self.x0
        s_prev = self.spikes[t - 1] if t else self.s0
        r_in, r_out = self.r[t % 2], self.r[(t + 1) % 2]
        _launch(K.scan_forward, K.scan_forward_parallel, self.batch, self.work, self.drives, *self.args, x_prev,
                s_prev, *self.tail, self.states, self.counts, self.spikes, self.hold, *self.rule_arrays, r_in, r_out, t,
                t + 1)
        self.last = t

    @property
    def final_r(self) -> torch.Tensor | None:
        return torch.from_numpy(self.r[(self.last + 1) % 2].copy()) if self.hold else None


class _BackwardSteps:
    def __init__(self, g_spikes, g_states, drives, H, Bm, kr, ks, th, x0, s0, states, counts, table, mem, reset,
                 detach, rule, with_params, g_I, gx, gs, g_params):
        dummy = np.zeros((1, 1, 1, 1), dtype=states.numpy().dtype)
        self.batch, self.work = g_I.shape[1], g_I.shape[1] * g_I.shape[2]
        self.gx, self.gs = gx.numpy(), gs.numpy()
        self.head = (_np(g_spikes), dummy if g_states is None else _np(g_states))
        self.mid = (dummy[0] if drives is None else drives.numpy(), _np(H), _np(Bm), _np(kr), _np(ks), _np(th),
                    _np(x0), _np(s0), states.numpy(), counts.numpy(), _np(table), mem, reset, detach,
                    rule.surrogate, rule.slope, rule.burst, rule.strict, g_states is not None, with_params,
                    drives is not None, int(rule.refractory), g_I.numpy())
        self.params = tuple(g.numpy() for g in g_params)

    def step(self, t: int) -> None:
        _launch(K.scan_backward, K.scan_backward_parallel, self.batch, self.work, *self.head, self.gx, self.gs,
                *self.mid, self.gx, self.gs, *self.params, t, t + 1)


KERNELS = NumbaKernels()


def numba_scan(req):
    """The registered CPU backend."""
    return fused_scan(req, KERNELS)
