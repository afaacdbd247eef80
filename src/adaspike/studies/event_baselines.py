"""The event-camera study's runs: the conv and MLP/RNN SNNs through ``train_run``, and the two baselines built
here, the conv SNN's layout as an ANN on event frames and logistic regression on event counts.

Each run returns one result row (fractions for accuracies); ``studies.events`` measures and tabulates them.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .experiment import make_loaders
from .train_run import train_run, train_settings

__all__ = ["COUNT_DT", "FrameANN", "LOGISTIC_C", "conv_ann_run", "frame_ann", "frames", "load_frame_ann",
           "logistic_regression_run", "snn_run"]

LOGISTIC_C = (1e-3, 1e-2, 1e-1, 1.0)
COUNT_DT = 0.1  # the linear model reads whole-recording counts: coarse bins read them fastest


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


def snn_run(dataset: str, root: str | None, model: str, seed: int, out: Path, epochs: int | None = None,
             limit: int | None = None) -> dict:
    from ..train import load_model

    result = train_run(dataset=dataset, root=root, model=model, seed=seed, out=out, progress=False, epochs=epochs,
                       **({"limit": limit} if limit else {}))
    keys = ("test_accuracy", "val_accuracy", "selected", "epochs_run", "train_time_s", "epoch_time_s",
            "train_samples", "val_samples", "test_samples", "spike_rates_hz", "dt", "model_config")
    return {**{k: result.get(k) for k in keys}, "params": _params(load_model(out / "model.safetensors")),
            "checkpoint": str(out / "model.safetensors")}


def frames(dataset: str, root: str | None, split: str, T: int, options: dict):
    """Recordings as T frames [N, T, C, H, W] (bins of t_max/T), their labels and the bin width (s)."""
    from ..data import load_dataset

    window = load_dataset(dataset, split, root=root, **options).t_max
    data = load_dataset(dataset, split, dt=window / T, root=root, **options)
    items = [data[i] for i in range(len(data))]
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items]), float(data.dt)


def load_frame_ann(path: str | Path) -> nn.Module:
    from ..train import read_checkpoint
    from ..train.checkpoint import load_state

    state, _, meta = read_checkpoint(path)
    ann = frame_ann(**meta["frame_ann"])
    load_state(ann, state, str(path))
    return ann.eval()
