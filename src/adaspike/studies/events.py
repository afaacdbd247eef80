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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..report import markdown_table, save_figure, write_json, write_text
from .experiment import make_loaders
from .train_run import train_run, train_settings

log = logging.getLogger("adaspike")

__all__ = ["BASELINES", "EventsStudyConfig", "FrameANN", "conv_ann_run", "conversion_rows_at_budgets", "frame_ann",
           "logistic_regression_run", "run_events_study"]

BASELINES = ("conv-snn", "snn", "logistic", "conv-ann")
LOGISTIC_C = (1e-3, 1e-2, 1e-1, 1.0)
COUNT_DT = 0.1  # the linear model reads whole-recording counts: coarse bins read them fastest
PUBLISHED_NMNIST = (60_000, 0.99)  # spiking CNNs on the full N-MNIST split: about 98-99.5 % (data README)


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


# -- the baselines built here -----------------------------------------------------------------------------------

def frame_ann(input_shape, classes: int, channels=(16, 32), hidden=(), pooling: str = "max",
              dropout: float = 0.0, kernel: int = 3) -> nn.Sequential:
    """The conv SNN's layout (conv → BatchNorm → act → pool, flatten, [linear → BatchNorm → act], linear) with
    ReLU for the neurons, over one frame [B, C, H, W]; plain layers, so ``adaspike.convert`` can trace it."""
    from ..models.ann import _pool

    c_in, height, width = (int(v) for v in input_shape)
    layers: list[nn.Module] = []
    for c_out in channels:
        layers += [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out),
                   nn.ReLU(), _pool(pooling)]
        c_in, height, width = c_out, height // 2, width // 2
    layers.append(nn.Flatten())
    size = c_in * height * width
    for width_fc in hidden:
        layers += [nn.Dropout(dropout), nn.Linear(size, width_fc, bias=False), nn.BatchNorm1d(width_fc), nn.ReLU()]
        size = width_fc
    layers += [nn.Dropout(dropout), nn.Linear(size, classes)]
    return nn.Sequential(*layers)


class FrameANN(nn.Module):
    """An ANN over event frames fed binned counts [T, B, ...]: the frame is the sum over the recording's steps."""

    def __init__(self, ann: nn.Module):
        super().__init__()
        self.ann = ann

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ann(x.sum(0))


def conv_ann_run(dataset: str, root: str | None, seed: int, out: Path, epochs: int | None = None,
                 limit: int | None = None) -> dict:
    """The conv SNN's layout as an ANN on event frames, trained with the conv SNN's recipe; test split once."""
    from ..train import Trainer, save_checkpoint
    from .train_run import default_augmentation

    settings = train_settings(dataset, "conv-snn", epochs=epochs)
    options = {**settings["options"], **({"limit": limit} if limit else {})}
    loaders = make_loaders(dataset, dt=settings["dt"], batch_size=settings["batch_size"], seed=seed, root=root,
                           **options)
    model_options = settings["model_options"]
    layout = dict(input_shape=list(loaders.train_set.input_shape), classes=int(loaders.train_set.num_classes),
                  channels=list(model_options.get("channels", (16, 32))), hidden=list(settings.get("hidden", ())),
                  pooling=model_options.get("pooling", "max"), dropout=settings.get("dropout", 0.0),
                  kernel=model_options.get("kernel", 3))
    torch.manual_seed(seed)
    model = FrameANN(frame_ann(**layout))
    augmentation = (default_augmentation(loaders.train_set, **settings["augmentation"]) if settings["augment"]
                    else None)
    trainer = Trainer(model, lr=settings["lr"], epochs=settings["epochs"], seed=seed, out_dir=out, progress=False,
                      scheduler="cosine", weight_decay=settings["weight_decay"], optimizer="adamw",
                      patience=settings["patience"] or None, batch_transform=augmentation, log_file=False)
    tic = time.perf_counter()
    history = trainer.fit(loaders.train, loaders.val)
    train_time = time.perf_counter() - tic
    final = trainer.evaluate(loaders.test)
    save_checkpoint(out / "ann.safetensors", model.ann, {"frame_ann": layout, "data": {
        "dataset": dataset, "options": options, "dt": float(loaders.train_set.dt),
        "input": "event frames (counts summed over the recording)"}})
    (out / "last.safetensors").unlink(missing_ok=True)
    return {"test_accuracy": final["accuracy"], "val_accuracy": (trainer.selected or {}).get("val_accuracy"),
            "selected": trainer.selected, "epochs_run": len(history), "train_time_s": train_time,
            "epoch_time_s": train_time / max(1, len(history)), "train_samples": len(loaders.train_set),
            "val_samples": len(loaders.val_set or []), "test_samples": len(loaders.test_set),
            "params": _params(model), "dt": float(loaders.train_set.dt), "checkpoint": str(out / "ann.safetensors")}


