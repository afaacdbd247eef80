"""Model registry: builders by name, so a checkpoint's JSON metadata can rebuild its model.

The model zoo registers itself when ``adaspike.models`` is imported. Builders that live in higher floors
(``"retimed"`` in retime, ``"nir_graph"`` in interop) or in other packages are declared as entry points of the
group ``adaspike.models`` and imported only when a checkpoint names them, so this module never imports them.
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Callable

from torch import nn

from ..core.registry import Registry

ENTRY_POINT_GROUP = "adaspike.models"
# the builders imported so far; those declared as entry points join on first use, so they are listed as `also`
_BUILDERS: Registry[Callable[..., nn.Module]] = Registry("model")


def register_model(name: str):
    """Decorator: register ``builder(**kwargs) -> nn.Module``; built models get ``model.config``."""
    return _BUILDERS.register(name)


def build_model(name: str, **kwargs) -> nn.Module:
    builder = _builder(name)
    model = builder(**kwargs)
    model.config = {"name": name, "kwargs": kwargs}
    return model


def registered_models() -> list[str]:
    return sorted({*_BUILDERS, *_declared()})


def _declared() -> list[str]:
    return [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)]


def _builder(name: str) -> Callable[..., nn.Module]:
    if name not in _BUILDERS:
        for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
            builder = ep.load()  # importing the module usually registers it; register the object in any case
            _BUILDERS.setdefault(name, builder)
        _BUILDERS.also = tuple(n for n in _declared() if n not in _BUILDERS)
    return _BUILDERS[name]
