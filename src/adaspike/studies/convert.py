"""Conversion study: train a source ANN, convert it at several T with each stage, tabulate accuracy and energy.

Rows per T: ``baseline`` (binary IF, MSE thresholds, bias correction), ``+adafire`` (per-layer Γ by the
Pareto DP), ``+ssc`` (threshold ratios, on top of AdaFire), ``+iat`` (early exit, on top of SSC; mean steps
used). The AdaFire/SSC/IAT rows come from ONE conversion's stage snapshots, as the pipeline builds them in
order. Energy per sample follows ``adaspike.convert.energy`` (pJ; readout included); "saving" is
1 − E_SNN/E_ANN against the same network run as an ANN (4.6 pJ/MAC). Every evaluation is also watched by
``adaspike.metrics`` (row["metrics"], a ``summary_row``; a second Markdown table).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ..convert import convert, evaluate_ann, evaluate_snn
from ..models.ann import build_ann

log = logging.getLogger("adaspike")

METHODS = ("baseline", "+adafire", "+ssc", "+iat")
UNCONSTRAINED = "+adafire (budget at max Γ)"     # the pre-issue-13 default budget, for the energy comparison


def image_tensors(dataset: str, split: str, root: str | None = None, limit: int | None = None):
    """All images [N, C, H, W] float in [0, 1] and labels of a static dataset from ``adaspike.data``."""
    from ..data import load_dataset

    ds = load_dataset(dataset, split, root=root, **({"limit": limit} if limit else {}))
    if getattr(ds, "is_event_data", False):
        raise ValueError(f"{dataset} is an event dataset; conversion needs static images")
    if hasattr(ds, "images") and hasattr(ds, "labels"):
        x = torch.from_numpy(np.asarray(ds.images, dtype=np.float32) / 255.0)
        y = torch.from_numpy(np.asarray(ds.labels, dtype=np.int64))
    else:
        items = [ds[i] for i in range(len(ds))]
        x, y = torch.stack([i[0] for i in items]), torch.tensor([int(i[1]) for i in items])
    return (x[:limit], y[:limit]) if limit else (x, y)


def load_split(data: str | Path, split: str, root: str | None = None, limit: int | None = None):
    """(inputs, labels) of ``split`` from a ``load_dataset`` name or a folder of tensors.

    A folder holds ``{split}.safetensors`` (or ``{split}.pt``, read with ``weights_only=True``) with tensors
    ``x`` [N, ...] (float inputs as the model expects them) and ``y`` [N] (integer labels).
    """
    folder = Path(data)
    if folder.is_dir():
        st, pt = folder / f"{split}.safetensors", folder / f"{split}.pt"
        if st.exists():
            from safetensors.torch import load_file
            tensors = load_file(str(st))
        elif pt.exists():
            tensors = torch.load(pt, map_location="cpu", weights_only=True)
        else:
            raise FileNotFoundError(f"{folder} has no {split}.safetensors or {split}.pt")
        if not isinstance(tensors, dict) or "x" not in tensors or "y" not in tensors:
            raise ValueError(f"{split} file in {folder} must hold tensors 'x' (inputs) and 'y' (labels)")
        x, y = tensors["x"].float(), tensors["y"].long()
        return (x[:limit], y[:limit]) if limit else (x, y)
    return image_tensors(str(data), split, root, limit)


def _loader(x, y, batch_size, shuffle=False, seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=g)


def train_ann(arch: str, dataset: str = "fashion-mnist", *, epochs: int = 3, batch_size: int = 128,
              lr: float = 2e-3, seed: int = 0, out: str | Path | None = None, root: str | None = None,
              limit: int | None = None, device: str = "cpu", arch_options: dict | None = None):
    """Train a ReLU + BN source CNN with ``adaspike.train.Trainer``; returns (model, test accuracy, history).

    ``limit``: at most N samples of each split (train and test). A test accuracy near chance (below 1.5/C)
    is logged as a warning: converting such a model gives a chance-level SNN.
    """
    from ..train import Trainer, evaluate, save_checkpoint

    torch.manual_seed(seed)
    xtr, ytr = load_split(dataset, "train", root, limit)
    xte, yte = load_split(dataset, "test", root, limit)
    model = build_ann(arch, in_channels=xtr.shape[1], num_classes=int(ytr.max()) + 1, image_size=xtr.shape[-1],
                      **(arch_options or {})).to(device)

    def to_device(x, y):
        return x.to(device), y.to(device)

    trainer = Trainer(model, lr=lr, epochs=epochs, scheduler="cosine", seed=seed, progress=False,
                      batch_transform=to_device, metadata={"dataset": dataset, "arch": arch})
    history = trainer.fit(_loader(xtr, ytr, batch_size, shuffle=True, seed=seed))
    accuracy = evaluate(model, _loader(xte, yte, 1000), device=device)["accuracy"]
    model.eval()
    classes = int(ytr.max()) + 1
    if accuracy < 1.5 / classes:
        log.warning("train-ann: test accuracy %.1f %% is at chance level for %d classes: the ANN has not learnt; "
                    "train longer (--epochs), check the learning rate and the data before converting it",
                    100 * accuracy, classes)
    if out is not None:
        save_checkpoint(out, model.cpu(), {"dataset": dataset, "arch": arch, "test_accuracy": accuracy,
                                           "history": history, "epochs": epochs})
        model.to(device)
    return model, accuracy, history


def _evaluate(snn, loader, T: int, label: str, exit_policy=None, device="cpu") -> tuple[dict, dict]:
    """``evaluate_snn`` with ``adaspike.metrics`` watching the same pass; returns (result, metrics summary row).

    The graph is called once per step (and its batch shrinks as samples exit), so the collector is told the
    number of samples; T is the run's T (the metrics cannot see it: conversion neurons keep no dt).
    """
    from ..metrics import MetricsCollector, summary_row

    collector = MetricsCollector()
    with collector.watch(snn.graph_module):
        result = evaluate_snn(snn, loader, T, exit_policy=exit_policy, device=device)
    metrics = summary_row({**collector.result(samples=result["samples"]), "accuracy": result["accuracy"]}, label)
    metrics["T"] = T
    return result, metrics


def conversion_rows(ann, calib, test_loader, T_values, *, device="cpu", options: dict | None = None,
                    methods=METHODS) -> tuple[list[dict], dict]:
    """Evaluate each method at each T; returns rows and the ANN reference."""
    options = dict(options or {})
    ann = ann.to(device).eval()
    rows, ann_ref = [], None
    for T in T_values:
        tic = time.perf_counter()
        base, _ = convert(ann, calib, T=T, adafire=False, ssc=False, iat=False, device=device,
                          **{k: v for k, v in options.items() if not k.startswith(("ssc_", "iat_", "gamma"))})
        if ann_ref is None:
            ann_ref = evaluate_ann(base, test_loader, device)
        if "baseline" in methods:
            rows.append(_row("baseline", T, *_evaluate(base, test_loader, T, f"baseline T={T}", device=device),
                             ann_ref, gammas=[n.gamma for n in base.neurons]))
        if set(methods) - {"baseline"}:
            snn, report = convert(ann, calib, T=T, adafire=True, ssc=True, iat=True, device=device, **options)
            if UNCONSTRAINED in methods:
                free, free_report = convert(ann, calib, T=T, adafire=True, ssc=False, iat=False, device=device,
                                            **{**options, "gamma_target": None})
                rows.append(_row(UNCONSTRAINED, T, *_evaluate(free, test_loader, T, f"{UNCONSTRAINED} T={T}",
                                                              device=device), ann_ref, gammas=free_report.gammas))
            for name, stage in (("+adafire", "adafire"), ("+ssc", "ssc")):
                if name in methods:
                    snn.load_neuron_config(report.stages[stage])
                    rows.append(_row(name, T, *_evaluate(snn, test_loader, T, f"{name} T={T}", device=device),
                                     ann_ref, gammas=report.gammas,
                                     ratios=report.ssc_ratios if stage == "ssc" else None))
            if "+iat" in methods:
                snn.load_neuron_config(report.stages["ssc"])
                evaluated = _evaluate(snn, test_loader, T, f"+iat T={T}", report.exit_policy, device)
                rows.append(_row("+iat", T, *evaluated, ann_ref, gammas=report.gammas, ratios=report.ssc_ratios,
                                 iat=report.iat_selection))
        log.info("T=%d done in %.1fs", T, time.perf_counter() - tic)
    return rows, ann_ref


def _row(method, T, result, metrics, ann_ref, gammas=None, ratios=None, iat=None) -> dict:
    return {"iat_alpha_beta": None if not iat or iat.get("alpha") is None else
            f"{iat['alpha']:g}/{iat['beta']:.3g}","T": T, "method": method, "accuracy": round(100 * result["accuracy"], 2),
            "delta_pp": round(100 * (result["accuracy"] - ann_ref["accuracy"]), 2),
            "mean_steps": round(result["mean_steps"], 2),
            "energy_uJ": round(result["energy_pj"] / 1e6, 3),
            "saving_vs_ann_%": round(100 * result["energy_saving"], 1),
            "sops_M": round(result["sops"] / 1e6, 3),
            "gammas": gammas, "ssc_ratios": ratios, "steps_histogram": result["steps_histogram"],
            "layers": result["layers"], "metrics": metrics, "iat_selection": iat}


TABLE_COLUMNS = ["T", "method", "accuracy", "delta_pp", "mean_steps", "energy_uJ", "saving_vs_ann_%", "sops_M",
                 "gammas", "ssc_ratios", "iat_alpha_beta"]


def write_results(out_dir: Path, name: str, rows: list[dict], ann_ref: dict, meta: dict) -> str:
    """JSON + Markdown table + plots (accuracy vs T, accuracy vs energy); returns the Markdown table."""
    from ..metrics import SUMMARY_COLUMNS
    from ..report import markdown_table, write_json, write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    # two energy definitions, each under its own name in the tables (the JSON keeps the keys energy_uJ)
    graded, counted = "energy_graded_uJ", "energy_counted_uJ"
    columns = [graded if c == "energy_uJ" else c for c in TABLE_COLUMNS]
    table = markdown_table([{graded if k == "energy_uJ" else k: r[k] for k in TABLE_COLUMNS} for r in rows], columns)
    if all(r.get("metrics") for r in rows):
        metric_columns = [counted if c == "energy_uJ" else c for c in SUMMARY_COLUMNS]
        table += ("\n\nWorkload metrics (`adaspike.metrics` watching the same test pass; per sample; NeuroBench's "
                  "definitions in the nb_ columns, adaspike's burst-aware counts in MACs_M/ACs_M; "
                  f"{counted}: a burst of k is k ACs, {graded} above: a burst is one AC):\n\n"
                  + markdown_table([{counted if k == "energy_uJ" else k: v for k, v in r["metrics"].items()}
                                    for r in rows], metric_columns))
    head = (f"ANN accuracy {100 * ann_ref['accuracy']:.2f} %, ANN energy {ann_ref['energy_pj'] / 1e6:.3f} uJ/sample "
            f"({ann_ref['macs'] / 1e6:.2f} M MACs x 4.6 pJ). SNN energy: 4.6 pJ/MAC for the analog-input layer, "
            "0.9 pJ/AC x non-zero input density for spiking layers (a burst = 1 AC), readout included "
            "(energy_graded_uJ); "
            "SOPs count a burst of k as k.\n\n")
    write_json(out_dir / f"{name}.json", {"meta": meta, "ann": ann_ref, "rows": rows})
    write_text(out_dir / f"{name}.md", head + table + "\n")
    _plots(out_dir, name, rows, ann_ref, _title(meta))
    return head + table


def _title(meta: dict) -> str:
    """What a convert figure shows, from the study's metadata (not its file name)."""
    model = meta.get("arch") or "ANN"
    data = Path(str(meta.get("dataset", ""))).name or "its data"
    tested = f", {meta['test_samples']} test samples" if meta.get("test_samples") else ""
    return f"{model} on {data}: converted SNN against its ANN{tested}"


