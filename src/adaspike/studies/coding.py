"""The coding study: encodings × {standard, time-step-adaptive} × T × seeds (docs/pages/specs/hybrid_asnn.md §8),
with a validation split carved from the training data, per-epoch validation curves (epochs to reach a fixed
accuracy), one final test evaluation, training time per epoch and peak memory.

Data: a fixed class-balanced validation split of the training set (``validation_split``, data seed 0, the
same for every run) selects the epoch; training uses at most ``limit`` class-balanced images of the rest; the
test set is evaluated once, with the selected weights. ``train_bn_at_eval`` additionally reports the test
accuracy with training-mode BatchNorm on batches of 256, as the authors' code (which never calls ``eval()``).

Memory is the peak resident-set growth during training: ru_maxrss after training minus the RSS just before
it, in a fresh process per run (``isolate=True``) so earlier runs cannot hide the peak. On CUDA it is
torch.cuda.max_memory_allocated during training minus the memory allocated before it.

Every run is written to ``out/runs/<run>.json`` as it finishes; a rerun with the same settings reuses
finished runs, so an interrupted grid resumes where it stopped.
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import resource
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from ..layers.adaptive import PerStepLIF
from ..layers.norm import TemporalBatchNorm
from ..models import build_model
from ..models.blocks import FASHION_MNIST_STATS
from ..report import markdown_table, write_json, write_text
from ..report.coding_study import plot_results, summarise

log = logging.getLogger("adaspike")
MODEL_NAMES = {"resnet": "spiking-resnet", "spiking-resnet": "spiking-resnet", "sew-resnet": "sew-resnet",
               "spikformer": "spikformer", "lenet": "lenet"}
COLUMNS = ["model", "encoding", "adaptive", "T", "seed", "accuracy", "val_accuracy", "best_epoch",
           "train_accuracy", "epoch_time_s", "peak_mem_mb", "spikes_per_sample", "params"]
# settings that do not change a run's result (so a rerun that only changes them reuses finished runs)
_NOT_RESULT = ("models", "encodings", "adaptive", "steps", "seeds", "device", "threads", "isolate", "root",
               "targets")
DATA_SEED = 0  # the validation split and the training subset are the same for every run


@dataclass
class CodingStudyConfig:
    dataset: str = "fashion-mnist"
    models: list[str] = field(default_factory=lambda: ["resnet", "spikformer"])
    encodings: list[str] = field(default_factory=lambda: ["direct", "rate", "temporal", "hybrid"])
    adaptive: list[str] = field(default_factory=lambda: ["off", "on"])
    steps: list[int] = field(default_factory=lambda: [2, 4, 7])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    limit: int | None = 2000          # training images (class-balanced); None = the whole training part
    val_limit: int | None = 1000      # validation images (class-balanced, from the training split)
    test_limit: int | None = None     # test images (the first N); None = the whole test set
    val_fraction: float = 0.1
    epochs: int = 5
    batch_size: int = 64
    lr: float = 5e-3
    width: int = 8
    convs: int = 2                    # LeNet conv blocks (the authors' demo has 3)
    hidden: int = 128                 # LeNet fc width (the authors' demo has 256)
    bn_mode: str = "flat"
    mixup: bool = False               # mixup before encoding, λ ~ U(0, 1), off for the last 27.5 % of epochs
    train_bn_at_eval: bool = False    # also report test accuracy with training-mode BN (the authors' code)
    targets: list[float] = field(default_factory=lambda: [0.75, 0.8])
    device: str = "cpu"
    threads: int = 1
    isolate: bool = True
    root: str | None = None


def _model_kwargs(cfg: CodingStudyConfig, model: str, encoding: str, adaptive: str, T: int, seed: int, shape,
                  classes) -> dict:
    name = MODEL_NAMES[model]
    kwargs = dict(T=T, encoding=encoding, adaptive=adaptive, in_channels=shape[0], num_classes=classes,
                  bn_mode=cfg.bn_mode, seed=seed)
    if encoding == "direct" and cfg.dataset == "fashion-mnist":
        kwargs["normalize"] = FASHION_MNIST_STATS
    if name == "spikformer":
        kwargs.update(dim=max(8, 4 * cfg.width), heads=2)
    elif name == "lenet":
        kwargs.update(width=cfg.width, input_size=tuple(shape[1:]), convs=cfg.convs, hidden=cfg.hidden)
    else:
        kwargs.update(width=cfg.width)
    return kwargs


def load_tensors(dataset: str, split: str, limit: int | None = None, root: str | None = None):
    """A static dataset as (images float [N, C, H, W] in [0, 1], labels), the first ``limit`` samples."""
    from ..data import load_dataset

    data = load_dataset(dataset, split, root=root, limit=limit)
    images = torch.from_numpy(data.images).float().div_(255.0)
    return images, torch.from_numpy(data.labels).long(), data.num_classes


def balanced_subset(indices: np.ndarray, labels: np.ndarray, limit: int | None, seed: int = DATA_SEED) -> np.ndarray:
    """At most ``limit`` of ``indices``, the same number from every class (seeded choice), sorted."""
    if limit is None or limit >= len(indices):
        return np.sort(indices)
    classes = np.unique(labels[indices])
    per_class = max(1, limit // len(classes))
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(indices[labels[indices] == c])[:per_class] for c in classes]
    return np.sort(np.concatenate(picked))


_SPLITS: dict[tuple, tuple] = {}  # in-process runs of one grid share the loaded splits


def study_splits(cfg: CodingStudyConfig):
    """(train, validation, test) as (images, labels) tensors, and the number of classes."""
    key = (cfg.dataset, cfg.root, cfg.limit, cfg.val_limit, cfg.test_limit, cfg.val_fraction)
    if key not in _SPLITS:
        _SPLITS.clear()
        _SPLITS[key] = _load_splits(cfg)
    return _SPLITS[key]


def _load_splits(cfg: CodingStudyConfig):
    from ..data.splits import validation_split

    x, y, classes = load_tensors(cfg.dataset, "train", None, cfg.root)
    labels = y.numpy()
    train_idx, val_idx = validation_split(labels, cfg.val_fraction, seed=DATA_SEED)
    train_idx = torch.from_numpy(balanced_subset(train_idx, labels, cfg.limit))
    val_idx = torch.from_numpy(balanced_subset(val_idx, labels, cfg.val_limit))
    x_test, y_test, _ = load_tensors(cfg.dataset, "test", cfg.test_limit, cfg.root)
    return (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx]), (x_test, y_test), classes


def batch_loader(x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = False, seed: int = 0):
    """Whole batches by one index op (per-sample indexing would dominate the timings of small models)."""
    data = TensorDataset(x, y)
    order = (RandomSampler(data, generator=torch.Generator().manual_seed(seed)) if shuffle
             else SequentialSampler(data))
    return DataLoader(data, batch_size=None, sampler=BatchSampler(order, batch_size, drop_last=False))


class EpochMixup:
    """Mixup (λ ~ U(0, 1), the authors' code) that switches itself off from ``stop_epoch``.

    The Trainer does not tell batch transforms the epoch, so this counts batches (``batches_per_epoch``).
    """

    def __init__(self, classes: int, batches_per_epoch: int, stop_epoch: int, seed: int):
        from ..train.recipes import Mixup

        self.mixup = Mixup(classes, alpha=None, stop_epoch=stop_epoch, seed=seed)
        self.batches_per_epoch, self.calls = int(batches_per_epoch), 0

    def __call__(self, x, y):
        self.mixup.set_epoch(self.calls // self.batches_per_epoch)
        self.calls += 1
        return self.mixup(x, y)

    def __repr__(self) -> str:
        return f"EpochMixup(uniform λ, stop_epoch={self.mixup.stop_epoch})"


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:  # pragma: no cover - non-Linux
        return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def evaluate_with_spikes(model: nn.Module, loader, device=None, train_bn: bool = False, collectors=()) -> dict:
    """Accuracy, loss and spikes per sample (all PerStepLIF outputs summed over time) in eval mode, by
    ``adaspike.train.evaluate`` (``collectors`` watch the same pass).

    ``train_bn=True`` normalises with each test batch's own statistics (the authors' code); running
    statistics are left untouched.
    """
    from ..train import SpikeRateMonitor, evaluate

    spikes = SpikeRateMonitor(kinds=PerStepLIF)
    norms = [m for m in model.modules() if isinstance(m, TemporalBatchNorm)]
    before = [m.train_bn_at_eval for m in norms]
    for m in norms:
        m.train_bn_at_eval = train_bn
    try:
        metrics = evaluate(model, loader, nn.CrossEntropyLoss(reduction="sum"), collectors=(spikes, *collectors),
                           device=device)
    finally:
        for m, flag in zip(norms, before):
            m.train_bn_at_eval = flag
    return {"accuracy": metrics["accuracy"], "test_loss": metrics["loss"],
            "spikes_per_sample": spikes.total_spikes() / max(1, metrics["samples"])}


def run_cell(cfg: CodingStudyConfig, model: str, encoding: str, adaptive: str, T: int, seed: int = 0) -> dict:
    """Train one configuration from scratch (best validation epoch kept), then test it once."""
    from ..train import Trainer

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(seed)
    device = torch.device(cfg.device)
    (x_train, y_train), (x_val, y_val), (x_test, y_test), classes = study_splits(cfg)
    train = batch_loader(x_train.to(device), y_train.to(device), cfg.batch_size, shuffle=True, seed=seed)
    val = batch_loader(x_val.to(device), y_val.to(device), 256)
    test = batch_loader(x_test.to(device), y_test.to(device), 256)
    net = build_model(MODEL_NAMES[model], **_model_kwargs(cfg, model, encoding, adaptive, T, seed,
                                                           x_train.shape[1:], classes)).to(device)
    mixup = (EpochMixup(classes, len(train), stop_epoch=max(1, round(cfg.epochs * 145 / 200)), seed=seed)
             if cfg.mixup else None)
    trainer = Trainer(net, lr=cfg.lr, epochs=cfg.epochs, optimizer="adam", scheduler="cosine", seed=seed,
                      progress=False, batch_transform=mixup)
    if cfg.train_bn_at_eval:
        # the authors' code never calls eval(): validation (hence the selected epoch) uses batch statistics too
        log.warning("coding study: train_bn_at_eval: validation uses training-mode BatchNorm (reproduction only)")
        for m in net.modules():
            if isinstance(m, TemporalBatchNorm):
                m.train_bn_at_eval = True
    _warm_up(net, x_train[:4].to(device), y_train[:4].to(device))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device) / 2**20 if device.type == "cuda" else _rss_mb()
    history = trainer.fit(train, val)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    # in-process (isolate=False) ru_maxrss may predate this run, so the growth can read as 0
    peak = max(0.0, (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else _peak_rss_mb()) - before)
    from ..metrics import MetricsCollector, summary_row

    collector = MetricsCollector()  # workload and energy, from the same test pass
    metrics = evaluate_with_spikes(net, test, device, collectors=[collector])
    workload = summary_row({**collector.result(), "accuracy": metrics["accuracy"]},
                           f"{model} {encoding} {adaptive} T={T} s{seed}")
    row = {"model": model, "encoding": encoding, "adaptive": adaptive, "T": T, "seed": seed, **metrics,
           "workload": workload,
           "val_accuracy": trainer.selected["val_accuracy"], "best_epoch": trainer.selected["epoch"],
           "val_curve": [h["val_accuracy"] for h in history],
           "train_accuracy": history[-1]["train_accuracy"],
           "epoch_time_s": statistics.fmean(h["epoch_time_s"] for h in history),
           "peak_mem_mb": peak, "params": sum(p.numel() for p in net.parameters()),
           "memory_measure": "cuda max_memory_allocated - allocated before training (MiB)" if device.type == "cuda"
           else "ru_maxrss - RSS before training (MiB)"}
    if cfg.train_bn_at_eval:
        row["accuracy_train_bn"] = evaluate_with_spikes(net, test, device, train_bn=True)["accuracy"]
    return row


def _warm_up(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """One forward/backward on a copy, so JIT compilation (numba/CUDA kernels) is not timed as training."""
    import copy

    clone = copy.deepcopy(net)
    nn.functional.cross_entropy(clone(x), y).backward()
    del clone


def _cell_in_child(args) -> dict:
    return run_cell(*args)


def _settings(cfg: CodingStudyConfig) -> dict:
    return {k: v for k, v in asdict(cfg).items() if k not in _NOT_RESULT}


def run_path(out_dir: Path, model: str, encoding: str, adaptive: str, T: int, seed: int) -> Path:
    return Path(out_dir) / "runs" / f"{model}_{encoding}_{adaptive}_T{T}_s{seed}.json"


def _finished(path: Path, settings: dict) -> dict | None:
    """The row of a finished run with the same settings, else None."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return saved["row"] if saved.get("settings") == json.loads(json.dumps(settings)) else None


