"""Synaptic operations in multi-step mode: the stateless op runs once over all T steps (time folded into batch)."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..core.multistep import NeuronState, check_time_major
from .neurons import NeuronLayer


def expected_input(module: nn.Module) -> tuple[str, int, int] | None:
    """(layout, axis, size) a weight or norm module needs of a [T, B, ...] input, else None (anything goes)."""
    if isinstance(module, nn.Linear):
        return "[T, B, ..., in_features]", -1, module.in_features
    for dims in (1, 2, 3):
        conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1]
        norm = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dims - 1]
        if isinstance(module, conv):
            return f"[T, B, C, {', '.join('LHW'[3 - dims:] if dims < 3 else 'DHW')}]", 2, module.in_channels
        if isinstance(module, norm) and dims > 1:
            return f"[T, B, C, {', '.join('LHW'[3 - dims:] if dims < 3 else 'DHW')}]", 2, module.num_features
    return None


def check_layer_input(x, module: nn.Module, name: str) -> None:
    """One clear error when ``x`` is not [T, B, ...] with the feature size ``module`` reads."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a tensor [T, B, ...], got {type(x).__name__}")
    need = expected_input(module)
    rank = None
    if need is not None and need[1] == 2:  # conv/norm: channels and an exact number of spatial axes
        rank = need[0].count(",") + 1
    if x.dim() < 3 or (rank is not None and x.dim() != rank):
        layout = need[0] if need is not None else "[T, B, ...]"
        raise ValueError(f"{name} expects time-major input {layout}, got shape {tuple(x.shape)}")
    if need is not None and x.shape[need[1]] != need[2]:
        what = "features" if need[1] == -1 else "channels"
        raise ValueError(f"{name} expects {need[2]} input {what} ({need[0]} with that size on axis "
                         f"{need[1] if need[1] >= 0 else x.dim() - 1}), got shape {tuple(x.shape)}")


class TimeFolded(nn.Module):
    """Apply a stateless module (Linear, Conv2d, BatchNorm2d, pooling...) to [T, B, ...] as one [T·B, ...] call."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_layer_input(x, self.module, f"{type(self.module).__name__} (multi-step)")
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
        check_layer_input(x, self.synapse.module, f"{type(self).__name__}({type(self.synapse.module).__name__})")
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
        linear = self.synapse.module
        check_layer_input(x, linear, f"RecurrentSpikingLayer({linear.in_features} → {linear.out_features})")
        return self.neuron(self.synapse(x), state=state, return_state=return_state, recurrent_weight=self.recurrent)


def spiking_linear(in_features: int, out_features: int, neuron: NeuronLayer, bias: bool = True) -> SpikingLayer:
    return SpikingLayer(nn.Linear(in_features, out_features, bias=bias), neuron)


def spiking_conv2d(in_channels: int, out_channels: int, kernel_size: int, neuron: NeuronLayer, stride: int = 1,
                   padding: int | None = None, bias: bool = True) -> SpikingLayer:
    pad = kernel_size // 2 if padding is None else padding
    return SpikingLayer(nn.Conv2d(in_channels, out_channels, kernel_size, stride, pad, bias=bias), neuron)
