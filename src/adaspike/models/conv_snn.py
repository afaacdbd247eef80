"""Convolutional SNN for event cameras: binned counts [T, B, 2, H, W] → logits [B, classes].

Built only from the library's continuous-time layers, so ``adaspike.retime``, the metrics and the clock work on
it unchanged:

    [conv3×3 → BatchNorm → neuron → pool2] × len(channels) → flatten → dropout
    → [linear → BatchNorm → neuron] × len(hidden) → linear → leaky integrator → mean over time

Each conv (and hidden linear) block is a :class:`~adaspike.layers.SpikingLayer` whose synapse is
``TimeFolded(Sequential(weight, BatchNorm))``: BatchNorm over the folded T·B batch is ``TemporalBatchNorm``'s
``flat`` mode (statistics shared across steps, the same in training and eval). In eval mode it is affine right
after the weight, so retime folds it into the weight (``fold_batchnorm``) and the 1/ρ count scale stays exact, and
``calibrate_firing`` finds the blocks as ``synapse`` + ``neuron`` layers (it scales the BatchNorm gain). Neurons
(``make_neuron``: ``lif``, ``adlif``, ``cuba``, ...) carry one set of time constants per channel, in seconds.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ..core.multistep import check_time_major
from ..core.units import DEFAULT_BIN_DT
from ..layers import LeakyIntegrator, SpikingLayer, TimeFolded, TimeReduce, make_neuron, reduce_time
from .registry import register_model

__all__ = ["POOLINGS", "ConvSNN", "conv_snn"]

POOLINGS = ("max", "avg")


def _positive_ints(values, name: str) -> list[int]:
    if isinstance(values, (str, bytes)) or any(isinstance(v, bool) or int(v) != v or v < 1 for v in values):
        raise ValueError(f"{name} must be a list of positive integers, got {values!r}")
    return [int(v) for v in values]


def _pool(kind: str) -> nn.Module:
    if kind not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {kind!r}")
    return nn.MaxPool2d(2) if kind == "max" else nn.AvgPool2d(2)


class ConvSNN(nn.Module):
    """A convolutional spiking network over event frames; see the module docstring for the layout.

    Args:
        input_shape: per-step input ``(channels, height, width)``, e.g. ``(2, 34, 34)`` for N-MNIST.
        classes: number of classes.
        channels: output channels of each conv block (each is followed by 2×2 ``pooling``, max or avg).
        hidden: widths of spiking fully connected layers between the conv stack and the readout.
        kernel: conv kernel size (odd; padded to keep the size).
        neuron: a registered neuron name (``adaspike.layers.make_neuron``).
        dt: the time step in seconds the neurons are built for.
        readout_tau: time constant (s) of the leaky-integrator readout.
        dropout: dropout on the spikes entering each fully connected layer.
        neuron_options: extra keyword arguments of every neuron layer (e.g. ``{"tau": 0.05}``).
    """

    def __init__(self, input_shape: Sequence[int], classes: int, *, channels: Sequence[int] = (16, 32),
                 hidden: Sequence[int] = (), kernel: int = 3, pooling: str = "max", neuron: str = "lif",
                 dt: float = DEFAULT_BIN_DT, readout_tau: float = 20e-3, dropout: float = 0.0,
                 neuron_options: dict | None = None):
        super().__init__()
        input_shape = _positive_ints(input_shape, "input_shape")
        if len(input_shape) != 3:
            raise ValueError(f"ConvSNN needs a per-step input shape (channels, height, width), got {input_shape}; "
                             "flat features (audio channels) go to the 'snn' model")
        channels, hidden = _positive_ints(channels, "channels"), _positive_ints(hidden, "hidden")
        if not channels:
            raise ValueError("ConvSNN needs at least one conv block (channels)")
        if isinstance(classes, bool) or int(classes) != classes or classes < 1:
            raise ValueError(f"classes must be a positive integer, got {classes!r}")
        if isinstance(kernel, bool) or int(kernel) != kernel or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be an odd positive integer, got {kernel!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        c_in, height, width = input_shape
        if min(height, width) < 2 ** len(channels):
            raise ValueError(f"{len(channels)} conv blocks halve a {height}x{width} input below one pixel; "
                             "use fewer channels entries or less pooling of the data")
        self.input_kind = "counts"  # binned event counts: retime rescales their drive
        self.input_shape = tuple(input_shape)
        options = dict(neuron_options or {})
        blocks: list[nn.Module] = []
        for c_out in channels:
            conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)
            synapse = TimeFolded(nn.Sequential(conv, nn.BatchNorm2d(c_out)))
            blocks += [SpikingLayer(synapse, make_neuron(neuron, (c_out, 1, 1), dt=dt, **options)),
                       TimeFolded(_pool(pooling))]
            c_in, height, width = c_out, height // 2, width // 2
        self.features = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        size, fully_connected = c_in * height * width, []
        for width_fc in hidden:
            synapse = TimeFolded(nn.Sequential(nn.Linear(size, width_fc, bias=False), nn.BatchNorm1d(width_fc)))
            fully_connected.append(SpikingLayer(synapse, make_neuron(neuron, width_fc, dt=dt, **options)))
            size = width_fc
        self.hidden = nn.ModuleList(fully_connected)
        self.head = TimeFolded(nn.Linear(size, int(classes)))
        with torch.no_grad():  # spike-count inputs: start the readout drive small and centred
            nn.init.normal_(self.head.module.weight, 0.0, 1.0 / math.sqrt(size))
            self.head.module.bias.zero_()
        self.readout = LeakyIntegrator(int(classes), tau=readout_tau, dt=dt)

    def nir_modules(self) -> list[tuple[str, nn.Module]]:
        """The modules in data-flow order, for NIR export (``adaspike.interop``). NIR has no BatchNorm and no max
        pooling: fold BatchNorm into the weights first (``adaspike.retime.fold_batchnorm`` on an eval-mode copy)
        and train with ``pooling="avg"``."""
        return [("features", self.features), ("flatten", TimeFolded(nn.Flatten())),
                *((f"hidden.{i}", layer) for i, layer in enumerate(self.hidden)), ("head", self.head),
                ("readout", self.readout), ("reduce", TimeReduce("mean"))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_time_major(x, name="ConvSNN input", check_finite=False)
        if tuple(x.shape[2:]) != self.input_shape:
            raise ValueError(f"ConvSNN expects frames [T, B, {', '.join(map(str, self.input_shape))}], got shape "
                             f"{tuple(x.shape)}; was the data binned or pooled differently from training?")
        h = self.features(x).flatten(2)
        for layer in self.hidden:
            h = layer(self.dropout(h))
        trace = self.readout(self.head(self.dropout(h)))
        return reduce_time(trace, "mean")


@register_model("conv-snn")
def conv_snn(input_shape: Sequence[int], classes: int, **kwargs) -> ConvSNN:
    """Builder for checkpoints: ``input_shape`` is the per-step frame shape, e.g. [2, 34, 34]."""
    return ConvSNN(list(input_shape), classes, **kwargs)
