"""Coding tutorial: turn a static image into spikes with rate, latency and temporal codes."""
import torch
from sklearn.datasets import load_digits

from _common import FIGURES
from adaspike.encoding import make_encoder
from adaspike.report import save_figure
from adaspike.report.plots import spike_raster

digits = load_digits()
image = torch.tensor(digits.images[:1] / 16.0, dtype=torch.float32)[:, None]  # [B=1, C=1, 8, 8] in [0, 1]
steps = 16
for name in ("rate", "latency", "temporal"):
    spikes = make_encoder(name, steps)(image)  # [T, B, C, H, W]
    assert spikes.shape[0] == steps, f"{name}: {spikes.shape}"
    print(f"{name:9s} spikes per pixel: {float(spikes.sum(0).mean()):.2f}")
    save_figure(spike_raster(spikes, title=f"{name} code of one digit (64 pixels)"), FIGURES / f"coding_{name}.png")
