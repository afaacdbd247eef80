"""Shared pieces of the encoders: the base module and 8-bit handling.

Every encoder maps a static batch ``[B, C, H, W]`` (float in [0, 1], or uint8 pixels p in 0..255) to a
time-major tensor ``[num_steps, B, C, H, W]``.
"""
from __future__ import annotations

import torch
from torch import nn


def check_static_batch(x: torch.Tensor, name: str) -> None:
    """Raise a clear error unless ``x`` is a static batch [B, ...] of finite values."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor [B, C, H, W], got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"{name} expects a static batch [B, C, H, W] (or [B, F]), got shape {tuple(x.shape)}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} input contains NaN or Inf")


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels → float in [0, 1]; float input is returned unchanged."""
    if x.dtype == torch.uint8:
        return x.to(torch.float32) / 255.0
    if not x.is_floating_point():
        raise ValueError(f"encoder input must be uint8 or floating point, got {x.dtype}")
    return x


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Exact 8-bit pixel values p (int64): uint8 as is, float x in [0, 1] as round(255·x).

    Float images that came from uint8 (x = p/255) recover p exactly, which is what makes the integer firing
    tests below bit-exact whatever float rounding did to x.
    """
    if x.dtype == torch.uint8:
        return x.to(torch.int64)
    if not x.is_floating_point():
        raise ValueError(f"encoder input must be uint8 or floating point, got {x.dtype}")
    if bool(((x < 0) | (x > 1)).any()):
        raise ValueError("integer-mode encoders need inputs in [0, 1] (or uint8); use integer=False otherwise")
    return torch.round(x * 255.0).to(torch.int64)


class Encoder(nn.Module):
    """Base class: ``steps`` is the number of output frames; ``forward`` returns [steps, B, ...]."""

    steps: int

    def output_shape(self, batch_shape: torch.Size | tuple) -> tuple[int, ...]:
        return (self.steps, *batch_shape)

    def extra_repr(self) -> str:
        return f"steps={self.steps}"


def check_steps(T: int, minimum: int, name: str) -> int:
    if int(T) != T or int(T) < minimum:
        raise ValueError(f"{name} needs T >= {minimum} (an integer), got {T!r}")
    return int(T)