def _count_features(data) -> tuple[np.ndarray, np.ndarray]:
    """Each recording's event count per input feature (pixel × polarity), log(1 + n), and its labels."""
    features, labels = [], []
    for i in range(len(data)):
        x, y = data[i]
        features.append(np.log1p(x.sum(0).reshape(-1).numpy()))
        labels.append(int(y))
    return np.stack(features), np.asarray(labels)


def logistic_regression_run(dataset: str, root: str | None, seed: int = 0, limit: int | None = None,
                            c_values=LOGISTIC_C) -> dict:
    """Logistic regression on event counts at full resolution; C chosen on the validation split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    options = {"pool": 1, **({"limit": limit} if limit else {})}
    loaders = make_loaders(dataset, root=root, seed=seed, dt=COUNT_DT, **options)  # counts over the recording
    tic = time.perf_counter()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (_count_features(d) for d in
                                                             (loaders.train_set, loaders.val_set, loaders.test_set))
    scaler = StandardScaler().fit(x_train)
    x_train, x_val, x_test = (scaler.transform(x) for x in (x_train, x_val, x_test))
    fits = {}
    for c in c_values:
        fit = LogisticRegression(C=c, max_iter=1000).fit(x_train, y_train)
        fits[c] = (float((fit.predict(x_val) == y_val).mean()), fit)
    best = max(c_values, key=lambda c: (fits[c][0], -c))  # ties: the stronger regularisation
    model = fits[best][1]
    return {"test_accuracy": float((model.predict(x_test) == y_test).mean()), "val_accuracy": fits[best][0],
            "selected": {"C": best, "val_accuracy_by_C": {str(c): fits[c][0] for c in c_values}},
            "epochs_run": None, "train_time_s": time.perf_counter() - tic, "epoch_time_s": None,
            "train_samples": len(y_train), "val_samples": len(y_val), "test_samples": len(y_test),
            "params": int(model.coef_.size + model.intercept_.size)}


def _params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def _snn_run(dataset: str, root: str | None, model: str, seed: int, out: Path, epochs: int | None = None,
             limit: int | None = None) -> dict:
    from ..train import load_model

    result = train_run(dataset=dataset, root=root, model=model, seed=seed, out=out, progress=False, epochs=epochs,
                       **({"limit": limit} if limit else {}))
    keys = ("test_accuracy", "val_accuracy", "selected", "epochs_run", "train_time_s", "epoch_time_s",
            "train_samples", "val_samples", "test_samples", "spike_rates_hz", "dt", "model_config")
    return {**{k: result.get(k) for k in keys}, "params": _params(load_model(out / "model.safetensors")),
            "checkpoint": str(out / "model.safetensors")}


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
        result = _snn_run(model=kind, **arguments)
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


# -- tables and figures ------------------------------------------------------------------------------------------

def _mean_sd(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, sd


def _pct(values: list[float]) -> str:
    mean, sd = _mean_sd([100 * v for v in values])
    return f"{mean:.1f}" + (f" ± {sd:.1f}" if len(values) > 1 else "")


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
        table.append({"model": LABELS.get(kind, kind), "test accuracy %": _pct([r["test_accuracy"] for r in mine]),
                      "per seed": ", ".join(f"{100 * r['test_accuracy']:.1f}" for r in mine),
                      "validation %": _pct([r["val_accuracy"] for r in mine]),
                      "selected (epoch or C)": ", ".join(selected),
                      "epochs run": ", ".join(str(r["epochs_run"]) for r in mine if r.get("epochs_run")) or "-",
                      "time / epoch (s)": _mean_of(mine, "epoch_time_s", "{:.1f}"),
                      "training time (s)": _mean_of(mine, "train_time_s"),
                      "peak memory (MiB)": _mean_of(mine, "peak_memory_mb"), "parameters": mine[0].get("params")})
    return table


def gap_table(rows: list[dict], reference: str = "conv-snn") -> list[dict]:
    """The reference model's mean test accuracy minus each other model's (percentage points)."""
    means = {k: _mean_sd([r["test_accuracy"] for r in rows if r["model"] == k])[0]
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
                line[f"{n} recordings"] = _pct(values)
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
        stats = [_mean_sd([100 * r["test_accuracy"] for r in curve_rows
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


@torch.no_grad()
def plot_raster(checkpoint: str | Path, dataset: str, root: str | None, path: Path, index: int = 0) -> Path:
    """One test recording through a trained conv SNN: input events, each spiking layer's spikes, readout traces."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    dt = float(test.dt)
    panels = [("input events", False, x[:, None])] + [(name, readout, out) for name, (readout, out) in recorded.items()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 1.9 * len(panels)), sharex=True)
    for ax, (name, readout, values) in zip(axes, panels):
        values = values[:, 0].reshape(values.shape[0], -1).float()
        t = (np.arange(values.shape[0]) + 0.5) * dt * 1e3
        if readout:  # the leaky integrator: one membrane trace per class
            for c in range(values.shape[1]):
                ax.plot(t, values[:, c].numpy(), lw=1.6 if c == label else 0.7, color="C3" if c == label else "grey")
            ax.set_ylabel("membrane")
            ax.set_title(f"{name}: readout (true class {label} in red, predicted {int(logits.argmax())})", fontsize=8)
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


