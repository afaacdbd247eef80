"""Time-step-adaptive neurons (ASNN, docs/pages/specs/hybrid_asnn.md §2) and the per-step weighted readout.

For layer l and step t = 0..T−1, with v_{−1} = 0:
    u_t = λ_t · v_{t−1} + a_t · I_t          (charge; λ_t, a_t learnable per step)
    o_t = H(u_t − V_th)                       (strict step: u = V_th does not fire)
    v_t = u_t − V_th·o_t                      (soft reset, not detached)
This is the core SSM with per-step H = λ_t and B = a_t (a ``DiscreteSSM`` with ``time_varying=True``), so any scan
backend that supports time-varying neurons runs it. λ_0 multiplies v_{−1} = 0, so its gradient is exactly 0.
``tied=True`` keeps one λ and one a for all steps: the standard decay-input LIF u = λv + aI.
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.ssm import DiscreteSSM
from ..core.units import DEFAULT_DT
from ..core.surrogates import Sigmoid, Surrogate
from .neurons import NeuronLayer

GRANULARITIES = ("layer", "channel")
CONSTRAINTS = (None, "sigmoid")


class FixedThreshold(nn.Module):
    """A threshold that is exactly the given value (no reparameterisation round trip), not learnable."""

    def __init__(self, value: float):
        super().__init__()
        if not value > 0:
            raise ValueError(f"threshold must be > 0, got {value}")
        self.register_buffer("value", torch.tensor(float(value)))

    def forward(self) -> torch.Tensor:
        return self.value


class StepParameter(nn.Module):
    """A learnable value per step (or one, tied), per layer or per channel, optionally kept in (0, 1) by σ.

    ``value(T)`` returns [T] (layer) or [T, C] (channel).
    """

    def __init__(self, T: int, init: float, channels: int | None, tied: bool, constrain: str | None):
        super().__init__()
        if constrain not in CONSTRAINTS:
            raise ValueError(f"constrain must be one of {CONSTRAINTS}, got {constrain!r}")
        if constrain == "sigmoid" and not 0.0 < init < 1.0:
            raise ValueError(f"a sigmoid-constrained parameter needs an initial value in (0, 1), got {init}")
        self.T, self.tied, self.constrain = int(T), bool(tied), constrain
        shape = (1 if tied else self.T,) + (() if channels is None else (int(channels),))
        raw = torch.full(shape, float(init))
        self.raw = nn.Parameter(torch.logit(raw) if constrain == "sigmoid" else raw)

    def value(self, T: int | None = None) -> torch.Tensor:
        steps = self.T if T is None else int(T)
        v = torch.sigmoid(self.raw) if self.constrain == "sigmoid" else self.raw
        if self.tied:
            return v.expand(steps, *v.shape[1:])
        if steps != self.T:
            raise ValueError(f"per-step parameters were built for T = {self.T} steps, input has T = {steps}")
        return v


class PerStepLIF(NeuronLayer):
    """Decay-input LIF with per-step leak λ[t] and input gain a[t] (ASNN node), multi-step [T, B, *F].

    ``granularity="layer"`` holds one scalar per step; ``"channel"`` one per (step, channel), where the
    channel is the first feature axis (``channels`` must be given). ``constrain="sigmoid"`` keeps λ, a in
    (0, 1); the spec's default is unconstrained. Threshold fixed at ``threshold`` (1), strict spike,
    surrogate σ'(4x), soft reset not detached.
    """

    def __init__(self, T: int, *, channels: int | None = None, granularity: str = "layer",
                 constrain: str | None = None, tied: bool = False, leak_init: float = 0.5, gain_init: float = 0.5,
                 threshold: float = 1.0, surrogate: str | Surrogate = Sigmoid(4.0), reset: str = "subtract",
                 detach_reset: bool = False, strict: bool = True, dt: float = DEFAULT_DT, backend: str = "auto"):
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        if granularity == "channel" and not channels:
            raise ValueError("granularity='channel' needs the number of channels")
        super().__init__((), dt=dt, threshold=threshold, reset=reset, detach_reset=detach_reset,
                         surrogate=surrogate, strict=strict, backend=backend)
        self.threshold = FixedThreshold(threshold)
        self.T, self.granularity, self.tied = int(T), granularity, bool(tied)
        self.channels = int(channels) if granularity == "channel" else None
        self.leak = StepParameter(T, leak_init, self.channels, tied, constrain)
        self.gain = StepParameter(T, gain_init, self.channels, tied, constrain)

    def per_step(self, T: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(λ [T, *P], a [T, *P]) with P = () or (C,)."""
        return self.leak.value(T), self.gain.value(T)

    def ssm(self, dt: float | None = None, T: int | None = None, feature_dims: int = 1) -> DiscreteSSM:
        """Time-varying SSM: H [T, *P, 1, 1] = λ_t, B [T, *P, 1] = a_t, with P = (C, 1, …) for channels."""
        lam, gain = self.per_step(T)
        # give the parameters one axis per feature axis, so backends that broadcast [T, *P] against
        # [T, *features] line them up from the left
        tail = (1,) * (feature_dims - (1 if self.channels is not None else 0))
        lam, gain = lam.reshape(*lam.shape, *tail), gain.reshape(*gain.shape, *tail)
        threshold = self.threshold()
        one = threshold.new_ones(1)
        # u_t = λ_t (v_{t−1} − θ o_{t−1}) + a_t I_t: kick_reset −1 applies the soft reset before the leak
        return DiscreteSSM(H=lam[..., None, None], B=gain[..., None], kick_reset=-one, kick_spike=one * 0,
                           threshold=threshold, dt=dt or self.dt, method="discrete", time_varying=True)

    def forward(self, current: torch.Tensor, state=None, return_state: bool = False):
        if current.dim() < 3:
            raise ValueError(f"PerStepLIF expects [T, B, *features], got shape {tuple(current.shape)}")
        if self.channels is not None and current.shape[2] != self.channels:
            raise ValueError(f"PerStepLIF has {self.channels} channels, input has {current.shape[2]} on axis 2")
        ssm = self.ssm(T=current.shape[0], feature_dims=current.dim() - 2)
        out = self.run(current, state, ssm=ssm)
        return (out.spikes, out.final) if return_state else out.spikes

    def extra_repr(self) -> str:
        return (f"T={self.T}, granularity={self.granularity}, tied={self.tied}, "
                f"constrain={self.leak.constrain}, reset={self.reset}")


class StepWeightedReadout(nn.Module):
    """Non-spiking head per step with learnable step weights: y = (1/T) Σ_t s_t (W o_t + b).

    ``learn_steps=False`` fixes s ≡ 1, the usual mean-over-time readout. Input [T, B, F] → logits [B, K].
    """

    def __init__(self, T: int, in_features: int, classes: int, learn_steps: bool = True, bias: bool = True):
        super().__init__()
        self.T = int(T)
        self.linear = nn.Linear(in_features, classes, bias=bias)
        ones = torch.ones(self.T)
        if learn_steps:
            self.step_weight = nn.Parameter(ones)
        else:
            self.register_buffer("step_weight", ones)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 3 or features.shape[0] != self.T or features.shape[2] != self.linear.in_features:
            raise ValueError(f"StepWeightedReadout expects [T={self.T}, B, F={self.linear.in_features}], got shape "
                             f"{tuple(features.shape)}")
        z = self.linear(features)
        return (self.step_weight[:, None, None] * z).mean(0)
