"""Plot helpers for spiking models (Agg backend; save with ``adaspike.report.save_figure``).

Each function takes plain tensors/arrays and returns a matplotlib ``Figure``:

* ``spike_raster(spikes, dt=...)``           — spike times of [T, N] (or [T, B, ...], sample 0) neurons;
* ``firing_rate_histogram({layer: spikes})`` — per-layer distribution of firing rates (Hz when dt is given);
* ``membrane_trace(v, threshold=..., dt=...)`` — membrane potentials [T, k] over time with the threshold;
* ``metric_curve({label: (xs, ys)}, xlabel=...)`` — accuracy vs T, vs ρ, etc.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def _array(x) -> np.ndarray:
    return x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)


def _time_by_neuron(spikes) -> np.ndarray:
    """[T, N] from [T, N] or [T, B, *F] (first sample, features flattened)."""
    s = _array(spikes)
    if s.ndim < 2:
        raise ValueError(f"spikes must be [T, N] or [T, B, ...], got shape {s.shape}")
    return s if s.ndim == 2 else s[:, 0].reshape(s.shape[0], -1)


def _time_axis(steps: int, dt: float | None) -> tuple[np.ndarray, str]:
    if dt is None:
        return np.arange(steps), "time step"
    return np.arange(steps) * dt * 1e3, "time (ms)"


def spike_raster(spikes, dt: float | None = None, title: str = "spike raster", max_neurons: int = 200):
    """Dots at (time, neuron) for every spike; burst counts > 1 drawn larger."""
    s = _time_by_neuron(spikes)[:, :max_neurons]
    t_axis, xlabel = _time_axis(s.shape[0], dt)
    steps, neurons = np.nonzero(s)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.scatter(t_axis[steps], neurons, s=4 * np.clip(s[steps, neurons], 1, 4), marker="|", color="k")
    ax.set(xlabel=xlabel, ylabel="neuron", title=title, xlim=(t_axis[0], t_axis[-1] if len(t_axis) > 1 else 1),
           ylim=(-0.5, s.shape[1] - 0.5))
    fig.tight_layout()
    return fig


def firing_rates(spikes, dt: float | None = None) -> np.ndarray:
    """Per-neuron mean spikes per step (or per second when ``dt`` is given) of [T, B, *F]."""
    s = _array(spikes)
    rates = s.reshape(s.shape[0], s.shape[1], -1).mean(axis=(0, 1)) if s.ndim >= 3 else s.mean(axis=0)
    return rates / dt if dt else rates


def firing_rate_histogram(layers: Mapping[str, object], dt: float | None = None, bins: int = 30,
                          title: str = "firing rates per layer"):
    """One overlaid histogram of per-neuron firing rates for each layer's spikes [T, B, *F]."""
    if not layers:
        raise ValueError("firing_rate_histogram needs at least one layer")
    rates = {name: firing_rates(s, dt) for name, s in layers.items()}
    top = max(float(r.max()) for r in rates.values()) or 1.0
    edges = np.linspace(0, top, bins + 1)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, r in rates.items():
        ax.hist(r, bins=edges, alpha=0.55, label=f"{name} (mean {r.mean():.3g})")
    ax.set(xlabel="firing rate (Hz)" if dt else "spikes per step", ylabel="neurons", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def membrane_trace(v, threshold: float | None = None, spikes=None, dt: float | None = None,
                   title: str = "membrane potential", labels: Sequence[str] | None = None):
    """Membrane traces [T] or [T, k]; a dashed threshold line and spike ticks when given."""
    v = _array(v)
    v = v[:, None] if v.ndim == 1 else v.reshape(v.shape[0], -1)
    t_axis, xlabel = _time_axis(v.shape[0], dt)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for k in range(v.shape[1]):
        ax.plot(t_axis, v[:, k], lw=1.2, label=labels[k] if labels else None)
    if threshold is not None:
        ax.axhline(threshold, ls="--", color="grey", lw=1, label="threshold")
    if spikes is not None:
        s = _array(spikes).reshape(v.shape[0], -1)
        for k in range(min(s.shape[1], v.shape[1])):
            ax.plot(t_axis[s[:, k] > 0], np.full(int((s[:, k] > 0).sum()), float(v.max()) * 1.05), "|",
                    color=f"C{k}", ms=8)
    ax.set(xlabel=xlabel, ylabel="v", title=title)
    if labels or threshold is not None:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def metric_curve(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], xlabel: str,
                 ylabel: str = "accuracy", title: str | None = None, logx: bool = False):
    """Line plot of one or more (xs, ys) series, e.g. accuracy vs T or vs ρ."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o", label=name)
    if logx:
        ax.set_xscale("log", base=2)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or f"{ylabel} vs {xlabel}")
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_vs_steps(steps: Sequence[int], accuracy: Sequence[float], label: str = "accuracy"):
    return metric_curve({label: (steps, accuracy)}, xlabel="time steps T")


def accuracy_vs_ratio(ratios: Sequence[float], accuracy: Mapping[str, Sequence[float]]):
    """Accuracy vs ρ = Δ_T/Δ_S, one line per retime method."""
    return metric_curve({m: (ratios, a) for m, a in accuracy.items()}, xlabel="ρ = Δ_T / Δ_S", logx=True)


def learning_curve(history: list[dict], selected_epoch: int | None = None):
    """Loss and accuracy per epoch: training, and validation when present (with the selected epoch marked)."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3.2))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", ms=3, label="train")
    ax_acc.plot(epochs, [h["train_accuracy"] for h in history], "o-", ms=3, label="train")
    if history and "val_loss" in history[0]:
        ax_loss.plot(epochs, [h["val_loss"] for h in history], "s-", ms=3, label="validation")
        ax_acc.plot(epochs, [h["val_accuracy"] for h in history], "s-", ms=3, label="validation")
    if selected_epoch is not None:
        for ax in (ax_loss, ax_acc):
            ax.axvline(selected_epoch, color="grey", ls=":", lw=1, label=f"selected (epoch {selected_epoch})")
    ax_loss.set(xlabel="epoch", ylabel="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    ax_acc.legend(fontsize=8)
    fig.tight_layout()
    return fig
