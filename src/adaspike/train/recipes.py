"""Training recipe pieces for static images: mixup before encoding, image augmentation, label smoothing,
cosine schedule with warm-up. Each is a ``batch_transform(x, y) -> (x, y)`` or a plain function, so the
Trainer composes them: ``Trainer(..., batch_transform=compose(ImageAugment(), Mixup(10)))``.

Mixup acts on the static images [B, C, H, W] *before* the model's encoder, so temporal and hybrid codes
see a mixed image, not a mix of two spike trains (docs/pages/specs/hybrid_asnn.md §3).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

BatchTransform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def smooth_targets(y: torch.Tensor, classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """Class indices (or soft targets [B, K]) → probabilities with ``smoothing`` spread uniformly."""
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"label smoothing must be in [0, 1), got {smoothing}")
    probs = y.float() if y.dim() == 2 else F.one_hot(y.long(), classes).float()
    return probs * (1.0 - smoothing) + smoothing / classes


class Mixup:
    """x̃ = λ x + (1 − λ) x[perm], ỹ = λ y + (1 − λ) y[perm] with one λ per batch.

    ``alpha=None`` draws λ ~ U(0, 1) (the authors' code); otherwise λ ~ Beta(α, α). ``stop_epoch`` switches
    mixup off from that epoch (call ``set_epoch``). Returns soft targets [B, K], which
    ``nn.CrossEntropyLoss`` accepts (with label smoothing too).
    """

    def __init__(self, classes: int, alpha: float | None = None, prob: float = 1.0, stop_epoch: int | None = None,
                 seed: int | None = None):
        if classes < 2:
            raise ValueError(f"Mixup needs at least 2 classes, got {classes}")
        self.classes, self.alpha, self.prob, self.stop_epoch = int(classes), alpha, float(prob), stop_epoch
        self.epoch = 0
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _lam(self) -> float:
        if self.alpha is None:
            return float(torch.rand((), generator=self.generator))
        beta = torch.distributions.Beta(self.alpha, self.alpha)
        return float(beta.sample())

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        targets = smooth_targets(y, self.classes)
        active = self.stop_epoch is None or self.epoch < self.stop_epoch
        if not active or float(torch.rand((), generator=self.generator)) >= self.prob:
            return x, targets
        lam = self._lam()
        perm = torch.randperm(x.shape[0], generator=self.generator).to(x.device)
        mixed = lam * x.float() + (1.0 - lam) * x[perm].float()
        return mixed, lam * targets + (1.0 - lam) * targets[perm]


class ImageAugment:
    """Random horizontal flip, rotation in [rot_min, rot_max] degrees and random crop with zero padding,
    one draw per image, on a static batch [B, C, H, W] (the demo's CIFAR recipe; rotation is one-sided there).
    """

    def __init__(self, hflip: bool = True, rotation: tuple[float, float] = (0.0, 0.0), crop_padding: int = 0,
                 seed: int | None = None):
        self.hflip, self.rotation, self.padding = bool(hflip), tuple(map(float, rotation)), int(crop_padding)
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 4:
            raise ValueError(f"ImageAugment expects a static batch [B, C, H, W], got shape {tuple(x.shape)}")
        B, _, H, W = x.shape
        x = x.float()
        if self.hflip:
            flip = torch.rand(B, generator=self.generator) < 0.5
            x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)
        if self.rotation != (0.0, 0.0) or self.padding:
            low, high = self.rotation
            angle = (low + (high - low) * torch.rand(B, generator=self.generator)) * math.pi / 180
            shift = torch.randint(-self.padding, self.padding + 1, (B, 2), generator=self.generator).float()
            cos, sin = torch.cos(angle), torch.sin(angle)
            theta = torch.stack([torch.stack([cos, -sin, 2 * shift[:, 0] / W], 1),
                                 torch.stack([sin, cos, 2 * shift[:, 1] / H], 1)], 1).to(x)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)
        return x, y


class EventAugment:
    """Augmentation of binned event counts [T, B, *F] (speech-style SpecAugment and event-camera noise).

    Per sample: ``time_masks`` spans of up to ``max_time_fraction``·T steps and, for flat features (audio
    channels), ``feature_masks`` bands of up to ``max_feature_fraction``·F channels are zeroed; each count is
    thinned binomially with keep-probability 1 − ``drop`` (event drop). Camera frames [T, B, C, H, W] are also
    shifted by up to ``max_shift`` pixels in x and y (zero fill), get ``area_drops`` rectangles of up to
    ``max_area_fraction`` of each side zeroed over the whole recording (EventDrop's drop-by-area), and are
    mirrored left-right with probability ``hflip`` (only where that keeps the label: not for digits). Any
    input is shifted in time by up to ``max_time_shift`` steps, either way (zero fill), which jitters every
    event of a sample by the same amount. Draws come from the global torch RNG, whose state the Trainer
    checkpoints, so a resumed run sees the same augmentations.
    """

    def __init__(self, time_masks: int = 1, max_time_fraction: float = 0.1, feature_masks: int = 1,
                 max_feature_fraction: float = 0.1, drop: float = 0.0, max_shift: int = 0, max_time_shift: int = 0,
                 area_drops: int = 0, max_area_fraction: float = 0.3, hflip: float = 0.0):
        for name, value in (("max_time_fraction", max_time_fraction), ("max_feature_fraction",
                                                                       max_feature_fraction), ("drop", drop),
                            ("max_area_fraction", max_area_fraction)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {value}")
        if not 0.0 <= hflip <= 1.0:
            raise ValueError(f"hflip is a probability in [0, 1], got {hflip}")
        for name, value in (("max_shift", max_shift), ("max_time_shift", max_time_shift),
                            ("area_drops", area_drops), ("time_masks", time_masks), ("feature_masks", feature_masks)):
            if isinstance(value, bool) or int(value) != value or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        self.time_masks, self.feature_masks = int(time_masks), int(feature_masks)
        self.max_time_fraction, self.max_feature_fraction = float(max_time_fraction), float(max_feature_fraction)
        self.drop = float(drop)
        self.max_shift, self.max_time_shift = int(max_shift), int(max_time_shift)
        self.area_drops, self.max_area_fraction = int(area_drops), float(max_area_fraction)
        self.hflip = float(hflip)

    def __repr__(self) -> str:
        text = (f"EventAugment(time_masks={self.time_masks}, max_time_fraction={self.max_time_fraction}, "
                f"feature_masks={self.feature_masks}, max_feature_fraction={self.max_feature_fraction}, "
                f"drop={self.drop}, max_shift={self.max_shift}")
        # the newer options only when used, so runs written before them keep their description (resume checks it)
        extra = {"max_time_shift": (self.max_time_shift, 0), "area_drops": (self.area_drops, 0),
                 "max_area_fraction": (self.max_area_fraction, 0.3), "hflip": (self.hflip, 0.0)}
        return text + "".join(f", {k}={v}" for k, (v, default) in extra.items() if v != default) + ")"

    def _shift(self, x: torch.Tensor) -> torch.Tensor:
        """Each sample of [T, B, C, H, W] moved by its own (dy, dx) ∈ [−s, s]², zero-filled."""
        s = self.max_shift
        H, W = x.shape[-2:]
        padded = torch.nn.functional.pad(x, (s, s, s, s))
        offsets = torch.randint(0, 2 * s + 1, (x.shape[1], 2))
        return torch.stack([padded[:, b, ..., int(dy):int(dy) + H, int(dx):int(dx) + W]
                            for b, (dy, dx) in enumerate(offsets.tolist())], dim=1)

    def _time_shift(self, x: torch.Tensor) -> torch.Tensor:
        """Each sample of [T, B, ...] moved by its own k ∈ [−s, s] steps, zero-filled (T unchanged)."""
        s, T = self.max_time_shift, x.shape[0]
        padded = torch.nn.functional.pad(x.movedim(0, -1), (s, s)).movedim(-1, 0)
        offsets = torch.randint(0, 2 * s + 1, (x.shape[1],))
        return torch.stack([padded[int(k):int(k) + T, b] for b, k in enumerate(offsets.tolist())], dim=1)

    def _area_keep(self, x: torch.Tensor) -> torch.Tensor:
        """Keep-mask [B, 1, H, W] with ``area_drops`` random rectangles (up to the fraction of each side) zeroed."""
        B, (H, W) = x.shape[1], x.shape[-2:]
        keep = torch.ones(B, 1, H, W, dtype=torch.bool)
        rows, cols = torch.arange(H)[:, None], torch.arange(W)[None, :]
        for _ in range(self.area_drops):
            h = torch.randint(0, int(self.max_area_fraction * H) + 1, (B,))
            w = torch.randint(0, int(self.max_area_fraction * W) + 1, (B,))
            top = (torch.rand(B) * (H - h + 1)).long()
            left = (torch.rand(B) * (W - w + 1)).long()
            inside = ((rows >= top[:, None, None]) & (rows < (top + h)[:, None, None])
                      & (cols >= left[:, None, None]) & (cols < (left + w)[:, None, None]))
            keep &= ~inside[:, None]
        return keep

    @staticmethod
    def _bands(length: int, batch: int, masks: int, fraction: float) -> torch.Tensor:
        """Boolean keep-mask [batch, length] with ``masks`` random zero bands of width < fraction·length."""
        keep = torch.ones(batch, length, dtype=torch.bool)
        width_max = int(fraction * length)
        if masks < 1 or width_max < 1:
            return keep
        pos = torch.arange(length)
        for _ in range(masks):
            width = torch.randint(0, width_max + 1, (batch, 1))
            start = (torch.rand(batch, 1) * (length - width + 1)).long()
            keep &= ~((pos >= start) & (pos < start + width))
        return keep

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() < 3:
            raise ValueError(f"EventAugment expects time-major counts [T, B, *F], got shape {tuple(x.shape)}")
        T, B = x.shape[:2]
        x = x.float()
        keep_t = self._bands(T, B, self.time_masks, self.max_time_fraction).t().to(x.device)  # [T, B]
        x = x * keep_t.reshape(T, B, *([1] * (x.dim() - 2)))
        if x.dim() == 3:
            keep_f = self._bands(x.shape[2], B, self.feature_masks, self.max_feature_fraction).to(x.device)
            x = x * keep_f[None]
        if self.max_time_shift:
            x = self._time_shift(x)
        if x.dim() == 5:
            if self.hflip:
                flip = (torch.rand(B) < self.hflip).to(x.device)
                x = torch.where(flip[None, :, None, None, None], x.flip(-1), x)
            if self.max_shift:
                x = self._shift(x)
            if self.area_drops:
                x = x * self._area_keep(x).to(x.device)[None]
        if self.drop > 0:
            x = torch.binomial(x, torch.full_like(x, 1.0 - self.drop))
        return x, y


def compose(*transforms: BatchTransform) -> BatchTransform:
    """Apply batch transforms left to right (augment first, then mixup)."""
    def apply(x, y):
        for transform in transforms:
            x, y = transform(x, y)
        return x, y
    return apply


def cosine_warmup_factor(step: int, total_steps: int, warmup_steps: int = 0, min_ratio: float = 0.0) -> float:
    """LR multiplier: linear warm-up to 1 over ``warmup_steps``, then cosine to ``min_ratio`` at ``total_steps``."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