# -- conversion against direct training, at equal time budgets ---------------------------------------------------

def _frames(dataset: str, root: str | None, split: str, T: int, options: dict):
    """Recordings as T frames [N, T, C, H, W] (bins of t_max/T), their labels and the bin width (s)."""
    from ..data import load_dataset

    window = load_dataset(dataset, split, root=root, **options).t_max
    data = load_dataset(dataset, split, dt=window / T, root=root, **options)
    items = [data[i] for i in range(len(data))]
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items]), float(data.dt)


def _load_frame_ann(path: str | Path) -> nn.Module:
    from ..train import read_checkpoint
    from ..train.checkpoint import load_state

    state, _, meta = read_checkpoint(path)
    ann = frame_ann(**meta["frame_ann"])
    load_state(ann, state, str(path))
    return ann.eval()


WORKLOAD_KEYS = ("act_sparsity", "MACs_M", "ACs_M", "energy_uJ")


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

    ann = _load_frame_ann(ann_checkpoint)
    options = dict(read_checkpoint(ann_checkpoint)[2]["data"]["options"])  # as the ANN was trained (limit too)
    snn = load_model(snn_checkpoint).eval()
    rows: list[dict] = []
    for T in T_values:
        x_train, y_train, dt = _frames(dataset, root, "train", T, options)
        x_test, y_test, _ = _frames(dataset, root, "test", T, options)
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
        with collector.watch(direct):
            metrics = evaluate(direct, test)
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


def conversion_table(conversion: list[dict]) -> list[dict]:
    """Per (T, model): accuracy mean ± sd over seeds and the means of mean steps, workload and energy."""
    table = []
    for key in dict.fromkeys((r["T"], r["dt_ms"], r["model"]) for r in conversion):
        group = [r for r in conversion if (r["T"], r["dt_ms"], r["model"]) == key]
        line = {"T": key[0], "Δt (ms)": key[1], "model": key[2],
                "accuracy %": _pct([r["accuracy"] / 100 for r in group])}
        for column in ("mean_steps", *WORKLOAD_KEYS):
            values = [r[column] for r in group if isinstance(r.get(column), (int, float))]
            line[column] = round(sum(values) / len(values), 3) if values else "-"
        table.append(line)
    return table


def _seeds_text(seeds: list[int]) -> str:
    return f"{len(seeds)} seed{'' if len(seeds) == 1 else 's'}"


def write_outputs(cfg: EventsStudyConfig, rows: list[dict], curve_rows: list[dict], out_dir: Path,
                  conversion: list[dict] | None = None) -> dict:
    main, gaps, curve = results_table(rows), gap_table(rows), curve_table(curve_rows)
    converted = conversion_table(conversion or [])
    text = (f"# Event-camera study: {cfg.dataset}\n\n{_protocol(cfg, rows)}\n\n## Test accuracy\n\n"
            f"{markdown_table(main)}\n\n{markdown_table(gaps) if gaps else ''}\n")
    if curve:
        text += ("\n## Learning curve\n\nTest accuracy (%) as the training split grows (class-balanced subsets; "
                 f"15 % of each held out for validation; the whole test split every time; "
                 f"{_seeds_text(cfg.curve_seeds or cfg.seeds)}).\n\n"
                 f"{markdown_table(curve)}\n")
    if converted:
        text += ("\n## Converted ANN against the SNN trained directly\n\nThe conv ANN on event frames converted "
                 "(`adaspike.convert`, frames one per step) and the conv SNN retimed to the same step, both over the "
                 "whole recording in T steps; workload and energy per test sample from the same pass "
                 f"(`adaspike.metrics`; 4.6 pJ/MAC, 0.9 pJ/AC); {_seeds_text(cfg.seeds)}.\n\n"
                 f"{markdown_table(converted)}\n")
    write_text(out_dir / "events_study.md", text)
    write_json(out_dir / "events_study.json", {"config": asdict(cfg), "rows": rows, "curve": curve_rows,
                                               "conversion": conversion or []})
    if curve_rows:
        plot_learning_curve(curve_rows, out_dir / "events_learning_curve.png",
                            f"{cfg.dataset}: test accuracy vs training recordings "
                            f"({_seeds_text(cfg.curve_seeds or cfg.seeds)}); dotted: power-law extrapolation")
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
