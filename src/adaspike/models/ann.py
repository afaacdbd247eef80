"""Source ANNs for conversion: plain ReLU + BatchNorm CNNs (no clipping, no quantisation-aware training).

Both take a static image batch [B, C, H, W] and return logits [B, classes]; ``adaspike.convert`` traces them
with ``torch.fx``. Pooling is average pooling by default because it is exact in rate after conversion;
``pool="max"`` is accepted (conversion then warns: max-pooling spike maps is an approximation).
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

from .registry import build_model, register_model


def _pool(kind: str) -> nn.Module:
    if kind == "avg":
        return nn.AvgPool2d(2)
    if kind == "max":
        return nn.MaxPool2d(2)
    raise ValueError(f"pool must be 'avg' or 'max', got {kind!r}")


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class VGGANN(nn.Module):
    """VGG-style CNN: 3×3 conv + BN + ReLU stacks separated by 2×2 pooling ('M' in ``widths``), then an MLP."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 widths: Sequence[int | str] = (32, 32, "M", 64, 64, "M"), hidden: int = 256,
                 dropout: float = 0.2, pool: str = "avg"):
        super().__init__()
        layers: list[nn.Module] = []
        c, size = in_channels, image_size
        for w in widths:
            if w == "M":
                layers.append(_pool(pool))
                size //= 2
            else:
                layers.append(conv_bn_relu(c, int(w)))
                c = int(w)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c * size * size, hidden), nn.BatchNorm1d(hidden),
                                        nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """ResNet basic block: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)); shortcut = 1×1 conv + BN when shapes change."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResNetANN(nn.Module):
    """Small ResNet: conv stem, one stage of basic blocks per width (stride 2 after the first), global average pool."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: Sequence[int] = (16, 32, 64),
                 blocks_per_stage: int = 1):
        super().__init__()
        self.stem = conv_bn_relu(in_channels, widths[0])
        stages, c = [], widths[0]
        for i, w in enumerate(widths):
            for j in range(blocks_per_stage):
                stages.append(BasicBlock(c, w, stride=2 if (i > 0 and j == 0) else 1))
                c = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.stages(self.stem(x)))))


@register_model("vgg-ann")
def vgg_ann(in_channels: int = 1, num_classes: int = 10, image_size: int = 28, widths=(32, 32, "M", 64, 64, "M"),
            hidden: int = 256, dropout: float = 0.2, pool: str = "avg") -> VGGANN:
    return VGGANN(in_channels, num_classes, image_size, tuple(widths), hidden, dropout, pool)


@register_model("resnet-ann")
def resnet_ann(in_channels: int = 1, num_classes: int = 10, widths=(16, 32, 64), blocks_per_stage: int = 1) -> ResNetANN:
    return ResNetANN(in_channels, num_classes, tuple(widths), blocks_per_stage)


ARCHS = {"vgg": "vgg-ann", "resnet": "resnet-ann"}


def build_ann(arch: str, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, **kwargs) -> nn.Module:
    """Build a source ANN by short name ('vgg' | 'resnet') or registered name, through the model registry."""
    name = ARCHS.get(arch, arch)
    if name not in ARCHS.values():
        raise ValueError(f"unknown ANN architecture {arch!r}; choose from {sorted(ARCHS)}")
    if name == "vgg-ann":
        kwargs.setdefault("image_size", image_size)
    return build_model(name, in_channels=in_channels, num_classes=num_classes, **kwargs)
