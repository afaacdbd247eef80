"""The event-camera study (``adaspike study events``): the convolutional SNN on real recordings against baselines.

Every row follows ``adaspike train``'s protocol: the validation set is carved from the training split (15 %,
class-balanced, fixed split seed), the model of the best validation epoch is kept (or, for the linear model, the
regularisation chosen on it), and the test split is evaluated once. Rows, each over ``seeds``:

- ``conv-snn``: ``adaspike train --dataset D`` with its defaults (the convolutional SNN for camera events);
- ``snn``: ``adaspike train --dataset D --model snn``, the recurrent adLIF MLP over pooled pixels;
- ``logistic``: multinomial logistic regression (scikit-learn) on each recording's event count per pixel and
  polarity, log(1 + n) and standardised, its C chosen on the validation split (deterministic: one run);
- ``conv-ann``: the conv SNN's layout with ReLU instead of neurons, on event frames (each recording's counts
  summed over time), trained with the conv SNN's recipe (optimiser, epochs, augmentation, selection).

Time per epoch and peak memory come from one fresh process per run (``isolate``): peak memory is the process's
ru_maxrss after training minus its RSS just before, so the data, the model and autograd's buffers count, and no
earlier run can hide a peak. The learning curve repeats the rows with the training split limited to fewer
recordings (class-balanced; the validation share is carved from them; the test split stays whole).

With ``convert_T`` the conv ANN is also converted (``adaspike.convert``, one event frame per step) for each T and
set beside the conv SNN retimed to the same step (:func:`conversion_rows_at_budgets`).

Outputs under ``out``: ``events_study.json``, ``events_study.md``, ``events_learning_curve.png`` (with dotted
power-law extrapolations of the test error, an extrapolation and no more) and ``events_raster.png`` (one test
recording through the seed-0 conv SNN).
"""
from __future__ import annotations

import json
import logging
import math
import multiprocessing as mp
import os
import platform
import resource
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..report import markdown_table, write_json, write_text
from ..report.events_study import (WORKLOAD_KEYS, conversion_table, curve_table, draw_raster, gap_table,
                                   plot_learning_curve, results_table, seeds_text)
from .event_baselines import (FrameANN, conv_ann_run, frame_ann, frames, load_frame_ann, logistic_regression_run,
                              snn_run)

log = logging.getLogger("adaspike")

__all__ = ["BASELINES", "EventsStudyConfig", "FrameANN", "conv_ann_run", "conversion_rows_at_budgets", "frame_ann",
           "logistic_regression_run", "run_events_study"]

BASELINES = ("conv-snn", "snn", "logistic", "conv-ann")


@dataclass
class EventsStudyConfig:
    """What the study trains: ``models`` (of ``BASELINES``) × ``seeds``, then the learning curve of
    ``curve_models`` at ``curve`` training recordings. ``epochs`` None: each recipe's own."""

    dataset: str = "nmnist"
    root: str | None = None
    models: list[str] = field(default_factory=lambda: list(BASELINES))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    curve: list[int] = field(default_factory=lambda: [150, 300, 600])
    curve_models: list[str] = field(default_factory=lambda: ["conv-snn", "snn", "logistic"])
    curve_seeds: list[int] | None = None    # None: every seed of the main rows
    epochs: int | None = None
    limit: int | None = None
    threads: int = 2
    isolate: bool = True
    convert_T: list[int] = field(default_factory=list)  # conversion vs direct training at these step counts

    def __post_init__(self) -> None:
        unknown = sorted((set(self.models) | set(self.curve_models)) - set(BASELINES))
        if unknown:
            raise ValueError(f"unknown study model(s) {unknown}; choose from {list(BASELINES)}")
        if not self.seeds:
            raise ValueError("the study needs at least one seed")
        if self.curve_seeds is not None and not set(self.curve_seeds) <= set(self.seeds):
            raise ValueError(f"learning-curve seeds {self.curve_seeds} must be among the study's seeds {self.seeds}")
        if any(n < 20 for n in self.curve):
            raise ValueError(f"learning-curve sizes must be >= 20 recordings, got {self.curve}")


# -- one run, measured in a fresh process ------------------------------------------------------------------------