def run_coding_study(cfg: CodingStudyConfig, out_dir: Path, on_row=None) -> list[dict]:
    """Run (or reuse) every run, each in a fresh process with ``isolate``, writing results as they arrive."""
    out_dir = Path(out_dir)
    for model in cfg.models:
        if model not in MODEL_NAMES:
            raise ValueError(f"unknown model {model!r} for the coding study; choose from {sorted(MODEL_NAMES)}")
    # seeds outermost: an interrupted grid has every cell with fewer seeds rather than some cells missing
    cells = [(m, e, a, T, s) for s in cfg.seeds for m in cfg.models for T in cfg.steps for e in cfg.encodings
             for a in cfg.adaptive]
    settings = _settings(cfg)
    rows: list[dict] = []
    context = mp.get_context("spawn")
    for cell in cells:
        path = run_path(out_dir, *cell)
        row = _finished(path, settings)
        if row is not None:
            log.info("coding study %s: reusing %s", cell, path)
        else:
            if cfg.isolate:
                # close + join (not the context manager's terminate) lets the worker release its semaphores,
                # which otherwise leak and are reported by the resource tracker at exit
                pool = context.Pool(1)
                try:
                    row = pool.apply(_cell_in_child, ((cfg, *cell),))
                finally:
                    pool.close()
                    pool.join()
            else:
                row = run_cell(cfg, *cell)
            write_json(path, {"settings": settings, "row": row})
            log.info("coding study %s: test acc %.4f, %.1f s/epoch", cell, row["accuracy"], row["epoch_time_s"])
        rows.append(row)
        write_results(cfg, rows, out_dir)
        if on_row is not None:
            on_row(row)
    return rows


