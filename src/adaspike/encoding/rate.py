"""Rate (Poisson/Bernoulli) coding: each pixel spikes with probability x at every step, independently."""
from __future__ import annotations

import torch

from .base import Encoder, check_static_batch, check_steps, to_unit_float


class RateEncoder(Encoder):
    """S_t ~ Bernoulli(gain·x) i.i.d. over t.

    With ``seed`` the encoder owns a generator seeded once: a run is reproducible, successive batches still
    get fresh noise. ``reseed()`` restarts the stream. Without a seed the global RNG is used.
    """

    def __init__(self, T: int, seed: int | None = None, gain: float = 1.0):
        super().__init__()
        self.steps = check_steps(T, 1, "RateEncoder")
        if not 0 < gain:
            raise ValueError(f"RateEncoder gain must be > 0, got {gain}")
        self.seed, self.gain = seed, float(gain)
        self._generator: torch.Generator | None = None

    def reseed(self, seed: int | None = None) -> None:
        if seed is not None:
            self.seed = seed
        self._generator = None

    def _rng(self, device) -> torch.Generator | None:
        if self.seed is None:
            return None
        if self._generator is None or self._generator.device != torch.device(device):
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(int(self.seed))
        return self._generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_static_batch(x, "RateEncoder")
        p = (to_unit_float(x) * self.gain).clamp(0.0, 1.0)
        u = torch.rand((self.steps, *p.shape), generator=self._rng(p.device), device=p.device, dtype=p.dtype)
        return (u < p).to(p.dtype)

    def __deepcopy__(self, memo):
        # generators cannot be deep-copied; a copy restarts its stream from the seed
        clone = type(self)(self.steps, self.seed, self.gain)
        clone.train(self.training)
        return clone

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_generator"] = None
        return state

    def extra_repr(self) -> str:
        return f"steps={self.steps}, seed={self.seed}, gain={self.gain:g}"
