"""Running max-pooling: the max of spike *rates*, computed on spikes (``convert(..., maxpool="running")``).

Per-step max-pooling (the default, conversion spec §pooling) takes the max of each step's spike map, which
over-estimates the max of the rates when the inputs fire at different steps, a bias that does not shrink with
T. ``RunningMaxPool`` keeps each input's running sum C(t) = Σ_{s≤t} x(s) and sends the change of the pooled
running sum:

    y(t) = pool(C(t)) − pool(C(t − 1))      so      Σ_{s≤t} y(s) = pool(C(t))

The output integrated up to any step is the max-pool of the inputs integrated up to that step, i.e. the ANN's
max-pool of the rates so far: exact in rate at every step, for any neuron. Inputs in one pooling window share
one channel, so with graded spikes n·θ the output is a whole number of that channel's spikes, possibly
negative (the running max can move to a window member that catches up). The module keeps its state like a
neuron: [T·B, ...] sequences are summed over time at once, single steps carry C and pool(C) between calls.
"""
from __future__ import annotations

import torch
from torch import nn

from .context import active_run


class RunningMaxPool(nn.Module):
    """Wraps a max-pooling module (or any per-map max) so that it pools running sums instead of single steps."""

    def __init__(self, pool: nn.Module, name: str = ""):
        super().__init__()
        self.pool = pool
        self.node_name = name
        self.reset_state()

    def reset_state(self) -> None:
        self.total: torch.Tensor | None = None       # C(t − 1) per sample (step mode)
        self.pooled: torch.Tensor | None = None      # pool(C(t − 1))

    def keep(self, index: torch.Tensor) -> None:
        """Drop the state of samples that left the batch (early exit)."""
        if self.total is not None:
            self.total, self.pooled = self.total[index], self.pooled[index]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        run = active_run()
        if run is None or run.mode == "ann":
            return self.pool(x)
        if run.mode == "sequence":
            T = int(run.steps)
            running = x.reshape(T, x.shape[0] // T, *x.shape[1:]).cumsum(0)
            pooled = self.pool(running.reshape(x.shape))
            pooled = pooled.reshape(T, -1, *pooled.shape[1:])
            return torch.cat([pooled[:1], pooled.diff(dim=0)]).reshape(-1, *pooled.shape[2:])
        self.total = x if self.total is None else self.total + x
        pooled = self.pool(self.total)
        out = pooled if self.pooled is None else pooled - self.pooled
        self.pooled = pooled
        return out

    def extra_repr(self) -> str:
        return f"node={self.node_name!r}"


__all__ = ["RunningMaxPool"]
