"""Plot helpers for spiking models (Agg backend; save with ``adaspike.report.save_figure``).

Each function takes plain tensors/arrays and returns a matplotlib ``Figure``:

* ``spike_raster(spikes, dt=...)``           — spike times of [T, N] (or [T, B, ...], sample 0) neurons;
* ``firing_rate_histogram({layer: spikes})`` — per-layer distribution of firing rates (Hz when dt is given);
* ``membrane_trace(v, threshold=..., dt=...)`` — membrane potentials [T, k] over time with the threshold;
* ``metric_curve({label: (xs, ys)}, xlabel=...)`` — accuracy vs T, vs ρ, etc. (accuracy axes span at least
  ``ACCURACY_MIN_SPAN``; each series has its own marker and dash so coinciding lines stay visible);
* ``layer_operations(result["layers"])`` — per-layer synaptic operations and energy (``adaspike.metrics``);
* ``series_style(i)`` and ``dodged(values, i, n)`` — for study plots of their own: a distinct marker and dash per
  series, and categorical x positions shifted per series, so that points at one x never hide one another.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

__all__ = ["ACCURACY_MIN_SPAN", "accuracy_limits", "accuracy_vs_ratio", "accuracy_vs_steps", "dodged",
           "firing_rate_histogram", "firing_rates", "layer_operations", "learning_curve", "membrane_trace",
           "metric_curve", "series_style", "spike_raster"]

# an accuracy axis spans at least this much (0.05 = 5 points), so a 0.2-point spread does not look like a cliff
ACCURACY_MIN_SPAN = 0.05
# one (marker, linestyle, marker size) per series: hollow markers shrinking along the cycle and distinct dashes keep
# a line visible when another one lies exactly on top of it (zoh under euler)
_SERIES_STYLES = (("o", "-", 8), ("s", "--", 6.5), ("^", "-.", 5.5), ("D", ":", 4.5), ("v", (0, (5, 1.5)), 4),
                  ("x", (0, (1, 1)), 6), ("P", (0, (3, 1, 1, 1, 1, 1)), 5))


def series_style(index: int) -> dict:
    """Line keywords of series ``index``: its own colour, hollow marker (shrinking along the cycle) and dash."""
    marker, linestyle, size = _SERIES_STYLES[index % len(_SERIES_STYLES)]
    return dict(marker=marker, linestyle=linestyle, markersize=size, markerfacecolor="none", markeredgewidth=1.3,
                lw=1.6, color=f"C{index % 10}")


# series side by side at one category take this much of the gap between neighbouring categories
_DODGE_WIDTH = 0.5


def dodged(values: Sequence, index: int, count: int, categories: Sequence | None = None) -> list[float]:
    """x positions of series ``index`` of ``count`` on a categorical axis: category k at k, each series shifted
    so that series sharing a category sit side by side (``categories``: the axis' sorted values, default
    ``values``'s own). A single category (one T) then spans a readable width instead of a sliver around it."""
    order = list(categories) if categories is not None else sorted(set(values))
    shift = (index - (count - 1) / 2) * _DODGE_WIDTH / max(count, 1)
    return [order.index(v) + shift for v in values]


def accuracy_limits(values, min_span: float = ACCURACY_MIN_SPAN, lower: float = 0.0,
                    upper: float = 1.0) -> tuple[float, float]:
    """y-limits for accuracies in [lower, upper]: the data range with 10 % margin, widened to at least
    ``min_span`` around its centre and kept inside [lower, upper]."""
    v = _array(values).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return lower, upper
    lo, hi = float(v.min()), float(v.max())
    pad = 0.1 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    if hi - lo < min_span:
        centre = (lo + hi) / 2
        lo, hi = centre - min_span / 2, centre + min_span / 2
    if lo < lower:  # shift, not clip, so the span stays at least min_span
        lo, hi = lower, min(upper, hi + (lower - lo))
    if hi > upper:
        lo, hi = max(lower, lo - (hi - upper)), upper
    return lo, hi


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
    for index, (name, (xs, ys)) in enumerate(series.items()):
        ax.plot(list(xs), list(ys), label=name, **series_style(index))
    if logx:
        ax.set_xscale("log", base=2)
    values = [y for _, ys in series.values() for y in ys]
    if "accuracy" in ylabel and values and 0.0 <= min(values) and max(values) <= 1.0:
        ax.set_ylim(*accuracy_limits(values))
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


def layer_operations(layers: Sequence[Mapping], title: str = "synaptic operations per layer"):
    """Per-layer workload from ``adaspike.metrics`` (``result["layers"]``): operations per sample (log scale:
    dense, NeuroBench's effective MACs + ACs, adaspike's burst-aware ACs and MACs) and energy per sample (nJ)."""
    names = [str(layer["layer"]) for layer in layers]
    x = np.arange(len(names))
    series = {"dense": [layer["dense"] for layer in layers],
              "NeuroBench effective": [layer["neurobench_macs"] + layer["neurobench_acs"] for layer in layers],
              "adaspike ACs": [layer["acs"] for layer in layers],
              "adaspike MACs": [layer["macs"] for layer in layers]}
    fig, (ax_ops, ax_energy) = plt.subplots(1, 2, figsize=(9, 3.4))
    width = 0.8 / len(series)
    for index, (label, values) in enumerate(series.items()):
        # a zero count draws no bar (log scale)
        ax_ops.bar(x + (index - (len(series) - 1) / 2) * width, [v if v > 0 else np.nan for v in values], width,
                   label=label)
    ax_ops.set_yscale("log")
    ax_ops.set(ylabel="operations per sample", title=title)
    ax_ops.legend(fontsize=7, loc="upper right")
    ax_energy.bar(x, [layer["energy_pj"] / 1e3 for layer in layers], 0.6, color="tab:red")
    ax_energy.set(ylabel="energy per sample (nJ)", title="energy per layer")
    for ax in (ax_ops, ax_energy):
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=7)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
