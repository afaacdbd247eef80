"""The retime study: train once at Δ_S (or load a checkpoint), then evaluate every (method, Δ_T) pair zero-shot.

Outputs under ``out_dir``: ``retime_study.json`` (config, training record, one row per evaluation with
accuracy and per-layer spike rates), ``retime_study.md`` (accuracy and hidden spike-rate tables, one per neuron
kind, methods × target steps), ``retime_study.png`` (accuracy against ρ = Δ_T/Δ_S on a log axis; ρ < 1 is
coarse-to-fine, ρ > 1 fine-to-coarse) and ``retime_rates.png`` (hidden rate in Hz relative to the source at ρ = 1).
"""
from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..core.units import format_time
from ..report import markdown_table, save_figure, write_json, write_text
from ..retime import MAPS, SPIKE_RULES, RetimeError, retime, retime_methods
from .train_run import train_settings

log = logging.getLogger("adaspike")


@dataclass
class RetimeStudyConfig:
    """A retime study: source models trained at ``train_dt`` (``adaspike train``'s defaults: validation split from
    the training data, best validation epoch), evaluated zero-shot on the test split at every ``eval_dts`` by
    every method × spike rule; optionally also trained directly at ``direct_dts`` for comparison.

    ``model`` is any ``adaspike train --model`` (``snn``, the MLP/RNN, or ``conv-snn``); training settings left
    None take that model's recipe (``train_run.train_settings``), as ``adaspike train`` does."""

    dataset: str = "event-digits"
    train_dt: float = 4e-3
    eval_dts: list[float] = field(default_factory=lambda: [1e-3, 2e-3, 4e-3, 8e-3, 16e-3])
    methods: list[str] = field(default_factory=lambda: list(retime_methods()))
    spike_rules: list[str] = field(default_factory=lambda: list(SPIKE_RULES))
    neurons: list[str] = field(default_factory=lambda: ["lif", "adlif"])
    seeds: list[int] = field(default_factory=lambda: [0])
    checkpoint: str | None = None
    direct_dts: list[float] = field(default_factory=list)
    model: str = "snn"
    epochs: int | None = None
    hidden: list[int] | None = None
    recurrent: bool | None = None
    readout: str | None = None
    adlif_form: str | None = None
    batch_size: int | None = None
    lr: float | None = None
    dataset_options: dict = field(default_factory=dict)
    root: str | None = None
    limit: int | None = None
    # any-clock columns: drifting clocks (fractions of the step) and event-driven runs (studies.clock)
    jitters: list[float] = field(default_factory=list)
    events: bool = False
    substeps: bool = False  # also every eval dt coarser than train dt on a regular clock with sub-steps
    event_limit: int | None = None
    resolution: float = 1e-6

    def options(self) -> dict:
        """Dataset options with the model recipe's ones for the dataset filled in (and ``limit``)."""
        options = {**train_settings(self.dataset, self.model)["options"], **self.dataset_options}
        if self.limit is not None:
            options["limit"] = self.limit
        return options

    def training(self) -> dict:
        """The training settings given (None: the recipe's)."""
        given = dict(model=self.model, hidden=None if self.hidden is None else list(self.hidden),
                     recurrent=self.recurrent, readout=self.readout, epochs=self.epochs, lr=self.lr,
                     batch_size=self.batch_size, adlif_form=self.adlif_form)
        return {k: v for k, v in given.items() if v is not None}


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


def load_split(cfg: RetimeStudyConfig, split: str, dt: float):
    """A dataset split at step ``dt`` (any ``load_dataset`` name, the audio folders included)."""
    from ..data import load_dataset

    return load_dataset(cfg.dataset, split, dt=dt, root=cfg.root, **cfg.options())


def _loader(data, cfg: RetimeStudyConfig) -> DataLoader:
    from ..data import time_major_collate

    batch_size = cfg.batch_size or train_settings(cfg.dataset, cfg.model)["batch_size"]
    return DataLoader(data, batch_size=2 * batch_size, shuffle=False, collate_fn=time_major_collate)


def train_source(cfg: RetimeStudyConfig, neuron: str, out_dir: Path, seed: int = 0,
                 dt: float | None = None) -> tuple[torch.nn.Module, dict]:
    """Train ``cfg.model`` at ``dt`` (default ``cfg.train_dt``) with ``train_run``; a finished run with the
    same settings in its folder is reused."""
    from ..train import load_model
    from .train_run import train_run

    dt = cfg.train_dt if dt is None else dt
    prefix = "" if cfg.model == "snn" else f"{cfg.model}_"
    folder = out_dir / f"{prefix}{neuron}_{format_time(dt)}_seed{seed}"
    settings = dict(dataset=cfg.dataset, root=cfg.root, dt=dt, neuron=neuron, seed=seed, **cfg.training(),
                    **cfg.options())
    done = folder / "metrics.json"
    if done.is_file() and (folder / "model.safetensors").is_file():
        import json

        result = json.loads(done.read_text())
        if result.get("study_settings") == json.loads(json.dumps(settings)):
            log.info("reusing the finished source run in %s", folder)
            return load_model(folder / "model.safetensors"), _record(result, neuron, seed, folder)
    result = train_run(out=folder, progress=False, **settings)
    result["study_settings"] = settings
    write_json(done, result)
    return load_model(folder / "model.safetensors"), _record(result, neuron, seed, folder)


