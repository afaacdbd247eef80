"""Model registry: builders by name, so a checkpoint's JSON metadata can rebuild its model.

The model zoo registers itself when ``adaspike.models`` is imported. Builders that live in higher floors
(``"retimed"`` in retime, ``"nir_graph"`` in interop) or in other packages are declared as entry points of the
group ``adaspike.models`` and imported only when a checkpoint names them, so this module never imports them.
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Callable

from torch import nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Decorator: register ``builder(**kwargs) -> nn.Module``; built models get ``model.config``."""

    def wrap(builder):
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"model name {name!r} is already registered")
        _BUILDERS[name] = builder
        return builder

    return wrap


def build_model(name: str, **kwargs) -> nn.Module:
    builder = _builder(name)
    model = builder(**kwargs)
    model.config = {"name": name, "kwargs": kwargs}
    return model


def registered_models() -> list[str]:
    return sorted({*_BUILDERS, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))})


ENTRY_POINT_GROUP = "adaspike.models"


def _builder(name: str) -> Callable[..., nn.Module]:
    if name not in _BUILDERS:
        for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
            builder = ep.load()  # importing the module usually registers it; register the object in any case
            _BUILDERS.setdefault(name, builder)
    try:
        return _BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered: {registered_models()}") from None
