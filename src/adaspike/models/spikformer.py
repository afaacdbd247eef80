"""A small Spikformer (Zhou et al. 2023), multi-step, channels-first tokens [T, B, D, N].

Patch embedding (SPS): conv3×3 stages with BN + LIF and max-pooling (×4 downsampling), plus a relative
position conv; then ``blocks`` encoder blocks of
  spiking self-attention:  Q, K, V = LIF(BN(W x));  A = Q (Kᵀ V)·scale  (no softmax: spikes are ≥ 0);
                           y = LIF(BN(W_o · LIF_{θ=0.5}(A)))
  spiking MLP:             y = LIF(BN(W_2 · LIF(BN(W_1 x))))
with residual additions, then the token mean and a per-step weighted readout.
"""
from __future__ import annotations

import torch
from torch import nn

from ..layers.synapse import TimeFolded
from .blocks import EncodedSNN, SpikingOptions, conv_bn, make_stem
from .registry import register_model


class SpikingSelfAttention(nn.Module):
    def __init__(self, opts: SpikingOptions, dim: int, heads: int, scale: float = 0.125):
        super().__init__()
        if dim % heads:
            raise ValueError(f"Spikformer dim {dim} is not divisible by heads {heads}")
        self.heads, self.scale = heads, scale
        self.q, self.k, self.v = (conv_bn(opts, dim, dim, 1, dims=1) for _ in range(3))
        self.q_neuron, self.k_neuron, self.v_neuron = (opts.neuron(dim) for _ in range(3))
        self.attn_neuron = opts.neuron(dim, threshold=0.5)
        self.proj = conv_bn(opts, dim, dim, 1, dims=1)
        self.proj_neuron = opts.neuron(dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        T, B, D, N = x.shape
        return x.reshape(T, B, self.heads, D // self.heads, N).transpose(-1, -2)  # [T, B, h, N, d]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self._split(self.q_neuron(self.q(x)))
        k = self._split(self.k_neuron(self.k(x)))
        v = self._split(self.v_neuron(self.v(x)))
        attended = q @ (k.transpose(-1, -2) @ v) * self.scale     # linear in N: Q (Kᵀ V)
        T, B, h, N, d = attended.shape
        attended = attended.transpose(-1, -2).reshape(T, B, h * d, N)
        return self.proj_neuron(self.proj(self.attn_neuron(attended)))


class SpikingMLPBlock(nn.Module):
    def __init__(self, opts: SpikingOptions, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.neuron1 = conv_bn(opts, dim, hidden, 1, dims=1), opts.neuron(hidden)
        self.fc2, self.neuron2 = conv_bn(opts, hidden, dim, 1, dims=1), opts.neuron(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neuron2(self.fc2(self.neuron1(self.fc1(x))))


class SpikformerBlock(nn.Module):
    def __init__(self, opts: SpikingOptions, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.attention = SpikingSelfAttention(opts, dim, heads)
        self.mlp = SpikingMLPBlock(opts, dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(x)
        return x + self.mlp(x)


class SpikingPatchEmbedding(nn.Module):
    """SPS: conv stages (dim/2 then dim channels), each followed by max-pool 2, plus a position conv."""

    def __init__(self, opts: SpikingOptions, stem: nn.Module, dim: int):
        super().__init__()
        self.stem, self.stem_neuron = stem, opts.neuron(dim // 2)
        self.pool = TimeFolded(nn.MaxPool2d(2))
        self.conv, self.neuron = conv_bn(opts, dim // 2, dim), opts.neuron(dim)
        self.position, self.position_neuron = conv_bn(opts, dim, dim), opts.neuron(dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.stem_neuron(self.stem(frames)))
        h = self.pool(self.neuron(self.conv(h)))
        h = h + self.position_neuron(self.position(h))
        return h.flatten(3)                                           # tokens [T, B, D, N]


class Spikformer(EncodedSNN):
    def __init__(self, *, T: int = 4, encoding: str | None = "direct", adaptive: bool | str = False,
                 in_channels: int = 1, num_classes: int = 10, dim: int = 64, blocks: int = 1, heads: int = 4,
                 mlp_ratio: float = 2.0, bn_mode: str = "flat", granularity: str = "layer",
                 constrain: str | None = None, normalize=None, seed: int | None = 0):
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"Spikformer dim must be an even number >= 2, got {dim}")
        opts = self.build_encoder(T, encoding, normalize, seed, adaptive, granularity, constrain, bn_mode)
        self.embed = SpikingPatchEmbedding(opts, make_stem(opts, self.encoder, in_channels, dim // 2), dim)
        self.blocks = nn.Sequential(*(SpikformerBlock(opts, dim, heads, mlp_ratio) for _ in range(blocks)))
        self.readout = opts.readout(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.blocks(self.embed(self.frames(x)))
        return self.readout(tokens.mean(-1))


@register_model("spikformer")
def spikformer(**kwargs) -> Spikformer:
    return Spikformer(**kwargs)
