"""Direct coding: the same (normalised) analog frame at every step, X_t = (x − μ)/σ."""
from __future__ import annotations

from typing import Sequence

import torch

from .base import Encoder, check_static_batch, check_steps, to_unit_float


class DirectEncoder(Encoder):
    """X_t = normalize(x) for t = 0..T−1; ``mean``/``std`` per channel (the dataset's own statistics).

    With ``mean=None`` the frame is passed through unnormalised.
    """

    def __init__(self, T: int, mean: float | Sequence[float] | None = None, std: float | Sequence[float] | None = None):
        super().__init__()
        self.steps = check_steps(T, 1, "DirectEncoder")
        if (mean is None) != (std is None):
            raise ValueError("DirectEncoder needs both mean and std, or neither")
        if std is not None and bool((torch.as_tensor(std, dtype=torch.float32) <= 0).any()):
            raise ValueError(f"DirectEncoder std must be > 0, got {std}")
        self.register_buffer("mean", None if mean is None else torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", None if std is None else torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_static_batch(x, "DirectEncoder")
        x = to_unit_float(x)
        if self.mean is not None:
            shape = (-1,) + (1,) * (x.dim() - 2) if self.mean.dim() else ()
            x = (x - self.mean.reshape(shape)) / self.std.reshape(shape)
        return x.unsqueeze(0).expand(self.steps, *x.shape)