def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _measured_run(kind: str, arguments: dict, threads: int) -> dict:
    """Run one study row; adds ``peak_memory_mb`` (ru_maxrss − RSS before the run, MiB)."""
    torch.set_num_threads(threads)
    before = _rss_mb()
    if kind == "logistic":
        result = logistic_regression_run(**{k: v for k, v in arguments.items() if k not in ("out", "epochs")})
    elif kind == "conv-ann":
        result = conv_ann_run(**arguments)
    else:
        result = snn_run(model=kind, **arguments)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB
    return {**result, "peak_memory_mb": max(0.0, peak - before), "peak_rss_mb": peak}


def _run_row(cfg: EventsStudyConfig, kind: str, seed: int, limit: int | None, out_dir: Path) -> dict:
    """One (model, seed, training size) row; a finished row with the same settings is reused."""
    name = f"{kind}_n{limit or 'all'}_seed{seed}"
    folder = out_dir / "runs" / name
    arguments = {"dataset": cfg.dataset, "root": cfg.root, "seed": seed, "out": folder, "epochs": cfg.epochs,
                 "limit": limit}
    settings = json.loads(json.dumps({**arguments, "kind": kind, "threads": cfg.threads}, default=str))
    done = folder / "row.json"
    if done.is_file():
        row = json.loads(done.read_text())
        if row.get("settings") == settings:
            log.info("reusing the finished run %s", name)
            return row
    folder.mkdir(parents=True, exist_ok=True)
    log.info("events study: %s", name)
    if cfg.isolate:
        with mp.get_context("spawn").Pool(1) as pool:
            result = pool.apply(_measured_run, (kind, arguments, cfg.threads))
    else:
        result = _measured_run(kind, arguments, cfg.threads)
    row = {"model": kind, "seed": seed, "limit": limit, **result, "settings": settings,
           "measured_in_fresh_process": cfg.isolate}
    write_json(done, row)
    return row


@torch.no_grad()
def plot_raster(checkpoint: str | Path, dataset: str, root: str | None, path: Path, index: int = 0) -> Path:
    """One test recording through a trained conv SNN: input events, each spiking layer's spikes, readout traces."""
    from ..data import load_dataset
    from ..layers import LeakyIntegrator, NeuronLayer
    from ..train import load_model, read_checkpoint

    model = load_model(checkpoint).eval()
    data_meta = read_checkpoint(checkpoint)[2].get("data", {})
    test = load_dataset(dataset, "test", dt=data_meta.get("dt"), root=root, **data_meta.get("options", {}))
    x, label = test[index]
    recorded: dict[str, tuple[bool, torch.Tensor]] = {}  # name -> (is the readout, output [T, 1, ...])
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: recorded.__setitem__(
        name, (isinstance(m, LeakyIntegrator), o))) for name, m in model.named_modules()
        if isinstance(m, (NeuronLayer, LeakyIntegrator))]
    logits = model(x[:, None])
    for hook in hooks:
        hook.remove()
    panels = [("input events", False, x[:, None])] + [(name, readout, out) for name, (readout, out) in recorded.items()]
    return draw_raster(panels, label, int(logits.argmax()), float(test.dt), path)


# -- conversion against direct training, at equal time budgets ---------------------------------------------------