def _record(result: dict, neuron: str, seed: int, folder: Path) -> dict:
    keys = ("dt", "train_time_s", "epochs_run", "selected", "test_accuracy", "val_accuracy", "train_samples",
            "val_samples", "test_samples", "spike_rates_hz", "initial_rates_hz")
    return {"neuron": neuron, "seed": seed, "checkpoint": str(folder / "model.safetensors"),
            **{k: result.get(k) for k in keys}}


def _empty_row(label: str, seed, method: str, rule: str, dt: float, rho: float, train_dt: float) -> dict:
    return {"neuron": label, "seed": seed, "method": method, "spike_rule": rule,
            "variant": variant_name(method, rule), "train_dt": train_dt, "eval_dt": dt, "rho": rho,
            "accuracy": None, "loss": None, "spike_rates": None, "spike_rates_hz": None, "hidden_rate_hz": None,
            "rate_ratios": None, "rate_ratio": None, "warnings": [], "error": None}


def evaluate_grid(model: torch.nn.Module, cfg: RetimeStudyConfig, label: str, seed=0) -> list[dict]:
    """One row per (method, spike rule, target step): accuracy, loss and spike rates of the zero-shot model.

    Rates per spiking layer: ``spike_rates`` (spikes/neuron/step, from ``evaluate``), ``spike_rates_hz``
    (spikes/neuron/second = rate/Δ_T) and ``rate_ratios`` (target Hz over the source's Hz, i.e. the row at ρ = 1;
    None when the grid has no ρ = 1 row or the source layer is silent); ``hidden_rate_hz`` and ``rate_ratio`` are
    the same for the mean over the spiking layers. A refused map (``RetimeError``) leaves all of them None and
    keeps the message in ``error``; the ``RuntimeWarning``s of ``retime`` (e.g. neurons with radius ≥ 1) are kept
    in ``warnings``: the study measures maps that ``adaspike retime`` would refuse, rather than dropping them.
    """
    from ..metrics import MetricsCollector, summary_row
    from ..retime import source_dt
    from ..train import evaluate

    train_dt = source_dt(model)
    rows = []
    for dt in cfg.eval_dts:
        test = _loader(load_split(cfg, "test", dt), cfg)
        rho = dt / train_dt
        identity = None
        for method, rule in variants(cfg):
            row = _empty_row(label, seed, method, rule, dt, rho, train_dt)
            if identity is not None:  # every variant is the identity at ρ = 1: evaluate it once
                rows.append({**identity, **{k: row[k] for k in ("method", "spike_rule", "variant")}})
                continue
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    adapted = retime(model, dt=dt, method=method, spike_rule=rule, unstable="warn")
                for w in caught:
                    if issubclass(w.category, RuntimeWarning):
                        row["warnings"].append(str(w.message))
                        log.warning("%s %s dt=%s: %s", label, row["variant"], format_time(dt), w.message)
                    else:
                        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                collector = MetricsCollector()  # workload and energy, from the same evaluation pass
                with collector.watch(adapted):
                    metrics = evaluate(adapted, test)
                row["workload"] = summary_row({**collector.result(step_s=dt), "accuracy": metrics["accuracy"]},
                                              f"{label}{'' if seed is None else f' s{seed}'} {row['variant']}")
                rates = {name: float(rate) for name, rate in metrics["spike_rates"].items()}
                hz = {name: rate / dt for name, rate in rates.items()}
                row.update(accuracy=metrics["accuracy"], loss=metrics["loss"], spike_rates=rates, spike_rates_hz=hz,
                           hidden_rate_hz=sum(hz.values()) / len(hz) if hz else None)
            except RetimeError as err:
                row["error"] = str(err)
            if math.isclose(rho, 1.0) and row["error"] is None:
                identity = row
            rows.append(row)
            log.info("%s%s %s dt=%s: %s", label, "" if seed is None else f" seed {seed}", row["variant"],
                     format_time(dt), f"{row['accuracy']:.4f}" if row["error"] is None else row["error"])
    return add_rate_ratios(rows)


def _source_row(rows: list[dict], neuron: str, seed=None) -> dict | None:
    """The evaluated ρ = 1 row of ``neuron`` (and ``seed``): every variant is the identity there."""
    for r in rows:
        if (r["neuron"] == neuron and r.get("seed") == seed and math.isclose(r["rho"], 1.0)
                and r.get("spike_rates_hz") is not None):
            return r
    return None