def _plots(out_dir: Path, name: str, rows: list[dict], ann_ref: dict, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..report import save_figure
    from ..report.plots import series_style

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for index, method in enumerate(dict.fromkeys(r["method"] for r in rows)):
        sel = [r for r in rows if r["method"] == method]
        ax1.plot([r["T"] for r in sel], [r["accuracy"] for r in sel], label=method, **series_style(index))
        ax2.plot([r["energy_uJ"] for r in sel], [r["accuracy"] for r in sel], label=method, **series_style(index))
    for ax in (ax1, ax2):
        ax.axhline(100 * ann_ref["accuracy"], color="k", ls="--", lw=1,
                   label=f"ANN accuracy ({100 * ann_ref['accuracy']:.2f} %)")
        ax.set_ylabel("test accuracy (%)")
    ax1.set_xscale("log", base=2)
    steps = sorted({r["T"] for r in rows})
    ax1.set_xticks(steps, [str(T) for T in steps])
    ax1.set_xlabel("time steps T")
    ax2.axvline(ann_ref["energy_pj"] / 1e6, color="gray", ls=":", lw=1,
                label=f"ANN energy ({ann_ref['energy_pj'] / 1e6:.3g} µJ per sample)")
    ax2.set_xscale("log")
    ax2.set_xlabel("energy per sample (µJ)")
    ax1.set_title("accuracy against time steps", fontsize=10)
    ax2.set_title("accuracy against energy", fontsize=10)
    for ax in (ax1, ax2):
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, out_dir / f"{name}.png")
    plt.close(fig)


