"""The retime study's tables and figures, from its result rows (one dict per model × variant × target step).

Accuracies are fractions in the rows and percentages only in the rendered text. ``cfg`` is the study's
``RetimeStudyConfig``; only ``dataset``, ``methods`` and ``spike_rules`` are read here.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

from ..core.units import format_time
from .io import markdown_table, save_figure
from .numbers import mean_sd, percent

__all__ = ["accuracy_tables", "accuracy_ylim", "direct_table", "mean_accuracy", "paper_comparison", "plot",
           "plot_rates", "rate_tables", "target_table", "variant_name", "variants", "warning_lines"]


class RetimeStudyConfig(Protocol):
    """What the tables read of ``adaspike.studies.retime.RetimeStudyConfig`` (this floor cannot import it)."""

    dataset: str
    methods: list[str]
    spike_rules: list[str]


def variants(cfg: RetimeStudyConfig) -> list[tuple[str, str]]:
    """(method, spike rule) pairs of the grid; ``none`` changes nothing, so it has one."""
    out = []
    for method in cfg.methods:
        for rule in (["steps"] if method == "none" else cfg.spike_rules):
            out.append((method, rule))
    return out


def variant_name(method: str, rule: str) -> str:
    """``zoh`` for the default spike rule in seconds, ``zoh (plain)`` for one spike per step."""
    return method if method == "none" or rule == "seconds" else f"{method} (plain)"


def _step_column(r: dict) -> str:
    return f"{format_time(r['eval_dt'])} (ρ={r['rho']:g})"


def _error_cell(r: dict) -> str:
    return "unstable" if "unstable" in r["error"] else "refused"


def _variant(r: dict) -> str:
    return r.get("variant") or r["method"]


def _variant_order(rows: list[dict], cfg: RetimeStudyConfig) -> list[str]:
    names = [variant_name(m, rule) for m, rule in variants(cfg)]
    present = list(dict.fromkeys(_variant(r) for r in rows))
    return [v for v in names if v in present] + [v for v in present if v not in names]


def _cells(rows: list[dict]) -> dict:
    """(neuron, variant, eval_dt) → the rows of every seed."""
    out: dict = {}
    for r in rows:
        out.setdefault((r["neuron"], _variant(r), r["eval_dt"]), []).append(r)
    return out


def _pct_cell(group: list[dict], key: str = "accuracy", scale: float = 100.0, digits: int = 1) -> str:
    values = [scale * r[key] for r in group if r.get(key) is not None]
    if not values:
        return _error_cell(group[0]) if group[0].get("error") else "-"
    mean, sd = mean_sd(values)
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if len(values) > 1 else "")


def mean_accuracy(rows: list[dict], neuron: str, variant: str, dt: float) -> float | None:
    values = [r["accuracy"] for r in rows if r["neuron"] == neuron and _variant(r) == variant
              and math.isclose(r["eval_dt"], dt) and r["accuracy"] is not None]
    return sum(values) / len(values) if values else None


def _seeds_note(rows: list[dict], neuron: str) -> str:
    seeds = sorted({r.get("seed") for r in rows if r["neuron"] == neuron}, key=str)
    return f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}" + (" (mean ± sd)" if len(seeds) > 1 else "")


def accuracy_tables(rows: list[dict], cfg: RetimeStudyConfig) -> str:
    """Markdown: per neuron kind, a variants × Δ_T table of test accuracy (%), mean ± sd over seeds."""
    parts, cells = [], _cells(rows)
    steps = sorted(dict.fromkeys((r["eval_dt"], _step_column(r)) for r in rows))
    for neuron in dict.fromkeys(r["neuron"] for r in rows):
        table = []
        for name in _variant_order([r for r in rows if r["neuron"] == neuron], cfg):
            line = {"method": name}
            for dt, column in steps:
                group = cells.get((neuron, name, dt))
                if group:
                    line[column] = _pct_cell(group)
            table.append(line)
        train_dt = next(r["train_dt"] for r in rows if r["neuron"] == neuron)
        parts.append(f"**{neuron}**, trained at {format_time(train_dt)} on {cfg.dataset}, "
                     f"{_seeds_note(rows, neuron)}\n\n" + markdown_table(table))
    return "\n\n".join(parts)


def rate_tables(rows: list[dict], cfg: RetimeStudyConfig) -> str:
    """Markdown: per neuron kind, a variants × Δ_T table of hidden spike rates in Hz (spikes per neuron per
    second, mean over seeds); one line per (variant, layer) when the model has more than one spiking layer."""
    parts, cells = [], _cells(rows)
    steps = sorted(dict.fromkeys((r["eval_dt"], _step_column(r)) for r in rows))
    for neuron in dict.fromkeys(r["neuron"] for r in rows):
        mine = [r for r in rows if r["neuron"] == neuron]
        layers = list(dict.fromkeys(name for r in mine for name in (r.get("spike_rates_hz") or {})))
        table = []
        for name in _variant_order(mine, cfg):
            for layer in (layers if len(layers) > 1 else [None]):
                line = {"method": name} if layer is None else {"method": name, "layer": layer}
                for dt, column in steps:
                    group = cells.get((neuron, name, dt))
                    if not group:
                        continue
                    values = [r["hidden_rate_hz"] if layer is None else (r["spike_rates_hz"] or {}).get(layer)
                              for r in group if r["error"] is None]
                    values = [v for v in values if v is not None]
                    line[column] = (f"{sum(values) / len(values):.1f}" if values
                                    else (_error_cell(group[0]) if group[0]["error"] else "-"))
                table.append(line)
        train_dt = mine[0]["train_dt"]
        parts.append(f"**{neuron}**: hidden spike rate (Hz, spikes per neuron per second), trained at "
                     f"{format_time(train_dt)}\n\n" + markdown_table(table))
    return "\n\n".join(parts)


# one marker and line style per method, open markers shrinking along the list, so that coinciding lines
# (every method is the identity at ρ = 1; tau and zoh agree for LIF) stay visible on top of each other
_MARKERS = ("o", "s", "^", "v", "D", "P", "X")


_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 1)))


def _style(index: int) -> dict:
    return {"marker": _MARKERS[index % len(_MARKERS)], "linestyle": _LINESTYLES[index % len(_LINESTYLES)],
            "markersize": max(4.0, 10.0 - 1.5 * index), "markerfacecolor": "none", "markeredgewidth": 1.3,
            "alpha": 0.8, "linewidth": 1.5}


def accuracy_ylim(values: list[float], min_span: float = 10.0) -> tuple[float, float]:
    """y-limits (%) for accuracies: at least ``min_span`` points wide, inside [−2, 102], with a small margin."""
    if not values:
        return 0.0, 100.0
    lo, hi = min(values), max(values)
    span = max(hi - lo, min_span)
    pad = max(1.0, 0.05 * span)
    centre = (lo + hi) / 2
    bottom, top = centre - span / 2 - pad, centre + span / 2 + pad
    if bottom < -2.0:
        bottom, top = -2.0, top + (-2.0 - bottom)
    if top > 102.0:
        bottom, top = max(-2.0, bottom - (top - 102.0)), 102.0
    return bottom, top


def _ratio_axis(ax, cfg: RetimeStudyConfig, neuron: str) -> None:
    ax.set_xscale("log", base=2)
    ax.axvline(1.0, color="grey", lw=0.8)
    lo, hi = ax.get_xlim()
    ax.axvspan(lo, 1.0, color="tab:blue", alpha=0.05)
    ax.axvspan(1.0, hi, color="tab:orange", alpha=0.05)
    ax.set_xlim(lo, hi)
    ax.text(0.02, 0.02, "coarse → fine", transform=ax.transAxes, fontsize=8)
    ax.text(0.98, 0.02, "fine → coarse", transform=ax.transAxes, fontsize=8, ha="right")
    ax.set_xlabel("ρ = Δ_T / Δ_S")
    ax.set_title(f"{neuron}: {cfg.dataset}")


def _figure(rows: list[dict]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    neurons = list(dict.fromkeys(r["neuron"] for r in rows)) or ["(no rows)"]
    fig, axes = plt.subplots(1, len(neurons), figsize=(5.5 * len(neurons), 4), squeeze=False)
    return fig, list(zip(axes[0], neurons))


def _mean_series(rows: list[dict], neuron: str, name: str, key: str) -> list[tuple[float, float]]:
    """(ρ, mean of ``key`` over seeds) for one variant, sorted by ρ."""
    groups: dict = {}
    for r in rows:
        if r["neuron"] == neuron and _variant(r) == name and r.get(key) is not None:
            groups.setdefault(r["rho"], []).append(r[key])
    return sorted((rho, sum(v) / len(v)) for rho, v in groups.items())


def _plot_lines(ax, rows: list[dict], cfg: RetimeStudyConfig, neuron: str, key: str, scale: float = 1.0):
    """One line per variant of the mean ``key`` (× ``scale``) against ρ; returns the plotted values."""
    values = []
    for index, name in enumerate(_variant_order(rows, cfg)):
        pts = _mean_series(rows, neuron, name, key)
        if pts:
            values += [scale * p[1] for p in pts]
            ax.plot([p[0] for p in pts], [scale * p[1] for p in pts], label=name, **_style(index))
    return values


def plot(rows: list[dict], cfg: RetimeStudyConfig, path: Path) -> Path:
    """Accuracy (%) against ρ on a log2 axis, one line per variant (mean over seeds), one panel per neuron."""
    fig, panels = _figure(rows)
    for ax, neuron in panels:
        values = _plot_lines(ax, rows, cfg, neuron, "accuracy", 100.0)
        ax.set_ylim(*accuracy_ylim(values))
        _ratio_axis(ax, cfg, neuron)
        ax.set_ylabel("test accuracy (%)")
        if values:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return save_figure(fig, path)


def plot_rates(rows: list[dict], cfg: RetimeStudyConfig, path: Path) -> Path:
    """Hidden spike-rate ratio (target Hz / source Hz at ρ = 1) against ρ, log2 axes, one line per variant.

    The dotted 1/ρ line is what an unchanged number of spikes per step gives (the ``none`` baseline's trend).
    """
    fig, panels = _figure(rows)
    for ax, neuron in panels:
        values = _plot_lines(ax, rows, cfg, neuron, "rate_ratio")
        rhos = sorted({r["rho"] for r in rows if r["neuron"] == neuron})
        if rhos:
            ax.plot(rhos, [1 / rho for rho in rhos], color="grey", lw=0.8, linestyle=":", label="1/ρ")
        ax.axhline(1.0, color="grey", lw=0.8)
        if values and min(values) > 0:
            ax.set_yscale("log", base=2)
        _ratio_axis(ax, cfg, neuron)
        ax.set_ylabel("hidden spike rate: target Hz / source Hz")
        if not values:
            ax.text(0.5, 0.5, "no rate ratios (no evaluated ρ = 1 row)", transform=ax.transAxes, ha="center")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return save_figure(fig, path)


def _is_map(name: str) -> bool:
    # the study's methods are retime's: "none" and "tau" act per neuron type, every other one is a registered map
    return name.split(" ")[0] not in ("none", "tau")


def paper_comparison(rows: list[dict]) -> list[dict]:
    """Side by side with the seed paper's only ratio-1/2 figures (SHD: best 89.5 % vs tau 53.0 %)."""
    out = []
    for neuron in dict.fromkeys(r["neuron"] for r in rows):
        mine = [r for r in rows if r["neuron"] == neuron]
        half_dt = next((r["eval_dt"] for r in mine if math.isclose(r["rho"], 0.5)), None)
        source_dt = next((r["eval_dt"] for r in mine if math.isclose(r["rho"], 1.0)), None)
        if half_dt is None:
            continue
        names = list(dict.fromkeys(_variant(r) for r in mine))
        half = {name: mean_accuracy(mine, neuron, name, half_dt) for name in names}
        source = mean_accuracy(mine, neuron, names[0], source_dt) if source_dt is not None else None
        best = max((n for n in names if _is_map(n) and half[n] is not None), key=half.get, default=None)
        out.append({"model": neuron, "source (ρ=1)": _pct(source),
                    "best map at ρ=1/2": f"{best} {_pct(half.get(best))}" if best else "-",
                    "tau at ρ=1/2": _pct(half.get("tau")), "none at ρ=1/2": _pct(half.get("none"))})
    out.append({"model": "seed paper, SHD", "source (ρ=1)": "not reported", "best map at ρ=1/2": "89.5",
                "tau at ρ=1/2": "53.0", "none at ρ=1/2": "not reported"})
    return out


def target_table(rows: list[dict]) -> list[dict]:
    """Per neuron kind and ρ ≠ 1: the source, the default map (zoh, spike rule in seconds), the best variant,
    its gap to the source, and the tau and none baselines (means over seeds, %)."""
    out = []
    for neuron in dict.fromkeys(r["neuron"] for r in rows):
        mine = [r for r in rows if r["neuron"] == neuron]
        names = list(dict.fromkeys(_variant(r) for r in mine))
        source_dt = next((r["eval_dt"] for r in mine if math.isclose(r["rho"], 1.0)), None)
        source = mean_accuracy(mine, neuron, names[0], source_dt) if source_dt is not None else None
        for dt, rho in dict.fromkeys((r["eval_dt"], r["rho"]) for r in mine):
            if math.isclose(rho, 1.0):
                continue
            acc = {name: mean_accuracy(mine, neuron, name, dt) for name in names}
            best = max((n for n in names if acc[n] is not None), key=acc.get, default=None)
            out.append({"model": neuron, "Δ_T": format_time(dt), "ρ": f"{rho:g}", "source": _pct(source),
                        "zoh": _pct(acc.get("zoh")), "zoh (plain)": _pct(acc.get("zoh (plain)")),
                        "best": f"{best} {_pct(acc.get(best))}" if best else "-",
                        "best − source (pp)": "-" if best is None or source is None or acc[best] is None
                        else _signed(100 * (acc[best] - source)),
                        "tau": _pct(acc.get("tau")), "none": _pct(acc.get("none"))})
    return out


def direct_table(rows: list[dict], direct: list[dict], training: list[dict]) -> list[dict]:
    """Train coarse, deploy fine: the retimed source (zoh, spike rule in seconds) against a model trained
    directly at the target step, with both training times (means over seeds)."""
    out = []
    for neuron in dict.fromkeys(d["neuron"] for d in direct):
        source_time = [t["train_time_s"] for t in training if t["neuron"] == neuron]
        for dt in dict.fromkeys(d["dt"] for d in direct if d["neuron"] == neuron):
            runs = [d for d in direct if d["neuron"] == neuron and math.isclose(d["dt"], dt)]
            retimed = [r["accuracy"] for r in rows if r["neuron"] == neuron and _variant(r) == "zoh"
                       and math.isclose(r["eval_dt"], dt) and r["accuracy"] is not None]
            direct_acc = [d["test_accuracy"] for d in runs]
            direct_time = sum(d["train_time_s"] for d in runs) / len(runs)
            src_time = sum(source_time) / len(source_time) if source_time else None
            out.append({"model": neuron, "Δ_T": format_time(dt),
                        "retimed from source (zoh)": percent(retimed), "trained at Δ_T": percent(direct_acc),
                        "retimed − direct (pp)": "-" if not retimed else
                        _signed(100 * (sum(retimed) / len(retimed) - sum(direct_acc) / len(direct_acc))),
                        "source training (s)": "-" if src_time is None else f"{src_time:.0f}",
                        "direct training (s)": f"{direct_time:.0f}",
                        "training time saved": "-" if src_time is None else f"{1 - src_time / direct_time:.0%}"})
    return out


def _signed(points: float) -> str:
    return f"{round(points, 1) + 0.0:+.1f}"  # + 0.0 turns a rounded -0.0 into 0.0


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def warning_lines(rows: list[dict]) -> str:
    lines = list(dict.fromkeys(f"- {r['neuron']} {_variant(r)} at {format_time(r['eval_dt'])}: {message}"
                               for r in rows for message in r.get("warnings") or []))
    return "\n".join(lines)
