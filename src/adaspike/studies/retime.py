"""The retime study: train once at Δ_S (or load a checkpoint), then evaluate every (method, Δ_T) pair zero-shot.

Outputs under ``out_dir``: ``retime_study.json`` (config, training record, one row per evaluation with
accuracy and per-layer spike rates), ``retime_study.md`` (accuracy and hidden spike-rate tables, one per neuron
kind, methods × target steps), ``retime_study.png`` (accuracy against ρ = Δ_T/Δ_S on a log axis; ρ < 1 is
coarse-to-fine, ρ > 1 fine-to-coarse) and ``retime_rates.png`` (hidden rate in Hz relative to the source at ρ = 1).
"""
from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..core.units import format_time
from ..report import markdown_table, save_figure, write_json, write_text
from ..retime import METHODS, RetimeError, retime

log = logging.getLogger("adaspike")


@dataclass
class RetimeStudyConfig:
    dataset: str = "event-digits"
    train_dt: float = 4e-3
    eval_dts: list[float] = field(default_factory=lambda: [1e-3, 2e-3, 4e-3, 8e-3, 16e-3])
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    neurons: list[str] = field(default_factory=lambda: ["lif", "adlif"])
    checkpoint: str | None = None
    epochs: int = 8
    hidden: list[int] = field(default_factory=lambda: [128])
    recurrent: bool = True
    readout: str = "li-mean"
    adlif_form: str = "discrete"      # sparch-style per-step (α, β, a, b), as in the seed paper's setting
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    dataset_options: dict = field(default_factory=lambda: {"pool": 2})
    root: str | None = None
    limit_train: int | None = None
    limit_test: int | None = None


def load_split(cfg: RetimeStudyConfig, split: str, dt: float):
    """A dataset split at step ``dt`` (any ``load_dataset`` name, the audio folders included)."""
    from ..data import load_dataset

    options = dict(cfg.dataset_options)
    limit = cfg.limit_train if split == "train" else cfg.limit_test
    if limit is not None:
        options["limit"] = limit
    return load_dataset(cfg.dataset, split, dt=dt, root=cfg.root, **options)


def _loader(data, cfg: RetimeStudyConfig, shuffle: bool) -> DataLoader:
    from ..data import time_major_collate

    generator = torch.Generator().manual_seed(cfg.seed)
    return DataLoader(data, batch_size=cfg.batch_size if shuffle else 2 * cfg.batch_size, shuffle=shuffle,
                      generator=generator, collate_fn=time_major_collate)


def train_source(cfg: RetimeStudyConfig, neuron: str, out_dir: Path) -> tuple[torch.nn.Module, dict]:
    """Train the ``snn`` model at ``cfg.train_dt`` with the Trainer and save its checkpoint."""
    from ..studies.experiment import event_model
    from ..train import Trainer, save_checkpoint

    train_set = load_split(cfg, "train", cfg.train_dt)
    test_set = load_split(cfg, "test", cfg.train_dt)
    options = {"neuron_options": {"parameterisation": cfg.adlif_form}} if neuron == "adlif" else {}
    torch.manual_seed(cfg.seed)
    model = event_model(train_set, neuron=neuron, hidden=cfg.hidden, recurrent=cfg.recurrent,
                        readout=cfg.readout, dt=cfg.train_dt, **options)
    trainer = Trainer(model, lr=cfg.lr, epochs=cfg.epochs, scheduler="cosine", seed=cfg.seed, progress=False)
    tic = time.perf_counter()
    history = trainer.fit(_loader(train_set, cfg, True))
    record = {"neuron": neuron, "train_time_s": time.perf_counter() - tic, "epochs": cfg.epochs,
              "train_accuracy": history[-1]["train_accuracy"], "train_samples": len(train_set),
              "test_samples": len(test_set)}
    path = save_checkpoint(out_dir / f"source_{neuron}.safetensors", model,
                           metadata={"study": "retime", "train_dt": cfg.train_dt, "dataset": cfg.dataset})
    record["checkpoint"] = str(path)
    return model, record