def write_results(cfg: CodingStudyConfig, rows: list[dict], out_dir: Path) -> str:
    """JSON (config, runs, summary), Markdown tables and plot; returns the summary table."""
    summary = summarise(rows, cfg.targets)
    table = markdown_table(summary)
    write_json(out_dir / "coding_study.json", {"config": asdict(cfg), "rows": rows, "summary": summary})
    notes = (f"Dataset {cfg.dataset}: {cfg.limit or 'all'} class-balanced training images and "
             f"{cfg.val_limit or 'all'} validation images, both from the training split (validation fraction "
             f"{cfg.val_fraction}, data seed {DATA_SEED}); {cfg.epochs} epoch(s), Adam lr {cfg.lr} with cosine "
             f"schedule, batch {cfg.batch_size}, width {cfg.width}, BN mode {cfg.bn_mode}, mixup "
             f"{'on' if cfg.mixup else 'off'}; seeds {cfg.seeds}. Weights of the best validation epoch; test "
             f"accuracy on {cfg.test_limit or 'the full'} test set, once, in eval mode"
             f"{' (and with training-mode BN, which also chose the epoch on validation)' if cfg.train_bn_at_eval else ''}"
             f". Epochs to a target: mean "
             f"over the seeds that reached it (reached/all). Memory: "
             f"{rows[0].get('memory_measure', '') if rows else ''}.\n\n")
    workload = [r["workload"] for r in rows if r.get("workload")]
    if workload:
        from ..metrics import SUMMARY_COLUMNS
        workload_text = ("\n## Workload and energy\n\nPer test sample (`adaspike.metrics`; per second of input "
                         "uses the neurons' nominal dt, which has no physical meaning for static images).\n\n"
                         + markdown_table(workload, SUMMARY_COLUMNS))
    else:
        workload_text = ""
    write_text(out_dir / "coding_study.md", "# Coding study\n\n" + notes + table + "\n\n## Runs\n\n"
               + markdown_table(rows, COLUMNS) + workload_text)
    if rows:
        plot_results(rows, out_dir / "coding_study.png")
    return table


def demo(out_dir: Path, quick: bool = True) -> dict:
    """A short coding study on the embedded 8×8 digits: LeNet, direct vs hybrid, adaptive off/on, T = 2."""
    cfg = CodingStudyConfig(dataset="digits", models=["lenet"],
                            encodings=["direct", "hybrid"] if quick else ["direct", "temporal", "hybrid"],
                            adaptive=["off", "on"], steps=[2] if quick else [2, 4], seeds=[0], limit=None,
                            val_limit=None, val_fraction=0.15, epochs=10 if quick else 20, batch_size=32,
                            lr=5e-3, width=8, targets=[0.8, 0.9], isolate=False)
    rows = run_coding_study(cfg, Path(out_dir))
    table = markdown_table(rows, COLUMNS)
    return {"table": table, "rows": rows, "files": [str(Path(out_dir) / n) for n in
                                                     ("coding_study.json", "coding_study.md", "coding_study.png")]}
