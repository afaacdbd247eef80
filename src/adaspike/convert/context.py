"""The run context: how conversion neurons run now and what they record, passed down instead of set on them.

A conversion neuron is called by the traced graph with its input only, so what the caller wants from this call
(ANN reference or spiking, how many steps, which scan backend, which statistics to keep) travels in one frozen
``RunContext`` installed for a block::

    with run_context(mode="step", steps=8):
        out = neuron(z)

Blocks nest: ``run_context(**changes)`` and ``recording(**changes)`` start from the active context, so a
caller's recording wishes (e.g. bias correction's output sums) reach the neurons through ``ConvertedSNN.run``,
which sets only the mode, the steps and the backend. A context is a ``contextvars`` value: threads and async
tasks each see their own.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Iterator

MODES = ("ann", "sequence", "step")


@dataclass(frozen=True)
class Record:
    """What the neurons keep during a run, for the caller that reads it afterwards."""

    activation: bool = False           # ann mode: the last activation in ``.activation`` (threshold fit)
    output_sum: bool = False           # spiking modes: Σ_t x(t) per sample in ``.output_sum`` (bias correction)
    spike_total: bool = True           # spiking modes: Σ n in ``.spike_total`` (searches, energy)
    peak: bool = False                 # spiking modes: the largest count of one step in ``.peak_count``
    per_sample: bool = True            # spiking modes: ``.mean_count`` per sample (the operation counter)
    count_only: frozenset | None = None  # the neurons that count spikes (None: all of them)

    def counts(self, neuron) -> bool:
        """Whether ``neuron`` keeps its spike statistics in this run."""
        return self.spike_total and (self.count_only is None or neuron in self.count_only)


@dataclass(frozen=True)
class RunContext:
    """One run of conversion neurons: ``mode`` ("ann": ReLU reference; "sequence": [T·B, ...] input scanned over
    ``steps``; "step": one step [B, ...] from the neuron's state), the core scan ``backend`` and ``record``."""

    mode: str = "sequence"
    steps: int = 1
    backend: str = "auto"
    record: Record = field(default_factory=Record)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"neuron mode must be one of {MODES}, got {self.mode!r}")
        if int(self.steps) < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")


_ACTIVE: ContextVar[RunContext | None] = ContextVar("adaspike_convert_run", default=None)


def active_run() -> RunContext | None:
    """The context installed by the innermost ``run_context``/``recording`` block, or None."""
    return _ACTIVE.get()


@contextmanager
def run_context(context: RunContext | None = None, /, **changes) -> Iterator[RunContext]:
    """Install ``context`` (default: the active one, else ``RunContext()``) with ``changes`` for the block."""
    base = context if context is not None else (_ACTIVE.get() or RunContext())
    token = _ACTIVE.set(replace(base, **changes) if changes else base)
    try:
        yield _ACTIVE.get()
    finally:
        _ACTIVE.reset(token)


@contextmanager
def recording(**changes) -> Iterator[RunContext]:
    """The active context with ``Record`` fields changed (e.g. ``output_sum=True``) for the block."""
    base = _ACTIVE.get() or RunContext()
    with run_context(base, record=replace(base.record, **changes)) as context:
        yield context


__all__ = ["MODES", "Record", "RunContext", "active_run", "recording", "run_context"]
