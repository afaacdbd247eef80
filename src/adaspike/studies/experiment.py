"""Shared plumbing for experiments: data loaders and the standard event-data model."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from ..data import load_dataset, time_major_collate
from ..models import build_model


@dataclass
class Loaders:
    train: DataLoader
    test: DataLoader
    train_set: Dataset
    test_set: Dataset


def make_loaders(dataset: str, *, dt: float | None = None, batch_size: int = 64, seed: int = 0,
                 root: str | None = None, test_batch_size: int | None = None, **options) -> Loaders:
    """Train/test DataLoaders for a named dataset; event data comes out time-major [T, B, ...]."""
    train_set = load_dataset(dataset, "train", dt=dt, root=root, **options)
    test_set = load_dataset(dataset, "test", dt=dt, root=root, **options)
    collate = time_major_collate if getattr(train_set, "is_event_data", False) else None
    generator = torch.Generator().manual_seed(seed)
    train = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator, collate_fn=collate)
    test = DataLoader(test_set, batch_size=test_batch_size or 2 * batch_size, shuffle=False, collate_fn=collate)
    return Loaders(train, test, train_set, test_set)


def event_model(train_set, *, neuron: str = "adlif", hidden=(128,), recurrent: bool = True,
                readout: str = "li-mean", dt: float | None = None, **kwargs):
    """The registered ``snn`` model sized for an event dataset."""
    return build_model("snn", input_shape=list(train_set.input_shape), classes=int(train_set.num_classes),
                       hidden=list(hidden), neuron=neuron, recurrent=recurrent, readout=readout,
                       dt=float(dt if dt is not None else train_set.dt), **kwargs)
