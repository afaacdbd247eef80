"""Trainer: fit / evaluate with progress bars, metrics, atomic checkpoints and exact resume.

Resuming is exact on CPU: the shuffling order of epoch e comes from a generator seeded with (seed, e), and
the global RNG state (dropout, stochastic encoders) is saved with every checkpoint.
"""
from __future__ import annotations

import json
import logging
import time
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed as dist
from .recipes import cosine_warmup_factor
from .checkpoint import CheckpointError, load_state, read_checkpoint, save_checkpoint
from .metrics import SpikeRateMonitor, accuracy

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
                 distributed: bool = False):
        if epochs < 1:
            raise ValueError("epochs must be >= 1")
        torch.manual_seed(seed)
        self.model, self.epochs, self.seed = model, int(epochs), int(seed)
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
        if self.distributed:
            train_loader = dist.shard_loader(train_loader, shuffle=True, seed=self.seed)
        self.scheduler = self._make_scheduler(len(train_loader))
        start = self._resume() if resume else 0
        for epoch in range(start, self.epochs):
            self._epoch_order(train_loader, epoch)
            tic = time.perf_counter()
            train_loss, train_acc = self._train_epoch(train_loader, epoch)
            record = {"epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_acc,
                      "epoch_time_s": time.perf_counter() - tic}
            if val_loader is not None:
                metrics = self.evaluate(val_loader)
                record.update({"val_loss": metrics["loss"], "val_accuracy": metrics["accuracy"]})
            self.history.append(record)
            log.info("epoch %d: %s", epoch + 1, {k: round(v, 4) for k, v in record.items()})
            self._checkpoint(epoch + 1)
            dist.barrier()
        return self.history

    def _train_epoch(self, loader, epoch: int) -> tuple[float, float]:
        self.model.train()
        total_loss = total_correct = total = 0.0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{self.epochs}", disable=not self.progress, leave=False)
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
    def evaluate(self, loader, model: nn.Module | None = None) -> dict:
        return evaluate(model or self.model, loader, self.loss_fn, progress=self.progress)

    # -- checkpoints ---------------------------------------------------------------------------------------
    def _checkpoint(self, epochs_done: int) -> None:
        if self.out_dir is None or not self._is_main():
            return
        extra = {"rng_state": torch.get_rng_state()}
        optim_state = self.optimizer.state_dict()
        for index, state in optim_state["state"].items():
            for key, value in state.items():
                extra[f"optim.{index}.{key}"] = torch.as_tensor(value)
        meta = {**self.metadata, "epochs_done": epochs_done, "history": self.history,
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
        done = int(meta.get("epochs_done", 0))
        log.info("resumed from %s after epoch %d", path, done)
        return done

    def _check_same_run(self, meta: dict, path: Path) -> None:
        """Refuse to resume a run whose model or data settings differ from this one."""
        ours = {"model": getattr(self.model, "config", None), "data": self.metadata.get("data")}
        for key, value in ours.items():
            saved = meta.get(key)
            if value is not None and saved is not None and json.loads(json.dumps(value, default=str)) != saved:
                raise CheckpointError(f"{path} belongs to a run with different {key} settings ({saved}); "
                                      f"choose another output folder or delete it to start afresh")

    def _is_main(self) -> bool:
        return dist.is_main_process()


def _plain(state):
    """Scheduler state without callables (the LR lambda is rebuilt from the trainer's settings)."""
    if state is None:
        return None
    return {k: ([None] * len(v) if k == "lr_lambdas" else v) for k, v in state.items()}


@torch.no_grad()
def evaluate(model: nn.Module, loader, loss_fn: nn.Module | None = None, progress: bool = False) -> dict:
    """Accuracy, mean loss and per-layer spike rates of ``model`` over ``loader``."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    monitor = SpikeRateMonitor()
    total_loss = total_correct = total = 0.0
    with monitor.watch(model):
        for x, y in tqdm(loader, desc="eval", disable=not progress, leave=False):
            logits = model(x)
            n = logits.shape[0]
            total += n
            total_loss += float(loss_fn(logits, y)) * n
            total_correct += accuracy(logits, y) * n
    model.train(was_training)
    return {"accuracy": total_correct / max(1, total), "loss": total_loss / max(1, total),
            "spike_rates": monitor.rates(), "samples": int(total)}
