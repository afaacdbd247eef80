"""CUDA backend: the Triton kernels of ``triton_kernels`` behind the shared fused autograd Function."""
from __future__ import annotations

import torch
import triton

from . import triton_kernels as K
from .fused import fused_scan


def _block(M: int) -> int:
    """Elements per program: enough programs to fill the GPU (~2 per SM), at least one warp each."""
    return max(32, min(256, triton.next_power_of_2(max(1, M // 264))))


class TritonKernels:
    def forward(self, current, H, Bm, kr, ks, th, x0, s0, table, mem, reset, rule, states, counts, r0=None,
                r_out=None, holds=None, caps=None):
        T, batch, N = current.shape
        M, block = batch * N, _block(batch * N)
        hold = int(rule.refractory)
        # without a refractory rule the counter pointers are never touched: any tensor of the dtype will do
        r_in, r_res = (r0.contiguous(), r_out) if hold else (x0, x0)
        if hold and holds is None:
            holds = torch.full((1,), float(hold), dtype=current.dtype, device=current.device)
            caps = torch.full((1,), rule.burst, dtype=torch.int64, device=current.device)
        holds = holds.to(current.dtype).contiguous() if hold else x0
        caps = caps.contiguous() if hold else x0
        K.scan_forward_kernel[(triton.cdiv(M, block),)](
            current, H, Bm, kr, ks, th, x0, s0, states, counts, r_in, r_res, holds, caps, T, M, N,
            NS=H.shape[1], MEM=mem, RESET=reset, BURST=rule.burst, STRICT=rule.strict, TV=int(H.shape[0] > 1),
            HOLD=hold, HV=int(hold and holds.shape[0] > 1), BLOCK=block, enable_fp_fusion=False)

    def backward(self, g_spikes, g_states, g_final_x, g_final_s, drive, H, Bm, kr, ks, th, x0, s0, states,
                 counts, table, mem, reset, detach, rule, with_params, g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th):
        T, n, batch, N = states.shape
        M, block = batch * N, _block(batch * N)
        K.scan_backward_kernel[(triton.cdiv(M, block),)](
            g_spikes, g_spikes if g_states is None else g_states, g_final_x, g_final_s,
            g_spikes if drive is None else drive, H, Bm, kr, ks, th, x0, s0, states, counts,
            g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th, rule.slope, T, M, N,
            NS=n, MEM=mem, RESET=reset, DETACH=bool(detach), SURR=rule.surrogate, TV=int(H.shape[0] > 1),
            WITH_STATES=g_states is not None, WITH_PARAMS=bool(with_params), WITH_DRIVE=drive is not None,
            HOLD=int(rule.refractory), BLOCK=block)


KERNELS = TritonKernels()


def triton_scan(req):
    """The registered CUDA backend."""
    return fused_scan(req, KERNELS)
