"""Synaptic operations in multi-step mode: the stateless op runs once over all T steps (time folded into batch)."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..core.multistep import NeuronState, check_time_major
from .neurons import NeuronLayer


class TimeFolded(nn.Module):
    """Apply a stateless module (Linear, Conv2d, BatchNorm2d, pooling...) to [T, B, ...] as one [T·B, ...] call."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise ValueError(f"{type(self.module).__name__} in multi-step mode expects [T, B, ...], "
                             f"got shape {tuple(x.shape)}")
        T, B = x.shape[:2]
        y = self.module(x.reshape(T * B, *x.shape[2:]))
        return y.reshape(T, B, *y.shape[1:])


class SpikingLayer(nn.Module):
    """A synaptic op applied to all steps at once, then the neuron scan: [T, B, *in] -> spikes [T, B, *out]."""

    def __init__(self, synapse: nn.Module, neuron: NeuronLayer):
        super().__init__()
        self.synapse = synapse if isinstance(synapse, TimeFolded) else TimeFolded(synapse)
        self.neuron = neuron

    def forward(self, x: torch.Tensor, state: NeuronState | None = None, return_state: bool = False):
        return self.neuron(self.synapse(x), state=state, return_state=return_state)


class RecurrentSpikingLayer(nn.Module):
    """Feed-forward drive W·x_t (all steps at once) plus recurrent drive V·s_{t-1} inside the scan."""

    def __init__(self, in_features: int, out_features: int, neuron: NeuronLayer, bias: bool = True,
                 recurrent_init_gain: float = 1.0):
        super().__init__()
        self.synapse = TimeFolded(nn.Linear(in_features, out_features, bias=bias))
        self.recurrent = nn.Parameter(torch.empty(out_features, out_features))
        nn.init.orthogonal_(self.recurrent, gain=recurrent_init_gain)
        self.neuron = neuron

    def forward(self, x: torch.Tensor, state: NeuronState | None = None, return_state: bool = False):
        check_time_major(x, name="recurrent layer input")
        return self.neuron(self.synapse(x), state=state, return_state=return_state, recurrent_weight=self.recurrent)


def spiking_linear(in_features: int, out_features: int, neuron: NeuronLayer, bias: bool = True) -> SpikingLayer:
    return SpikingLayer(nn.Linear(in_features, out_features, bias=bias), neuron)


def spiking_conv2d(in_channels: int, out_channels: int, kernel_size: int, neuron: NeuronLayer, stride: int = 1,
                   padding: int | None = None, bias: bool = True) -> SpikingLayer:
    pad = kernel_size // 2 if padding is None else padding
    return SpikingLayer(nn.Conv2d(in_channels, out_channels, kernel_size, stride, pad, bias=bias), neuron)
