"""Spiking ResNet (spike-element residual after BN, before the neuron) and SEW-ResNet (ADD of spikes), multi-step.

Spiking ResNet block:  o = LIF( BN(conv(LIF(BN(conv(x))))) + shortcut(x) )
SEW block (Fang et al. 2021, ADD):  o = LIF(BN(conv(LIF(BN(conv(x)))))) + shortcut(x)
with a conv1x1+BN (+LIF for SEW) shortcut where the shape changes.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import EncodedSNN, SpikingOptions, conv_bn, make_stem
from .registry import register_model


class SpikingBasicBlock(nn.Module):
    def __init__(self, opts: SpikingOptions, cin: int, cout: int, stride: int, sew: bool):
        super().__init__()
        self.sew = sew
        self.conv1 = conv_bn(opts, cin, cout, 3, stride)
        self.neuron1 = opts.neuron(cout)
        self.conv2 = conv_bn(opts, cout, cout, 3, 1)
        self.neuron2 = opts.neuron(cout)
        self.shortcut = conv_bn(opts, cin, cout, 1, stride) if (stride != 1 or cin != cout) else None
        self.shortcut_neuron = opts.neuron(cout) if (sew and self.shortcut is not None) else None

    def _identity(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut is None:
            return x
        y = self.shortcut(x)
        return self.shortcut_neuron(y) if self.shortcut_neuron is not None else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(self.neuron1(self.conv1(x)))
        if self.sew:
            return self.neuron2(h) + self._identity(x)
        return self.neuron2(h + self._identity(x))


class SpikingResNet(EncodedSNN):
    """Encoder → stem conv3×3 + BN + LIF → ``stages`` stages of ``depth`` basic blocks (width·2^i channels,
    stride 2 from the second stage) → global average pool → per-step weighted readout."""

    def __init__(self, *, T: int = 4, encoding: str | None = "direct", adaptive: bool | str = False,
                 in_channels: int = 1, num_classes: int = 10, width: int = 16, depth: int = 1, stages: int = 3,
                 sew: bool = False, bn_mode: str = "flat", granularity: str = "layer",
                 constrain: str | None = None, normalize=None, seed: int | None = 0):
        super().__init__()
        if depth < 1 or stages < 1 or width < 1:
            raise ValueError(f"SpikingResNet needs depth, stages, width >= 1, got {depth}, {stages}, {width}")
        opts = self.build_encoder(T, encoding, normalize, seed, adaptive, granularity, constrain, bn_mode)
        self.stem = make_stem(opts, self.encoder, in_channels, width)
        self.stem_neuron = opts.neuron(width)
        blocks, cin = [], width
        for stage in range(stages):
            cout = width * 2 ** stage
            for index in range(depth):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(SpikingBasicBlock(opts, cin, cout, stride, sew))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.readout = opts.readout(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem_neuron(self.stem(self.frames(x))))
        return self.readout(h.mean(dim=(-2, -1)))


@register_model("spiking-resnet")
def spiking_resnet(**kwargs) -> SpikingResNet:
    """Spiking ResNet; ``sew=True`` gives SEW-ResNet (ADD)."""
    return SpikingResNet(**kwargs)


@register_model("sew-resnet")
def sew_resnet(**kwargs) -> SpikingResNet:
    kwargs.setdefault("sew", True)
    return SpikingResNet(**kwargs)
