"""The event-camera study's tables and figures, from its result rows (one dict per model × seed run).

Accuracies are fractions in the rows (the conversion rows' are already percentages, as ``convert`` writes them)
and percentages in the rendered text.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .io import save_figure
from .numbers import mean_sd, percent

__all__ = ["LABELS", "PUBLISHED_NMNIST", "WORKLOAD_KEYS", "conversion_table", "curve_table", "draw_raster",
           "gap_table", "plot_learning_curve", "power_law_fit", "results_table", "seeds_text"]


PUBLISHED_NMNIST = (60_000, 0.99)  # spiking CNNs on the full N-MNIST split: about 98-99.5 % (data README)


def _mean_of(rows: list[dict], key: str, fmt: str = "{:.0f}") -> str:
    values = [r[key] for r in rows if r.get(key) is not None]
    return fmt.format(sum(values) / len(values)) if values else "-"


LABELS = {"conv-snn": "conv SNN (`adaspike train` defaults)", "snn": "MLP/RNN SNN (`--model snn`)",
          "logistic": "logistic regression on event counts", "conv-ann": "conv ANN on event frames"}


def results_table(rows: list[dict]) -> list[dict]:
    """One line per model: test accuracy mean ± sd over seeds, selection, time per epoch, peak memory."""
    table = []
    for kind in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == kind]
        selected = [str((r.get("selected") or {}).get("epoch", (r.get("selected") or {}).get("C", "-")))
                    for r in mine]
        table.append({"model": LABELS.get(kind, kind), "test accuracy %": percent([r["test_accuracy"] for r in mine]),
                      "per seed": ", ".join(f"{100 * r['test_accuracy']:.1f}" for r in mine),
                      "validation %": percent([r["val_accuracy"] for r in mine]),
                      "selected (epoch or C)": ", ".join(selected),
                      "epochs run": ", ".join(str(r["epochs_run"]) for r in mine if r.get("epochs_run")) or "-",
                      "time / epoch (s)": _mean_of(mine, "epoch_time_s", "{:.1f}"),
                      "training time (s)": _mean_of(mine, "train_time_s"),
                      "peak memory (MiB)": _mean_of(mine, "peak_memory_mb"), "parameters": mine[0].get("params")})
    return table


def gap_table(rows: list[dict], reference: str = "conv-snn") -> list[dict]:
    """The reference model's mean test accuracy minus each other model's (percentage points)."""
    means = {k: mean_sd([r["test_accuracy"] for r in rows if r["model"] == k])[0]
             for k in dict.fromkeys(r["model"] for r in rows)}
    if reference not in means:
        return []
    return [{"comparison": f"{reference} − {k}", "pp": f"{100 * (means[reference] - v):+.1f}"}
            for k, v in means.items() if k != reference]


def curve_table(curve_rows: list[dict]) -> list[dict]:
    sizes = sorted({r["train_recordings"] for r in curve_rows})
    table = []
    for kind in dict.fromkeys(r["model"] for r in curve_rows):
        line = {"model": LABELS.get(kind, kind)}
        for n in sizes:
            values = [r["test_accuracy"] for r in curve_rows if r["model"] == kind and r["train_recordings"] == n]
            if values:
                line[f"{n} recordings"] = percent(values)
        table.append(line)
    return table


def power_law_fit(sizes: list[float], errors: list[float]) -> tuple[float, float] | None:
    """(a, b) of error ≈ a·n^(−b), least squares in log-log; None without two distinct sizes or a zero error."""
    if len(set(sizes)) < 2 or min(errors) <= 0:
        return None
    slope, intercept = np.polyfit(np.log(sizes), np.log(errors), 1)
    return float(math.exp(intercept)), float(-slope)


def plot_learning_curve(curve_rows: list[dict], path: Path, title: str) -> Path:
    """Test accuracy against training recordings (log axis), mean ± sd, with dotted power-law extrapolations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for index, kind in enumerate(dict.fromkeys(r["model"] for r in curve_rows)):
        sizes = sorted({r["train_recordings"] for r in curve_rows if r["model"] == kind})
        stats = [mean_sd([100 * r["test_accuracy"] for r in curve_rows
                           if r["model"] == kind and r["train_recordings"] == n]) for n in sizes]
        colour = f"C{index}"
        ax.errorbar(sizes, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3, color=colour,
                    label=LABELS.get(kind, kind))
        fit = power_law_fit(sizes, [max(1e-3, 1 - m / 100) for m, _ in stats])
        if fit is not None:
            grid = np.geomspace(sizes[-1], PUBLISHED_NMNIST[0], 20)
            ax.plot(grid, 100 * (1 - np.minimum(1, fit[0] * grid ** -fit[1])), ":", color=colour, lw=1)
    ax.axhline(100 * PUBLISHED_NMNIST[1], color="grey", lw=0.8, ls="--")
    ax.text(PUBLISHED_NMNIST[0], 100 * PUBLISHED_NMNIST[1], "published spiking CNNs, 60 000", ha="right", va="bottom",
            fontsize=7, color="grey")
    ax.set_xscale("log")
    ax.set_xlabel("training recordings (validation share included)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path)


WORKLOAD_KEYS = ("act_sparsity", "MACs_M", "ACs_M", "energy_uJ")


def conversion_table(conversion: list[dict]) -> list[dict]:
    """Per (T, model): accuracy mean ± sd over seeds and the means of mean steps, workload and energy."""
    table = []
    for key in dict.fromkeys((r["T"], r["dt_ms"], r["model"]) for r in conversion):
        group = [r for r in conversion if (r["T"], r["dt_ms"], r["model"]) == key]
        line = {"T": key[0], "Δt (ms)": key[1], "model": key[2],
                "accuracy %": percent([r["accuracy"] / 100 for r in group])}
        for column in ("mean_steps", *WORKLOAD_KEYS):
            values = [r[column] for r in group if isinstance(r.get(column), (int, float))]
            line[column] = round(sum(values) / len(values), 3) if values else "-"
        table.append(line)
    return table


def seeds_text(seeds: list[int]) -> str:
    return f"{len(seeds)} seed{'' if len(seeds) == 1 else 's'}"


def draw_raster(panels: list[tuple[str, bool, torch.Tensor]], label: int, predicted: int, dt: float,
                path: Path) -> Path:
    """One recording through a trained network: ``panels`` of (name, is the readout, output [T, 1, ...]), the
    input events first; spikes as a raster, the readout as one membrane trace per class (``label`` in red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 1.9 * len(panels)), sharex=True)
    for ax, (name, readout, values) in zip(axes, panels):
        values = values[:, 0].reshape(values.shape[0], -1).float()
        t = (np.arange(values.shape[0]) + 0.5) * dt * 1e3
        if readout:  # the leaky integrator: one membrane trace per class
            for c in range(values.shape[1]):
                ax.plot(t, values[:, c].numpy(), lw=1.6 if c == label else 0.7, color="C3" if c == label else "grey")
            ax.set_ylabel("membrane")
            ax.set_title(f"{name}: readout (true class {label} in red, predicted {predicted})", fontsize=8)
            continue
        active = torch.nonzero(values.sum(0)).flatten()[:400]  # at most 400 active units, in index order
        steps, units = np.nonzero(values[:, active].numpy())
        ax.scatter(t[steps], units, s=2, marker="|", color="k")
        ax.set_ylabel("unit")
        ax.set_title(f"{name}: {int(values.sum())} {'events' if name == 'input events' else 'spikes'}, "
                     f"{values.shape[1]} units ({len(active)} active shown)", fontsize=8)
    axes[-1].set_xlabel("time (ms)")
    fig.tight_layout()
    return save_figure(fig, path)
