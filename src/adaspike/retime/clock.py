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
from ..layers import LeakyIntegrator, NeuronLayer
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
def on_clock(model: nn.Module, steps, *, spike_rule: str = "seconds", substeps: bool = False) -> Iterator[None]:
    """Run ``model`` (trained at its neurons' common step Δ_S) on ``steps`` inside the block.

    ``steps``: a float (seconds), or a tensor [T] (one clock for the batch) or [T, B] (one per sample).
    ``spike_rule``: ``"seconds"`` (each neuron keeps its capacity of one spike per Δ_S seconds) or ``"steps"``.
    ``substeps``: neurons advance steps longer than Δ_S in sub-steps of at most Δ_S (the step's drive held), so
    their dynamics keep the resolution they were trained at; layers still exchange spikes once per step.
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
        stack.enter_context(clock(checked, spike_rule=spike_rule, source_dt=dt_source, substeps=substeps))
        yield


def run_on_clock(model: nn.Module, x: torch.Tensor, steps, *, spike_rule: str = "seconds",
                 substeps: bool = False) -> torch.Tensor:
    """``model(x)`` with ``x`` [T, B, ...] sampled on ``steps`` (a float, or [T] / [T, B] seconds)."""
    if not isinstance(x, torch.Tensor) or x.dim() < 3:
        raise ValueError(f"run_on_clock expects time-major input [T, B, ...], got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    check_steps(steps, T=int(x.shape[0]), batch=int(x.shape[1]))
    with on_clock(model, steps, spike_rule=spike_rule, substeps=substeps):
        return model(x)





class ClockedForward:
    """``forward(model, batch)`` for :func:`adaspike.train.evaluate` on batches ``(x, y, steps)`` that carry
    their own clock (datasets after ``set_clock``): runs ``model`` on the true step lengths, or, with
    ``assume_nominal``, as if every step were the model's own (the naive reading of a drifting clock).

    It tallies the steps run (``steps_run``: Σ over samples of their number of steps) and the recording time
    they cover (``seconds``), from which the neuron-state updates of the run and of a dense grid follow.
    """

    def __init__(self, *, assume_nominal: bool = False, spike_rule: str = "seconds", substeps: bool = False):
        self.assume_nominal, self.spike_rule, self.substeps = bool(assume_nominal), spike_rule, bool(substeps)
        self.steps_run = 0
        self.seconds = 0.0
        self.samples = 0

    def __call__(self, model: nn.Module, batch) -> tuple[torch.Tensor, torch.Tensor]:
        if len(batch) != 3:
            raise ValueError("a clocked evaluation needs batches (x, y, steps); call the dataset's set_clock first")
        x, y, steps = batch
        self.steps_run += int(steps.shape[0]) * int(steps.shape[1])
        self.seconds += float(steps.sum())
        self.samples += int(steps.shape[1])
        if self.assume_nominal:
            return model(x), y
        return run_on_clock(model, x, steps, spike_rule=self.spike_rule, substeps=self.substeps), y

    def summary(self, neurons: int, model_dt: float, resolution: float | None = None) -> dict:
        """Steps and neuron-state updates per sample, against dense grids at the model's step (and at
        ``resolution``, the finest grid the data's timestamps allow)."""
        n = max(1, self.samples)
        out = {"samples": self.samples, "steps_per_sample": self.steps_run / n,
               "seconds_per_sample": self.seconds / n, "neurons": int(neurons),
               "state_updates_per_sample": neurons * self.steps_run / n,
               "dense_updates_per_sample": {f"{model_dt:g}s": neurons * self.seconds / n / model_dt}}
        if resolution is not None:
            out["dense_updates_per_sample"][f"{resolution:g}s"] = neurons * self.seconds / n / resolution
        return out


def neurons_per_sample(model: nn.Module) -> int:
    """Neurons whose state a step updates for one sample: every neuron layer's and leaky readout's size."""
    total = 0
    for module in model.modules():
        if isinstance(module, (NeuronLayer, LeakyIntegrator)):
            shape = getattr(module, "shape", ())
            total += int(torch.Size(shape).numel()) if len(shape) else 1
    return total
__all__ = ["ClockedForward", "neurons_per_sample", "on_clock", "run_on_clock"]