def evaluate_grid(model: torch.nn.Module, cfg: RetimeStudyConfig, label: str) -> list[dict]:
    """One row per (method, target step): accuracy, loss and spike rates of the zero-shot retimed model.

    Rates per spiking layer: ``spike_rates`` (spikes/neuron/step, from ``evaluate``), ``spike_rates_hz``
    (spikes/neuron/second = rate/Δ_T) and ``rate_ratios`` (target Hz over the source's Hz, i.e. the row at ρ = 1;
    None when the grid has no ρ = 1 row or the source layer is silent); ``hidden_rate_hz`` and ``rate_ratio`` are
    the same for the mean over the spiking layers. A refused map (``RetimeError``) leaves all of them None and
    keeps the message in ``error``; the ``RuntimeWarning``s of ``retime`` (e.g. neurons with radius ≥ 1) are kept
    in ``warnings``.
    """
    from ..train import evaluate

    rows = []
    for dt in cfg.eval_dts:
        test = _loader(load_split(cfg, "test", dt), cfg, False)
        rho = dt / cfg.train_dt
        for method in cfg.methods:
            row = {"neuron": label, "method": method, "train_dt": cfg.train_dt, "eval_dt": dt, "rho": rho,
                   "accuracy": None, "loss": None, "spike_rates": None, "spike_rates_hz": None,
                   "hidden_rate_hz": None, "rate_ratios": None, "rate_ratio": None, "warnings": [], "error": None}
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    adapted = retime(model, dt=dt, method=method)
                for w in caught:
                    if issubclass(w.category, RuntimeWarning):
                        row["warnings"].append(str(w.message))
                        log.warning("%s %s dt=%s: %s", label, method, format_time(dt), w.message)
                    else:
                        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                metrics = evaluate(adapted, test)
                rates = {name: float(rate) for name, rate in metrics["spike_rates"].items()}
                hz = {name: rate / dt for name, rate in rates.items()}
                row.update(accuracy=metrics["accuracy"], loss=metrics["loss"], spike_rates=rates, spike_rates_hz=hz,
                           hidden_rate_hz=sum(hz.values()) / len(hz) if hz else None)
            except RetimeError as err:
                row["error"] = str(err)
            rows.append(row)
            log.info("%s %s dt=%s: %s", label, method, format_time(dt), row["accuracy"] if row["error"] is None
                     else row["error"])
    return add_rate_ratios(rows)


def _source_row(rows: list[dict], neuron: str) -> dict | None:
    """The evaluated ρ = 1 row of ``neuron`` (every method is the identity there, so any one of them)."""
    for r in rows:
        if r["neuron"] == neuron and math.isclose(r["rho"], 1.0) and r.get("spike_rates_hz") is not None:
            return r
    return None


def _ratio(value: float | None, reference: float | None) -> float | None:
    return None if value is None or not reference else value / reference


def add_rate_ratios(rows: list[dict]) -> list[dict]:
    """Set ``rate_ratios`` (per layer) and ``rate_ratio`` (hidden mean): target Hz / source Hz at ρ = 1, in place."""
    for neuron in dict.fromkeys(r["neuron"] for r in rows):
        source = _source_row(rows, neuron)
        for r in rows:
            if r["neuron"] != neuron:
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


def accuracy_tables(rows: list[dict], cfg: RetimeStudyConfig) -> str:
    """Markdown: per neuron kind, a methods × Δ_T table of test accuracy (%)."""
    parts = []
    for neuron in dict.fromkeys(r["neuron"] for r in rows):
        table = []
        for method in cfg.methods:
            line = {"method": method}
            for r in rows:
                if r["neuron"] == neuron and r["method"] == method:
                    line[_step_column(r)] = _error_cell(r) if r["error"] else f"{100 * r['accuracy']:.1f}"
            table.append(line)
        parts.append(f"**{neuron}**, trained at {format_time(cfg.train_dt)} on {cfg.dataset}\n\n"
                     + markdown_table(table))
    return "\n\n".join(parts)


