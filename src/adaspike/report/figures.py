"""Figures the core run writes: spike raster and learning curve (Agg backend, no display needed)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def raster_figure(spikes: torch.Tensor, title: str = "spikes", dt: float | None = None):
    """Raster of one sample's spikes [T, neurons] (time in ms when ``dt`` is given)."""
    spikes = spikes.detach().reshape(spikes.shape[0], -1).cpu()
    t, n = torch.nonzero(spikes, as_tuple=True)
    scale = dt * 1e3 if dt else 1.0
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.scatter(t.numpy() * scale, n.numpy(), s=2, marker="|", color="black")
    ax.set_xlabel("time (ms)" if dt else "step")
    ax.set_ylabel("neuron")
    ax.set_xlim(0, spikes.shape[0] * scale)
    ax.set_title(title)
    return fig


def learning_curve_figure(history: list[dict]):
    """Loss and accuracy per epoch (train, and validation when present)."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3.2))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_acc.plot(epochs, [h["train_accuracy"] for h in history], "o-", label="train")
    if history and "val_loss" in history[0]:
        ax_loss.plot(epochs, [h["val_loss"] for h in history], "s-", label="test")
        ax_acc.plot(epochs, [h["val_accuracy"] for h in history], "s-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    ax_acc.legend()
    fig.tight_layout()
    return fig
