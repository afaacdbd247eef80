"""An integrate-and-fire neuron whose membrane is held at or above a floor: Sinabs' ``IAFSqueeze`` as
``sinabs.nir.from_nir`` (3.1.3) builds it for every NIR ``IF`` node, with ``min_v_mem = −θ``.

Per step: v ← v + g·I_t; s = ⌊v/θ⌋ where v ≥ θ (Sinabs' ``MultiSpike``, no cap); v ← v − s·θ
(``MembraneSubtract``); v ← max(v, floor), computed as Sinabs computes it. The floor is not linear, so no per-step
state-space form (and no fused scan) holds it: this module runs its own loop over time. It is what the ``sinabs`` conventions read an IF node as; adaspike's own IF
layers have no floor.
"""
from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

__all__ = ["FlooredIF"]


class FlooredIF(nn.Module):
    """Integrate-and-fire with a membrane floor over [T, B, *shape] currents (``gain``, ``threshold`` and
    ``floor`` per neuron or scalar); ``dt`` labels the step it runs at."""

    def __init__(self, shape, gain, threshold, floor, dt: float):
        super().__init__()
        self.shape, self.dt = tuple(shape), float(dt)
        for name, value in (("gain", gain), ("threshold", threshold), ("floor", floor)):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32).expand(self.shape).clone())
        if bool((self.threshold <= 0).any()):
            raise ValueError("FlooredIF: thresholds must be > 0")

    def run(self, current: torch.Tensor, recurrent_weight: torch.Tensor | None = None) -> SimpleNamespace:
        """Spikes (counts) [T, B, *shape]; ``recurrent_weight`` adds W·s_{t−1} to each step's input."""
        v = torch.zeros(current.shape[1:], dtype=current.dtype, device=current.device)
        spikes = torch.zeros_like(v)
        out = []
        for step in current:
            if recurrent_weight is not None:
                step = step + spikes @ recurrent_weight.T
            v = v + self.gain * step
            spikes = torch.where(v >= self.threshold, torch.floor(v / self.threshold), torch.zeros_like(v))
            # Sinabs' own arithmetic, relu(v − floor) + floor: it rounds v by an ulp where max(v, floor) would not
            v = torch.relu(v - spikes * self.threshold - self.floor) + self.floor
            out.append(spikes)
        return SimpleNamespace(spikes=torch.stack(out))

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        return self.run(current).spikes

    def extra_repr(self) -> str:
        return f"shape={self.shape}, dt={self.dt:g}s"
