"""The retime study: train once at Δ_S (or load a checkpoint), then evaluate every (method, Δ_T) pair zero-shot.

Outputs under ``out_dir``: ``retime_study.json`` (config, training record, one row per evaluation),
``retime_study.md`` (accuracy tables, one per neuron kind, methods × target steps) and ``retime_study.png``
(accuracy against ρ = Δ_T/Δ_S on a log axis; ρ < 1 is coarse-to-fine, ρ > 1 fine-to-coarse).
"""
from __future__ import annotations

import logging
import math
import time
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
    """One row per (method, target step): accuracy of the zero-shot retimed model (None with the error)."""
    from ..train import evaluate

    rows = []
    for dt in cfg.eval_dts:
        test = _loader(load_split(cfg, "test", dt), cfg, False)
        rho = dt / cfg.train_dt
        for method in cfg.methods:
            row = {"neuron": label, "method": method, "train_dt": cfg.train_dt, "eval_dt": dt, "rho": rho,
                   "accuracy": None, "loss": None, "error": None}
            try:
                adapted = retime(model, dt=dt, method=method)
                metrics = evaluate(adapted, test)
                row.update(accuracy=metrics["accuracy"], loss=metrics["loss"])
            except RetimeError as err:
                row["error"] = str(err)
            rows.append(row)
            log.info("%s %s dt=%s: %s", label, method, format_time(dt), row["accuracy"] if row["error"] is None
                     else row["error"])
    return rows


def accuracy_tables(rows: list[dict], cfg: RetimeStudyConfig) -> str:
    """Markdown: per neuron kind, a methods × Δ_T table of test accuracy (%)."""
    parts = []
    for neuron in dict.fromkeys(r["neuron"] for r in rows):
        table = []
        for method in cfg.methods:
            line = {"method": method}
            for r in rows:
                if r["neuron"] == neuron and r["method"] == method:
                    key = f"{format_time(r['eval_dt'])} (ρ={r['rho']:g})"
                    line[key] = "unstable" if r["error"] else f"{100 * r['accuracy']:.1f}"
            table.append(line)
        parts.append(f"**{neuron}**, trained at {format_time(cfg.train_dt)} on {cfg.dataset}\n\n"
                     + markdown_table(table))
    return "\n\n".join(parts)


def plot(rows: list[dict], cfg: RetimeStudyConfig, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    neurons = list(dict.fromkeys(r["neuron"] for r in rows))
    fig, axes = plt.subplots(1, len(neurons), figsize=(5.5 * len(neurons), 4), squeeze=False)
    for ax, neuron in zip(axes[0], neurons):
        for method in cfg.methods:
            pts = sorted((r["rho"], r["accuracy"]) for r in rows if r["neuron"] == neuron
                         and r["method"] == method and r["accuracy"] is not None)
            if pts:
                ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker="o", label=method)
        ax.set_xscale("log", base=2)
        ax.axvline(1.0, color="grey", lw=0.8)
        lo, hi = ax.get_xlim()
        ax.axvspan(lo, 1.0, color="tab:blue", alpha=0.05)
        ax.axvspan(1.0, hi, color="tab:orange", alpha=0.05)
        ax.set_xlim(lo, hi)
        ax.text(0.02, 0.02, "coarse → fine", transform=ax.transAxes, fontsize=8)
        ax.text(0.98, 0.02, "fine → coarse", transform=ax.transAxes, fontsize=8, ha="right")
        ax.set_xlabel("ρ = Δ_T / Δ_S")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{neuron}: {cfg.dataset}, trained at {format_time(cfg.train_dt)}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def paper_comparison(rows: list[dict]) -> list[dict]:
    """Side by side with the seed paper's only ratio-1/2 figures (SHD: best 89.5 % vs tau 53.0 %)."""
    out = []
    for neuron in dict.fromkeys(r["neuron"] for r in rows):
        half = {r["method"]: r["accuracy"] for r in rows
                if r["neuron"] == neuron and math.isclose(r["rho"], 0.5) and r["accuracy"] is not None}
        source = [r["accuracy"] for r in rows if r["neuron"] == neuron and r["rho"] == 1.0 and r["accuracy"]]
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


def write_outputs(rows: list[dict], training: list[dict], cfg: RetimeStudyConfig, out_dir: Path) -> dict:
    """Write JSON, Markdown and PNG for the rows so far (called after every source model)."""
    table = accuracy_tables(rows, cfg)
    comparison = markdown_table(paper_comparison(rows))
    text = (f"# Retime study: {cfg.dataset}\n\n{table}\n\n## Ratio 1/2 (coarse to fine) against the seed "
            f"paper\n\n{comparison}\n")
    write_text(out_dir / "retime_study.md", text)
    result = {"config": asdict(cfg), "training": training, "rows": rows}
    write_json(out_dir / "retime_study.json", result)
    plot(rows, cfg, out_dir / "retime_study.png")
    return {**result, "table": table, "comparison": comparison}


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
