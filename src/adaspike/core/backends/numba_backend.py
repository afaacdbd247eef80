"""CPU backend: the numba kernels of ``numba_kernels`` behind the shared fused autograd Function."""
from __future__ import annotations

import numba
import numpy as np
import torch

from . import numba_kernels as K
from .fused import fused_scan


def _threads() -> None:
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


class NumbaKernels:
    def forward(self, current, H, Bm, kr, ks, th, x0, s0, table, mem, reset, rule, states, counts):
        _threads()
        K.scan_forward(_np(current), _np(H), _np(Bm), _np(kr), _np(ks), _np(th), _np(x0), _np(s0), _np(table),
                       mem, reset, rule.burst, rule.strict, states.numpy(), counts.numpy())

    def backward(self, g_spikes, g_states, g_final_x, g_final_s, drive, H, Bm, kr, ks, th, x0, s0, states,
                 counts, table, mem, reset, detach, rule, with_params, g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th):
        dummy = torch.zeros((1, 1, 1, 1), dtype=states.dtype)
        _threads()
        K.scan_backward(_np(g_spikes), _np(dummy if g_states is None else g_states), _np(g_final_x),
                        _np(g_final_s), _np(dummy[0] if drive is None else drive), _np(H), _np(Bm), _np(kr),
                        _np(ks), _np(th), _np(x0), _np(s0), _np(states), _np(counts), _np(table), mem, reset,
                        detach, rule.surrogate, rule.slope, g_states is not None, with_params, drive is not None,
                        g_I.numpy(), g_x0.numpy(), g_s0.numpy(), g_H.numpy(), g_B.numpy(), g_kr.numpy(),
                        g_ks.numpy(), g_th.numpy())


KERNELS = NumbaKernels()


def numba_scan(req):
    """The registered CPU backend."""
    return fused_scan(req, KERNELS)
