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
from ..report import markdown_table, write_json, write_text
from ..report.retime_study import (accuracy_tables, direct_table, paper_comparison, plot, plot_rates, rate_tables,
                                   target_table, variant_name, variants, warning_lines)
from ..retime import SPIKE_RULES, RetimeError, retime, retime_methods
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
                metrics = evaluate(adapted, test, collectors=[collector])
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
    notes = warning_lines(rows)
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
