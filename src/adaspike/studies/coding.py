"""The coding study: encodings × {standard, time-step-adaptive} × T for the Spiking ResNet and the Spikformer
(docs/pages/specs/hybrid_asnn.md §8), with accuracy on the real test set, training time per epoch and peak memory.

Memory is measured as the peak resident-set growth during training: ru_maxrss after training minus the RSS
just before it, in a fresh process per cell (``isolate=True``) so earlier cells cannot hide the peak. On CUDA
it is torch.cuda.max_memory_allocated during training minus the memory allocated before it. Evaluation always uses eval mode (running BN statistics).
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import resource
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from ..layers.adaptive import PerStepLIF
from ..models import build_model
from ..models.blocks import FASHION_MNIST_STATS
from ..report import markdown_table, save_figure, write_json, write_text

log = logging.getLogger("adaspike")
MODEL_NAMES = {"resnet": "spiking-resnet", "spiking-resnet": "spiking-resnet", "sew-resnet": "sew-resnet",
               "spikformer": "spikformer", "lenet": "lenet"}
COLUMNS = ["model", "encoding", "adaptive", "T", "accuracy", "test_loss", "train_accuracy", "epoch_time_s",
           "peak_mem_mb", "spikes_per_sample", "params"]


@dataclass
class CodingStudyConfig:
    dataset: str = "fashion-mnist"
    models: list[str] = field(default_factory=lambda: ["resnet", "spikformer"])
    encodings: list[str] = field(default_factory=lambda: ["direct", "rate", "temporal", "hybrid"])
    adaptive: list[str] = field(default_factory=lambda: ["off", "on"])
    steps: list[int] = field(default_factory=lambda: [2, 4, 8])
    train_limit: int | None = 2000
    test_limit: int | None = None
    epochs: int = 1
    batch_size: int = 64
    lr: float = 5e-3
    width: int = 8
    bn_mode: str = "flat"
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    isolate: bool = True
    root: str | None = None


def _model_kwargs(cfg: CodingStudyConfig, model: str, encoding: str, adaptive: str, T: int, shape, classes) -> dict:
    name = MODEL_NAMES[model]
    kwargs = dict(T=T, encoding=encoding, adaptive=adaptive, in_channels=shape[0], num_classes=classes,
                  bn_mode=cfg.bn_mode, seed=cfg.seed)
    if encoding == "direct" and cfg.dataset == "fashion-mnist":
        kwargs["normalize"] = FASHION_MNIST_STATS
    if name == "spikformer":
        kwargs.update(dim=max(8, 4 * cfg.width), heads=2)
    elif name == "lenet":
        kwargs.update(width=cfg.width, input_size=tuple(shape[1:]))
    else:
        kwargs.update(width=cfg.width)
    return kwargs


def load_tensors(dataset: str, split: str, limit: int | None, root: str | None = None):
    """A static dataset as (images float [N, C, H, W] in [0, 1], labels), the first ``limit`` samples."""
    from ..data import load_dataset

    data = load_dataset(dataset, split, root=root, limit=limit)
    images = torch.from_numpy(data.images).float().div_(255.0)
    return images, torch.from_numpy(data.labels).long(), data.num_classes


def batch_loader(x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = False, seed: int = 0):
    """Whole batches by one index op (per-sample indexing would dominate the timings of small models)."""
    data = TensorDataset(x, y)
    order = (RandomSampler(data, generator=torch.Generator().manual_seed(seed)) if shuffle
             else SequentialSampler(data))
    return DataLoader(data, batch_size=None, sampler=BatchSampler(order, batch_size, drop_last=False))


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:  # pragma: no cover - non-Linux
        return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


@torch.no_grad()
def evaluate_with_spikes(model: nn.Module, loader, device) -> dict:
    """Eval-mode accuracy, loss and spikes per sample (all PerStepLIF outputs summed over time)."""
    model.eval()
    counts = [0.0]
    hooks = [m.register_forward_hook(lambda mod, inp, out: counts.__setitem__(0, counts[0] + float(out.sum())))
             for m in model.modules() if isinstance(m, PerStepLIF)]
    correct = loss = total = 0.0
    try:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            correct += float((logits.argmax(-1) == y).sum())
            loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            total += len(y)
    finally:
        for h in hooks:
            h.remove()
    return {"accuracy": correct / total, "test_loss": loss / total, "spikes_per_sample": counts[0] / total}


def run_cell(cfg: CodingStudyConfig, model: str, encoding: str, adaptive: str, T: int) -> dict:
    """Train one configuration from scratch and measure it."""
    from ..train import Trainer

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    x_train, y_train, classes = load_tensors(cfg.dataset, "train", cfg.train_limit, cfg.root)
    x_test, y_test, _ = load_tensors(cfg.dataset, "test", cfg.test_limit, cfg.root)
    train = batch_loader(x_train.to(device), y_train.to(device), cfg.batch_size, shuffle=True, seed=cfg.seed)
    test = batch_loader(x_test.to(device), y_test.to(device), 256)
    net = build_model(MODEL_NAMES[model], **_model_kwargs(cfg, model, encoding, adaptive, T,
                                                           x_train.shape[1:], classes)).to(device)
    trainer = Trainer(net, lr=cfg.lr, epochs=cfg.epochs, optimizer="adam", scheduler="cosine",
                      seed=cfg.seed, progress=False)
    _warm_up(net, x_train[:4].to(device), y_train[:4].to(device))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device) / 2**20 if device.type == "cuda" else _rss_mb()
    tic = time.perf_counter()
    history = trainer.fit(train)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    train_time = time.perf_counter() - tic
    # in-process (isolate=False) ru_maxrss may predate this cell, so the growth can read as 0
    peak = max(0.0, (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else _peak_rss_mb()) - before)
    metrics = evaluate_with_spikes(net, test, device)
    return {"model": model, "encoding": encoding, "adaptive": adaptive, "T": T, **metrics,
            "train_accuracy": history[-1]["train_accuracy"], "epoch_time_s": train_time / cfg.epochs,
            "peak_mem_mb": peak, "params": sum(p.numel() for p in net.parameters()),
            "memory_measure": "cuda max_memory_allocated - allocated before training (MiB)" if device.type == "cuda"
            else "ru_maxrss - RSS before training (MiB)"}


def _warm_up(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """One forward/backward on a copy, so JIT compilation (numba/CUDA kernels) is not timed as training."""
    import copy

    clone = copy.deepcopy(net)
    nn.functional.cross_entropy(clone(x), y).backward()
    del clone


def _cell_in_child(args) -> dict:
    return run_cell(*args)


def run_coding_study(cfg: CodingStudyConfig, out_dir: Path, on_row=None) -> list[dict]:
    """Run every cell (each in a fresh process with ``isolate``), writing results as they arrive."""
    out_dir = Path(out_dir)
    cells = [(m, e, a, T) for m in cfg.models for e in cfg.encodings for a in cfg.adaptive for T in cfg.steps]
    for model in cfg.models:
        if model not in MODEL_NAMES:
            raise ValueError(f"unknown model {model!r} for the coding study; choose from {sorted(MODEL_NAMES)}")
    rows: list[dict] = []
    context = mp.get_context("spawn")
    for cell in cells:
        if cfg.isolate:
            with context.Pool(1) as pool:
                row = pool.apply(_cell_in_child, ((cfg, *cell),))
        else:
            row = run_cell(cfg, *cell)
        rows.append(row)
        log.info("coding study %s: acc %.4f, %.1f s/epoch", cell, row["accuracy"], row["epoch_time_s"])
        write_results(cfg, rows, out_dir)
        if on_row is not None:
            on_row(row)
    return rows


def write_results(cfg: CodingStudyConfig, rows: list[dict], out_dir: Path) -> str:
    """JSON (config + rows), Markdown table and plot; returns the Markdown table."""
    table = markdown_table(rows, COLUMNS)
    write_json(out_dir / "coding_study.json", {"config": asdict(cfg), "rows": rows})
    notes = (f"Dataset {cfg.dataset}: first {cfg.train_limit or 'all'} training images, "
             f"{cfg.epochs} epoch(s), Adam lr {cfg.lr} with cosine schedule, batch {cfg.batch_size}, "
             f"width {cfg.width}, BN mode {cfg.bn_mode}, seed {cfg.seed}; accuracy on {cfg.test_limit or 'the full'} test set "
             f"in eval mode. Memory: {rows[0].get('memory_measure', '') if rows else ''}.\n\n")
    write_text(out_dir / "coding_study.md", "# Coding study\n\n" + notes + table)
    if rows:
        plot_results(rows, out_dir / "coding_study.png")
    return table


def plot_results(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(2, len(models), figsize=(5 * len(models), 7), squeeze=False)
    for col, model in enumerate(models):
        for (enc, ada) in sorted({(r["encoding"], r["adaptive"]) for r in rows if r["model"] == model}):
            sel = sorted((r for r in rows if r["model"] == model and r["encoding"] == enc and r["adaptive"] == ada),
                         key=lambda r: r["T"])
            style = "-" if ada != "off" else "--"
            label = f"{enc} / adaptive {ada}"
            axes[0, col].plot([r["T"] for r in sel], [r["accuracy"] for r in sel], style, marker="o", label=label)
            axes[1, col].plot([r["T"] for r in sel], [r["epoch_time_s"] for r in sel], style, marker="o", label=label)
        axes[0, col].set_title(model)
        axes[0, col].set_ylabel("test accuracy")
        axes[1, col].set_ylabel("training time per epoch (s)")
        axes[1, col].set_xlabel("time steps T")
        axes[0, col].legend(fontsize=7)
    save_figure(fig, path)


def demo(out_dir: Path, quick: bool = True) -> dict:
    """A short coding study on the embedded 8×8 digits: LeNet, direct vs hybrid, adaptive off/on, T = 2."""
    cfg = CodingStudyConfig(dataset="digits", models=["lenet"],
                            encodings=["direct", "hybrid"] if quick else ["direct", "temporal", "hybrid"],
                            adaptive=["off", "on"], steps=[2] if quick else [2, 4], train_limit=None,
                            epochs=10 if quick else 20, batch_size=32, lr=5e-3, width=8, isolate=False)
    rows = run_coding_study(cfg, Path(out_dir))
    table = markdown_table(rows, COLUMNS)
    return {"table": table, "rows": rows, "files": [str(Path(out_dir) / n) for n in
                                                     ("coding_study.json", "coding_study.md", "coding_study.png")]}
