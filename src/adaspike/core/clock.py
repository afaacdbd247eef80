"""Step lengths as data: the clock of a run.

A neuron is a continuous-time model and ``dt`` is only how it is sampled, so a run's clock is data like its
input: a float (one fixed step, in seconds), or a tensor of step lengths in seconds, ``[T]`` (one clock for the
whole batch) or ``[T, B]`` (each sample its own clock: jittered hardware, per-recording event times).

``check_steps`` is the one validator of step lengths (shape, NaN/Inf, ≤ 0); ``constant_step`` tells a regular
clock from an irregular one (a regular clock runs the fixed-step path, bit for bit). ``clock(...)`` makes a clock
active for the layers called inside it, the way ``torch.no_grad`` scopes autograd: it is a context variable,
local to the thread and task, and nothing outside the ``with`` block sees it. Layers read it through
``active_clock()``; a model-level runner (``adaspike.retime.on_clock``) adds what only a model knows (which
synapses carry event counts).
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from .units import check_dt

SPIKE_RULES = ("seconds", "steps")

def _describe(bad: torch.Tensor, values: torch.Tensor) -> str:
    """'step 3 (sample 1) = -0.002' for the first offending entry."""
    index = tuple(int(i) for i in bad.nonzero()[0])
    where = f"step {index[0]}" + (f" (sample {index[1]})" if len(index) > 1 else "")
    return f"{where} = {float(values[index]):g}"


def check_steps(steps, T: int | None = None, batch: int | None = None, name: str = "dt") -> float | torch.Tensor:
    """A validated clock: a float (seconds) for one fixed step, else a float64 tensor [T] or [T, B] of seconds.

    Refuses, naming the offending step: NaN/Inf, lengths ≤ 0, more than two axes, a length other than ``T``
    steps, and a second axis other than ``batch`` samples. Strings with units ("4ms") are read by
    :func:`~adaspike.core.units.parse_time`.
    """
    if isinstance(steps, (str, int, float)) and not isinstance(steps, bool):
        return check_dt(steps, name)
    if isinstance(steps, bool) or steps is None:
        raise ValueError(f"{name} must be a step length in seconds or a tensor of them, got {steps!r}")
    if isinstance(steps, torch.Tensor):
        values = steps.detach().to(device="cpu", dtype=torch.float64)
    else:
        try:
            values = torch.as_tensor(np.asarray(steps, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a step length in seconds or a sequence of them, got "
                             f"{type(steps).__name__}") from None
    if values.dim() == 0:
        return check_dt(float(values), name)
    if values.dim() > 2:
        raise ValueError(f"{name} step lengths must be [T] or [T, B], got shape {tuple(values.shape)}")
    if values.numel() == 0:
        raise ValueError(f"{name} has no steps (shape {tuple(values.shape)})")
    finite = torch.isfinite(values)
    if not bool(finite.all()):
        raise ValueError(f"{name} step lengths must be finite seconds; {_describe(~finite, values)}")
    if bool((values <= 0).any()):
        raise ValueError(f"{name} step lengths must be > 0 seconds; {_describe(values <= 0, values)}")
    if T is not None and values.shape[0] != T:
        raise ValueError(f"{name} has {values.shape[0]} step lengths, the input has T = {T} steps")
    if values.dim() == 2 and batch is not None and values.shape[1] not in (batch,):
        raise ValueError(f"{name} step lengths [T, B] have B = {values.shape[1]} clocks, the input has a batch "
                         f"of {batch}")
    return values


def constant_step(steps) -> float | None:
    """The one step length of a regular clock (a float, or a tensor whose entries are all equal), else None."""
    if not isinstance(steps, torch.Tensor):
        return float(steps)
    flat = steps.reshape(-1)
    first = flat[0]
    return float(first) if bool((flat == first).all()) else None


def step_ends(steps: torch.Tensor) -> torch.Tensor:
    """Time at the end of each step (seconds since the start of the run), float64, same shape."""
    return torch.cumsum(steps.to(torch.float64), dim=0)


def grid_steps(edges: Sequence[float] | np.ndarray | torch.Tensor) -> torch.Tensor:
    """Step lengths [T] of the grid with bin edges ``edges`` [T + 1] (seconds, strictly increasing)."""
    e = torch.as_tensor(np.asarray(edges, dtype=np.float64))
    if e.dim() != 1 or e.numel() < 2:
        raise ValueError(f"bin edges must be a 1-D sequence of at least 2 times, got shape {tuple(e.shape)}")
    return check_steps(torch.diff(e), name="bin edges")


@dataclass(frozen=True, eq=False)
class Clock:
    """The active clock of a run.

    ``steps``: the step lengths (float64 [T] or [T, B], seconds). ``spike_rule``: ``"seconds"`` (a neuron trained
    at step Δ keeps its capacity of one spike per Δ seconds: refractory at finer steps, bursts at coarser ones)
    or ``"steps"`` (one spike per step, whatever its length). ``source_dt``: the step the model's count inputs and
    time sums were trained at (set by the model-level runner; ``None`` for a bare layer call). ``substeps``: a
    neuron layer advances a step longer than its own dt in sub-steps of at most its dt, the step's drive held
    (see :func:`substep_plan`): its dynamics stay at the resolution it was trained at, while the clock only sets
    when layers exchange spikes.
    """

    steps: torch.Tensor
    spike_rule: str = "seconds"
    source_dt: float | None = None
    substeps: bool = False

    def __post_init__(self):
        if self.spike_rule not in SPIKE_RULES:
            raise ValueError(f"spike_rule must be one of {SPIKE_RULES}, got {self.spike_rule!r}")
        if self.source_dt is not None:
            check_dt(self.source_dt, "source_dt")

    @property
    def T(self) -> int:
        return int(self.steps.shape[0])

    def weights(self, like: torch.Tensor) -> torch.Tensor:
        """The step lengths broadcast against ``like`` [T, B, ...], in its dtype and device."""
        w = self.steps.to(dtype=like.dtype if like.is_floating_point() else torch.get_default_dtype(),
                          device=like.device)
        if w.dim() == 1:
            return w.reshape(-1, *([1] * (like.dim() - 1)))
        return w.reshape(*w.shape, *([1] * (like.dim() - 2)))


_ACTIVE: contextvars.ContextVar[Clock | None] = contextvars.ContextVar("adaspike_clock", default=None)


def active_clock() -> Clock | None:
    """The clock made active by an enclosing ``with clock(...)``, else None (every layer runs at its own dt)."""
    return _ACTIVE.get()


@contextmanager
def clock(steps, *, spike_rule: str = "seconds", source_dt: float | None = None,
          substeps: bool = False) -> Iterator[Clock]:
    """Run the layers called inside the block on ``steps`` (float seconds, or a tensor [T] or [T, B]).

    Neuron layers discretise their continuous model at each step, carry their spike rule in seconds, and scale
    their recurrent (event-count) input by their own dt over the step length; time reductions weight each step
    by its length. Nested blocks replace the outer clock until they exit.
    """
    checked = check_steps(steps)
    if not isinstance(checked, torch.Tensor):
        checked = torch.tensor([checked], dtype=torch.float64)
    token = _ACTIVE.set(Clock(checked, spike_rule, source_dt, substeps))
    try:
        yield _ACTIVE.get()
    finally:
        _ACTIVE.reset(token)


def layer_steps(dt, current: torch.Tensor) -> float | torch.Tensor | None:
    """The step lengths a layer runs ``current`` [T, B, ...] at: explicit ``dt`` (float or tensor), else the
    active clock's, else None (the layer's own fixed dt). A one-entry clock is a fixed step for any T; tensors
    are checked against T and B."""
    if dt is None:
        active = active_clock()
        if active is None:
            return None
        dt = active.steps
    if isinstance(dt, torch.Tensor) and dt.numel() == 1:
        return check_dt(float(dt.reshape(())))
    return check_steps(dt, T=int(current.shape[0]), batch=int(current.shape[1]) if current.dim() > 1 else None)


def substep_plan(steps, native: float) -> tuple[torch.Tensor, torch.Tensor] | None:
    """How a layer trained at ``native`` seconds advances through ``steps`` (a float or a [T] tensor) in
    sub-steps of at most ``native``: (sub-steps per step k [T] int64, the sub-step lengths [Σk] float64); None
    when no step is longer than ``native`` (within 1e-9)."""
    lengths = steps.to(torch.float64).reshape(-1) if isinstance(steps, torch.Tensor) else \
        torch.tensor([float(steps)], dtype=torch.float64)
    k = torch.ceil(lengths / native * (1 - 1e-9)).clamp_min(1).to(torch.int64)
    if bool((k == 1).all()):
        return None
    return k, (lengths / k).repeat_interleave(k)


__all__ = ["Clock", "SPIKE_RULES", "active_clock", "check_steps", "clock", "constant_step", "grid_steps",
           "layer_steps", "step_ends", "substep_plan"]