def conversion_rows_at_budgets(ann_checkpoint: str | Path, snn_checkpoint: str | Path, dataset: str, root: str | None,
                               T_values=(8, 16, 32, 75), methods=("baseline", "+adafire", "+ssc", "+iat")) -> list[dict]:
    """The conv ANN (event frames) converted for T steps of t_max/T each, beside the conv SNN trained directly and
    retimed (zoh, spike rule in seconds) to the same step: accuracy, mean steps and the workload and energy of
    the same test pass (``adaspike.metrics``: NeuroBench's definitions, 4.6 pJ/MAC, 0.9 pJ/AC), per T.

    The converted SNN gets one frame per step (``convert(frames=True)``, frames × T so that their mean is the
    whole-recording frame the ANN learnt from), calibrated on the whole training split (un-augmented); the ANN
    reference reads the whole recording at once.
    """
    from torch.utils.data import DataLoader, TensorDataset

    from ..data import time_major_collate
    from ..metrics import MetricsCollector, summary_row
    from ..retime import retime, source_dt
    from ..train import evaluate, load_model, read_checkpoint
    from .convert import conversion_rows

    ann = load_frame_ann(ann_checkpoint)
    options = dict(read_checkpoint(ann_checkpoint)[2]["data"]["options"])  # as the ANN was trained (limit too)
    snn = load_model(snn_checkpoint).eval()
    rows: list[dict] = []
    for T in T_values:
        x_train, y_train, dt = frames(dataset, root, "train", T, options)
        x_test, y_test, _ = frames(dataset, root, "test", T, options)
        converted, ann_ref = conversion_rows(ann, (T * x_train, y_train), DataLoader(TensorDataset(T * x_test, y_test),
                                                                                     batch_size=128),
                                             [T], options={"frames": True}, methods=methods)
        if not rows:
            rows.append({"T": "-", "dt_ms": "-", "model": "ANN on the whole recording (reference)",
                         "accuracy": round(100 * ann_ref["accuracy"], 2), "mean_steps": "-", "act_sparsity": None,
                         "MACs_M": round(ann_ref["macs"] / 1e6, 3), "ACs_M": 0.0,
                         "energy_uJ": round(ann_ref["energy_pj"] / 1e6, 3)})
        for r in converted:
            rows.append({"T": T, "dt_ms": round(1e3 * dt, 3), "model": f"converted ANN, {r['method']}",
                         "accuracy": r["accuracy"], "mean_steps": r["mean_steps"],
                         **{k: r["metrics"].get(k) for k in WORKLOAD_KEYS}})
        direct = snn if math.isclose(source_dt(snn), dt) else retime(snn, dt=dt, method="zoh")
        test = DataLoader(list(zip(x_test, y_test.tolist())), batch_size=128, collate_fn=time_major_collate)
        collector = MetricsCollector()
        metrics = evaluate(direct, test, collectors=[collector])
        summary = summary_row({**collector.result(step_s=dt), "accuracy": metrics["accuracy"]}, "conv SNN")
        label = "" if direct is snn else f", retimed (zoh) from {1e3 * source_dt(snn):g} ms"
        rows.append({"T": T, "dt_ms": round(1e3 * dt, 3), "model": f"conv SNN trained directly{label}",
                     "accuracy": round(100 * metrics["accuracy"], 2), "mean_steps": T,
                     **{k: summary.get(k) for k in WORKLOAD_KEYS}})
    return rows


def _protocol(cfg: EventsStudyConfig, rows: list[dict]) -> str:
    first = next((r for r in rows if r["model"] == "conv-snn"), rows[0] if rows else {})
    return (f"Data: `{cfg.dataset}` from `{cfg.root}` ({first.get('train_samples')} training, "
            f"{first.get('val_samples')} validation (15 % of the training split), {first.get('test_samples')} test "
            f"recordings). Seeds {cfg.seeds}; epochs: {cfg.epochs or 'each recipe’s default'} (early stop on the "
            f"validation split). Machine: {platform.machine()}, {os.cpu_count()} CPUs, {cfg.threads} torch "
            f"threads, torch {torch.__version__}; "
            f"{'one fresh process per run' if cfg.isolate else 'all runs in one process'}. Times and memory "
            "are only comparable between runs made on a quiet machine.")