def rate_tables(rows: list[dict], cfg: RetimeStudyConfig) -> str:
    """Markdown: per neuron kind, a methods × Δ_T table of hidden spike rates in Hz (spikes per neuron per second).

    One line per method, or per (method, layer) when the model has more than one spiking layer.
    """
    parts = []
    for neuron in dict.fromkeys(r["neuron"] for r in rows):
        mine = [r for r in rows if r["neuron"] == neuron]
        layers = list(dict.fromkeys(name for r in mine for name in (r.get("spike_rates_hz") or {})))
        table = []
        for method in cfg.methods:
            for layer in (layers if len(layers) > 1 else [None]):
                line = {"method": method} if layer is None else {"method": method, "layer": layer}
                for r in mine:
                    if r["method"] != method:
                        continue
                    if r["error"]:
                        line[_step_column(r)] = _error_cell(r)
                        continue
                    hz = r["hidden_rate_hz"] if layer is None else (r["spike_rates_hz"] or {}).get(layer)
                    line[_step_column(r)] = "-" if hz is None else f"{hz:.1f}"
                table.append(line)
        parts.append(f"**{neuron}**: hidden spike rate (Hz, spikes per neuron per second), trained at "
                     f"{format_time(cfg.train_dt)}\n\n" + markdown_table(table))
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
    ax.set_title(f"{neuron}: {cfg.dataset}, trained at {format_time(cfg.train_dt)}")


def _figure(rows: list[dict]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    neurons = list(dict.fromkeys(r["neuron"] for r in rows)) or ["(no rows)"]
    fig, axes = plt.subplots(1, len(neurons), figsize=(5.5 * len(neurons), 4), squeeze=False)
    return fig, list(zip(axes[0], neurons))


def plot(rows: list[dict], cfg: RetimeStudyConfig, path: Path) -> Path:
    """Accuracy (%) against ρ on a log2 axis, one line per method, one panel per neuron kind."""
    fig, panels = _figure(rows)
    for ax, neuron in panels:
        values = []
        for index, method in enumerate(cfg.methods):
            pts = sorted((r["rho"], r["accuracy"]) for r in rows if r["neuron"] == neuron
                         and r["method"] == method and r["accuracy"] is not None)
            if pts:
                values += [100 * p[1] for p in pts]
                ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], label=method, **_style(index))
        ax.set_ylim(*accuracy_ylim(values))
        _ratio_axis(ax, cfg, neuron)
        ax.set_ylabel("test accuracy (%)")
        if values:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return save_figure(fig, path)


def plot_rates(rows: list[dict], cfg: RetimeStudyConfig, path: Path) -> Path:
    """Hidden spike-rate ratio (target Hz / source Hz at ρ = 1) against ρ, log2 axes, one line per method.

    The dotted 1/ρ line is what an unchanged number of spikes per step gives (the ``none`` baseline's trend).
    """
    fig, panels = _figure(rows)
    for ax, neuron in panels:
        values = []
        for index, method in enumerate(cfg.methods):
            pts = sorted((r["rho"], r["rate_ratio"]) for r in rows if r["neuron"] == neuron
                         and r["method"] == method and r.get("rate_ratio") is not None)
            if pts:
                values += [p[1] for p in pts]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=method, **_style(index))
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


