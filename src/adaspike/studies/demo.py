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
                     "test accuracy": result.get("accuracy", ""), "time (s)": time.perf_counter() - part_tic})
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
    rows = [r for r in result.get("rows", []) if isinstance(r.get("accuracy"), (int, float))]
    if not rows:
        return ""
    best = max(rows, key=lambda r: r["accuracy"])
    keys = [k for k in ("model", "encoding", "adaptive", "method", "T") if k in best]
    label = ", ".join(f"{k} {best[k]}" for k in keys)
    extra = f" (ANN {_fraction(result['ann_accuracy']):.1%})" if "ann_accuracy" in result else ""
    return f"best: {label}: {_fraction(best['accuracy']):.1%}{extra}"


def _fraction(accuracy: float) -> float:
    # studies report accuracy either as a fraction or in percent
    return accuracy / 100 if accuracy > 1 else accuracy


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
    rates = core["spike_rates"]
    lines = ["# adaspike demo", "", markdown_table(rows), "", "Core spike rates (spikes per neuron per step):", "",
             markdown_table([{"layer": k, "rate": v} for k, v in rates.items()])]
    for name in CAPABILITIES:
        if name in summary and summary[name].get("table"):
            lines += ["", f"## {name}", "", summary[name]["table"]]
    text = "\n".join(lines)
    write_text(out / "results.md", text)
    write_json(out / "results.json", summary)
    return text
