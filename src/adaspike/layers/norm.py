"""BatchNorm over time for multi-step tensors [T, B, C, *spatial] (docs/pages/specs/hybrid_asnn.md §4).

Modes (``bn_mode``):
  ``flat``     (default) BN over the flattened T·B batch (tdBN / Spikformer style): statistics shared across
               steps, the same ones in training and eval. Measured on Fashion-MNIST, this is the mode whose
               eval accuracy tracks training accuracy.
  ``shared``   one BN applied at every step: in training each step is normalised with its own
               batch statistics (as calling one BN per step does); ONE set of running statistics, updated
               once per iteration with the statistics pooled over all T·B samples, so eval mode normalises
               with the mixture of steps and does not depend on the order of steps. Training and eval then
               normalise differently, which collapsed eval accuracy in the coding ablation (0.31 test vs
               0.73 train); kept for comparison.
  ``per_step`` T sets of running statistics, each step normalised with its own in training and eval;
               affine weights shared, or per step with ``per_step_affine=True``.
``train_bn_at_eval=True`` reproduces the authors' code, which never called ``eval()``: batch statistics
are used in eval mode too. It is for reproduction only and logs a warning.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger("adaspike")
BN_MODES = ("shared", "per_step", "flat")


def fold_batchnorm_into(layer: nn.Module, bn: nn.Module) -> None:
    """Fold an eval-mode BatchNorm that follows ``layer`` (Linear/Conv) into its weight and bias, in place, in
    float64: W′ = W·γ/√(σ² + ε), b′ = β + γ(b − μ)/√(σ² + ε); ``affine=False`` (γ = 1, β = 0) and a layer
    without a bias (b = 0) included. The one fold of the library (retime and convert use it).

    A BatchNorm built with ``track_running_stats=False`` normalises every batch by its own statistics, so it has
    no fixed affine map to fold: refused with ValueError."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(f"cannot fold {type(bn).__name__}(track_running_stats=False): it normalises each batch by "
                         "that batch's own statistics, so no fixed weight and bias reproduce it. Train it with "
                         "track_running_stats=True (the default) or remove it")
    with torch.no_grad():
        std = torch.sqrt(bn.running_var.to(torch.float64) + bn.eps)
        gamma = bn.weight.to(torch.float64) if bn.weight is not None else torch.ones_like(std)
        shift = bn.bias.to(torch.float64) if bn.bias is not None else torch.zeros_like(std)
        scale = gamma / std
        bias = layer.bias.to(torch.float64) if layer.bias is not None else torch.zeros_like(std)
        shape = (-1,) + (1,) * (layer.weight.dim() - 1)
        layer.weight.copy_((layer.weight.to(torch.float64) * scale.reshape(shape)).to(layer.weight.dtype))
        new_bias = shift + scale * (bias - bn.running_mean.to(torch.float64))
        if layer.bias is None:
            layer.bias = nn.Parameter(new_bias.to(layer.weight.dtype))
        else:
            layer.bias.copy_(new_bias.to(layer.bias.dtype))


class TemporalBatchNorm(nn.Module):
    """y = γ (x − μ)/√(σ² + ε) + β over the channel axis 2 of [T, B, C, *spatial]."""

    def __init__(self, channels: int, T: int | None = None, *, mode: str = "flat", per_step_affine: bool = False,
                 eps: float = 1e-5, momentum: float = 0.1, train_bn_at_eval: bool = False):
        super().__init__()
        if mode not in BN_MODES:
            raise ValueError(f"bn_mode must be one of {BN_MODES}, got {mode!r}")
        if (mode == "per_step" or per_step_affine) and not T:
            raise ValueError(f"bn_mode={mode!r} with per-step statistics or affine weights needs T")
        self.channels, self.T, self.mode = int(channels), T, mode
        self.eps, self.momentum = float(eps), float(momentum)
        self.train_bn_at_eval = bool(train_bn_at_eval)
        if self.train_bn_at_eval:
            log.warning("TemporalBatchNorm: train_bn_at_eval=True uses batch statistics in eval mode "
                        "(reproduces the authors' code; results depend on the test batch)")
        affine_shape = (T, channels) if per_step_affine else (channels,)
        self.weight = nn.Parameter(torch.ones(affine_shape))
        self.bias = nn.Parameter(torch.zeros(affine_shape))
        stats_shape = (T, channels) if mode == "per_step" else (channels,)
        self.register_buffer("running_mean", torch.zeros(stats_shape))
        self.register_buffer("running_var", torch.ones(stats_shape))

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() < 3 or x.shape[2] != self.channels:
            raise ValueError(f"TemporalBatchNorm({self.channels}) expects [T, B, {self.channels}, ...], "
                             f"got shape {tuple(x.shape)}")
        if self.weight.dim() == 2 or self.mode == "per_step":
            if x.shape[0] != self.T:
                raise ValueError(f"TemporalBatchNorm built for T = {self.T} steps, input has T = {x.shape[0]}")

    def _view(self, stat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Broadcast [C] or [T, C] against [T, B, C, *spatial]."""
        tail = (1,) * (x.dim() - 3)
        return stat.reshape(-1, 1, self.channels, *tail) if stat.dim() == 2 else stat.reshape(1, 1, self.channels, *tail)

    def _batch_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Statistics used for normalising (per the mode) and the ones to store (pooled or per step)."""
        spatial = tuple(range(3, x.dim()))
        per_step_dims = (1, *spatial)
        if self.mode == "flat":
            mean = x.mean(dim=(0, *per_step_dims))
            var = x.var(dim=(0, *per_step_dims), unbiased=False)
            return mean, var, mean, var
        mean_t = x.mean(dim=per_step_dims)                       # [T, C]
        var_t = x.var(dim=per_step_dims, unbiased=False)
        if self.mode == "per_step":
            return mean_t, var_t, mean_t, var_t
        pooled_mean = mean_t.mean(0)                              # equal samples per step
        pooled_var = (var_t + (mean_t - pooled_mean) ** 2).mean(0)
        return mean_t, var_t, pooled_mean, pooled_var

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        use_batch = self.training or self.train_bn_at_eval
        if use_batch:
            mean, var, store_mean, store_var = self._batch_stats(x)
            if self.training:
                with torch.no_grad():
                    n = x.numel() // (self.channels * (x.shape[0] if store_mean.dim() == 2 else 1))
                    unbiased = store_var * n / max(1, n - 1)
                    self.running_mean.lerp_(store_mean.detach(), self.momentum)
                    self.running_var.lerp_(unbiased.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        scale = self._view(self.weight, x) * torch.rsqrt(self._view(var, x) + self.eps)
        return (x - self._view(mean, x)) * scale + self._view(self.bias, x)

    def extra_repr(self) -> str:
        return f"{self.channels}, mode={self.mode}, T={self.T}, eps={self.eps:g}, momentum={self.momentum:g}"
