"""The one multi-step scan op (exported as ``adaspike.core.scan``): run a discrete neuron over currents [T, B, *F].

``scan`` validates its inputs once, then hands them to a backend. The reference backend (``core.reference``) is plain
PyTorch (autograd through the surrogate); fast backends register themselves with ``register_backend`` and
must return the same spikes and gradients (checked by equivalence tests).
"""
from __future__ import annotations

from typing import Callable

import torch

from .backends import available_backends, register_backend, select_backend
from .clock import check_steps, constant_step
from .reference import reference_scan
from .spikes import BinarySpike, PerSampleRule, StepwiseSpike, check_reset
from .ssm import ContinuousSSM, DiscreteSSM, broadcast_shape
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


def scan(current: torch.Tensor, ssm: DiscreteSSM | ContinuousSSM, *, reset: str = "subtract",
         detach_reset: bool = False, spike_fn: Callable | None = None, state: NeuronState | None = None,
         recurrent_weight: torch.Tensor | None = None, return_states: bool = False, backend: str = "auto",
         dt=None, method: str = "zoh", recurrent_scale: torch.Tensor | None = None) -> ScanOutput:
    """Run ``ssm`` over ``current`` [T, B, *F]; returns spikes (and states on request) plus the final state.

    ``recurrent_weight`` [F, F] (flat features only) adds V·s_{t-1} to the current of step t, times
    ``recurrent_scale[t]`` when given ([T] or [T, B]: the count scaling of an irregular clock).

    ``dt``: the step lengths to run at, a float or a tensor [T] or [T, B] (seconds; one clock per sample). A
    ``ContinuousSSM`` is then discretised at each step by ``method``; a fixed-step ``DiscreteSSM`` is moved to the
    steps by the exact ZOH change of step (:meth:`DiscreteSSM.restep`). The spike rule must match the steps:
    build it with :func:`~adaspike.core.spikes.rule_for_steps` for a rule defined in seconds. A batch whose
    samples have their own clocks runs one sample at a time.
    """
    ssm = _at_steps(ssm, dt, current, method)
    if isinstance(recurrent_scale, torch.Tensor) and recurrent_scale.dim() == 2 and not ssm.per_sample:
        recurrent_scale = _check_scale(recurrent_scale, current)
    if ssm.per_sample or isinstance(spike_fn, PerSampleRule) or (
            isinstance(recurrent_scale, torch.Tensor) and recurrent_scale.dim() == 2):
        return _scan_per_sample(current, ssm, reset=reset, detach_reset=detach_reset, spike_fn=spike_fn,
                                state=state, recurrent_weight=recurrent_weight, return_states=return_states,
                                backend=backend, recurrent_scale=recurrent_scale)
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
    if isinstance(spike_fn, StepwiseSpike) and spike_fn.caps.shape[0] != T:
        raise ValueError(f"the spike rule was resolved for {spike_fn.caps.shape[0]} steps, the input has T = {T}")
    if recurrent_scale is not None:
        if recurrent_weight is None:
            raise ValueError("recurrent_scale needs a recurrent_weight")
        recurrent_scale = _check_scale(recurrent_scale, current)
    request = ScanRequest(current=current, ssm=ssm.to(dtype=current.dtype, device=current.device), reset=reset,
                          detach_reset=detach_reset, spike_fn=spike_fn or BinarySpike(), state=state,
                          recurrent_weight=recurrent_weight, return_states=return_states,
                          recurrent_scale=recurrent_scale)
    out = select_backend(request, backend)(request)
    if check_after and not all_finite(out.final.x):
        check_finite_values(current, "current")
    return out


def _at_steps(ssm, dt, current: torch.Tensor, method: str) -> DiscreteSSM:
    """``ssm`` as a DiscreteSSM running at ``dt`` (None: as it is)."""
    if dt is None:
        if isinstance(ssm, ContinuousSSM):
            raise ValueError("a ContinuousSSM needs dt= (the step lengths to discretise it at)")
        return ssm
    if current.dim() < 2:
        check_time_major(current, name="current")
    steps = check_steps(dt, T=int(current.shape[0]), batch=int(current.shape[1]))
    if isinstance(ssm, ContinuousSSM):
        return ssm.discretise(steps, method)
    if ssm.time_varying:
        if ssm.steps is None or not isinstance(steps, torch.Tensor) or not torch.equal(ssm.steps, steps):
            raise ValueError("this time-varying neuron's parameters follow other step lengths than dt=")
        return ssm
    const = constant_step(steps)
    return ssm if const is not None and const == ssm.dt else ssm.restep(steps)


def _check_scale(scale: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    T, batch = int(current.shape[0]), int(current.shape[1])
    if not isinstance(scale, torch.Tensor) or scale.dim() not in (1, 2) or scale.shape[0] != T or (
            scale.dim() == 2 and scale.shape[1] != batch):
        shape = tuple(scale.shape) if isinstance(scale, torch.Tensor) else type(scale).__name__
        raise ValueError(f"recurrent_scale must be a tensor [T] or [T, B] = [{T}] or [{T}, {batch}], got {shape}")
    check_finite_values(scale, "recurrent_scale")
    return scale.to(dtype=current.dtype, device=current.device)


def _scan_per_sample(current: torch.Tensor, ssm: DiscreteSSM, *, spike_fn, state: NeuronState | None,
                     recurrent_scale: torch.Tensor | None, return_states: bool, **options) -> ScanOutput:
    """A batch whose samples have their own clocks ([T, B] steps): one scan per sample, joined on the batch."""
    batch = current.shape[1]
    if ssm.per_sample and ssm.steps.shape[1] != batch:
        raise ValueError(f"the neuron follows {ssm.steps.shape[1]} per-sample clocks, the input has a batch of "
                         f"{batch}")
    outs = []
    for b in range(batch):
        part = None if state is None else NeuronState(
            state.x[b:b + 1], state.s[b:b + 1], None if state.refractory is None else state.refractory[b:b + 1])
        scale = recurrent_scale
        if isinstance(scale, torch.Tensor) and scale.dim() == 2:
            scale = scale[:, b]
        rule = spike_fn.sample(b) if isinstance(spike_fn, PerSampleRule) else spike_fn
        outs.append(scan(current[:, b:b + 1], ssm.sample(b), spike_fn=rule, state=part, recurrent_scale=scale,
                         return_states=return_states, **options))
    blocked = [o.final.refractory for o in outs]
    final = NeuronState(torch.cat([o.final.x for o in outs]), torch.cat([o.final.s for o in outs]),
                        None if any(r is None for r in blocked) else torch.cat(blocked))
    return ScanOutput(torch.cat([o.spikes for o in outs], dim=1),
                      torch.cat([o.states for o in outs], dim=1) if return_states else None, final)


__all__ = ["NeuronState", "ScanOutput", "ScanRequest", "available_backends", "check_finite_values", "check_scan_state", "check_time_major",
           "reference_scan", "register_backend", "scan"]