def run_study(arch: str, ann, dataset: str, out_dir: Path, T_values, *, calib_size: int = 1024,
              test_limit: int | None = None, batch_size: int = 128, device: str = "cpu", root=None,
              options: dict | None = None, methods=METHODS, seed: int = 0, limit: int | None = None) -> dict:
    """Convert ``ann`` with un-augmented training images as calibration data and evaluate on the test set.

    ``dataset``: a ``load_dataset`` name or a folder of tensors (``load_split``). ``limit`` bounds every split
    read; ``test_limit`` the test set alone.
    """
    xtr, ytr = load_split(dataset, "train", root, limit)
    g = torch.Generator()
    g.manual_seed(seed)
    pick = torch.randperm(len(ytr), generator=g)[:calib_size]
    calib = (xtr[pick], ytr[pick])
    bound = min(v for v in (limit, test_limit) if v) if (limit or test_limit) else None
    xte, yte = load_split(dataset, "test", root, bound)
    rows, ann_ref = conversion_rows(ann, calib, _loader(xte, yte, 500), T_values, device=device,
                                    options={"batch_size": batch_size, **(options or {})}, methods=methods)
    meta = {"arch": arch, "dataset": dataset, "calibration_samples": calib_size, "calibration_data":
            "un-augmented training images (random subset)", "test_samples": len(yte), "device": str(device),
            "options": options or {}}
    table = write_results(Path(out_dir), f"convert_{arch}_{Path(str(dataset)).name}", rows, ann_ref, meta)
    return {"rows": rows, "ann": ann_ref, "table": table}


