"""One training run from named parts (used by ``adaspike train``, the studies and the demo).

Protocol: the validation set is carved from the training split (class-balanced; whole speakers for speech),
the model of the best validation epoch is kept, and the test split is evaluated once, at the end.
The defaults were chosen by measurement on validation splits: ``TRAIN_DEFAULTS`` (the MLP/RNN ``snn``) on
event-digits and spoken-digits (docs/results.md, "Training defaults"), ``MODEL_DEFAULTS`` (the convolutional SNN
that camera events train with) on event-digits and nmnist-dev ("Real event-camera data").
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from ..interop.export import nir_export_problems
from ..metrics import MetricsCollector
from ..models import registered_models
from ..models.factory import is_factory_spec
from ..report import write_json
from ..train import Trainer, distributed, save_checkpoint
from ..train.firing_init import DEFAULT_BAND_HZ, calibrate_firing
from ..train.metrics import chance_level_warning
from ..train.recipes import EventAugment
from .experiment import VAL_FRACTION, default_model, event_model, make_loaders, with_dataset_defaults

log = logging.getLogger("adaspike")

ADLIF_FORMS = ("continuous", "discrete")
# the recipe of the MLP/RNN (``snn``; the default model for audio), chosen on event-digits and spoken-digits
TRAIN_DEFAULTS = dict(model="snn", neuron="adlif", hidden=(128,), recurrent=True, readout="li-mean", epochs=40,
                      lr=5e-3, batch_size=32, weight_decay=1e-4, dropout=0.3, patience=15, adlif_form="continuous",
                      augment=True)
# what another model's recipe changes: training settings, ``dt``, dataset ``options`` (e.g. no pixel pooling)
# and ``model_options`` (the builder's own keyword arguments); measured on validation splits, docs/results.md
# ("Real event-camera data")
MODEL_DEFAULTS: dict[str, dict] = {
    "conv-snn": dict(neuron="lif", hidden=(128,), epochs=30, lr=5e-3, dropout=0.3, patience=10,
                     options={"pool": 2}, model_options={"channels": [16, 32]}),
}
# the recipe settings each built-in model reads; given explicitly to a model that does not read it, a setting
# is refused rather than silently ignored (user factories read none of them: give them --model-options)
MODEL_SETTINGS = {"snn": ("neuron", "hidden", "recurrent", "readout", "adlif_form", "dropout"),
                  "conv-snn": ("neuron", "hidden", "adlif_form", "dropout")}
RUN_SETTINGS = ("epochs", "lr", "batch_size", "weight_decay", "patience", "augment")


def train_settings(dataset: str, model: str | None = None, **given) -> dict:
    """The settings ``adaspike train --dataset DATASET`` runs with: the dataset's default model (or ``model``), that
    model's measured recipe, and over them whatever the caller gave (``None`` keeps the default).

    Keys: ``model``, ``dt`` (None: the dataset's own), ``options`` (dataset options), ``model_options``, the
    recipe (``RUN_SETTINGS``) and the model settings of ``MODEL_SETTINGS`` (``neuron``, ``hidden``, ...).
    """
    model = model or default_model(dataset)
    if not is_factory_spec(model) and model not in registered_models():  # before any data is read
        raise ValueError(f"unknown model {model!r}; registered: {', '.join(registered_models())}, or a user model "
                         "'package.module:factory'")
    recipe = {"dt": None, "augmentation": {}, **TRAIN_DEFAULTS, **MODEL_DEFAULTS.get(model, {}), "model": model}
    readable = MODEL_SETTINGS.get(model, ())
    ignored = sorted(k for k, v in given.items() if v is not None and k in TRAIN_DEFAULTS and k not in RUN_SETTINGS
                     and k not in readable)
    if ignored:
        raise ValueError(f"model {model!r} does not take {', '.join(ignored)}"
                         + (f" (it takes {', '.join(readable)})" if readable else
                            "; pass a user model's own options with --model-options"))
    options = {**with_dataset_defaults(dataset, {}), **recipe.pop("options", {}), **(given.pop("options", None) or {})}
    model_options = {**recipe.pop("model_options", {}), **(given.pop("model_options", None) or {})}
    augmentation = {**recipe.pop("augmentation"), **(given.pop("augmentation", None) or {})}
    settings = {**recipe, **{k: v for k, v in given.items() if v is not None}}
    if settings["adlif_form"] not in ADLIF_FORMS:
        raise ValueError(f"adlif_form must be one of {ADLIF_FORMS}, got {settings['adlif_form']!r}")
    keep = {"model", "dt", *RUN_SETTINGS, *readable}
    return {**{k: v for k, v in settings.items() if k in keep}, "options": options, "model_options": model_options,
            "augmentation": augmentation}


def model_kwargs(settings: dict) -> dict:
    """The keyword arguments of the model's builder: its settings, then its own options."""
    kwargs = {k: v for k, v in settings.items() if k in MODEL_SETTINGS.get(settings["model"], ()) and k != "adlif_form"}
    if "adlif_form" in settings and settings.get("neuron") == "adlif":
        kwargs["neuron_options"] = {"parameterisation": settings["adlif_form"]}
    return {**kwargs, **settings["model_options"]}


def default_augmentation(train_set, **overrides) -> EventAugment:
    """Speech-like flat channels: time and channel masking; camera frames [p, y, x]: small shifts and
    event thinning (no masking of whole frames). ``overrides``: a model recipe's ``augmentation``."""
    if len(tuple(train_set.input_shape)) == 1:
        return EventAugment(**overrides)
    return EventAugment(**{"time_masks": 0, "feature_masks": 0, "drop": 0.1, "max_shift": 1, **overrides})


def train_run(*, dataset: str = "event-digits", root: str | None = None, dt: float | None = None,
              model: str | None = None, model_options: dict | None = None, neuron: str | None = None,
              hidden=None, recurrent: bool | None = None, readout: str | None = None, epochs: int | None = None,
              lr: float | None = None, batch_size: int | None = None, seed: int = 0, out: Path | str = "runs/train",
              progress: bool = True, nproc: int = 1, device: str = "cpu", weight_decay: float | None = None,
              dropout: float | None = None, patience: int | None = None, adlif_form: str | None = None,
              augment: bool | None = None, augmentation: dict | None = None,
              val_fraction: float | None = VAL_FRACTION,
              init_band: tuple[float, float] | None = DEFAULT_BAND_HZ, keep_last: bool = False,
              test: bool = True, **options) -> dict:
    """Train an event model; writes OUT/model.safetensors, metrics.json, metrics.csv and learning_curve.png, and
    resumes from OUT/last.safetensors if interrupted.

    Every setting left ``None`` takes the dataset's default (:func:`train_settings`): the model (``conv-snn``
    for camera events, ``snn`` otherwise), its recipe, ``dt`` and dataset options. ``patience=0`` trains
    every epoch. ``model`` may also be a user factory ``package.module:factory``. ``test=False`` never touches
    the test split (for choosing settings on the validation set alone).
    """
    if not test and not val_fraction:
        raise ValueError("test=False needs a validation split (val_fraction > 0) to report on")
    settings = train_settings(dataset, model, neuron=neuron, hidden=hidden, recurrent=recurrent, readout=readout,
                              epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay,
                              dropout=dropout, patience=patience, adlif_form=adlif_form, augment=augment, dt=dt,
                              options=options, model_options=model_options, augmentation=augmentation)
    if nproc > 1:
        return _launch_distributed(nproc, dict(dataset=dataset, root=root, seed=seed, out=str(out), progress=progress,
                                               val_fraction=val_fraction, init_band=init_band, keep_last=keep_last,
                                               test=test, **_as_arguments(settings)))
    out = Path(out)
    device = torch.device(device)
    options = settings["options"]
    loaders = make_loaders(dataset, dt=settings["dt"], batch_size=settings["batch_size"], seed=seed, root=root,
                           val_fraction=val_fraction, **options)
    if not getattr(loaders.train_set, "is_event_data", False):
        raise ValueError(f"{dataset} is static image data: use `adaspike study coding` (encoders) or "
                         "`adaspike train-ann` for it")
    dt = float(loaders.train_set.dt)
    torch.manual_seed(seed)  # the initial weights are part of the run: same seed, same model
    net = event_model(loaders.train_set, model=settings["model"], dt=dt, **model_kwargs(settings))
    problems = nir_export_problems(net)
    if problems:  # said now, not after hours of training when `adaspike export-nir` refuses it
        log.warning("note: this model will not export to NIR (%d layer(s)): %s", len(problems),
                    problems[0].split(": ", 1)[1])
    init = None
    if init_band is not None:
        first_batch, _ = next(iter(loaders.train))
        init = calibrate_firing(net, first_batch, init_band)
        log.info("initial hidden rates (Hz): %s -> %s after input-weight scaling %s",
                 _rounded(init["before"]), _rounded(init["after"]), _rounded(init["scales"], 3))
    net.to(device)
    augmentation = (default_augmentation(loaders.train_set, **settings["augmentation"]) if settings["augment"]
                    else None)
    data_meta = {"dataset": dataset, "dt": dt, "root": root, "options": options, "batch_size": settings["batch_size"],
                 "val_fraction": val_fraction}
    trainer = Trainer(net, lr=settings["lr"], epochs=settings["epochs"], seed=seed, out_dir=out, progress=progress,
                      scheduler="cosine", weight_decay=settings["weight_decay"], optimizer="adamw",
                      patience=settings["patience"] or None, batch_transform=augmentation,
                      metadata={"data": data_meta})
    tic = time.perf_counter()
    history = trainer.fit(_device_loader(loaders.train, device), _device_loader(loaders.val, device))
    train_time = time.perf_counter() - tic
    # the one look at the test set
    collector = MetricsCollector()  # workload and energy, from the same pass
    final = trainer.evaluate(_device_loader(loaders.test if test else loaders.val, device), collectors=[collector])
    net.cpu()
    neuron_name = settings.get("neuron")
    result = {"dataset": dataset, "dt": dt, "model": settings["model"], "model_config": getattr(net, "config", None),
              "neuron": neuron_name, "adlif_form": settings["adlif_form"] if neuron_name == "adlif" else None,
              "hidden": list(settings.get("hidden", ())), "recurrent": bool(settings.get("recurrent", False)),
              "epochs": settings["epochs"], "epochs_run": len(history), "seed": seed,
              "lr": settings["lr"], "weight_decay": settings["weight_decay"], "dropout": settings.get("dropout"),
              "patience": settings["patience"], "batch_size": settings["batch_size"],
              "augment": repr(augmentation) if augmentation else None, "selected": trainer.selected,
              "train_samples": len(loaders.train_set), "val_samples": len(loaders.val_set or []),
              "test_samples": len(loaders.test_set) if test else 0,
              "test_accuracy": final["accuracy"] if test else None, "test_loss": final["loss"] if test else None,
              "val_accuracy": (trainer.selected or {}).get("val_accuracy"), "spike_rates": final["spike_rates"],
              "spike_rates_hz": {k: v / dt for k, v in final["spike_rates"].items()},
              "initial_rates_hz": init, "train_time_s": train_time,
              "epoch_time_s": train_time / max(1, len(history)), "workload": collector.result(),
              "history": history}
    result["chance_warning"] = chance_level_warning({"test": result["test_accuracy"], "validation":
                                                     result["val_accuracy"]}, int(loaders.train_set.num_classes))
    if result["chance_warning"] and distributed.is_main_process():
        log.warning(result["chance_warning"])
    if distributed.is_main_process():  # one writer in multi-process runs
        save_checkpoint(out / "model.safetensors", net, {"data": data_meta, "result": {
            k: v for k, v in result.items() if k not in ("history", "workload")}})
        write_json(out / "metrics.json", result)
        if not keep_last:  # the run is complete: its resume point is no longer needed
            (out / "last.safetensors").unlink(missing_ok=True)
    return result


def _as_arguments(settings: dict) -> dict:
    """Resolved settings as ``train_run`` keyword arguments (the dataset options spread out)."""
    arguments = {k: v for k, v in settings.items() if k != "options"}  # augmentation, model_options: as given
    if "hidden" in arguments:
        arguments["hidden"] = list(arguments["hidden"])
    return {**arguments, **settings["options"]}


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