def _ratio(value: float | None, reference: float | None) -> float | None:
    return None if value is None or not reference else value / reference


def add_rate_ratios(rows: list[dict]) -> list[dict]:
    """Set ``rate_ratios`` (per layer) and ``rate_ratio`` (hidden mean): target Hz / source Hz at ρ = 1 of the
    same model (neuron kind and seed), in place."""
    for neuron, seed in dict.fromkeys((r["neuron"], r.get("seed")) for r in rows):
        source = _source_row(rows, neuron, seed)
        for r in rows:
            if r["neuron"] != neuron or r.get("seed") != seed:
                continue
            if source is None or r.get("spike_rates_hz") is None:
                r["rate_ratios"], r["rate_ratio"] = None, None
                continue
            r["rate_ratios"] = {name: _ratio(hz, source["spike_rates_hz"].get(name))
                                for name, hz in r["spike_rates_hz"].items()}
            r["rate_ratio"] = _ratio(r["hidden_rate_hz"], source["hidden_rate_hz"])
    return rows


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


def _mean_sd(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, sd


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
    mean, sd = _mean_sd(values)
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
    return name.split(" ")[0] in MAPS


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
                        "retimed from source (zoh)": _pct_list(retimed), "trained at Δ_T": _pct_list(direct_acc),
                        "retimed − direct (pp)": "-" if not retimed else
                        _signed(100 * (sum(retimed) / len(retimed) - sum(direct_acc) / len(direct_acc))),
                        "source training (s)": "-" if src_time is None else f"{src_time:.0f}",
                        "direct training (s)": f"{direct_time:.0f}",
                        "training time saved": "-" if src_time is None else f"{1 - src_time / direct_time:.0%}"})
    return out


def _signed(points: float) -> str:
    return f"{round(points, 1) + 0.0:+.1f}"  # + 0.0 turns a rounded -0.0 into 0.0


def _pct_list(values: list[float]) -> str:
    if not values:
        return "-"
    mean, sd = _mean_sd([100 * v for v in values])
    return f"{mean:.1f}" + (f" ± {sd:.1f}" if len(values) > 1 else "")


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _warning_lines(rows: list[dict]) -> str:
    lines = list(dict.fromkeys(f"- {r['neuron']} {_variant(r)} at {format_time(r['eval_dt'])}: {message}"
                               for r in rows for message in r.get("warnings") or []))
    return "\n".join(lines)


def write_outputs(rows: list[dict], training: list[dict], cfg: RetimeStudyConfig, out_dir: Path,
                  direct: list[dict] | None = None, clock: list[dict] | None = None) -> dict:
    """Write JSON, Markdown and the two PNGs (accuracy, spike-rate ratio) for the rows so far."""
    from .clock import clock_tables

    direct, clock = direct or [], clock or []
    table = accuracy_tables(rows, cfg)
    rates = rate_tables(rows, cfg)
    comparison = markdown_table(paper_comparison(rows))
    targets = markdown_table(target_table(rows))
    text = (f"# Retime study: {cfg.dataset}\n\nTest accuracy (%) of each source model retimed zero-shot; "
            f"\"(plain)\" rows keep one spike per step at the new step, the others carry the spike rule in "
            f"seconds.\n\n{table}\n\n## Against the source\n\n{targets}\n\n## Hidden spike rates\n\n"
            f"Spikes per neuron per second (rate per step / Δ_T); `retime_rates.png` plots them relative to the "
            f"source at ρ = 1.\n\n{rates}\n\n## Ratio 1/2 (coarse to fine) against the seed paper\n\n"
            f"{comparison}\n")
    coarse_fine = markdown_table(direct_table(rows, direct, training)) if direct else ""
    if direct:
        text += f"\n## Train coarse, deploy fine\n\n{coarse_fine}\n"
    workload = [r["workload"] for r in rows if r.get("workload")]
    if workload:
        from ..metrics import SUMMARY_COLUMNS
        text += ("\n## Workload and energy\n\nPer test sample (`adaspike.metrics`: NeuroBench's metrics; "
                 "burst-aware SOPs with the recurrent synapses; 4.6 pJ/MAC, 0.9 pJ/AC).\n\n"
                 + markdown_table(workload, SUMMARY_COLUMNS))
    if clock:
        text += ("\n## Any clock: drifting clocks and event times\n\nTest accuracy (%), the model trained at Δ_S run "
                 "on a clock whose steps last Δ_S·(1 ± j), drawn per sample, told the true step lengths or assuming "
                 "Δ_S (naive); and event-driven, each recording advancing from one event time to the next (its own "
                 "grid at the timestamp resolution), beside the model at its own step on the same samples. Dense "
                 "updates: neurons × steps of a regular grid at the timestamp resolution.\n\n"
                 + clock_tables(clock, rows) + "\n")
    notes = _warning_lines(rows)
    if notes:
        text += f"\n## Retime warnings\n\n{notes}\n"
    write_text(out_dir / "retime_study.md", text)
    result = {"config": asdict(cfg), "training": training, "direct": direct, "rows": rows, "clock": clock}
    write_json(out_dir / "retime_study.json", result)
    plot(rows, cfg, out_dir / "retime_study.png")
    plot_rates(rows, cfg, out_dir / "retime_rates.png")
    return {**result, "table": table, "rates": rates, "comparison": comparison, "targets": targets,
            "coarse_fine": coarse_fine}


