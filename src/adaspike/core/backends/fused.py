"""The fused scan as two ``torch.library`` custom ops; a backend only supplies its two kernels per device.

``adaspike::fused_scan`` runs the forward kernel and ``adaspike::fused_scan_backward`` the adjoint, joined by
``register_autograd``. Each has a fake (meta) implementation, so ``torch.compile``, ``torch.export`` and
FakeTensor tracing see one opaque node with known output shapes instead of tracing into numba or Triton.

Forward saves only what the backward needs: the states x_t [T, n, B, N] (one pre-spike state per step), the
spike counts as uint8 unless the backend rederives them from the states, and the input current only when B
itself needs a gradient. The backward is one reverse recursion in a single kernel launch, not T small
autograd graphs. Parameter gradients come back per batch row ([B, ...]) and are summed here.

Refractory rules (``refractory`` = k > 0) add the blocked-steps counter: input ``r0`` [B, N] (None: zeros),
output ``final_r`` [B, N]. It carries no gradient. Their counts are always kept ([T, B, N]): a blocked step is
saved as the code ``BLOCKED``, which gives the backward each step's mask, and the spike table has 256 entries
(table[BLOCKED] = 0) so table[code] is the masked spike everywhere.
"""
from __future__ import annotations

from typing import Optional, Protocol

import torch
from torch import Tensor

from .layout import (RESET_CODES, SpikeRule, flatten_refractory, flatten_request, spike_rule, spike_table,
                     step_arrays, unflatten_outputs)
from .recurrent import RecurrentFusedScan


class Kernels(Protocol):
    def forward(self, current, H, Bm, kr, ks, th, x0, s0, table, mem: int, reset: int, rule: SpikeRule,
                states, counts, *, r0=None, r_out=None, holds=None, caps=None) -> None: ...

    def backward(self, g_spikes, g_states, g_final_x, g_final_s, drive, H, Bm, kr, ks, th, x0, s0, states,
                 counts, table, mem: int, reset: int, detach: bool, rule: SpikeRule, with_params: bool,
                 g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th) -> None: ...


_KERNELS: dict[str, Kernels] = {}


def register_kernels(device_type: str, kernels: Kernels) -> None:
    """Make ``kernels`` the implementation of the fused ops for tensors on ``device_type``."""
    _KERNELS[device_type] = kernels


def _kernels(device: torch.device) -> Kernels:
    try:
        return _KERNELS[device.type]
    except KeyError:
        raise RuntimeError(f"no fused scan kernels registered for {device.type} tensors") from None