def write_outputs(cfg: EventsStudyConfig, rows: list[dict], curve_rows: list[dict], out_dir: Path,
                  conversion: list[dict] | None = None) -> dict:
    main, gaps, curve = results_table(rows), gap_table(rows), curve_table(curve_rows)
    converted = conversion_table(conversion or [])
    text = (f"# Event-camera study: {cfg.dataset}\n\n{_protocol(cfg, rows)}\n\n## Test accuracy\n\n"
            f"{markdown_table(main)}\n\n{markdown_table(gaps) if gaps else ''}\n")
    if curve:
        text += ("\n## Learning curve\n\nTest accuracy (%) as the training split grows (class-balanced subsets; "
                 f"15 % of each held out for validation; the whole test split every time; "
                 f"{seeds_text(cfg.curve_seeds or cfg.seeds)}).\n\n"
                 f"{markdown_table(curve)}\n")
    if converted:
        text += ("\n## Converted ANN against the SNN trained directly\n\nThe conv ANN on event frames converted "
                 "(`adaspike.convert`, frames one per step) and the conv SNN retimed to the same step, both over the "
                 "whole recording in T steps; workload and energy per test sample from the same pass "
                 f"(`adaspike.metrics`; 4.6 pJ/MAC, 0.9 pJ/AC); {seeds_text(cfg.seeds)}.\n\n"
                 f"{markdown_table(converted)}\n")
    write_text(out_dir / "events_study.md", text)
    write_json(out_dir / "events_study.json", {"config": asdict(cfg), "rows": rows, "curve": curve_rows,
                                               "conversion": conversion or []})
    if curve_rows:
        plot_learning_curve(curve_rows, out_dir / "events_learning_curve.png",
                            f"{cfg.dataset}: test accuracy vs training recordings "
                            f"({seeds_text(cfg.curve_seeds or cfg.seeds)}); dotted: power-law extrapolation")
    return {"table": main, "gaps": gaps, "curve": curve, "conversion": converted, "markdown": text}


def _training_size(cfg: EventsStudyConfig) -> int:
    from ..data import load_dataset

    options = {"limit": cfg.limit} if cfg.limit else {}
    return len(load_dataset(cfg.dataset, "train", root=cfg.root, **options))


def _converted(pair: dict, cfg: EventsStudyConfig, seed: int, out_dir: Path) -> list[dict]:
    """The conversion rows of one seed, one T at a time; a finished T with the same models is reused."""
    rows = []
    for T in cfg.convert_T:
        done = out_dir / "runs" / f"convert_T{T}_seed{seed}.json"
        if done.is_file() and json.loads(done.read_text()).get("pair") == pair:
            rows += json.loads(done.read_text())["rows"]
            continue
        found = [{**r, "seed": seed} for r in conversion_rows_at_budgets(pair["conv-ann"], pair["conv-snn"],
                                                                          cfg.dataset, cfg.root, [T])]
        write_json(done, {"pair": pair, "rows": found})
        rows += found
    reference = [r for r in rows if r["T"] == "-"][:1]  # the ANN reference: one row, whatever T found it
    return reference + [r for r in rows if r["T"] != "-"]


def run_events_study(cfg: EventsStudyConfig, out_dir: str | Path) -> dict:
    """Every row, the learning curve and the figures; outputs are rewritten after every run (resumable)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, curve_rows = [], []
    for kind in cfg.models:
        for seed in cfg.seeds:
            rows.append(_run_row(cfg, kind, seed, cfg.limit, out_dir))
            write_outputs(cfg, rows, curve_rows, out_dir)
    full = _training_size(cfg)
    for n in sorted(set(cfg.curve)):
        for kind in cfg.curve_models:
            for seed in cfg.seeds if cfg.curve_seeds is None else cfg.curve_seeds:
                # the whole training split is the main rows' run: reuse it rather than retrain a reordered copy
                same = [r for r in rows if r["model"] == kind and r["seed"] == seed] if n >= full else []
                row = same[0] if same else _run_row(cfg, kind, seed, n, out_dir)
                curve_rows.append({**row, "train_recordings": min(n, full)})
                write_outputs(cfg, rows, curve_rows, out_dir)
    conversion = []
    for seed in cfg.seeds if cfg.convert_T else []:
        pair = {r["model"]: r["checkpoint"] for r in rows if r["seed"] == seed and r.get("checkpoint")}
        if {"conv-ann", "conv-snn"} <= set(pair):
            conversion += _converted(pair, cfg, seed, out_dir)
            write_outputs(cfg, rows, curve_rows, out_dir, conversion)
    result = write_outputs(cfg, rows, curve_rows, out_dir, conversion)
    source = next((r for r in rows if r["model"] == "conv-snn" and r.get("checkpoint")), None)
    if source is not None:
        result["raster"] = str(plot_raster(source["checkpoint"], cfg.dataset, cfg.root, out_dir / "events_raster.png"))
    return {**result, "rows": rows, "curve_rows": curve_rows, "conversion_rows": conversion}