def run_study(cfg: RetimeStudyConfig, out_dir: str | Path) -> dict:
    """Train (or load) each source model, evaluate the grid, and write JSON, Markdown and PNGs.

    Outputs are rewritten after every source model, and finished training runs are reused, so an interrupted
    study resumes where it stopped.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, training, direct, clock = [], [], [], []
    if cfg.checkpoint:
        for path in cfg.checkpoint.split(","):  # several: e.g. the seeds of one recipe
            model, label, seed, options = _trained(path.strip())
            # the test data as the model read it in training (pooling, window), unless the study names options
            grid_cfg = replace(cfg, dataset_options=cfg.dataset_options or options)
            rows += evaluate_grid(model, grid_cfg, label, seed=seed)
            clock += _clock(model, grid_cfg, label, seed)
            result = write_outputs(rows, training, cfg, out_dir, clock=clock)
        return result
    result = {}
    for neuron in cfg.neurons:
        for seed in cfg.seeds:
            model, record = train_source(cfg, neuron, out_dir, seed)
            training.append(record)
            rows += evaluate_grid(model, cfg, neuron, seed)
            clock += _clock(model, cfg, neuron, seed)
            for dt in cfg.direct_dts:
                _, run = train_source(cfg, neuron, out_dir, seed, dt=dt)
                direct.append(run)
            result = write_outputs(rows, training, cfg, out_dir, direct, clock)
    return result


def _clock(model: torch.nn.Module, cfg: RetimeStudyConfig, label: str, seed) -> list[dict]:
    """The any-clock rows of one model (``studies.clock``), when the study asks for them."""
    if not cfg.jitters and not cfg.events and not cfg.substeps:
        return []
    from .clock import clock_rows

    batch_size = 2 * (cfg.batch_size or train_settings(cfg.dataset, cfg.model)["batch_size"])
    return clock_rows(model, lambda dt: load_split(cfg, "test", dt), label, seed, jitters=cfg.jitters,
                      events=cfg.events, resolution=cfg.resolution, event_limit=cfg.event_limit,
                      batch_size=batch_size, substep_dts=cfg.eval_dts if cfg.substeps else ())


def _trained(path: str) -> tuple[torch.nn.Module, str, int | None, dict]:
    """A checkpoint's model, its label (model and neuron when ``adaspike train`` wrote it, else the file name),
    training seed and dataset options."""
    from ..train import load_model, read_checkpoint

    meta = read_checkpoint(path)[2]
    result, data = meta.get("result") or {}, meta.get("data") or {}
    label = " ".join(str(result[k]) for k in ("model", "neuron") if result.get(k)) or Path(path).stem
    return load_model(path), label, result.get("seed"), dict(data.get("options") or {})


def demo(out_dir: Path, quick: bool = True, checkpoint: str | Path | None = None) -> dict:
    """A short retime study on event-digits.

    With ``checkpoint`` (the demo's adLIF model trained at 4 ms) it only evaluates every map, with and without
    the spike rule in seconds, at 2, 4 and 8 ms; otherwise it first trains a small LIF network.
    """
    if checkpoint is not None:
        cfg = RetimeStudyConfig(checkpoint=str(checkpoint), eval_dts=[2e-3, 4e-3, 8e-3])
    else:
        cfg = RetimeStudyConfig(neurons=["lif"], eval_dts=[2e-3, 4e-3, 8e-3], methods=["none", "tau", "zoh", "euler"],
                                hidden=[64], epochs=2 if quick else 10, limit=400 if quick else None,
                                recurrent=False)
    result = run_study(cfg, Path(out_dir))
    half = {r["variant"]: r["accuracy"] for r in result["rows"] if math.isclose(r["rho"], 0.5)}
    shown = ("zoh", "zoh (plain)", "tau", "none")
    headline = ", ".join(f"{m} {100 * half[m]:.1f} %" for m in shown if half.get(m) is not None)
    return {"table": result["table"], "rows": result["rows"], "headline": f"retimed 4 ms -> 2 ms: {headline}"}
