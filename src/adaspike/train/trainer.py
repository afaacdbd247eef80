"""Trainer: fit / evaluate with progress bars, metrics, atomic checkpoints and exact resume.

Model selection uses the validation loader only (carve it from the training data; the test set is for the
caller's single final evaluation): the weights of the best validation epoch (accuracy, ties broken by loss)
are kept, restored at the end of ``fit`` and recorded in ``trainer.selected``; with ``patience`` training
stops after that many epochs without a better one.

Resuming is exact on CPU: the shuffling order of epoch e comes from a generator seeded with (seed, e), and
the global RNG state (dropout, stochastic encoders) is saved with every checkpoint, as are the best weights.
A checkpoint written with other settings (model, data, learning rate, seed, ...) is refused.
"""
from __future__ import annotations

import json
import logging
import math
import time
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed as dist
from .recipes import cosine_warmup_factor
from .checkpoint import CheckpointError, load_state, read_checkpoint, save_checkpoint
from .logbook import EpochLog
from .metrics import SpikeRateMonitor, accuracy, correct_count

log = logging.getLogger("adaspike")
LAST = "last.safetensors"


def _optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose adam, adamw or sgd")


class Trainer:
    def __init__(self, model: nn.Module, *, lr: float = 1e-3, epochs: int = 10, optimizer: str = "adam",
                 weight_decay: float = 0.0, scheduler: str | None = None, warmup_epochs: int = 0,
                 label_smoothing: float = 0.0, grad_clip: float | None = None, seed: int = 0,
                 out_dir: str | Path | None = None, progress: bool = True,
                 batch_transform: Callable | None = None, metadata: dict | None = None,
                 distributed: bool = False, patience: int | None = None, log_file: bool = True):
        if epochs < 1:
            raise ValueError("epochs must be >= 1")
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be >= 1 epochs or None, got {patience}")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"the learning rate must be a finite number > 0, got {lr!r}")
        torch.manual_seed(seed)
        self.model, self.epochs, self.seed = model, int(epochs), int(seed)
        self.patience = None if patience is None else int(patience)
        # every setting that shapes the result: a resumed run must match them all
        self.settings = {"lr": float(lr), "epochs": self.epochs, "optimizer": optimizer,
                         "weight_decay": float(weight_decay), "scheduler": scheduler,
                         "warmup_epochs": int(warmup_epochs), "label_smoothing": float(label_smoothing),
                         "grad_clip": grad_clip, "seed": self.seed, "patience": self.patience,
                         "batch_transform": repr(batch_transform) if batch_transform is not None else None}
        self.optimizer = _optimizer(optimizer, model.parameters(), lr, weight_decay)
        self.scheduler_name, self.warmup_epochs = scheduler, int(warmup_epochs)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.grad_clip, self.progress = grad_clip, progress
        self.batch_transform = batch_transform
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.metadata = dict(metadata or {})
        self.distributed = distributed or dist.is_distributed()
        # DDP wrapper for the forward pass; self.model stays unwrapped for checkpoints and evaluation
        self._train_model = dist.wrap_model(model) if self.distributed else model
        self.history: list[dict] = []
        self.scheduler = None
        self.selected: dict | None = None   # the best validation epoch: {"epoch", "val_accuracy", "val_loss"}
        self._best_state: dict[str, torch.Tensor] | None = None
        self.stopped_early = False
        self.log = EpochLog(self.out_dir if (log_file and self.out_dir is not None) else None, self.epochs)

    # -- training ---------------------------------------------------------------------------------------
    def _make_scheduler(self, steps_per_epoch: int):
        if self.scheduler_name is None:
            return None
        if self.scheduler_name != "cosine":
            raise ValueError(f"unknown scheduler {self.scheduler_name!r}; use 'cosine' or None")
        total, warmup = self.epochs * steps_per_epoch, self.warmup_epochs * steps_per_epoch
        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, partial(cosine_warmup_factor, total_steps=total,
                                                                         warmup_steps=warmup))

    def _epoch_order(self, loader, epoch: int) -> None:
        """Seed the loader's shuffling for this epoch so a resumed run sees the same order."""
        sampler = getattr(loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        generator = getattr(sampler, "generator", None)
        if generator is not None:
            generator.manual_seed(self.seed * 100_003 + epoch)

    def fit(self, train_loader, val_loader=None, resume: bool = True) -> list[dict]:
        """Train for ``epochs`` (or until ``patience`` runs out); returns the per-epoch history.

        With ``val_loader`` the model ends with the weights of its best validation epoch (``self.selected``).
        """
        if self.distributed:
            train_loader = dist.shard_loader(train_loader, shuffle=True, seed=self.seed)
        self.scheduler = self._make_scheduler(len(train_loader))
        start = self._resume() if resume else 0
        main = self._is_main()
        for epoch in range(start, self.epochs):
            if self.stopped_early:
                break
            self._epoch_order(train_loader, epoch)
            tic = time.perf_counter()
            train_loss, train_acc = self._train_epoch(train_loader, epoch)
            record = {"epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_acc,
                      "lr": self.optimizer.param_groups[0]["lr"], "epoch_time_s": time.perf_counter() - tic}
            if val_loader is not None:
                metrics = self.evaluate(val_loader)
                record.update({"val_loss": metrics["loss"], "val_accuracy": metrics["accuracy"]})
                record.update({f"rate.{k}": v for k, v in metrics["spike_rates"].items()})
                self._select(record)
            self.history.append(record)
            if main:
                self.log.epoch(record, best=self.selected, history=self.history)
            self._checkpoint(epoch + 1)
            dist.barrier()
        if self._best_state is not None:
            load_state(self.model, self._best_state, "the best validation epoch")
        if main:
            self.log.close(self.history, self.selected)
        return self.history

    def _select(self, record: dict) -> None:
        """Keep the weights of the best validation epoch; stop after ``patience`` epochs without one."""
        best = self.selected
        better = best is None or (record["val_accuracy"], -record["val_loss"]) > (best["val_accuracy"],
                                                                                 -best["val_loss"])
        if better:
            self.selected = {"epoch": record["epoch"], "val_accuracy": record["val_accuracy"],
                             "val_loss": record["val_loss"]}
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        elif self.patience is not None and record["epoch"] - best["epoch"] >= self.patience:
            self.stopped_early = True
            log.info("early stop after epoch %d: no better validation accuracy for %d epochs (best: epoch %d)",
                     record["epoch"], self.patience, best["epoch"])

    def _train_epoch(self, loader, epoch: int) -> tuple[float, float]:
        self.model.train()
        total_loss = total_correct = total = 0.0
        # disable=None: bars only on a terminal, so piped logs hold one line per epoch, not redraws
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{self.epochs}", disable=None if self.progress else True,
                   leave=False)
        for x, y in bar:
            if self.batch_transform is not None:
                x, y = self.batch_transform(x, y)
            logits = self._train_model(x)
            loss = self.loss_fn(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.grad_clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()
            n = logits.shape[0]
            total += n
            total_loss += float(loss.detach()) * n
            total_correct += accuracy(logits, y) * n
            bar.set_postfix(loss=f"{total_loss / total:.3f}", acc=f"{total_correct / total:.3f}")
        return total_loss / max(1, total), total_correct / max(1, total)

    @torch.no_grad()
    def evaluate(self, loader, model: nn.Module | None = None, collectors=()) -> dict:
        """``evaluate`` with the trainer's loss; ``collectors`` watch the same pass (e.g. a ``MetricsCollector``)."""
        return evaluate(model or self.model, loader, self.loss_fn, progress=self.progress, collectors=collectors)

    # -- checkpoints ---------------------------------------------------------------------------------------
    def _checkpoint(self, epochs_done: int) -> None:
        if self.out_dir is None or not self._is_main():
            return
        extra = {"rng_state": torch.get_rng_state()}
        for key, value in (self._best_state or {}).items():
            extra[f"best.{key}"] = value
        optim_state = self.optimizer.state_dict()
        for index, state in optim_state["state"].items():
            for key, value in state.items():
                extra[f"optim.{index}.{key}"] = torch.as_tensor(value)
        meta = {**self.metadata, "settings": self.settings, "epochs_done": epochs_done, "history": self.history,
                "selected": self.selected, "stopped_early": self.stopped_early,
                "param_groups": optim_state["param_groups"],
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None}
        meta["scheduler"] = _plain(meta["scheduler"])
        save_checkpoint(self.out_dir / LAST, self.model, meta, extra)

    def _resume(self) -> int:
        path = self.out_dir / LAST if self.out_dir is not None else None
        if path is None or not path.exists():
            return 0
        state, extra, meta = read_checkpoint(path)
        self._check_same_run(meta, path)
        load_state(self.model, state, str(path))
        optim_state = {"state": {}, "param_groups": meta["param_groups"]}
        for key, value in extra.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                optim_state["state"].setdefault(int(index), {})[name] = value
        self.optimizer.load_state_dict(optim_state)
        if self.scheduler is not None and meta.get("scheduler"):
            self.scheduler.load_state_dict(meta["scheduler"])
        torch.set_rng_state(extra["rng_state"])
        self.history = list(meta.get("history", []))
        self.selected = meta.get("selected")
        self.stopped_early = bool(meta.get("stopped_early", False))
        best = {k[len("best."):]: v for k, v in extra.items() if k.startswith("best.")}
        self._best_state = best or None
        done = int(meta.get("epochs_done", 0))
        log.info("resumed from %s after epoch %d", path, done)
        return done

    def _check_same_run(self, meta: dict, path: Path) -> None:
        """Refuse to resume a run whose model or data settings differ from this one."""
        ours = {"model": getattr(self.model, "config", None), "data": self.metadata.get("data"),
                "training": self.settings}
        for key, value in ours.items():
            saved = meta.get("settings" if key == "training" else key)
            if key == "training" and saved is None:
                raise CheckpointError(f"{path} records no training settings (seed, learning rate, ...), so "
                                      "resuming it could silently change them; use another output folder")
            if value is None or saved is None:
                continue
            value = json.loads(json.dumps(value, default=str))
            if value != saved:
                changed = _differences(saved, value) if isinstance(saved, dict) and isinstance(value, dict) else ""
                raise CheckpointError(f"{path} belongs to a run with different {key} settings{changed}; "
                                      f"choose another output folder or delete it to start afresh")

    def _is_main(self) -> bool:
        return dist.is_main_process()


def _differences(saved: dict, ours: dict) -> str:
    keys = sorted(k for k in set(saved) | set(ours) if saved.get(k) != ours.get(k))
    return " (" + ", ".join(f"{k}: {saved.get(k)!r} there, {ours.get(k)!r} here" for k in keys[:4]) + ")"


def _plain(state):
    """Scheduler state without callables (the LR lambda is rebuilt from the trainer's settings)."""
    if state is None:
        return None
    return {k: ([None] * len(v) if k == "lr_lambdas" else v) for k, v in state.items()}


@torch.no_grad()
def evaluate(model: nn.Module, loader, loss_fn: nn.Module | None = None, progress: bool = False,
             forward=None, collectors=(), device=None) -> dict:
    """Accuracy (a fraction: correct / samples), mean loss and per-layer spike rates of ``model`` over ``loader``,
    in eval mode (the model's mode is restored afterwards).

    ``forward(model, batch) -> (logits, labels)`` runs a batch other than ``(x, y)`` (default: ``model(x)``), e.g.
    ``(x, y, steps)`` on a clock of its own (``adaspike.retime.run_on_clock``). ``collectors`` are objects with a
    ``watch(model)`` context manager (``adaspike.metrics.MetricsCollector``, ``SpikeRateMonitor``, ...), all
    watching the whole loop, so one pass gives the accuracy and what they count. ``device`` moves every tensor of
    a batch there first. A ``loss_fn`` with ``reduction="sum"`` gives batch sums, any other batch means."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    summed = getattr(loss_fn, "reduction", "mean") == "sum"
    was_training = model.training
    model.eval()
    monitor = SpikeRateMonitor()
    total_loss, correct, total = 0.0, 0, 0
    try:
        with ExitStack() as watching:
            for collector in (monitor, *collectors):
                watching.enter_context(collector.watch(model))
            for batch in tqdm(loader, desc="eval", disable=None if progress else True, leave=False):
                if device is not None:
                    batch = tuple(t.to(device) if isinstance(t, torch.Tensor) else t for t in batch)
                if forward is None:
                    x, y = batch
                    logits = model(x)
                else:
                    logits, y = forward(model, batch)
                n = logits.shape[0]
                total += n
                loss = float(loss_fn(logits, y))
                total_loss += loss if summed else loss * n
                correct += correct_count(logits, y)
    finally:
        model.train(was_training)
    return {"accuracy": correct / max(1, total), "loss": total_loss / max(1, total),
            "spike_rates": monitor.rates(), "samples": int(total)}
