"""Any clock for a whole model: run a trained SNN on step lengths that are data ([T] or [T, B] seconds).

``retime`` moves a model to one new step Δ_T = ρ Δ_S. ``on_clock`` generalises it to a clock whose every step
has its own length dt_t (irregular sampling, jittered hardware clocks, event times), with the same three
adjustments, per step, and no copy of the model:

- every neuron layer is discretised at dt_t (``adaspike.core.clock``: the layers read the active clock) and
  keeps its spike rule in seconds;
- every synaptic input that counts events (binned data, spikes from other layers, recurrent spikes) is scaled by
  Δ_S/dt_t, the 1/ρ of ``retime``'s ``input_scale="auto"``: forward pre-hooks on the count synapses here, the
  recurrent weights inside each layer's scan;
- time reductions weight each step by its length (means) or by dt_t/Δ_S (sums).

A regular clock at Δ_S is the model itself, bit for bit; a regular clock at ρ Δ_S matches ``retime(model,
ratio=ρ)`` up to float rounding of the discretisation (direct ZOH at the new step instead of H_S^ρ).
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Iterator

import torch
from torch import nn

from ..core.clock import check_steps, clock, constant_step
from .model import source_dt
from .synapses import count_input_modules


class _ScaleCounts:
    """Forward pre-hook: multiply a count synapse's input [T, B, ...] or [T·B, ...] by Δ_S/dt_t."""

    def __init__(self, scale: torch.Tensor | float):
        self.scale = scale  # a float (a regular clock), or float64 [T] or [T, B]

    def __call__(self, module: nn.Module, args: tuple):
        x, *rest = args
        if not isinstance(self.scale, torch.Tensor):
            return (x * self.scale, *rest)
        T = self.scale.shape[0]
        factor = self.scale.to(dtype=x.dtype if x.is_floating_point() else torch.get_default_dtype(),
                               device=x.device)
        if x.shape[0] == T and x.dim() >= 3:      # time-major [T, B, ...]
            factor = factor.reshape(T, -1, *([1] * (x.dim() - 2))) if factor.dim() == 2 else \
                factor.reshape(T, *([1] * (x.dim() - 1)))
        elif x.shape[0] % T == 0:                 # time folded into the batch: [T·B, ...] (TimeFolded)
            rows = factor.reshape(-1) if factor.dim() == 2 else factor.repeat_interleave(x.shape[0] // T)
            if rows.numel() != x.shape[0]:
                raise ValueError(f"{type(module).__name__}: input of {x.shape[0]} rows does not fold the clock's "
                                 f"{tuple(self.scale.shape)} steps")
            factor = rows.reshape(-1, *([1] * (x.dim() - 1)))
        else:
            raise ValueError(f"{type(module).__name__}: input of shape {tuple(x.shape)} does not follow the clock's "
                             f"T = {T} steps")
        return (x * factor, *rest)


@contextmanager
def on_clock(model: nn.Module, steps, *, spike_rule: str = "seconds") -> Iterator[None]:
    """Run ``model`` (trained at its neurons' common step Δ_S) on ``steps`` inside the block.

    ``steps``: a float (seconds), or a tensor [T] (one clock for the batch) or [T, B] (one per sample).
    ``spike_rule``: ``"seconds"`` (each neuron keeps its capacity of one spike per Δ_S seconds) or ``"steps"``.
    The model is not modified: hooks are removed and the clock deactivated when the block exits.
    """
    dt_source = source_dt(model)
    checked = check_steps(steps)
    const = constant_step(checked)
    with ExitStack() as stack:
        if const is None or const != dt_source:
            hook = _ScaleCounts(dt_source / const if const is not None else dt_source / checked)
            for _, module in count_input_modules(model):
                stack.callback(module.register_forward_pre_hook(hook).remove)
        stack.enter_context(clock(checked, spike_rule=spike_rule, source_dt=dt_source))
        yield


def run_on_clock(model: nn.Module, x: torch.Tensor, steps, *, spike_rule: str = "seconds") -> torch.Tensor:
    """``model(x)`` with ``x`` [T, B, ...] sampled on ``steps`` (a float, or [T] / [T, B] seconds)."""
    if not isinstance(x, torch.Tensor) or x.dim() < 3:
        raise ValueError(f"run_on_clock expects time-major input [T, B, ...], got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    check_steps(steps, T=int(x.shape[0]), batch=int(x.shape[1]))
    with on_clock(model, steps, spike_rule=spike_rule):
        return model(x)


__all__ = ["on_clock", "run_on_clock"]