def _empty(kernels, shape, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The backend's allocator for outputs its kernels fill completely (``kernels.empty``), else torch.empty."""
    empty = getattr(kernels, "empty", None)
    return empty(shape, dtype, device) if empty is not None else torch.empty(shape, dtype=dtype, device=device)


def _counts_steps(device: torch.device, T: int, refractory: int = 0) -> int:
    """A backend that rederives spikes from the states gets per-row scratch for counts instead of [T, B, N]
    (not for refractory rules: their saved codes hold each step's mask)."""
    recomputes = getattr(_KERNELS.get(device.type), "recomputes_counts", False)
    return 1 if recomputes and not refractory else T


def _states_steps(kernels, T: int, keep_states: bool) -> int:
    """Steps of the states output: T, or 1 (the last step's, as per-row scratch) when no trace is kept and the
    backend's kernels support that."""
    return 1 if not keep_states and getattr(kernels, "scratch_states", False) else T


def _rule(burst: int, strict: bool, surrogate: int = 0, slope: float = 1.0, refractory: int = 0) -> SpikeRule:
    return SpikeRule(burst, strict, surrogate, slope, refractory)


@torch.library.custom_op("adaspike::fused_scan", mutates_args=())
def fused_scan_op(current: Tensor, H: Tensor, Bm: Tensor, kr: Tensor, ks: Tensor, th: Tensor, x0: Tensor,
                  s0: Tensor, mem: int, reset: int, burst: int, strict: bool, detach: bool, surrogate: int,
                  slope: float, r0: Optional[Tensor] = None, refractory: int = 0,
                  keep_states: bool = True, holds: Optional[Tensor] = None,
                  caps: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(I [T,B,N], H, B, K_reset, K_spike, θ, x0, s0) → (spikes [T,B,N], states [T,n,B,N], counts uint8,
    final x [n,B,N], final s [B,N], final counter [B,N]). ``detach``/``surrogate``/``slope`` only shape the
    backward. With ``refractory`` = k > 0 the counter starts from ``r0`` [B,N] (None: zeros); with k = 0 it is
    not used and the final counter is an empty tensor. ``keep_states`` = False (nothing will differentiate the
    call, and the trace is not asked for; only for kernels with ``scratch_states``) keeps no trace: the states
    output is [1, n, B, N], the last step's, which cuts the forward's memory traffic by a third. ``holds`` and
    ``caps`` ([T]: a clock of irregular steps) give a refractory rule's counter value after a spike and its count
    code per step; None: ``refractory`` and ``burst`` at every step."""
    kernels = _kernels(current.device)
    T, batch, N = current.shape
    n = H.shape[1]
    rule, table = _rule(burst, strict, refractory=refractory), spike_table(burst, current, refractory)
    states = _empty(kernels, (_states_steps(kernels, T, keep_states), n, batch, N), current.dtype, current.device)
    counts = _empty(kernels, (_counts_steps(current.device, T, refractory), batch, N), torch.uint8, current.device)
    extra = {}
    if refractory:
        r_out = current.new_empty((batch, N))
        if holds is None:
            holds, caps = step_arrays(None, rule, current)
        extra = dict(r0=current.new_zeros((batch, N)) if r0 is None else r0.contiguous(), r_out=r_out,
                     holds=holds.to(current.dtype).contiguous(), caps=caps.contiguous())
    else:
        r_out = current.new_empty((0,))
    if getattr(kernels, "fills_spikes", False):  # the kernel writes the spikes itself: no conversion pass
        spikes = _empty(kernels, (T, batch, N), current.dtype, current.device)
        kernels.forward(current, H, Bm, kr, ks, th, x0, s0, table, mem, reset, rule, states, counts, spikes=spikes,
                        **extra)
    else:
        kernels.forward(current, H, Bm, kr, ks, th, x0, s0, table, mem, reset, rule, states, counts, **extra)
        spikes = table[counts.long()] if burst > 1 or refractory else counts.to(current.dtype)
    return spikes, states, counts, states[-1].clone(), spikes[T - 1].clone(), r_out


@fused_scan_op.register_fake
def _(current, H, Bm, kr, ks, th, x0, s0, mem, reset, burst, strict, detach, surrogate, slope, r0=None,
      refractory=0, keep_states=True, holds=None, caps=None):
    T, batch, N = current.shape
    n = H.shape[1]
    counts = current.new_empty((_counts_steps(current.device, T, refractory), batch, N), dtype=torch.uint8)
    steps = _states_steps(_KERNELS.get(current.device.type), T, keep_states)
    return (current.new_empty((T, batch, N)), current.new_empty((steps, n, batch, N)), counts,
            current.new_empty((n, batch, N)), current.new_empty((batch, N)),
            current.new_empty((batch, N) if refractory else (0,)))


@torch.library.custom_op("adaspike::fused_scan_backward", mutates_args=())
def fused_scan_backward_op(g_spikes: Tensor, g_states: Optional[Tensor], g_final_x: Tensor, g_final_s: Tensor,
                           drive: Optional[Tensor], H: Tensor, Bm: Tensor, kr: Tensor, ks: Tensor, th: Tensor,
                           x0: Tensor, s0: Tensor, states: Tensor, counts: Tensor, mem: int, reset: int,
                           detach: bool, burst: int, strict: bool, surrogate: int, slope: float,
                           with_params: bool, refractory: int = 0
                           ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Adjoint of ``fused_scan``: (ḡI, ḡx0, ḡs0) and, with ``with_params``, per-row (ḡH, ḡB, ḡK_r, ḡK_s, ḡθ).
    With ``refractory`` > 0, ``counts`` holds the forward's codes (BLOCKED: a masked step)."""
    kernels = _kernels(states.device)
    T, n, batch, N = states.shape
    like = dict(dtype=states.dtype, device=states.device)
    TH, pb = H.shape[0], batch if with_params else 1
    g_I = _empty(kernels, (T, batch, N), states.dtype, states.device)
    g_x0, g_s0 = torch.empty((n, batch, N), **like), torch.empty((batch, N), **like)
    g_H, g_B = torch.zeros((pb, TH, n, n, N), **like), torch.zeros((pb, TH, n, N), **like)
    g_kr, g_ks, g_th = torch.zeros((pb, n, N), **like), torch.zeros((pb, n, N), **like), torch.zeros((pb, N), **like)
    kernels.backward(g_spikes, g_states, g_final_x, g_final_s, drive, H, Bm, kr, ks, th, x0, s0, states, counts,
                     spike_table(burst, states, refractory), mem, reset, detach,
                     _rule(burst, strict, surrogate, slope, refractory), with_params,
                     g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th)
    return g_I, g_x0, g_s0, g_H, g_B, g_kr, g_ks, g_th


@fused_scan_backward_op.register_fake
def _(g_spikes, g_states, g_final_x, g_final_s, drive, H, Bm, kr, ks, th, x0, s0, states, counts, mem, reset,
      detach, burst, strict, surrogate, slope, with_params, refractory=0):
    T, n, batch, N = states.shape
    TH, pb = H.shape[0], batch if with_params else 1
    new = states.new_empty
    return (new((T, batch, N)), new((n, batch, N)), new((batch, N)), new((pb, TH, n, n, N)), new((pb, TH, n, N)),
            new((pb, n, N)), new((pb, n, N)), new((pb, N)))


def _setup_context(ctx, inputs, output):
    current, H, Bm, kr, ks, th, x0, s0, mem, reset, burst, strict, detach, surrogate, slope, _, refractory, *_ = inputs
    _, states, counts, _, _, _ = output
    # B's gradient needs the drive at every step; otherwise the current is not kept
    ctx.save_for_backward(current if Bm.requires_grad else None, H, Bm, kr, ks, th, x0, s0, states, counts)
    ctx.options = (mem, reset, detach, burst, strict, surrogate, slope, refractory)
    ctx.set_materialize_grads(False)  # an unused output (the states trace) must not become a zero-filled gradient


def _backward(ctx, g_spikes, g_states, g_counts, g_final_x, g_final_s, g_final_r):
    # the counter only gates spikes: no gradient flows through it (g_final_r is dropped, r0 gets none)
    current, H, Bm, kr, ks, th, x0, s0, states, counts = ctx.saved_tensors
    mem, reset, detach, burst, strict, surrogate, slope, refractory = ctx.options
    T, n, batch, N = states.shape
    zeros = lambda *shape: torch.zeros(shape, dtype=states.dtype, device=states.device)
    prep = lambda g, *shape: zeros(*shape) if g is None else g.to(states.dtype).contiguous()
    g_spikes, g_final_x, g_final_s = prep(g_spikes, T, batch, N), prep(g_final_x, n, batch, N), prep(g_final_s, batch, N)
    g_states = None if g_states is None else g_states.to(states.dtype).contiguous()
    with_params = any(ctx.needs_input_grad[1:6])
    g_I, g_x0, g_s0, *g_params = fused_scan_backward_op(
        g_spikes, g_states, g_final_x, g_final_s, current, H, Bm, kr, ks, th, x0, s0, states, counts, mem, reset,
        detach, burst, strict, surrogate, slope, with_params, refractory)
    if with_params:
        g_H, g_B, g_kr, g_ks, g_th = (g.sum(0) for g in g_params)
        if reset == RESET_CODES["none"]:
            g_kr = None
    else:
        g_H = g_B = g_kr = g_ks = g_th = None
    return (g_I, g_H, g_B, g_kr, g_ks, g_th, g_x0, g_s0) + (None,) * 12


fused_scan_op.register_autograd(_backward, setup_context=_setup_context)


def fused_scan(req, kernels: Kernels):
    """Run a request through ``kernels``: flatten, apply the fused op, restore the scan's layouts."""
    register_kernels(req.current.device.type, kernels)
    flat = flatten_request(req)
    rule = spike_rule(req.spike_fn)
    mem, reset, detach = req.ssm.mem_index, RESET_CODES[req.reset], bool(req.detach_reset)
    r0 = flatten_refractory(req) if rule.refractory else None
    arrays = step_arrays(req.spike_fn, rule, flat.current)
    holds, caps = arrays if arrays is not None else (None, None)
    # no trace is kept when nothing will differentiate this call and the caller does not ask for it
    keep_states = bool(req.return_states) or (torch.is_grad_enabled() and any(
        t.requires_grad for t in (*flat, req.recurrent_weight) if t is not None))
    if req.recurrent_weight is not None:
        spikes, states, final_x, final_s, final_r = RecurrentFusedScan.apply(
            kernels, *flat, req.recurrent_weight, mem, reset, detach, rule, r0, keep_states, holds, caps,
            req.recurrent_scale)
    elif rule.refractory:
        spikes, states, _, final_x, final_s, final_r = fused_scan_op(
            *flat, mem, reset, rule.burst, rule.strict, detach, rule.surrogate, rule.slope, r0, rule.refractory,
            keep_states, holds, caps)
    elif keep_states:  # the schema's defaults: no counter
        spikes, states, _, final_x, final_s, final_r = fused_scan_op(*flat, mem, reset, rule.burst, rule.strict,
                                                                    detach, rule.surrogate, rule.slope)
    else:
        spikes, states, _, final_x, final_s, final_r = fused_scan_op(
            *flat, mem, reset, rule.burst, rule.strict, detach, rule.surrogate, rule.slope, None, 0, False)
    final_r = final_r.detach() if rule.refractory else None
    return unflatten_outputs(req, spikes, states, final_x, final_s, final_r)
