"""The one multi-step scan op (exported as ``adaspike.core.scan``): run a discrete neuron over currents [T, B, *F].

``scan`` validates its inputs once, then hands them to a backend. The reference backend (``core.reference``) is plain
PyTorch (autograd through the surrogate); fast backends register themselves with ``register_backend`` and
must return the same spikes and gradients (checked by equivalence tests).
"""
from __future__ import annotations

from typing import Callable

import torch

from .backends import available_backends, register_backend, select_backend
from .reference import reference_scan
from .spikes import BinarySpike, check_reset
from .ssm import DiscreteSSM, broadcast_shape
from .state import NeuronState, ScanOutput, ScanRequest

def check_time_major(current: torch.Tensor, feature_shape: torch.Size | tuple | None = None,
                     name: str = "input", check_finite: bool = True) -> None:
    """Raise a clear error unless ``current`` is a [T, B, *features] tensor (with finite values, by default)."""
    if not isinstance(current, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor laid out as [T, B, *features], got {type(current).__name__}")
    if current.dim() < 3:
        raise ValueError(f"{name} must be laid out as [T, B, *features] (time first, then batch), "
                         f"got shape {tuple(current.shape)}")
    if current.shape[0] == 0:
        raise ValueError(f"{name} has no time steps (T = 0)")
    if feature_shape is not None:
        try:
            ok = broadcast_shape(tuple(feature_shape), current.shape[2:]) == current.shape[2:]
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(f"{name} must be laid out as [T, B, *features] with features matching "
                             f"{tuple(feature_shape)}, got shape {tuple(current.shape)}")
    if check_finite:
        check_finite_values(current, name)


def all_finite(values: torch.Tensor) -> bool:
    """True unless ``values`` holds a NaN or Inf."""
    # one reduction pass instead of a full boolean mask (torch's isfinite().all() costs ~55 µs even on a
    # 16k-element state): a NaN/Inf anywhere makes the sum non-finite; only then (or on overflow of huge finite
    # values) is the exact element-wise check run
    values = values.detach()
    return bool(torch.isfinite(values.sum())) or bool(torch.isfinite(values).all())


def check_finite_values(current: torch.Tensor, name: str = "input") -> None:
    """Raise ValueError if ``current`` holds a NaN or Inf."""
    if not all_finite(current):
        raise ValueError(f"{name} contains NaN or Inf")


def check_scan_state(state: NeuronState, recurrent_weight: torch.Tensor | None) -> None:
    """Refuse a NaN/Inf initial state or recurrent weight before any backend runs (each would give all-zero
    spikes: NaN ≥ θ is false). Both are small next to the current ([B, F, n] and [F, F]), so this is cheap."""
    check_finite_values(state.x, "initial state x")
    check_finite_values(state.s, "initial spikes s")
    if recurrent_weight is not None:
        check_finite_values(recurrent_weight, "recurrent_weight")


def scan(current: torch.Tensor, ssm: DiscreteSSM, *, reset: str = "subtract", detach_reset: bool = False,
         spike_fn: Callable | None = None, state: NeuronState | None = None,
         recurrent_weight: torch.Tensor | None = None, return_states: bool = False,
         backend: str = "auto") -> ScanOutput:
    """Run ``ssm`` over ``current`` [T, B, *F]; returns spikes (and states on request) plus the final state.

    ``recurrent_weight`` [F, F] (flat features only) adds V·s_{t-1} to the current of step t.
    """
    check_reset(reset)
    if not current.is_floating_point():  # binned event counts arrive as integers or booleans
        current = current.to(torch.get_default_dtype())
    # On CPU the values are checked after the scan, from its final state: a NaN/Inf drive makes that step's state
    # non-finite, and IEEE arithmetic keeps it so (x·0 and x + finite stay non-finite) through every later step,
    # so a finite final state proves a finite input without a separate pass over it. Fused kernels are safe on
    # non-finite input (no index is derived from a NaN). Elsewhere a reduction costs little: check first.
    check_after = current.device.type == "cpu"
    check_time_major(current, ssm.param_shape, "current", check_finite=not check_after)
    T, batch, feat = current.shape[0], current.shape[1], current.shape[2:]
    if ssm.time_varying and ssm.H.shape[0] != T:
        raise ValueError(f"time-varying neuron has {ssm.H.shape[0]} steps of parameters, input has T = {T}")
    if recurrent_weight is not None and (len(feat) != 1 or tuple(recurrent_weight.shape) != (feat[0], feat[0])):
        raise ValueError(f"recurrent_weight must be [{feat[0] if len(feat) == 1 else 'F'}, F] for flat features "
                         f"F, got {tuple(recurrent_weight.shape)} with features {tuple(feat)}")
    n = ssm.state_size
    own_state = state is None  # zeros made here: nothing to check
    if own_state:
        zeros = current.new_zeros((batch, *feat))
        state = NeuronState(current.new_zeros((batch, *feat, n)), zeros)
    elif tuple(state.x.shape) != (batch, *feat, n) or tuple(state.s.shape) != (batch, *feat):
        raise ValueError(f"state shapes {tuple(state.x.shape)}, {tuple(state.s.shape)} do not match "
                         f"batch {batch}, features {tuple(feat)}, state size {n}")
    else:
        blocked = state.refractory
        if blocked is not None and tuple(blocked.shape) != (batch, *feat):
            raise ValueError(f"refractory state shape {tuple(blocked.shape)} does not match batch {batch}, "
                             f"features {tuple(feat)}")
        state = NeuronState(state.x.to(current), state.s.to(current),
                            None if blocked is None else blocked.to(current))
    if recurrent_weight is not None:
        recurrent_weight = recurrent_weight.to(current)
    if not own_state:
        check_scan_state(state, recurrent_weight)
    elif recurrent_weight is not None:
        check_finite_values(recurrent_weight, "recurrent_weight")
    request = ScanRequest(current=current, ssm=ssm.to(dtype=current.dtype, device=current.device), reset=reset,
                          detach_reset=detach_reset, spike_fn=spike_fn or BinarySpike(), state=state,
                          recurrent_weight=recurrent_weight, return_states=return_states)
    out = select_backend(request, backend)(request)
    if check_after and not all_finite(out.final.x):
        check_finite_values(current, "current")
    return out


__all__ = ["NeuronState", "ScanOutput", "ScanRequest", "available_backends", "check_finite_values", "check_scan_state", "check_time_major",
           "reference_scan", "register_backend", "scan"]