def demo(out_dir: Path, quick: bool = True) -> dict:
    """Short study (< 90 s on 2 cores): a small VGG ANN on the 8×8 digits, converted at T = 1, 2, 4."""
    torch.manual_seed(0)
    out_dir = Path(out_dir)
    xtr, ytr = image_tensors("digits", "train")
    xte, yte = image_tensors("digits", "test")
    ann = build_ann("vgg", in_channels=1, num_classes=10, image_size=8, widths=(8, "M", 16, "M"), hidden=32)
    from ..train import Trainer

    Trainer(ann, lr=3e-3, epochs=6 if quick else 15, scheduler="cosine", progress=False).fit(
        _loader(xtr, ytr, 64, shuffle=True))
    ann.eval()
    options = {"batch_size": 128, "gammas": (1, 2, 4), "threshold_batches": 3,
               "ssc_ratios": (1.0, 1.5, 2.0, 3.0)}
    rows, ann_ref = conversion_rows(ann, (xtr, ytr), _loader(xte, yte, 400), (1, 2, 4) if quick else (1, 2, 4, 8),
                                    options=options)
    table = write_results(out_dir, "convert_demo_digits", rows, ann_ref, {"dataset": "digits", "arch": "vgg-small"})
    return {"table": table, "ann_accuracy": ann_ref["accuracy"],
            "rows": [{k: r[k] for k in TABLE_COLUMNS} for r in rows]}


