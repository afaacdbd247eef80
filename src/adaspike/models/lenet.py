"""LeNet-style spiking CNN (the authors' demo layout, scaled by ``width``), multi-step.

conv3×3(C→w)+BN → LIF → maxpool2 → conv3×3(w→2w)+BN → LIF → maxpool2 → [conv3×3(2w→4w)+BN → LIF →
maxpool2] → fc(→hidden)+BN → LIF → per-step weighted readout. Max-pooling acts on spikes.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..layers.synapse import TimeFolded
from .blocks import EncodedSNN, conv_bn, make_stem
from .registry import register_model


class SpikingLeNet(EncodedSNN):
    def __init__(self, *, T: int = 4, encoding: str | None = "direct", adaptive: bool | str = False,
                 in_channels: int = 1, num_classes: int = 10, input_size: Sequence[int] = (28, 28),
                 width: int = 16, convs: int = 2, hidden: int = 128, bn_mode: str = "flat",
                 granularity: str = "layer", constrain: str | None = None, normalize=None, seed: int | None = 0):
        super().__init__()
        if convs < 1:
            raise ValueError(f"SpikingLeNet needs convs >= 1, got {convs}")
        opts = self.build_encoder(T, encoding, normalize, seed, adaptive, granularity, constrain, bn_mode)
        height, width_px = input_size
        self.stem = make_stem(opts, self.encoder, in_channels, width)
        layers: list[nn.Module] = [opts.neuron(width), TimeFolded(nn.MaxPool2d(2))]
        cin = width
        for index in range(1, convs):
            cout = width * 2 ** index
            layers += [conv_bn(opts, cin, cout), opts.neuron(cout), TimeFolded(nn.MaxPool2d(2))]
            cin = cout
        self.features = nn.Sequential(*layers)
        flat = cin * (height // 2 ** convs) * (width_px // 2 ** convs)
        self.fc = TimeFolded(nn.Linear(flat, hidden, bias=False))
        self.fc_norm = opts.norm(hidden)
        self.fc_neuron = opts.neuron(hidden)
        self.readout = opts.readout(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(self.stem(self.frames(x)))
        h = self.fc_neuron(self.fc_norm(self.fc(h.flatten(2))))
        return self.readout(h)


@register_model("lenet")
def lenet(**kwargs) -> SpikingLeNet:
    return SpikingLeNet(**kwargs)
