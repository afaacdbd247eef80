"""Shared plumbing for experiments: data loaders and the standard event-data model."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from ..data import DATASETS, dataset_key, load_dataset, split_dataset, time_major_collate
from ..models import build_model
from ..models.factory import build_factory_model, is_factory_spec


VAL_FRACTION = 0.15
EVENT_MODELS = ("snn", "conv-snn")  # the zoo's builders sized by event data (input_shape, classes, dt)


def default_model(dataset: str) -> str:
    """The model a dataset trains with unless the user names one (its ``register_dataset(model=...)``)."""
    key = dataset_key(dataset)
    return DATASETS[key].model if key in DATASETS else "snn"


def with_dataset_defaults(dataset: str, options: dict) -> dict:
    """``options`` completed by the dataset's recommended ones (``register_dataset(defaults=...)``; the user's
    always win)."""
    key = dataset_key(dataset)
    return {**(DATASETS[key].defaults if key in DATASETS else {}), **options}


@dataclass
class Loaders:
    """Train, validation (carved from the training split) and test loaders; ``val`` is None without a split."""

    train: DataLoader
    test: DataLoader
    train_set: Dataset
    test_set: Dataset
    val: DataLoader | None = None
    val_set: Dataset | None = None


def make_loaders(dataset: str, *, dt: float | None = None, batch_size: int = 64, seed: int = 0,
                 root: str | None = None, test_batch_size: int | None = None,
                 val_fraction: float | None = VAL_FRACTION, split_seed: int = 0, **options) -> Loaders:
    """Train/validation/test DataLoaders for a named dataset; event data comes out time-major [T, B, ...].

    The validation set is a deterministic, class-balanced part of the *training* split (whole speakers when
    the data name them), fixed by ``split_seed`` rather than the training seed so every seed is selected on
    the same data; ``val_fraction=None`` trains on the whole training split.
    """
    full_train = load_dataset(dataset, "train", dt=dt, root=root, **options)
    test_set = load_dataset(dataset, "test", dt=dt, root=root, **options)
    if val_fraction:
        train_set, val_set = split_dataset(full_train, val_fraction, split_seed)
    else:
        train_set, val_set = full_train, None
    collate = time_major_collate if getattr(train_set, "is_event_data", False) else None
    generator = torch.Generator().manual_seed(seed)
    eval_batch = test_batch_size or 2 * batch_size
    train = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator, collate_fn=collate)
    test = DataLoader(test_set, batch_size=eval_batch, shuffle=False, collate_fn=collate)
    val = (DataLoader(val_set, batch_size=eval_batch, shuffle=False, collate_fn=collate)
           if val_set is not None else None)
    return Loaders(train, test, train_set, test_set, val, val_set)


def event_model(train_set, *, model: str = "snn", dt: float | None = None, **kwargs):
    """A model sized for an event dataset (its per-step ``input_shape``, ``classes`` and ``dt``): a registered
    name (``snn``, ``conv-snn``, ...) with ``kwargs``, or a user factory ``package.module:factory``."""
    sizes = dict(input_shape=list(train_set.input_shape), classes=int(train_set.num_classes),
                 dt=float(dt if dt is not None else train_set.dt))
    if "hidden" in kwargs:
        kwargs["hidden"] = list(kwargs["hidden"])
    if is_factory_spec(model):  # named on the command line by the user: trusted, unlike a checkpoint's name
        return build_factory_model(model, **sizes, **kwargs)
    try:
        return build_model(model, **sizes, **kwargs)
    except TypeError as err:  # a builder that is not sized by event data (static-image models of the zoo)
        raise ValueError(f"model {model!r} cannot be built for event data from input_shape, classes and dt "
                         f"({err}); event models: {', '.join(EVENT_MODELS)} or a user model "
                         "'package.module:factory'") from None
