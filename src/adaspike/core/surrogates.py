"""Surrogate gradients: the forward pass is a step, the backward pass uses a smooth pseudo-derivative.

Each surrogate is a small object with a ``slope`` and a ``grad(x)`` method, where ``x = v - threshold``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .registry import Registry


class Surrogate:
    """Base class: subclasses define ``grad``; ``__call__`` applies the spike step with this surrogate."""

    name: str = "surrogate"
    slope: float

    def grad(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, strict: bool = False) -> torch.Tensor:
        return SpikeStep.apply(x, self, strict)


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """SuperSpike (Zenke & Ganguli): 1 / (slope·|x| + 1)^2."""

    slope: float = 25.0
    name: str = "fast_sigmoid"

    def grad(self, x):
        return 1.0 / (self.slope * x.abs() + 1.0) ** 2


@dataclass(frozen=True)
class Arctan(Surrogate):
    """Derivative of 1/π·arctan(π·slope·x/2) + 1/2."""

    slope: float = 2.0
    name: str = "arctan"

    def grad(self, x):
        return (self.slope / 2.0) / (1.0 + (math.pi / 2.0 * self.slope * x) ** 2)


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Derivative of σ(slope·x)."""

    slope: float = 4.0
    name: str = "sigmoid"

    def grad(self, x):
        sig = torch.sigmoid(self.slope * x)
        return self.slope * sig * (1.0 - sig)


@dataclass(frozen=True)
class Triangle(Surrogate):
    """Piecewise linear: slope·max(0, 1 − slope·|x|)."""

    slope: float = 1.0
    name: str = "triangle"

    def grad(self, x):
        return self.slope * torch.clamp(1.0 - self.slope * x.abs(), min=0.0)


SURROGATES: Registry[type[Surrogate]] = Registry("surrogate")
for _surrogate in (FastSigmoid, Arctan, Sigmoid, Triangle):  # a new surrogate: a dataclass above, named here
    SURROGATES.add(_surrogate.name, _surrogate)


class SpikeStep(torch.autograd.Function):
    """Heaviside forward (x >= 0, or x > 0 when strict), surrogate backward."""

    @staticmethod
    def forward(ctx, x, surrogate, strict):
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None, None


def get_surrogate(spec: str | Surrogate | None, slope: float | None = None) -> Surrogate:
    """Build a surrogate from a name (``"fast_sigmoid"``, ``"arctan"``, ``"sigmoid"``, ``"triangle"``) or pass one through."""
    if spec is None:
        spec = "fast_sigmoid"
    if isinstance(spec, Surrogate):
        return spec
    cls = SURROGATES[spec]
    return cls() if slope is None else cls(slope=float(slope))
