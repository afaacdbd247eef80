"""``adaspike demo``: the main job on the embedded data.

Core part: a recurrent adLIF network trained on event-digits at 4 ms, with a results table, JSON, a spike
raster and a learning curve. Then each capability's short study (retime, convert, coding) when installed.
"""
from __future__ import annotations

import importlib
import logging
import time
import traceback
from pathlib import Path

import torch

from ..report import markdown_table, write_json, write_text
from ..report import save_figure
from ..report.plots import firing_rate_histogram, spike_raster
from .train_run import TRAIN_DEFAULTS, train_run

__all__ = ["CAPABILITIES", "CORE", "PERCENT_FIELDS", "percent", "render_results", "run_demo", "study_rows"]

log = logging.getLogger("adaspike")
CAPABILITIES = ("retime", "convert", "coding")
# exactly `adaspike train --dataset event-digits --model snn`: the recurrent adLIF recipe (up to 40 epochs, early
# stopping); camera events train the conv SNN when no model is named, which this short demo does not show
CORE = dict(dataset="event-digits", model="snn", dt=4e-3, pool=2, seed=0)


def run_demo(out: Path | str = "runs/demo", skip: set[str] = frozenset(), epochs: int | None = None,
             progress: bool = True) -> int:
    out = Path(out)
    tic = time.perf_counter()
    config = {**CORE, **({"epochs": epochs} if epochs else {})}
    print(f"[demo] core: recurrent adLIF on event-digits at dt = 4 ms (`adaspike train` defaults, up to "
          f"{config.get('epochs', TRAIN_DEFAULTS['epochs'])} epochs, validation split from the training data) "
          f"-> {out / 'core'}")
    core = train_run(out=out / "core", progress=progress, **config)
    _core_figures(out / "core", core)
    rows = [{"part": "core", "what": "recurrent adLIF, event-digits, dt 4 ms",
             "test accuracy": core["test_accuracy"], "time (s)": core["train_time_s"]}]
    summary = {"core": {k: v for k, v in core.items() if k != "history"}}
    failed = []
    for name in CAPABILITIES:
        if name in skip:
            continue
        try:
            module = importlib.import_module(f"adaspike.studies.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"adaspike.studies.{name}":
                raise
            continue
        print(f"[demo] {name} study -> {out / name}")
        part_tic = time.perf_counter()
        # the retime study adapts the core model instead of training its own
        extra = {"checkpoint": out / "core" / "model.safetensors"} if name == "retime" else {}
        try:
            result = module.demo(out / name, quick=True, **extra)
        except Exception:  # keep going: one failing study must not hide the others' results
            failed.append(name)
            log.error("%s study failed:\n%s", name, traceback.format_exc())
            continue
        summary[name] = result
        rows.append({"part": name, "what": result.get("headline") or _headline(name, result),
                     "test accuracy": result.get("accuracy"), "time (s)": time.perf_counter() - part_tic})
    summary["total_time_s"] = time.perf_counter() - tic
    table = _report(out, core, rows, summary)
    print(table)
    if failed:
        print(f"[demo] failed parts: {', '.join(failed)} (see the log above)")
        return 1
    print(f"[demo] done in {summary['total_time_s']:.0f} s; results in {out}/")
    return 0


def _headline(name: str, result: dict) -> str:
    """One line for the summary table from a study's rows (best row by accuracy)."""
    rows = [r for r in study_rows(name, result) if isinstance(r.get("accuracy"), (int, float))]
    if not rows:
        return ""
    best = max(rows, key=lambda r: r["accuracy"])
    keys = [k for k in ("model", "encoding", "adaptive", "method", "T") if k in best]
    label = ", ".join(f"{k} {best[k]}" for k in keys)
    extra = f" (ANN {percent(result['ann_accuracy'])})" if "ann_accuracy" in result else ""
    return f"best: {label}: {percent(best['accuracy'])}{extra}"


# Accuracy is a fraction everywhere in the demo and a percentage only in rendered text. The convert study's rows
# carry it in percent (its JSON's convention): those fields are divided by 100 on the way in.
PERCENT_FIELDS = {"convert": ("accuracy",)}


def study_rows(name: str, result: dict) -> list[dict]:
    """A study's rows with every accuracy as a fraction."""
    fields = PERCENT_FIELDS.get(name, ())
    return [{k: v / 100 if k in fields and isinstance(v, (int, float)) else v for k, v in row.items()}
            for row in result.get("rows", [])]


def percent(fraction: float | None, digits: int = 1) -> str:
    """A fraction as rendered text: 0.9642 -> '96.4 %'; None (not measured) -> '–'."""
    return "–" if fraction is None else f"{100 * fraction:.{digits}f} %"


def _text(value) -> str:
    """A table cell: '–' for nothing, lists joined with '/', numbers to 4 significant digits."""
    if value is None or value == "":
        return "–"
    if isinstance(value, (list, tuple)):
        return "/".join(_text(v) for v in value) or "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _signed(value) -> str:
    return "–" if value is None else f"{value:+.2f}"


# the columns of each study's table in results.md: (header, row key, how to render the value)
STUDY_COLUMNS = {
    "convert": [("T", "T", _text), ("method", "method", _text), ("test accuracy", "accuracy", percent),
                ("vs ANN (points)", "delta_pp", _signed), ("mean steps", "mean_steps", _text),
                ("energy (µJ)", "energy_uJ", _text),
                ("energy saved vs ANN", "saving_vs_ann_%", lambda v: "–" if v is None else f"{v:.1f} %"),
                ("Γ per layer", "gammas", _text), ("SSC ratios", "ssc_ratios", _text),
                ("IAT α/β", "iat_alpha_beta", _text)],
    "coding": [("model", "model", _text), ("encoding", "encoding", _text), ("adaptive", "adaptive", _text),
               ("T", "T", _text), ("seed", "seed", _text), ("test accuracy", "accuracy", percent),
               ("validation accuracy", "val_accuracy", percent), ("best epoch", "best_epoch", _text),
               ("train accuracy", "train_accuracy", percent), ("s/epoch", "epoch_time_s", _text),
               ("spikes/sample", "spikes_per_sample", _text)],
}
STUDY_NOTES = {"retime": "Test accuracy (%) of the core model retimed zero-shot to each step, by method.",
               "convert": "A small VGG on the 8×8 digits, converted without training; test split.",
               "coding": "LeNet on the 8×8 digits, direct and hybrid coding, fixed and time-step-adaptive neurons."}


def render_results(core: dict, rows: list[dict], summary: dict) -> str:
    """results.md of the demo: one summary table, the core's spike rates and each study's table. Accuracies are
    fractions in ``core``, ``rows`` and ``summary`` and are shown as percentages; empty cells show '–'."""
    overview = [{"part": r["part"], "what": r["what"] or "–", "test accuracy": percent(r["test accuracy"]),
                 "time (s)": f"{r['time (s)']:.0f}"} for r in rows]
    rates = [{"layer": k, "spikes per neuron per step": f"{v:.4f}"} for k, v in core["spike_rates"].items()]
    lines = ["# adaspike demo", "", markdown_table(overview), "", "Core spike rates:", "", markdown_table(rates)]
    for name in CAPABILITIES:
        result = summary.get(name)
        if not result:
            continue
        if name in STUDY_COLUMNS and result.get("rows"):
            table = markdown_table([{head: show(row.get(key)) for head, key, show in STUDY_COLUMNS[name]}
                                    for row in study_rows(name, result)])
        elif result.get("table"):
            table = result["table"]
        else:
            continue
        lines += ["", f"## {name}", "", STUDY_NOTES.get(name, ""), "", table]
    return "\n".join(lines)


def _core_figures(folder: Path, core: dict) -> None:
    from ..train import load_model
    from .experiment import make_loaders

    model = load_model(folder / "model.safetensors")
    loaders = make_loaders(CORE["dataset"], dt=CORE["dt"], batch_size=8, pool=CORE["pool"])
    x, y = next(iter(loaders.test))
    with torch.no_grad():
        spikes = model.hidden[0](x.flatten(2))
    save_figure(spike_raster(spikes[:, 0], dt=CORE["dt"], title=f"hidden-layer spikes, test sample "
                             f"(label {int(y[0])})"), folder / "spike_raster.png")
    save_figure(firing_rate_histogram({"input": x, "hidden": spikes}, dt=CORE["dt"]), folder / "firing_rates.png")


def _report(out: Path, core: dict, rows: list[dict], summary: dict) -> str:
    text = render_results(core, rows, summary)
    write_text(out / "results.md", text)
    write_json(out / "results.json", summary)
    return text
