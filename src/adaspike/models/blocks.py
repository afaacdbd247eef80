"""Building blocks shared by the encoded multi-step models (Spiking ResNet, Spikformer, LeNet).

Every model: static batch [B, C, H, W] → encoder → frames [T, B, C, H, W] → stem (conv + BN, or the
hybrid pair of stems) → spiking body → per-step features [T, B, F] → StepWeightedReadout → logits [B, K].
``adaptive`` picks the neuron dynamics of the ablation (docs/pages/specs/hybrid_asnn.md §8):
  ``off``      λ, a tied across steps and s ≡ 1 (the baseline SNN),
  ``neurons``  per-step λ[t], a[t], s ≡ 1,
  ``on``       per-step λ[t], a[t] and learnable step weights s_t.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..encoding import HybridEncoder, make_encoder
from ..layers.adaptive import PerStepLIF, StepWeightedReadout
from ..layers.norm import TemporalBatchNorm
from ..layers.synapse import TimeFolded

ADAPTIVE_MODES = ("off", "neurons", "on")
FASHION_MNIST_STATS = (0.2860, 0.3530)  # mean, std of the training images in [0, 1]


def adaptive_mode(value: bool | str) -> str:
    """Accept True/False, "on"/"off" or "neurons"."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value not in ADAPTIVE_MODES:
        raise ValueError(f"adaptive must be a bool or one of {ADAPTIVE_MODES}, got {value!r}")
    return value


@dataclass(frozen=True)
class SpikingOptions:
    """What every spiking layer of a model needs to know."""

    T: int
    adaptive: str = "off"
    granularity: str = "layer"
    constrain: str | None = None
    bn_mode: str = "flat"

    def neuron(self, channels: int, threshold: float = 1.0) -> PerStepLIF:
        return PerStepLIF(self.T, channels=channels, granularity=self.granularity, constrain=self.constrain,
                           tied=self.adaptive == "off", threshold=threshold)

    def norm(self, channels: int, T: int | None = None) -> TemporalBatchNorm:
        return TemporalBatchNorm(channels, T or self.T, mode=self.bn_mode)

    def readout(self, features: int, classes: int) -> StepWeightedReadout:
        return StepWeightedReadout(self.T, features, classes, learn_steps=self.adaptive == "on")


class ConvBN(nn.Module):
    """Conv (all steps at once) then BatchNorm over time: [T, B, C_in, ...] → currents [T, B, C_out, ...]."""

    def __init__(self, conv: nn.Module, norm: TemporalBatchNorm):
        super().__init__()
        self.conv = TimeFolded(conv)
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


def conv_bn(opts: SpikingOptions, cin: int, cout: int, kernel: int = 3, stride: int = 1, T: int | None = None,
            dims: int = 2) -> ConvBN:
    conv_cls = nn.Conv2d if dims == 2 else nn.Conv1d
    conv = conv_cls(cin, cout, kernel, stride, kernel // 2, bias=False)
    return ConvBN(conv, opts.norm(cout, T))


class HybridStem(nn.Module):
    """Step 0 (analog) through ``analog`` conv+BN, steps 1..T−1 (spikes) through ``spike`` conv+BN.

    Analog and binary inputs never share BN statistics, and ``analog`` gets gradient only from step 0.
    """

    def __init__(self, analog: ConvBN, spike: ConvBN):
        super().__init__()
        self.analog, self.spike = analog, spike

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.analog(frames[:1]), self.spike(frames[1:])])


def make_stem(opts: SpikingOptions, encoder: nn.Module | None, cin: int, cout: int) -> nn.Module:
    """The first conv+BN: a hybrid pair for the hybrid encoder, one conv+BN over all steps otherwise."""
    if isinstance(encoder, HybridEncoder):
        return HybridStem(conv_bn(opts, cin, cout, T=1), conv_bn(opts, cin, cout, T=opts.T - 1))
    return conv_bn(opts, cin, cout)


def make_model_encoder(encoding: str | None, T: int, normalize=None, seed: int | None = 0):
    """The model's encoder (None for inputs that are already time-major, e.g. event data).

    ``normalize=(mean, std)`` applies to the direct code only (temporal/hybrid codes need x in [0, 1]).
    """
    if encoding in (None, "none"):
        return None
    mean, std = normalize if normalize is not None else (None, None)
    return make_encoder(encoding, T, mean=mean, std=std, seed=seed)


class EncodedSNN(nn.Module):
    """Base: owns the encoder and turns any accepted input into frames [T, B, ...]."""

    encoder: nn.Module | None
    T: int

    def build_encoder(self, T: int, encoding: str | None, normalize, seed: int | None, adaptive: bool | str,
                      granularity: str, constrain: str | None, bn_mode: str) -> SpikingOptions:
        """Set the encoder and the step count it fixes; returns the options every spiking layer is built with."""
        self.encoder = make_model_encoder(encoding, T, normalize, seed)
        self.T = self.encoder.steps if self.encoder is not None else int(T)
        return SpikingOptions(self.T, adaptive_mode(adaptive), granularity, constrain, bn_mode)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None and x.dim() in (2, 4):
            x = self.encoder(x)
        if x.dim() < 3 or x.shape[0] != self.T:
            raise ValueError(f"{type(self).__name__} expects a static batch [B, C, H, W] (with an encoder) or "
                             f"frames [T={self.T}, B, ...], got shape {tuple(x.shape)}")
        return x
