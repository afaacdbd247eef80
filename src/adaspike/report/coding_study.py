"""The coding study's summary table and figure, from its result rows (one dict per model × code × T × seed run).

Accuracies stay fractions in the summary table (4 decimals, as the study has always printed them) and are
percentages in the figure.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from .io import save_figure
from .plots import dodged, series_style

__all__ = ["epochs_to_reach", "plot_results", "summarise"]


def epochs_to_reach(curve: list[float], target: float) -> int | None:
    """The first epoch (1-based) whose validation accuracy is at least ``target``; None if never."""
    return next((epoch for epoch, acc in enumerate(curve, 1) if acc >= target), None)


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "–"
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.fmean(values):.4f} ± {sd:.4f}" if not math.isnan(sd) else f"{values[0]:.4f}"


def summarise(rows: list[dict], targets: list[float]) -> list[dict]:
    """One row per (model, encoding, adaptive, T): mean ± sd over seeds, epochs to each target accuracy."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["encoding"], row["adaptive"], row["T"]), []).append(row)
    summary = []
    for (model, encoding, adaptive, T), runs in groups.items():
        entry = {"model": model, "encoding": encoding, "adaptive": adaptive, "T": T, "seeds": len(runs),
                 "test accuracy": _mean_sd([r["accuracy"] for r in runs]),
                 "val accuracy": _mean_sd([r["val_accuracy"] for r in runs])}
        if all("accuracy_train_bn" in r for r in runs):
            entry["test acc, train-mode BN"] = _mean_sd([r["accuracy_train_bn"] for r in runs])
        for target in targets:
            reached = [epochs_to_reach(r["val_curve"], target) for r in runs]
            hit = [e for e in reached if e is not None]
            entry[f"epochs to val {target:g}"] = (f"{statistics.fmean(hit):.1f} ({len(hit)}/{len(runs)})"
                                                  if hit else f"never (0/{len(runs)})")
        entry["s/epoch"] = f"{statistics.fmean(r['epoch_time_s'] for r in runs):.1f}"
        entry["peak MiB"] = f"{statistics.fmean(r['peak_mem_mb'] for r in runs):.0f}"
        entry["spikes/sample"] = f"{statistics.fmean(r['spikes_per_sample'] for r in runs):.0f}"
        summary.append(entry)
    return summary


def plot_results(rows: list[dict], path: Path) -> None:
    """Test accuracy (mean ± sd over seeds) and training time per epoch against T, one column per model.

    T is a categorical axis with the (encoding, adaptive) series side by side at each T, each with its own marker
    and dash: with one T, or with equal accuracies, no series hides under another.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows})
    steps = sorted({r["T"] for r in rows})
    fig, axes = plt.subplots(2, len(models), figsize=(5 * len(models), 7), squeeze=False)
    for col, model in enumerate(models):
        series = sorted({(r["encoding"], r["adaptive"]) for r in rows if r["model"] == model})
        for index, (enc, ada) in enumerate(series):
            sel = [r for r in rows if r["model"] == model and r["encoding"] == enc and r["adaptive"] == ada]
            mine = sorted({r["T"] for r in sel})
            acc = [[100 * r["accuracy"] for r in sel if r["T"] == T] for T in mine]  # percent: rendered text
            cost = [statistics.fmean(r["epoch_time_s"] for r in sel if r["T"] == T) for T in mine]
            x = dodged(mine, index, len(series), steps)
            style = series_style(index)
            label = f"{enc}, adaptive {ada}"
            axes[0, col].errorbar(x, [statistics.fmean(a) for a in acc],
                                  yerr=[statistics.stdev(a) if len(a) > 1 else 0.0 for a in acc],
                                  capsize=3, label=label, **style)
            axes[1, col].plot(x, cost, label=label, **style)
        seeds = len({r["seed"] for r in rows if r["model"] == model})
        axes[0, col].set_title(f"{model} ({seeds} seed{'s' if seeds > 1 else ''})")
        axes[0, col].set_ylabel("test accuracy (%)" + (", mean ± sd over seeds" if seeds > 1 else ""))
        axes[1, col].set_ylabel("training time per epoch (s)")
        for ax in axes[:, col]:
            ax.set_xticks(range(len(steps)), [str(T) for T in steps])
            ax.set_xlim(-0.6, len(steps) - 0.4)
            ax.set_xlabel("time steps T")
            ax.grid(alpha=0.3, axis="y")
        axes[0, col].legend(fontsize=7)
    save_figure(fig, path)
