"""One training run from named parts (used by ``adaspike train``, the studies and the demo).

Protocol: the validation set is carved from the training split (class-balanced; whole speakers for speech),
the model of the best validation epoch is kept, and the test split is evaluated once, at the end.
The defaults (``TRAIN_DEFAULTS``) were chosen by measurement on event-digits and spoken-digits
(docs/results.md, "Training defaults").
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from ..interop.export import nir_export_problems
from ..metrics import MetricsCollector
from ..report import write_json
from ..train import Trainer, distributed, save_checkpoint
from ..train.firing_init import DEFAULT_BAND_HZ, calibrate_firing
from ..train.metrics import chance_level_warning
from ..train.recipes import EventAugment
from .experiment import VAL_FRACTION, event_model, make_loaders, with_dataset_defaults

log = logging.getLogger("adaspike")

ADLIF_FORMS = ("continuous", "discrete")
TRAIN_DEFAULTS = dict(neuron="adlif", hidden=(128,), recurrent=True, readout="li-mean", epochs=40, lr=5e-3,
                      batch_size=32, weight_decay=1e-4, dropout=0.3, patience=15, adlif_form="continuous",
                      augment=True)


def default_augmentation(train_set) -> EventAugment:
    """Speech-like flat channels: time and channel masking; camera frames [p, y, x]: small shifts and
    event thinning (no masking of whole frames)."""
    if len(tuple(train_set.input_shape)) == 1:
        return EventAugment()
    return EventAugment(time_masks=0, feature_masks=0, drop=0.1, max_shift=1)


def train_run(*, dataset: str = "event-digits", root: str | None = None, dt: float | None = None,
              neuron: str = TRAIN_DEFAULTS["neuron"], hidden=TRAIN_DEFAULTS["hidden"],
              recurrent: bool = TRAIN_DEFAULTS["recurrent"], readout: str = TRAIN_DEFAULTS["readout"],
              epochs: int = TRAIN_DEFAULTS["epochs"], lr: float = TRAIN_DEFAULTS["lr"],
              batch_size: int = TRAIN_DEFAULTS["batch_size"], seed: int = 0, out: Path | str = "runs/train",
              progress: bool = True, nproc: int = 1, device: str = "cpu",
              weight_decay: float = TRAIN_DEFAULTS["weight_decay"], dropout: float = TRAIN_DEFAULTS["dropout"],
              patience: int | None = TRAIN_DEFAULTS["patience"], adlif_form: str = TRAIN_DEFAULTS["adlif_form"],
              augment: bool = TRAIN_DEFAULTS["augment"], val_fraction: float | None = VAL_FRACTION,
              init_band: tuple[float, float] | None = DEFAULT_BAND_HZ, keep_last: bool = False,
              test: bool = True, **options) -> dict:
    """Train the standard event model; writes OUT/model.safetensors, metrics.json, metrics.csv and
    learning_curve.png, and resumes from OUT/last.safetensors if interrupted.

    ``test=False`` never touches the test split (for choosing settings on the validation set alone).
    """
    if not test and not val_fraction:
        raise ValueError("test=False needs a validation split (val_fraction > 0) to report on")
    if adlif_form not in ADLIF_FORMS:
        raise ValueError(f"adlif_form must be one of {ADLIF_FORMS}, got {adlif_form!r}")
    if nproc > 1:
        return _launch_distributed(nproc, dict(dataset=dataset, root=root, dt=dt, neuron=neuron, hidden=list(hidden),
                                            recurrent=recurrent, readout=readout, epochs=epochs, lr=lr,
                                            batch_size=batch_size, seed=seed, out=str(out), progress=progress,
                                            weight_decay=weight_decay, dropout=dropout, patience=patience,
                                            adlif_form=adlif_form, augment=augment, val_fraction=val_fraction,
                                            init_band=init_band, keep_last=keep_last, test=test, **options))
    out = Path(out)
    device = torch.device(device)
    options = with_dataset_defaults(dataset, options)
    loaders = make_loaders(dataset, dt=dt, batch_size=batch_size, seed=seed, root=root, val_fraction=val_fraction,
                           **options)
    if not getattr(loaders.train_set, "is_event_data", False):
        raise ValueError(f"{dataset} is static image data: use `adaspike study coding` (encoders) or "
                         "`adaspike train-ann` for it")
    dt = float(loaders.train_set.dt)
    torch.manual_seed(seed)  # the initial weights are part of the run: same seed, same model
    neuron_options = {"neuron_options": {"parameterisation": adlif_form}} if neuron == "adlif" else {}
    model = event_model(loaders.train_set, neuron=neuron, hidden=hidden, recurrent=recurrent, readout=readout,
                        dt=dt, dropout=dropout, **neuron_options)
    problems = nir_export_problems(model)
    if problems:  # said now, not after hours of training when `adaspike export-nir` refuses it
        log.warning("note: this model will not export to NIR (%d layer(s)): %s", len(problems),
                    problems[0].split(": ", 1)[1])
    init = None
    if init_band is not None:
        first_batch, _ = next(iter(loaders.train))
        init = calibrate_firing(model, first_batch, init_band)
        log.info("initial hidden rates (Hz): %s -> %s after input-weight scaling %s",
                 _rounded(init["before"]), _rounded(init["after"]), _rounded(init["scales"], 3))
    model.to(device)
    augmentation = default_augmentation(loaders.train_set) if augment else None
    data_meta = {"dataset": dataset, "dt": dt, "root": root, "options": options, "batch_size": batch_size,
                 "val_fraction": val_fraction}
    trainer = Trainer(model, lr=lr, epochs=epochs, seed=seed, out_dir=out, progress=progress, scheduler="cosine",
                      weight_decay=weight_decay, optimizer="adamw", patience=patience,
                      batch_transform=augmentation, metadata={"data": data_meta})
    tic = time.perf_counter()
    history = trainer.fit(_device_loader(loaders.train, device), _device_loader(loaders.val, device))
    train_time = time.perf_counter() - tic
    # the one look at the test set
    collector = MetricsCollector()  # workload and energy, from the same pass
    with collector.watch(model):
        final = trainer.evaluate(_device_loader(loaders.test if test else loaders.val, device))
    model.cpu()
    result = {"dataset": dataset, "dt": dt, "neuron": neuron, "adlif_form": adlif_form if neuron == "adlif" else None,
              "hidden": list(hidden), "recurrent": recurrent, "epochs": epochs, "epochs_run": len(history),
              "seed": seed, "lr": lr, "weight_decay": weight_decay, "dropout": dropout, "patience": patience,
              "augment": repr(augmentation) if augmentation else None, "selected": trainer.selected,
              "train_samples": len(loaders.train_set), "val_samples": len(loaders.val_set or []),
              "test_samples": len(loaders.test_set) if test else 0,
              "test_accuracy": final["accuracy"] if test else None, "test_loss": final["loss"] if test else None,
              "val_accuracy": (trainer.selected or {}).get("val_accuracy"), "spike_rates": final["spike_rates"],
              "spike_rates_hz": {k: v / dt for k, v in final["spike_rates"].items()},
              "initial_rates_hz": init, "train_time_s": train_time, "workload": collector.result(),
              "history": history}
    result["chance_warning"] = chance_level_warning({"test": result["test_accuracy"], "validation":
                                                     result["val_accuracy"]}, int(loaders.train_set.num_classes))
    if result["chance_warning"] and distributed.is_main_process():
        log.warning(result["chance_warning"])
    if distributed.is_main_process():  # one writer in multi-process runs
        save_checkpoint(out / "model.safetensors", model, {"data": data_meta, "result": {
            k: v for k, v in result.items() if k not in ("history", "workload")}})
        write_json(out / "metrics.json", result)
        if not keep_last:  # the run is complete: its resume point is no longer needed
            (out / "last.safetensors").unlink(missing_ok=True)
    return result


def _rounded(values: dict, digits: int = 1) -> dict:
    return {k: round(v, digits) for k, v in values.items()}


class _DeviceLoader:
    """A loader whose batches are moved to ``device`` (it keeps ``sampler`` for the Trainer's seeded order)."""

    def __init__(self, loader, device: torch.device):
        self.loader, self.device = loader, device
        self.sampler = loader.sampler

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for x, y in self.loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def _device_loader(loader, device: torch.device):
    if loader is None or device.type == "cpu":
        return loader
    return _DeviceLoader(loader, device)


def _distributed_worker(options: dict) -> None:
    train_run(**options, nproc=1)


def _launch_distributed(nproc: int, options: dict) -> dict:
    """``adaspike train --nproc N``: the standard training run in N processes; returns rank 0's metrics."""
    distributed.spawn(nproc, _distributed_worker, dict(options, progress=False))
    metrics = Path(options["out"]) / "metrics.json"
    return json.loads(metrics.read_text()) if metrics.is_file() else {}
