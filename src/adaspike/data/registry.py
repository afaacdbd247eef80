"""The dataset registry: one ``@register_dataset`` on a builder says all the library needs to know of a dataset.

A builder is ``build(split, dt, root, **options) -> Dataset`` (``dt`` in seconds or None). ``static``: items are
images (``dt`` must be None; the coding study and ``convert`` take them). ``defaults``: options training uses
unless the user gives them. ``model``: the zoo model ``adaspike train --dataset NAME`` builds by default.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

from torch.utils.data import Dataset

from ..core.registry import Registry

__all__ = ["DATASETS", "DatasetEntry", "dataset_key", "register_dataset"]


@dataclass(frozen=True)
class DatasetEntry:
    """What ``register_dataset`` recorded for one name."""

    name: str
    build: Callable[..., Dataset]
    static: bool = False
    defaults: Mapping[str, object] = field(default_factory=dict)
    model: str = "snn"


#: every dataset by name, in registration order (``load_dataset`` builds them, ``adaspike info`` lists them)
DATASETS: Registry[DatasetEntry] = Registry("dataset")


def register_dataset(name: str, *, static: bool = False, defaults: Mapping[str, object] | None = None,
                     model: str = "snn"):
    """Function decorator: make ``build`` loadable as ``load_dataset(name, ...)`` and ``--dataset name``."""

    def wrap(build: Callable[..., Dataset]) -> Callable[..., Dataset]:
        frozen = MappingProxyType(dict(defaults or {}))  # shared by every run: nobody may edit it in place
        DATASETS.add(name, DatasetEntry(name, build, static, frozen, model))
        return build

    return wrap


def dataset_key(name: str) -> str:
    """The registry key of a user's spelling (``Event_Digits`` → ``event-digits``)."""
    return name.lower().replace("_", "-")