def paper_comparison(rows: list[dict]) -> list[dict]:
    """Side by side with the seed paper's only ratio-1/2 figures (SHD: best 89.5 % vs tau 53.0 %)."""
    out = []
    for neuron in dict.fromkeys(r["neuron"] for r in rows):
        half = {r["method"]: r["accuracy"] for r in rows
                if r["neuron"] == neuron and math.isclose(r["rho"], 0.5) and r["accuracy"] is not None}
        source = [r["accuracy"] for r in rows
                  if r["neuron"] == neuron and math.isclose(r["rho"], 1.0) and r["accuracy"] is not None]
        if not half:
            continue
        best = max((m for m in half if m not in ("tau", "none")), key=half.get, default=None)
        out.append({"model": neuron, "source (ρ=1)": _pct(source[0] if source else None),
                    "best map at ρ=1/2": f"{best} {_pct(half.get(best))}" if best else "-",
                    "tau at ρ=1/2": _pct(half.get("tau")), "none at ρ=1/2": _pct(half.get("none"))})
    out.append({"model": "seed paper, SHD", "source (ρ=1)": "not reported", "best map at ρ=1/2": "89.5",
                "tau at ρ=1/2": "53.0", "none at ρ=1/2": "not reported"})
    return out


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _warning_lines(rows: list[dict]) -> str:
    lines = [f"- {r['neuron']} {r['method']} at {format_time(r['eval_dt'])}: {message}"
             for r in rows for message in r.get("warnings") or []]
    return "\n".join(lines)


def write_outputs(rows: list[dict], training: list[dict], cfg: RetimeStudyConfig, out_dir: Path) -> dict:
    """Write JSON, Markdown and the two PNGs (accuracy, spike-rate ratio) for the rows so far."""
    table = accuracy_tables(rows, cfg)
    rates = rate_tables(rows, cfg)
    comparison = markdown_table(paper_comparison(rows))
    text = (f"# Retime study: {cfg.dataset}\n\n{table}\n\n## Hidden spike rates\n\nSpikes per neuron per "
            f"second (rate per step / Δ_T); `retime_rates.png` plots them relative to the source at ρ = 1.\n\n"
            f"{rates}\n\n## Ratio 1/2 (coarse to fine) against the seed paper\n\n{comparison}\n")
    notes = _warning_lines(rows)
    if notes:
        text += f"\n## Retime warnings\n\n{notes}\n"
    write_text(out_dir / "retime_study.md", text)
    result = {"config": asdict(cfg), "training": training, "rows": rows}
    write_json(out_dir / "retime_study.json", result)
    plot(rows, cfg, out_dir / "retime_study.png")
    plot_rates(rows, cfg, out_dir / "retime_rates.png")
    return {**result, "table": table, "rates": rates, "comparison": comparison}


def run_study(cfg: RetimeStudyConfig, out_dir: str | Path) -> dict:
    """Train (or load) each source model, evaluate the grid, and write JSON, Markdown and PNG."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, training = [], []
    if cfg.checkpoint:
        from ..train import load_model

        model = load_model(cfg.checkpoint)
        rows += evaluate_grid(model, cfg, Path(cfg.checkpoint).stem)
        return write_outputs(rows, training, cfg, out_dir)
    result = {}
    for neuron in cfg.neurons:
        model, record = train_source(cfg, neuron, out_dir)
        training.append(record)
        rows += evaluate_grid(model, cfg, neuron)
        result = write_outputs(rows, training, cfg, out_dir)
    return result


def demo(out_dir: Path, quick: bool = True, checkpoint: str | Path | None = None) -> dict:
    """A short retime study on event-digits.

    With ``checkpoint`` (the demo's adLIF model trained at 4 ms) it only evaluates every map at 2, 4 and 8 ms;
    otherwise it first trains a small LIF network for a few epochs.
    """
    if checkpoint is not None:
        cfg = RetimeStudyConfig(checkpoint=str(checkpoint), eval_dts=[2e-3, 4e-3, 8e-3], methods=list(METHODS))
    else:
        cfg = RetimeStudyConfig(neurons=["lif"], eval_dts=[2e-3, 4e-3, 8e-3], methods=["none", "tau", "zoh", "euler"],
                                hidden=[64], epochs=2 if quick else 6, limit_train=400 if quick else None,
                                limit_test=150 if quick else None, recurrent=False)
    result = run_study(cfg, Path(out_dir))
    half = {r["method"]: r["accuracy"] for r in result["rows"] if math.isclose(r["rho"], 0.5)}
    headline = ", ".join(f"{m} {100 * a:.1f}%" for m, a in half.items() if a is not None)
    return {"table": result["table"], "rows": result["rows"], "headline": f"retimed 4 ms -> 2 ms: {headline}"}