def event_frames_study(out_dir: Path, T: int = 8, dataset: str = "event-digits", epochs: int = 30,
                       seed: int = 0, mean_frame_control: bool = False) -> dict:
    """An event-driven classifier: a CNN trained on the mean of T event frames, converted into an SNN fed the
    frames themselves (one per step; ``convert(frames=True)``).

    ``mean_frame_control`` also converts the same ANN for the mean frame fed at every step (direct coding;
    baseline and AdaFire rows, a second table ``..._meanframe``): it separates the conversion's error from what
    feeding the frames one by one costs.

    Data: ``load_dataset(dataset, split, dt=0.3 s / T)`` (t_max 0.3 s, so exactly T frames), counts divided by
    the largest mean-frame value of the training set. ANN: small VGG (16, M, 32, M; hidden 64; average pooling),
    Adam 3e-3, cosine, ``epochs`` epochs, batch 64. Calibration: the whole training split, un-augmented.
    """
    from ..data import load_dataset
    from ..train import Trainer

    def frames(split):
        ds = load_dataset(dataset, split, dt=0.3 / T)
        items = [ds[i] for i in range(len(ds))]
        return torch.stack([i[0] for i in items]).float(), torch.tensor([int(i[1]) for i in items])

    torch.manual_seed(seed)
    ftr, ytr = frames("train")
    fte, yte = frames("test")
    scale = float(ftr.mean(1).amax()) or 1.0
    ftr, fte = ftr / scale, fte / scale
    ann = build_ann("vgg", in_channels=ftr.shape[2], num_classes=int(ytr.max()) + 1, image_size=ftr.shape[-1],
                    widths=(16, "M", 32, "M"), hidden=64)
    Trainer(ann, lr=3e-3, epochs=epochs, scheduler="cosine", seed=seed, progress=False).fit(
        _loader(ftr.mean(1), ytr, 64, shuffle=True, seed=seed))
    ann.eval()
    rows, ann_ref = conversion_rows(ann, (ftr, ytr), _loader(fte, yte, 200), [T], options={"frames": True})
    meta = {"dataset": dataset, "frames": T, "dt_s": 0.3 / T, "epochs": epochs, "seed": seed,
            "train_samples": len(ytr), "test_samples": len(yte),
            "ann_input": "mean of the T frames", "snn_input": "one frame per step"}
    table = write_results(Path(out_dir), f"convert_events_{dataset}_T{T}", rows, ann_ref, meta)
    result = {"rows": rows, "ann": ann_ref, "table": table}
    if mean_frame_control:
        control, _ = conversion_rows(ann, (ftr.mean(1), ytr), _loader(fte.mean(1), yte, 200), [T],
                                     methods=("baseline", "+adafire"))
        result["control_rows"] = control
        result["control_table"] = write_results(Path(out_dir), f"convert_events_{dataset}_T{T}_meanframe", control,
                                                 ann_ref, {**meta, "snn_input": "the mean frame at every step"})
    return result
